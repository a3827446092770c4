#include "montalaq/guard/safety.hpp"

#include <algorithm>
#include <cmath>
#include <stdexcept>

namespace montalaq::guard {

std::string_view to_string(safety_reason r) noexcept {
  switch (r) {
    case safety_reason::ok: return "OK";
    case safety_reason::invalid_symbol: return "INVALID_SYMBOL";
    case safety_reason::invalid_side: return "INVALID_SIDE";
    case safety_reason::invalid_quantity: return "INVALID_QUANTITY";
    case safety_reason::invalid_price: return "INVALID_PRICE";
    case safety_reason::tp_sl_without_fill: return "TP_SL_WITHOUT_FILL";
    case safety_reason::sell_without_position: return "SELL_WITHOUT_POSITION";
  }
  return "OK";
}

std::string_view to_string(order_kind k) noexcept {
  switch (k) {
    case order_kind::entry: return "ENTRY";
    case order_kind::take_profit: return "TAKE_PROFIT";
    case order_kind::stop_loss: return "STOP_LOSS";
    case order_kind::exit: return "EXIT";
  }
  return "ENTRY";
}

bool is_tick_multiple(double price, double tick_size) noexcept {
  const double ticks = price / tick_size;
  if (!std::isfinite(ticks) || std::fabs(ticks) > max_ticks) return false;
  // price / tick carries a rounding error of a few ulps of the quotient (1.23456 / 0.00001
  // is 123456.00000000001), so "a multiple" means within a tolerance of a whole number.
  const double tol = std::min(tick_rel_tolerance * std::max(1.0, std::fabs(ticks)), tick_abs_cap);
  return std::fabs(ticks - std::nearbyint(ticks)) <= tol;
}

safety_reason validate_trading_decision(const trading_decision& d, const trading_context& ctx) {
  if (ctx.allowed == nullptr) throw std::invalid_argument("allowed_symbols: required");
  if (!std::isfinite(ctx.tick_size) || ctx.tick_size <= 0.0) {
    throw std::invalid_argument("tick_size: expected a finite number > 0");
  }
  if (!std::isfinite(ctx.position_qty)) throw std::invalid_argument("position_qty: expected a finite number");

  if (d.symbol.empty() || !ctx.allowed->contains(d.symbol)) return safety_reason::invalid_symbol;
  const bool sell = d.side == "SELL";
  if (!sell && d.side != "BUY") return safety_reason::invalid_side;
  if (!std::isfinite(d.quantity) || d.quantity <= 0.0) return safety_reason::invalid_quantity;
  if (!std::isfinite(d.price) || d.price <= 0.0 || !is_tick_multiple(d.price, ctx.tick_size)) {
    return safety_reason::invalid_price;
  }
  if ((d.kind == order_kind::take_profit || d.kind == order_kind::stop_loss) && !ctx.entry_filled) {
    return safety_reason::tp_sl_without_fill;
  }
  if (sell) {
    // Only an open long position can be sold; a short (or flat) book has nothing to sell.
    if (ctx.position_qty <= 0.0 || d.quantity > ctx.position_qty * (1.0 + position_rel_tolerance)) {
      return safety_reason::sell_without_position;
    }
  }
  return safety_reason::ok;
}

}  // namespace montalaq::guard
