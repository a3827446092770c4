#include <catch2/catch.hpp>
#include <deque>
#include <random>

#include "helpers.hpp"
#include "montalaq/guard/rate_limiter.hpp"

using montalaq::guard::rate_limiter;
using test::sec;
using test::t0;

TEST_CASE("at most `limit` acquisitions in any window, window edges exact", "[ratelimit]") {
  rate_limiter r(3, 60 * sec);
  CHECK(r.try_acquire("slack", t0));
  CHECK(r.try_acquire("slack", t0 + 1));
  CHECK(r.try_acquire("slack", t0 + 2));
  CHECK_FALSE(r.try_acquire("slack", t0 + 59 * sec));
  CHECK(r.retry_after_ns("slack", t0 + 59 * sec) == sec);
  CHECK(r.try_acquire("email", t0 + 59 * sec));  // keys are independent
  CHECK(r.remaining("slack", t0 + 59 * sec) == 0);
  CHECK_FALSE(r.try_acquire("slack", t0 + 60 * sec - 1));
  CHECK(r.try_acquire("slack", t0 + 60 * sec));  // the first left the window
  CHECK_FALSE(r.try_acquire("slack", t0 + 60 * sec));
  CHECK(r.denied() == 3);
}

TEST_CASE("sliding window agrees with a log of every acquisition", "[ratelimit]") {
  rate_limiter r(5, 10 * sec);
  std::deque<std::int64_t> log;
  std::mt19937_64 rng(3);
  std::int64_t now = t0;
  for (int i = 0; i < 100'000; ++i) {
    now += static_cast<std::int64_t>(rng() % (3 * sec));
    while (!log.empty() && now - log.front() >= 10 * sec) log.pop_front();
    const bool expect = log.size() < 5;
    REQUIRE(r.try_acquire("k", now) == expect);
    if (expect) log.push_back(now);
  }
}

TEST_CASE("idle keys are purged; bad settings are refused", "[ratelimit]") {
  rate_limiter r(2, sec, 3);
  r.try_acquire("a", t0);
  r.try_acquire("b", t0);
  r.try_acquire("c", t0);
  CHECK_FALSE(r.try_acquire("d", t0 + 1));  // a key flood is denied, not grown without bound
  CHECK(r.try_acquire("d", t0 + 2 * sec));  // a, b, c idle: purged to make room
  CHECK(r.keys() == 1);
  CHECK_THROWS_AS(rate_limiter(0, sec), std::invalid_argument);
  CHECK_THROWS_AS(rate_limiter(1, 0), std::invalid_argument);
}
