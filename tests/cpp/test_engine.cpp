#include <catch2/catch.hpp>
#include <algorithm>
#include <cmath>
#include <limits>
#include <random>
#include <vector>

#include "helpers.hpp"
#include "montalaq/market/bar_builder.hpp"
#include "montalaq/market/engine.hpp"

using namespace montalaq::market;
using test::minute;
using test::sec;
using test::t0;
using test::tr;
using test::tr_id;

namespace {
engine_config cfg_1_5_15() {
  engine_config c;
  c.timeframes_ns = {minute, 5 * minute, 15 * minute};
  return c;
}

struct series {
  std::vector<std::int64_t> ts;
  std::vector<double> px, sz;
  std::vector<std::int8_t> side;
};

series random_series(std::size_t n, std::uint64_t seed) {
  std::mt19937_64 rng(seed);
  series s;
  std::int64_t t = t0;
  double p = 100;
  for (std::size_t i = 0; i < n; ++i) {
    t += static_cast<std::int64_t>(rng() % (20 * sec));
    p *= 1 + (static_cast<double>(rng() % 2001) - 1000) * 1e-6;
    s.ts.push_back(t);
    s.px.push_back(p);
    s.sz.push_back(0.01 + static_cast<double>(rng() % 1000) / 100.0);
    s.side.push_back(static_cast<std::int8_t>(static_cast<int>(rng() % 3) - 1));
  }
  return s;
}

void require_same(const bar_columns& a, const bar_columns& b) {
  REQUIRE(a.size() == b.size());
  for (std::size_t i = 0; i < a.size(); ++i) {
    INFO("bar " << i);
    REQUIRE(a.start_ns[i] == b.start_ns[i]);
    REQUIRE(a.open[i] == b.open[i]);
    REQUIRE(a.high[i] == b.high[i]);
    REQUIRE(a.low[i] == b.low[i]);
    REQUIRE(a.close[i] == b.close[i]);
    REQUIRE(a.volume[i] == Approx(b.volume[i]).epsilon(1e-12));
    REQUIRE(a.vwap[i] == Approx(b.vwap[i]).epsilon(1e-12));
    REQUIRE(a.trades[i] == b.trades[i]);
    REQUIRE(a.buy_volume[i] == Approx(b.buy_volume[i]).epsilon(1e-12));
  }
}
}  // namespace

TEST_CASE("streaming equals batch for every timeframe, with and without gap filling", "[engine]") {
  const auto s = random_series(20'000, 42);
  for (const bool fill : {false, true}) {
    auto c = cfg_1_5_15();
    c.fill_gaps = fill;
    market_engine e(c);
    const auto sym = e.symbol_index("X");
    std::size_t closed = 0;
    for (std::size_t i = 0; i < s.ts.size(); ++i) {
      REQUIRE(e.on_trade(sym, tr(s.ts[i], s.px[i], s.sz[i], s.side[i])) == trade_status::accepted);
      closed += e.closed().size();
    }
    for (std::uint32_t tf = 0; tf < 3; ++tf) {
      batch_options o;
      o.tf_ns = c.timeframes_ns[tf];
      o.fill_gaps = fill;
      const auto batch = build_bars(s.ts, s.px, s.sz, s.side, o);
      require_same(e.bars(sym, tf, /*include_open=*/true), batch.bars);
      const auto bf = compute_features(e.bars(sym, tf), c.features);
      const auto sf = e.features(sym, tf);
      REQUIRE(bf.size() == sf.size());
      for (std::size_t i = 0; i < bf.size(); ++i) {
        // The same state object computes both: bit-identical, NaN included.
        REQUIRE(((std::isnan(bf.atr[i]) && std::isnan(sf.atr[i])) || bf.atr[i] == sf.atr[i]));
        REQUIRE(((std::isnan(bf.rvol[i]) && std::isnan(sf.rvol[i])) || bf.rvol[i] == sf.rvol[i]));
        REQUIRE(((std::isnan(bf.px_vs_vwap_bps[i]) && std::isnan(sf.px_vs_vwap_bps[i])) ||
                 bf.px_vs_vwap_bps[i] == sf.px_vs_vwap_bps[i]));
      }
    }
    CHECK(closed == static_cast<std::size_t>(e.counts(sym).bars_closed));
  }
}

TEST_CASE("shuffles inside the open bar give the sorted bars", "[engine]") {
  auto s = random_series(5'000, 3);
  // Shuffle each run of trades inside the same finest (1m) bar.
  std::mt19937_64 rng(11);
  std::vector<std::size_t> idx(s.ts.size());
  for (std::size_t i = 0; i < idx.size(); ++i) idx[i] = i;
  std::size_t b = 0;
  while (b < idx.size()) {
    std::size_t e = b;
    while (e < idx.size() && s.ts[e] / minute == s.ts[b] / minute) ++e;
    std::shuffle(idx.begin() + static_cast<std::ptrdiff_t>(b), idx.begin() + static_cast<std::ptrdiff_t>(e), rng);
    b = e;
  }
  market_engine e(cfg_1_5_15());
  const auto sym = e.symbol_index("X");
  for (const auto i : idx) REQUIRE(e.on_trade(sym, tr(s.ts[i], s.px[i], s.sz[i], s.side[i])) == trade_status::accepted);
  for (std::uint32_t tf = 0; tf < 3; ++tf) {
    batch_options o;
    o.tf_ns = e.config().timeframes_ns[tf];
    require_same(e.bars(sym, tf, true), build_bars(s.ts, s.px, s.sz, s.side, o).bars);
  }
}

namespace {
void require_identical(const bar_columns& a, const bar_columns& b) {
  REQUIRE(a.size() == b.size());
  for (std::size_t i = 0; i < a.size(); ++i) {
    INFO("bar " << i);
    REQUIRE(a.start_ns[i] == b.start_ns[i]);
    REQUIRE(a.open[i] == b.open[i]);
    REQUIRE(a.high[i] == b.high[i]);
    REQUIRE(a.low[i] == b.low[i]);
    REQUIRE(a.close[i] == b.close[i]);
    REQUIRE(a.volume[i] == b.volume[i]);
    REQUIRE(a.vwap[i] == b.vwap[i]);
    REQUIRE(a.trades[i] == b.trades[i]);
    REQUIRE(a.buy_volume[i] == b.buy_volume[i]);
  }
}
}  // namespace

TEST_CASE("chunked ingest is bit-identical to one-by-one, with bad, late and shuffled trades", "[engine]") {
  auto s = random_series(30'000, 17);
  std::mt19937_64 rng(23);
  for (std::size_t i = 0; i < s.ts.size(); ++i) {
    const auto r = rng() % 1000;
    if (r == 0) s.px[i] = std::numeric_limits<double>::quiet_NaN();
    if (r == 1) s.sz[i] = -1;
    if (r == 2) s.ts[i] = 0;
    if (r == 3 && i > 50) s.ts[i] = s.ts[i - 50];          // late, or just out of order
    if (r == 4 && i > 0) std::swap(s.ts[i], s.ts[i - 1]);  // small disorder inside a bar
  }
  for (const std::int64_t late_window : {std::int64_t{0}, 10 * minute}) {
    for (const std::size_t tfs : {std::size_t{1}, std::size_t{3}}) {
      engine_config c;
      c.timeframes_ns =
          tfs == 1 ? std::vector<std::int64_t>{minute} : std::vector<std::int64_t>{minute, 5 * minute, 15 * minute};
      c.late_window_ns = late_window;
      market_engine one(c), chunked(c);
      const auto a = one.symbol_index("X");
      const auto b = chunked.symbol_index("X");
      for (std::size_t i = 0; i < s.ts.size(); ++i) one.on_trade(a, tr(s.ts[i], s.px[i], s.sz[i], s.side[i]));
      std::size_t off = 0;
      while (off < s.ts.size()) {
        const std::size_t n = std::min<std::size_t>(1 + rng() % 3000, s.ts.size() - off);
        chunked.on_trades(b, std::span(s.ts).subspan(off, n), std::span(s.px).subspan(off, n),
                          std::span(s.sz).subspan(off, n), std::span(s.side).subspan(off, n), {});
        off += n;
      }
      for (std::uint32_t tf = 0; tf < tfs; ++tf) {
        require_identical(one.bars(a, tf, true), chunked.bars(b, tf, true));
        const auto fa = one.features(a, tf), fb = chunked.features(b, tf);
        for (std::size_t i = 0; i < fa.size(); ++i) {
          REQUIRE(((std::isnan(fa.atr[i]) && std::isnan(fb.atr[i])) || fa.atr[i] == fb.atr[i]));
        }
      }
      CHECK(one.counts(a).trades == chunked.counts(b).trades);
      CHECK(one.counts(a).of(trade_status::late) + one.counts(a).of(trade_status::amended) > 0);
      CHECK(one.state(a)["last_price"] == chunked.state(b)["last_price"]);
      CHECK(one.trades_cached(a) == chunked.trades_cached(b));
    }
  }
}

TEST_CASE("chunked ingest equals one-by-one ingest", "[engine]") {
  const auto s = random_series(10'000, 5);
  market_engine one(cfg_1_5_15()), chunked(cfg_1_5_15());
  const auto a = one.symbol_index("X");
  const auto b = chunked.symbol_index("X");
  for (std::size_t i = 0; i < s.ts.size(); ++i) one.on_trade(a, tr(s.ts[i], s.px[i], s.sz[i], s.side[i]));
  std::size_t closed = 0;
  for (std::size_t off = 0; off < s.ts.size(); off += 777) {
    const std::size_t n = std::min<std::size_t>(777, s.ts.size() - off);
    const auto counts = chunked.on_trades(b, std::span(s.ts).subspan(off, n), std::span(s.px).subspan(off, n),
                                          std::span(s.sz).subspan(off, n), std::span(s.side).subspan(off, n), {});
    CHECK(counts[0] == static_cast<std::int64_t>(n));
    closed += chunked.closed().size();
  }
  for (std::uint32_t tf = 0; tf < 3; ++tf) require_same(one.bars(a, tf, true), chunked.bars(b, tf, true));
  CHECK(closed == static_cast<std::size_t>(chunked.counts(b).bars_closed));
}

TEST_CASE("bad trades are rejected and counted, closed bars never change", "[engine]") {
  market_engine e(cfg_1_5_15());
  const auto x = e.symbol_index("X");
  const double nan = std::numeric_limits<double>::quiet_NaN();
  const double inf = std::numeric_limits<double>::infinity();
  CHECK(e.on_trade(x, tr(t0 + sec, 100, 1)) == trade_status::accepted);
  CHECK(e.on_trade(x, tr(t0 + minute + sec, 101, 1)) == trade_status::accepted);  // closes the first 1m bar
  REQUIRE(e.closed().size() == 1);
  const auto before = e.bars(x, 0);
  CHECK(e.on_trade(x, tr(0, 100, 1)) == trade_status::reject_ts);
  CHECK(e.on_trade(x, tr(-1, 100, 1)) == trade_status::reject_ts);
  CHECK(e.on_trade(x, tr(t0 + minute + 2 * sec, nan, 1)) == trade_status::reject_price);
  CHECK(e.on_trade(x, tr(t0 + minute + 2 * sec, inf, 1)) == trade_status::reject_price);
  CHECK(e.on_trade(x, tr(t0 + minute + 2 * sec, -3, 1)) == trade_status::reject_price);
  CHECK(e.on_trade(x, tr(t0 + minute + 2 * sec, 0, 1)) == trade_status::reject_price);
  CHECK(e.on_trade(x, tr(t0 + minute + 2 * sec, 100, 0)) == trade_status::reject_size);
  CHECK(e.on_trade(x, tr(t0 + minute + 2 * sec, 100, -inf)) == trade_status::reject_size);
  CHECK(e.on_trade(x, tr(t0 + 30 * sec, 500, 1)) == trade_status::late);  // inside the closed bar
  require_same(e.bars(x, 0), before);
  const auto& c = e.counts(x);
  CHECK(c.of(trade_status::accepted) == 2);
  CHECK(c.of(trade_status::reject_ts) == 2);
  CHECK(c.of(trade_status::reject_price) == 4);
  CHECK(c.of(trade_status::reject_size) == 2);
  CHECK(c.of(trade_status::late) == 1);
  CHECK(e.open_bar(x, 0)->close == 101);
}

TEST_CASE("duplicate trade ids are dropped within the cached window only", "[engine]") {
  auto c = cfg_1_5_15();
  c.max_trades = 3;
  market_engine e(c);
  const auto x = e.symbol_index("X");
  CHECK(e.on_trade(x, tr_id(t0 + 1, 100, 1, 7)) == trade_status::accepted);
  CHECK(e.on_trade(x, tr_id(t0 + 2, 100, 1, 7)) == trade_status::duplicate_tick);
  CHECK(e.on_trade(x, tr_id(t0 + 3, 100, 1, 8)) == trade_status::accepted);
  CHECK(e.on_trade(x, tr_id(t0 + 4, 100, 1, 9)) == trade_status::accepted);
  CHECK(e.on_trade(x, tr_id(t0 + 5, 100, 1, 10)) == trade_status::accepted);  // evicts id 7
  CHECK(e.on_trade(x, tr_id(t0 + 6, 100, 1, 7)) == trade_status::accepted);
  CHECK(e.trades_cached(x) == 3);
  CHECK(e.open_bar(x, 0)->trades == 5);
  // Without ids, equal prints are separate trades unless dedupe_content is on.
  CHECK(e.on_trade(x, tr(t0 + 7, 100, 1)) == trade_status::accepted);
  CHECK(e.on_trade(x, tr(t0 + 7, 100, 1)) == trade_status::accepted);
  auto cc = cfg_1_5_15();
  cc.dedupe_content = true;
  market_engine d(cc);
  const auto y = d.symbol_index("Y");
  CHECK(d.on_trade(y, tr(t0 + 7, 100, 1)) == trade_status::accepted);
  CHECK(d.on_trade(y, tr(t0 + 7, 100, 1)) == trade_status::duplicate_tick);
  CHECK(d.on_trade(y, tr(t0 + 7, 100, 2)) == trade_status::accepted);
}

TEST_CASE("advance_time closes bars on time and moves the late boundary", "[engine]") {
  auto c = cfg_1_5_15();
  c.close_grace_ns = 2 * sec;
  market_engine e(c);
  const auto x = e.symbol_index("X");
  e.on_trade(x, tr(t0 + 10 * sec, 100, 1));
  CHECK(e.advance_time(t0 + minute + sec) == 0);  // inside the grace
  CHECK(e.on_trade(x, tr(t0 + 59 * sec, 101, 1)) == trade_status::accepted);
  CHECK(e.advance_time(t0 + minute + 2 * sec) == 1);
  CHECK(e.closed()[0].b.close == 101);
  CHECK(e.closed()[0].tf == 0);
  CHECK(e.on_trade(x, tr(t0 + 59 * sec, 102, 1)) == trade_status::late);
  CHECK(e.advance_time(t0 + 15 * minute + 2 * sec) == 2);  // the 5m and 15m bars
  CHECK(e.on_trade(x, tr(t0 + 15 * minute + 3 * sec, 103, 1)) == trade_status::accepted);
  CHECK(e.closed().empty());
}

TEST_CASE("advance_time with fill_gaps emits flat bars while the market is quiet", "[engine]") {
  auto c = cfg_1_5_15();
  c.fill_gaps = true;
  market_engine e(c);
  const auto x = e.symbol_index("X");
  e.on_trade(x, tr(t0 + sec, 100, 1));
  e.advance_time(t0 + 4 * minute);
  std::size_t one_minute = 0;
  for (const auto& cb : e.closed()) {
    if (cb.tf == 0) {
      ++one_minute;
      CHECK(cb.b.close == 100);
    }
  }
  CHECK(one_minute == 4);
  e.on_trade(x, tr(t0 + 6 * minute + sec, 101, 1));
  // 1m: minutes 4 and 5 flat; 5m: the [0, 5m) bar that held the first trade.
  REQUIRE(e.closed().size() == 3);
  CHECK(std::count_if(e.closed().begin(), e.closed().end(),
                      [](const closed_bar& cb) { return cb.tf == 0 && cb.b.trades == 0; }) == 2);
  const auto bars = e.bars(x, 0);
  REQUIRE(bars.size() == 6);
  for (std::size_t i = 0; i < 6; ++i) CHECK(bars.start_ns[i] == t0 + static_cast<std::int64_t>(i) * minute);
}

TEST_CASE("late_window amends the closed bar, re-emits it, and keeps features exact", "[engine]") {
  const auto s = random_series(3'000, 9);
  auto c = cfg_1_5_15();
  c.late_window_ns = 30 * minute;
  market_engine e(c);
  const auto x = e.symbol_index("X");
  // Hold back every 10th trade and deliver it 3 trades later: late for the 1m bar.
  std::vector<std::size_t> order;
  for (std::size_t i = 0; i < s.ts.size(); ++i) order.push_back(i);
  for (std::size_t i = 0; i + 3 < order.size(); i += 10)
    std::rotate(order.begin() + static_cast<std::ptrdiff_t>(i), order.begin() + static_cast<std::ptrdiff_t>(i) + 1,
                order.begin() + static_cast<std::ptrdiff_t>(i) + 4);
  std::int64_t amended = 0;
  for (const auto i : order) {
    const auto st = e.on_trade(x, tr(s.ts[i], s.px[i], s.sz[i], s.side[i]));
    REQUIRE((st == trade_status::accepted || st == trade_status::amended));
    if (st == trade_status::amended) {
      ++amended;
      bool revised = false;
      for (const auto& cb : e.closed()) revised = revised || cb.b.revision > 0 || cb.b.trades == 1;
      CHECK(revised);
    }
  }
  CHECK(amended > 0);
  CHECK(e.counts(x).of(trade_status::amended) == amended);
  for (std::uint32_t tf = 0; tf < 3; ++tf) {
    batch_options o;
    o.tf_ns = c.timeframes_ns[tf];
    const auto batch = build_bars(s.ts, s.px, s.sz, s.side, o);
    require_same(e.bars(x, tf, true), batch.bars);
    const auto bf = compute_features(e.bars(x, tf), c.features);
    const auto sf = e.features(x, tf);
    for (std::size_t i = 0; i < bf.size(); ++i) {
      if (std::isnan(bf.atr[i]))
        REQUIRE(std::isnan(sf.atr[i]));
      else
        REQUIRE(sf.atr[i] == Approx(bf.atr[i]).epsilon(1e-9));
      if (std::isnan(bf.px_vs_vwap_bps[i]))
        REQUIRE(std::isnan(sf.px_vs_vwap_bps[i]));
      else
        REQUIRE(sf.px_vs_vwap_bps[i] == Approx(bf.px_vs_vwap_bps[i]).epsilon(1e-9).margin(1e-9));
    }
  }
}

TEST_CASE("a symbol allow-list rejects other symbols", "[engine]") {
  auto c = cfg_1_5_15();
  c.symbols = {"BTCUSDT"};
  market_engine e(c);
  CHECK(e.on_trade("ETHUSDT", tr(t0, 1, 1)) == trade_status::reject_symbol);
  CHECK(e.on_trade("BTCUSDT", tr(t0, 1, 1)) == trade_status::accepted);
  CHECK(e.totals().of(trade_status::reject_symbol) == 1);
  CHECK(e.symbol_count() == 1);
}

TEST_CASE("quotes: invalid rejected, stale ignored, crossed kept and counted", "[engine]") {
  market_engine e(cfg_1_5_15());
  const auto x = e.symbol_index("X");
  CHECK(e.on_quote(x, t0, 99, 101) == quote_status::accepted);
  CHECK(e.on_quote(x, t0 - 1, 1, 2) == quote_status::stale);
  CHECK(e.on_quote(x, t0 + 1, std::nan(""), 2) == quote_status::rejected);
  CHECK(e.on_quote(x, t0 + 2, 101, 100) == quote_status::accepted);
  const auto st = e.state(x);
  CHECK(st["best_bid"].get<double>() == 101);
  CHECK(st["quotes"]["crossed"].get<int>() == 1);
  CHECK(st["last_price"].is_null());
}

TEST_CASE("engine configuration is validated", "[engine]") {
  engine_config c;
  c.timeframes_ns = {minute, 90 * sec};
  CHECK_THROWS_WITH(market_engine(c), Catch::Contains("not a multiple"));
  c.timeframes_ns = {minute, minute};
  CHECK_THROWS_WITH(market_engine(c), Catch::Contains("twice"));
  c.timeframes_ns = {};
  CHECK_THROWS_AS(market_engine(c), std::invalid_argument);
  c = engine_config{};
  c.max_trades = 0;
  CHECK_THROWS_WITH(market_engine(c), Catch::Contains("max_trades"));
}

TEST_CASE("a held symbol's bars close by trades only, so a backfill after a gap is not late", "[engine]") {
  engine_config c;
  c.timeframes_ns = {minute};
  market_engine held(c), live(c);
  const std::uint32_t a = held.symbol_index("BTCUSDT"), b = live.symbol_index("BTCUSDT");
  // Minute 0 traded, then the feed drops for three minutes; the held engine's clock moves on.
  for (auto* e : {&held, &live}) {
    const std::uint32_t s = e == &held ? a : b;
    (void)e->on_trade(s, tr(t0 + 10 * sec, 100.0, 1.0));
  }
  held.set_hold(a, true);
  CHECK(held.held(a));
  CHECK(held.advance_time(t0 + 3 * minute) == 0);  // nothing closed while held
  // The backfill delivers the missed trades, in order, after the clock passed them.
  for (std::int64_t m = 1; m <= 3; ++m) {
    CHECK(held.on_trade(a, tr(t0 + m * minute + sec, 100.0 + static_cast<double>(m), 1.0)) == trade_status::accepted);
    (void)live.on_trade(b, tr(t0 + m * minute + sec, 100.0 + static_cast<double>(m), 1.0));
  }
  held.set_hold(a, false);
  CHECK_FALSE(held.held(a));
  (void)held.advance_time(t0 + 5 * minute);
  (void)live.advance_time(t0 + 5 * minute);
  const auto hb = held.bars(a, 0, false), lb = live.bars(b, 0, false);
  REQUIRE(hb.size() == 4);
  REQUIRE(lb.size() == 4);
  CHECK(hb.start_ns == lb.start_ns);
  CHECK(hb.close == lb.close);
  CHECK(hb.trades == lb.trades);
  // Without the hold the same late trades are rejected.
  market_engine unheld(c);
  const std::uint32_t u = unheld.symbol_index("BTCUSDT");
  (void)unheld.on_trade(u, tr(t0 + 10 * sec, 100.0, 1.0));
  (void)unheld.advance_time(t0 + 3 * minute);
  CHECK(unheld.on_trade(u, tr(t0 + minute + sec, 101.0, 1.0)) == trade_status::late);
}
