// Bindings for the dedupe cache (SPEC §5.3). Times are float seconds (`now_s`, `ttl_s`) as
// in the other guards; now_s=None reads the wall clock here, in the binding.
//
// check_and_record and contains are raw CPython METH_FASTCALL methods rather than
// pybind11 bindings: pybind11's dispatcher costs several times the cache's own work per
// call (as for the circuit breaker in register_health.cpp). They return the DedupeResult
// members themselves, so `is DedupeResult.ALLOWED` holds. The GIL serialises access
// (nothing here releases it), so there is no mutex.
#include <pybind11/pybind11.h>

#include "fast_methods.hpp"
#include <pybind11/typing.h>

#include <chrono>
#include <cmath>
#include <exception>
#include <new>
#include <string_view>

#include "montalaq/guard/dedupe.hpp"

namespace py = pybind11;
using montalaq::bindings::add_raw_methods;
using montalaq::bindings::as_cfunction;
using montalaq::bindings::native_self;
using montalaq::bindings::wall_clock_ns;
namespace gd = montalaq::guard;

namespace {

// The limits both backends share (montalaq/dedupe.py mirrors them for Redis): now + ttl
// stays within int64 nanoseconds.
constexpr double max_now_s = 8e9;
constexpr double max_ttl_s = 1e9;

PyObject* result_allowed = nullptr;  // DedupeResult.ALLOWED / DEDUPED, kept for the process
PyObject* result_deduped = nullptr;

std::int64_t wall_ns() { return wall_clock_ns(); }

gd::dedupe_cache* cache_of(PyObject* self) { return native_self<gd::dedupe_cache>(self, "DedupeCache"); }

// A real number of seconds (not bool, not str); false with TypeError set otherwise.
bool seconds_of(PyObject* arg, const char* name, const char* what, double* out) {
  if (PyFloat_CheckExact(arg)) {
    *out = PyFloat_AS_DOUBLE(arg);
    return true;
  }
  if (!PyBool_Check(arg) && PyNumber_Check(arg) && !PyComplex_Check(arg)) {
    *out = PyFloat_AsDouble(arg);
    if (!(*out == -1.0 && PyErr_Occurred())) return true;
    if (PyErr_ExceptionMatches(PyExc_OverflowError)) {  // a huge int: out of range below
      PyErr_Clear();
      *out = HUGE_VAL;
      return true;
    }
    PyErr_Clear();
  }
  PyErr_Format(PyExc_TypeError, "%s: expected %s (a real number) or None, got %s", name, what, Py_TYPE(arg)->tp_name);
  return false;
}

bool now_arg(PyObject* arg, std::int64_t* now_ns) {
  if (arg == nullptr || arg == Py_None) {
    *now_ns = wall_ns();
    return true;
  }
  double s = 0;
  if (!seconds_of(arg, "now_s", "seconds since the epoch", &s)) return false;
  if (!(s >= 0 && s <= max_now_s)) {  // also refuses NaN
    PyErr_Format(PyExc_ValueError, "now_s: expected finite seconds since the epoch in [0, 8e9], got %R", arg);
    return false;
  }
  *now_ns = std::llround(s * 1e9);
  return true;
}

bool ttl_arg(PyObject* arg, std::int64_t fallback_ns, std::int64_t* ttl_ns) {
  if (arg == nullptr || arg == Py_None) {
    *ttl_ns = fallback_ns;
    return true;
  }
  double s = 0;
  if (!seconds_of(arg, "ttl_s", "seconds", &s)) return false;
  const std::int64_t ns = (s > 0 && s <= max_ttl_s) ? std::llround(s * 1e9) : 0;
  if (ns < 1) {
    PyErr_Format(PyExc_ValueError, "ttl_s: expected finite seconds in (0, 1e9] (at least 1 ns), got %R", arg);
    return false;
  }
  *ttl_ns = ns;
  return true;
}

bool key_arg(PyObject* arg, std::string_view* key) {
  if (!PyUnicode_Check(arg)) {
    PyErr_Format(PyExc_TypeError, "key: expected a non-empty str, got %s", Py_TYPE(arg)->tp_name);
    return false;
  }
  Py_ssize_t len = 0;
  const char* data = PyUnicode_AsUTF8AndSize(arg, &len);
  if (data == nullptr) return false;
  if (len == 0) {
    PyErr_SetString(PyExc_ValueError, "key: expected a non-empty str, got ''");
    return false;
  }
  *key = std::string_view(data, static_cast<std::size_t>(len));
  return true;
}

// Binds positional and keyword arguments to `names` (vals[i] stays nullptr when absent).
template <std::size_t N>
bool bind_args(const char* fname, const char* const (&names)[N], PyObject* const* args, Py_ssize_t nargs,
               PyObject* kwnames, PyObject* (&vals)[N]) {
  if (nargs > static_cast<Py_ssize_t>(N)) {
    PyErr_Format(PyExc_TypeError, "%s() takes at most %d arguments (%zd given)", fname, static_cast<int>(N), nargs);
    return false;
  }
  for (Py_ssize_t i = 0; i < nargs; ++i) vals[i] = args[i];
  if (kwnames != nullptr) {
    for (Py_ssize_t k = 0; k < PyTuple_GET_SIZE(kwnames); ++k) {
      PyObject* kw = PyTuple_GET_ITEM(kwnames, k);
      std::size_t slot = N;
      for (std::size_t j = 0; j < N; ++j) {
        if (PyUnicode_CompareWithASCIIString(kw, names[j]) == 0) slot = j;
      }
      if (slot == N) {
        PyErr_Format(PyExc_TypeError, "%s() got an unexpected keyword argument %R", fname, kw);
        return false;
      }
      if (vals[slot] != nullptr) {
        PyErr_Format(PyExc_TypeError, "%s() got multiple values for argument '%s'", fname, names[slot]);
        return false;
      }
      vals[slot] = args[nargs + k];
    }
  }
  if (vals[0] == nullptr) {
    PyErr_Format(PyExc_TypeError, "%s() missing required argument '%s'", fname, names[0]);
    return false;
  }
  return true;
}

PyObject* fast_check_and_record(PyObject* self, PyObject* const* args, Py_ssize_t nargs, PyObject* kwnames) {
  static const char* const names[] = {"key", "now_s", "ttl_s"};
  PyObject* vals[3] = {nullptr, nullptr, nullptr};
  gd::dedupe_cache* c = cache_of(self);
  if (c == nullptr || !bind_args("check_and_record", names, args, nargs, kwnames, vals)) return nullptr;
  std::string_view key;
  std::int64_t now = 0;
  std::int64_t ttl = 0;
  if (!key_arg(vals[0], &key) || !now_arg(vals[1], &now) || !ttl_arg(vals[2], c->ttl_ns(), &ttl)) return nullptr;
  try {
    PyObject* r = c->check_and_record(key, now, ttl) == gd::dedupe_result::allowed ? result_allowed : result_deduped;
    Py_INCREF(r);
    return r;
  } catch (const std::bad_alloc&) {
    return PyErr_NoMemory();
  } catch (const std::exception& e) {
    PyErr_SetString(PyExc_RuntimeError, e.what());
    return nullptr;
  }
}

PyObject* fast_contains(PyObject* self, PyObject* const* args, Py_ssize_t nargs, PyObject* kwnames) {
  static const char* const names[] = {"key", "now_s"};
  PyObject* vals[2] = {nullptr, nullptr};
  gd::dedupe_cache* c = cache_of(self);
  if (c == nullptr || !bind_args("contains", names, args, nargs, kwnames, vals)) return nullptr;
  std::string_view key;
  std::int64_t now = 0;
  if (!key_arg(vals[0], &key) || !now_arg(vals[1], &now)) return nullptr;
  return PyBool_FromLong(c->contains(key, now) ? 1 : 0);
}

void add_fast_methods(py::class_<gd::dedupe_cache>& cls) {
  static PyMethodDef defs[] = {
      {"check_and_record", as_cfunction(fast_check_and_record), METH_FASTCALL | METH_KEYWORDS,
       "check_and_record(self, key: str, now_s: typing.SupportsFloat | None = None, ttl_s: typing.SupportsFloat | "
       "None = None) -> montalaq._core.guard.DedupeResult\n\nALLOWED (and `key` is recorded until now_s + ttl_s), "
       "or DEDUPED while an earlier record of `key` is unexpired. now_s=None: the wall clock; ttl_s=None: the "
       "cache's TTL."},
      {"contains", as_cfunction(fast_contains), METH_FASTCALL | METH_KEYWORDS,
       "contains(self, key: str, now_s: typing.SupportsFloat | None = None) -> bool\n\nIs there an unexpired "
       "record of `key`? Records nothing."},
  };
  add_raw_methods(cls, defs);
}

}  // namespace

void register_dedupe(py::module_& m) {
  py::enum_<gd::dedupe_result> result(m, "DedupeResult", "Answer of check_and_record (SPEC §5.3).");
  result.value("ALLOWED", gd::dedupe_result::allowed, "Not seen within its TTL: go ahead (the key is now recorded).")
      .value("DEDUPED", gd::dedupe_result::deduped, "An unexpired record exists: drop the duplicate.");
  result_allowed = py::object(result.attr("ALLOWED")).release().ptr();
  result_deduped = py::object(result.attr("DEDUPED")).release().ptr();

  py::class_<gd::dedupe_cache> cls(m, "DedupeCache", "Native TTL dedupe cache; use montalaq.dedupe.DedupeCache.");
  cls.def(py::init<std::int64_t, std::size_t>(), py::arg("ttl_ns"), py::arg("capacity"))
      .def(
          "purge",
          [](gd::dedupe_cache& c, const py::typing::Optional<py::float_>& now_s) {
            std::int64_t now = 0;
            if (!now_arg(now_s.ptr(), &now)) throw py::error_already_set();
            return c.purge(now);
          },
          py::arg("now_s") = py::none(), "Drop every expired record now; returns how many (calls also purge).")
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
