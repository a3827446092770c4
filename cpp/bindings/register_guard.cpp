// Bindings for the rate limiter (docs/semantics.md, "Guards"). Times are float seconds here
// (`now_s`), as the guard APIs use; None reads the wall clock in the binding.
#include <pybind11/pybind11.h>
#include <pybind11/stl.h>

#include <cmath>
#include <optional>
#include <string>
#include <string_view>

#include "common.hpp"
#include "montalaq/guard/rate_limiter.hpp"

namespace py = pybind11;
namespace gd = montalaq::guard;
using montalaq::bindings::fast_args;
using montalaq::bindings::raw_call;

namespace {

std::int64_t seconds_to_ns(std::optional<double> now_s) {
  if (!now_s) return montalaq::bindings::wall_clock_ns();
  if (!std::isfinite(*now_s) || std::fabs(*now_s) > 9.0e9) {
    throw py::value_error("now_s: expected finite seconds since the epoch");
  }
  return static_cast<std::int64_t>(std::llround(*now_s * 1e9));
}

// try_acquire is the per-event hot call: a raw METH_FASTCALL function (no pybind11
// dispatch, the key read in place as UTF-8, the clock read only when no time is given).
PyObject* fast_try_acquire(PyObject* self, PyObject* const* args, Py_ssize_t nargs, PyObject* kwnames) {
  return raw_call([&] {
    static const char* const names[] = {"key", "now_s"};
    const auto [key_obj, now_obj] = fast_args("try_acquire", names, 0, args, nargs, kwnames);
    Py_ssize_t len = 0;
    const char* data = nullptr;
    if (key_obj != nullptr && PyUnicode_Check(key_obj)) {
      data = PyUnicode_AsUTF8AndSize(key_obj, &len);
      if (data == nullptr) throw py::error_already_set();
    }
    if (len == 0) throw py::value_error("key: expected a non-empty string");  // also a missing or non-str key
    std::optional<double> now_s;
    if (now_obj != nullptr && now_obj != Py_None) {
      now_s = PyFloat_AsDouble(now_obj);
      if (*now_s == -1.0 && PyErr_Occurred() != nullptr) {
        PyErr_Clear();
        now_s = NAN;  // not a number: refused below like any other bad time
      }
    }
    const std::int64_t now = seconds_to_ns(now_s);
    auto& limiter = montalaq::bindings::native_self<gd::rate_limiter>(self, "RateLimiter");
    const bool ok = limiter.try_acquire(std::string_view(data, static_cast<std::size_t>(len)), now);
    return PyBool_FromLong(ok ? 1 : 0);
  });
}

}  // namespace

void register_guard(py::module_& m) {
  py::class_<gd::rate_limiter> cls(m, "RateLimiter",
                                   "Native sliding-window limiter; use montalaq.ratelimit.RateLimiter.");
  cls.def(py::init<int, std::int64_t, std::size_t>(), py::arg("limit"), py::arg("window_ns"), py::arg("max_keys"))
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
  static PyMethodDef defs[] = {
      {"try_acquire", montalaq::bindings::as_cfunction(fast_try_acquire), METH_FASTCALL | METH_KEYWORDS,
       "try_acquire(self, key: str, now_s: float | None = None) -> bool\n\nTake a slot for `key` if fewer than "
       "`limit` were taken in the window ending now; False means over the limit (fold the event into a digest: "
       "nothing is dropped here)."}};
  montalaq::bindings::add_raw_methods(cls, defs);
}
