#include <catch2/catch.hpp>
#include <limits>
#include <random>

#include "helpers.hpp"
#include "montalaq/health/circuit_breaker.hpp"
#include "montalaq/health/operational_state.hpp"

using namespace montalaq::health;
using test::sec;
using test::t0;

TEST_CASE("count mode: opens on the Nth failure within the window, not outside it", "[breaker]") {
  circuit_breaker b;  // 5 failures / 300 s, cooldown 120 s
  for (int i = 0; i < 4; ++i) b.record_failure(t0 + i * sec);
  CHECK(b.state(t0 + 4 * sec) == breaker_state::closed);
  b.record_failure(t0 + 4 * sec);
  CHECK(b.state(t0 + 4 * sec) == breaker_state::open);
  circuit_breaker slow;
  for (int i = 0; i < 10; ++i) slow.record_failure(t0 + i * 100 * sec);  // one per 100 s: never 5 in 300 s
  CHECK(slow.state(t0 + 1000 * sec) == breaker_state::closed);
}

TEST_CASE("OPEN rejects for the cooldown, then HALF_OPEN lets exactly the probes through", "[breaker]") {
  breaker_config c;
  c.half_open_calls = 2;
  circuit_breaker b(c);
  for (int i = 0; i < 5; ++i) b.record_failure(t0);
  CHECK_FALSE(b.allow(t0 + 119 * sec));
  CHECK(b.allow(t0 + 120 * sec));  // cooldown over: first probe
  CHECK(b.state_now() == breaker_state::half_open);
  CHECK(b.allow(t0 + 120 * sec));
  CHECK_FALSE(b.allow(t0 + 121 * sec));  // probes used up
  b.record_success(t0 + 122 * sec);
  CHECK(b.state_now() == breaker_state::half_open);
  b.record_success(t0 + 122 * sec);
  CHECK(b.state_now() == breaker_state::closed);
  CHECK(b.window_failures(t0 + 122 * sec) == 0);  // counts reset
  CHECK(b.counts().rejected == 2);
}

TEST_CASE("a failed probe re-opens with a fresh cooldown", "[breaker]") {
  circuit_breaker b;
  for (int i = 0; i < 5; ++i) b.record_failure(t0);
  REQUIRE(b.allow(t0 + 120 * sec));
  b.record_failure(t0 + 125 * sec);
  CHECK(b.state_now() == breaker_state::open);
  CHECK(b.opened_at_ns() == t0 + 125 * sec);
  CHECK_FALSE(b.allow(t0 + 240 * sec));
  CHECK(b.allow(t0 + 245 * sec));
}

TEST_CASE("half-open never hangs: unreported probes time out back to OPEN", "[breaker]") {
  breaker_config c;
  c.half_open_max_wait_ns = 30 * sec;
  circuit_breaker b(c);
  for (int i = 0; i < 5; ++i) b.record_failure(t0);
  REQUIRE(b.allow(t0 + 120 * sec));  // the probe's caller dies and never reports
  CHECK_FALSE(b.allow(t0 + 149 * sec));
  CHECK(b.state(t0 + 150 * sec) == breaker_state::open);
  CHECK(b.allow(t0 + 270 * sec));  // after a fresh cooldown, a new probe
}

TEST_CASE("rate mode: opens when the failure rate over the last N calls reaches the threshold", "[breaker]") {
  breaker_config c;
  c.mode = breaker_mode::rate;
  c.failure_rate_pct = 50;
  c.rate_window_calls = 10;
  c.min_calls = 4;
  circuit_breaker b(c);
  for (int i = 0; i < 4; ++i) b.record_success(t0);
  b.record_failure(t0);
  b.record_failure(t0);
  b.record_failure(t0);  // 3/7 = 43%
  CHECK(b.state_now() == breaker_state::closed);
  b.record_failure(t0);  // 4/8 = 50%
  CHECK(b.state_now() == breaker_state::open);
  // Checked after every result: a success that completes min_calls can open it.
  circuit_breaker s(c);
  s.record_failure(t0);
  s.record_failure(t0);
  s.record_failure(t0);  // 3 calls: below min_calls even at 100%
  CHECK(s.state_now() == breaker_state::closed);
  s.record_success(t0);  // 3/4 = 75% with min_calls reached
  CHECK(s.state_now() == breaker_state::open);
}

TEST_CASE("the probe deadline runs from the first probe, and late results see it", "[breaker]") {
  breaker_config c;
  c.half_open_max_wait_ns = 5 * sec;
  circuit_breaker b(c);
  for (int i = 0; i < 5; ++i) b.record_failure(t0);
  CHECK(b.state(t0 + 120 * sec) == breaker_state::half_open);   // a status page polls
  REQUIRE(b.allow(t0 + 3600 * sec));                            // the probe, much later
  CHECK(b.state(t0 + 3601 * sec) == breaker_state::half_open);  // 1 s after the probe: still waiting
  b.record_success(t0 + 3610 * sec);                            // reports 10 s late
  CHECK(b.state_now() == breaker_state::open);                  // whether or not anyone polled
}

TEST_CASE("retry_after_ns: the rest of the cooldown while OPEN, nothing otherwise", "[breaker]") {
  circuit_breaker b;                              // cooldown 120 s
  CHECK_FALSE(b.retry_after_ns(t0).has_value());  // CLOSED
  for (int i = 0; i < 5; ++i) b.record_failure(t0);
  CHECK(b.retry_after_ns(t0) == 120 * sec);
  CHECK(b.retry_after_ns(t0 + 119 * sec + sec / 2) == sec / 2);
  CHECK(b.retry_after_ns(t0 - 10 * sec) == 130 * sec);      // a clock behind the opening
  CHECK(b.retry_after_ns(t0 + 120 * sec) == std::nullopt);  // the cooldown is over: HALF_OPEN
  CHECK(b.state_now() == breaker_state::half_open);
  b.force_open(t0 + 121 * sec, "maintenance");
  CHECK_FALSE(b.retry_after_ns(t0 + 10'000 * sec).has_value());  // no cooldown ends it
}

TEST_CASE("retry_after_ns saturates for clocks at the ends of int64", "[breaker]") {
  constexpr auto lo = std::numeric_limits<std::int64_t>::min();
  constexpr auto hi = std::numeric_limits<std::int64_t>::max();
  circuit_breaker b;
  for (int i = 0; i < 5; ++i) b.record_failure(hi);
  CHECK(b.retry_after_ns(lo) == hi);
  CHECK(b.state_now() == breaker_state::open);
}

TEST_CASE("operator states: FORCED_OPEN rejects, DISABLED allows, reset closes", "[breaker]") {
  circuit_breaker b;
  b.force_open(t0, "maintenance");
  CHECK_FALSE(b.allow(t0 + 1000 * sec));  // no cooldown ends a forced open
  b.disable(t0, "bypass");
  for (int i = 0; i < 10; ++i) b.record_failure(t0);
  CHECK(b.allow(t0));
  CHECK(b.state_now() == breaker_state::disabled);
  b.reset(t0, "done");
  CHECK(b.state_now() == breaker_state::closed);
  REQUIRE(b.history().size() == 3);
  CHECK(b.history()[0].to == breaker_state::forced_open);
  CHECK(b.history()[2].reason == "operator: done");
}

TEST_CASE("breaker JSON round trip and refusal of bad documents", "[breaker][json]") {
  circuit_breaker b;
  for (int i = 0; i < 5; ++i) b.record_failure(t0 + i);
  b.allow(t0 + 200 * sec);
  const auto copy = circuit_breaker::from_json(nlohmann::json::parse(b.to_json().dump()));
  CHECK(copy.to_json() == b.to_json());
  auto bad = b.to_json();
  bad["state"] = "AJAR";
  CHECK_THROWS_WITH(circuit_breaker::from_json(bad), Catch::Contains("state"));
  bad = b.to_json();
  bad["config"]["min_calls"] = 1000;
  CHECK_THROWS_WITH(circuit_breaker::from_json(bad), Catch::Contains("min_calls"));
  // Regression: failure times out of order were accepted (an old one would count forever).
  circuit_breaker c;
  c.record_failure(t0);
  c.record_failure(t0 + sec);
  bad = c.to_json();
  bad["fail_times_ns"] = nlohmann::json::array({t0 + sec, t0});
  CHECK_THROWS_WITH(circuit_breaker::from_json(bad), Catch::Contains("time order"));
}

TEST_CASE("breaker config is validated", "[breaker]") {
  breaker_config c;
  c.failure_threshold = 0;
  CHECK_THROWS_WITH(circuit_breaker(c), Catch::Contains("failure_threshold"));
  c = {};
  c.failure_rate_pct = 0;
  CHECK_THROWS_WITH(circuit_breaker(c), Catch::Contains("failure_rate_pct"));
}

TEST_CASE("operational state allows exactly the documented transitions", "[opstate]") {
  const op_state all[] = {op_state::starting, op_state::active, op_state::waiting, op_state::error, op_state::shutdown};
  int allowed_count = 0;
  for (const auto from : all) {
    for (const auto to : all) allowed_count += operational_state::allowed(from, to) ? 1 : 0;
  }
  // STARTING: 3 + SHUTDOWN; ACTIVE: 2 + SD; WAITING: 2 + SD; ERROR: 1 + SD; SHUTDOWN: SD
  CHECK(allowed_count == 4 + 3 + 3 + 2 + 1);
  operational_state s(t0);
  CHECK(s.current() == op_state::starting);
  s.transition(op_state::waiting, t0 + 1, "broker down");
  CHECK(s.entered_at_ns() == t0 + 1);
  CHECK(s.reason() == "broker down");
  CHECK_THROWS_AS(s.transition(op_state::starting, t0 + 2, "x"), invalid_transition);
  CHECK(s.current() == op_state::waiting);  // unchanged after a refused transition
  s.transition(op_state::active, t0 + 3, "recovered");
  CHECK_THROWS_WITH(s.transition(op_state::active, t0 + 4, "again"), Catch::Contains("ACTIVE -> ACTIVE"));
  s.transition(op_state::shutdown, t0 + 5, "SIGTERM");
  CHECK_FALSE(s.transition(op_state::shutdown, t0 + 6, "SIGTERM again"));
  CHECK_THROWS_AS(s.transition(op_state::active, t0 + 7, "x"), invalid_transition);
  const auto copy = operational_state::from_json(nlohmann::json::parse(s.to_json().dump()));
  CHECK(copy.to_json() == s.to_json());
  auto bad = s.to_json();
  bad["history"][0]["to"] = "ERROR";
  bad["history"][0]["from"] = "SHUTDOWN";
  CHECK_THROWS_WITH(operational_state::from_json(bad), Catch::Contains("does not allow"));
}
