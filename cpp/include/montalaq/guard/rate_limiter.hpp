#pragma once
// Per-key sliding-window rate limiter (docs/semantics.md, Guards): at most `limit` acquisitions in any
// window of `window_ns`. Exact (a log of the last `limit` acquisition times per key, kept
// in a fixed ring), O(1) per call, and bounded: past `max_keys` idle keys are purged, and
// a new key is denied while `max_keys` keys are all active.
// "Over the limit" is an answer (false), never a silent drop: the caller folds it into a
// digest. Time is passed in; thread safety: none inside (the binding relies on the GIL).
#include <cstdint>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

namespace montalaq::guard {

class rate_limiter {
 public:
  rate_limiter(int limit, std::int64_t window_ns, std::size_t max_keys = 100'000);

  // Takes a slot if the key has fewer than `limit` acquisitions in (now - window, now].
  bool try_acquire(std::string_view key, std::int64_t now_ns);
  // Slots left now, and ns until the next slot frees (0 if one is free).
  [[nodiscard]] int remaining(std::string_view key, std::int64_t now_ns) const;
  [[nodiscard]] std::int64_t retry_after_ns(std::string_view key, std::int64_t now_ns) const;
  // Drops keys whose window is empty; returns how many were dropped.
  std::size_t purge(std::int64_t now_ns);

  [[nodiscard]] int limit() const noexcept { return limit_; }
  [[nodiscard]] std::int64_t window_ns() const noexcept { return window_ns_; }
  [[nodiscard]] std::size_t keys() const noexcept { return slots_.size(); }
  [[nodiscard]] std::int64_t denied() const noexcept { return denied_; }

 private:
  struct window {
    std::vector<std::int64_t> times;  // ring of the last `limit` acquisition times
    std::size_t head = 0;             // oldest entry once full
    [[nodiscard]] bool full(int limit) const noexcept { return times.size() == static_cast<std::size_t>(limit); }
    [[nodiscard]] std::int64_t oldest() const noexcept { return times.empty() ? 0 : times[head % times.size()]; }
    [[nodiscard]] std::int64_t newest(int limit) const noexcept;
  };
  struct string_hash {
    using is_transparent = void;
    std::size_t operator()(std::string_view s) const noexcept { return std::hash<std::string_view>{}(s); }
  };

  int limit_;
  std::int64_t window_ns_;
  std::size_t max_keys_;
  std::int64_t denied_ = 0;
  std::unordered_map<std::string, window, string_hash, std::equal_to<>> slots_;
};

}  // namespace montalaq::guard
