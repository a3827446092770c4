#pragma once
#include <cstdint>
#include <vector>

#include "montalaq/market/trade.hpp"

namespace test {

inline constexpr std::int64_t sec = 1'000'000'000LL;
inline constexpr std::int64_t minute = 60 * sec;
// 2024-01-01T00:00:00Z: a realistic epoch offset so bucketing is not trivially at zero.
inline constexpr std::int64_t t0 = 1'704'067'200LL * sec;

inline montalaq::market::trade tr(std::int64_t ts, double price, double size, std::int8_t side = 0) {
  montalaq::market::trade t;
  t.ts_ns = ts;
  t.price = price;
  t.size = size;
  t.side = side;
  return t;
}

inline montalaq::market::trade tr_id(std::int64_t ts, double price, double size, std::uint64_t id) {
  auto t = tr(ts, price, size);
  t.has_id = true;
  t.trade_id = id;
  return t;
}

}  // namespace test
