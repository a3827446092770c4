#pragma once
// Timeframe strings "<n><unit>" (unit s, m, h, d) <-> nanoseconds.
#include <cstdint>
#include <string>
#include <string_view>

namespace montalaq::market {

inline constexpr std::int64_t ns_per_second = 1'000'000'000LL;

// Throws std::invalid_argument naming the accepted forms for anything else
// ("1m", "5m", "15m", "1h", "1d"; n a positive integer without sign or spaces).
[[nodiscard]] std::int64_t parse_timeframe_ns(std::string_view text);

// Canonical label: the largest unit that divides the span ("60s" -> "1m").
[[nodiscard]] std::string timeframe_label(std::int64_t tf_ns);

}  // namespace montalaq::market
