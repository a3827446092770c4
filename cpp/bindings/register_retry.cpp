#include <pybind11/pybind11.h>
#include <pybind11/stl.h>

#include <optional>

#include "montalaq/guard/retry.hpp"

namespace py = pybind11;
namespace gd = montalaq::guard;

void register_retry(py::module_& m) {
  py::class_<gd::retry_schedule>(m, "RetrySchedule", "Native retry schedule; use montalaq.retry.RetryPolicy.")
      .def(py::init([](int max_attempts, double base_s, double jitter, double max_delay_s,
                       std::optional<std::uint64_t> seed) {
             gd::retry_config c;
             c.max_attempts = max_attempts;
             c.base_s = base_s;
             c.jitter = jitter;
             c.max_delay_s = max_delay_s;
             return gd::retry_schedule(c, seed);
           }),
           py::arg("max_attempts"), py::arg("base_s"), py::arg("jitter"), py::arg("max_delay_s"), py::arg("seed"))
      .def("delay_s", &gd::retry_schedule::delay_s, py::arg("attempt"),
           "Seconds to wait after attempt `attempt` (1-based) failed; draws the jitter.")
      .def("delays", &gd::retry_schedule::delays,
           "The waits between the attempts of one call (max_attempts - 1 values); reproducible with a seed.")
      .def("nominal_s", &gd::retry_schedule::nominal_s, py::arg("attempt"),
           "min(max_delay, base * 2^(attempt-1)), before jitter.");
}
