#include "montalaq/health/escalation.hpp"

#include <algorithm>
#include <limits>
#include <stdexcept>

#include "montalaq/common/log.hpp"
#include "montalaq/detail/json_read.hpp"
#include "montalaq/detail/saturating.hpp"

namespace montalaq::health {
namespace {

using json = nlohmann::json;
const detail::json_reader rd("escalation board document");

constexpr level all_levels[] = {level::info, level::warn, level::error, level::critical};
constexpr colour all_colours[] = {colour::green, colour::amber, colour::red, colour::closed};
constexpr int max_int = std::numeric_limits<int>::max();
constexpr std::string_view always_open_name = "24/7";
constexpr std::size_t max_calendars = std::numeric_limits<std::uint16_t>::max() + std::size_t{1};

// Sessions of one calendar, checked the same way by set_calendar and the JSON loader.
void validate_calendar(std::string_view name, std::span<const std::int64_t> opens,
                       std::span<const std::int64_t> closes) {
  const std::string quoted = "calendar '" + std::string(name) + "'";
  if (name.empty() || name.size() > escalation_board::max_calendar_name) {
    throw std::invalid_argument("calendar name must be 1-32 characters, got '" + std::string(name) + "'");
  }
  if (name == always_open_name) throw std::invalid_argument("calendar '24/7' is built in (always open)");
  if (opens.size() != closes.size()) {
    throw std::invalid_argument(quoted + ": " + std::to_string(opens.size()) + " opens but " +
                                std::to_string(closes.size()) + " closes");
  }
  if (opens.empty()) throw std::invalid_argument(quoted + " has no sessions");
  for (std::size_t i = 0; i < opens.size(); ++i) {
    if (opens[i] >= closes[i]) {
      throw std::invalid_argument(quoted + ": session " + std::to_string(i) + " opens at " + std::to_string(opens[i]) +
                                  " but does not close after it (" + std::to_string(closes[i]) + ")");
    }
    if (i > 0 && opens[i] < closes[i - 1]) {
      throw std::invalid_argument(quoted + ": session " + std::to_string(i) + " opens at " + std::to_string(opens[i]) +
                                  ", before session " + std::to_string(i - 1) + " closes (" +
                                  std::to_string(closes[i - 1]) + "): sessions must be ascending and must not overlap");
    }
  }
}

}  // namespace

std::string_view to_string(level l) noexcept {
  switch (l) {
    case level::info: return "INFO";
    case level::warn: return "WARN";
    case level::error: return "ERROR";
    case level::critical: return "CRITICAL";
  }
  return "INFO";
}

std::string_view to_string(event_kind k) noexcept {
  switch (k) {
    case event_kind::level_change: return "level";
    case event_kind::breaker_open: return "breaker_open";
    case event_kind::breaker_close: return "breaker_close";
  }
  return "level";
}

void escalation_config::validate() const {
  auto positive = [](const char* name, std::int64_t v) {
    if (v < 1) throw std::invalid_argument(std::string(name) + " must be >= 1, got " + std::to_string(v));
  };
  positive("critical_red_streak", critical_red_streak);
  positive("error_fails", error_fails);
  positive("warn_amber_streak", warn_amber_streak);
  positive("warn_fails", warn_fails);
  positive("breaker_red_streak", breaker_red_streak);
  positive("breaker_error_streak", breaker_error_streak);
  positive("fail_window_ns", fail_window_ns);
  positive("max_failures_kept", static_cast<std::int64_t>(max_failures_kept));
  if (auto_close_cycles < 0) throw std::invalid_argument("auto_close_cycles must be >= 0 (0 = operator only)");
}

escalation_board::escalation_board(escalation_config cfg, freshness fresh) : cfg_(cfg), fresh_(std::move(fresh)) {
  cfg_.validate();
  calendars_.push_back({std::string(always_open_name), {}, {}, false});
  calendars_now_.resize(1);
}

std::uint32_t escalation_board::add_pair(std::string_view symbol, std::int64_t tf_ns, std::uint16_t calendar) {
  if (symbol.empty()) throw std::invalid_argument("symbol must be a non-empty string");
  if (tf_ns <= 0 || tf_ns % 1'000'000'000 != 0) {
    throw std::invalid_argument("timeframe must be a positive whole number of seconds");
  }
  if (calendar >= calendars_.size()) {
    throw std::invalid_argument("calendar index " + std::to_string(calendar) + " is not on this board");
  }
  if (const auto found = find_pair(symbol, tf_ns)) return *found;
  if (hot_.size() >= std::numeric_limits<std::uint32_t>::max() - 1) throw std::length_error("too many pairs");
  const auto idx = static_cast<std::uint32_t>(hot_.size());
  reserve_index(hot_.size() + 1);
  hot_state h;
  const auto t = fresh_.thresholds(tf_ns);
  h.amber_after_ns = t.amber_after_ns;
  h.red_after_ns = t.red_after_ns;
  h.calendar = calendar;
  hot_.push_back(h);
  cold_state c;
  c.symbol = std::string(symbol);
  c.tf_ns = tf_ns;
  cold_.push_back(std::move(c));
  index_new_pair(idx);
  return idx;
}

std::optional<std::uint32_t> escalation_board::find_pair(std::string_view symbol, std::int64_t tf_ns) const {
  if (slots_.empty()) return std::nullopt;
  const auto s = static_cast<std::uint32_t>(slots_[slot_of(symbol, tf_ns, key_hash(symbol, tf_ns))]);
  if (s == 0) return std::nullopt;
  return s - 1;
}

std::uint64_t escalation_board::key_hash(std::string_view symbol, std::int64_t tf_ns) noexcept {
  std::uint64_t h = std::hash<std::string_view>{}(symbol) ^ (static_cast<std::uint64_t>(tf_ns) * 0x9e3779b97f4a7c15ULL);
  h ^= h >> 29;
  h *= 0xbf58476d1ce4e5b9ULL;
  return h ^ (h >> 32);
}

std::size_t escalation_board::slot_of(std::string_view symbol, std::int64_t tf_ns, std::uint64_t hash) const noexcept {
  const std::size_t mask = slots_.size() - 1;
  const std::uint64_t tag = hash & 0xFFFFFFFF00000000ULL;
  for (std::size_t i = hash & mask;; i = (i + 1) & mask) {
    const std::uint64_t s = slots_[i];
    if (s == 0) return i;
    // The tag (the hash's high half) spares the cold_ lookup, a cache miss, for other keys.
    if ((s & 0xFFFFFFFF00000000ULL) == tag) {
      const cold_state& c = cold_[static_cast<std::uint32_t>(s) - 1];
      if (c.tf_ns == tf_ns && c.symbol == symbol) return i;
    }
  }
}

void escalation_board::reserve_index(std::size_t pairs) {
  if (pairs * 2 <= slots_.size()) return;
  std::size_t cap = 16;
  while (cap < pairs * 2) cap *= 2;
  slots_.assign(cap, 0);
  index_pairs(0);
}

bool escalation_board::index_new_pair(std::uint32_t idx) {
  const cold_state& c = cold_[idx];
  return index_at(idx, key_hash(c.symbol, c.tf_ns));
}

bool escalation_board::index_at(std::uint32_t idx, std::uint64_t hash) {
  const cold_state& c = cold_[idx];
  std::uint64_t& s = slots_[slot_of(c.symbol, c.tf_ns, hash)];
  if (s != 0) return false;
  s = (hash & 0xFFFFFFFF00000000ULL) | (std::uint64_t{idx} + 1);
  return true;
}

std::size_t escalation_board::index_pairs(std::size_t from, std::span<const std::uint64_t> known) {
  // The hashes first (a sequential pass, or the caller's), then the inserts with the home
  // slot of a pair a few ahead prefetched: a 100k-pair index is larger than the caches, and
  // waiting on one slot's miss at a time was most of a snapshot load.
  constexpr std::size_t ahead = 16;
  const std::size_t n = cold_.size();
  std::vector<std::uint64_t> computed;
  if (known.size() != n - std::min(from, n)) {
    computed.resize(n - std::min(from, n));
    for (std::size_t i = from; i < n; ++i) computed[i - from] = key_hash(cold_[i].symbol, cold_[i].tf_ns);
    known = computed;
  }
  const auto& hashes = known;
  const std::size_t mask = slots_.size() - 1;
  for (std::size_t k = 0; k < hashes.size(); ++k) {
    if (k + ahead < hashes.size()) __builtin_prefetch(&slots_[hashes[k + ahead] & mask], 1);
    if (!index_at(static_cast<std::uint32_t>(from + k), hashes[k])) return from + k;
  }
  return n;
}

void escalation_board::record_failure(std::uint32_t pair, std::int64_t at_ns, std::string_view error_code) {
  cold_state& c = cold_.at(pair);
  const std::string code(error_code.empty() ? std::string_view("UNKNOWN") : error_code);
  // Failures usually arrive in time order; keep the list sorted either way.
  auto pos = std::upper_bound(c.failures.begin(), c.failures.end(), at_ns,
                              [](std::int64_t v, const failure& x) { return v < x.at_ns; });
  c.failures.insert(pos, failure{at_ns, code});
  if (c.failures.size() > cfg_.max_failures_kept) c.failures.erase(c.failures.begin());
  // "Last" is by failure time (ties: the later record), whatever has been pruned since.
  if (c.last_error_code.empty() || at_ns >= c.last_error_ns) {
    c.last_error_code = code;
    c.last_error_ns = at_ns;
  }
  hot_[pair].n_failures = static_cast<std::uint32_t>(c.failures.size());
}

void escalation_board::set_last_tick(std::uint32_t pair, std::int64_t ts_ns) { hot_.at(pair).last_tick_ns = ts_ns; }

void escalation_board::set_last_ticks(std::span<const std::uint32_t> pairs, std::span<const std::int64_t> ts_ns) {
  if (pairs.size() != ts_ns.size()) throw std::invalid_argument("set_last_ticks: pairs and ts_ns differ in length");
  for (const auto p : pairs) {
    if (p >= hot_.size()) throw std::out_of_range("set_last_ticks: unknown pair index " + std::to_string(p));
  }
  for (std::size_t i = 0; i < pairs.size(); ++i) hot_[pairs[i]].last_tick_ns = ts_ns[i];
}

std::uint16_t escalation_board::set_calendar(std::string_view name, std::span<const std::int64_t> opens,
                                             std::span<const std::int64_t> closes) {
  validate_calendar(name, opens, closes);
  calendar_sessions cal{std::string(name), {opens.begin(), opens.end()}, {closes.begin(), closes.end()}, false};
  if (const auto found = find_calendar(name)) {
    calendars_[*found] = std::move(cal);
    return *found;
  }
  if (calendars_.size() >= max_calendars) throw std::length_error("too many calendars");
  calendars_.push_back(std::move(cal));
  calendars_now_.resize(calendars_.size());
  return static_cast<std::uint16_t>(calendars_.size() - 1);
}

std::optional<std::uint16_t> escalation_board::find_calendar(std::string_view name) const {
  // A board holds a handful of calendars: a scan beats a map.
  for (std::size_t c = 0; c < calendars_.size(); ++c) {
    if (calendars_[c].name == name) return static_cast<std::uint16_t>(c);
  }
  return std::nullopt;
}

void escalation_board::set_pair_calendar(std::uint32_t pair, std::uint16_t calendar) {
  hot_state& p = hot_.at(pair);
  if (calendar >= calendars_.size()) {
    throw std::invalid_argument("calendar index " + std::to_string(calendar) + " is not on this board");
  }
  p.calendar = calendar;
}

std::vector<std::uint32_t> escalation_board::place_pairs(std::span<const std::string> symbols,
                                                         std::span<const std::uint32_t> symbol_of,
                                                         std::span<const std::int64_t> tf_ns,
                                                         std::span<const std::uint16_t> calendar) {
  const std::size_t n = symbol_of.size();
  if (tf_ns.size() != n || calendar.size() != n) {
    throw std::invalid_argument("place_pairs: symbol_of, tf_ns and calendar must have one value per pair");
  }
  for (const auto& s : symbols) {
    if (s.empty()) throw std::invalid_argument("symbol must be a non-empty string");
  }
  for (std::size_t i = 0; i < n; ++i) {
    if (symbol_of[i] >= symbols.size()) {
      throw std::invalid_argument("place_pairs: pair " + std::to_string(i) + " names symbol " +
                                  std::to_string(symbol_of[i]) + " of " + std::to_string(symbols.size()));
    }
    if (tf_ns[i] <= 0 || tf_ns[i] % 1'000'000'000 != 0) {
      throw std::invalid_argument("timeframe must be a positive whole number of seconds");
    }
    if (calendar[i] >= calendars_.size()) {
      throw std::invalid_argument("calendar index " + std::to_string(calendar[i]) + " is not on this board");
    }
  }
  std::vector<std::uint32_t> out(n);
  for (std::size_t i = 0; i < n; ++i) {
    out[i] = add_pair(symbols[symbol_of[i]], tf_ns[i], calendar[i]);
    hot_[out[i]].calendar = calendar[i];  // an existing pair moves
  }
  return out;
}

void escalation_board::calendars_at(std::int64_t now_ns) {
  calendars_now_[always_open] = {std::numeric_limits<std::int64_t>::min(), true};
  for (std::size_t c = 1; c < calendars_.size(); ++c) {
    calendar_sessions& cal = calendars_[c];
    // The last session that opened at or before now; open while now is before its close.
    const auto after = std::upper_bound(cal.opens.begin(), cal.opens.end(), now_ns);
    if (after == cal.opens.begin()) {
      calendars_now_[c] = {0, false};
      continue;
    }
    const auto k = static_cast<std::size_t>(after - cal.opens.begin()) - 1;
    const bool open = now_ns < cal.closes[k];
    calendars_now_[c] = {cal.opens[k], open};
    if (!open && k + 1 == cal.opens.size() && !cal.warned_past_end) [[unlikely]] {
      // Past the last session the calendar reads closed for ever: say so once.
      cal.warned_past_end = true;
      log::logger().warn("calendar {} has no session after {}ns: its pairs stay CLOSED", cal.name, cal.closes[k]);
    }
  }
}

int escalation_board::prune_failures(std::uint32_t i, std::int64_t now_ns) {
  auto& f = cold_[i].failures;
  const std::int64_t cutoff = detail::elapsed(now_ns, cfg_.fail_window_ns);  // counted: at > cutoff
  const auto keep =
      std::upper_bound(f.begin(), f.end(), cutoff, [](std::int64_t v, const failure& x) { return v < x.at_ns; });
  f.erase(f.begin(), keep);
  hot_[i].n_failures = static_cast<std::uint32_t>(f.size());
  return static_cast<int>(std::min<std::size_t>(f.size(), static_cast<std::size_t>(max_int)));
}

std::vector<escalation_event> escalation_board::evaluate(std::int64_t now_ns, std::span<const std::int64_t> ticks) {
  if (!ticks.empty() && ticks.size() != hot_.size()) {
    throw std::invalid_argument("evaluate: expected one tick per pair (" + std::to_string(hot_.size()) + "), got " +
                                std::to_string(ticks.size()));
  }
  std::vector<escalation_event> events;
  calendars_at(now_ns);
  const auto n = static_cast<std::uint32_t>(hot_.size());
  if (ticks.empty()) {
    for (std::uint32_t i = 0; i < n; ++i) evaluate_one(i, now_ns, events);
  } else {
    for (std::uint32_t i = 0; i < n; ++i) {
      hot_[i].last_tick_ns = ticks[i];
      evaluate_one(i, now_ns, events);
    }
  }
  return events;
}

void escalation_board::evaluate_one(std::uint32_t i, std::int64_t now_ns, std::vector<escalation_event>& events) {
  hot_state& p = hot_[i];
  const calendar_now cal = calendars_now_[p.calendar];
  if (!cal.open) {
    // CLOSED: nothing escalates and nothing is reported; the streaks start again at the
    // open, the level is held, an open breaker stays open and the auto-close streak
    // neither grows nor resets (docs/semantics.md, "Market calendars").
    if (p.n_failures != 0) prune_failures(i, now_ns);
    p.amber_streak = p.red_streak = p.error_streak = 0;
    p.col = colour::closed;
    p.last_eval_ns = now_ns;
    return;
  }
  // Age counts from the later of the last tick and the session's open, so a market that
  // just opened (or reopened after a break) is not stale from the night before.
  const std::int64_t since = std::max(p.last_tick_ns, cal.session_open_ns);
  colour col = colour::red;
  if (since > 0) {
    const std::int64_t age = now_ns > since ? now_ns - since : 0;
    col = age <= p.amber_after_ns ? colour::green : age <= p.red_after_ns ? colour::amber : colour::red;
  }
  const int fails = p.n_failures == 0 ? 0 : prune_failures(i, now_ns);
  const bool was_open = p.breaker_open;
  p.amber_streak = col == colour::amber ? std::min(p.amber_streak, max_int - 1) + 1 : 0;
  p.red_streak = col == colour::red ? std::min(p.red_streak, max_int - 1) + 1 : 0;

  level lvl;
  const char* why;
  if (p.red_streak >= cfg_.critical_red_streak) {
    lvl = level::critical, why = "freshness RED for consecutive cycles";
  } else if (was_open) {
    lvl = level::critical, why = "breaker open";
  } else if (col == colour::red) {
    lvl = level::error, why = "freshness RED";
  } else if (fails >= cfg_.error_fails) {
    lvl = level::error, why = "analysis failures in the window";
  } else if (p.amber_streak >= cfg_.warn_amber_streak) {
    lvl = level::warn, why = "freshness AMBER for consecutive cycles";
  } else if (fails >= cfg_.warn_fails) {
    lvl = level::warn, why = "analysis failures in the window";
  } else {
    lvl = level::info, why = "healthy";
  }
  p.error_streak = lvl >= level::error ? std::min(p.error_streak, max_int - 1) + 1 : 0;
  p.clean_green_streak = (col == colour::green && fails == 0) ? std::min(p.clean_green_streak, max_int - 1) + 1 : 0;
  p.col = col;
  p.last_eval_ns = now_ns;

  if (lvl != p.lvl) [[unlikely]] {
    std::string reason = why;
    reason += " (colour " + std::string(to_string(col)) + ", red_streak " + std::to_string(p.red_streak) +
              ", amber_streak " + std::to_string(p.amber_streak) + ", fails_5m " + std::to_string(fails) + ")";
    events.push_back({event_kind::level_change, i, std::string(to_string(p.lvl)), std::string(to_string(lvl)),
                      std::move(reason), now_ns, cold_[i].last_error_code});
    p.lvl = lvl;
  }
  if (!p.breaker_open) {
    const bool red = p.red_streak >= cfg_.breaker_red_streak;
    if (red || p.error_streak >= cfg_.breaker_error_streak) [[unlikely]] {
      cold_state& c = cold_[i];
      p.breaker_open = true;
      c.breaker_changed_ns = now_ns;
      c.breaker_reason =
          red ? "red_streak " + std::to_string(p.red_streak) + " >= " + std::to_string(cfg_.breaker_red_streak)
              : "persistent ERROR: error_streak " + std::to_string(p.error_streak) +
                    " >= " + std::to_string(cfg_.breaker_error_streak);
      events.push_back({event_kind::breaker_open, i, "CLOSED", "OPEN", c.breaker_reason, now_ns, c.last_error_code});
      log::logger().warn("breaker opened for {} {}ns: {}", c.symbol, c.tf_ns, c.breaker_reason);
    }
  } else if (was_open && cfg_.auto_close_cycles > 0 && p.clean_green_streak >= cfg_.auto_close_cycles) [[unlikely]] {
    cold_state& c = cold_[i];
    p.breaker_open = false;
    c.breaker_changed_ns = now_ns;
    c.breaker_reason = "auto: " + std::to_string(p.clean_green_streak) + " GREEN cycles without failures";
    events.push_back({event_kind::breaker_close, i, "OPEN", "CLOSED", c.breaker_reason, now_ns, c.last_error_code});
    log::logger().info("breaker closed for {} {}ns: {}", c.symbol, c.tf_ns, c.breaker_reason);
  }
}

bool escalation_board::close_breaker(std::uint32_t pair, std::int64_t now_ns, std::string_view by,
                                     escalation_event* ev) {
  hot_state& p = hot_.at(pair);
  if (!p.breaker_open) return false;
  cold_state& c = cold_[pair];
  p.breaker_open = false;
  c.breaker_changed_ns = now_ns;
  c.breaker_reason = "operator: " + std::string(by.empty() ? "unknown" : by);
  if (ev != nullptr) {
    *ev = {event_kind::breaker_close, pair, "OPEN", "CLOSED", c.breaker_reason, now_ns, c.last_error_code};
  }
  log::logger().info("breaker closed for {} {}ns: {}", c.symbol, c.tf_ns, c.breaker_reason);
  return true;
}

pair_row escalation_board::row(std::uint32_t pair, std::int64_t now_ns) const {
  const hot_state& p = hot_.at(pair);
  const cold_state& c = cold_[pair];
  const std::int64_t cutoff = detail::elapsed(now_ns, cfg_.fail_window_ns);
  const auto fails =
      std::count_if(c.failures.begin(), c.failures.end(), [&](const failure& f) { return f.at_ns > cutoff; });
  return pair_row{c.symbol,
                  c.tf_ns,
                  p.col,
                  p.lvl,
                  p.breaker_open,
                  p.amber_streak,
                  p.red_streak,
                  p.error_streak,
                  p.clean_green_streak,
                  static_cast<int>(fails),
                  p.last_tick_ns,
                  p.last_eval_ns,
                  c.last_error_code,
                  c.breaker_changed_ns,
                  c.breaker_reason,
                  calendars_[p.calendar].name};
}

json escalation_board::settings_json() const {
  json overrides = json::array();
  for (const auto& o : fresh_.overrides()) {
    overrides.push_back(
        {{"tf_ns", o.tf_ns}, {"amber_after_ns", o.t.amber_after_ns}, {"red_after_ns", o.t.red_after_ns}});
  }
  return {
      {"config",
       {{"critical_red_streak", cfg_.critical_red_streak},
        {"error_fails", cfg_.error_fails},
        {"warn_amber_streak", cfg_.warn_amber_streak},
        {"warn_fails", cfg_.warn_fails},
        {"breaker_red_streak", cfg_.breaker_red_streak},
        {"breaker_error_streak", cfg_.breaker_error_streak},
        {"auto_close_cycles", cfg_.auto_close_cycles},
        {"fail_window_ns", cfg_.fail_window_ns},
        {"max_failures_kept", cfg_.max_failures_kept}}},
      {"freshness", {{"amber_mult", fresh_.amber_mult()}, {"red_mult", fresh_.red_mult()}, {"overrides", overrides}}}};
}

void escalation_board::set_auto_close_cycles(int cycles) {
  if (cycles < 0) throw std::invalid_argument("auto_close_cycles must be >= 0 (0 = operator only)");
  cfg_.auto_close_cycles = cycles;
}

json escalation_board::to_json() const {
  json settings = settings_json();
  json pairs = json::array();
  for (std::size_t i = 0; i < hot_.size(); ++i) {
    const hot_state& p = hot_[i];
    const cold_state& c = cold_[i];
    json fails = json::array();
    for (const auto& f : c.failures) fails.push_back(json::array({f.at_ns, f.code}));
    pairs.push_back({{"symbol", c.symbol},
                     {"tf_ns", c.tf_ns},
                     {"last_tick_ns", p.last_tick_ns},
                     {"last_eval_ns", p.last_eval_ns},
                     {"colour", to_string(p.col)},
                     {"level", to_string(p.lvl)},
                     {"breaker_open", p.breaker_open},
                     {"amber_streak", p.amber_streak},
                     {"red_streak", p.red_streak},
                     {"error_streak", p.error_streak},
                     {"clean_green_streak", p.clean_green_streak},
                     {"failures", fails},
                     {"last_error_code", c.last_error_code},
                     {"last_error_ns", c.last_error_ns},
                     {"breaker_changed_ns", c.breaker_changed_ns},
                     {"breaker_reason", c.breaker_reason},
                     {"calendar", calendars_[p.calendar].name}});
  }
  json calendars = json::array();
  for (std::size_t c = 1; c < calendars_.size(); ++c) {  // "24/7" is built in
    calendars.push_back(
        {{"name", calendars_[c].name}, {"opens", calendars_[c].opens}, {"closes", calendars_[c].closes}});
  }
  return {{"format", "montalaq.escalation_board"},
          {"version", json_version},
          {"config", std::move(settings["config"])},
          {"freshness", std::move(settings["freshness"])},
          {"calendars", calendars},
          {"pairs", pairs}};
}

escalation_board escalation_board::from_json(const json& doc) {
  const int version = rd.expect_format(doc, "montalaq.escalation_board", json_oldest_version, json_version);
  const json& cj = rd.field(doc, "config", "document");
  if (!cj.is_object()) rd.fail("config must be an object");
  escalation_config cfg;
  cfg.critical_red_streak = static_cast<int>(rd.get_int(cj, "critical_red_streak", "config", 1, max_int));
  cfg.error_fails = static_cast<int>(rd.get_int(cj, "error_fails", "config", 1, max_int));
  cfg.warn_amber_streak = static_cast<int>(rd.get_int(cj, "warn_amber_streak", "config", 1, max_int));
  cfg.warn_fails = static_cast<int>(rd.get_int(cj, "warn_fails", "config", 1, max_int));
  cfg.breaker_red_streak = static_cast<int>(rd.get_int(cj, "breaker_red_streak", "config", 1, max_int));
  cfg.breaker_error_streak = static_cast<int>(rd.get_int(cj, "breaker_error_streak", "config", 1, max_int));
  cfg.auto_close_cycles = static_cast<int>(rd.get_int(cj, "auto_close_cycles", "config", 0, max_int));
  cfg.fail_window_ns = rd.get_int(cj, "fail_window_ns", "config", 1);
  cfg.max_failures_kept = static_cast<std::size_t>(rd.get_int(cj, "max_failures_kept", "config", 1, 1'000'000'000));
  const json& f = rd.field(doc, "freshness", "document");
  if (!f.is_object()) rd.fail("freshness must be an object");
  freshness fresh = [&] {
    try {
      return freshness(rd.get_double(f, "amber_mult", "freshness"), rd.get_double(f, "red_mult", "freshness"));
    } catch (const std::invalid_argument& e) {
      rd.fail(e.what());
    }
  }();
  const json& ov = rd.field(f, "overrides", "freshness");
  if (!ov.is_array()) rd.fail("freshness.overrides must be an array");
  for (const auto& o : ov) {
    if (!o.is_object()) rd.fail("freshness.overrides[] must be objects");
    try {
      fresh.set_override(rd.get_int(o, "tf_ns", "override", 1), {rd.get_int(o, "amber_after_ns", "override", 1),
                                                                 rd.get_int(o, "red_after_ns", "override", 1)});
    } catch (const std::invalid_argument& e) {
      rd.fail(e.what());
    }
  }
  escalation_board board(cfg, std::move(fresh));
  if (version >= 2) {
    const json& cals = rd.field(doc, "calendars", "document");
    if (!cals.is_array()) rd.fail("calendars must be an array");
    if (cals.size() >= max_calendars) rd.fail("calendars holds more than 65535 calendars");
    std::vector<std::int64_t> opens, closes;
    for (std::size_t k = 0; k < cals.size(); ++k) {
      const json& kj = cals[k];
      const std::string where = "calendars[" + std::to_string(k) + "]";
      if (!kj.is_object()) rd.fail(where + " must be an object");
      const std::string cname = rd.get_string(kj, "name", where);
      const auto read_times = [&](const char* key, std::vector<std::int64_t>& out) {
        const json& arr = rd.field(kj, key, where);
        if (!arr.is_array()) rd.fail(where + "." + key + " must be an array");
        out.clear();
        out.reserve(arr.size());
        for (const auto& v : arr) out.push_back(rd.as_int(v, where + "." + key + "[]"));
      };
      read_times("opens", opens);
      read_times("closes", closes);
      try {
        validate_calendar(cname, opens, closes);
      } catch (const std::invalid_argument& e) {
        rd.fail(where + ": " + e.what());
      }
      if (board.find_calendar(cname)) rd.fail(where + " repeats calendar '" + cname + "'");
      board.set_calendar(cname, opens, closes);
    }
  }
  const json& pairs = rd.field(doc, "pairs", "document");
  if (!pairs.is_array()) rd.fail("pairs must be an array");
  board.hot_.reserve(pairs.size());
  board.cold_.reserve(pairs.size());
  board.reserve_index(pairs.size());  // empty: filled after the pairs are read
  for (std::size_t i = 0; i < pairs.size(); ++i) {
    const json& pj = pairs[i];
    const std::string where = "pairs[" + std::to_string(i) + "]";
    if (!pj.is_object()) rd.fail(where + " must be an object");
    hot_state p;
    cold_state c;
    c.symbol = rd.get_string(pj, "symbol", where);
    if (c.symbol.empty()) rd.fail(where + ".symbol is empty");
    c.tf_ns = rd.get_int(pj, "tf_ns", where, 1);
    if (c.tf_ns % 1'000'000'000 != 0) rd.fail(where + ".tf_ns must be a whole number of seconds");
    const auto t = board.fresh_.thresholds(c.tf_ns);
    p.amber_after_ns = t.amber_after_ns;
    p.red_after_ns = t.red_after_ns;
    p.last_tick_ns = rd.get_int(pj, "last_tick_ns", where);
    p.last_eval_ns = rd.get_int(pj, "last_eval_ns", where);
    p.col = rd.get_enum(pj, "colour", where, all_colours);
    if (version < 2 && p.col == colour::closed) rd.fail(where + ".colour CLOSED needs a version 2 document");
    p.lvl = rd.get_enum(pj, "level", where, all_levels);
    p.breaker_open = rd.get_bool(pj, "breaker_open", where);
    p.amber_streak = static_cast<int>(rd.get_int(pj, "amber_streak", where, 0, max_int));
    p.red_streak = static_cast<int>(rd.get_int(pj, "red_streak", where, 0, max_int));
    p.error_streak = static_cast<int>(rd.get_int(pj, "error_streak", where, 0, max_int));
    p.clean_green_streak = static_cast<int>(rd.get_int(pj, "clean_green_streak", where, 0, max_int));
    const json& fl = rd.field(pj, "failures", where);
    if (!fl.is_array()) rd.fail(where + ".failures must be an array");
    if (fl.size() > cfg.max_failures_kept) rd.fail(where + ".failures holds more than max_failures_kept");
    std::int64_t prev = std::numeric_limits<std::int64_t>::min();
    for (const auto& e : fl) {
      if (!e.is_array() || e.size() != 2 || !e[0].is_number_integer() || !e[1].is_string()) {
        rd.fail(where + ".failures[] must be [at_ns, code]");
      }
      const auto at = rd.as_int(e[0], where + ".failures[].at_ns");
      if (at < prev) rd.fail(where + ".failures must be in time order");
      prev = at;
      c.failures.push_back({at, e[1].get<std::string>()});
    }
    p.n_failures = static_cast<std::uint32_t>(c.failures.size());
    c.last_error_code = rd.get_string(pj, "last_error_code", where);
    c.last_error_ns = rd.get_int(pj, "last_error_ns", where);
    c.breaker_changed_ns = rd.get_int(pj, "breaker_changed_ns", where);
    c.breaker_reason = rd.get_string(pj, "breaker_reason", where);
    if (version >= 2) {
      const std::string cname = rd.get_string(pj, "calendar", where);
      const auto cal = board.find_calendar(cname);
      if (!cal) rd.fail(where + ".calendar '" + cname + "' is not in calendars");
      p.calendar = *cal;
    }
    board.hot_.push_back(p);
    board.cold_.push_back(std::move(c));
  }
  if (const auto dup = board.index_pairs(0); dup != board.cold_.size()) {
    rd.fail("pairs[" + std::to_string(dup) + "] repeats a (symbol, timeframe) pair");
  }
  return board;
}

}  // namespace montalaq::health
