#include "montalaq/market/bar_builder.hpp"

#include <algorithm>
#include <numeric>
#include <stdexcept>
#include <string>

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

template <bool HasSide>
void build_loop(std::span<const std::int64_t> ts_ns, std::span<const double> price, std::span<const double> size,
                std::span<const std::int8_t> side, const batch_options& opt, batch_result& out) {
  const std::int64_t tf = opt.tf_ns;
  const std::size_t n = ts_ns.size();
  bar_accum acc{};
  bool has_open = false;
  std::int64_t end = 0;  // end of the open bar
  std::int64_t last_ts = std::numeric_limits<std::int64_t>::min();
  batch_stats& st = out.stats;

  for (std::size_t i = 0; i < n; ++i) {
    const std::int64_t ts = ts_ns[i];
    const double p = price[i];
    const double q = size[i];
    const trade_status v = validate(ts, p, q);
    if (v != trade_status::accepted) [[unlikely]] {
      if (v == trade_status::reject_ts)
        ++st.reject_ts;
      else if (v == trade_status::reject_price)
        ++st.reject_price;
      else
        ++st.reject_size;
      continue;
    }
    if (ts < last_ts) [[unlikely]] {
      throw std::invalid_argument("build_bars: ts_ns is not sorted (row " + std::to_string(i) +
                                  " is earlier than a previous row); pass sort=True to sort it");
    }
    last_ts = ts;
    ++st.accepted;
    const std::int8_t sd = HasSide ? side[i] : std::int8_t{0};
    if (ts < end) [[likely]] {
      // Inlined accum.add for sorted input: ts >= close_ts always, never < open_ts.
      if (p > acc.high) acc.high = p;
      if (p < acc.low) acc.low = p;
      acc.close = p;
      acc.close_ts = ts;
      acc.volume += q;
      acc.pv += p * q;
      if constexpr (HasSide) acc.buy_volume += sd > 0 ? q : 0.0;
      ++acc.trades;
      continue;
    }
    const std::int64_t start = ts - ts % tf;  // ts > 0
    if (has_open) {
      out.bars.push(acc.finish());
      if (opt.fill_gaps) {
        const std::int64_t missing = (start - end) / tf;
        if (missing > opt.max_fill_bars) {
          ++st.gaps_unfilled;
        } else {
          bar_accum flat{};
          for (std::int64_t s = end; s < start; s += tf) {
            flat.begin_flat(s, acc.close);
            out.bars.push(flat.finish());
          }
        }
      }
    }
    acc.begin(start, ts, p, q, sd);
    has_open = true;
    end = start + tf;
  }
  if (has_open) out.bars.push(acc.finish());
}

}  // namespace

batch_result build_bars(std::span<const std::int64_t> ts_ns, std::span<const double> price,
                        std::span<const double> size, std::span<const std::int8_t> side, const batch_options& opt) {
  if (opt.tf_ns <= 0) throw std::invalid_argument("build_bars: timeframe must be > 0");
  if (opt.max_fill_bars < 0) throw std::invalid_argument("build_bars: max_fill_bars must be >= 0");
  check_lengths(ts_ns.size(), price, size, side);
  batch_result out;
  if (side.empty())
    build_loop<false>(ts_ns, price, size, side, opt, out);
  else
    build_loop<true>(ts_ns, price, size, side, opt, out);
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
