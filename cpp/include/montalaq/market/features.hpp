#pragma once
// Features over closed bars (docs/semantics.md, Market core). One incremental state object is used by both the
// batch function and the streaming engine, so the two agree to the last bit.
#include <cstdint>
#include <limits>
#include <span>
#include <vector>

#include "montalaq/detail/compensated_sum.hpp"
#include "montalaq/detail/ring.hpp"
#include "montalaq/market/bar.hpp"

namespace montalaq::market {

struct feature_params {
  int atr_n = 14;
  int mom_k = 1;
  int vwap_n = 20;
  int rvol_n = 20;
  void validate() const;  // throws std::invalid_argument for values < 1 or > 100000
};

struct feature_values {
  double atr = std::numeric_limits<double>::quiet_NaN();
  double mom_bps = std::numeric_limits<double>::quiet_NaN();
  double px_vs_vwap_bps = std::numeric_limits<double>::quiet_NaN();
  double rvol = std::numeric_limits<double>::quiet_NaN();
};

class feature_state {
 public:
  explicit feature_state(const feature_params& p = {});

  // O(1): consumes the next closed bar and returns its features (NaN where undefined).
  feature_values update(const bar& b);

  [[nodiscard]] std::int64_t bars_seen() const noexcept { return count_; }
  [[nodiscard]] const feature_params& params() const noexcept { return p_; }

  // Rebuilds the state as it stood after `history[n-1]`, where history holds the latest
  // closed bars with their features and `first_index` is the global index of history[0].
  // Returns false when too few bars are retained to do so exactly.
  bool restore(std::span<const bar> history, std::span<const feature_values> values, std::int64_t first_index);

 private:
  feature_params p_;
  std::int64_t count_ = 0;
  double prev_close_ = 0;
  double tr_sum_ = 0;  // Wilder warm-up: sum of TR_1..TR_n
  double atr_ = std::numeric_limits<double>::quiet_NaN();
  detail::ring<double> closes_;    // last mom_k closes
  detail::ring<double> vwap_pv_;   // last vwap_n (vwap*volume)
  detail::ring<double> vwap_vol_;  // last vwap_n volumes
  detail::ring<double> rvol_vol_;  // last rvol_n volumes (previous bars only)
  detail::compensated_sum pv_sum_, vol_sum_, rvol_sum_;
  int vol_nonzero_ = 0, rvol_nonzero_ = 0;  // exact emptiness tests despite rounding
};

struct feature_columns {
  std::vector<double> atr, mom_bps, px_vs_vwap_bps, rvol;
  [[nodiscard]] std::size_t size() const noexcept { return atr.size(); }
  void push(const feature_values& v);
};

[[nodiscard]] feature_columns compute_features(const bar_columns& bars, const feature_params& p);

}  // namespace montalaq::market
