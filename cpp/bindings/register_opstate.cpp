// Bindings for the operational state machine (docs/semantics.md, "Health core":
// operational state). Shared between threads, so every call takes its mutex. `now=None`
// reads the wall clock here, in the binding; `now_ns` is transition's deprecated keyword.
#include <pybind11/pybind11.h>
#include <pybind11/stl.h>
#include <pybind11/typing.h>

#include <cstdint>
#include <mutex>
#include <string>

#include "common.hpp"
#include "convert.hpp"
#include "montalaq/health/operational_state.hpp"

namespace py = pybind11;
namespace hl = montalaq::health;
using montalaq::bindings::deprecated_kw;
using montalaq::bindings::deprecated_now;
using montalaq::bindings::now_or_wall;
using montalaq::bindings::parse_json_doc;
using montalaq::bindings::transition_record;
using montalaq::bindings::transitions_to_py;

namespace {

class py_opstate {
 public:
  py_opstate(const py::object& now, const std::string& reason) : s_(now_or_wall(now), reason) {}
  bool transition(hl::op_state to, const py::object& now, const std::string& reason, const py::object& old) {
    const auto t = deprecated_now(now, old, "now_ns") ? now_or_wall(old, "now_ns") : now_or_wall(now);
    std::lock_guard<std::mutex> lock(mu_);
    return s_.transition(to, t, reason);
  }
  hl::op_state current() {
    std::lock_guard<std::mutex> lock(mu_);
    return s_.current();
  }
  std::int64_t entered_at_ns() {
    std::lock_guard<std::mutex> lock(mu_);
    return s_.entered_at_ns();
  }
  std::string reason() {
    std::lock_guard<std::mutex> lock(mu_);
    return s_.reason();
  }
  py::typing::List<transition_record> history() {
    std::lock_guard<std::mutex> lock(mu_);
    return transitions_to_py(s_.history());
  }
  std::string to_json() {
    std::lock_guard<std::mutex> lock(mu_);
    return s_.to_json().dump();
  }
  void load_json(const std::string& text) {
    auto fresh = hl::operational_state::from_json(parse_json_doc(text, "operational state document"));
    std::lock_guard<std::mutex> lock(mu_);
    s_ = std::move(fresh);
  }

 private:
  hl::operational_state s_;
  std::mutex mu_;
};

}  // namespace

void register_opstate(py::module_& m) {
  py::enum_<hl::op_state>(m, "OpState",
                          "Operational state of the process (docs/semantics.md, Health core: operational state).")
      .value("STARTING", hl::op_state::starting)
      .value("ACTIVE", hl::op_state::active)
      .value("WAITING", hl::op_state::waiting)
      .value("ERROR", hl::op_state::error)
      .value("SHUTDOWN", hl::op_state::shutdown);
  py::register_exception<hl::invalid_transition>(m, "InvalidTransitionError", PyExc_ValueError);

  py::class_<py_opstate>(m, "OperationalState", "Native operational state machine; use montalaq.health.")
      .def(py::init<const py::object&, const std::string&>(), py::arg("now") = py::none(),
           py::arg("reason") = "created")
      .def("transition", &py_opstate::transition, py::arg("to"), py::arg("now") = py::none(), py::arg("reason") = "",
           py::kw_only(), deprecated_kw("now_ns"),
           "Move to `to`; InvalidTransitionError (a ValueError) if the state machine does not allow it. "
           "SHUTDOWN -> SHUTDOWN is ignored and returns False.")
      .def_property_readonly("state", &py_opstate::current)
      .def_property_readonly("entered_at_ns", &py_opstate::entered_at_ns)
      .def_property_readonly("reason", &py_opstate::reason)
      .def("history", &py_opstate::history)
      .def("to_json", &py_opstate::to_json)
      .def("load_json", &py_opstate::load_json, py::arg("text"));
  m.def("allowed_transition", &hl::operational_state::allowed, py::arg("from_state"), py::arg("to_state"),
        "Whether the state machine (docs/semantics.md, Health core: operational state) allows "
        "from_state -> to_state.");
}
