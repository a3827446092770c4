#include "montalaq/guard/throttle.hpp"

#include <algorithm>
#include <limits>
#include <stdexcept>

#include "montalaq/detail/json_read.hpp"

namespace montalaq::guard {
namespace {

const detail::json_reader rd("error throttle document");

// `now - start >= span` without overflow; a `now` before `start` (a clock that went back)
// has not reached anything.
bool reached(std::int64_t now_ns, std::int64_t start_ns, std::int64_t span_ns) noexcept {
  if (now_ns < start_ns) return false;
  return static_cast<std::uint64_t>(now_ns) - static_cast<std::uint64_t>(start_ns) >=
         static_cast<std::uint64_t>(span_ns);
}

std::int64_t saturating_add(std::int64_t a, std::int64_t b) noexcept {
  std::int64_t out = 0;
  if (__builtin_add_overflow(a, b, &out)) {
    return b > 0 ? std::numeric_limits<std::int64_t>::max() : std::numeric_limits<std::int64_t>::min();
  }
  return out;
}

// Cut to at most `max` bytes without splitting a UTF-8 sequence.
std::string_view truncate_utf8(std::string_view s, std::size_t max) noexcept {
  if (s.size() <= max) return s;
  std::size_t n = max;
  while (n > 0 && (static_cast<unsigned char>(s[n]) & 0xC0U) == 0x80U) --n;
  return s.substr(0, n);
}

bool is_canonical(std::string_view name) {
  try {
    return error_throttle::canonical_type(name) == name;
  } catch (const std::invalid_argument&) {
    return false;
  }
}

nlohmann::json opt_ns(const std::optional<std::int64_t>& v) { return v ? nlohmann::json(*v) : nlohmann::json(); }

std::optional<std::int64_t> get_opt_ns(const nlohmann::json& obj, const char* key, const std::string& where) {
  const auto& v = rd.field(obj, key, where);
  if (v.is_null()) return std::nullopt;
  return rd.as_int(v, where + "." + key);
}

}  // namespace

std::string_view to_string(throttle_decision d) noexcept {
  switch (d) {
    case throttle_decision::notify: return "NOTIFY";
    case throttle_decision::suppressed: return "SUPPRESSED";
  }
  return "NOTIFY";
}

std::map<std::string, std::int64_t, std::less<>> error_throttle::default_windows() {
  return {{"STARTUP", 3600 * ns_per_s},
          {"WEBSOCKET", 3600 * ns_per_s},
          {"BROKER", 1800 * ns_per_s},
          {"DATABASE", 3600 * ns_per_s}};
}

std::string error_throttle::canonical_type(std::string_view error_type) {
  if (error_type.empty()) throw std::invalid_argument("error_type: expected a non-empty name such as 'BROKER'");
  if (error_type.size() > max_type_chars) {
    throw std::invalid_argument("error_type: at most " + std::to_string(max_type_chars) + " characters, got " +
                                std::to_string(error_type.size()));
  }
  std::string out(error_type);
  for (char& c : out) {
    const bool ok = (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '_' ||
                    c == '.' || c == ':' || c == '-';
    if (!ok) {
      throw std::invalid_argument("error_type: '" + std::string(truncate_utf8(error_type, max_type_chars)) +
                                  "' has a character outside [A-Za-z0-9_.:-]");
    }
    if (c >= 'a' && c <= 'z') c = static_cast<char>(c - 'a' + 'A');
  }
  return out;
}

error_throttle::error_throttle() : error_throttle(config{}) {}

error_throttle::error_throttle(config cfg) : cfg_(std::move(cfg)) {
  if (cfg_.default_window_ns <= 0) throw std::invalid_argument("default window must be > 0");
  if (cfg_.aggregation_ns < 0) throw std::invalid_argument("aggregation window must be >= 0");
  if (cfg_.max_types < 1) throw std::invalid_argument("max_types must be >= 1");
  std::map<std::string, std::int64_t, std::less<>> canon;
  for (const auto& [name, window] : cfg_.windows) {
    std::string key;
    try {
      key = canonical_type(name);
    } catch (const std::invalid_argument& e) {
      throw std::invalid_argument(std::string("windows: ") + e.what());
    }
    if (window <= 0) throw std::invalid_argument("windows['" + name + "'] must be > 0");
    if (!canon.emplace(key, window).second) {
      throw std::invalid_argument("windows: two entries name the type '" + key + "'");
    }
  }
  cfg_.windows = std::move(canon);
}

std::int64_t error_throttle::window_ns(std::string_view error_type) const {
  const std::string key = canonical_type(error_type);
  const auto it = cfg_.windows.find(key);
  return it == cfg_.windows.end() ? cfg_.default_window_ns : it->second;
}

throttle_digest& error_throttle::open_digest(std::int64_t now_ns) {
  // A report at or after the end of the open aggregation window starts the next digest.
  if (pending_.empty() || reached(now_ns, pending_.back().opened_at_ns, cfg_.aggregation_ns)) {
    pending_.push_back(throttle_digest{next_seq_++, now_ns, {}});
  }
  return pending_.back();
}

throttle_entry* error_throttle::pending_entry(const std::string& type, const type_state& st) {
  if (st.pending_seq == 0) return nullptr;
  for (auto& d : pending_) {
    if (d.seq != st.pending_seq) continue;
    for (auto& e : d.entries) {
      if (e.error_type == type) return &e;
    }
  }
  return nullptr;
}

throttle_decision error_throttle::report(std::string_view error_type, std::int64_t now_ns, std::string_view message) {
  std::string type = canonical_type(error_type);
  auto it = types_.find(type);
  const bool fresh = it == types_.end();
  if (fresh) {
    if (types_.size() >= cfg_.max_types) {
      // Error types are a small set chosen by code; thousands of them means a message was
      // passed as the type. Refuse rather than grow without bound.
      throw std::length_error("error_type: more than max_types = " + std::to_string(cfg_.max_types) +
                              " distinct error types; is a message being passed as the type?");
    }
    it = types_.emplace(type, type_state{}).first;
  }
  type_state& st = it->second;
  const auto wit = cfg_.windows.find(type);
  const std::int64_t window = wit == cfg_.windows.end() ? cfg_.default_window_ns : wit->second;
  const bool notify = fresh || st.resolved || reached(now_ns, st.window_start_ns, window);

  if (fresh) {
    st.first_ns = st.last_ns = now_ns;
  } else {
    st.first_ns = std::min(st.first_ns, now_ns);
    st.last_ns = std::max(st.last_ns, now_ns);
  }
  ++st.count;
  if (notify) {
    if (fresh || st.resolved) {  // a new episode
      st.episode_start_ns = st.episode_last_ns = now_ns;
      st.episode_count = 0;
    }
    st.resolved = false;
    st.resolved_at_ns.reset();
    st.window_start_ns = now_ns;
  }
  ++st.episode_count;
  st.episode_last_ns = std::max(st.episode_last_ns, now_ns);

  throttle_entry* entry = nullptr;
  if (notify) {
    throttle_digest& d = open_digest(now_ns);
    if (st.pending_seq == d.seq) entry = pending_entry(type, st);
    if (entry == nullptr) {
      d.entries.push_back(throttle_entry{type, 0, now_ns, now_ns, {}, std::nullopt});
      entry = &d.entries.back();
      st.pending_seq = d.seq;
    }
    entry->resolved_at_ns.reset();  // active again
  } else {
    entry = pending_entry(type, st);
  }
  if (entry != nullptr) {
    ++entry->count;
    entry->first_seen_ns = std::min(entry->first_seen_ns, now_ns);
    entry->last_seen_ns = std::max(entry->last_seen_ns, now_ns);
    if (entry->message.empty()) entry->message = std::string(truncate_utf8(message, max_message_bytes));
  }
  return notify ? throttle_decision::notify : throttle_decision::suppressed;
}

std::vector<throttle_digest> error_throttle::flush(std::int64_t now_ns) {
  std::vector<throttle_digest> out;
  while (!pending_.empty() && reached(now_ns, pending_.front().opened_at_ns, cfg_.aggregation_ns)) {
    throttle_digest& d = pending_.front();
    for (const auto& e : d.entries) {
      type_state& st = types_.at(e.error_type);
      ++st.notifications;
      if (st.pending_seq == d.seq) st.pending_seq = 0;
    }
    out.push_back(std::move(d));
    pending_.pop_front();
  }
  return out;
}

std::optional<throttle_recovery> error_throttle::resolve(std::string_view error_type, std::int64_t now_ns) {
  const std::string type = canonical_type(error_type);
  const auto it = types_.find(type);
  if (it == types_.end() || it->second.resolved) return std::nullopt;
  type_state& st = it->second;
  st.resolved = true;
  st.resolved_at_ns = now_ns;
  if (throttle_entry* e = pending_entry(type, st)) {
    e->resolved_at_ns = now_ns;  // folded into the digest that reports the error
    return std::nullopt;
  }
  ++st.notifications;
  return throttle_recovery{type, now_ns, st.episode_start_ns, st.episode_last_ns, st.episode_count};
}

std::vector<error_summary> error_throttle::summary() const {
  std::vector<error_summary> out;
  out.reserve(types_.size());
  for (const auto& [type, st] : types_) {
    out.push_back({type, st.first_ns, st.last_ns, st.count, st.notifications, st.resolved, st.resolved_at_ns});
  }
  return out;
}

std::optional<error_summary> error_throttle::summary(std::string_view error_type) const {
  const auto it = types_.find(canonical_type(error_type));
  if (it == types_.end()) return std::nullopt;
  const auto& st = it->second;
  return error_summary{it->first, st.first_ns, st.last_ns, st.count, st.notifications, st.resolved, st.resolved_at_ns};
}

std::optional<std::int64_t> error_throttle::next_flush_ns() const {
  if (pending_.empty()) return std::nullopt;
  return saturating_add(pending_.front().opened_at_ns, cfg_.aggregation_ns);
}

std::size_t error_throttle::buffered() const noexcept {
  std::size_t n = 0;
  for (const auto& d : pending_) n += d.entries.size();
  return n;
}

nlohmann::json error_throttle::to_json() const {
  nlohmann::json windows = nlohmann::json::object();
  for (const auto& [type, w] : cfg_.windows) windows[type] = w;
  nlohmann::json types = nlohmann::json::array();
  for (const auto& [type, st] : types_) {
    types.push_back({{"error_type", type},
                     {"first_occurrence_ns", st.first_ns},
                     {"last_occurrence_ns", st.last_ns},
                     {"count", st.count},
                     {"notifications_sent", st.notifications},
                     {"window_start_ns", st.window_start_ns},
                     {"episode_start_ns", st.episode_start_ns},
                     {"episode_last_ns", st.episode_last_ns},
                     {"episode_count", st.episode_count},
                     {"resolved", st.resolved},
                     {"resolved_at_ns", opt_ns(st.resolved_at_ns)},
                     {"pending_seq", st.pending_seq}});
  }
  nlohmann::json pending = nlohmann::json::array();
  for (const auto& d : pending_) {
    nlohmann::json entries = nlohmann::json::array();
    for (const auto& e : d.entries) {
      entries.push_back({{"error_type", e.error_type},
                         {"count", e.count},
                         {"first_seen_ns", e.first_seen_ns},
                         {"last_seen_ns", e.last_seen_ns},
                         {"message", e.message},
                         {"resolved_at_ns", opt_ns(e.resolved_at_ns)}});
    }
    pending.push_back({{"seq", d.seq}, {"opened_at_ns", d.opened_at_ns}, {"entries", entries}});
  }
  return {{"format", "montalaq.error_throttle"},
          {"version", json_version},
          {"config",
           {{"default_window_ns", cfg_.default_window_ns},
            {"aggregation_ns", cfg_.aggregation_ns},
            {"max_types", cfg_.max_types},
            {"windows", windows}}},
          {"types", types},
          {"pending", pending},
          {"next_seq", next_seq_}};
}

error_throttle error_throttle::from_json(const nlohmann::json& doc) {
  rd.expect_format(doc, "montalaq.error_throttle", json_version);
  constexpr std::int64_t max_i64 = std::numeric_limits<std::int64_t>::max();
  const auto& c = rd.field(doc, "config", "document");
  config cfg;
  cfg.default_window_ns = rd.get_int(c, "default_window_ns", "config", 1);
  cfg.aggregation_ns = rd.get_int(c, "aggregation_ns", "config", 0);
  cfg.max_types = static_cast<std::size_t>(rd.get_int(c, "max_types", "config", 1, 1'000'000'000));
  const auto& ws = rd.field(c, "windows", "config");
  if (!ws.is_object()) rd.fail("config.windows must be an object {type: ns}");
  cfg.windows.clear();
  for (const auto& [name, v] : ws.items()) {
    const std::string where = "config.windows['" + name + "']";
    if (!is_canonical(name)) rd.fail(where + ": not a canonical type name (upper case, [A-Z0-9_.:-], 1..64)");
    cfg.windows[name] = rd.as_int(v, where, 1);
  }
  error_throttle t(std::move(cfg));
  const auto next_seq = rd.get_int(doc, "next_seq", "document", 1, max_i64);
  t.next_seq_ = static_cast<std::uint64_t>(next_seq);

  const auto& ts = rd.field(doc, "types", "document");
  if (!ts.is_array() || ts.size() > t.cfg_.max_types) rd.fail("types must be an array of at most max_types entries");
  for (std::size_t i = 0; i < ts.size(); ++i) {
    const std::string where = "types[" + std::to_string(i) + "]";
    const std::string type = rd.get_string(ts[i], "error_type", where);
    if (!is_canonical(type)) rd.fail(where + ".error_type is not a canonical type name (upper case, [A-Z0-9_.:-])");
    type_state st;
    st.first_ns = rd.get_int(ts[i], "first_occurrence_ns", where);
    st.last_ns = rd.get_int(ts[i], "last_occurrence_ns", where, st.first_ns);
    st.count = rd.get_int(ts[i], "count", where, 1);
    st.notifications = rd.get_int(ts[i], "notifications_sent", where, 0);
    st.window_start_ns = rd.get_int(ts[i], "window_start_ns", where);
    st.episode_start_ns = rd.get_int(ts[i], "episode_start_ns", where);
    st.episode_last_ns = rd.get_int(ts[i], "episode_last_ns", where);
    st.episode_count = rd.get_int(ts[i], "episode_count", where, 1, st.count);
    st.resolved = rd.get_bool(ts[i], "resolved", where);
    st.resolved_at_ns = get_opt_ns(ts[i], "resolved_at_ns", where);
    if (st.resolved != st.resolved_at_ns.has_value()) rd.fail(where + ": resolved_at_ns must be set iff resolved");
    st.pending_seq = static_cast<std::uint64_t>(rd.get_int(ts[i], "pending_seq", where, 0, next_seq - 1));
    if (!t.types_.emplace(type, st).second) rd.fail(where + ": type '" + type + "' appears twice");
  }

  const auto& ps = rd.field(doc, "pending", "document");
  if (!ps.is_array()) rd.fail("pending must be an array of digests");
  for (std::size_t i = 0; i < ps.size(); ++i) {
    const std::string where = "pending[" + std::to_string(i) + "]";
    throttle_digest d;
    d.seq = static_cast<std::uint64_t>(rd.get_int(ps[i], "seq", where, 1, next_seq - 1));
    d.opened_at_ns = rd.get_int(ps[i], "opened_at_ns", where);
    if (!t.pending_.empty() && (d.seq <= t.pending_.back().seq || d.opened_at_ns < t.pending_.back().opened_at_ns)) {
      rd.fail(where + ": digests must be in increasing seq and opened_at order");
    }
    const auto& es = rd.field(ps[i], "entries", where);
    if (!es.is_array() || es.empty()) rd.fail(where + ".entries must be a non-empty array");
    for (std::size_t j = 0; j < es.size(); ++j) {
      const std::string ew = where + ".entries[" + std::to_string(j) + "]";
      throttle_entry e;
      e.error_type = rd.get_string(es[j], "error_type", ew);
      if (!t.types_.contains(e.error_type)) rd.fail(ew + ": type '" + e.error_type + "' is not in types");
      for (const auto& prev : d.entries) {
        if (prev.error_type == e.error_type) rd.fail(ew + ": type '" + e.error_type + "' appears twice in a digest");
      }
      e.count = rd.get_int(es[j], "count", ew, 1);
      e.first_seen_ns = rd.get_int(es[j], "first_seen_ns", ew);
      e.last_seen_ns = rd.get_int(es[j], "last_seen_ns", ew, e.first_seen_ns);
      e.message = rd.get_string(es[j], "message", ew);
      if (e.message.size() > max_message_bytes) rd.fail(ew + ".message is longer than the limit");
      e.resolved_at_ns = get_opt_ns(es[j], "resolved_at_ns", ew);
      d.entries.push_back(std::move(e));
    }
    t.pending_.push_back(std::move(d));
  }
  for (const auto& [type, st] : t.types_) {
    if (st.pending_seq != 0 && t.pending_entry(type, st) == nullptr) {
      rd.fail("types['" + type + "'].pending_seq names no buffered entry of that type");
    }
  }
  return t;
}

}  // namespace montalaq::guard
