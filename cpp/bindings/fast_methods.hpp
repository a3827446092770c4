#pragma once
// Raw CPython methods on pybind11 classes, for the few calls made once per event from
// Python (breaker allow/record, rate limiter, dedupe) where pybind11's dispatcher would
// cost several times the work itself.
#include <pybind11/pybind11.h>

#include <chrono>
#include <cstdint>
#include <span>

namespace montalaq::bindings {

namespace py = pybind11;

// The C++ object behind `self`, or nullptr with RuntimeError set when __init__ never ran.
template <class T>
T* native_self(PyObject* self, const char* class_name) {
  auto* inst = reinterpret_cast<py::detail::instance*>(self);
  auto vh = inst->get_value_and_holder();
  if (!vh.holder_constructed()) {
    PyErr_Format(PyExc_RuntimeError, "%s.__init__ was not called", class_name);
    return nullptr;
  }
  return vh.template value_ptr<T>();
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
    PyObject* descr = PyDescr_NewMethod(type, &def);
    if (descr == nullptr || PyObject_SetAttrString(cls.ptr(), def.ml_name, descr) != 0) {
      Py_XDECREF(descr);
      throw py::error_already_set();
    }
    Py_DECREF(descr);
  }
}

inline std::int64_t wall_clock_ns() {
  return std::chrono::duration_cast<std::chrono::nanoseconds>(std::chrono::system_clock::now().time_since_epoch())
      .count();
}

}  // namespace montalaq::bindings
