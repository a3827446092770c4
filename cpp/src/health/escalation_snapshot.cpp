// The escalation board's binary snapshot (docs/semantics.md, "Binary snapshots"): the state
// to_json holds, as a header of counts and settings, small row-wise tables (overrides,
// calendars), columns (one per pair field, then the failures), a string table and the
// frame's CRC-32C. One pass over the pairs each way; strings are shared through the table
// (a symbol written once for its adjacent timeframes, codes and reasons once each).
#include <cstring>
#include <limits>
#include <stdexcept>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

#include "montalaq/detail/snapshot_io.hpp"
#include "montalaq/health/escalation.hpp"

namespace montalaq::health {
namespace {

constexpr detail::snapshot_magic board_magic{'M', 'Q', 'E', 'B'};
constexpr std::string_view board_what = "escalation board snapshot";
constexpr std::uint64_t max_failures_kept_limit = 1'000'000'000;  // as the JSON loader

// Strings by index; index 0 is always "". Symbols are compared with the previous pair's
// only (a map lookup per pair would cost more than the bytes it saves); codes, reasons and
// calendar names go through a map (a board holds few distinct ones).
class string_table {
 public:
  string_table() { ends_.push_back(0); }
  std::uint32_t add(std::string_view s) {
    if (s.empty()) return 0;
    const auto [it, fresh] = seen_.try_emplace(s, static_cast<std::uint32_t>(ends_.size()));
    if (fresh) append(s);
    return it->second;
  }
  std::uint32_t add_symbol(std::string_view s) {
    if (last_symbol_id_ == 0 || s != last_symbol_) {
      last_symbol_id_ = static_cast<std::uint32_t>(ends_.size());
      last_symbol_ = s;
      append(s);
    }
    return last_symbol_id_;
  }
  void write(detail::snapshot_writer& w) const {
    w.put_array(std::span<const std::uint32_t>(ends_));
    w.put_array(std::span<const char>(blob_));
  }
  [[nodiscard]] std::size_t count() const noexcept { return ends_.size(); }
  [[nodiscard]] std::size_t bytes() const noexcept { return blob_.size(); }

 private:
  void append(std::string_view s) {
    if (ends_.size() >= std::numeric_limits<std::uint32_t>::max() ||
        blob_.size() + s.size() > std::numeric_limits<std::uint32_t>::max()) {
      throw std::length_error("escalation board snapshot: the string table exceeds 4 GiB");
    }
    blob_.append(s);
    ends_.push_back(static_cast<std::uint32_t>(blob_.size()));
  }
  std::vector<std::uint32_t> ends_;
  std::string blob_;
  std::unordered_map<std::string_view, std::uint32_t> seen_;
  std::string_view last_symbol_;
  std::uint32_t last_symbol_id_ = 0;
};

// The string table of a snapshot being read: every index checked before use.
class string_lookup {
 public:
  string_lookup(detail::byte_reader& r, std::size_t count, std::size_t bytes) {
    if (count == 0) r.fail("the string table is empty (string 0 must be \"\")");
    const auto ends = detail::column<std::uint32_t>::take(r, count, "strings");
    const auto* blob = reinterpret_cast<const char*>(r.take(bytes, "string bytes"));
    views_.reserve(count);
    std::uint32_t start = 0;
    for (std::size_t k = 0; k < count; ++k) {
      const std::uint32_t end = ends[k];
      if (end < start || end > bytes) {
        r.fail("string " + std::to_string(k) + " ends at " + std::to_string(end) + ", outside [" +
               std::to_string(start) + ", " + std::to_string(bytes) + "]");
      }
      views_.emplace_back(blob + start, end - start);
      start = end;
    }
    if (!views_[0].empty()) r.fail("string 0 must be \"\"");
    if (start != bytes)
      r.fail("the string table uses " + std::to_string(start) + " of its " + std::to_string(bytes) + " bytes");
  }
  // String k; `where` (a callable giving the field's name) only runs on an error.
  template <class Where>
  std::string_view at(std::uint32_t k, const detail::byte_reader& r, Where&& where) const {
    if (k >= views_.size()) {
      r.fail(where() + " names string " + std::to_string(k) + " of " + std::to_string(views_.size()));
    }
    return views_[k];
  }

 private:
  std::vector<std::string_view> views_;
};

}  // namespace

std::string escalation_board::to_bytes() const {
  const std::size_t n = hot_.size();
  constexpr std::size_t pair_bytes = 4 + 8 + 8 + 8 + 4 * 4 + 4 + 4 + 8 + 8 + 4 + 2 + 1 + 1 + 1;
  detail::snapshot_writer w(board_magic, bytes_version, 120 + n * (pair_bytes + 12));
  string_table strings;
  std::uint64_t sessions = 0;
  for (std::size_t c = 1; c < calendars_.size(); ++c) sessions += calendars_[c].opens.size();

  w.put<std::uint32_t>(static_cast<std::uint32_t>(n));
  w.put<std::uint32_t>(static_cast<std::uint32_t>(calendars_.size() - 1));  // "24/7" is built in
  w.put<std::uint32_t>(static_cast<std::uint32_t>(fresh_.overrides().size()));
  const std::size_t string_count_at = w.size();
  w.put<std::uint32_t>(0);  // string count, patched below
  const std::size_t failure_count_at = w.size();
  w.put<std::uint64_t>(0);  // failure count, patched below
  w.put<std::uint64_t>(sessions);
  const std::size_t string_bytes_at = w.size();
  w.put<std::uint64_t>(0);  // string bytes, patched below
  for (const int v : {cfg_.critical_red_streak, cfg_.error_fails, cfg_.warn_amber_streak, cfg_.warn_fails,
                      cfg_.breaker_red_streak, cfg_.breaker_error_streak, cfg_.auto_close_cycles}) {
    w.put<std::int32_t>(v);
  }
  w.put<std::uint32_t>(0);  // reserved
  w.put<std::int64_t>(cfg_.fail_window_ns);
  w.put<std::uint64_t>(cfg_.max_failures_kept);
  w.put<double>(fresh_.amber_mult());
  w.put<double>(fresh_.red_mult());

  for (const auto& o : fresh_.overrides()) {
    w.put<std::int64_t>(o.tf_ns);
    w.put<std::int64_t>(o.t.amber_after_ns);
    w.put<std::int64_t>(o.t.red_after_ns);
  }
  for (std::size_t c = 1; c < calendars_.size(); ++c) {
    w.put<std::uint32_t>(strings.add(calendars_[c].name));
    w.put<std::uint32_t>(static_cast<std::uint32_t>(calendars_[c].opens.size()));
  }
  for (std::size_t c = 1; c < calendars_.size(); ++c) w.put_array(std::span<const std::int64_t>(calendars_[c].opens));
  for (std::size_t c = 1; c < calendars_.size(); ++c) w.put_array(std::span<const std::int64_t>(calendars_[c].closes));

  std::vector<std::int64_t> fail_at;
  std::vector<std::uint32_t> fail_code;
  detail::column_carver cols(w.grow(n * pair_bytes), n);
  auto symbol = cols.next<std::uint32_t>();
  auto tf = cols.next<std::int64_t>();
  auto last_tick = cols.next<std::int64_t>();
  auto last_eval = cols.next<std::int64_t>();
  auto amber = cols.next<std::int32_t>();
  auto red = cols.next<std::int32_t>();
  auto error = cols.next<std::int32_t>();
  auto clean = cols.next<std::int32_t>();
  auto n_fail = cols.next<std::uint32_t>();
  auto err_code = cols.next<std::uint32_t>();
  auto err_ns = cols.next<std::int64_t>();
  auto brk_ns = cols.next<std::int64_t>();
  auto brk_reason = cols.next<std::uint32_t>();
  auto calendar = cols.next<std::uint16_t>();
  auto col = cols.next<std::uint8_t>();
  auto lvl = cols.next<std::uint8_t>();
  auto brk_open = cols.next<std::uint8_t>();
  for (std::size_t i = 0; i < n; ++i) {
    const hot_state& p = hot_[i];
    const cold_state& c = cold_[i];
    symbol.set(i, strings.add_symbol(c.symbol));
    tf.set(i, c.tf_ns);
    last_tick.set(i, p.last_tick_ns);
    last_eval.set(i, p.last_eval_ns);
    amber.set(i, p.amber_streak);
    red.set(i, p.red_streak);
    error.set(i, p.error_streak);
    clean.set(i, p.clean_green_streak);
    n_fail.set(i, static_cast<std::uint32_t>(c.failures.size()));
    err_code.set(i, strings.add(c.last_error_code));
    err_ns.set(i, c.last_error_ns);
    brk_ns.set(i, c.breaker_changed_ns);
    brk_reason.set(i, strings.add(c.breaker_reason));
    calendar.set(i, p.calendar);
    col.set(i, static_cast<std::uint8_t>(p.col));
    lvl.set(i, static_cast<std::uint8_t>(p.lvl));
    brk_open.set(i, p.breaker_open ? 1 : 0);
    for (const auto& f : c.failures) {
      fail_at.push_back(f.at_ns);
      fail_code.push_back(strings.add(f.code));
    }
  }
  w.put_array(std::span<const std::int64_t>(fail_at));
  w.put_array(std::span<const std::uint32_t>(fail_code));
  strings.write(w);
  w.put_at<std::uint32_t>(string_count_at, static_cast<std::uint32_t>(strings.count()));
  w.put_at<std::uint64_t>(failure_count_at, fail_at.size());
  w.put_at<std::uint64_t>(string_bytes_at, strings.bytes());
  return std::move(w).seal();
}

escalation_board escalation_board::from_bytes(std::span<const unsigned char> data) {
  auto opened = detail::open_snapshot(data, board_magic, board_what, 1, bytes_version);
  detail::byte_reader& r = opened.body;
  const auto n = r.get<std::uint32_t>("header");
  const auto n_calendars = r.get<std::uint32_t>("header");
  if (n_calendars > std::numeric_limits<std::uint16_t>::max()) {
    r.fail("the header says " + std::to_string(n_calendars) + " calendars; a board holds at most 65535");
  }
  const auto n_overrides = r.get<std::uint32_t>("header");
  const auto n_strings = r.get<std::uint32_t>("header");
  const auto n_failures = r.get<std::uint64_t>("header");
  const auto n_sessions = r.get<std::uint64_t>("header");
  const auto string_bytes = r.get<std::uint64_t>("header");
  escalation_config cfg;
  int* const ints[] = {&cfg.critical_red_streak, &cfg.error_fails,          &cfg.warn_amber_streak, &cfg.warn_fails,
                       &cfg.breaker_red_streak,  &cfg.breaker_error_streak, &cfg.auto_close_cycles};
  for (int* v : ints) *v = r.get<std::int32_t>("header");
  if (r.get<std::uint32_t>("header") != 0) r.fail("the header's reserved field is not 0");
  cfg.fail_window_ns = r.get<std::int64_t>("header");
  const auto kept = r.get<std::uint64_t>("header");
  if (kept < 1 || kept > max_failures_kept_limit) {
    r.fail("config.max_failures_kept = " + std::to_string(kept) + " is out of range");
  }
  cfg.max_failures_kept = static_cast<std::size_t>(kept);
  const auto amber_mult = r.get<double>("header");
  const auto red_mult = r.get<double>("header");

  // Every section is located (and its length checked against the buffer) before any is read.
  const auto overrides = detail::column<std::int64_t>::take(r, std::size_t{n_overrides} * 3, "overrides");
  const auto cal_table = detail::column<std::uint32_t>::take(r, std::size_t{n_calendars} * 2, "calendars");
  const auto opens = detail::column<std::int64_t>::take(r, n_sessions, "session opens");
  const auto closes = detail::column<std::int64_t>::take(r, n_sessions, "session closes");
  const auto symbol = detail::column<std::uint32_t>::take(r, n, "pairs.symbol");
  const auto tf = detail::column<std::int64_t>::take(r, n, "pairs.tf_ns");
  const auto last_tick = detail::column<std::int64_t>::take(r, n, "pairs.last_tick_ns");
  const auto last_eval = detail::column<std::int64_t>::take(r, n, "pairs.last_eval_ns");
  const auto amber = detail::column<std::int32_t>::take(r, n, "pairs.amber_streak");
  const auto red = detail::column<std::int32_t>::take(r, n, "pairs.red_streak");
  const auto error = detail::column<std::int32_t>::take(r, n, "pairs.error_streak");
  const auto clean = detail::column<std::int32_t>::take(r, n, "pairs.clean_green_streak");
  const auto n_fail = detail::column<std::uint32_t>::take(r, n, "pairs.failures");
  const auto err_code = detail::column<std::uint32_t>::take(r, n, "pairs.last_error_code");
  const auto err_ns = detail::column<std::int64_t>::take(r, n, "pairs.last_error_ns");
  const auto brk_ns = detail::column<std::int64_t>::take(r, n, "pairs.breaker_changed_ns");
  const auto brk_reason = detail::column<std::uint32_t>::take(r, n, "pairs.breaker_reason");
  const auto calendar = detail::column<std::uint16_t>::take(r, n, "pairs.calendar");
  const auto col = detail::column<std::uint8_t>::take(r, n, "pairs.colour");
  const auto lvl = detail::column<std::uint8_t>::take(r, n, "pairs.level");
  const auto brk_open = detail::column<std::uint8_t>::take(r, n, "pairs.breaker_open");
  const auto fail_at = detail::column<std::int64_t>::take(r, n_failures, "failures.at_ns");
  const auto fail_code = detail::column<std::uint32_t>::take(r, n_failures, "failures.code");
  const string_lookup strings(r, n_strings, string_bytes);
  if (r.remaining() != 0) r.fail(std::to_string(r.remaining()) + " bytes after the string table");

  try {
    cfg.validate();
  } catch (const std::invalid_argument& e) {
    r.fail(std::string("config: ") + e.what());
  }
  escalation_board board = [&] {
    try {
      freshness fresh(amber_mult, red_mult);
      for (std::size_t k = 0; k < n_overrides; ++k) {
        fresh.set_override(overrides[3 * k], {overrides[3 * k + 1], overrides[3 * k + 2]});
      }
      return escalation_board(cfg, std::move(fresh));
    } catch (const std::invalid_argument& e) {
      r.fail(e.what());
    }
  }();

  std::vector<std::int64_t> cal_opens, cal_closes;
  std::uint64_t session = 0;
  for (std::size_t k = 0; k < n_calendars; ++k) {
    const std::string where = "calendars[" + std::to_string(k) + "]";
    const std::string_view name = strings.at(cal_table[2 * k], r, [&] { return where + ".name"; });
    const std::uint32_t count = cal_table[2 * k + 1];
    if (count > n_sessions - session) r.fail(where + " runs past the sessions");
    cal_opens.resize(count);
    cal_closes.resize(count);
    for (std::uint32_t s = 0; s < count; ++s) {
      cal_opens[s] = opens[session + s];
      cal_closes[s] = closes[session + s];
    }
    session += count;
    if (board.find_calendar(name)) r.fail(where + " repeats calendar '" + std::string(name) + "'");
    try {
      board.set_calendar(name, cal_opens, cal_closes);
    } catch (const std::invalid_argument& e) {
      r.fail(where + ": " + e.what());
    }
  }
  if (session != n_sessions) {
    r.fail("the calendars hold " + std::to_string(session) + " sessions, the header says " +
           std::to_string(n_sessions));
  }

  board.hot_.reserve(n);
  board.cold_.reserve(n);
  board.reserve_index(n);  // empty: filled after the pairs are read
  std::vector<std::uint64_t> hashes;
  hashes.reserve(n);
  std::uint64_t failure = 0;
  // Thresholds per distinct timeframe (a board has a handful), not a rounding per pair.
  std::vector<std::pair<std::int64_t, freshness_thresholds>> by_tf;
  const auto thresholds = [&](std::int64_t tf_ns) {
    for (const auto& [k, t] : by_tf) {
      if (k == tf_ns) return t;
    }
    const auto t = board.fresh_.thresholds(tf_ns);
    if (by_tf.size() < 64) by_tf.emplace_back(tf_ns, t);
    return t;
  };
  std::size_t i = 0;
  const auto pair_fail = [&](std::size_t at, const std::string& what) {
    r.fail("pairs[" + std::to_string(at) + "]" + what);
  };
  const auto field = [&](const char* name) {
    return [&i, name] { return "pairs[" + std::to_string(i) + "]." + name; };
  };
  for (; i < n; ++i) {
    hot_state& p = board.hot_.emplace_back();
    cold_state& c = board.cold_.emplace_back();
    const std::string_view sym = strings.at(symbol[i], r, field("symbol"));
    if (sym.empty()) pair_fail(i, ".symbol is empty");
    c.symbol = sym;
    c.tf_ns = tf[i];
    if (c.tf_ns <= 0 || c.tf_ns % 1'000'000'000 != 0) {
      pair_fail(i, ".tf_ns = " + std::to_string(c.tf_ns) + " is not a positive whole number of seconds");
    }
    const auto t = thresholds(c.tf_ns);
    p.amber_after_ns = t.amber_after_ns;
    p.red_after_ns = t.red_after_ns;
    p.last_tick_ns = last_tick[i];
    p.last_eval_ns = last_eval[i];
    const std::int32_t streaks[] = {amber[i], red[i], error[i], clean[i]};
    for (const auto s : streaks) {
      if (s < 0) pair_fail(i, " has a negative streak (" + std::to_string(s) + ")");
    }
    p.amber_streak = streaks[0];
    p.red_streak = streaks[1];
    p.error_streak = streaks[2];
    p.clean_green_streak = streaks[3];
    if (col[i] > static_cast<std::uint8_t>(colour::closed))
      pair_fail(i, ".colour " + std::to_string(col[i]) + " is unknown");
    if (lvl[i] > static_cast<std::uint8_t>(level::critical))
      pair_fail(i, ".level " + std::to_string(lvl[i]) + " is unknown");
    if (brk_open[i] > 1) pair_fail(i, ".breaker_open is " + std::to_string(brk_open[i]) + ", not 0 or 1");
    p.col = static_cast<colour>(col[i]);
    p.lvl = static_cast<level>(lvl[i]);
    p.breaker_open = brk_open[i] == 1;
    p.calendar = calendar[i];
    if (p.calendar >= board.calendars_.size()) {
      pair_fail(i, ".calendar " + std::to_string(p.calendar) + " is not in calendars");
    }
    const std::uint32_t nf = n_fail[i];
    if (nf > cfg.max_failures_kept) pair_fail(i, " holds more than max_failures_kept failures");
    if (nf > n_failures - failure) pair_fail(i, " runs past the failures");
    c.failures.reserve(nf);
    for (std::uint64_t k = failure; k < failure + nf; ++k) {
      if (k > failure && fail_at[k] < fail_at[k - 1]) pair_fail(i, ".failures are not in time order");
      c.failures.push_back({fail_at[k], std::string(strings.at(fail_code[k], r, field("failures.code")))});
    }
    failure += nf;
    p.n_failures = nf;
    if (err_code[i] != 0) c.last_error_code = strings.at(err_code[i], r, field("last_error_code"));
    c.last_error_ns = err_ns[i];
    c.breaker_changed_ns = brk_ns[i];
    if (brk_reason[i] != 0) c.breaker_reason = strings.at(brk_reason[i], r, field("breaker_reason"));
    hashes.push_back(key_hash(sym, c.tf_ns));  // while the symbol is in cache
  }
  if (failure != n_failures) {
    r.fail("the pairs hold " + std::to_string(failure) + " failures, the header says " + std::to_string(n_failures));
  }
  if (const auto dup = board.index_pairs(0, hashes); dup != n) {
    pair_fail(dup, " repeats the pair ('" + board.cold_[dup].symbol + "', " + std::to_string(board.cold_[dup].tf_ns) +
                       " ns)");
  }
  return board;
}

}  // namespace montalaq::health
