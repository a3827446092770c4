// Bindings for the dedupe cache (docs/semantics.md, "Guards": dedupe keys and caches). `now`
// is a time (int ns, aware datetime, datetime64; None reads the wall clock here, in the
// binding), `ttl_s` float seconds; `now_s`, float seconds, is now's deprecated keyword and is
// converted as it always was. The binding decides what is a Python question (is it a
// non-empty str, a real number?); the ranges and their messages are the core's
// (guard/dedupe.hpp), given the value's repr. RedisDedupe (python/montalaq/dedupe.py)
// checks its arguments with the same functions (check_dedupe_key, dedupe_time_ns,
// dedupe_now_ns, dedupe_ttl_ns), so both backends refuse the same calls with the same words.
//
// check_and_record and contains are raw CPython METH_FASTCALL methods (common.hpp) rather
// than pybind11 bindings: pybind11's dispatcher costs several times the cache's own work
// per call. They return the DedupeResult members themselves, so `is DedupeResult.ALLOWED`
// holds. The GIL serialises access (nothing here releases it), so there is no mutex.
#include <pybind11/gil_safe_call_once.h>
#include <pybind11/pybind11.h>
#include <pybind11/stl.h>
#include <pybind11/typing.h>

#include <array>
#include <cmath>
#include <cstdint>
#include <memory>
#include <optional>
#include <stdexcept>
#include <string>
#include <string_view>

#include "common.hpp"
#include "montalaq/guard/dedupe.hpp"

namespace py = pybind11;
using montalaq::bindings::add_raw_methods;
using montalaq::bindings::as_cfunction;
using montalaq::bindings::deprecated_kw;
using montalaq::bindings::deprecated_now;
using montalaq::bindings::fast_args;
using montalaq::bindings::native_self;
using montalaq::bindings::no_time_given;
using montalaq::bindings::raw_call;
using montalaq::bindings::to_ns;
using montalaq::bindings::wall_clock_ns;
namespace gd = montalaq::guard;

namespace {

// DedupeResult.ALLOWED and DEDUPED, indexed by gd::dedupe_result; stored at registration.
PYBIND11_CONSTINIT py::gil_safe_call_once_and_store<std::array<py::object, 2>> result_members;

PyObject* result_object(gd::dedupe_result r) {
  return py::object(result_members.get_stored()[static_cast<std::size_t>(r)]).release().ptr();
}

gd::dedupe_cache& cache_of(PyObject* self) { return native_self<gd::dedupe_cache>(self, "DedupeCache"); }

// type(arg).__name__, as Python's own messages in montalaq name a type.
std::string type_name(PyObject* arg) { return py::str(py::type::handle_of(arg).attr("__name__")); }

// A core conversion of `value`; its std::invalid_argument becomes ValueError
// "<the core's message>, got <repr(value)>".
template <class F>
auto in_range(PyObject* value, F&& convert) {
  try {
    return convert();
  } catch (const std::invalid_argument& e) {
    throw py::value_error(std::string(e.what()) + ", got " + py::repr(value).cast<std::string>());
  }
}

[[noreturn, gnu::cold, gnu::noinline]] void throw_not_seconds(PyObject* arg, const char* name, const char* what,
                                                              bool none_allowed) {
  throw py::type_error(std::string(name) + ": expected " + what + " (a real number)" +
                       (none_allowed ? " or None" : "") + ", got " + type_name(arg));
}

// A real number of seconds (not bool, str or complex); TypeError naming the argument
// otherwise. A huge int is +inf, refused by the core's range.
double seconds_of(PyObject* arg, const char* name, const char* what, bool none_allowed) {
  if (PyFloat_CheckExact(arg)) return PyFloat_AS_DOUBLE(arg);
  if (!PyBool_Check(arg) && PyNumber_Check(arg) && !PyComplex_Check(arg)) {
    const double v = PyFloat_AsDouble(arg);
    if (!(v == -1.0 && PyErr_Occurred() != nullptr)) return v;
    const bool overflow = PyErr_ExceptionMatches(PyExc_OverflowError) != 0;
    PyErr_Clear();
    if (overflow) return HUGE_VAL;
  }
  throw_not_seconds(arg, name, what, none_allowed);
}

// The deprecated now_s as ns; absent or None: the wall clock.
std::int64_t now_ns_of(PyObject* arg) {
  if (arg == nullptr || arg == Py_None) return wall_clock_ns();
  const double s = seconds_of(arg, "now_s", "seconds since the epoch", true);
  return in_range(arg, [s] { return gd::dedupe_now_ns(s); });
}

// The latest `now` the cache takes: the now_s range's end (8e9 s, in 2223), so now + ttl
// stays within int64 ns.
constexpr std::int64_t max_now_ns = static_cast<std::int64_t>(gd::dedupe_max_now_s * 1e9);

[[noreturn, gnu::cold, gnu::noinline]] void throw_now_range(PyObject* arg) {
  throw py::value_error("now: expected a time from 1970 to 2223 (int ns in [0, 8e18]), got " +
                        py::repr(arg).cast<std::string>());
}

// `now` as ns; absent or None: the wall clock.
std::int64_t time_ns_of(PyObject* arg) {
  if (arg == nullptr || arg == Py_None) return wall_clock_ns();
  const std::int64_t t = to_ns(arg, "now");
  if (t < 0 || t > max_now_ns) throw_now_range(arg);
  return t;
}

// A time passed as `now`, or the deprecated `now_s` (`old`) when that was passed instead.
[[gnu::noinline]] std::int64_t passed_time_ns(PyObject* now, PyObject* old) {
  return deprecated_now(now, old, "now_s") ? now_ns_of(old) : time_ns_of(now);
}

// The time of a call: the wall clock (decided inline) unless one was passed.
inline std::int64_t now_of(PyObject* now, PyObject* old) {
  return no_time_given(now, old) ? wall_clock_ns() : passed_time_ns(now, old);
}

std::int64_t ttl_ns_of(PyObject* arg, bool none_allowed) {
  const double s = seconds_of(arg, "ttl_s", "seconds", none_allowed);
  return in_range(arg, [s] { return gd::dedupe_ttl_ns(s); });
}

[[noreturn, gnu::cold, gnu::noinline]] void throw_bad_key(PyObject* arg) {
  if (!PyUnicode_Check(arg)) throw py::type_error("key: expected a non-empty str, got " + type_name(arg));
  throw py::value_error("key: expected a non-empty str, got ''");
}

// The key as UTF-8, valid while `arg` lives. The core takes any bytes; the API refuses an
// empty key, which is always a caller's bug.
std::string_view key_of(PyObject* arg) {
  if (!PyUnicode_Check(arg)) throw_bad_key(arg);
  Py_ssize_t len = 0;
  const char* data = PyUnicode_AsUTF8AndSize(arg, &len);
  if (data == nullptr) throw py::error_already_set();
  if (len == 0) throw_bad_key(arg);
  return {data, static_cast<std::size_t>(len)};
}

// An int (not bool); a negative one or one beyond long long becomes 0, which the core
// refuses with its message.
std::size_t capacity_of(PyObject* arg) {
  if (PyBool_Check(arg) || !PyLong_Check(arg))
    throw py::type_error("capacity: expected an integer, got " + type_name(arg));
  int overflow = 0;
  const long long v = PyLong_AsLongLongAndOverflow(arg, &overflow);
  return overflow != 0 || v < 0 ? 0 : static_cast<std::size_t>(v);
}

PyObject* fast_check_and_record(PyObject* self, PyObject* const* args, Py_ssize_t nargs, PyObject* kwnames) {
  return raw_call([&] {
    static const char* const names[] = {"key", "now", "ttl_s", "now_s"};
    gd::dedupe_cache& c = cache_of(self);
    const auto [key_arg, now_arg, ttl_arg, old_arg] = fast_args("check_and_record", names, 1, args, nargs, kwnames, 3);
    const std::string_view key = key_of(key_arg);
    const std::int64_t now = now_of(now_arg, old_arg);
    const std::int64_t ttl = ttl_arg == nullptr || ttl_arg == Py_None ? c.ttl_ns() : ttl_ns_of(ttl_arg, true);
    return result_object(c.check_and_record(key, now, ttl));
  });
}

PyObject* fast_contains(PyObject* self, PyObject* const* args, Py_ssize_t nargs, PyObject* kwnames) {
  return raw_call([&] {
    static const char* const names[] = {"key", "now", "now_s"};
    gd::dedupe_cache& c = cache_of(self);
    const auto [key_arg, now_arg, old_arg] = fast_args("contains", names, 1, args, nargs, kwnames, 2);
    const std::string_view key = key_of(key_arg);
    return PyBool_FromLong(c.contains(key, now_of(now_arg, old_arg)) ? 1 : 0);
  });
}

void add_fast_methods(py::class_<gd::dedupe_cache>& cls) {
  static PyMethodDef defs[] = {
      {"check_and_record", as_cfunction(fast_check_and_record), METH_FASTCALL | METH_KEYWORDS,
       "check_and_record(self, key: str, now: typing.Any = None, ttl_s: typing.SupportsFloat | None = None, *, "
       "now_s: typing.SupportsFloat | None = ...) -> montalaq._core.guard.DedupeResult\n\nALLOWED (and `key` is "
       "recorded until now + ttl_s), or DEDUPED while an earlier record of `key` is unexpired. now=None: the wall "
       "clock; ttl_s=None: the cache's TTL. now_s (seconds) is deprecated."},
      {"contains", as_cfunction(fast_contains), METH_FASTCALL | METH_KEYWORDS,
       "contains(self, key: str, now: typing.Any = None, *, now_s: typing.SupportsFloat | None = ...) -> bool\n\n"
       "Is there an unexpired record of `key` at `now`? Records nothing. now_s (seconds) is deprecated."},
  };
  add_raw_methods(cls, defs);
}

}  // namespace

void register_dedupe(py::module_& m) {
  py::enum_<gd::dedupe_result> result(m, "DedupeResult",
                                      "Answer of check_and_record (docs/semantics.md, Guards: dedupe).");
  result.value("ALLOWED", gd::dedupe_result::allowed, "Not seen within its TTL: go ahead (the key is now recorded).")
      .value("DEDUPED", gd::dedupe_result::deduped, "An unexpired record exists: drop the duplicate.");
  result_members.call_once_and_store_result([&] {
    return std::array<py::object, 2>{result.attr("ALLOWED"), result.attr("DEDUPED")};
  });

  m.def(
      "check_dedupe_key",
      [](const py::typing::Union<py::str>& key) {
        key_of(key.ptr());
        return py::reinterpret_borrow<py::str>(key);
      },
      py::arg("key"), "`key` if DedupeCache would take it as a key; TypeError or ValueError as it would raise.");
  m.def(
      "dedupe_time_ns",
      [](const py::object& now) -> std::optional<std::int64_t> {
        if (now.is_none()) return std::nullopt;
        return time_ns_of(now.ptr());
      },
      py::arg("now"), "now as DedupeCache takes it, in ns (None stays None: the backend's clock).");
  m.def(
      "dedupe_now_ns",
      [](const py::typing::Optional<py::float_>& now_s) -> std::optional<std::int64_t> {
        if (now_s.is_none()) return std::nullopt;
        return now_ns_of(now_s.ptr());
      },
      py::arg("now_s"), "The deprecated now_s as DedupeCache takes it, in ns (None stays None: the backend's clock).");
  m.def(
      "dedupe_ttl_ns", [](const py::typing::Union<py::float_>& ttl_s) { return ttl_ns_of(ttl_s.ptr(), false); },
      py::arg("ttl_s"), "ttl_s as DedupeCache takes it, in ns.");

  py::class_<gd::dedupe_cache> cls(m, "DedupeCache", "Native TTL dedupe cache; use montalaq.dedupe.DedupeCache.");
  cls.def(py::init([](const py::typing::Union<py::float_>& ttl_s, const py::typing::Union<py::int_>& capacity) {
            const std::int64_t ttl = ttl_ns_of(ttl_s.ptr(), false);
            const std::size_t cap = capacity_of(capacity.ptr());
            // The TTL is valid by now, so the core can refuse only the capacity.
            return in_range(capacity.ptr(), [&] { return std::make_unique<gd::dedupe_cache>(ttl, cap); });
          }),
          py::arg("ttl_s"), py::arg("capacity"))
      .def(
          "purge",
          [](gd::dedupe_cache& c, const py::object& now, const py::object& now_s) {
            return c.purge(now_of(now.ptr(), now_s.ptr()));
          },
          py::arg("now") = py::none(), py::kw_only(), deprecated_kw("now_s"),
          "Drop every record expired at `now`; returns how many (calls also purge). now_s is deprecated.")
      .def("clear", &gd::dedupe_cache::clear, "Forget every record and reset the counters.")
      .def("__len__", &gd::dedupe_cache::size, "Records held (expired ones not purged yet included).")
      .def_property_readonly("ttl_s", [](const gd::dedupe_cache& c) { return static_cast<double>(c.ttl_ns()) / 1e9; })
      .def_property_readonly("capacity", &gd::dedupe_cache::capacity)
      .def_property_readonly("allowed", &gd::dedupe_cache::allowed, "ALLOWED answers so far.")
      .def_property_readonly("deduped", &gd::dedupe_cache::deduped, "DEDUPED answers so far.")
      .def_property_readonly("evictions", &gd::dedupe_cache::evictions,
                             "Unexpired records dropped to stay within capacity (each may let a duplicate through).");
  add_fast_methods(cls);
}
