// Bindings for the in-process guards. Times are float seconds here (`now_s`), as the
// guard APIs of SPEC §5 use; None reads the wall clock in the binding.
#include <pybind11/pybind11.h>
#include <pybind11/stl.h>

#include <chrono>
#include <cmath>
#include <optional>
#include <string>

#include "montalaq/guard/rate_limiter.hpp"

namespace py = pybind11;
namespace gd = montalaq::guard;

namespace {

std::int64_t seconds_to_ns(std::optional<double> now_s) {
  if (!now_s) {
    return std::chrono::duration_cast<std::chrono::nanoseconds>(std::chrono::system_clock::now().time_since_epoch())
        .count();
  }
  if (!std::isfinite(*now_s) || std::fabs(*now_s) > 9.0e9) {
    throw py::value_error("now_s: expected finite seconds since the epoch");
  }
  return static_cast<std::int64_t>(std::llround(*now_s * 1e9));
}

void check_key(const std::string& key) {
  if (key.empty()) throw py::value_error("key: expected a non-empty string");
}

}  // namespace

void register_guard(py::module_& m) {
  py::class_<gd::rate_limiter>(m, "RateLimiter", "Native sliding-window limiter; use montalaq.ratelimit.RateLimiter.")
      .def(py::init<int, std::int64_t, std::size_t>(), py::arg("limit"), py::arg("window_ns"), py::arg("max_keys"))
      .def(
          "try_acquire",
          [](gd::rate_limiter& r, const std::string& key, std::optional<double> now_s) {
            check_key(key);
            return r.try_acquire(key, seconds_to_ns(now_s));
          },
          py::arg("key"), py::arg("now_s") = py::none(),
          "Take a slot for `key` if fewer than `limit` were taken in the window ending now; False means over the "
          "limit (fold the event into a digest: nothing is dropped here).")
      .def(
          "remaining",
          [](const gd::rate_limiter& r, const std::string& key, std::optional<double> now_s) {
            return r.remaining(key, seconds_to_ns(now_s));
          },
          py::arg("key"), py::arg("now_s") = py::none(), "Slots left for `key` now.")
      .def(
          "retry_after_s",
          [](const gd::rate_limiter& r, const std::string& key, std::optional<double> now_s) {
            return static_cast<double>(r.retry_after_ns(key, seconds_to_ns(now_s))) / 1e9;
          },
          py::arg("key"), py::arg("now_s") = py::none(), "Seconds until `key` gets a slot (0 if it has one).")
      .def(
          "purge", [](gd::rate_limiter& r, std::optional<double> now_s) { return r.purge(seconds_to_ns(now_s)); },
          py::arg("now_s") = py::none(), "Drop keys with an empty window; returns how many.")
      .def_property_readonly("limit", &gd::rate_limiter::limit)
      .def_property_readonly("window_s",
                             [](const gd::rate_limiter& r) { return static_cast<double>(r.window_ns()) / 1e9; })
      .def_property_readonly("keys", &gd::rate_limiter::keys)
      .def_property_readonly("denied", &gd::rate_limiter::denied);
}
