#pragma once
// Bars (docs/semantics.md, Market core): the closed record and the accumulator that builds it.
#include <algorithm>
#include <cmath>
#include <cstdint>
#include <limits>
#include <vector>

#include "montalaq/market/trade.hpp"

namespace montalaq::market {

struct bar {
  std::int64_t start_ns = 0;  // bar covers [start_ns, start_ns + tf)
  double open = 0, high = 0, low = 0, close = 0;
  double volume = 0;  // sum of sizes
  double vwap = 0;    // sum(price*size)/volume; previous close for a flat gap bar
  std::int64_t trades = 0;
  double buy_volume = 0;      // sum of sizes with side +1
  std::int32_t revision = 0;  // > 0 when a late trade amended an already emitted bar
};

// Running state of one bar. open/close follow the smallest/largest ts (ties: arrival), so
// small out-of-order arrivals inside the open bar give the same bar as sorted data.
struct bar_accum {
  std::int64_t start_ns = 0;
  std::int64_t open_ts = 0, close_ts = 0;
  double open = 0, high = 0, low = 0, close = 0;
  double volume = 0, pv = 0, buy_volume = 0;
  std::int64_t trades = 0;
  std::int32_t revision = 0;

  void begin(std::int64_t start, std::int64_t ts, double price, double size, std::int8_t side) noexcept {
    start_ns = start;
    open_ts = close_ts = ts;
    open = high = low = close = price;
    volume = size;
    pv = price * size;
    buy_volume = side > 0 ? size : 0.0;
    trades = 1;
    revision = 0;
  }

  void begin_flat(std::int64_t start, double prev_close) noexcept {
    start_ns = start;
    open_ts = close_ts = start;
    open = high = low = close = prev_close;
    volume = pv = buy_volume = 0.0;
    trades = 0;
    revision = 0;
  }

  // Per trade on the streaming hot path: branch-free min/max and buy volume; only the
  // (predictable) order tests branch. Requires trades > 0: see add_or_begin().
  void add(std::int64_t ts, double price, double size, std::int8_t side) noexcept {
    high = std::max(high, price);
    low = std::min(low, price);
    if (ts < open_ts) [[unlikely]] {
      open_ts = ts;
      open = price;
    }
    if (ts >= close_ts) [[likely]] {
      close_ts = ts;
      close = price;
    }
    volume += size;
    pv += price * size;
    buy_volume += side > 0 ? size : 0.0;
    ++trades;
  }

  // For amendments, which may hit a flat gap bar: the first real trade defines it.
  void add_or_begin(std::int64_t ts, double price, double size, std::int8_t side) noexcept {
    if (trades == 0) {
      const std::int32_t rev = revision;
      begin(start_ns, ts, price, size, side);
      revision = rev;
      return;
    }
    add(ts, price, size, side);
  }

  [[nodiscard]] bar finish() const noexcept {
    bar b;
    // Sums of valid trades can still overflow (price 1e200 x size 1e200): such a value is
    // undefined, and undefined leaves the package as NaN, never as infinity (docs/semantics.md, Time values in Python).
    constexpr double nan = std::numeric_limits<double>::quiet_NaN();
    b.start_ns = start_ns;
    b.open = open;
    b.high = high;
    b.low = low;
    b.close = close;
    b.volume = std::isfinite(volume) ? volume : nan;
    const double vwap = volume > 0 ? pv / volume : close;
    b.vwap = std::isfinite(vwap) ? vwap : nan;
    b.trades = trades;
    b.buy_volume = std::isfinite(buy_volume) ? buy_volume : nan;
    b.revision = revision;
    return b;
  }
};

// Column-wise bars, the layout numpy and the batch builder share.
struct bar_columns {
  std::vector<std::int64_t> start_ns;
  std::vector<double> open, high, low, close, volume, vwap;
  std::vector<std::int64_t> trades;
  std::vector<double> buy_volume;

  [[nodiscard]] std::size_t size() const noexcept { return start_ns.size(); }
  void reserve(std::size_t n);
  void push(const bar& b);
  [[nodiscard]] bar at(std::size_t i) const;
};

}  // namespace montalaq::market
