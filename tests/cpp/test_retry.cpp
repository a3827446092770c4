#include <catch2/catch.hpp>
#include <cmath>

#include "montalaq/guard/retry.hpp"

using montalaq::guard::retry_config;
using montalaq::guard::retry_schedule;

TEST_CASE("delays grow exponentially, are capped, and stay within the jitter band", "[retry]") {
  retry_config c;
  c.max_attempts = 10;
  c.base_s = 1.0;
  c.jitter = 0.2;
  c.max_delay_s = 60.0;
  retry_schedule r(c, 42);
  const auto d = r.delays();
  REQUIRE(d.size() == 9);
  for (int n = 1; n <= 9; ++n) {
    const double nominal = std::min(60.0, std::pow(2.0, n - 1));
    CHECK(r.nominal_s(n) == nominal);
    CHECK(d[static_cast<std::size_t>(n - 1)] >= nominal * 0.8);
    CHECK(d[static_cast<std::size_t>(n - 1)] < nominal * 1.2);
  }
}

TEST_CASE("a seed reproduces the schedule; different seeds differ", "[retry]") {
  retry_config c;
  c.max_attempts = 6;
  const retry_schedule a(c, 7), b(c, 7), other(c, 8);
  CHECK(a.delays() == b.delays());
  CHECK(a.delays() == a.delays());  // delays() never consumes the generator
  CHECK(a.delays() != other.delays());
}

TEST_CASE("jitter 0 gives the nominal schedule; jitter fills its band", "[retry]") {
  retry_config c;
  c.max_attempts = 4;
  c.jitter = 0.0;
  CHECK(retry_schedule(c, 1).delays() == std::vector<double>{1.0, 2.0, 4.0});
  c.jitter = 0.5;
  c.max_attempts = 2;
  double lo = 10, hi = 0;
  retry_schedule r(c, 3);
  for (int i = 0; i < 20000; ++i) {
    const double d = r.delay_s(1);
    lo = std::min(lo, d);
    hi = std::max(hi, d);
  }
  CHECK(lo >= 0.5);
  CHECK(lo < 0.51);
  CHECK(hi < 1.5);
  CHECK(hi > 1.49);
}

TEST_CASE("retry settings are validated", "[retry]") {
  retry_config c;
  c.max_attempts = 0;
  CHECK_THROWS_WITH(retry_schedule(c), Catch::Contains("max_attempts"));
  c = {};
  c.jitter = 1.0;
  CHECK_THROWS_WITH(retry_schedule(c), Catch::Contains("jitter"));
  c = {};
  c.base_s = std::nan("");
  CHECK_THROWS_WITH(retry_schedule(c), Catch::Contains("base_s"));
}
