#include "montalaq/market/features.hpp"

#include <algorithm>
#include <cmath>
#include <stdexcept>
#include <string>

namespace montalaq::market {
namespace {

constexpr double nan = std::numeric_limits<double>::quiet_NaN();

void check_param(const char* name, int v) {
  if (v < 1 || v > 100'000) {
    throw std::invalid_argument(std::string(name) + " must be an integer in [1, 100000]; got " + std::to_string(v));
  }
}

double true_range(const bar& b, double prev_close) {
  return std::max({b.high - b.low, std::abs(b.high - prev_close), std::abs(b.low - prev_close)});
}

}  // namespace

void feature_params::validate() const {
  check_param("atr_n", atr_n);
  check_param("mom_k", mom_k);
  check_param("vwap_n", vwap_n);
  check_param("rvol_n", rvol_n);
}

feature_state::feature_state(const feature_params& p)
    : p_(p),
      closes_(static_cast<std::size_t>(std::max(p.mom_k, 1))),
      vwap_pv_(static_cast<std::size_t>(std::max(p.vwap_n, 1))),
      vwap_vol_(static_cast<std::size_t>(std::max(p.vwap_n, 1))),
      rvol_vol_(static_cast<std::size_t>(std::max(p.rvol_n, 1))) {
  p_.validate();
}

feature_values feature_state::update(const bar& b) {
  feature_values out;
  const std::int64_t i = count_;

  // ATR, Wilder, TA-Lib convention: TR from bar 1; ATR_n = mean(TR_1..TR_n); then recursive.
  if (i >= 1) {
    const double tr = true_range(b, prev_close_);
    const std::int64_t n = p_.atr_n;
    if (i < n) {
      tr_sum_ += tr;
    } else if (i == n) {
      tr_sum_ += tr;
      atr_ = tr_sum_ / static_cast<double>(n);
    } else {
      atr_ = (atr_ * static_cast<double>(n - 1) + tr) / static_cast<double>(n);
    }
  }
  out.atr = atr_;

  // Momentum over k bars: closes_ holds the previous k closes, oldest first.
  if (closes_.full()) out.mom_bps = (b.close / closes_.front() - 1.0) * 1e4;
  closes_.push(b.close);

  // Price vs rolling VWAP over the last vwap_n bars including this one.
  const double pv = b.vwap * b.volume;
  double old_pv = 0, old_vol = 0;
  const bool evicted = vwap_pv_.full();
  if (evicted) {
    old_pv = vwap_pv_.front();
    old_vol = vwap_vol_.front();
  }
  vwap_pv_.push(pv);
  vwap_vol_.push(b.volume);
  if (evicted) {
    pv_sum_.sub(old_pv);
    vol_sum_.sub(old_vol);
    if (old_vol != 0) --vol_nonzero_;
  }
  pv_sum_.add(pv);
  vol_sum_.add(b.volume);
  if (b.volume != 0) ++vol_nonzero_;
  if (vol_nonzero_ > 0) {
    const double vwap_n = pv_sum_.value() / vol_sum_.value();
    out.px_vs_vwap_bps = (b.close / vwap_n - 1.0) * 1e4;
  }

  // Relative volume against the mean of the previous rvol_n bars.
  if (rvol_vol_.full() && rvol_nonzero_ > 0) {
    const double mean = rvol_sum_.value() / static_cast<double>(p_.rvol_n);
    out.rvol = b.volume / mean;
  }
  double old_rv = 0;
  const bool rv_evicted = rvol_vol_.full();
  if (rv_evicted) old_rv = rvol_vol_.front();
  rvol_vol_.push(b.volume);
  if (rv_evicted) {
    rvol_sum_.sub(old_rv);
    if (old_rv != 0) --rvol_nonzero_;
  }
  rvol_sum_.add(b.volume);
  if (b.volume != 0) ++rvol_nonzero_;

  prev_close_ = b.close;
  ++count_;
  return out;
}

bool feature_state::restore(std::span<const bar> history, std::span<const feature_values> values,
                            std::int64_t first_index) {
  const auto m = static_cast<std::int64_t>(history.size());
  const std::int64_t next = first_index + m;  // global index of the bar that comes next
  const std::int64_t need = std::max<std::int64_t>({p_.mom_k, p_.vwap_n - 1, p_.rvol_n});
  const bool complete = first_index == 0;
  if (!complete && m < need) return false;
  if (!complete && next - 1 < p_.atr_n) return false;  // ATR still warming up: needs every TR
  if (complete) {
    feature_state fresh(p_);
    for (const bar& b : history) fresh.update(b);
    *this = std::move(fresh);
    return true;
  }
  feature_state s(p_);
  // Replay the last `need` bars for the rolling windows, then fix the ATR recursion and the
  // counters so the next update continues exactly where the original state would have.
  for (std::int64_t j = m - need; j < m; ++j) s.update(history[static_cast<std::size_t>(j)]);
  s.count_ = next;
  s.atr_ = values.back().atr;
  s.prev_close_ = history.back().close;
  *this = std::move(s);
  return true;
}

void feature_columns::push(const feature_values& v) {
  atr.push_back(v.atr);
  mom_bps.push_back(v.mom_bps);
  px_vs_vwap_bps.push_back(v.px_vs_vwap_bps);
  rvol.push_back(v.rvol);
}

feature_columns compute_features(const bar_columns& bars, const feature_params& p) {
  feature_state st(p);
  feature_columns out;
  const std::size_t n = bars.size();
  out.atr.reserve(n);
  out.mom_bps.reserve(n);
  out.px_vs_vwap_bps.reserve(n);
  out.rvol.reserve(n);
  for (std::size_t i = 0; i < n; ++i) out.push(st.update(bars.at(i)));
  return out;
}

}  // namespace montalaq::market
