#pragma once
// The retry schedule of docs/semantics.md, Guards: attempt n (n >= 1) waits
//   min(max_delay, base * 2^(n-1)) * (1 + U(-jitter, +jitter))
// before the next try, for at most max_attempts attempts. A seed makes the jitter (and so
// the whole schedule) reproducible; without one the RNG is seeded from the OS.
#include <array>
#include <cstdint>
#include <optional>
#include <vector>

namespace montalaq::guard {

struct retry_config {
  int max_attempts = 3;
  double base_s = 1.0;
  double jitter = 0.2;  // fraction in [0, 1)
  double max_delay_s = 60.0;
  void validate() const;  // std::invalid_argument naming the field
};

// xoshiro256**: small, fast, and the same sequence on every platform for a given seed.
class xoshiro256 {
 public:
  explicit xoshiro256(std::uint64_t seed) noexcept;
  std::uint64_t next() noexcept;
  double uniform01() noexcept { return static_cast<double>(next() >> 11) * 0x1.0p-53; }  // [0, 1)

 private:
  std::array<std::uint64_t, 4> s_{};
};

class retry_schedule {
 public:
  explicit retry_schedule(retry_config cfg, std::optional<std::uint64_t> seed = std::nullopt);

  // The wait after attempt `attempt` (1-based) failed, in seconds; draws the jitter.
  double delay_s(int attempt);
  // The waits between the attempts of one call: max_attempts - 1 values, from a fresh
  // generator (so with a seed every call of delays() returns the same list).
  [[nodiscard]] std::vector<double> delays() const;
  [[nodiscard]] const retry_config& config() const noexcept { return cfg_; }
  // The un-jittered delay: min(max_delay, base * 2^(attempt-1)).
  [[nodiscard]] double nominal_s(int attempt) const;

 private:
  retry_config cfg_;
  std::uint64_t seed_;
  xoshiro256 rng_;
};

}  // namespace montalaq::guard
