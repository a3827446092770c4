#pragma once
// A trade, the verdict the engine gives it, and the validity rule of docs/semantics.md, Market core.
#include <bit>
#include <cstdint>
#include <string_view>

namespace montalaq::market {

struct trade {
  std::int64_t ts_ns = 0;  // exchange time, ns since the Unix epoch (UTC)
  double price = 0.0;
  double size = 0.0;
  std::int8_t side = 0;  // +1 buy aggressor, -1 sell aggressor, 0 unknown
  bool has_id = false;
  std::uint64_t trade_id = 0;
};

// What happened to one trade. Values are stable: they are counted in stats and bound to
// Python as montalaq.TradeStatus.
enum class trade_status : std::uint8_t {
  accepted = 0,
  reject_ts,       // ts <= 0 or ts > max_ts_ns
  reject_price,    // price not finite or <= 0
  reject_size,     // size not finite or <= 0, or price * size not finite and > 0
  duplicate_tick,  // trade id (or content, when asked) already seen in the cached window
  late,            // before the open bar of the finest timeframe; not applied
  amended,         // late but inside late_window: applied and the closed bar re-emitted
  reject_symbol,   // symbol outside the engine's allow-list
};
inline constexpr int trade_status_count = 8;

[[nodiscard]] constexpr std::string_view to_string(trade_status s) noexcept {
  switch (s) {
    case trade_status::accepted: return "ACCEPTED";
    case trade_status::reject_ts: return "REJECT_TS";
    case trade_status::reject_price: return "REJECT_PRICE";
    case trade_status::reject_size: return "REJECT_SIZE";
    case trade_status::duplicate_tick: return "DUPLICATE_TICK";
    case trade_status::late: return "LATE";
    case trade_status::amended: return "AMENDED";
    case trade_status::reject_symbol: return "REJECT_SYMBOL";
  }
  return "UNKNOWN";
}

// Positive and finite in one unsigned compare: the bit patterns of +0 .. +max finite are
// 0 .. 0x7FEFFFFFFFFFFFFF, so (bits - 1) is below that bound exactly for (0, max]; +inf,
// NaN, -0 and negatives (sign bit set) all land above it.
inline constexpr std::uint64_t max_finite_bits = 0x7FEFFFFFFFFFFFFFULL;
[[nodiscard]] constexpr bool positive_finite(double x) noexcept {
  return std::bit_cast<std::uint64_t>(x) - 1 < max_finite_bits;
}

// Trade times lie in (0, max_ts_ns]: 2^62 ns (2116-02-20T23:53:38Z) leaves room above
// every bar's end, every gap fill and every clock in between, so no time arithmetic of the
// core can overflow int64 (regression: a time near INT64_MAX wrapped bar boundaries and made
// gap filling loop until memory ran out).
inline constexpr std::int64_t max_ts_ns = std::int64_t{1} << 62;
[[nodiscard]] constexpr bool valid_ts(std::int64_t ts_ns) noexcept { return ts_ns > 0 && ts_ns <= max_ts_ns; }

// The notional must be positive and finite too: 1e200 x 1e200 is two finite values whose
// product overflows, and one such trade left VWAP-based features NaN for good.
[[nodiscard]] constexpr trade_status validate(std::int64_t ts_ns, double price, double size) noexcept {
  if (!valid_ts(ts_ns)) return trade_status::reject_ts;
  if (!positive_finite(price)) return trade_status::reject_price;
  if (!positive_finite(size) || !positive_finite(price * size)) return trade_status::reject_size;
  return trade_status::accepted;
}

// Floor division for possibly negative numerators (clock arithmetic near the epoch).
[[nodiscard]] constexpr std::int64_t floor_div(std::int64_t a, std::int64_t b) noexcept {
  const std::int64_t q = a / b;
  return (a % b != 0 && ((a < 0) != (b < 0))) ? q - 1 : q;
}

}  // namespace montalaq::market
