#include "montalaq/rules/rule.hpp"

#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <limits>
#include <stdexcept>

namespace montalaq::rules {
namespace {

constexpr std::string_view comparison_values = ">, >=, <, <=, ==, != (or gt, ge, lt, le, eq, ne)";
constexpr std::string_view severity_values = "INFO, WARNING, CRITICAL (any case)";
constexpr std::string_view rule_keys = "name, metric, op, threshold, threshold_metric, for_s, severity, message";
constexpr double ns_per_s = 1e9;
// for_s above this would not fit int64 ns (about 292 years).
constexpr double max_for_s = 9.2e9;

[[noreturn]] void fail(const std::string& what) { throw std::invalid_argument(what); }
[[noreturn]] void fail_at(const std::string& at, const std::string& what) { fail(at + ": " + what); }

bool iequals(std::string_view a, std::string_view b) noexcept {
  if (a.size() != b.size()) return false;
  for (std::size_t i = 0; i < a.size(); ++i) {
    char x = a[i];
    if (x >= 'A' && x <= 'Z') x = static_cast<char>(x - 'A' + 'a');
    char y = b[i];
    if (y >= 'A' && y <= 'Z') y = static_cast<char>(y - 'A' + 'a');
    if (x != y) return false;
  }
  return true;
}

bool valid_utf8(std::string_view s) noexcept {
  std::size_t i = 0;
  while (i < s.size()) {
    const auto c = static_cast<unsigned char>(s[i]);
    std::size_t n = 0;  // continuation bytes
    std::uint32_t cp = 0;
    if (c < 0x80U) {
      ++i;
      continue;
    }
    if ((c & 0xE0U) == 0xC0U) {
      n = 1;
      cp = c & 0x1FU;
    } else if ((c & 0xF0U) == 0xE0U) {
      n = 2;
      cp = c & 0x0FU;
    } else if ((c & 0xF8U) == 0xF0U) {
      n = 3;
      cp = c & 0x07U;
    } else {
      return false;
    }
    if (s.size() - i <= n) return false;
    for (std::size_t k = 1; k <= n; ++k) {
      const auto cc = static_cast<unsigned char>(s[i + k]);
      if ((cc & 0xC0U) != 0x80U) return false;
      cp = (cp << 6U) | (cc & 0x3FU);
    }
    // Overlong forms, surrogates and values past U+10FFFF are not UTF-8.
    if ((n == 1 && cp < 0x80U) || (n == 2 && cp < 0x800U) || (n == 3 && cp < 0x10000U) || cp > 0x10FFFFU ||
        (cp >= 0xD800U && cp <= 0xDFFFU)) {
      return false;
    }
    i += n + 1;
  }
  return true;
}

// For error messages: cut to at most `max` bytes without splitting a UTF-8 sequence (the
// message reaches Python, which needs valid UTF-8).
std::string in_quotes(std::string_view s, std::size_t max = 80) {
  std::string out = "'";
  if (s.size() <= max) {
    out.append(s);
  } else {
    std::size_t n = max;
    while (n > 0 && (static_cast<unsigned char>(s[n]) & 0xC0U) == 0x80U) --n;
    out.append(s.substr(0, n));
    out += "...";
  }
  out += "'";
  return out;
}

bool name_char(char c) noexcept {
  return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '_' || c == '.' ||
         c == ':' || c == '-';
}

void check_name(std::string_view name) {
  if (name.empty()) fail("name: expected a non-empty rule name such as 'heartbeat_lapsed'");
  if (name.size() > max_name_chars) {
    fail("name: at most " + std::to_string(max_name_chars) + " characters, got " + std::to_string(name.size()));
  }
  for (const char c : name) {
    if (!name_char(c)) fail("name: " + in_quotes(name) + " has a character outside [A-Za-z0-9_.:-]");
  }
}

void check_path(std::string_view field, std::string_view path) {
  if (!is_metric_path(path)) {
    fail(std::string(field) + ": " + in_quotes(path) + " is not a metric path; expected 1.." +
         std::to_string(max_metric_chars) + " characters, segments of [A-Za-z0-9_-] joined by '.' (such as " +
         "'risk.daily_loss_pct')");
  }
}

// The rule's name for error messages, if it is usable as one.
std::string label(const std::string& where, const nlohmann::json& obj) {
  if (obj.is_object()) {
    const auto it = obj.find("name");
    if (it != obj.end() && it->is_string())
      return where + " (name " + in_quotes(it->get_ref<const std::string&>()) + ")";
  }
  return where;
}

}  // namespace

std::string_view to_string(comparison c) noexcept {
  switch (c) {
    case comparison::gt: return ">";
    case comparison::ge: return ">=";
    case comparison::lt: return "<";
    case comparison::le: return "<=";
    case comparison::eq: return "==";
    case comparison::ne: return "!=";
  }
  return ">";
}

std::optional<comparison> parse_comparison(std::string_view s) noexcept {
  constexpr std::string_view names[] = {"gt", "ge", "lt", "le", "eq", "ne"};
  constexpr comparison all[] = {comparison::gt, comparison::ge, comparison::lt,
                                comparison::le, comparison::eq, comparison::ne};
  for (std::size_t i = 0; i < 6; ++i) {
    if (s == to_string(all[i]) || iequals(s, names[i])) return all[i];
  }
  return std::nullopt;
}

std::string_view to_string(severity s) noexcept {
  switch (s) {
    case severity::info: return "INFO";
    case severity::warning: return "WARNING";
    case severity::critical: return "CRITICAL";
  }
  return "WARNING";
}

std::optional<severity> parse_severity(std::string_view s) noexcept {
  for (const auto v : {severity::info, severity::warning, severity::critical}) {
    if (iequals(s, to_string(v))) return v;
  }
  return std::nullopt;
}

bool is_rule_name(std::string_view name) noexcept {
  if (name.empty() || name.size() > max_name_chars) return false;
  for (const char c : name) {
    if (!name_char(c)) return false;
  }
  return true;
}

bool is_metric_path(std::string_view path) noexcept {
  if (path.empty() || path.size() > max_metric_chars) return false;
  bool segment_empty = true;
  for (const char c : path) {
    if (c == '.') {
      if (segment_empty) return false;  // leading dot or ".."
      segment_empty = true;
      continue;
    }
    const bool ok = (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '_' || c == '-';
    if (!ok) return false;
    segment_empty = false;
  }
  return !segment_empty;  // no trailing dot
}

void rule_def::validate() const {
  check_name(name);
  check_path("metric", metric);
  if (static_cast<std::uint8_t>(op) > static_cast<std::uint8_t>(comparison::ne)) {
    fail("op: not a comparison; expected one of " + std::string(comparison_values));
  }
  if (threshold.has_value() == threshold_metric.has_value()) {
    fail("threshold: give exactly one of threshold (a number) and threshold_metric (a metric path)");
  }
  if (threshold && !std::isfinite(*threshold)) fail("threshold: must be a finite number");
  if (threshold_metric) check_path("threshold_metric", *threshold_metric);
  if (for_ns < 0) fail("for: must be >= 0 (0 fires at the first true evaluation), got " + std::to_string(for_ns));
  if (static_cast<std::uint8_t>(sev) > static_cast<std::uint8_t>(severity::critical)) {
    fail("severity: expected one of " + std::string(severity_values));
  }
  if (message.size() > max_message_bytes) {
    fail("message: at most " + std::to_string(max_message_bytes) + " bytes, got " + std::to_string(message.size()));
  }
  if (!valid_utf8(message)) fail("message: must be valid UTF-8");
}

std::string format_number(double x) {
  if (std::isnan(x)) return "nan";
  if (std::isinf(x)) return x > 0 ? "inf" : "-inf";
  if (x == 0.0) return "0";  // also -0
  char buf[64];
  // The exponent after rounding to 6 significant digits (999999.7 -> 1.00000e+06).
  std::snprintf(buf, sizeof buf, "%.5e", x);
  const char* e = buf;
  while (*e != 'e') ++e;
  const int exp10 = std::atoi(e + 1);
  if (exp10 < -4 || exp10 >= 15) {
    std::snprintf(buf, sizeof buf, "%.6g", x);
    return buf;
  }
  // Print the rounded value: for exponents >= 5 it is an integer, exact in a double.
  const double rounded = std::strtod(buf, nullptr);
  std::snprintf(buf, sizeof buf, "%.*f", exp10 >= 5 ? 0 : 5 - exp10, rounded);
  std::string out = buf;
  if (out.find('.') != std::string::npos) {
    while (out.back() == '0') out.pop_back();
    if (out.back() == '.') out.pop_back();
  }
  return out;
}

std::string format_message(const rule_def& r, double value, double threshold) {
  const std::string_view m = r.message;
  std::string out;
  out.reserve(m.size() + 32);
  std::size_t i = 0;
  while (i < m.size()) {
    if (m[i] == '{') {
      const auto rest = m.substr(i);
      if (rest.starts_with("{value}")) {
        out += format_number(value);
        i += 7;
        continue;
      }
      if (rest.starts_with("{threshold}")) {
        out += format_number(threshold);
        i += 11;
        continue;
      }
      if (rest.starts_with("{rule}")) {
        out += r.name;
        i += 6;
        continue;
      }
      if (rest.starts_with("{metric}")) {
        out += r.metric;
        i += 8;
        continue;
      }
    }
    out += m[i++];
  }
  return out;
}

nlohmann::json to_json(const rule_def& r) {
  nlohmann::json j = {{"name", r.name}, {"metric", r.metric}, {"op", to_string(r.op)}};
  if (r.threshold) j["threshold"] = *r.threshold;
  if (r.threshold_metric) j["threshold_metric"] = *r.threshold_metric;
  j["for_s"] = static_cast<double>(r.for_ns) / ns_per_s;
  j["severity"] = to_string(r.sev);
  j["message"] = r.message;
  return j;
}

rule_def rule_from_json(const nlohmann::json& obj, const std::string& where) {
  if (!obj.is_object()) fail(where + ": must be an object with " + std::string(rule_keys));
  const std::string at = label(where, obj);
  for (auto it = obj.begin(); it != obj.end(); ++it) {
    const std::string& key = it.key();
    if (key != "name" && key != "metric" && key != "op" && key != "threshold" && key != "threshold_metric" &&
        key != "for_s" && key != "severity" && key != "message") {
      fail_at(at, "unknown key " + in_quotes(key) + "; expected only " + std::string(rule_keys));
    }
  }
  const auto text = [&](const char* key, bool required) -> std::optional<std::string> {
    const auto it = obj.find(key);
    if (it == obj.end()) {
      if (required) fail_at(at, std::string(key) + ": missing");
      return std::nullopt;
    }
    if (!it->is_string()) fail_at(at, std::string(key) + ": must be a string");
    return it->get<std::string>();
  };
  rule_def r;
  r.name = *text("name", true);
  r.metric = *text("metric", true);
  const auto op = text("op", true);
  const auto parsed_op = parse_comparison(*op);
  if (!parsed_op)
    fail_at(at, "op: " + in_quotes(*op) + " is not a comparison; expected one of " + std::string(comparison_values));
  r.op = *parsed_op;
  if (const auto it = obj.find("threshold"); it != obj.end()) {
    if (!it->is_number()) fail_at(at, "threshold: must be a number");
    r.threshold = it->get<double>();
  }
  r.threshold_metric = text("threshold_metric", false);
  if (const auto it = obj.find("for_s"); it != obj.end()) {
    if (!it->is_number()) fail_at(at, "for_s: must be a number of seconds >= 0");
    const double s = it->get<double>();
    if (!(s >= 0.0 && s <= max_for_s))
      fail_at(at, "for_s: must be a number of seconds in [0, 9.2e9], got " + format_number(s));
    r.for_ns = std::llround(s * ns_per_s);
  }
  if (const auto sev = text("severity", false)) {
    const auto parsed = parse_severity(*sev);
    if (!parsed)
      fail_at(at,
              "severity: " + in_quotes(*sev) + " is not a severity; expected one of " + std::string(severity_values));
    r.sev = *parsed;
  }
  if (const auto msg = text("message", false)) r.message = *msg;
  try {
    r.validate();
  } catch (const std::invalid_argument& e) {
    fail_at(at, e.what());
  }
  return r;
}

std::string rules_to_json(std::span<const rule_def> rules) {
  nlohmann::json doc = nlohmann::json::array();
  for (const auto& r : rules) doc.push_back(to_json(r));
  return doc.dump();
}

}  // namespace montalaq::rules
