#include <catch2/catch.hpp>
#include <random>
#include <string>

#include "helpers.hpp"
#include "montalaq/health/escalation.hpp"

using namespace montalaq::health;
using test::minute;
using test::sec;
using test::t0;

namespace {
// Appending (not `"S" + std::to_string(i)`) sidesteps GCC 12's false -Wrestrict (PR 105329).
std::string name(const char* prefix, int i) {
  std::string s(prefix);
  s += std::to_string(i);
  return s;
}

// One cycle per minute on a 1m pair; `fresh` decides the last tick so the colour is
// exactly what the test wants (GREEN: age 0; AMBER: 2 minutes; RED: never / 10 minutes).
struct rig {
  escalation_board b;
  std::uint32_t p;
  std::int64_t now = t0;
  explicit rig(escalation_config c = {}) : b(c), p(b.add_pair("BTC", minute)) {}
  std::vector<escalation_event> cycle(colour c) {
    now += minute;
    b.set_last_tick(p, c == colour::green ? now : c == colour::amber ? now - 2 * minute : now - 10 * minute);
    return b.evaluate(now);
  }
};
}  // namespace

TEST_CASE("freshness colours from the age of the last trade", "[freshness]") {
  freshness f;
  CHECK(f.classify(minute, t0, 0) == colour::red);  // never received
  CHECK(f.classify(minute, t0, t0) == colour::green);
  CHECK(f.classify(minute, t0 + 90 * sec, t0) == colour::green);  // age == 1.5 tf
  CHECK(f.classify(minute, t0 + 90 * sec + 1, t0) == colour::amber);
  CHECK(f.classify(minute, t0 + 180 * sec, t0) == colour::amber);  // age == 3 tf
  CHECK(f.classify(minute, t0 + 180 * sec + 1, t0) == colour::red);
  CHECK(f.classify(minute, t0, t0 + minute) == colour::green);  // tick from the future: age 0
  f.set_override(minute, {10 * sec, 20 * sec});
  CHECK(f.classify(minute, t0 + 11 * sec, t0) == colour::amber);
  CHECK(f.classify(5 * minute, t0 + 11 * sec, t0) == colour::green);  // other timeframes keep defaults
  CHECK_THROWS_AS(f.set_override(minute, {20 * sec, 10 * sec}), std::invalid_argument);
  CHECK_THROWS_AS(freshness(3.0, 1.5), std::invalid_argument);
  const freshness huge(1.5, 1e9);  // tf x mult beyond int64: saturates, never wraps negative
  CHECK(huge.thresholds(86'400 * sec).red_after_ns > 0);
  CHECK(huge.classify(86'400 * sec, t0 + 2 * 86'400 * sec, t0) == colour::amber);
}

TEST_CASE("last_error_code is the latest failure by time, whatever was pruned", "[escalation]") {
  escalation_board b;
  const auto p = b.add_pair("X", minute);
  b.record_failure(p, t0 + 1000 * sec, "X_LATE");
  b.evaluate(t0 + 2000 * sec);  // prunes the failure
  b.record_failure(p, t0 + 500 * sec, "Y_EARLY");
  CHECK(b.row(p, t0 + 2000 * sec).last_error_code == "X_LATE");
  CHECK_THROWS_AS(b.add_pair("X", 1'500'000'000), std::invalid_argument);  // not whole seconds
}

TEST_CASE("ladder: WARN after two AMBER cycles, ERROR on RED, CRITICAL after three RED", "[escalation]") {
  rig r;
  CHECK(r.cycle(colour::green).empty());
  CHECK(r.b.level_of(r.p) == level::info);
  CHECK(r.cycle(colour::amber).empty());  // amber_streak 1: still INFO
  auto ev = r.cycle(colour::amber);
  REQUIRE(ev.size() == 1);
  CHECK(ev[0].old_state == "INFO");
  CHECK(ev[0].new_state == "WARN");
  ev = r.cycle(colour::red);
  REQUIRE(ev.size() == 1);
  CHECK(ev[0].new_state == "ERROR");
  ev = r.cycle(colour::red);  // red_streak 2: breaker opens, level stays ERROR
  REQUIRE(ev.size() == 1);
  CHECK(ev[0].kind == event_kind::breaker_open);
  CHECK(ev[0].reason.find("red_streak 2") != std::string::npos);
  CHECK(r.b.breaker_open(r.p));
  ev = r.cycle(colour::red);
  REQUIRE(ev.size() == 1);
  CHECK(ev[0].new_state == "CRITICAL");
}

TEST_CASE("an open breaker keeps the pair CRITICAL until an operator closes it", "[escalation]") {
  rig r;
  r.cycle(colour::red);
  r.cycle(colour::red);
  REQUIRE(r.b.breaker_open(r.p));
  for (int i = 0; i < 5; ++i) r.cycle(colour::green);
  CHECK(r.b.level_of(r.p) == level::critical);  // breaker open before the cycle
  CHECK(r.b.breaker_open(r.p));                 // auto close is off by default
  escalation_event ev{};
  CHECK(r.b.close_breaker(r.p, r.now, "alice", &ev));
  CHECK(ev.reason == "operator: alice");
  CHECK_FALSE(r.b.close_breaker(r.p, r.now, "alice"));
  const auto next = r.cycle(colour::green);
  REQUIRE(next.size() == 1);
  CHECK(next[0].old_state == "CRITICAL");
  CHECK(next[0].new_state == "INFO");
}

TEST_CASE("failures in the trailing window drive WARN and ERROR, with the last error code", "[escalation]") {
  rig r;
  r.cycle(colour::green);
  r.b.record_failure(r.p, r.now, "ANALYSIS_ERR");
  r.b.record_failure(r.p, r.now + sec, "INGESTION_TIMEOUT");
  auto ev = r.cycle(colour::green);
  REQUIRE(ev.size() == 1);
  CHECK(ev[0].new_state == "WARN");
  CHECK(ev[0].last_error_code == "INGESTION_TIMEOUT");
  r.b.record_failure(r.p, r.now, "ANALYSIS_ERR");
  ev = r.cycle(colour::green);
  REQUIRE(ev.size() == 1);
  CHECK(ev[0].new_state == "ERROR");
  CHECK(r.b.row(r.p, r.now).fails_5m == 3);
  // Two more ERROR cycles: persistent ERROR opens the breaker on the third.
  r.b.record_failure(r.p, r.now, "ANALYSIS_ERR");
  r.cycle(colour::green);
  r.b.record_failure(r.p, r.now, "ANALYSIS_ERR");
  ev = r.cycle(colour::green);
  REQUIRE_FALSE(ev.empty());
  CHECK(ev.back().kind == event_kind::breaker_open);
  CHECK(ev.back().reason.find("persistent ERROR") != std::string::npos);
  // Failures age out of the 300 s window.
  r.now += 10 * minute;
  r.b.set_last_tick(r.p, r.now);
  r.b.evaluate(r.now);
  CHECK(r.b.row(r.p, r.now).fails_5m == 0);
}

TEST_CASE("auto close after N clean GREEN cycles", "[escalation]") {
  escalation_config c;
  c.auto_close_cycles = 3;
  rig r(c);
  r.cycle(colour::red);
  r.cycle(colour::red);
  REQUIRE(r.b.breaker_open(r.p));
  r.cycle(colour::green);
  r.cycle(colour::green);
  CHECK(r.b.breaker_open(r.p));
  const auto ev = r.cycle(colour::green);
  CHECK_FALSE(r.b.breaker_open(r.p));
  REQUIRE_FALSE(ev.empty());
  CHECK(ev.back().kind == event_kind::breaker_close);
  CHECK(ev.back().reason.find("auto") == 0);
}

TEST_CASE("a new auto_close_cycles applies to a board that keeps its state", "[escalation]") {
  rig r;  // operator-only closing
  r.cycle(colour::red);
  r.cycle(colour::red);
  REQUIRE(r.b.breaker_open(r.p));
  r.cycle(colour::green);
  r.cycle(colour::green);
  CHECK(r.b.breaker_open(r.p));  // 0: never closes by itself
  r.b.set_auto_close_cycles(3);
  CHECK(r.b.config().auto_close_cycles == 3);
  CHECK(r.b.settings_json()["config"]["auto_close_cycles"] == 3);
  CHECK(r.b.breaker_open(r.p));            // the state is kept
  const auto ev = r.cycle(colour::green);  // the third clean cycle since it opened
  CHECK_FALSE(r.b.breaker_open(r.p));
  REQUIRE_FALSE(ev.empty());
  CHECK(ev.back().kind == event_kind::breaker_close);
  CHECK_THROWS_AS(r.b.set_auto_close_cycles(-1), std::invalid_argument);
  CHECK(r.b.config().auto_close_cycles == 3);
}

TEST_CASE("place_pairs registers a watchlist at once, moves calendars, and checks first", "[escalation]") {
  escalation_board b;
  const std::vector<std::int64_t> opens{t0}, closes{t0 + minute};
  const auto xnys = b.set_calendar("XNYS", opens, closes);
  const auto existing = b.add_pair("B", minute);
  const std::vector<std::string> symbols{"A", "B"};
  const std::vector<std::uint32_t> sym{0, 0, 1};
  const std::vector<std::int64_t> tf{minute, 5 * minute, minute};
  const std::vector<std::uint16_t> cal{0, 0, xnys};
  const auto idx = b.place_pairs(symbols, sym, tf, cal);
  REQUIRE(idx.size() == 3);
  CHECK(idx[2] == existing);  // found, not added again
  CHECK(b.size() == 3);
  CHECK(b.symbol(idx[0]) == "A");
  CHECK(b.tf_ns(idx[1]) == 5 * minute);
  CHECK(b.to_json()["pairs"][existing]["calendar"] == "XNYS");  // moved
  CHECK(b.place_pairs(symbols, sym, tf, cal) == idx);           // idempotent
  const std::vector<std::uint32_t> bad_sym{0, 2, 1};
  CHECK_THROWS_AS(b.place_pairs(symbols, bad_sym, tf, cal), std::invalid_argument);
  const std::vector<std::int64_t> bad_tf{minute, 5 * minute, 1};
  const std::vector<std::string> more{"A", "B", "C"};
  const std::vector<std::uint32_t> sym_c{2, 0, 1};
  CHECK_THROWS_AS(b.place_pairs(more, sym_c, bad_tf, cal), std::invalid_argument);
  CHECK(b.size() == 3);  // C was not added: everything is checked first
  const std::vector<std::uint16_t> bad_cal{0, 0, 9};
  CHECK_THROWS_AS(b.place_pairs(symbols, sym, tf, bad_cal), std::invalid_argument);
  const std::vector<std::int64_t> short_tf{minute};
  CHECK_THROWS_AS(b.place_pairs(symbols, sym, short_tf, cal), std::invalid_argument);
}

TEST_CASE("settings_json is the document's config and freshness", "[escalation][json]") {
  escalation_config c;
  c.warn_fails = 5;
  rig r(c);
  r.cycle(colour::amber);
  const auto doc = r.b.to_json();
  const auto settings = r.b.settings_json();
  CHECK(settings["config"] == doc["config"]);
  CHECK(settings["freshness"] == doc["freshness"]);
  CHECK(settings.size() == 2);
}

TEST_CASE("a broken pair never changes another pair", "[escalation]") {
  escalation_board b;
  const auto bad = b.add_pair("BAD", minute);
  const auto good = b.add_pair("GOOD", minute);
  std::int64_t now = t0;
  for (int i = 0; i < 10; ++i) {
    now += minute;
    b.set_last_tick(good, now);
    b.record_failure(bad, now, "ANALYSIS_ERR");
    for (const auto& e : b.evaluate(now)) CHECK(e.pair == bad);
  }
  CHECK(b.breaker_open(bad));
  CHECK(b.level_of(bad) == level::critical);
  CHECK_FALSE(b.breaker_open(good));
  CHECK(b.level_of(good) == level::info);
}

TEST_CASE("JSON round trip gives an identical board", "[escalation][json]") {
  escalation_config c;
  c.auto_close_cycles = 4;
  freshness f(1.25, 2.5);
  f.set_override(5 * minute, {7 * minute, 11 * minute});
  escalation_board b(c, f);
  std::mt19937_64 rng(1);
  std::int64_t now = t0;
  for (int i = 0; i < 20; ++i) b.add_pair(name("S", i % 7), minute * (1 + i % 3) * 5);
  for (int cyc = 0; cyc < 30; ++cyc) {
    now += minute;
    for (std::uint32_t p = 0; p < b.size(); ++p) {
      if (rng() % 3 != 0) b.set_last_tick(p, now - static_cast<std::int64_t>(rng() % 20) * minute);
      if (rng() % 5 == 0) b.record_failure(p, now, rng() % 2 ? "ANALYSIS_ERR" : "PROVIDER_DISCONNECTED");
    }
    b.evaluate(now);
    if (cyc % 7 == 0) b.close_breaker(static_cast<std::uint32_t>(rng() % b.size()), now, "op");
  }
  const auto doc = b.to_json();
  const auto copy = escalation_board::from_json(nlohmann::json::parse(doc.dump()));
  CHECK(copy == b);
  // And they stay identical when evaluated further.
  auto b2 = b;
  auto c2 = copy;
  now += minute;
  CHECK(b2.evaluate(now).size() == c2.evaluate(now).size());
  CHECK(b2 == c2);
}

TEST_CASE("malformed or foreign documents are refused with a clear error", "[escalation][json]") {
  escalation_board b;
  b.add_pair("X", minute);
  const auto good = b.to_json();
  CHECK_THROWS_WITH(escalation_board::from_json(nlohmann::json::parse("[1,2]")), Catch::Contains("JSON object"));
  auto foreign = good;
  foreign["format"] = "something.else";
  CHECK_THROWS_WITH(escalation_board::from_json(foreign), Catch::Contains("format"));
  auto bad_level = good;
  bad_level["pairs"][0]["level"] = "PANIC";
  CHECK_THROWS_WITH(escalation_board::from_json(bad_level), Catch::Contains("pairs[0].level"));
  auto dup = good;
  dup["pairs"].push_back(dup["pairs"][0]);
  CHECK_THROWS_WITH(escalation_board::from_json(dup), Catch::Contains("repeats"));
  auto neg = good;
  neg["pairs"][0]["red_streak"] = -1;
  CHECK_THROWS_AS(escalation_board::from_json(neg), std::invalid_argument);
}

TEST_CASE("fuzz: mutated documents load or throw invalid_argument, never anything else", "[escalation][json]") {
  escalation_board b;
  for (int i = 0; i < 3; ++i) b.add_pair(name("P", i), minute);
  b.record_failure(0, t0, "X");
  b.evaluate(t0 + minute);
  const std::string text = b.to_json().dump();
  std::mt19937_64 rng(99);
  int loaded = 0, refused = 0;
  for (int iter = 0; iter < 3000; ++iter) {
    std::string s = text;
    const int edits = 1 + static_cast<int>(rng() % 4);
    for (int e = 0; e < edits; ++e) {
      const std::size_t pos = rng() % s.size();
      switch (rng() % 3) {
        case 0: s[pos] = static_cast<char>(32 + rng() % 95); break;
        case 1: s.erase(pos, 1 + rng() % 8); break;
        default: s.insert(pos, 1, "{}[]\",:0-9e"[rng() % 11]); break;
      }
      if (s.empty()) s.push_back('{');  // not `s = "{"`: GCC 12 false -Wrestrict (PR 105329)
    }
    nlohmann::json doc;
    try {
      doc = nlohmann::json::parse(s);
    } catch (const nlohmann::json::exception&) {
      continue;  // not JSON (or a number JSON cannot hold): the parser's job
    }
    try {
      const auto loaded_board = escalation_board::from_json(doc);
      (void)loaded_board.to_json();
      ++loaded;
    } catch (const std::invalid_argument&) {
      ++refused;
    }
  }
  CHECK(refused > 0);
  CHECK(loaded + refused > 100);
}

TEST_CASE("evaluate with a tick array equals setting ticks first", "[escalation]") {
  escalation_board a, b;
  for (int i = 0; i < 50; ++i) {
    a.add_pair(name("S", i), minute);
    b.add_pair(name("S", i), minute);
  }
  std::mt19937_64 rng(5);
  std::int64_t now = t0;
  for (int cyc = 0; cyc < 20; ++cyc) {
    now += minute;
    std::vector<std::int64_t> ticks(50);
    for (std::uint32_t p = 0; p < 50; ++p) {
      ticks[p] = rng() % 4 == 0 ? 0 : now - static_cast<std::int64_t>(rng() % 6) * minute;
      b.set_last_tick(p, ticks[p]);
    }
    const auto ea = a.evaluate(now, ticks);
    const auto eb = b.evaluate(now);
    REQUIRE(ea.size() == eb.size());
    for (std::size_t k = 0; k < ea.size(); ++k) {
      CHECK(ea[k].pair == eb[k].pair);
      CHECK(ea[k].new_state == eb[k].new_state);
    }
  }
  CHECK(a == b);
  CHECK_THROWS_AS(a.evaluate(now, std::vector<std::int64_t>(3)), std::invalid_argument);
}
