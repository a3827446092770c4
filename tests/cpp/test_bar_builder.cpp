#include <catch2/catch.hpp>
#include <cmath>
#include <limits>
#include <vector>

#include "helpers.hpp"
#include "montalaq/market/bar_builder.hpp"

using namespace montalaq::market;
using test::minute;
using test::sec;
using test::t0;

namespace {
batch_result run(const std::vector<std::int64_t>& ts, const std::vector<double>& px, const std::vector<double>& sz,
                 const std::vector<std::int8_t>& side = {}, bool fill = false) {
  batch_options o;
  o.tf_ns = minute;
  o.fill_gaps = fill;
  return build_bars(ts, px, sz, side, o);
}
}  // namespace

TEST_CASE("bars are epoch-aligned, left-closed and labelled by start", "[bars]") {
  const std::vector<std::int64_t> ts{t0 + 1 * sec, t0 + 30 * sec, t0 + minute - 1, t0 + minute, t0 + 2 * minute + 5};
  const std::vector<double> px{10, 12, 9, 11, 13};
  const std::vector<double> sz{1, 2, 1, 4, 1};
  const std::vector<std::int8_t> side{1, -1, 1, 0, 1};
  const auto r = run(ts, px, sz, side);
  REQUIRE(r.bars.size() == 3);
  CHECK(r.bars.start_ns[0] == t0);
  CHECK(r.bars.open[0] == 10);
  CHECK(r.bars.high[0] == 12);
  CHECK(r.bars.low[0] == 9);
  CHECK(r.bars.close[0] == 9);
  CHECK(r.bars.volume[0] == 4);
  CHECK(r.bars.vwap[0] == Approx((10 * 1 + 12 * 2 + 9 * 1) / 4.0));
  CHECK(r.bars.trades[0] == 3);
  CHECK(r.bars.buy_volume[0] == 2);
  CHECK(r.bars.start_ns[1] == t0 + minute);  // a trade exactly at the end opens the next bar
  CHECK(r.bars.start_ns[2] == t0 + 2 * minute);
  CHECK(r.stats.accepted == 5);
}

TEST_CASE("invalid rows are rejected by reason and never reach a bar", "[bars]") {
  const double nan = std::numeric_limits<double>::quiet_NaN();
  const double inf = std::numeric_limits<double>::infinity();
  const std::vector<std::int64_t> ts{t0, 0, -5, t0 + 1, t0 + 2, t0 + 3, t0 + 4, t0 + 5, t0 + 6};
  const std::vector<double> px{10, 10, 10, nan, inf, -1, 0, 10, 11};
  const std::vector<double> sz{1, 1, 1, 1, 1, 1, 1, nan, 2};
  const auto r = run(ts, px, sz);
  CHECK(r.stats.accepted == 2);
  CHECK(r.stats.reject_ts == 2);
  CHECK(r.stats.reject_price == 4);
  CHECK(r.stats.reject_size == 1);
  REQUIRE(r.bars.size() == 1);
  CHECK(r.bars.high[0] == 11);
  CHECK(r.bars.volume[0] == 3);
}

TEST_CASE("unsorted input is refused, naming the row", "[bars]") {
  const std::vector<std::int64_t> ts{t0 + 5, t0 + 1};
  const std::vector<double> px{1, 1}, sz{1, 1};
  CHECK_THROWS_WITH(run(ts, px, sz), Catch::Contains("row 1") && Catch::Contains("sort=True"));
  CHECK(first_unsorted(ts, px, sz) == 1);
  const auto order = stable_order(ts);
  CHECK(order == std::vector<std::size_t>{1, 0});
}

TEST_CASE("mismatched lengths are refused", "[bars]") {
  const std::vector<std::int64_t> ts{t0, t0 + 1};
  const std::vector<double> px{1}, sz{1, 1};
  CHECK_THROWS_AS(run(ts, px, sz), std::invalid_argument);
}

TEST_CASE("fill_gaps emits flat bars at the previous close", "[bars]") {
  const std::vector<std::int64_t> ts{t0 + 1, t0 + 3 * minute + 1};
  const std::vector<double> px{10, 20}, sz{1, 1};
  const auto r = run(ts, px, sz, {}, true);
  REQUIRE(r.bars.size() == 4);
  for (int i = 1; i <= 2; ++i) {
    CHECK(r.bars.start_ns[static_cast<std::size_t>(i)] == t0 + i * minute);
    CHECK(r.bars.open[static_cast<std::size_t>(i)] == 10);
    CHECK(r.bars.close[static_cast<std::size_t>(i)] == 10);
    CHECK(r.bars.vwap[static_cast<std::size_t>(i)] == 10);
    CHECK(r.bars.volume[static_cast<std::size_t>(i)] == 0);
    CHECK(r.bars.trades[static_cast<std::size_t>(i)] == 0);
  }
  CHECK(run(ts, px, sz).bars.size() == 2);
}

TEST_CASE("a gap longer than max_fill_bars is left unfilled and counted", "[bars]") {
  const std::vector<std::int64_t> ts{t0 + 1, t0 + 1000 * minute};
  const std::vector<double> px{10, 20}, sz{1, 1};
  batch_options o;
  o.tf_ns = minute;
  o.fill_gaps = true;
  o.max_fill_bars = 10;
  const auto r = build_bars(ts, px, sz, {}, o);
  CHECK(r.bars.size() == 2);
  CHECK(r.stats.gaps_unfilled == 1);
}

TEST_CASE("threaded batch equals one thread, bar for bar, with gaps and bad rows", "[bars]") {
  std::vector<std::int64_t> ts;
  std::vector<double> px, sz;
  std::vector<std::int8_t> side;
  std::int64_t t = t0;
  const std::size_t n = 3 * min_rows_per_thread + 12'345;
  for (std::size_t i = 0; i < n; ++i) {
    t += static_cast<std::int64_t>((i * 7919) % 97) * 10'000'000;  // quiet stretches leave empty minutes
    if (i % 50'000 == 0) t += 7 * minute;
    ts.push_back(i % 10'007 == 5 ? 0 : t);  // some invalid rows, also at cut candidates
    px.push_back(i % 9'973 == 3 ? std::numeric_limits<double>::quiet_NaN() : 100.0 + static_cast<double>(i % 113));
    sz.push_back(1.0 + static_cast<double>(i % 7));
    side.push_back(static_cast<std::int8_t>(static_cast<int>(i % 3) - 1));
  }
  for (const bool fill : {false, true}) {
    batch_options one;
    one.tf_ns = minute;
    one.fill_gaps = fill;
    batch_options many = one;
    many.threads = 4;
    const auto a = build_bars(ts, px, sz, side, one);
    const auto b = build_bars(ts, px, sz, side, many);
    REQUIRE(a.bars.size() == b.bars.size());
    for (std::size_t i = 0; i < a.bars.size(); ++i) {
      REQUIRE(a.bars.start_ns[i] == b.bars.start_ns[i]);
      REQUIRE(a.bars.open[i] == b.bars.open[i]);
      REQUIRE(a.bars.close[i] == b.bars.close[i]);
      REQUIRE(a.bars.volume[i] == b.bars.volume[i]);  // same order of additions: bit-identical
      REQUIRE(a.bars.vwap[i] == b.bars.vwap[i]);
      REQUIRE(a.bars.trades[i] == b.bars.trades[i]);
      REQUIRE(a.bars.buy_volume[i] == b.bars.buy_volume[i]);
    }
    CHECK(a.stats.accepted == b.stats.accepted);
    CHECK(a.stats.reject_ts == b.stats.reject_ts);
    CHECK(a.stats.reject_price == b.stats.reject_price);
    CHECK(a.stats.gaps_unfilled == b.stats.gaps_unfilled);
  }
  // An out-of-order row anywhere, even right at a cut, names the same row as one thread.
  for (const std::size_t bad : {std::size_t{1}, n / 4, n / 2 + 1, n - 1}) {
    auto ts2 = ts;
    ts2[bad] = t0 - 1;
    batch_options many;
    many.tf_ns = minute;
    many.threads = 4;
    const std::int64_t expect = first_unsorted(ts2, px, sz);
    REQUIRE(expect >= 0);
    CHECK_THROWS_WITH(build_bars(ts2, px, sz, side, many), Catch::Contains("row " + std::to_string(expect) + " "));
  }
}
