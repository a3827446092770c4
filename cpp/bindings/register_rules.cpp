// Bindings for the alert-rule evaluator of the monitoring service (docs/semantics.md, Monitoring). Times are int
// ns. Events and alerts are dicts with `*_ns` ints and the severity as its name ("CRITICAL");
// a non-finite value or threshold is None (docs/semantics.md, Time values in Python). The core's std::invalid_argument
// becomes ValueError through pybind11's standard translation.
#include <pybind11/numpy.h>
#include <pybind11/pybind11.h>
#include <pybind11/stl.h>
#include <pybind11/typing.h>

#include <cmath>
#include <cstdint>
#include <optional>
#include <string>

#include "convert.hpp"
#include "montalaq/rules/builtin.hpp"
#include "montalaq/rules/rule_engine.hpp"

namespace py = pybind11;
namespace rl = montalaq::rules;
using montalaq::bindings::view;

namespace {

using montalaq::bindings::record;
using event_record = record<"montalaq.shapes.RuleTransition">;
using alert_record = record<"montalaq.shapes.FiringRule">;
using f64_array = py::array_t<double, py::array::c_style>;

py::object finite_or_none(double v) { return std::isfinite(v) ? py::object(py::float_(v)) : py::object(py::none()); }

event_record event_dict(const rl::rule_event& e) {
  event_record d;
  d["rule"] = e.rule;
  d["severity"] = std::string(rl::to_string(e.sev));
  d["state"] = std::string(rl::to_string(e.kind));
  d["value"] = finite_or_none(e.value);
  d["threshold"] = finite_or_none(e.threshold);
  d["since_ns"] = e.since_ns;
  d["at_ns"] = e.at_ns;
  d["message"] = e.message;
  d["metric"] = e.metric;
  return d;
}

alert_record alert_dict(const rl::active_alert& a) {
  alert_record d;
  d["rule"] = a.rule;
  d["severity"] = std::string(rl::to_string(a.sev));
  d["since_ns"] = a.since_ns;
  d["fired_at_ns"] = a.fired_at_ns;
  d["value"] = finite_or_none(a.value);
  d["acknowledged"] = a.acknowledged;
  d["message"] = a.message;
  return d;
}

using thresholds_cls = py::class_<rl::builtin_thresholds>;

// A validated read-write attribute: an invalid value raises ValueError and is not kept.
template <double rl::builtin_thresholds::*Field>
void threshold_attr(thresholds_cls& cls, const char* name, const char* doc) {
  cls.def_property(
      name, [](const rl::builtin_thresholds& t) { return t.*Field; },
      [](rl::builtin_thresholds& t, double v) {
        auto changed = t;
        changed.*Field = v;
        changed.validate();
        t = changed;
      },
      doc);
}

}  // namespace

void register_rules(py::module_& m) {
  py::enum_<rl::comparison>(m, "Comparison", "How a rule compares its metric with its threshold.")
      .value("GT", rl::comparison::gt, "value > threshold")
      .value("GE", rl::comparison::ge, "value >= threshold")
      .value("LT", rl::comparison::lt, "value < threshold")
      .value("LE", rl::comparison::le, "value <= threshold")
      .value("EQ", rl::comparison::eq, "value == threshold")
      .value("NE", rl::comparison::ne, "value != threshold");
  py::enum_<rl::severity>(m, "Severity", "Alert severity (docs/semantics.md, Monitoring).")
      .value("INFO", rl::severity::info)
      .value("WARNING", rl::severity::warning)
      .value("CRITICAL", rl::severity::critical);

  thresholds_cls thresholds(
      m, "BuiltinThresholds",
      "Thresholds of the eight built-in rules (docs/semantics.md, Monitoring); every field finite and >= 0 "
      "(ValueError naming it otherwise).");
  thresholds.def(
      py::init([](double sentiment_errors_per_hour, double teacher_model_max_age_hours,
                  double student_model_max_age_hours, double heartbeat_max_age_s, double daily_loss_max_pct) {
        rl::builtin_thresholds t;
        t.sentiment_errors_per_hour = sentiment_errors_per_hour;
        t.teacher_model_max_age_hours = teacher_model_max_age_hours;
        t.student_model_max_age_hours = student_model_max_age_hours;
        t.heartbeat_max_age_s = heartbeat_max_age_s;
        t.daily_loss_max_pct = daily_loss_max_pct;
        t.validate();
        return t;
      }),
      py::kw_only(), py::arg("sentiment_errors_per_hour") = 10.0, py::arg("teacher_model_max_age_hours") = 24.0,
      py::arg("student_model_max_age_hours") = 24.0, py::arg("heartbeat_max_age_s") = 120.0,
      py::arg("daily_loss_max_pct") = 5.0);
  threshold_attr<&rl::builtin_thresholds::sentiment_errors_per_hour>(
      thresholds, "sentiment_errors_per_hour", "sentiment_failures_high: provider errors in the last hour.");
  threshold_attr<&rl::builtin_thresholds::teacher_model_max_age_hours>(thresholds, "teacher_model_max_age_hours",
                                                                       "stale_teacher_model: maximum age in hours.");
  threshold_attr<&rl::builtin_thresholds::student_model_max_age_hours>(thresholds, "student_model_max_age_hours",
                                                                       "stale_student_model: maximum age in hours.");
  threshold_attr<&rl::builtin_thresholds::heartbeat_max_age_s>(
      thresholds, "heartbeat_max_age_s", "heartbeat_lapsed: maximum seconds since the last engine tick.");
  threshold_attr<&rl::builtin_thresholds::daily_loss_max_pct>(
      thresholds, "daily_loss_max_pct", "daily_loss_exceeded: daily loss in percent (positive is a loss).");
  thresholds.def("__repr__", [](const rl::builtin_thresholds& t) {
    return "BuiltinThresholds(sentiment_errors_per_hour=" + rl::format_number(t.sentiment_errors_per_hour) +
           ", teacher_model_max_age_hours=" + rl::format_number(t.teacher_model_max_age_hours) +
           ", student_model_max_age_hours=" + rl::format_number(t.student_model_max_age_hours) +
           ", heartbeat_max_age_s=" + rl::format_number(t.heartbeat_max_age_s) +
           ", daily_loss_max_pct=" + rl::format_number(t.daily_loss_max_pct) + ")";
  });

  m.def(
      "builtin_rules_json", [](const rl::builtin_thresholds& t) { return rl::rules_to_json(rl::builtin_rules(t)); },
      py::arg("thresholds"),
      "The eight built-in rules (circuit_breaker_triggered, sentiment_failures_high, stale_teacher_model, "
      "stale_student_model, heartbeat_lapsed, connectivity_lost, daily_loss_exceeded, position_limit_breached) "
      "as a JSON rules document for RuleEngine.add_rules_json.");

  py::class_<rl::rule_engine>(
      m, "RuleEngine",
      "Alert-rule evaluator (docs/semantics.md, Monitoring): rules over metric paths, each path a slot in the values "
      "passed to "
      "evaluate(). A rule fires once when its condition has held for its `for`, resolves once when it stops "
      "holding; NaN (a missing metric) changes nothing.\n\n"
      "Thread safety: meant for one owner thread (the monitoring worker). No lock inside; every method runs "
      "holding the GIL and none releases it, so calls from other threads are serialised, never interleaved.")
      .def(py::init<>())
      .def("add_rules_json", &rl::rule_engine::load_rules_json, py::arg("text"),
           "Add every rule of a JSON array of {name, metric, op, threshold | threshold_metric, for_s, severity, "
           "message}. The whole document is checked first: ValueError (naming the element and the field) adds "
           "nothing.")
      .def("rules_json", &rl::rule_engine::rules_json, "Every rule, in the order added, as a rules document.")
      .def(
          "paths", [](const rl::rule_engine& e) { return e.paths(); },
          "Metric paths the rules read, in slot order: evaluate() takes one value per path.")
      .def("slot", &rl::rule_engine::slot, py::arg("path"), "The slot of a metric path, or None if no rule reads it.")
      .def(
          "evaluate",
          [](rl::rule_engine& e, std::int64_t now_ns, const f64_array& values) {
            const auto events = e.evaluate(now_ns, view(values));
            py::typing::List<event_record> out;
            for (const auto& ev : events) out.append(event_dict(ev));
            return out;
          },
          py::arg("now_ns"), py::arg("values"),
          "One evaluation at now_ns (int ns) over one float per slot (NaN: missing). Returns this evaluation's "
          "transitions as dicts {rule, severity, state ('FIRING' | 'RESOLVED'), value, threshold, since_ns, at_ns, "
          "message, metric}; ValueError if len(values) != len(paths()).")
      .def("acknowledge", &rl::rule_engine::acknowledge, py::arg("rule"), py::arg("now_ns"),
           "Mark a firing rule acknowledged (until it resolves): True; False if it is not firing; ValueError for a "
           "rule name this engine does not have.")
      .def(
          "active",
          [](const rl::rule_engine& e) {
            py::typing::List<alert_record> out;
            for (const auto& a : e.active()) out.append(alert_dict(a));
            return out;
          },
          "The firing rules as dicts {rule, severity, since_ns, fired_at_ns, value (the latest), acknowledged, "
          "message (as fired)}.")
      .def("state_json", &rl::rule_engine::state_json, "Every rule's evaluation state as a JSON string.")
      .def("load_state_json", &rl::rule_engine::load_state_json, py::arg("text"),
           "Restore a state_json() document; validated whole, so ValueError (including a rule this engine does "
           "not have) changes nothing. Rules the document does not mention start afresh.")
      .def_property_readonly("rule_count", &rl::rule_engine::rule_count, "Rules in the engine.")
      .def_property_readonly("evaluations", &rl::rule_engine::evaluations,
                             "evaluate() calls so far (kept in state_json).");
}
