#pragma once
// The alert-rule evaluator of the monitoring service (docs/semantics.md, Monitoring).
//
// The engine holds rules and gives every metric path they read (metric and
// threshold_metric) a slot; the caller flattens a metrics snapshot into one double per
// slot (NaN: the metric is missing) and calls evaluate(). Per rule, the condition is
// `value OP threshold` (the constant, or the threshold_metric's value):
//   - it fires once the condition has held continuously for for_ns: first seen true at t0,
//     it fires at the first evaluation with now - t0 >= for_ns (for_ns = 0: at once); a
//     false evaluation resets the timer;
//   - a firing rule emits ONE FIRING event, then nothing while the condition holds; when the
//     condition turns false it emits ONE RESOLVED event (and the acknowledgement clears);
//   - a missing value (or threshold_metric value) changes nothing: the rule neither fires,
//     resolves nor restarts its timer.
// Events are built only on transitions: an evaluation that changes no state allocates
// nothing. Transitions are logged to the native "alert" logger (common/log.hpp), never an
// evaluation as such. Time is passed in (int64 ns); the engine never reads a clock, and a
// clock that goes back is not an error (it simply has not reached a `for` deadline).
//
// Thread safety: none inside; one thread at a time.
#include <cstdint>
#include <map>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "montalaq/rules/rule.hpp"

namespace montalaq::rules {

enum class event_kind : std::uint8_t { firing = 0, resolved };
// "FIRING", "RESOLVED".
[[nodiscard]] std::string_view to_string(event_kind k) noexcept;

struct rule_event {
  std::string rule;
  severity sev = severity::warning;
  event_kind kind = event_kind::firing;
  double value = 0;           // the metric's value at this evaluation
  double threshold = 0;       // what it was compared with (the constant or threshold_metric's value)
  std::int64_t since_ns = 0;  // when the condition started holding
  std::int64_t at_ns = 0;     // this evaluation
  std::string message;        // FIRING: the rule's message; RESOLVED: "<rule> resolved: ..."
  std::string metric;
};

struct active_alert {
  std::string rule;
  std::string metric;
  severity sev = severity::warning;
  std::int64_t since_ns = 0;     // when the condition started holding
  std::int64_t fired_at_ns = 0;  // when the FIRING event was emitted
  double value = 0;              // the latest value seen (updated by every evaluation)
  double threshold = 0;          // what that value was compared with
  bool acknowledged = false;
  std::optional<std::int64_t> acknowledged_at_ns;
  std::string message;  // as built when the rule fired
};

class rule_engine {
 public:
  // Adds one rule (interning its metric paths). std::invalid_argument on a bad definition
  // (rule_def::validate) or a name already in the engine; the engine is then unchanged.
  void add_rule(rule_def r);
  // Adds every rule of a rules document (a JSON array of rule objects, see
  // rule_from_json). The whole document is validated first, duplicates included: on
  // std::invalid_argument (naming the element's index and name, and the field) nothing
  // was added.
  void load_rules_json(std::string_view text);
  // Every rule, in the order added, as a rules document that load_rules_json takes back.
  [[nodiscard]] std::string rules_json() const;

  // Metric paths read by the rules, in slot order (the order they were first seen).
  [[nodiscard]] const std::vector<std::string>& paths() const noexcept { return paths_; }
  [[nodiscard]] std::optional<std::size_t> slot(std::string_view path) const;

  // One evaluation of every rule, in the order added; returns this evaluation's transitions.
  // `values` holds one value per slot (NaN: missing); any other size is
  // std::invalid_argument.
  std::vector<rule_event> evaluate(std::int64_t now_ns, std::span<const double> values);

  // Marks a firing rule acknowledged and returns true (again true, keeping the first time,
  // if it already was); false if the rule is not firing. std::invalid_argument for a name
  // that is not a rule of this engine.
  bool acknowledge(std::string_view rule, std::int64_t now_ns);
  // The firing rules, in the order added.
  [[nodiscard]] std::vector<active_alert> active() const;

  // Per-rule evaluation state (not the rules) as JSON, and back. load_state_json validates
  // the whole document before it changes anything: a malformed document, or one naming a
  // rule this engine does not have, is std::invalid_argument and leaves the engine as it
  // was. Rules of the engine that the document does not mention start afresh.
  [[nodiscard]] std::string state_json() const;
  void load_state_json(std::string_view text);
  static constexpr int state_version = 1;

  [[nodiscard]] std::size_t rule_count() const noexcept { return hot_.size(); }
  [[nodiscard]] std::uint64_t evaluations() const noexcept { return evaluations_; }

 private:
  static constexpr std::uint32_t no_slot = 0xFFFF'FFFFU;

  // What evaluate() reads and writes, one per rule, kept apart from the strings.
  struct hot_state {
    std::uint32_t value_slot = 0;
    std::uint32_t threshold_slot = no_slot;  // no_slot: compare with `threshold`
    double threshold = 0;
    std::int64_t for_ns = 0;
    comparison op = comparison::gt;
    bool holding = false;  // the condition held at the last evaluation with values
    bool firing = false;
    bool acknowledged = false;
    std::int64_t since_ns = 0;  // valid while holding (and kept while firing)
    std::int64_t fired_at_ns = 0;
    std::int64_t acknowledged_at_ns = 0;
    double last_value = 0;  // NaN until the rule has seen its values
    double last_threshold = 0;
  };
  struct cold_state {
    rule_def def;
    std::string fired_message;  // while firing
  };

  std::uint32_t intern(const std::string& path);
  [[nodiscard]] std::uint32_t index_of(std::string_view rule) const;  // std::invalid_argument if unknown
  void fire(std::uint32_t i, std::int64_t now_ns, std::vector<rule_event>& events);
  void resolve(std::uint32_t i, std::int64_t now_ns, std::vector<rule_event>& events);

  std::vector<hot_state> hot_;
  std::vector<cold_state> cold_;
  std::map<std::string, std::uint32_t, std::less<>> by_name_;
  std::vector<std::string> paths_;
  std::map<std::string, std::uint32_t, std::less<>> slots_;
  std::uint64_t evaluations_ = 0;
};

}  // namespace montalaq::rules
