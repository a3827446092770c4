#pragma once
// Native logging: spdlog into a bounded in-memory buffer that Python drains, so the core
// never needs the GIL to log (SPEC §2). Never called per trade.
#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include <spdlog/spdlog.h>

namespace montalaq::log {

struct record {
  std::int64_t ts_ns;  // wall-clock time the record was made
  int level;           // spdlog::level::level_enum value
  std::string logger;
  std::string message;
};

// The shared "montalaq" logger (created on first use, level warn).
[[nodiscard]] spdlog::logger& logger();
void set_level(spdlog::level::level_enum level);
// Removes and returns up to `max_records` buffered records, oldest first.
[[nodiscard]] std::vector<record> drain(std::size_t max_records = 100'000);
// Records dropped because the buffer was full (the oldest go first).
[[nodiscard]] std::int64_t dropped();
inline constexpr std::size_t buffer_capacity = 10'000;

}  // namespace montalaq::log
