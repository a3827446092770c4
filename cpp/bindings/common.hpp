#pragma once
// What several register_*.cpp files share: the wall clock (read here, never in the core),
// `now` arguments that default to it, and the raw CPython methods used for the few calls
// made once per event from Python (breaker allow/record, rate limiter, dedupe), where
// pybind11's dispatcher would cost several times the work itself: their installation,
// their argument binding and the mapping of C++ exceptions to Python ones.
#include <pybind11/pybind11.h>

#include <array>
#include <chrono>
#include <cstdint>
#include <new>
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

// A time argument (int ns, aware datetime, datetime64; None: the wall clock) as int64 ns;
// errors name the argument `name`.
inline std::int64_t now_or_wall(py::handle now, const char* name) {
  return now.is_none() ? wall_clock_ns() : to_ns(now, name);
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
[[noreturn, gnu::cold, gnu::noinline]] inline void throw_too_many(const char* fname, std::size_t most,
                                                                  Py_ssize_t given) {
  throw_call_error(fname, "takes at most " + std::to_string(most) + (most == 1 ? " argument (" : " arguments (") +
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
// `required` must be given; TypeError otherwise.
template <std::size_t N>
std::array<PyObject*, N> fast_args(const char* fname, const char* const (&names)[N], std::size_t required,
                                   PyObject* const* args, Py_ssize_t nargs, PyObject* kwnames) {
  std::array<PyObject*, N> vals{};
  if (nargs > static_cast<Py_ssize_t>(N)) throw_too_many(fname, N, nargs);
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
