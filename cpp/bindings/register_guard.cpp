// Bindings for the in-process guards. Times are float seconds here (`now_s`), as the
// guard APIs of SPEC §5 use; None reads the wall clock in the binding.
#include <pybind11/pybind11.h>
#include <pybind11/stl.h>

#include "fast_methods.hpp"

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

// try_acquire is the per-event hot call: a raw METH_FASTCALL function (no pybind11
// dispatch, the key read in place as UTF-8, the clock read only when no time is given).
PyObject* fast_try_acquire(PyObject* self, PyObject* const* args, Py_ssize_t nargs, PyObject* kwnames) {
  PyObject* key_obj = nargs >= 1 ? args[0] : nullptr;
  PyObject* now_obj = nargs >= 2 ? args[1] : nullptr;
  if (nargs > 2) {
    PyErr_SetString(PyExc_TypeError, "try_acquire() takes key and now_s");
    return nullptr;
  }
  if (kwnames != nullptr) {
    for (Py_ssize_t k = 0; k < PyTuple_GET_SIZE(kwnames); ++k) {
      PyObject* name = PyTuple_GET_ITEM(kwnames, k);
      PyObject* value = args[nargs + k];
      if (PyUnicode_CompareWithASCIIString(name, "key") == 0 && key_obj == nullptr) {
        key_obj = value;
      } else if (PyUnicode_CompareWithASCIIString(name, "now_s") == 0 && now_obj == nullptr) {
        now_obj = value;
      } else {
        PyErr_Format(PyExc_TypeError, "try_acquire() got an unexpected keyword argument %R", name);
        return nullptr;
      }
    }
  }
  if (key_obj == nullptr || !PyUnicode_Check(key_obj)) {
    PyErr_SetString(PyExc_ValueError, "key: expected a non-empty string");
    return nullptr;
  }
  Py_ssize_t len = 0;
  const char* data = PyUnicode_AsUTF8AndSize(key_obj, &len);
  if (data == nullptr) return nullptr;
  if (len == 0) {
    PyErr_SetString(PyExc_ValueError, "key: expected a non-empty string");
    return nullptr;
  }
  std::int64_t now = 0;
  if (now_obj == nullptr || now_obj == Py_None) {
    now = seconds_to_ns(std::nullopt);
  } else {
    const double v = PyFloat_AsDouble(now_obj);
    if (v == -1.0 && PyErr_Occurred() != nullptr) {
      PyErr_Clear();
      PyErr_SetString(PyExc_ValueError, "now_s: expected finite seconds since the epoch");
      return nullptr;
    }
    if (!std::isfinite(v) || std::fabs(v) > 9.0e9) {
      PyErr_SetString(PyExc_ValueError, "now_s: expected finite seconds since the epoch");
      return nullptr;
    }
    now = static_cast<std::int64_t>(std::llround(v * 1e9));
  }
  auto* limiter = montalaq::bindings::native_self<gd::rate_limiter>(self, "RateLimiter");
  if (limiter == nullptr) return nullptr;
  const bool ok = limiter->try_acquire(std::string_view(data, static_cast<std::size_t>(len)), now);
  return PyBool_FromLong(ok ? 1 : 0);
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
