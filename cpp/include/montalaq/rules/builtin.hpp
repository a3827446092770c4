#pragma once
// The eight built-in monitoring rules of docs/semantics.md, Monitoring, over the metrics snapshot schema
// (heartbeat, positions, pnl, risk, sentiment, connectivity, artifacts):
//   circuit_breaker_triggered  risk.circuit_breaker_active == 1           CRITICAL
//   sentiment_failures_high    sentiment.provider_errors_1h > N            WARNING
//   stale_teacher_model        artifacts.teacher_model_age_hours > X       WARNING
//   stale_student_model        artifacts.student_model_age_hours > X       WARNING
//   heartbeat_lapsed           heartbeat.age_seconds > H                   CRITICAL
//   connectivity_lost          connectivity.broker_authenticated == 0      CRITICAL
//   daily_loss_exceeded        risk.daily_loss_pct >= L                    CRITICAL
//   position_limit_breached    positions.total_value > risk.max_position_value  WARNING
// heartbeat.age_seconds is derived by the caller (now - heartbeat.last_tick); a positive
// risk.daily_loss_pct is a loss. All fire at once (for = 0).
#include <vector>

#include "montalaq/rules/rule.hpp"

namespace montalaq::rules {

struct builtin_thresholds {
  double sentiment_errors_per_hour = 10;  // sentiment_failures_high: errors in the last hour
  double teacher_model_max_age_hours = 24;
  double student_model_max_age_hours = 24;
  double heartbeat_max_age_s = 120;
  double daily_loss_max_pct = 5;
  void validate() const;  // every field finite and >= 0; std::invalid_argument naming it
};

// The built-ins in the order above; validates `t` first.
[[nodiscard]] std::vector<rule_def> builtin_rules(const builtin_thresholds& t);

}  // namespace montalaq::rules
