#pragma once
// What several register_*.cpp files share: the wall clock (read here, never in the core),
// `now` arguments that default to it (and the deprecated `now_ns`/`now_s` keywords they
// replace: docs/semantics.md, "Time values in Python"), and the raw CPython methods used
// for the few calls made once per event from Python (breaker allow/record, rate limiter,
// dedupe), where pybind11's dispatcher would cost several times the work itself: their
// installation, their argument binding and the mapping of C++ exceptions to Python ones.
#include <pybind11/gil_safe_call_once.h>
#include <pybind11/pybind11.h>

#include <array>
#include <chrono>
#include <cstdint>
#include <new>
#include <optional>
#include <span>
#include <stdexcept>
#include <string>

#include "convert.hpp"

namespace montalaq::bindings {

namespace py = pybind11;

inline std::int64_t wall_clock_ns() {
  return std::chrono::duration_cast<std::chrono::nanoseconds>(std::chrono::system_clock::now().time_since_epoch())
      .count();
}

// A time argument (int ns, aware datetime, datetime64; None or absent (a null handle): the
// wall clock) as int64 ns; errors name the argument `name` (a float is refused: it may be
// seconds).
inline std::int64_t now_or_wall(py::handle now, const char* name = "now") {
  return !now || now.is_none() ? wall_clock_ns() : to_ns(now, name);
}

// The same without reading the clock: nullopt for None or absent, so a caller that needs a
// time only in some states reads the clock only then.
inline std::optional<std::int64_t> now_given(py::handle now, const char* name = "now") {
  if (!now || now.is_none()) return std::nullopt;
  return to_ns(now, name);
}

// The default of a deprecated time keyword in pybind11 signatures (py::arg_v(name, unset_arg(),
// "...")): tells "not passed" from an explicit None, which is a value there.
inline py::handle unset_arg() {
  PYBIND11_CONSTINIT static py::gil_safe_call_once_and_store<py::object> sentinel;
  return sentinel.call_once_and_store_result([] { return py::module_::import("builtins").attr("object")(); })
      .get_stored();
}

// The deprecated keyword-only `name` of a pybind11-bound method (after py::kw_only()); shown
// as `name: ... = ...` in its signature and stubs.
inline py::arg_v deprecated_kw(const char* name) {
  return py::arg_v(name, py::reinterpret_borrow<py::object>(unset_arg()), "...");
}

[[gnu::cold, gnu::noinline]] inline void warn_deprecated_now(py::handle now, const char* old_name) {
  if (now && !now.is_none()) {
    throw py::type_error(std::string("pass now= or ") + old_name + "=, not both (" + old_name + " is deprecated)");
  }
  // Level 1 is the Python frame that made this call: the warning points at the caller.
  if (PyErr_WarnFormat(PyExc_DeprecationWarning, 1, "%s is deprecated, pass now= (int ns, datetime or datetime64)",
                       old_name) != 0) {
    throw py::error_already_set();  // warnings turned into errors
  }
}

// No time given (`now` absent or None, and no deprecated keyword): the call reads the clock.
// The hot calls check this first, inline, and leave converting a time to an out-of-line path.
inline bool no_time_given(PyObject* now, PyObject* old) noexcept {
  return old == nullptr && (now == nullptr || now == Py_None);
}

// Whether the deprecated keyword `old_name` (`now_ns`, `now_s`) was passed in place of `now`
// (`old`: nullptr or unset_arg() when not): then a DeprecationWarning pointing at the caller
// and true, and the caller converts `old` exactly as that keyword always was; TypeError when
// `now` was passed too. One pointer compare when it was not.
inline bool deprecated_now(py::handle now, py::handle old, const char* old_name) {
  if (!old || old.is(unset_arg())) [[likely]] {
    return false;
  }
  warn_deprecated_now(now, old_name);
  return true;
}

[[noreturn, gnu::cold, gnu::noinline]] inline void throw_not_initialised(const char* class_name) {
  throw std::runtime_error(std::string(class_name) + ".__init__ was not called");
}

// The C++ object behind `self` of a bound class; RuntimeError when __init__ never ran.
// pybind11 has no public way to reach the holder without a type lookup per call, which
// would be a sizeable share of these calls, so this reads its instance record: pybind11
// internals, valid for the 3.1.x pin in pyproject.toml ("pybind11>=3.1,<3.2"); recheck
// them when the pin moves.
template <class T>
T& native_self(PyObject* self, const char* class_name) {
  auto* inst = reinterpret_cast<py::detail::instance*>(self);
  auto vh = inst->get_value_and_holder();
  if (!vh.holder_constructed()) throw_not_initialised(class_name);
  return *vh.template value_ptr<T>();
}

template <class F>
PyCFunction as_cfunction(F f) {
  return reinterpret_cast<PyCFunction>(reinterpret_cast<void (*)()>(f));
}

// Installs METH_FASTCALL-style methods on a bound class (they replace any pybind11 method of
// the same name). `defs` must outlive the class: pass a function-local static array.
inline void add_raw_methods(py::handle cls, std::span<PyMethodDef> defs) {
  auto* type = reinterpret_cast<PyTypeObject*>(cls.ptr());
  for (auto& def : defs) {
    auto descr = py::reinterpret_steal<py::object>(PyDescr_NewMethod(type, &def));
    if (!descr) throw py::error_already_set();
    py::setattr(cls, def.ml_name, descr);
  }
}

// Runs the body of a raw method: its result, or nullptr with the Python error set for any
// exception, mapped as pybind11 maps them for bound functions (std::invalid_argument from
// the core: ValueError).
template <class F>
PyObject* raw_call(F&& body) noexcept {
  try {
    return body();
  } catch (py::error_already_set& e) {
    e.restore();
  } catch (const py::builtin_exception& e) {
    e.set_error();
  } catch (const std::bad_alloc&) {
    PyErr_NoMemory();
  } catch (const std::out_of_range& e) {
    py::set_error(PyExc_IndexError, e.what());
  } catch (const std::overflow_error& e) {
    py::set_error(PyExc_OverflowError, e.what());
  } catch (const std::logic_error& e) {  // invalid_argument, domain_error, length_error
    py::set_error(PyExc_ValueError, e.what());
  } catch (const std::exception& e) {
    py::set_error(PyExc_RuntimeError, e.what());
  }
  return nullptr;
}

// The TypeErrors of fast_args, with Python's wording; out of line and cold, so that the
// binding itself stays small enough to inline into the hot calls.
[[noreturn, gnu::cold, gnu::noinline]] inline void throw_call_error(const char* fname, const std::string& what) {
  throw py::type_error(std::string(fname) + "() " + what);
}
[[noreturn, gnu::cold, gnu::noinline]] inline void throw_too_many(const char* fname, std::size_t most, Py_ssize_t given,
                                                                  bool keywords_after) {
  const char* what = keywords_after ? " positional argument" : " argument";
  throw_call_error(fname, "takes at most " + std::to_string(most) + what + (most == 1 ? " (" : "s (") +
                              std::to_string(given) + " given)");
}
[[noreturn, gnu::cold, gnu::noinline]] inline void throw_unexpected(const char* fname, PyObject* kw) {
  throw_call_error(fname, "got an unexpected keyword argument " + py::repr(kw).cast<std::string>());
}
[[noreturn, gnu::cold, gnu::noinline]] inline void throw_twice(const char* fname, const char* name) {
  throw_call_error(fname, std::string("got multiple values for argument '") + name + "'");
}
[[noreturn, gnu::cold, gnu::noinline]] inline void throw_missing(const char* fname, const char* name) {
  throw_call_error(fname, std::string("missing required argument '") + name + "'");
}

// The arguments of a raw METH_FASTCALL | METH_KEYWORDS method, bound to `names` the way
// Python binds them (positional first, then keywords); an absent one is nullptr. The first
// `required` must be given, and only the first `positional` may be given by position (the
// rest are keyword-only); TypeError otherwise.
template <std::size_t N>
std::array<PyObject*, N> fast_args(const char* fname, const char* const (&names)[N], std::size_t required,
                                   PyObject* const* args, Py_ssize_t nargs, PyObject* kwnames,
                                   std::size_t positional = N) {
  std::array<PyObject*, N> vals{};
  if (nargs > static_cast<Py_ssize_t>(positional)) throw_too_many(fname, positional, nargs, positional < N);
  for (Py_ssize_t i = 0; i < nargs; ++i) vals[static_cast<std::size_t>(i)] = args[i];
  const Py_ssize_t nkw = kwnames == nullptr ? 0 : PyTuple_GET_SIZE(kwnames);
  for (Py_ssize_t k = 0; k < nkw; ++k) {
    PyObject* kw = PyTuple_GET_ITEM(kwnames, k);
    std::size_t slot = N;
    for (std::size_t j = 0; j < N && slot == N; ++j) {
      if (PyUnicode_CompareWithASCIIString(kw, names[j]) == 0) slot = j;
    }
    if (slot == N) throw_unexpected(fname, kw);
    if (vals[slot] != nullptr) throw_twice(fname, names[slot]);
    vals[slot] = args[nargs + k];
  }
  for (std::size_t j = 0; j < required; ++j) {
    if (vals[j] == nullptr) throw_missing(fname, names[j]);
  }
  return vals;
}

}  // namespace montalaq::bindings
