// Bindings for the rate limiter (docs/semantics.md, "Guards"). `now` is a time (int ns, aware
// datetime, datetime64; None reads the wall clock here, in the binding); `now_s`, float
// seconds, is its deprecated keyword and is converted as it always was.
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
using montalaq::bindings::deprecated_kw;
using montalaq::bindings::deprecated_now;
using montalaq::bindings::fast_args;
using montalaq::bindings::raw_call;

namespace {

// The latest `now` the limiter takes (2116, as trade times): window ends and differences of
// two times then stay within int64 ns.
constexpr std::int64_t max_now_ns = std::int64_t{1} << 62;

[[noreturn, gnu::cold, gnu::noinline]] void throw_now_range(py::handle arg) {
  throw py::value_error("now: expected a time from 1970 to 2116 (int ns in [0, 2**62]), got " +
                        py::repr(arg).cast<std::string>());
}

// `now` as ns; absent or None: the wall clock.
std::int64_t time_ns_of(py::handle now) {
  if (!now || now.is_none()) return montalaq::bindings::wall_clock_ns();
  const std::int64_t t = montalaq::bindings::to_ns(now, "now");
  if (t < 0 || t > max_now_ns) throw_now_range(now);
  return t;
}

// The deprecated now_s (float seconds) as ns, as it always was; None: the wall clock.
std::int64_t seconds_to_ns(std::optional<double> now_s) {
  if (!now_s) return montalaq::bindings::wall_clock_ns();
  if (!std::isfinite(*now_s) || std::fabs(*now_s) > 9.0e9) {
    throw py::value_error("now_s: expected finite seconds since the epoch");
  }
  return static_cast<std::int64_t>(std::llround(*now_s * 1e9));
}

// The deprecated now_s argument (any object) as ns, as it always was: a number of seconds;
// anything else is refused like a bad time.
std::int64_t old_now_ns(PyObject* now_s) {
  if (now_s == Py_None) return seconds_to_ns(std::nullopt);
  double s = PyFloat_AsDouble(now_s);
  if (s == -1.0 && PyErr_Occurred() != nullptr) {
    PyErr_Clear();
    s = NAN;  // not a number: refused like any other bad time
  }
  return seconds_to_ns(s);
}

// A time passed as `now`, or the deprecated `now_s` (`old`) when that was passed instead.
[[gnu::noinline]] std::int64_t passed_time_ns(PyObject* now, PyObject* old) {
  return deprecated_now(now, old, "now_s") ? old_now_ns(old) : time_ns_of(now);
}

// `now`, or the deprecated `now_s`, of the pybind11-bound methods.
std::int64_t now_of(const py::object& now, const py::object& now_s) { return passed_time_ns(now.ptr(), now_s.ptr()); }

// try_acquire is the per-event hot call: a raw METH_FASTCALL function (no pybind11
// dispatch, the key read in place as UTF-8, the clock read only when no time is given).
PyObject* fast_try_acquire(PyObject* self, PyObject* const* args, Py_ssize_t nargs, PyObject* kwnames) {
  return raw_call([&] {
    static const char* const names[] = {"key", "now", "now_s"};
    const auto [key_obj, now_obj, old_obj] = fast_args("try_acquire", names, 0, args, nargs, kwnames, 2);
    Py_ssize_t len = 0;
    const char* data = nullptr;
    if (key_obj != nullptr && PyUnicode_Check(key_obj)) {
      data = PyUnicode_AsUTF8AndSize(key_obj, &len);
      if (data == nullptr) throw py::error_already_set();
    }
    if (len == 0) throw py::value_error("key: expected a non-empty string");  // also a missing or non-str key
    const std::int64_t now = montalaq::bindings::no_time_given(now_obj, old_obj) ? montalaq::bindings::wall_clock_ns()
                                                                                 : passed_time_ns(now_obj, old_obj);
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
          [](const gd::rate_limiter& r, const std::string& key, const py::object& now, const py::object& now_s) {
            return r.remaining(key, now_of(now, now_s));
          },
          py::arg("key"), py::arg("now") = py::none(), py::kw_only(), deprecated_kw("now_s"),
          "Slots left for `key` at `now`. now_s is deprecated.")
      .def(
          "retry_after_s",
          [](const gd::rate_limiter& r, const std::string& key, const py::object& now, const py::object& now_s) {
            return static_cast<double>(r.retry_after_ns(key, now_of(now, now_s))) / 1e9;
          },
          py::arg("key"), py::arg("now") = py::none(), py::kw_only(), deprecated_kw("now_s"),
          "Seconds from `now` until `key` gets a slot (0 if it has one). now_s is deprecated.")
      .def(
          "purge",
          [](gd::rate_limiter& r, const py::object& now, const py::object& now_s) {
            return r.purge(now_of(now, now_s));
          },
          py::arg("now") = py::none(), py::kw_only(), deprecated_kw("now_s"),
          "Drop keys with an empty window at `now`; returns how many. now_s is deprecated.")
      .def_property_readonly("limit", &gd::rate_limiter::limit)
      .def_property_readonly("window_s",
                             [](const gd::rate_limiter& r) { return static_cast<double>(r.window_ns()) / 1e9; })
      .def_property_readonly("keys", &gd::rate_limiter::keys)
      .def_property_readonly("denied", &gd::rate_limiter::denied);
  static PyMethodDef defs[] = {
      {"try_acquire", montalaq::bindings::as_cfunction(fast_try_acquire), METH_FASTCALL | METH_KEYWORDS,
       "try_acquire(self, key: str, now: typing.Any = None, *, now_s: float | None = ...) -> bool\n\nTake a slot "
       "for `key` if fewer than `limit` were taken in the window ending at `now` (None: the wall clock); False "
       "means over the limit (fold the event into a digest: nothing is dropped here). now_s (seconds) is "
       "deprecated."}};
  montalaq::bindings::add_raw_methods(cls, defs);
}
