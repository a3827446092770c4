#include "montalaq/health/freshness.hpp"

#include <algorithm>
#include <cmath>
#include <stdexcept>
#include <string>

namespace montalaq::health {

std::string_view to_string(colour c) noexcept {
  switch (c) {
    case colour::green: return "GREEN";
    case colour::amber: return "AMBER";
    case colour::red: return "RED";
    case colour::closed: return "CLOSED";
  }
  return "RED";
}

freshness::freshness(double amber_mult, double red_mult) : amber_mult_(amber_mult), red_mult_(red_mult) {
  if (!(amber_mult > 0) || !std::isfinite(amber_mult) || !(red_mult > 0) || !std::isfinite(red_mult)) {
    throw std::invalid_argument("freshness: amber_mult and red_mult must be finite and > 0");
  }
  if (amber_mult > red_mult) {
    throw std::invalid_argument("freshness: amber_mult (" + std::to_string(amber_mult) + ") must be <= red_mult (" +
                                std::to_string(red_mult) + ")");
  }
}

void freshness::set_override(std::int64_t tf_ns, freshness_thresholds t) {
  if (tf_ns <= 0) throw std::invalid_argument("freshness override: timeframe must be > 0");
  if (t.amber_after_ns <= 0 || t.amber_after_ns > t.red_after_ns) {
    throw std::invalid_argument("freshness override: need 0 < amber_after <= red_after");
  }
  for (auto& o : overrides_) {
    if (o.tf_ns == tf_ns) {
      o.t = t;
      return;
    }
  }
  overrides_.push_back({tf_ns, t});
}

freshness_thresholds freshness::thresholds(std::int64_t tf_ns) const {
  for (const auto& o : overrides_) {
    if (o.tf_ns == tf_ns) return o.t;
  }
  // Saturate: tf x a large multiplier must mean "a very long time", never wrap negative.
  const auto scaled = [tf = static_cast<double>(tf_ns)](double mult) {
    const double v = std::round(tf * mult);
    constexpr double cap = 9.0e18;  // below INT64_MAX, exactly representable
    return v >= cap ? static_cast<std::int64_t>(cap) : std::max<std::int64_t>(1, static_cast<std::int64_t>(v));
  };
  return {scaled(amber_mult_), scaled(red_mult_)};
}

}  // namespace montalaq::health
