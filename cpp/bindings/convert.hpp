#pragma once
// Conversions shared by the register_*.cpp files: vectors to numpy without copies, JSON
// documents from and to Python, transition histories to dicts, and Python time values to
// int64 ns.
#include <pybind11/gil_safe_call_once.h>
#include <pybind11/numpy.h>
#include <pybind11/pybind11.h>
#include <pybind11/typing.h>

#include <cmath>
#include <cstdint>
#include <memory>
#include <span>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

namespace montalaq::bindings {

namespace py = pybind11;

using str_dict = py::typing::Dict<py::str, py::object>;

// A dict whose keys are a record of montalaq.shapes: the stubs name the record (Name, its
// dotted path) instead of dict[str, Any] (docs/architecture.md, "Records").
template <py::typing::StringLiteral Name>
class record : public py::dict {
  using py::dict::dict;
};

using transition_record = record<"montalaq.shapes.Transition">;

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

// The document a load_json() was given; ValueError naming `what` when it is not JSON.
inline nlohmann::json parse_json_doc(const std::string& text, const char* what) {
  try {
    return nlohmann::json::parse(text);
  } catch (const nlohmann::json::exception& e) {
    throw py::value_error(std::string(what) + ": not valid JSON: " + e.what());
  }
}

// A breaker's or an operational state's history as dicts {at_ns, from, to, reason}
// (to_string of the states is found next to their enum).
template <class Transitions>
py::typing::List<transition_record> transitions_to_py(const Transitions& history) {
  py::typing::List<transition_record> out;
  for (const auto& h : history) {
    transition_record d;
    d["at_ns"] = h.at_ns;
    d["from"] = std::string(to_string(h.from));
    d["to"] = std::string(to_string(h.to));
    d["reason"] = h.reason;
    out.append(d);
  }
  return out;
}

// int ns fast path; anything else goes through montalaq._time.to_ns (datetime,
// numpy.datetime64, pandas.Timestamp), which rejects naive datetimes. A result beyond int64
// (a datetime after 2262) is a ValueError naming the argument, as an int would be.
inline std::int64_t to_ns(py::handle value, const char* name) {
  py::object converted;
  if (!PyLong_CheckExact(value.ptr())) {
    PYBIND11_CONSTINIT static py::gil_safe_call_once_and_store<py::object> converter;
    const auto& to_ns_py =
        converter.call_once_and_store_result([] { return py::module_::import("montalaq._time").attr("to_ns"); })
            .get_stored();
    converted = to_ns_py(value, py::str(name));
    value = converted;
  }
  int overflow = 0;
  const long long v = PyLong_AsLongLongAndOverflow(value.ptr(), &overflow);
  if (overflow != 0) throw py::value_error(std::string(name) + ": integer out of int64 range");
  if (v == -1 && PyErr_Occurred() != nullptr) throw py::error_already_set();
  return v;
}

}  // namespace montalaq::bindings

namespace pybind11::detail {
template <typing::StringLiteral Name>
struct handle_type_name<montalaq::bindings::record<Name>> {
  static constexpr auto name = const_name(Name.name);
};
}  // namespace pybind11::detail
