#include "montalaq/guard/retry.hpp"

#include <algorithm>
#include <cmath>
#include <random>
#include <stdexcept>
#include <string>

namespace montalaq::guard {
namespace {

std::uint64_t splitmix64(std::uint64_t& x) noexcept {
  std::uint64_t z = (x += 0x9e3779b97f4a7c15ULL);
  z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
  z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
  return z ^ (z >> 31);
}

std::uint64_t os_seed() {
  std::random_device rd;
  return (static_cast<std::uint64_t>(rd()) << 32) ^ rd();
}

std::uint64_t rotl(std::uint64_t x, int k) noexcept { return (x << k) | (x >> (64 - k)); }

}  // namespace

void retry_config::validate() const {
  if (max_attempts < 1 || max_attempts > 1000) throw std::invalid_argument("max_attempts must be in [1, 1000]");
  if (!std::isfinite(base_s) || base_s < 0) throw std::invalid_argument("base_s must be finite and >= 0");
  if (!std::isfinite(jitter) || jitter < 0 || jitter >= 1) throw std::invalid_argument("jitter must be in [0, 1)");
  if (!std::isfinite(max_delay_s) || max_delay_s < 0)
    throw std::invalid_argument("max_delay_s must be finite and >= 0");
}

xoshiro256::xoshiro256(std::uint64_t seed) noexcept {
  for (auto& w : s_) w = splitmix64(seed);
}

std::uint64_t xoshiro256::next() noexcept {
  const std::uint64_t result = rotl(s_[1] * 5, 7) * 9;
  const std::uint64_t t = s_[1] << 17;
  s_[2] ^= s_[0];
  s_[3] ^= s_[1];
  s_[1] ^= s_[2];
  s_[0] ^= s_[3];
  s_[2] ^= t;
  s_[3] = rotl(s_[3], 45);
  return result;
}

retry_schedule::retry_schedule(retry_config cfg, std::optional<std::uint64_t> seed)
    : cfg_(cfg), seed_(seed ? *seed : os_seed()), rng_(seed_) {
  cfg_.validate();
}

double retry_schedule::nominal_s(int attempt) const {
  if (attempt < 1) throw std::invalid_argument("attempt must be >= 1");
  // 2^(n-1) overflows double only past n ~ 1024; cap the exponent well before that.
  const double grown = cfg_.base_s * std::ldexp(1.0, std::min(attempt - 1, 1000));
  return std::min(cfg_.max_delay_s, grown);
}

double retry_schedule::delay_s(int attempt) {
  const double u = rng_.uniform01() * 2.0 - 1.0;  // [-1, 1)
  return nominal_s(attempt) * (1.0 + u * cfg_.jitter);
}

std::vector<double> retry_schedule::delays() const {
  retry_schedule fresh(cfg_, seed_);
  std::vector<double> out;
  for (int n = 1; n < cfg_.max_attempts; ++n) out.push_back(fresh.delay_s(n));
  return out;
}

}  // namespace montalaq::guard
