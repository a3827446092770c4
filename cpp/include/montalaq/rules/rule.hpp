#pragma once
// A declarative alert rule (docs/semantics.md, Monitoring): "metric OP threshold, held for `for`, at a severity".
// The definition, its validation and its JSON form; rule_engine.hpp evaluates rules.
//
// A rule compares the value of one metric path ("risk.daily_loss_pct") with either a
// constant threshold or the value of another metric path (threshold_metric), and fires
// once the comparison has held continuously for for_ns.
#include <cstdint>
#include <optional>
#include <span>
#include <string>
#include <string_view>

#include <nlohmann/json.hpp>

namespace montalaq::rules {

enum class comparison : std::uint8_t { gt = 0, ge, lt, le, eq, ne };
// ">", ">=", "<", "<=", "==", "!=".
[[nodiscard]] std::string_view to_string(comparison c) noexcept;
// The symbols above or the names "gt", "ge", "lt", "le", "eq", "ne" (any case); nullopt otherwise.
[[nodiscard]] std::optional<comparison> parse_comparison(std::string_view s) noexcept;
// value OP threshold, on doubles as they are (== and != are exact; NaN compares false
// except with !=). Inline: evaluate() calls it for every rule.
[[nodiscard]] constexpr bool compare(comparison c, double value, double threshold) noexcept {
  switch (c) {
    case comparison::gt: return value > threshold;
    case comparison::ge: return value >= threshold;
    case comparison::lt: return value < threshold;
    case comparison::le: return value <= threshold;
    case comparison::eq: return value == threshold;
    case comparison::ne: return value != threshold;
  }
  return false;
}

enum class severity : std::uint8_t { info = 0, warning, critical };
// "INFO", "WARNING", "CRITICAL".
[[nodiscard]] std::string_view to_string(severity s) noexcept;
// The names above, any case; nullopt otherwise.
[[nodiscard]] std::optional<severity> parse_severity(std::string_view s) noexcept;

inline constexpr std::string_view default_message = "{rule}: {metric} = {value} (threshold {threshold})";
inline constexpr std::size_t max_name_chars = 64;
inline constexpr std::size_t max_metric_chars = 128;
inline constexpr std::size_t max_message_bytes = 1024;

struct rule_def {
  std::string name;    // 1..64 characters from [A-Za-z0-9_.:-], unique in an engine
  std::string metric;  // dotted path, 1..128 characters: segments of [A-Za-z0-9_-] joined by '.'
  comparison op = comparison::gt;
  std::optional<double> threshold;              // finite; exactly one of threshold and
  std::optional<std::string> threshold_metric;  // threshold_metric (a metric path)
  std::int64_t for_ns = 0;                      // >= 0; 0 fires at the first true evaluation
  severity sev = severity::warning;
  std::string message = std::string(default_message);  // UTF-8, at most 1024 bytes; see format_message

  // std::invalid_argument naming the field and the accepted values.
  void validate() const;
};

// Whether `name` is a valid rule name, and `path` a valid metric path (see rule_def).
[[nodiscard]] bool is_rule_name(std::string_view name) noexcept;
[[nodiscard]] bool is_metric_path(std::string_view path) noexcept;

// A number for a message: up to 6 significant digits, no trailing zeros, plain notation for
// magnitudes in [1e-4, 1e15) ("0.25", "1234570", "120") and exponent notation otherwise
// ("1e+20"); "inf", "-inf", "nan" for the non-finite.
[[nodiscard]] std::string format_number(double x);

// The rule's message with {value}, {threshold}, {rule} and {metric} substituted (numbers by
// format_number); any other text, braces included, is kept as it is.
[[nodiscard]] std::string format_message(const rule_def& r, double value, double threshold);

// One rule as a rules-document element: {"name", "metric", "op", "threshold" |
// "threshold_metric", "for_s", "severity", "message"}.
[[nodiscard]] nlohmann::json to_json(const rule_def& r);
// One element of a rules document, validated: unknown keys are refused, "for_s" (seconds,
// >= 0) defaults to 0, "severity" to WARNING, "message" to default_message.
// std::invalid_argument naming `where` and the field.
[[nodiscard]] rule_def rule_from_json(const nlohmann::json& obj, const std::string& where);
// A rules document (a JSON array of rule objects) as text.
[[nodiscard]] std::string rules_to_json(std::span<const rule_def> rules);

}  // namespace montalaq::rules
