#include "montalaq/market/engine.hpp"

#include <algorithm>
#include <bit>
#include <stdexcept>

#include "montalaq/common/log.hpp"
#include "montalaq/market/timeframe.hpp"

namespace montalaq::market {
namespace {

constexpr std::int64_t no_frontier = std::numeric_limits<std::int64_t>::min();

std::uint64_t content_key(const trade& t) noexcept {
  // Order-sensitive mix of the fields that make two prints "the same" (dedupe_content=True).
  std::uint64_t h = 0x9e3779b97f4a7c15ULL;
  auto mix = [&h](std::uint64_t v) {
    h ^= v + 0x9e3779b97f4a7c15ULL + (h << 6) + (h >> 2);
    h *= 0xff51afd7ed558ccdULL;
    h ^= h >> 33;
  };
  mix(static_cast<std::uint64_t>(t.ts_ns));
  mix(std::bit_cast<std::uint64_t>(t.price));
  mix(std::bit_cast<std::uint64_t>(t.size));
  mix(static_cast<std::uint64_t>(static_cast<std::int64_t>(t.side)));
  return h;
}

}  // namespace

void engine_config::validate() const {
  if (timeframes_ns.empty()) throw std::invalid_argument("timeframes: at least one timeframe is required");
  const std::int64_t finest = *std::min_element(timeframes_ns.begin(), timeframes_ns.end());
  if (finest <= 0) throw std::invalid_argument("timeframes: every timeframe must be > 0");
  if (*std::max_element(timeframes_ns.begin(), timeframes_ns.end()) > max_ts_ns)
    throw std::invalid_argument("timeframes: every timeframe must be at most 2^62 ns");
  for (std::size_t i = 0; i < timeframes_ns.size(); ++i) {
    for (std::size_t j = 0; j < i; ++j) {
      if (timeframes_ns[i] == timeframes_ns[j]) {
        throw std::invalid_argument("timeframes: '" + timeframe_label(timeframes_ns[i]) + "' is given twice");
      }
    }
    if (timeframes_ns[i] % finest != 0) {
      throw std::invalid_argument("timeframes: '" + timeframe_label(timeframes_ns[i]) +
                                  "' is not a multiple of the finest timeframe '" + timeframe_label(finest) +
                                  "'; every timeframe must be a whole multiple of the finest");
    }
  }
  if (max_trades < 1) throw std::invalid_argument("max_trades must be >= 1");
  if (max_bars < 1) throw std::invalid_argument("max_bars must be >= 1");
  if (late_window_ns < 0 || late_window_ns > max_ts_ns)
    throw std::invalid_argument("late_window must be >= 0 and at most 2^62 ns");
  if (close_grace_ns < 0 || close_grace_ns > max_ts_ns)
    throw std::invalid_argument("close_grace must be >= 0 and at most 2^62 ns");
  if (max_fill_bars < 0) throw std::invalid_argument("max_fill_bars must be >= 0");
  features.validate();
  for (const auto& s : symbols) {
    if (s.empty()) throw std::invalid_argument("symbols: a symbol must be a non-empty string");
  }
}

engine_counts& engine_counts::operator+=(const engine_counts& o) noexcept {
  for (std::size_t i = 0; i < trades.size(); ++i) trades[i] += o.trades[i];
  quotes_accepted += o.quotes_accepted;
  quotes_rejected += o.quotes_rejected;
  quotes_stale += o.quotes_stale;
  quotes_crossed += o.quotes_crossed;
  bars_closed += o.bars_closed;
  gaps_unfilled += o.gaps_unfilled;
  return *this;
}

market_engine::market_engine(engine_config cfg) : cfg_(std::move(cfg)) {
  cfg_.validate();
  finest_ = static_cast<std::uint32_t>(std::min_element(cfg_.timeframes_ns.begin(), cfg_.timeframes_ns.end()) -
                                       cfg_.timeframes_ns.begin());
  for (const auto& s : cfg_.symbols) {
    if (find_symbol(s) == npos) add_symbol(s);
  }
  log::logger().debug("market_engine created: {} timeframes, {} symbols in allow-list", cfg_.timeframes_ns.size(),
                      cfg_.symbols.size());
}

std::uint32_t market_engine::add_symbol(std::string_view name) {
  if (syms_.size() >= npos - 1) throw std::length_error("too many symbols");
  const auto idx = static_cast<std::uint32_t>(syms_.size());
  symbol_state s;
  s.name = std::string(name);
  s.cache = detail::trade_cache(cfg_.max_trades);
  s.tfs.resize(cfg_.timeframes_ns.size());
  for (std::size_t i = 0; i < s.tfs.size(); ++i) {
    s.tfs[i].tf_ns = cfg_.timeframes_ns[i];
    s.tfs[i].features = feature_state(cfg_.features);
  }
  syms_.push_back(std::move(s));
  index_.emplace(std::string(name), idx);
  log::logger().debug("market_engine: new symbol '{}'", name);
  return idx;
}

std::uint32_t market_engine::find_symbol(std::string_view symbol) const noexcept {
  const auto it = index_.find(symbol);
  return it == index_.end() ? npos : it->second;
}

std::uint32_t market_engine::symbol_index(std::string_view symbol) {
  const std::uint32_t found = find_symbol(symbol);
  if (found != npos) return found;
  if (!cfg_.symbols.empty()) return npos;
  if (symbol.empty()) throw std::invalid_argument("symbol must be a non-empty string");
  return add_symbol(symbol);
}

std::uint32_t market_engine::timeframe_index(std::int64_t tf_ns) const noexcept {
  for (std::size_t i = 0; i < cfg_.timeframes_ns.size(); ++i) {
    if (cfg_.timeframes_ns[i] == tf_ns) return static_cast<std::uint32_t>(i);
  }
  return npos;
}

trade_status market_engine::on_trade(std::uint32_t sym, const trade& t) {
  closed_.clear();
  return ingest(sym, t);
}

trade_status market_engine::on_trade(std::string_view symbol, const trade& t) {
  closed_.clear();
  const std::uint32_t sym = symbol_index(symbol);
  if (sym == npos) {
    ++rejected_symbol_;
    return trade_status::reject_symbol;
  }
  return ingest(sym, t);
}

std::array<std::int64_t, trade_status_count> market_engine::on_trades(
    std::uint32_t sym, std::span<const std::int64_t> ts_ns, std::span<const double> price, std::span<const double> size,
    std::span<const std::int8_t> side, std::span<const std::uint64_t> trade_id) {
  const std::size_t n = ts_ns.size();
  if (price.size() != n || size.size() != n || (!side.empty() && side.size() != n) ||
      (!trade_id.empty() && trade_id.size() != n)) {
    throw std::invalid_argument("on_trades: ts_ns, price, size, side and trade_id must have the same length");
  }
  symbol_state& s = syms_.at(sym);
  closed_.clear();
  std::array<std::int64_t, trade_status_count> out{};
  // The run fast path needs no per-trade set operations: no ids now or in the cache.
  const bool runs_ok = trade_id.empty() && !cfg_.dedupe_content && !s.ids_seen && s.tfs.size() <= 4;
  trade t;
  for (std::size_t i = 0; i < n;) {
    if (runs_ok && s.tfs[finest_].has_open) {
      std::size_t next = i;
      switch (s.tfs.size()) {
        case 1: next = ingest_run<1>(s, ts_ns, price, size, side, i, out); break;
        case 2: next = ingest_run<2>(s, ts_ns, price, size, side, i, out); break;
        case 3: next = ingest_run<3>(s, ts_ns, price, size, side, i, out); break;
        default: next = ingest_run<4>(s, ts_ns, price, size, side, i, out); break;
      }
      if (next != i) {
        i = next;
        continue;
      }
    }
    t.ts_ns = ts_ns[i];
    t.price = price[i];
    t.size = size[i];
    t.side = side.empty() ? std::int8_t{0} : side[i];
    t.has_id = !trade_id.empty();
    t.trade_id = t.has_id ? trade_id[i] : 0;
    ++out[static_cast<std::size_t>(ingest(sym, t))];
    ++i;
  }
  return out;
}

template <std::size_t N>
std::size_t market_engine::ingest_run(symbol_state& s, std::span<const std::int64_t> ts_ns,
                                      std::span<const double> price, std::span<const double> size,
                                      std::span<const std::int8_t> side, std::size_t i,
                                      std::array<std::int64_t, trade_status_count>& out) {
  // A run of trades inside the open finest bar, so inside every open coarser bar: no bar
  // closes. Same arithmetic as ingest() trade by trade, in the same order, so the result is
  // bit-identical; what it saves is reloading every bar's accumulators from memory per
  // trade. Sums are order-sensitive and kept per timeframe in registers; min/max and the
  // open/close (smallest/largest ts, ties by arrival) are order-free and folded once.
  tf_state& fin = s.tfs[finest_];
  const std::int64_t frontier = fin.frontier;
  const std::int64_t end = fin.open_end;
  const bool keep_late_out = cfg_.late_window_ns > 0;  // amendments go through ingest()
  std::array<double, N> vol{}, pv{}, buy{};
  for (std::size_t k = 0; k < N; ++k) {
    vol[k] = s.tfs[k].open.volume;
    pv[k] = s.tfs[k].open.pv;
    buy[k] = s.tfs[k].open.buy_volume;
  }
  double hi = -std::numeric_limits<double>::infinity(), lo = std::numeric_limits<double>::infinity();
  std::int64_t open_ts = std::numeric_limits<std::int64_t>::max(), close_ts = std::numeric_limits<std::int64_t>::min();
  double open_px = 0, close_px = 0;
  std::int64_t accepted = 0, late = 0, rej_ts = 0, rej_px = 0, rej_sz = 0;
  const std::size_t n = ts_ns.size();
  const bool has_side = !side.empty();
  std::size_t j = i;
  for (; j < n; ++j) {
    const std::int64_t ts = ts_ns[j];
    const double p = price[j];
    const double q = size[j];
    if (!((ts > 0) & (ts <= max_ts_ns) & positive_finite(p) & positive_finite(q) & positive_finite(p * q)))
        [[unlikely]] {
      const trade_status v = validate(ts, p, q);
      rej_ts += v == trade_status::reject_ts;
      rej_px += v == trade_status::reject_price;
      rej_sz += v == trade_status::reject_size;
      continue;
    }
    if (ts >= end) break;  // closes bars: back to ingest()
    if (ts < frontier) [[unlikely]] {
      if (keep_late_out) break;
      ++late;
      continue;
    }
    const std::int8_t sd = has_side ? side[j] : std::int8_t{0};
    const double pq = p * q;
    const double bq = sd > 0 ? q : 0.0;
    for (std::size_t k = 0; k < N; ++k) {
      vol[k] += q;
      pv[k] += pq;
      buy[k] += bq;
    }
    hi = std::max(hi, p);
    lo = std::min(lo, p);
    if (ts < open_ts) {
      open_ts = ts;
      open_px = p;
    }
    if (ts >= close_ts) {
      close_ts = ts;
      close_px = p;
    }
    s.cache.push(ts, p, q, sd, false, 0);
    ++accepted;
  }
  if (accepted > 0) {
    for (std::size_t k = 0; k < N; ++k) {
      bar_accum& a = s.tfs[k].open;
      a.volume = vol[k];
      a.pv = pv[k];
      a.buy_volume = buy[k];
      a.high = std::max(a.high, hi);
      a.low = std::min(a.low, lo);
      if (open_ts < a.open_ts) {
        a.open_ts = open_ts;
        a.open = open_px;
      }
      if (close_ts >= a.close_ts) {
        a.close_ts = close_ts;
        a.close = close_px;
      }
      a.trades += accepted;
    }
    if (close_ts >= s.last_trade_ts) {
      s.last_trade_ts = close_ts;
      s.last_price = close_px;
    }
  }
  auto bump = [&](trade_status st, std::int64_t c) {
    s.counts.trades[static_cast<std::size_t>(st)] += c;
    out[static_cast<std::size_t>(st)] += c;
  };
  bump(trade_status::accepted, accepted);
  bump(trade_status::late, late);
  bump(trade_status::reject_ts, rej_ts);
  bump(trade_status::reject_price, rej_px);
  bump(trade_status::reject_size, rej_sz);
  return j;
}

std::array<std::int64_t, trade_status_count> market_engine::on_trades(
    std::string_view symbol, std::span<const std::int64_t> ts_ns, std::span<const double> price,
    std::span<const double> size, std::span<const std::int8_t> side, std::span<const std::uint64_t> trade_id) {
  const std::uint32_t sym = symbol_index(symbol);
  if (sym != npos) return on_trades(sym, ts_ns, price, size, side, trade_id);
  closed_.clear();
  std::array<std::int64_t, trade_status_count> out{};
  out[static_cast<std::size_t>(trade_status::reject_symbol)] = static_cast<std::int64_t>(ts_ns.size());
  rejected_symbol_ += static_cast<std::int64_t>(ts_ns.size());
  return out;
}

trade_status market_engine::ingest(std::uint32_t sym, const trade& t) {
  symbol_state& s = syms_[sym];
  trade_status st = validate(t.ts_ns, t.price, t.size);
  if (st != trade_status::accepted) [[unlikely]] {
    ++s.counts.trades[static_cast<std::size_t>(st)];
    return st;
  }
  if (t.has_id && s.ids.contains(t.trade_id)) [[unlikely]] {
    ++s.counts.trades[static_cast<std::size_t>(trade_status::duplicate_tick)];
    return trade_status::duplicate_tick;
  }
  std::uint64_t ck = 0;
  if (cfg_.dedupe_content) {
    ck = content_key(t);
    if (s.contents.contains(ck)) {
      ++s.counts.trades[static_cast<std::size_t>(trade_status::duplicate_tick)];
      return trade_status::duplicate_tick;
    }
  }
  const std::int64_t frontier = s.tfs[finest_].frontier;
  if (t.ts_ns < frontier) [[unlikely]] {
    const bool in_window = cfg_.late_window_ns > 0 && t.ts_ns >= frontier - cfg_.late_window_ns;
    if (!in_window || !amend(s, sym, t)) {
      ++s.counts.trades[static_cast<std::size_t>(trade_status::late)];
      return trade_status::late;
    }
    st = trade_status::amended;
  } else if (t.ts_ns < s.tfs[finest_].open_end && s.tfs[finest_].has_open) [[likely]] {
    // Inside the open finest bar, hence inside every coarser open bar (they start on a
    // finest boundary at or before it and end on one at or after it): no bar closes.
    for (tf_state& f : s.tfs) f.open.add(t.ts_ns, t.price, t.size, t.side);
  } else {
    const auto ntf = static_cast<std::uint32_t>(s.tfs.size());
    for (std::uint32_t i = 0; i < ntf; ++i) apply(s, sym, i, t);
  }
  remember(s, t, ck);
  if (t.ts_ns >= s.last_trade_ts) {
    s.last_trade_ts = t.ts_ns;
    s.last_price = t.price;
  }
  ++s.counts.trades[static_cast<std::size_t>(st)];
  return st;
}

void market_engine::remember(symbol_state& s, const trade& t, std::uint64_t content_key_value) {
  // Reading the evicted entry costs a load per trade; skip it when nothing needs it.
  if (s.cache.full() && (s.ids_seen || cfg_.dedupe_content)) {
    const auto ev = s.cache.oldest();
    if (ev.has_id) s.ids.erase(ev.trade_id);
    if (cfg_.dedupe_content) {
      trade old;
      old.ts_ns = ev.ts_ns;
      old.price = ev.price;
      old.size = ev.size;
      old.side = ev.side;
      s.contents.erase(content_key(old));
    }
  }
  s.cache.push(t.ts_ns, t.price, t.size, t.side, t.has_id, t.trade_id);
  if (t.has_id) {
    s.ids.insert(t.trade_id);
    s.ids_seen = true;
  }
  if (cfg_.dedupe_content) s.contents.insert(content_key_value);
}

void market_engine::apply(symbol_state& s, std::uint32_t sym, std::uint32_t tf, const trade& t) {
  tf_state& f = s.tfs[tf];
  // Hot path without a 64-bit division: the trade falls in the open bar. ts >= open start
  // holds because the caller checked ts against the finest frontier, and every coarser
  // bar starts on a finest boundary at or before it.
  if (f.has_open && t.ts_ns < f.open_end) [[likely]] {
    f.open.add(t.ts_ns, t.price, t.size, t.side);
    return;
  }
  const std::int64_t start = t.ts_ns - t.ts_ns % f.tf_ns;  // ts > 0
  if (f.has_open) {
    emit(s, sym, tf, f.open);
    f.has_open = false;
  }
  fill_until(s, sym, tf, start);
  f.open.begin(start, t.ts_ns, t.price, t.size, t.side);
  f.open_end = start + f.tf_ns;
  f.has_open = true;
  f.frontier = start;
}

void market_engine::emit(symbol_state& s, std::uint32_t sym, std::uint32_t tf, const bar_accum& acc) {
  tf_state& f = s.tfs[tf];
  const bar b = acc.finish();
  const feature_values fv = f.features.update(b);
  f.history.push_back(history_entry{acc, fv, f.next_index++});
  if (f.history.size() > cfg_.max_bars) f.history.pop_front();
  f.last_close = b.close;
  f.has_close = true;
  f.frontier = acc.start_ns + f.tf_ns;
  closed_.push_back(closed_bar{sym, tf, b, fv});
  ++s.counts.bars_closed;
}

void market_engine::fill_until(symbol_state& s, std::uint32_t sym, std::uint32_t tf, std::int64_t limit) {
  tf_state& f = s.tfs[tf];
  if (f.frontier == no_frontier || f.frontier >= limit) return;
  if (cfg_.fill_gaps && f.has_close) {
    const std::int64_t missing = (limit - f.frontier) / f.tf_ns;
    if (missing > cfg_.max_fill_bars) {
      ++s.counts.gaps_unfilled;
      log::logger().warn("market_engine: {} {}: gap of {} bars left unfilled (max_fill_bars={})", s.name,
                         timeframe_label(f.tf_ns), missing, cfg_.max_fill_bars);
    } else {
      bar_accum flat{};
      while (f.frontier < limit) {
        flat.begin_flat(f.frontier, f.last_close);
        emit(s, sym, tf, flat);  // advances the frontier by one bar
      }
    }
  }
  f.frontier = limit;
}

std::size_t market_engine::advance_time(std::int64_t now_ns) {
  closed_.clear();
  // No trade is later than max_ts_ns: a clock beyond it closes what that one would, and a
  // clamped clock keeps (now - grace) and every bar boundary inside int64.
  now_ns = std::clamp<std::int64_t>(now_ns, 0, max_ts_ns);
  for (std::uint32_t sym = 0; sym < syms_.size(); ++sym) {
    symbol_state& s = syms_[sym];
    if (s.held) continue;
    for (std::uint32_t tf = 0; tf < s.tfs.size(); ++tf) {
      tf_state& f = s.tfs[tf];
      if (f.frontier == no_frontier) continue;  // no trade yet: nothing to close
      // Bars [start, start + tf) with start + tf + grace <= now are closed, so the first
      // open interval starts at floor((now - grace) / tf) * tf.
      const std::int64_t limit = floor_div(now_ns - cfg_.close_grace_ns, f.tf_ns) * f.tf_ns;
      if (f.has_open && f.open.start_ns < limit) {
        emit(s, sym, tf, f.open);
        f.has_open = false;
      }
      if (!f.has_open) fill_until(s, sym, tf, limit);
    }
  }
  return closed_.size();
}

bool market_engine::amendable(const tf_state& f, std::int64_t start) const {
  if (f.has_open && start == f.open.start_ns) return true;
  if (start >= f.frontier) return true;
  if (f.history.empty() || start < f.history.front().acc.start_ns) return false;
  const auto it = std::lower_bound(f.history.begin(), f.history.end(), start,
                                   [](const history_entry& e, std::int64_t v) { return e.acc.start_ns < v; });
  const auto j = static_cast<std::int64_t>(it - f.history.begin());
  const std::int64_t first_index = f.history.front().index;
  if (first_index == 0) return true;
  const auto& p = f.features.params();
  const std::int64_t need = std::max<std::int64_t>({p.mom_k, p.vwap_n - 1, p.rvol_n});
  // One bar to spare: a trade that creates a missing bar inserts it, and a full history
  // then drops its oldest bar, so `need` bars must still precede it afterwards
  // (regression: "feature state could not be restored" escaped on_trade at the boundary).
  return j > need && first_index + j - 1 >= p.atr_n;
}

bool market_engine::amend(symbol_state& s, std::uint32_t sym, const trade& t) {
  // All or nothing: check every timeframe before touching any, so a trade is never applied
  // to the 1m bar but refused by the 15m bar.
  for (const tf_state& f : s.tfs) {
    if (!amendable(f, t.ts_ns - t.ts_ns % f.tf_ns)) return false;
  }
  for (std::uint32_t tf = 0; tf < s.tfs.size(); ++tf) {
    tf_state& f = s.tfs[tf];
    const std::int64_t start = t.ts_ns - t.ts_ns % f.tf_ns;
    if (f.has_open && start == f.open.start_ns) {
      f.open.add(t.ts_ns, t.price, t.size, t.side);
      continue;
    }
    if (start >= f.frontier) {
      apply(s, sym, tf, t);
      continue;
    }
    auto it = std::lower_bound(f.history.begin(), f.history.end(), start,
                               [](const history_entry& e, std::int64_t v) { return e.acc.start_ns < v; });
    if (it != f.history.end() && it->acc.start_ns == start) {
      it->acc.add_or_begin(t.ts_ns, t.price, t.size, t.side);
      ++it->acc.revision;
    } else {
      // The interval had no bar (no trades, no gap filling): the late trade creates it.
      history_entry e{};
      e.acc.begin(start, t.ts_ns, t.price, t.size, t.side);
      e.index = it == f.history.end() ? f.next_index : it->index;
      it = f.history.insert(it, e);
      for (auto later = it + 1; later != f.history.end(); ++later) ++later->index;
      ++f.next_index;
      if (f.history.size() > cfg_.max_bars) {
        f.history.pop_front();
        it = std::lower_bound(f.history.begin(), f.history.end(), start,
                              [](const history_entry& h, std::int64_t v) { return h.acc.start_ns < v; });
      }
    }
    const auto j = static_cast<std::size_t>(it - f.history.begin());
    refeature_from(f, j);
    f.last_close = f.history.back().acc.close;
    closed_.push_back(closed_bar{sym, tf, f.history[j].acc.finish(), f.history[j].f});
  }
  return true;
}

void market_engine::refeature_from(tf_state& f, std::size_t j) {
  std::vector<bar> prev;
  std::vector<feature_values> prev_f;
  prev.reserve(j);
  prev_f.reserve(j);
  for (std::size_t k = 0; k < j; ++k) {
    prev.push_back(f.history[k].acc.finish());
    prev_f.push_back(f.history[k].f);
  }
  feature_state st(cfg_.features);
  const std::int64_t first_index = f.history.empty() ? 0 : f.history.front().index;
  if (!st.restore(prev, prev_f, first_index)) {
    // amendable() guarantees this; reaching it means the two disagree.
    throw std::logic_error("market_engine: feature state could not be restored for an amendment");
  }
  for (std::size_t k = j; k < f.history.size(); ++k) f.history[k].f = st.update(f.history[k].acc.finish());
  f.features = std::move(st);
}

quote_status market_engine::on_quote(std::uint32_t sym, std::int64_t ts_ns, double bid, double ask) {
  symbol_state& s = syms_.at(sym);
  if (!valid_ts(ts_ns) || !positive_finite(bid) || !positive_finite(ask)) {
    ++s.counts.quotes_rejected;
    return quote_status::rejected;
  }
  if (ts_ns < s.quote_ts) {
    ++s.counts.quotes_stale;
    return quote_status::stale;
  }
  // Crossed and locked quotes are real (FX venues publish them); keep them, count them.
  if (bid >= ask) ++s.counts.quotes_crossed;
  s.bid = bid;
  s.ask = ask;
  s.quote_ts = ts_ns;
  ++s.counts.quotes_accepted;
  return quote_status::accepted;
}

const market_engine::tf_state& market_engine::tf_at(std::uint32_t sym, std::uint32_t tf) const {
  const symbol_state& s = syms_.at(sym);
  if (tf >= s.tfs.size()) throw std::out_of_range("timeframe index out of range");
  return s.tfs[tf];
}

bar_columns market_engine::bars(std::uint32_t sym, std::uint32_t tf, bool include_open) const {
  const tf_state& f = tf_at(sym, tf);
  bar_columns out;
  out.reserve(f.history.size() + 1);
  for (const auto& e : f.history) out.push(e.acc.finish());
  if (include_open && f.has_open) out.push(f.open.finish());
  return out;
}

feature_columns market_engine::features(std::uint32_t sym, std::uint32_t tf) const {
  const tf_state& f = tf_at(sym, tf);
  feature_columns out;
  for (const auto& e : f.history) out.push(e.f);
  return out;
}

std::optional<bar> market_engine::open_bar(std::uint32_t sym, std::uint32_t tf) const {
  const tf_state& f = tf_at(sym, tf);
  if (!f.has_open) return std::nullopt;
  return f.open.finish();
}

std::optional<std::pair<bar, feature_values>> market_engine::latest(std::uint32_t sym, std::uint32_t tf) const {
  const tf_state& f = tf_at(sym, tf);
  if (f.history.empty()) return std::nullopt;
  return std::make_pair(f.history.back().acc.finish(), f.history.back().f);
}

engine_counts market_engine::totals() const {
  engine_counts c;
  for (const auto& s : syms_) c += s.counts;
  c.trades[static_cast<std::size_t>(trade_status::reject_symbol)] += rejected_symbol_;
  return c;
}

namespace {

nlohmann::json number_or_null(double v) { return std::isfinite(v) ? nlohmann::json(v) : nlohmann::json(nullptr); }

nlohmann::json bar_json(const bar& b) {
  return {{"start_ns", b.start_ns},     {"open", b.open},        {"high", b.high}, {"low", b.low},
          {"close", b.close},           {"volume", b.volume},    {"vwap", b.vwap}, {"trades", b.trades},
          {"buy_volume", b.buy_volume}, {"revision", b.revision}};
}

}  // namespace

nlohmann::json market_engine::state(std::uint32_t sym) const {
  const symbol_state& s = syms_.at(sym);
  nlohmann::json tfs = nlohmann::json::object();
  for (const auto& f : s.tfs) {
    nlohmann::json j;
    j["open_bar"] = f.has_open ? bar_json(f.open.finish()) : nlohmann::json(nullptr);
    j["bars_closed"] = f.next_index;
    j["bars_kept"] = f.history.size();
    j["frontier_ns"] = f.frontier == no_frontier ? nlohmann::json(nullptr) : nlohmann::json(f.frontier);
    if (!f.history.empty()) {
      const auto& e = f.history.back();
      j["last_bar"] = bar_json(e.acc.finish());
      j["last_features"] = {{"atr", number_or_null(e.f.atr)},
                            {"mom_bps", number_or_null(e.f.mom_bps)},
                            {"px_vs_vwap_bps", number_or_null(e.f.px_vs_vwap_bps)},
                            {"rvol", number_or_null(e.f.rvol)}};
    } else {
      j["last_bar"] = nullptr;
      j["last_features"] = nullptr;
    }
    tfs[timeframe_label(f.tf_ns)] = std::move(j);
  }
  nlohmann::json counts = nlohmann::json::object();
  for (int i = 0; i < trade_status_count; ++i) {
    counts[std::string(to_string(static_cast<trade_status>(i)))] = s.counts.trades[static_cast<std::size_t>(i)];
  }
  return {
      {"symbol", s.name},
      {"last_price", number_or_null(s.last_price)},
      {"last_trade_ns", s.last_trade_ts > 0 ? nlohmann::json(s.last_trade_ts) : nlohmann::json(nullptr)},
      {"best_bid", number_or_null(s.bid)},
      {"best_ask", number_or_null(s.ask)},
      {"quote_ns", s.quote_ts > 0 ? nlohmann::json(s.quote_ts) : nlohmann::json(nullptr)},
      {"trades_cached", s.cache.size()},
      {"trade_counts", counts},
      {"quotes",
       {{"accepted", s.counts.quotes_accepted},
        {"rejected", s.counts.quotes_rejected},
        {"stale", s.counts.quotes_stale},
        {"crossed", s.counts.quotes_crossed}}},
      {"gaps_unfilled", s.counts.gaps_unfilled},
      {"timeframes", tfs},
  };
}

}  // namespace montalaq::market
