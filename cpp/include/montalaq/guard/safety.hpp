#pragma once
// Order safety invariants (docs/semantics.md, Guards): the last check before a trading decision becomes an
// order. The decision is data, so a bad decision is an answer (a reason code), never an
// exception; only a bad *context* (tick size, position) is misuse and throws.
#include <cstdint>
#include <functional>
#include <string>
#include <string_view>
#include <unordered_set>

namespace montalaq::guard {

// Checked in this order; the first that fails is the answer.
enum class safety_reason : std::uint8_t {
  ok = 0,
  invalid_symbol,         // not in the allowed set (or empty)
  invalid_side,           // not exactly "BUY" or "SELL"
  invalid_quantity,       // not finite, or <= 0
  invalid_price,          // not finite, <= 0, or not a multiple of the tick
  tp_sl_without_fill,     // a take-profit / stop-loss before the entry is filled
  sell_without_position,  // a SELL larger than the open long position
};
[[nodiscard]] std::string_view to_string(safety_reason r) noexcept;

enum class order_kind : std::uint8_t { entry = 0, take_profit, stop_loss, exit };
[[nodiscard]] std::string_view to_string(order_kind k) noexcept;

struct symbol_hash {
  using is_transparent = void;
  std::size_t operator()(std::string_view s) const noexcept { return std::hash<std::string_view>{}(s); }
};
using symbol_set = std::unordered_set<std::string, symbol_hash, std::equal_to<>>;

struct trading_decision {
  std::string_view symbol;
  std::string_view side;  // "BUY" | "SELL", exactly
  double quantity = 0.0;
  double price = 0.0;
  order_kind kind = order_kind::entry;
};

struct trading_context {
  double tick_size = 0.0;               // finite, > 0
  const symbol_set* allowed = nullptr;  // required
  bool entry_filled = false;            // for TAKE_PROFIT / STOP_LOSS
  double position_qty = 0.0;            // current position, signed (long > 0); finite
};

// How far (in ticks) a price may sit from a whole number of ticks and still count as a
// multiple: relative 1e-9 of the tick count, never more than 1e-3 of a tick. Prices more
// than 1e15 ticks from zero cannot be checked in a double and are INVALID_PRICE.
inline constexpr double tick_rel_tolerance = 1e-9;
inline constexpr double tick_abs_cap = 1e-3;
inline constexpr double max_ticks = 1e15;
// A SELL may exceed the position by this relative amount (float residue of a full close).
inline constexpr double position_rel_tolerance = 1e-9;

[[nodiscard]] bool is_tick_multiple(double price, double tick_size) noexcept;

// OK or the first failing reason. Throws std::invalid_argument for a context that is
// itself wrong: no allowed set, tick_size not finite or <= 0, position_qty not finite.
[[nodiscard]] safety_reason validate_trading_decision(const trading_decision& d, const trading_context& ctx);

}  // namespace montalaq::guard
