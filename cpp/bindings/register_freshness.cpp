// Bindings for freshness (docs/semantics.md, "Health core"): the colour of a pair from the
// age of its last trade. `now_ns=None` reads the wall clock here, in the binding.
#include <pybind11/pybind11.h>
#include <pybind11/stl.h>

#include <cstdint>
#include <utility>

#include "common.hpp"
#include "montalaq/health/freshness.hpp"

namespace py = pybind11;
namespace hl = montalaq::health;
using montalaq::bindings::now_or_wall;

void register_freshness(py::module_& m) {
  py::enum_<hl::colour>(m, "Colour",
                        "Freshness colour of a (symbol, timeframe); CLOSED outside its market calendar's sessions.")
      .value("GREEN", hl::colour::green)
      .value("AMBER", hl::colour::amber)
      .value("RED", hl::colour::red)
      .value("CLOSED", hl::colour::closed);

  py::class_<hl::freshness>(m, "Freshness",
                            "Freshness thresholds per timeframe (docs/semantics.md, Health core: freshness).")
      .def(py::init<double, double>(), py::arg("amber_mult") = 1.5, py::arg("red_mult") = 3.0)
      .def(
          "set_override",
          [](hl::freshness& f, std::int64_t tf_ns, std::int64_t amber_after_ns, std::int64_t red_after_ns) {
            f.set_override(tf_ns, {amber_after_ns, red_after_ns});
          },
          py::arg("tf_ns"), py::arg("amber_after_ns"), py::arg("red_after_ns"))
      .def(
          "thresholds",
          [](const hl::freshness& f, std::int64_t tf_ns) {
            const auto t = f.thresholds(tf_ns);
            return std::make_pair(t.amber_after_ns, t.red_after_ns);
          },
          py::arg("tf_ns"), "(amber_after_ns, red_after_ns) for a timeframe.")
      .def(
          "classify",
          [](const hl::freshness& f, std::int64_t tf_ns, const py::object& now, std::int64_t last_tick_ns) {
            return f.classify(tf_ns, now_or_wall(now, "now_ns"), last_tick_ns);
          },
          py::arg("tf_ns"), py::arg("now_ns"), py::arg("last_tick_ns"),
          "Colour for a last trade time (<= 0: never received, RED).")
      .def_property_readonly("amber_mult", &hl::freshness::amber_mult)
      .def_property_readonly("red_mult", &hl::freshness::red_mult);
}
