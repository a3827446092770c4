#include <catch2/catch.hpp>
#include <stdexcept>

#include "montalaq/market/timeframe.hpp"

using montalaq::market::parse_timeframe_ns;
using montalaq::market::timeframe_label;

TEST_CASE("timeframe strings parse to nanoseconds", "[timeframe]") {
  CHECK(parse_timeframe_ns("1s") == 1'000'000'000LL);
  CHECK(parse_timeframe_ns("1m") == 60'000'000'000LL);
  CHECK(parse_timeframe_ns("15m") == 900'000'000'000LL);
  CHECK(parse_timeframe_ns("1h") == 3'600'000'000'000LL);
  CHECK(parse_timeframe_ns("1d") == 86'400'000'000'000LL);
}

TEST_CASE("malformed timeframes are rejected with the accepted forms", "[timeframe]") {
  for (const char* bad : {"", "m", "0m", "01m", "1M", "1.5m", "-1m", " 1m", "1 m", "1w", "99999999999m"}) {
    INFO(bad);
    CHECK_THROWS_AS(parse_timeframe_ns(bad), std::invalid_argument);
  }
  CHECK_THROWS_WITH(parse_timeframe_ns("5x"), Catch::Contains("unit s, m, h or d"));
}

TEST_CASE("labels use the largest whole unit", "[timeframe]") {
  CHECK(timeframe_label(parse_timeframe_ns("60s")) == "1m");
  CHECK(timeframe_label(parse_timeframe_ns("90s")) == "90s");
  CHECK(timeframe_label(parse_timeframe_ns("120m")) == "2h");
  CHECK(timeframe_label(parse_timeframe_ns("24h")) == "1d");
}
