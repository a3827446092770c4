#include "montalaq/market/bar_builder.hpp"

#include <algorithm>
#include <cmath>
#include <numeric>
#include <stdexcept>
#include <string>
#include <thread>

namespace montalaq::market {

void bar_columns::reserve(std::size_t n) {
  start_ns.reserve(n);
  open.reserve(n);
  high.reserve(n);
  low.reserve(n);
  close.reserve(n);
  volume.reserve(n);
  vwap.reserve(n);
  trades.reserve(n);
  buy_volume.reserve(n);
}

void bar_columns::push(const bar& b) {
  start_ns.push_back(b.start_ns);
  open.push_back(b.open);
  high.push_back(b.high);
  low.push_back(b.low);
  close.push_back(b.close);
  volume.push_back(b.volume);
  vwap.push_back(b.vwap);
  trades.push_back(b.trades);
  buy_volume.push_back(b.buy_volume);
}

bar bar_columns::at(std::size_t i) const {
  bar b;
  b.start_ns = start_ns.at(i);
  b.open = open[i];
  b.high = high[i];
  b.low = low[i];
  b.close = close[i];
  b.volume = volume[i];
  b.vwap = vwap[i];
  b.trades = trades[i];
  b.buy_volume = buy_volume[i];
  return b;
}

namespace {

void check_lengths(std::size_t n, std::span<const double> price, std::span<const double> size,
                   std::span<const std::int8_t> side) {
  if (price.size() != n || size.size() != n || (!side.empty() && side.size() != n)) {
    throw std::invalid_argument("build_bars: ts_ns, price, size (and side) must have the same length; got " +
                                std::to_string(n) + ", " + std::to_string(price.size()) + ", " +
                                std::to_string(size.size()) + (side.empty() ? "" : ", " + std::to_string(side.size())));
  }
}

struct chunk_result {
  batch_result r;
  std::int64_t first_ts = std::numeric_limits<std::int64_t>::max();  // first valid row's ts
  std::int64_t last_ts = std::numeric_limits<std::int64_t>::min();   // last valid row's ts
  bool unsorted = false;
};

template <bool HasSide>
void build_loop(std::span<const std::int64_t> ts_ns, std::span<const double> price, std::span<const double> size,
                std::span<const std::int8_t> side, const batch_options& opt, chunk_result& chunk) {
  batch_result& out = chunk.r;
  batch_stats& st = out.stats;
  const std::int64_t tf = opt.tf_ns;
  const std::size_t n = ts_ns.size();
  // The open bar lives in locals, not in a struct behind a reference: the compiler cannot
  // prove such a struct does not alias the input arrays and would store it every trade.
  std::int64_t start = 0, end = 0;  // open bar [start, end); end == 0 before the first bar
  double open = 0, high = 0, low = 0, close = 0, volume = 0, pv = 0, buy = 0;
  std::int64_t count = 0, accepted = 0;
  // Starting at 1 folds "ts > 0" into the sortedness test: ts >= last_ts >= 1.
  std::int64_t last_ts = 1;

  auto finish = [&]() {
    bar b;
    b.start_ns = start;
    b.open = open;
    b.high = high;
    b.low = low;
    b.close = close;
    // volume > 0 (every trade has size > 0); overflowed sums leave as NaN (docs/semantics.md, Time values in Python).
    constexpr double nan = std::numeric_limits<double>::quiet_NaN();
    const double vwap = pv / volume;
    b.volume = std::isfinite(volume) ? volume : nan;
    b.vwap = std::isfinite(vwap) ? vwap : nan;
    b.trades = count;
    b.buy_volume = std::isfinite(buy) ? buy : nan;
    return b;
  };

  for (std::size_t i = 0; i < n; ++i) {
    const std::int64_t ts = ts_ns[i];
    const double p = price[i];
    const double q = size[i];
    // One branch for validity and order together (non-short-circuit &); sort it out
    // only when something is wrong.
    const bool ok =
        positive_finite(p) & positive_finite(q) & positive_finite(p * q) & (ts >= last_ts) & (ts <= max_ts_ns);
    if (!ok) [[unlikely]] {
      const trade_status v = validate(ts, p, q);
      if (v == trade_status::reject_ts) {
        ++st.reject_ts;
      } else if (v == trade_status::reject_price) {
        ++st.reject_price;
      } else if (v == trade_status::reject_size) {
        ++st.reject_size;
      } else {
        chunk.unsorted = true;  // a valid row earlier than a previous one: the caller raises
        return;
      }
      continue;
    }
    last_ts = ts;
    ++accepted;
    const double bq = HasSide ? (side[i] > 0 ? q : 0.0) : 0.0;
    if (ts < end) [[likely]] {
      // Sorted input: ts >= the bar's latest ts, so close always moves and open never does.
      high = std::max(high, p);
      low = std::min(low, p);
      close = p;
      volume += q;
      pv += p * q;
      if constexpr (HasSide) buy += bq;
      ++count;
      continue;
    }
    const std::int64_t new_start = ts - ts % tf;  // ts > 0
    if (end != 0) {
      out.bars.push(finish());
      if (opt.fill_gaps) {
        const std::int64_t missing = (new_start - end) / tf;
        if (missing > opt.max_fill_bars) {
          ++st.gaps_unfilled;
        } else {
          bar_accum flat{};
          for (std::int64_t s = end; s < new_start; s += tf) {
            flat.begin_flat(s, close);
            out.bars.push(flat.finish());
          }
        }
      }
    } else {
      chunk.first_ts = ts;
    }
    start = new_start;
    end = new_start + tf;
    open = high = low = close = p;
    volume = q;
    pv = p * q;
    buy = bq;
    count = 1;
  }
  if (end != 0) out.bars.push(finish());
  st.accepted = accepted;
  chunk.last_ts = accepted > 0 ? last_ts : std::numeric_limits<std::int64_t>::min();
}

void run_chunk(std::span<const std::int64_t> ts, std::span<const double> px, std::span<const double> sz,
               std::span<const std::int8_t> side, const batch_options& opt, chunk_result& out) {
  if (side.empty())
    build_loop<false>(ts, px, sz, side, opt, out);
  else
    build_loop<true>(ts, px, sz, side, opt, out);
}

// Split points at bar boundaries: all valid rows of one bar land in the same chunk.
std::vector<std::size_t> split_points(std::span<const std::int64_t> ts, std::span<const double> px,
                                      std::span<const double> sz, std::int64_t tf, unsigned parts) {
  const std::size_t n = ts.size();
  std::vector<std::size_t> cuts{0};
  for (unsigned k = 1; k < parts; ++k) {
    std::size_t j = std::max(cuts.back(), n * k / parts);
    std::size_t p = j;  // last valid row before j
    while (p > cuts.back() && validate(ts[p - 1], px[p - 1], sz[p - 1]) != trade_status::accepted) --p;
    if (p == cuts.back()) continue;  // nothing valid since the previous cut: no split here
    const std::int64_t bar = ts[p - 1] / tf;
    while (j < n && (validate(ts[j], px[j], sz[j]) != trade_status::accepted || ts[j] / tf == bar)) ++j;
    if (j < n && j > cuts.back()) cuts.push_back(j);
  }
  cuts.push_back(n);
  return cuts;
}

}  // namespace

batch_result build_bars(std::span<const std::int64_t> ts_ns, std::span<const double> price,
                        std::span<const double> size, std::span<const std::int8_t> side, const batch_options& opt) {
  if (opt.tf_ns <= 0 || opt.tf_ns > max_ts_ns)
    throw std::invalid_argument("build_bars: timeframe must be > 0 and at most 2^62 ns");
  if (opt.max_fill_bars < 0) throw std::invalid_argument("build_bars: max_fill_bars must be >= 0");
  check_lengths(ts_ns.size(), price, size, side);
  const std::size_t n = ts_ns.size();
  const unsigned parts =
      static_cast<unsigned>(std::clamp<std::size_t>(n / min_rows_per_thread, 1, std::max(opt.threads, 1u)));
  const auto cuts = parts > 1 ? split_points(ts_ns, price, size, opt.tf_ns, parts) : std::vector<std::size_t>{0, n};
  std::vector<chunk_result> chunks(cuts.size() - 1);
  auto work = [&](std::size_t c) {
    const std::size_t lo = cuts[c], len = cuts[c + 1] - cuts[c];
    run_chunk(ts_ns.subspan(lo, len), price.subspan(lo, len), size.subspan(lo, len),
              side.empty() ? side : side.subspan(lo, len), opt, chunks[c]);
  };
  if (chunks.size() == 1) {
    work(0);
  } else {
    std::vector<std::thread> pool;
    for (std::size_t c = 1; c < chunks.size(); ++c) pool.emplace_back(work, c);
    work(0);
    for (auto& t : pool) t.join();
  }
  bool unsorted = false;
  std::int64_t prev_last = std::numeric_limits<std::int64_t>::min();
  for (const auto& c : chunks) {
    unsorted = unsorted || c.unsorted || (c.r.stats.accepted > 0 && c.first_ts < prev_last);
    if (c.r.stats.accepted > 0) prev_last = c.last_ts;
  }
  if (unsorted) {
    throw std::invalid_argument("build_bars: ts_ns is not sorted (row " +
                                std::to_string(first_unsorted(ts_ns, price, size)) +
                                " is earlier than a previous row); pass sort=True to sort it");
  }
  if (chunks.size() == 1) return std::move(chunks[0].r);
  // Join: concatenate bars, filling the gap across each cut exactly as one pass would.
  batch_result out;
  std::size_t total = 0;
  for (const auto& c : chunks) total += c.r.bars.size();
  out.bars.reserve(total);
  bool have_prev = false;
  bar prev{};
  for (const auto& c : chunks) {
    out.stats.accepted += c.r.stats.accepted;
    out.stats.reject_ts += c.r.stats.reject_ts;
    out.stats.reject_price += c.r.stats.reject_price;
    out.stats.reject_size += c.r.stats.reject_size;
    out.stats.gaps_unfilled += c.r.stats.gaps_unfilled;
    for (std::size_t i = 0; i < c.r.bars.size(); ++i) {
      const bar b = c.r.bars.at(i);
      if (i == 0 && have_prev && opt.fill_gaps) {
        const std::int64_t end = prev.start_ns + opt.tf_ns;
        if ((b.start_ns - end) / opt.tf_ns > opt.max_fill_bars) {
          ++out.stats.gaps_unfilled;
        } else {
          bar_accum flat{};
          for (std::int64_t s = end; s < b.start_ns; s += opt.tf_ns) {
            flat.begin_flat(s, prev.close);
            out.bars.push(flat.finish());
          }
        }
      }
      out.bars.push(b);
    }
    if (c.r.bars.size() > 0) {
      prev = c.r.bars.at(c.r.bars.size() - 1);
      have_prev = true;
    }
  }
  return out;
}

std::vector<std::size_t> stable_order(std::span<const std::int64_t> ts_ns) {
  std::vector<std::size_t> idx(ts_ns.size());
  std::iota(idx.begin(), idx.end(), std::size_t{0});
  std::stable_sort(idx.begin(), idx.end(), [&](std::size_t a, std::size_t b) { return ts_ns[a] < ts_ns[b]; });
  return idx;
}

std::int64_t first_unsorted(std::span<const std::int64_t> ts_ns, std::span<const double> price,
                            std::span<const double> size) {
  std::int64_t last = std::numeric_limits<std::int64_t>::min();
  for (std::size_t i = 0; i < ts_ns.size(); ++i) {
    if (validate(ts_ns[i], price[i], size[i]) != trade_status::accepted) continue;
    if (ts_ns[i] < last) return static_cast<std::int64_t>(i);
    last = ts_ns[i];
  }
  return -1;
}

}  // namespace montalaq::market
