#include "montalaq/rules/rule_engine.hpp"

#include <cmath>
#include <initializer_list>
#include <limits>
#include <stdexcept>

#include "montalaq/common/log.hpp"
#include "montalaq/detail/json_read.hpp"

namespace montalaq::rules {
namespace {

const detail::json_reader rd("rule state document");
constexpr std::string_view state_format = "montalaq.rule_engine_state";
constexpr double missing = std::numeric_limits<double>::quiet_NaN();
// A fired message is the rule's message (<= 1024 bytes) with its placeholders filled in.
constexpr std::size_t max_fired_message_bytes = 16 * 1024;

spdlog::logger& alert_log() {
  static spdlog::logger& lg = log::logger("alert");
  return lg;
}

spdlog::level::level_enum log_level(severity s) noexcept {
  switch (s) {
    case severity::info: return spdlog::level::info;
    case severity::warning: return spdlog::level::warn;
    case severity::critical: return spdlog::level::critical;
  }
  return spdlog::level::warn;
}

// `now - start >= span` without overflow; a `now` before `start` (a clock that went back)
// has not reached anything.
bool reached(std::int64_t now_ns, std::int64_t start_ns, std::int64_t span_ns) noexcept {
  if (now_ns < start_ns) return false;
  return static_cast<std::uint64_t>(now_ns) - static_cast<std::uint64_t>(start_ns) >=
         static_cast<std::uint64_t>(span_ns);
}

// A name for an error message: at most 64 bytes, not splitting a UTF-8 sequence (the
// message reaches Python, which needs valid UTF-8).
std::string clip(std::string_view s) {
  if (s.size() <= max_name_chars) return std::string(s);
  std::size_t n = max_name_chars;
  while (n > 0 && (static_cast<unsigned char>(s[n]) & 0xC0U) == 0x80U) --n;
  return std::string(s.substr(0, n)) + "...";
}

nlohmann::json parse_text(std::string_view text, const char* what) {
  try {
    return nlohmann::json::parse(text.begin(), text.end());
  } catch (const nlohmann::json::exception& e) {
    throw std::invalid_argument(std::string(what) + ": not valid JSON: " + e.what());
  }
}

// Non-finite values have no JSON form (docs/semantics.md, Time values in Python): null.
nlohmann::json number_or_null(double v) { return std::isfinite(v) ? nlohmann::json(v) : nlohmann::json(); }
nlohmann::json ns_or_null(bool present, std::int64_t v) { return present ? nlohmann::json(v) : nlohmann::json(); }

void only_keys(const nlohmann::json& obj, std::initializer_list<std::string_view> keys, const std::string& where) {
  if (!obj.is_object()) rd.fail(where + " must be an object");
  for (auto it = obj.begin(); it != obj.end(); ++it) {
    bool known = false;
    for (const auto k : keys) known = known || it.key() == k;
    if (!known) rd.fail(where + " has an unknown key '" + it.key() + "'");
  }
}

std::optional<std::int64_t> get_opt_ns(const nlohmann::json& obj, const char* key, const std::string& where) {
  const auto& v = rd.field(obj, key, where);
  if (v.is_null()) return std::nullopt;
  return rd.as_int(v, where + "." + key);
}

double get_opt_number(const nlohmann::json& obj, const char* key, const std::string& where) {
  const auto& v = rd.field(obj, key, where);
  if (v.is_null()) return missing;
  if (!v.is_number()) rd.fail(where + "." + key + " must be a number or null");
  return v.get<double>();
}

}  // namespace

std::string_view to_string(event_kind k) noexcept { return k == event_kind::firing ? "FIRING" : "RESOLVED"; }

std::uint32_t rule_engine::intern(const std::string& path) {
  const auto it = slots_.find(path);
  if (it != slots_.end()) return it->second;
  const auto s = static_cast<std::uint32_t>(paths_.size());
  paths_.push_back(path);
  slots_.emplace(path, s);
  return s;
}

std::optional<std::size_t> rule_engine::slot(std::string_view path) const {
  const auto it = slots_.find(path);
  if (it == slots_.end()) return std::nullopt;
  return it->second;
}

std::uint32_t rule_engine::index_of(std::string_view rule) const {
  const auto it = by_name_.find(rule);
  if (it == by_name_.end()) {
    throw std::invalid_argument("rule: '" + clip(rule) + "' is not a rule of this engine");
  }
  return it->second;
}

void rule_engine::add_rule(rule_def r) {
  try {
    r.validate();
  } catch (const std::invalid_argument& e) {
    if (!is_rule_name(r.name)) throw;  // the name is what is wrong: the message says so
    throw std::invalid_argument("rule '" + r.name + "': " + e.what());
  }
  if (by_name_.contains(r.name)) {
    throw std::invalid_argument("rule '" + r.name + "': name: already a rule of this engine (names are unique)");
  }
  hot_state h;
  h.value_slot = intern(r.metric);
  if (r.threshold_metric) {
    h.threshold_slot = intern(*r.threshold_metric);
  } else {
    h.threshold = *r.threshold;
  }
  h.for_ns = r.for_ns;
  h.op = r.op;
  h.last_value = h.last_threshold = missing;
  const auto index = static_cast<std::uint32_t>(hot_.size());
  by_name_.emplace(r.name, index);
  hot_.push_back(h);
  cold_.push_back({std::move(r), {}});
}

void rule_engine::load_rules_json(std::string_view text) {
  const auto doc = parse_text(text, "rules document");
  if (!doc.is_array()) throw std::invalid_argument("rules document: expected a JSON array of rule objects");
  std::vector<rule_def> defs;
  defs.reserve(doc.size());
  std::map<std::string, std::size_t, std::less<>> seen;
  for (std::size_t i = 0; i < doc.size(); ++i) {
    const std::string where = "rules[" + std::to_string(i) + "]";
    try {
      defs.push_back(rule_from_json(doc[i], where));
    } catch (const std::invalid_argument& e) {
      throw std::invalid_argument(std::string("rules document: ") + e.what());
    }
    const auto& name = defs.back().name;
    const std::string at = "rules document: " + where + " (name '" + name + "'): name: ";
    if (by_name_.contains(name)) throw std::invalid_argument(at + "already a rule of this engine (names are unique)");
    if (const auto it = seen.find(name); it != seen.end()) {
      throw std::invalid_argument(at + "repeats rules[" + std::to_string(it->second) + "] (names are unique)");
    }
    seen.emplace(name, i);
  }
  for (auto& r : defs) add_rule(std::move(r));  // all valid and distinct: cannot throw
}

std::string rule_engine::rules_json() const {
  nlohmann::json doc = nlohmann::json::array();
  for (const auto& c : cold_) doc.push_back(to_json(c.def));
  return doc.dump();
}

void rule_engine::fire(std::uint32_t i, std::int64_t now_ns, std::vector<rule_event>& events) {
  auto& h = hot_[i];
  auto& c = cold_[i];
  h.firing = true;
  h.fired_at_ns = now_ns;
  h.acknowledged = false;
  h.acknowledged_at_ns = 0;
  c.fired_message = format_message(c.def, h.last_value, h.last_threshold);
  events.push_back({c.def.name, c.def.sev, event_kind::firing, h.last_value, h.last_threshold, h.since_ns, now_ns,
                    c.fired_message, c.def.metric});
  alert_log().log(log_level(c.def.sev), "FIRING {} ({}): {}", c.def.name, to_string(c.def.sev), c.fired_message);
}

void rule_engine::resolve(std::uint32_t i, std::int64_t now_ns, std::vector<rule_event>& events) {
  auto& h = hot_[i];
  auto& c = cold_[i];
  h.firing = false;
  h.acknowledged = false;
  h.acknowledged_at_ns = 0;
  c.fired_message.clear();
  std::string message = c.def.name + " resolved: " + c.def.metric + " = " + format_number(h.last_value) +
                        " (no longer " + std::string(to_string(c.def.op)) + " " + format_number(h.last_threshold) + ")";
  alert_log().info("RESOLVED {} ({}): {}", c.def.name, to_string(c.def.sev), message);
  events.push_back({c.def.name, c.def.sev, event_kind::resolved, h.last_value, h.last_threshold, h.since_ns, now_ns,
                    std::move(message), c.def.metric});
}

std::vector<rule_event> rule_engine::evaluate(std::int64_t now_ns, std::span<const double> values) {
  if (values.size() != paths_.size()) {
    throw std::invalid_argument("values: expected " + std::to_string(paths_.size()) +
                                " values (one per slot of paths(), NaN for a missing metric), got " +
                                std::to_string(values.size()));
  }
  ++evaluations_;
  std::vector<rule_event> events;  // allocates only if there is an event
  const double* v = values.data();
  const auto n = static_cast<std::uint32_t>(hot_.size());
  for (std::uint32_t i = 0; i < n; ++i) {
    auto& h = hot_[i];
    const double value = v[h.value_slot];
    const double threshold = h.threshold_slot == no_slot ? h.threshold : v[h.threshold_slot];
    if (std::isnan(value) || std::isnan(threshold)) continue;  // missing: keep every state
    h.last_value = value;
    h.last_threshold = threshold;
    if (compare(h.op, value, threshold)) {
      if (!h.holding) {
        h.holding = true;
        h.since_ns = now_ns;
      }
      if (!h.firing && reached(now_ns, h.since_ns, h.for_ns)) fire(i, now_ns, events);
    } else {
      h.holding = false;
      if (h.firing) resolve(i, now_ns, events);
    }
  }
  return events;
}

bool rule_engine::acknowledge(std::string_view rule, std::int64_t now_ns) {
  auto& h = hot_[index_of(rule)];
  if (!h.firing) return false;
  if (!h.acknowledged) {
    h.acknowledged = true;
    h.acknowledged_at_ns = now_ns;
  }
  return true;
}

std::vector<active_alert> rule_engine::active() const {
  std::vector<active_alert> out;
  for (std::size_t i = 0; i < hot_.size(); ++i) {
    const auto& h = hot_[i];
    if (!h.firing) continue;
    const auto& c = cold_[i];
    out.push_back({c.def.name, c.def.metric, c.def.sev, h.since_ns, h.fired_at_ns, h.last_value, h.last_threshold,
                   h.acknowledged, h.acknowledged ? std::optional<std::int64_t>(h.acknowledged_at_ns) : std::nullopt,
                   c.fired_message});
  }
  return out;
}

std::string rule_engine::state_json() const {
  nlohmann::json rules = nlohmann::json::array();
  for (std::size_t i = 0; i < hot_.size(); ++i) {
    const auto& h = hot_[i];
    rules.push_back({{"name", cold_[i].def.name},
                     {"pending_since_ns", ns_or_null(h.holding, h.since_ns)},
                     {"firing", h.firing},
                     {"fired_at_ns", ns_or_null(h.firing, h.fired_at_ns)},
                     {"acknowledged", h.acknowledged},
                     {"acknowledged_at_ns", ns_or_null(h.acknowledged, h.acknowledged_at_ns)},
                     {"value", number_or_null(h.last_value)},
                     {"threshold", number_or_null(h.last_threshold)},
                     {"message", cold_[i].fired_message}});
  }
  return nlohmann::json{
      {"format", state_format}, {"version", state_version}, {"evaluations", evaluations_}, {"rules", rules}}
      .dump();
}

void rule_engine::load_state_json(std::string_view text) {
  const auto doc = parse_text(text, "rule state document");
  rd.expect_format(doc, state_format, state_version);
  only_keys(doc, {"format", "version", "evaluations", "rules"}, "document");
  const auto evaluations = rd.get_int(doc, "evaluations", "document", 0);
  const auto& rs = rd.field(doc, "rules", "document");
  if (!rs.is_array()) rd.fail("document.rules must be an array");

  // Everything is read into copies; the engine changes only after the last check.
  std::vector<hot_state> hot = hot_;
  for (auto& h : hot) {
    h.holding = h.firing = h.acknowledged = false;
    h.since_ns = h.fired_at_ns = h.acknowledged_at_ns = 0;
    h.last_value = h.last_threshold = missing;
  }
  std::vector<std::string> messages(hot_.size());
  std::vector<bool> seen(hot_.size(), false);
  for (std::size_t k = 0; k < rs.size(); ++k) {
    const auto& r = rs[k];
    const std::string where = "rules[" + std::to_string(k) + "]";
    only_keys(r,
              {"name", "pending_since_ns", "firing", "fired_at_ns", "acknowledged", "acknowledged_at_ns", "value",
               "threshold", "message"},
              where);
    const std::string name = rd.get_string(r, "name", where);
    const auto it = by_name_.find(name);
    if (it == by_name_.end()) {
      rd.fail(where + ".name = '" + clip(name) + "' is not a rule of this engine");
    }
    const std::uint32_t i = it->second;
    if (seen[i]) rd.fail(where + ".name = '" + name + "' repeats an earlier element");
    seen[i] = true;
    const auto since = get_opt_ns(r, "pending_since_ns", where);
    const bool firing = rd.get_bool(r, "firing", where);
    const auto fired_at = get_opt_ns(r, "fired_at_ns", where);
    const bool acknowledged = rd.get_bool(r, "acknowledged", where);
    const auto acknowledged_at = get_opt_ns(r, "acknowledged_at_ns", where);
    const double value = get_opt_number(r, "value", where);
    const double threshold = get_opt_number(r, "threshold", where);
    std::string message = rd.get_string(r, "message", where);
    if (firing && !since) rd.fail(where + ": a firing rule needs pending_since_ns (its condition holds)");
    if (firing != fired_at.has_value()) rd.fail(where + ".fired_at_ns must be set exactly when firing");
    if (firing && *fired_at < *since) rd.fail(where + ".fired_at_ns is before pending_since_ns");
    if (acknowledged && !firing) rd.fail(where + ".acknowledged: only a firing rule can be acknowledged");
    if (acknowledged != acknowledged_at.has_value()) {
      rd.fail(where + ".acknowledged_at_ns must be set exactly when acknowledged");
    }
    if (!firing && !message.empty()) rd.fail(where + ".message must be empty unless firing");
    if (message.size() > max_fired_message_bytes) rd.fail(where + ".message is too long");
    auto& h = hot[i];
    h.holding = since.has_value();
    h.since_ns = since.value_or(0);
    h.firing = firing;
    h.fired_at_ns = fired_at.value_or(0);
    h.acknowledged = acknowledged;
    h.acknowledged_at_ns = acknowledged_at.value_or(0);
    h.last_value = value;
    h.last_threshold = threshold;
    messages[i] = std::move(message);
  }
  hot_ = std::move(hot);
  for (std::size_t i = 0; i < cold_.size(); ++i) cold_[i].fired_message = std::move(messages[i]);
  evaluations_ = static_cast<std::uint64_t>(evaluations);
}

}  // namespace montalaq::rules
