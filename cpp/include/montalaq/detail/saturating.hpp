#pragma once
// Time differences that cannot overflow: a state document or a caller may hand the core
// any int64 (INT64_MIN included), and `now - then` on two such values is undefined
// behaviour in C++. The difference saturates at the int64 limits instead, which compares
// the way the true difference would against any window or cooldown.
#include <cstdint>
#include <limits>

namespace montalaq::detail {

[[nodiscard]] constexpr std::int64_t elapsed(std::int64_t now, std::int64_t then) noexcept {
  std::int64_t out = 0;
  if (__builtin_sub_overflow(now, then, &out)) {
    return now > then ? std::numeric_limits<std::int64_t>::max() : std::numeric_limits<std::int64_t>::min();
  }
  return out;
}

}  // namespace montalaq::detail
