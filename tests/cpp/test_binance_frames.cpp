#include <catch2/catch.hpp>
#include <cmath>
#include <random>
#include <string>

#include "montalaq/market/binance_frames.hpp"

using namespace montalaq::market::binance;

namespace {
// Views into the frame: the frame must outlive the messages (literals here).
frame_kind parse(std::string_view s, trade_msg& t, quote_msg& q) { return parse_frame(s, t, q); }
const std::string trade_frame =
    R"({"stream":"btcusdt@trade","data":{"e":"trade","E":1723161601438,"s":"BTCUSDT","t":3735693016,)"
    R"("p":"61685.99000000","q":"0.00017000","T":1723161601437,"m":true,"M":true}})";
}  // namespace

TEST_CASE("a combined-stream trade frame gives every field", "[binance]") {
  trade_msg t;
  quote_msg q;
  REQUIRE(parse(trade_frame, t, q) == frame_kind::trade);
  CHECK(t.symbol == "BTCUSDT");
  CHECK(t.id == 3735693016ULL);
  CHECK(t.ts_ns == 1723161601437LL * 1'000'000);
  CHECK(t.price == 61685.99);
  CHECK(t.size == 0.00017);
  CHECK(t.side == -1);  // buyer is maker: the seller hit the bid
}

TEST_CASE("raw-stream frames, other key orders and whitespace parse alike", "[binance]") {
  trade_msg t;
  quote_msg q;
  REQUIRE(parse(R"( { "m" : false , "T":5,"q":"2.5","p":"10","t":7,"s":"ETHUSDT","e":"trade","x":[1,{"y":null}] } )", t,
                q) == frame_kind::trade);
  CHECK(t.symbol == "ETHUSDT");
  CHECK(t.side == 1);
  CHECK(t.ts_ns == 5'000'000);
  CHECK(t.price == 10.0);
  CHECK(t.size == 2.5);
  REQUIRE(parse(R"({"stream":"btcusdt@bookTicker","data":{"u":400900217,"s":"BNBUSDT","b":"25.35190000",)"
                R"("B":"31.21000000","a":"25.36520000","A":"40.66000000"}})",
                t, q) == frame_kind::quote);
  CHECK(q.symbol == "BNBUSDT");
  CHECK(q.update_id == 400900217ULL);
  CHECK(q.bid == 25.3519);
  CHECK(q.ask == 25.3652);
  CHECK(parse(R"({"result":null,"id":1})", t, q) == frame_kind::control);
}

TEST_CASE("frames that break the protocol are malformed, never half-read", "[binance]") {
  trade_msg t;
  quote_msg q;
  for (const char* bad : {
           "", "not json", "[1,2]", R"({"stream":"x","data":5})",
           R"({"e":"trade","s":"BTCUSDT"})",                                             // fields missing
           R"({"e":"trade","s":"BTCUSDT","t":1,"p":"x","q":"1","T":1,"m":true})",        // price not a decimal
           R"({"e":"trade","s":"BTCUSDT","t":1,"p":"nan","q":"1","T":1,"m":true})",      // not finite
           R"({"e":"trade","s":"BTCUSDT","t":1,"p":"1","q":"1","T":0,"m":true})",        // time 0
           R"({"e":"trade","s":"BTCUSDT","t":1,"p":"1","q":"1","T":1,"m":1})",           // m not a bool
           R"({"e":"trade","s":"BTCUSDT","t":-1,"p":"1","q":"1","T":1,"m":true})",       // negative id
           R"({"e":"trade","s":"BTCUSDT","t":1,"p":"1","q":"1","T":1,"m":true} extra)",  // trailing bytes
           R"({"e":"trade","s":"BTCUSDT","t":1,"p":"1","q":"1","T":1,"m":true)",         // unterminated
           R"({"e":"trade","s":"BTC\"USDT","t":1,"p":"1","q":"1","T":1,"m":true})",      // escaped symbol
           R"({"e":"kline","k":{}})",                                                    // another event
           R"({"u":1,"s":"BTCUSDT","b":"1"})",                                           // quote without ask
       }) {
    INFO(bad);
    CHECK(parse(bad, t, q) == frame_kind::malformed);
  }
  std::string deep(100, '[');
  CHECK(parse(R"({"x":)" + deep + "}", t, q) == frame_kind::malformed);  // nesting bound
}

TEST_CASE("fuzz: truncations and byte flips of real frames never crash or misread", "[binance]") {
  std::mt19937_64 rng(20240809);
  trade_msg t;
  quote_msg q;
  for (std::size_t cut = 0; cut < trade_frame.size(); ++cut) {
    const auto k = parse(trade_frame.substr(0, cut), t, q);
    CHECK(k == frame_kind::malformed);
  }
  for (int i = 0; i < 20000; ++i) {
    std::string f = trade_frame;
    const int flips = 1 + static_cast<int>(rng() % 4);
    for (int j = 0; j < flips; ++j) f[rng() % f.size()] = static_cast<char>(rng() % 256);
    const auto k = parse(f, t, q);
    if (k == frame_kind::trade) {
      // A flip may leave a valid frame (a digit for a digit): whatever parsed is sane.
      CHECK(t.ts_ns > 0);
      CHECK(std::isfinite(t.price));
      CHECK(std::isfinite(t.size));
      CHECK((t.side == 1 || t.side == -1));
    }
  }
}
