// montalaq._core: wiring only. Each concept registers itself in its own file.
#include <pybind11/pybind11.h>

namespace py = pybind11;

void register_market(py::module_& m);
void register_logging(py::module_& m);
void register_freshness(py::module_& m);
void register_escalation(py::module_& m);
void register_breaker(py::module_& m);
void register_opstate(py::module_& m);
void register_errors(py::module_& m);
void register_guard(py::module_& m);
void register_dedupe(py::module_& m);
void register_throttle(py::module_& m);
void register_safety(py::module_& m);
void register_retry(py::module_& m);
void register_rules(py::module_& m);
void register_feeds(py::module_& m);

PYBIND11_MODULE(_core, m) {
  m.doc() = "montalaq native core (private: import from montalaq instead)";
  auto market = m.def_submodule("market", "Bars, features and the streaming market engine");
  register_market(market);
  register_feeds(market);
  auto errors = m.def_submodule("errors", "Error taxonomy");
  register_errors(errors);
  auto guard = m.def_submodule("guard", "Rate limiting and other in-process guards");
  register_guard(guard);
  register_dedupe(guard);
  register_throttle(guard);
  register_safety(guard);
  register_retry(guard);
  auto health = m.def_submodule("health", "Freshness, escalation, breakers, operational state");
  register_freshness(health);  // first: the board takes a Freshness
  register_escalation(health);
  register_breaker(health);
  register_opstate(health);
  auto rules = m.def_submodule("rules", "Alert-rule evaluator of the monitoring service");
  register_rules(rules);
  auto logging = m.def_submodule("logging", "Native log buffer drained by montalaq.configure_logging");
  register_logging(logging);
}
