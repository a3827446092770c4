// The time domain and value bounds of the market core (issue 20): regressions for times
// near INT64_MAX and notionals that overflow, and a bounded random loop of extreme int64 and
// float values through the engine and the batch builder (run under ASan/UBSan by make test).
#include <catch2/catch.hpp>
#include <chrono>
#include <cmath>
#include <limits>
#include <random>
#include <vector>

#include "helpers.hpp"
#include "montalaq/market/bar_builder.hpp"
#include "montalaq/health/circuit_breaker.hpp"
#include "montalaq/health/escalation.hpp"
#include "montalaq/market/engine.hpp"

using namespace montalaq::market;
using test::minute;
using test::sec;
using test::t0;
using test::tr;

namespace {
constexpr std::int64_t int64_max = std::numeric_limits<std::int64_t>::max();
constexpr std::int64_t int64_min = std::numeric_limits<std::int64_t>::min();

engine_config cfg(std::vector<std::int64_t> tfs, bool fill = false) {
  engine_config c;
  c.timeframes_ns = std::move(tfs);
  c.fill_gaps = fill;
  return c;
}

batch_result batch(const std::vector<std::int64_t>& ts, std::int64_t tf, bool fill = false) {
  const std::vector<double> px(ts.size(), 1.0), sz(ts.size(), 1.0);
  batch_options o;
  o.tf_ns = tf;
  o.fill_gaps = fill;
  return build_bars(ts, px, sz, {}, o);
}
}  // namespace

TEST_CASE("times beyond 2^62 ns are rejected, never wrapped into bars", "[time_domain]") {
  const auto r = batch({int64_max - 5, int64_max - 1, int64_max}, minute);
  CHECK(r.bars.size() == 0);  // was: three bars with the same start
  CHECK(r.stats.reject_ts == 3);
  const auto filled = batch({max_ts_ns - minute, max_ts_ns, max_ts_ns + 1}, minute, true);
  CHECK(filled.stats.reject_ts == 1);
  CHECK(filled.bars.size() == 2);
  CHECK(filled.bars.start_ns[1] == max_ts_ns - max_ts_ns % minute);

  market_engine e(cfg({sec, minute}, true));
  const auto x = e.symbol_index("X");
  const std::vector<std::int64_t> ts{int64_max - 1'000'000'000, int64_max};
  const std::vector<double> one(2, 1.0);
  const auto started = std::chrono::steady_clock::now();
  const auto counts = e.on_trades(x, ts, one, one, {}, {});  // was: never returned, memory to OOM
  CHECK(counts[static_cast<std::size_t>(trade_status::reject_ts)] == 2);
  CHECK(e.advance_time(int64_max) == 0);
  CHECK(e.on_trade(x, tr(max_ts_ns - 2 * minute, 1, 1)) == trade_status::accepted);
  CHECK(e.on_trade(x, tr(max_ts_ns, 1, 1)) == trade_status::accepted);
  // Clamped to max_ts_ns: the bars before it close (with their flat fill), the bar holding
  // max_ts_ns stays open (its end is beyond every clock), nothing wraps.
  CHECK(e.advance_time(int64_max) == 0);
  REQUIRE(e.open_bar(x, 1));
  CHECK(e.open_bar(x, 1)->start_ns == max_ts_ns - max_ts_ns % minute);
  CHECK(e.bars(x, 1).size() == 2);
  CHECK(e.advance_time(int64_min) == 0);
  CHECK(std::chrono::steady_clock::now() - started < std::chrono::seconds(5));
}

TEST_CASE("a trade whose notional overflows is rejected and features stay finite", "[time_domain]") {
  market_engine e(cfg({minute}));
  const auto x = e.symbol_index("X");
  for (int i = 0; i < 30; ++i) REQUIRE(e.on_trade(x, tr(t0 + i * minute, 100 + i, 1)) == trade_status::accepted);
  CHECK(e.on_trade(x, tr(t0 + 30 * minute, 1e200, 1e200)) == trade_status::reject_size);    // both finite
  CHECK(e.on_trade(x, tr(t0 + 30 * minute, 1e-200, 1e-200)) == trade_status::reject_size);  // underflows to 0
  CHECK(validate(t0, 1e200, 1e200) == trade_status::reject_size);
  for (int i = 31; i < 40; ++i) REQUIRE(e.on_trade(x, tr(t0 + i * minute, 100 + i, 1)) == trade_status::accepted);
  const auto last = e.latest(x, 0);
  REQUIRE(last);
  CHECK(std::isfinite(last->second.px_vs_vwap_bps));
  CHECK(std::isfinite(last->second.rvol));
  const std::vector<std::int64_t> ts{t0, t0 + sec, t0 + 2 * sec};
  const std::vector<double> px{100, 1e200, 101}, sz{1, 1e200, 1};
  batch_options o;
  const auto r = build_bars(ts, px, sz, {}, o);
  CHECK(r.stats.reject_size == 1);
  REQUIRE(r.bars.size() == 1);
  CHECK(std::isfinite(r.bars.vwap[0]));
}

TEST_CASE("configurations that would overflow time arithmetic are refused", "[time_domain]") {
  CHECK_THROWS_AS(market_engine(cfg({int64_max})), std::invalid_argument);
  auto c = cfg({minute});
  c.close_grace_ns = int64_max;
  CHECK_THROWS_AS(market_engine(c), std::invalid_argument);
  c = cfg({minute});
  c.late_window_ns = int64_max;
  CHECK_THROWS_AS(market_engine(c), std::invalid_argument);
  batch_options o;
  o.tf_ns = int64_max;
  const std::vector<std::int64_t> ts{t0};
  const std::vector<double> one{1.0};
  CHECK_THROWS_AS(build_bars(ts, one, one, {}, o), std::invalid_argument);
}

TEST_CASE("random extreme trades never throw, hang or break the engine's invariants", "[time_domain][fuzz]") {
  // Bounded: a fixed number of seeds and trades, and a wall-clock cap per seed.
  const std::int64_t times[] = {int64_min,     -1,       0, 1, t0, max_ts_ns - 1, max_ts_ns, max_ts_ns + 1,
                                int64_max - 1, int64_max};
  const double values[] = {0.0,
                           -0.0,
                           -1.0,
                           1e-300,
                           1e-200,
                           1.0,
                           100.0,
                           1e200,
                           1e300,
                           std::numeric_limits<double>::max(),
                           std::numeric_limits<double>::denorm_min(),
                           std::numeric_limits<double>::infinity(),
                           std::numeric_limits<double>::quiet_NaN()};
  for (std::uint64_t seed = 1; seed <= 40; ++seed) {
    std::mt19937_64 rng(seed);
    engine_config c = cfg({sec, minute, 5 * minute}, seed % 2 == 0);
    c.late_window_ns = seed % 3 == 0 ? 10 * minute : 0;
    c.max_bars = 1 + static_cast<std::size_t>(rng() % 40);
    c.max_trades = 1 + static_cast<std::size_t>(rng() % 50);
    c.max_fill_bars = static_cast<std::int64_t>(rng() % 2000);
    c.features.atr_n = 1 + static_cast<int>(rng() % 5);
    market_engine e(c);
    const auto x = e.symbol_index("X");
    std::int64_t t = t0;
    const auto started = std::chrono::steady_clock::now();
    for (int i = 0; i < 3000; ++i) {
      const auto r = rng() % 10;
      std::int64_t ts = t;
      if (r == 0) {
        ts = times[rng() % std::size(times)];
      } else if (r < 3) {
        ts = t - static_cast<std::int64_t>(rng() % (20 * minute));  // late
      } else {
        t += static_cast<std::int64_t>(rng() % (3 * minute));
        ts = t;
      }
      const double p = rng() % 8 == 0 ? values[rng() % std::size(values)] : 50 + static_cast<double>(rng() % 100);
      const double q = rng() % 8 == 0 ? values[rng() % std::size(values)] : 1 + static_cast<double>(rng() % 10);
      trade td = tr(ts, p, q);
      td.has_id = rng() % 2 == 0;
      td.trade_id = rng() % 500;
      REQUIRE_NOTHROW(e.on_trade(x, td));
      if (rng() % 50 == 0) REQUIRE_NOTHROW(e.advance_time(rng() % 4 == 0 ? times[rng() % std::size(times)] : t));
      if (rng() % 200 == 0) REQUIRE_NOTHROW((void)e.on_quote(x, ts, p, q));
    }
    for (std::uint32_t tf = 0; tf < 3; ++tf) {
      const auto b = e.bars(x, tf, true);
      for (std::size_t k = 1; k < b.size(); ++k) REQUIRE(b.start_ns[k] > b.start_ns[k - 1]);
      for (std::size_t k = 0; k < b.size(); ++k) {
        REQUIRE(b.start_ns[k] >= 0);
        REQUIRE(b.start_ns[k] <= max_ts_ns);
        REQUIRE(std::isfinite(b.close[k]));
      }
    }
    REQUIRE(std::chrono::steady_clock::now() - started < std::chrono::seconds(20));
  }
}

TEST_CASE("random extreme batches never throw for sorted input and keep starts in range", "[time_domain][fuzz]") {
  for (std::uint64_t seed = 1; seed <= 30; ++seed) {
    std::mt19937_64 rng(seed);
    std::vector<std::int64_t> ts;
    std::int64_t t = static_cast<std::int64_t>(rng() % 2) == 0 ? t0 : max_ts_ns - 50 * minute;
    for (int i = 0; i < 500; ++i) {
      t += static_cast<std::int64_t>(rng() % (2 * minute));
      ts.push_back(rng() % 25 == 0 ? -static_cast<std::int64_t>(rng() % 100) : t);
    }
    if (seed % 5 == 0) ts.push_back(int64_max);
    const auto r = batch(ts, minute, seed % 2 == 0);
    for (std::size_t k = 0; k < r.bars.size(); ++k) {
      REQUIRE(r.bars.start_ns[k] > 0);
      REQUIRE(r.bars.start_ns[k] <= max_ts_ns);
      if (k) REQUIRE(r.bars.start_ns[k] > r.bars.start_ns[k - 1]);
    }
  }
}

TEST_CASE("state loaders take extreme numbers: they load and work, or refuse, never overflow",
          "[time_domain][fuzz][json]") {
  using montalaq::health::circuit_breaker;
  using montalaq::health::escalation_board;
  const std::int64_t extremes[] = {int64_min, int64_min + 1, -1, 0, 1, t0, max_ts_ns, int64_max - 1, int64_max};
  std::mt19937_64 rng(2026);
  circuit_breaker b;
  for (int i = 0; i < 3; ++i) b.record_failure(t0 + i * sec);
  escalation_board board;
  board.add_pair("P", minute);
  board.set_last_tick(0, t0);
  board.record_failure(0, t0, "X");
  (void)board.evaluate(t0 + minute);
  const auto breaker_doc = b.to_json();
  const auto board_doc = board.to_json();
  int loaded = 0, refused = 0;
  auto mutate = [&](nlohmann::json& j, auto&& self) -> void {
    if (j.is_number_integer()) {
      if (rng() % 3 == 0) j = extremes[rng() % std::size(extremes)];
    } else if (j.is_array() || j.is_object()) {
      for (auto& v : j) self(v, self);
    }
  };
  for (int iter = 0; iter < 2000; ++iter) {
    auto bd = breaker_doc;
    mutate(bd, mutate);
    try {
      auto x = circuit_breaker::from_json(bd);
      for (const auto now : extremes) {
        (void)x.allow(now);
        x.record_failure(now);
        (void)x.window_failures(now);
      }
      ++loaded;
    } catch (const std::invalid_argument&) {
      ++refused;
    }
    auto gd = board_doc;
    mutate(gd, mutate);
    try {
      auto y = escalation_board::from_json(gd);
      for (const auto now : extremes) (void)y.evaluate(now);
      ++loaded;
    } catch (const std::invalid_argument&) {
      ++refused;
    }
  }
  CHECK(loaded > 0);
  CHECK(refused > 0);
}
