#pragma once
// The error taxonomy shared by C++ and Python (docs/semantics.md, Guards).
#include <cstdint>
#include <optional>
#include <string_view>

namespace montalaq::guard {

enum class error_code : std::uint16_t {
  ingestion_timeout = 0,
  provider_disconnected,
  duplicate_tick,
  freshness_threshold_exceeded,
  analysis_err,
  circuit_open,
  rate_limited,
  unknown,
};
inline constexpr int error_code_count = 8;

[[nodiscard]] constexpr std::string_view to_string(error_code c) noexcept {
  switch (c) {
    case error_code::ingestion_timeout: return "INGESTION_TIMEOUT";
    case error_code::provider_disconnected: return "PROVIDER_DISCONNECTED";
    case error_code::duplicate_tick: return "DUPLICATE_TICK";
    case error_code::freshness_threshold_exceeded: return "FRESHNESS_THRESHOLD_EXCEEDED";
    case error_code::analysis_err: return "ANALYSIS_ERR";
    case error_code::circuit_open: return "CIRCUIT_OPEN";
    case error_code::rate_limited: return "RATE_LIMITED";
    case error_code::unknown: return "UNKNOWN";
  }
  return "UNKNOWN";
}

[[nodiscard]] constexpr std::optional<error_code> parse_error_code(std::string_view s) noexcept {
  for (int i = 0; i < error_code_count; ++i) {
    const auto c = static_cast<error_code>(i);
    if (to_string(c) == s) return c;
  }
  return std::nullopt;
}

}  // namespace montalaq::guard
