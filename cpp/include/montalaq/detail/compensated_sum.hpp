#pragma once
// Neumaier-compensated running sum. Rolling windows add the newest value and subtract the
// oldest; without compensation a single huge bar leaves residue that corrupts the window
// long after it has left, and streaming would drift away from a fresh batch computation.

namespace montalaq::detail {

class compensated_sum {
 public:
  void add(double x) noexcept {
    const double t = sum_ + x;
    if ((sum_ >= 0 ? sum_ : -sum_) >= (x >= 0 ? x : -x)) {
      comp_ += (sum_ - t) + x;
    } else {
      comp_ += (x - t) + sum_;
    }
    sum_ = t;
  }
  void sub(double x) noexcept { add(-x); }
  [[nodiscard]] double value() const noexcept { return sum_ + comp_; }
  void reset() noexcept { sum_ = comp_ = 0.0; }

 private:
  double sum_ = 0.0;
  double comp_ = 0.0;
};

}  // namespace montalaq::detail
