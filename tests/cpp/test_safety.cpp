#include <catch2/catch.hpp>
#include <cmath>
#include <limits>
#include <stdexcept>

#include "montalaq/guard/safety.hpp"

using montalaq::guard::is_tick_multiple;
using montalaq::guard::order_kind;
using montalaq::guard::safety_reason;
using montalaq::guard::symbol_set;
using montalaq::guard::trading_context;
using montalaq::guard::trading_decision;
using montalaq::guard::validate_trading_decision;

namespace {

const symbol_set allowed{"EURUSD", "BTCUSD"};
constexpr double qnan = std::numeric_limits<double>::quiet_NaN();
constexpr double inf = std::numeric_limits<double>::infinity();

trading_context ctx(double tick = 0.00001, bool filled = false, double position = 0.0) {
  return trading_context{tick, &allowed, filled, position};
}

safety_reason check(std::string_view symbol, std::string_view side, double qty, double price,
                    order_kind kind = order_kind::entry, trading_context c = ctx()) {
  return validate_trading_decision(trading_decision{symbol, side, qty, price, kind}, c);
}

}  // namespace

TEST_CASE("a sound decision is OK for every kind", "[safety]") {
  CHECK(check("EURUSD", "BUY", 1000, 1.23456) == safety_reason::ok);
  CHECK(check("EURUSD", "SELL", 1000, 1.23456, order_kind::exit, ctx(0.00001, true, 1000)) == safety_reason::ok);
  CHECK(check("EURUSD", "SELL", 500, 1.25, order_kind::take_profit, ctx(0.00001, true, 1000)) == safety_reason::ok);
  CHECK(check("EURUSD", "SELL", 500, 1.2, order_kind::stop_loss, ctx(0.00001, true, 1000)) == safety_reason::ok);
  CHECK(montalaq::guard::to_string(safety_reason::ok) == "OK");
}

TEST_CASE("INVALID_SYMBOL: not in the allowed set, empty, or a different case", "[safety]") {
  CHECK(check("GBPUSD", "BUY", 1, 1.0) == safety_reason::invalid_symbol);
  CHECK(check("", "BUY", 1, 1.0) == safety_reason::invalid_symbol);
  CHECK(check("eurusd", "BUY", 1, 1.0) == safety_reason::invalid_symbol);
  const symbol_set none;
  CHECK(validate_trading_decision({"EURUSD", "BUY", 1, 1.0}, {0.01, &none, false, 0}) == safety_reason::invalid_symbol);
  CHECK(montalaq::guard::to_string(safety_reason::invalid_symbol) == "INVALID_SYMBOL");
}

TEST_CASE("INVALID_SIDE: exactly BUY or SELL", "[safety]") {
  for (const char* side : {"", "buy", "Sell", "HOLD", " BUY", "BUY "}) {
    CAPTURE(side);
    CHECK(check("EURUSD", side, 1, 1.0) == safety_reason::invalid_side);
  }
  CHECK(montalaq::guard::to_string(safety_reason::invalid_side) == "INVALID_SIDE");
}

TEST_CASE("INVALID_QUANTITY: finite and > 0", "[safety]") {
  for (const double q : {0.0, -0.0, -1.0, qnan, inf, -inf}) {
    CAPTURE(q);
    CHECK(check("EURUSD", "BUY", q, 1.0) == safety_reason::invalid_quantity);
  }
  CHECK(check("EURUSD", "BUY", std::numeric_limits<double>::denorm_min(), 1.0) == safety_reason::ok);
  CHECK(montalaq::guard::to_string(safety_reason::invalid_quantity) == "INVALID_QUANTITY");
}

TEST_CASE("INVALID_PRICE: finite, > 0 and a multiple of the tick", "[safety]") {
  for (const double p : {0.0, -1.0, qnan, inf, -inf}) {
    CAPTURE(p);
    CHECK(check("EURUSD", "BUY", 1, p) == safety_reason::invalid_price);
  }
  CHECK(check("EURUSD", "BUY", 1, 1.234565) == safety_reason::invalid_price);   // half a tick off
  CHECK(check("EURUSD", "BUY", 1, 1.2345601) == safety_reason::invalid_price);  // 1% of a tick off
  CHECK(check("BTCUSD", "BUY", 1, 100.05, order_kind::entry, ctx(0.05)) == safety_reason::ok);
  CHECK(check("BTCUSD", "BUY", 1, 100.07, order_kind::entry, ctx(0.05)) == safety_reason::invalid_price);
  CHECK(montalaq::guard::to_string(safety_reason::invalid_price) == "INVALID_PRICE");
}

TEST_CASE("tick multiples tolerate float residue and nothing more", "[safety]") {
  CHECK(is_tick_multiple(0.3, 0.1));  // 0.3 / 0.1 == 2.9999999999999996
  CHECK(is_tick_multiple(1.23456, 0.00001));
  CHECK(is_tick_multiple(0.1 + 0.2, 0.1));
  CHECK(is_tick_multiple(98765.43, 0.01));
  CHECK(is_tick_multiple(5.0, 5.0));
  CHECK_FALSE(is_tick_multiple(2.5, 5.0));
  CHECK_FALSE(is_tick_multiple(0.00001, 0.01));  // below one tick
  // Many ticks: the tolerance is capped at 1e-3 tick, so one tick off is still caught.
  CHECK(is_tick_multiple(123456789.0, 0.01));
  CHECK_FALSE(is_tick_multiple(123456789.005, 0.01));
  CHECK_FALSE(is_tick_multiple(1e300, 1e-10));  // more ticks than a double can count
  // Within 1e-9 relative of a whole number of ticks: a multiple.
  CHECK(is_tick_multiple(1.0 + 1e-12, 0.5));
  CHECK_FALSE(is_tick_multiple(1.0 + 1e-6, 0.5));
}

TEST_CASE("TP_SL_WITHOUT_FILL: take-profit and stop-loss only after the entry filled", "[safety]") {
  CHECK(check("EURUSD", "SELL", 1, 1.0, order_kind::take_profit, ctx(0.00001, false, 1)) ==
        safety_reason::tp_sl_without_fill);
  CHECK(check("EURUSD", "SELL", 1, 1.0, order_kind::stop_loss, ctx(0.00001, false, 1)) ==
        safety_reason::tp_sl_without_fill);
  CHECK(check("EURUSD", "SELL", 1, 1.0, order_kind::exit, ctx(0.00001, false, 1)) == safety_reason::ok);
  CHECK(check("EURUSD", "BUY", 1, 1.0, order_kind::entry, ctx(0.00001, false, 0)) == safety_reason::ok);
  CHECK(montalaq::guard::to_string(safety_reason::tp_sl_without_fill) == "TP_SL_WITHOUT_FILL");
}

TEST_CASE("SELL_WITHOUT_POSITION: a SELL needs an open long of at least its quantity", "[safety]") {
  const auto sell = [](double qty, double position) {
    return check("EURUSD", "SELL", qty, 1.0, order_kind::exit, ctx(0.00001, true, position));
  };
  CHECK(sell(1, 0) == safety_reason::sell_without_position);
  CHECK(sell(1, -5) == safety_reason::sell_without_position);  // a short is not a long to sell
  CHECK(sell(2, 1) == safety_reason::sell_without_position);
  CHECK(sell(1.000001, 1) == safety_reason::sell_without_position);
  CHECK(sell(1, 1) == safety_reason::ok);
  CHECK(sell(0.1 + 0.2, 0.3) == safety_reason::ok);  // float residue of a full close
  CHECK(sell(0.5, 1) == safety_reason::ok);
  CHECK(check("EURUSD", "BUY", 5, 1.0, order_kind::entry, ctx(0.00001, false, -5)) == safety_reason::ok);
  CHECK(montalaq::guard::to_string(safety_reason::sell_without_position) == "SELL_WITHOUT_POSITION");
}

TEST_CASE("checks run in the documented order: the first failure is the answer", "[safety]") {
  const auto bad_all = trading_decision{"NOT_LISTED", "HOLD", qnan, qnan, order_kind::take_profit};
  CHECK(validate_trading_decision(bad_all, ctx()) == safety_reason::invalid_symbol);
  CHECK(check("EURUSD", "HOLD", qnan, qnan, order_kind::take_profit) == safety_reason::invalid_side);
  CHECK(check("EURUSD", "SELL", qnan, qnan, order_kind::take_profit) == safety_reason::invalid_quantity);
  CHECK(check("EURUSD", "SELL", 1, qnan, order_kind::take_profit) == safety_reason::invalid_price);
  CHECK(check("EURUSD", "SELL", 1, 1.0, order_kind::take_profit) == safety_reason::tp_sl_without_fill);
  CHECK(check("EURUSD", "SELL", 1, 1.0, order_kind::take_profit, ctx(0.00001, true, 0)) ==
        safety_reason::sell_without_position);
}

TEST_CASE("a wrong context is misuse and throws", "[safety]") {
  const trading_decision d{"EURUSD", "BUY", 1, 1.0};
  CHECK_THROWS_WITH(validate_trading_decision(d, ctx(0.0)), Catch::Contains("tick_size"));
  CHECK_THROWS_WITH(validate_trading_decision(d, ctx(-0.01)), Catch::Contains("tick_size"));
  CHECK_THROWS_WITH(validate_trading_decision(d, ctx(qnan)), Catch::Contains("tick_size"));
  CHECK_THROWS_WITH(validate_trading_decision(d, ctx(0.01, false, qnan)), Catch::Contains("position_qty"));
  CHECK_THROWS_WITH(validate_trading_decision(d, trading_context{0.01, nullptr, false, 0}),
                    Catch::Contains("allowed_symbols"));
  CHECK(montalaq::guard::to_string(order_kind::take_profit) == "TAKE_PROFIT");
}
