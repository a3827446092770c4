#pragma once
// Native logging: spdlog into a bounded in-memory buffer that Python drains, so the core
// never needs the GIL to log (docs/semantics.md, Time values in Python). Never called per trade.
#include <cstdint>
#include <memory>
#include <string>
#include <string_view>
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
// A logger named for a component ("alert"): same buffer and level as logger(), so Python
// sees the component as the record's logger name. Created on first use, never destroyed;
// look it up once (a lock and a map search), not per call.
[[nodiscard]] spdlog::logger& logger(std::string_view component);
// Sets the level of logger() and of every component logger.
void set_level(spdlog::level::level_enum level);
// Removes and returns up to `max_records` buffered records, oldest first.
[[nodiscard]] std::vector<record> drain(std::size_t max_records = 100'000);
// Records dropped because the buffer was full (the oldest go first).
[[nodiscard]] std::int64_t dropped();
inline constexpr std::size_t buffer_capacity = 10'000;

}  // namespace montalaq::log
