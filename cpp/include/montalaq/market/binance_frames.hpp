#pragma once
// Binance spot WebSocket frames (the combined-stream envelope {"stream", "data"} or a raw
// stream's object) parsed without building a JSON document: the live client's hot path
// (docs/feeds.md). A frame is a trade, a bookTicker quote, a control reply ({"result",
// "id"}) or malformed; anything that does not follow the protocol is malformed, never a
// half-read trade.
#include <cstdint>
#include <string_view>

namespace montalaq::market::binance {

struct trade_msg {
  std::string_view symbol;  // as in the frame ("BTCUSDT"); a view into the frame
  std::int64_t ts_ns = 0;   // trade time "T" (ms) in ns
  double price = 0.0;       // "p"
  double size = 0.0;        // "q"
  std::int8_t side = 0;     // "m" (buyer is maker) true: the seller hit the bid, -1; else +1
  std::uint64_t id = 0;     // "t"
};

struct quote_msg {
  std::string_view symbol;
  double bid = 0.0, ask = 0.0;  // "b", "a"
  std::uint64_t update_id = 0;  // "u"
};

enum class frame_kind : std::uint8_t { trade = 0, quote, control, malformed };

// Parses one frame; fills `t` for a trade, `q` for a quote. Numbers in strings ("p", "q",
// "b", "a") must be finite decimals; "T" must be a positive ms time within the core's time
// domain; keys may come in any order, whitespace anywhere JSON allows it; unknown keys are
// skipped (nesting up to 64 deep).
[[nodiscard]] frame_kind parse_frame(std::string_view frame, trade_msg& t, quote_msg& q) noexcept;

}  // namespace montalaq::market::binance
