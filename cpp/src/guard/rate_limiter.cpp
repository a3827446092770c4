#include "montalaq/guard/rate_limiter.hpp"

#include <stdexcept>

namespace montalaq::guard {

rate_limiter::rate_limiter(int limit, std::int64_t window_ns, std::size_t max_keys)
    : limit_(limit), window_ns_(window_ns), max_keys_(max_keys) {
  if (limit < 1 || limit > 10'000'000) throw std::invalid_argument("limit must be in [1, 10000000]");
  if (window_ns < 1) throw std::invalid_argument("window must be > 0");
  if (max_keys < 1) throw std::invalid_argument("max_keys must be >= 1");
}

std::int64_t rate_limiter::window::newest(int limit) const noexcept {
  if (times.empty()) return 0;
  if (!full(limit)) return times.back();
  return times[(head + times.size() - 1) % times.size()];
}

bool rate_limiter::try_acquire(std::string_view key, std::int64_t now_ns) {
  auto it = slots_.find(key);
  if (it == slots_.end()) {
    if (slots_.size() >= max_keys_) purge(now_ns);
    if (slots_.size() >= max_keys_) {
      // More distinct keys active in one window than allowed: a key flood. Deny (the
      // caller folds it into a digest) rather than grow without bound.
      ++denied_;
      return false;
    }
    it = slots_.emplace(std::string(key), window{}).first;
  }
  window& w = it->second;
  if (!w.full(limit_)) {
    w.times.push_back(now_ns);
    return true;
  }
  // Full: the oldest of the last `limit` acquisitions must have left the window.
  if (now_ns - w.times[w.head] < window_ns_) {
    ++denied_;
    return false;
  }
  w.times[w.head] = now_ns;
  w.head = (w.head + 1) % w.times.size();
  return true;
}

int rate_limiter::remaining(std::string_view key, std::int64_t now_ns) const {
  const auto it = slots_.find(key);
  if (it == slots_.end()) return limit_;
  int used = 0;
  for (const auto t : it->second.times) used += (now_ns - t < window_ns_) ? 1 : 0;
  return limit_ - used;
}

std::int64_t rate_limiter::retry_after_ns(std::string_view key, std::int64_t now_ns) const {
  const auto it = slots_.find(key);
  if (it == slots_.end() || !it->second.full(limit_)) return 0;
  const std::int64_t free_at = it->second.times[it->second.head] + window_ns_;
  return free_at > now_ns ? free_at - now_ns : 0;
}

std::size_t rate_limiter::purge(std::int64_t now_ns) {
  std::size_t dropped = 0;
  for (auto it = slots_.begin(); it != slots_.end();) {
    if (now_ns - it->second.newest(limit_) >= window_ns_) {
      it = slots_.erase(it);
      ++dropped;
    } else {
      ++it;
    }
  }
  return dropped;
}

}  // namespace montalaq::guard
