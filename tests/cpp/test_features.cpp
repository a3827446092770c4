#include <catch2/catch.hpp>
#include <cmath>
#include <vector>

#include "montalaq/market/features.hpp"

using namespace montalaq::market;

namespace {
bar mk(double o, double h, double l, double c, double v, double vwap) {
  bar b;
  b.open = o;
  b.high = h;
  b.low = l;
  b.close = c;
  b.volume = v;
  b.vwap = vwap;
  return b;
}
}  // namespace

TEST_CASE("ATR follows the TA-Lib convention: first value at index n, mean of TR_1..TR_n", "[features]") {
  feature_params p;
  p.atr_n = 3;
  feature_state st(p);
  const std::vector<bar> bars{mk(10, 11, 9, 10, 1, 10), mk(10, 12, 10, 11, 1, 11), mk(11, 11, 8, 9, 1, 9),
                              mk(9, 10, 9, 10, 1, 10), mk(10, 15, 10, 14, 1, 14)};
  std::vector<double> atr;
  for (const auto& b : bars) atr.push_back(st.update(b).atr);
  CHECK(std::isnan(atr[0]));
  CHECK(std::isnan(atr[1]));
  CHECK(std::isnan(atr[2]));
  // TR_1 = max(2, |12-10|, |10-10|) = 2; TR_2 = max(3, 0, 3) = 3; TR_3 = max(1, 1, 0) = 1
  CHECK(atr[3] == Approx(2.0));
  // TR_4 = max(5, 5, 0) = 5; Wilder: (2*2 + 5)/3 = 3
  CHECK(atr[4] == Approx(3.0));
}

TEST_CASE("momentum, px vs rolling vwap and relative volume", "[features]") {
  feature_params p;
  p.mom_k = 2;
  p.vwap_n = 2;
  p.rvol_n = 2;
  feature_state st(p);
  const auto f0 = st.update(mk(1, 1, 1, 100, 10, 100));
  const auto f1 = st.update(mk(1, 1, 1, 110, 30, 105));
  const auto f2 = st.update(mk(1, 1, 1, 121, 20, 120));
  CHECK(std::isnan(f0.mom_bps));
  CHECK(std::isnan(f1.mom_bps));
  CHECK(f2.mom_bps == Approx((121.0 / 100.0 - 1) * 1e4));
  CHECK(f0.px_vs_vwap_bps == Approx(0.0).margin(1e-12));
  // window of 2 at bar 2: (105*30 + 120*20) / 50 = 111
  CHECK(f2.px_vs_vwap_bps == Approx((121.0 / 111.0 - 1) * 1e4));
  CHECK(std::isnan(f0.rvol));
  CHECK(std::isnan(f1.rvol));
  CHECK(f2.rvol == Approx(20.0 / 20.0));
}

TEST_CASE("rvol and px_vs_vwap are undefined over all-zero volume windows", "[features]") {
  feature_params p;
  p.vwap_n = 2;
  p.rvol_n = 2;
  feature_state st(p);
  st.update(mk(1, 1, 1, 1, 1e9, 1));
  st.update(mk(1, 1, 1, 1, 0, 1));
  st.update(mk(1, 1, 1, 1, 0, 1));
  const auto f = st.update(mk(1, 1, 1, 1, 0, 1));
  CHECK(std::isnan(f.px_vs_vwap_bps));
  CHECK(std::isnan(f.rvol));
  // A huge bar leaving the window leaves no residue behind.
  const auto g = st.update(mk(1, 1, 1, 2, 1e-3, 2));
  CHECK(g.px_vs_vwap_bps == Approx(0.0).margin(1e-9));
}

TEST_CASE("restore continues exactly like the original state", "[features]") {
  feature_params p;
  p.atr_n = 3;
  p.mom_k = 2;
  p.vwap_n = 4;
  p.rvol_n = 3;
  std::vector<bar> bars;
  for (int i = 0; i < 40; ++i) {
    const double c = 100 + std::sin(i * 0.7) * 5;
    bars.push_back(mk(c, c + 1 + (i % 3), c - 1, c, 10 + (i * 7) % 13, c - 0.1));
  }
  feature_state full(p);
  std::vector<feature_values> vals;
  for (const auto& b : bars) vals.push_back(full.update(b));
  // Restore from bars 20..29 (global index 20), then continue with 30..39.
  feature_state r(p);
  const std::span<const bar> hist(bars.data() + 20, 10);
  const std::span<const feature_values> hv(vals.data() + 20, 10);
  REQUIRE(r.restore(hist, hv, 20));
  for (std::size_t i = 30; i < bars.size(); ++i) {
    const auto a = r.update(bars[i]);
    CHECK(a.atr == Approx(vals[i].atr).epsilon(1e-12));
    CHECK(a.mom_bps == Approx(vals[i].mom_bps).epsilon(1e-12));
    CHECK(a.px_vs_vwap_bps == Approx(vals[i].px_vs_vwap_bps).epsilon(1e-9));
    CHECK(a.rvol == Approx(vals[i].rvol).epsilon(1e-12));
  }
  feature_state too_short(p);
  CHECK_FALSE(too_short.restore(std::span<const bar>(bars.data() + 20, 2),
                                std::span<const feature_values>(vals.data() + 20, 2), 20));
}

TEST_CASE("feature parameters are validated", "[features]") {
  feature_params p;
  p.atr_n = 0;
  CHECK_THROWS_WITH(feature_state(p), Catch::Contains("atr_n"));
}
