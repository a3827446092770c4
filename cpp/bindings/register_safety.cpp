// Bindings for the order safety invariants (docs/semantics.md, Guards). The check itself is the core's;
// montalaq.safety coerces the arguments and writes the BLOCKED log line.
#include <pybind11/pybind11.h>
#include <pybind11/stl.h>

#include <string>

#include "montalaq/guard/safety.hpp"

namespace py = pybind11;
namespace gd = montalaq::guard;

void register_safety(py::module_& m) {
  py::enum_<gd::safety_reason>(m, "SafetyReason", "Outcome of validate_trading_decision: OK or why it is blocked.")
      .value("OK", gd::safety_reason::ok)
      .value("INVALID_SYMBOL", gd::safety_reason::invalid_symbol, "Symbol not in the allowed set.")
      .value("INVALID_SIDE", gd::safety_reason::invalid_side, "Side is not exactly BUY or SELL.")
      .value("INVALID_QUANTITY", gd::safety_reason::invalid_quantity, "Quantity not finite or not > 0.")
      .value("INVALID_PRICE", gd::safety_reason::invalid_price, "Price not finite, not > 0 or off the tick grid.")
      .value("TP_SL_WITHOUT_FILL", gd::safety_reason::tp_sl_without_fill,
             "Take-profit or stop-loss before the entry filled.")
      .value("SELL_WITHOUT_POSITION", gd::safety_reason::sell_without_position,
             "SELL larger than the open long position.");

  py::enum_<gd::order_kind>(m, "OrderKind", "What an order is for.")
      .value("ENTRY", gd::order_kind::entry)
      .value("TAKE_PROFIT", gd::order_kind::take_profit)
      .value("STOP_LOSS", gd::order_kind::stop_loss)
      .value("EXIT", gd::order_kind::exit);

  m.def(
      "validate_trading_decision",
      [](const std::string& symbol, const std::string& side, double quantity, double price, double tick_size,
         const gd::symbol_set& allowed_symbols, bool entry_filled, double position_qty, gd::order_kind kind) {
        return gd::validate_trading_decision(
            gd::trading_decision{symbol, side, quantity, price, kind},
            gd::trading_context{tick_size, &allowed_symbols, entry_filled, position_qty});
      },
      py::arg("symbol"), py::arg("side"), py::arg("quantity"), py::arg("price"), py::arg("tick_size"),
      py::arg("allowed_symbols"), py::arg("entry_filled"), py::arg("position_qty"), py::arg("kind"),
      "OK or the first failing reason; ValueError for a bad tick_size or position_qty. "
      "Use montalaq.safety.validate_trading_decision.");
  m.def("is_tick_multiple", &gd::is_tick_multiple, py::arg("price"), py::arg("tick_size"),
        "Whether price is a whole number of ticks (relative tolerance 1e-9, at most 1e-3 tick).");
}
