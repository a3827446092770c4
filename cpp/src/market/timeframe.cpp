#include "montalaq/market/timeframe.hpp"

#include <limits>
#include <stdexcept>

namespace montalaq::market {
namespace {

[[noreturn]] void bad_timeframe(std::string_view text) {
  throw std::invalid_argument("timeframe: '" + std::string(text) +
                              "' is not a timeframe; expected '<n><unit>' with n a positive integer and unit "
                              "s, m, h or d (e.g. '1m', '5m', '15m', '1h', '1d')");
}

}  // namespace

std::int64_t parse_timeframe_ns(std::string_view text) {
  if (text.size() < 2) bad_timeframe(text);
  std::int64_t unit = 0;
  switch (text.back()) {
    case 's': unit = ns_per_second; break;
    case 'm': unit = 60 * ns_per_second; break;
    case 'h': unit = 3600 * ns_per_second; break;
    case 'd': unit = 86400 * ns_per_second; break;
    default: bad_timeframe(text);
  }
  const std::string_view digits = text.substr(0, text.size() - 1);
  if (digits.empty() || digits.size() > 9 || digits.front() == '0') bad_timeframe(text);
  std::int64_t n = 0;
  for (const char c : digits) {
    if (c < '0' || c > '9') bad_timeframe(text);
    n = n * 10 + (c - '0');
  }
  if (n > std::numeric_limits<std::int64_t>::max() / unit / 4)
    bad_timeframe(text);  // keep bar arithmetic far from overflow
  return n * unit;
}

std::string timeframe_label(std::int64_t tf_ns) {
  if (tf_ns <= 0) throw std::invalid_argument("timeframe_label: tf_ns must be > 0");
  struct unit_t {
    std::int64_t ns;
    char c;
  };
  static constexpr unit_t units[] = {
      {86400 * ns_per_second, 'd'}, {3600 * ns_per_second, 'h'}, {60 * ns_per_second, 'm'}, {ns_per_second, 's'}};
  for (const auto& u : units) {
    if (tf_ns % u.ns == 0) return std::to_string(tf_ns / u.ns) + u.c;
  }
  throw std::invalid_argument("timeframe_label: tf_ns must be a whole number of seconds");
}

}  // namespace montalaq::market
