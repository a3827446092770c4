#pragma once
// Conversions shared by the register_*.cpp files: vectors to numpy without copies, JSON to
// Python objects, and Python time values to int64 ns.
#include <pybind11/numpy.h>
#include <pybind11/pybind11.h>

#include <cmath>
#include <cstdint>
#include <memory>
#include <span>
#include <vector>

#include <nlohmann/json.hpp>

namespace montalaq::bindings {

namespace py = pybind11;

// Hands the vector's buffer to numpy; the capsule frees it with the array.
template <class T>
py::array_t<T> to_numpy(std::vector<T>&& v) {
  auto* heap = new std::vector<T>(std::move(v));  // owned by the capsule from the next line on
  py::capsule owner(heap, [](void* p) { delete static_cast<std::vector<T>*>(p); });
  return py::array_t<T>({static_cast<py::ssize_t>(heap->size())}, {static_cast<py::ssize_t>(sizeof(T))}, heap->data(),
                        owner);
}

template <class T>
std::span<const T> view(const py::array_t<T, py::array::c_style>& a) {
  if (a.ndim() != 1) throw py::value_error("expected a one-dimensional array");
  return {a.data(), static_cast<std::size_t>(a.shape(0))};
}

inline py::object json_to_py(const nlohmann::json& j) {
  switch (j.type()) {
    case nlohmann::json::value_t::null: return py::none();
    case nlohmann::json::value_t::boolean: return py::bool_(j.get<bool>());
    case nlohmann::json::value_t::number_integer: return py::int_(j.get<std::int64_t>());
    case nlohmann::json::value_t::number_unsigned: return py::int_(j.get<std::uint64_t>());
    case nlohmann::json::value_t::number_float: {
      const double d = j.get<double>();
      return std::isfinite(d) ? py::object(py::float_(d)) : py::object(py::none());
    }
    case nlohmann::json::value_t::string: return py::str(j.get_ref<const std::string&>());
    case nlohmann::json::value_t::array: {
      py::list out;
      for (const auto& e : j) out.append(json_to_py(e));
      return out;
    }
    case nlohmann::json::value_t::object: {
      py::dict out;
      for (const auto& [k, v] : j.items()) out[py::str(k)] = json_to_py(v);
      return out;
    }
    default: return py::none();
  }
}

// int ns fast path; anything else goes through montalaq._time.to_ns (datetime,
// numpy.datetime64, pandas.Timestamp), which rejects naive datetimes.
inline std::int64_t to_ns(py::handle value, const char* name) {
  if (PyLong_CheckExact(value.ptr())) {
    int overflow = 0;
    const long long v = PyLong_AsLongLongAndOverflow(value.ptr(), &overflow);
    if (overflow != 0) throw py::value_error(std::string(name) + ": integer out of int64 range");
    return v;
  }
  static PyObject* converter = [] {
    py::object f = py::module_::import("montalaq._time").attr("to_ns");
    return f.release().ptr();  // kept for the life of the process
  }();
  return py::reinterpret_borrow<py::object>(converter)(value, py::str(name)).cast<std::int64_t>();
}

}  // namespace montalaq::bindings
