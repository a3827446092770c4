#include "montalaq/rules/builtin.hpp"

#include <cmath>
#include <stdexcept>
#include <string>

namespace montalaq::rules {
namespace {

void check(const char* field, double v) {
  if (!(std::isfinite(v) && v >= 0.0)) {
    throw std::invalid_argument(std::string(field) + ": must be a finite number >= 0, got " + format_number(v));
  }
}

rule_def make(const char* name, const char* metric, comparison op, double threshold, severity sev,
              const char* message) {
  rule_def r;
  r.name = name;
  r.metric = metric;
  r.op = op;
  r.threshold = threshold;
  r.sev = sev;
  r.message = message;
  return r;
}

}  // namespace

void builtin_thresholds::validate() const {
  check("sentiment_errors_per_hour", sentiment_errors_per_hour);
  check("teacher_model_max_age_hours", teacher_model_max_age_hours);
  check("student_model_max_age_hours", student_model_max_age_hours);
  check("heartbeat_max_age_s", heartbeat_max_age_s);
  check("daily_loss_max_pct", daily_loss_max_pct);
}

std::vector<rule_def> builtin_rules(const builtin_thresholds& t) {
  t.validate();
  using enum comparison;
  std::vector<rule_def> out;
  out.push_back(make("circuit_breaker_triggered", "risk.circuit_breaker_active", eq, 1, severity::critical,
                     "Risk circuit breaker triggered (risk.circuit_breaker_active = {value})"));
  out.push_back(make("sentiment_failures_high", "sentiment.provider_errors_1h", gt, t.sentiment_errors_per_hour,
                     severity::warning, "Sentiment provider errors: {value} in the last hour (limit {threshold})"));
  out.push_back(make("stale_teacher_model", "artifacts.teacher_model_age_hours", gt, t.teacher_model_max_age_hours,
                     severity::warning, "Teacher model is {value} h old (limit {threshold} h)"));
  out.push_back(make("stale_student_model", "artifacts.student_model_age_hours", gt, t.student_model_max_age_hours,
                     severity::warning, "Student model is {value} h old (limit {threshold} h)"));
  out.push_back(make("heartbeat_lapsed", "heartbeat.age_seconds", gt, t.heartbeat_max_age_s, severity::critical,
                     "No engine heartbeat for {value} s (limit {threshold} s)"));
  out.push_back(make("connectivity_lost", "connectivity.broker_authenticated", eq, 0, severity::critical,
                     "Broker connectivity lost (connectivity.broker_authenticated = {value})"));
  out.push_back(make("daily_loss_exceeded", "risk.daily_loss_pct", ge, t.daily_loss_max_pct, severity::critical,
                     "Daily loss {value}% reached the limit of {threshold}%"));
  rule_def pos;
  pos.name = "position_limit_breached";
  pos.metric = "positions.total_value";
  pos.op = gt;
  pos.threshold_metric = "risk.max_position_value";
  pos.sev = severity::warning;
  pos.message = "Total position value {value} exceeds the limit {threshold}";
  out.push_back(std::move(pos));
  return out;
}

}  // namespace montalaq::rules
