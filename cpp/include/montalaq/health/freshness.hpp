#pragma once
// Freshness of a (symbol, timeframe) from the age of its last accepted trade (docs/semantics.md, Health core).
#include <cstdint>
#include <string_view>
#include <vector>

namespace montalaq::health {

// closed: outside the pair's market calendar sessions (docs/semantics.md, "Market
// calendars"); only the escalation board produces it, classify() never does.
enum class colour : std::uint8_t { green = 0, amber, red, closed };
[[nodiscard]] std::string_view to_string(colour c) noexcept;

struct freshness_thresholds {
  std::int64_t amber_after_ns;  // GREEN while age <= this
  std::int64_t red_after_ns;    // AMBER while age <= this, RED beyond
};

class freshness {
 public:
  // Defaults: amber_after = 1.5 tf, red_after = 3 tf. Multipliers must be > 0 and
  // amber <= red (std::invalid_argument otherwise).
  explicit freshness(double amber_mult = 1.5, double red_mult = 3.0);

  // Per-timeframe override; throws std::invalid_argument unless 0 < amber <= red.
  void set_override(std::int64_t tf_ns, freshness_thresholds t);
  [[nodiscard]] freshness_thresholds thresholds(std::int64_t tf_ns) const;

  // last_tick_ns <= 0 means "never received": RED. A tick in the future (clock skew) has
  // age 0: GREEN.
  [[nodiscard]] colour classify(std::int64_t tf_ns, std::int64_t now_ns, std::int64_t last_tick_ns) const {
    if (last_tick_ns <= 0) return colour::red;
    const freshness_thresholds t = thresholds(tf_ns);
    const std::int64_t age = now_ns > last_tick_ns ? now_ns - last_tick_ns : 0;
    if (age <= t.amber_after_ns) return colour::green;
    if (age <= t.red_after_ns) return colour::amber;
    return colour::red;
  }

  [[nodiscard]] double amber_mult() const noexcept { return amber_mult_; }
  [[nodiscard]] double red_mult() const noexcept { return red_mult_; }
  struct override_entry {
    std::int64_t tf_ns;
    freshness_thresholds t;
  };
  [[nodiscard]] const std::vector<override_entry>& overrides() const noexcept { return overrides_; }

 private:
  double amber_mult_, red_mult_;
  std::vector<override_entry> overrides_;  // few entries: a linear scan beats a map
};

}  // namespace montalaq::health
