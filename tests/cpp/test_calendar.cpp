// Market calendars on the escalation board (docs/semantics.md, "Market calendars"): CLOSED
// outside the sessions, freshness measured from the session's open inside them.
#include <catch2/catch.hpp>
#include <string>
#include <vector>

#include "helpers.hpp"
#include "montalaq/health/escalation.hpp"

using namespace montalaq::health;
using test::minute;
using test::sec;
using test::t0;

namespace {
constexpr std::int64_t hour = 60 * minute;
constexpr std::int64_t day = 24 * hour;

// A New York-like exchange: 14:30-21:00 UTC on each of `days` consecutive days from t0.
struct sessions {
  std::vector<std::int64_t> opens, closes;
};
sessions weekdays(int days) {
  sessions s;
  for (int d = 0; d < days; ++d) {
    s.opens.push_back(t0 + d * day + 14 * hour + 30 * minute);
    s.closes.push_back(t0 + d * day + 21 * hour);
  }
  return s;
}
std::int64_t open_of(int d) { return t0 + d * day + 14 * hour + 30 * minute; }
std::int64_t close_of(int d) { return t0 + d * day + 21 * hour; }

// Two pairs fed the same ticks: one on the exchange's calendar, one on "24/7".
struct rig {
  escalation_board b;
  std::uint16_t cal;
  std::uint32_t on_cal, always;
  explicit rig(escalation_config c = {}) : b(c) {
    const auto s = weekdays(5);
    cal = b.set_calendar("XTST", s.opens, s.closes);
    on_cal = b.add_pair("SPY", minute, cal);
    always = b.add_pair("BTC", minute);
  }
  std::vector<escalation_event> at(std::int64_t now, std::int64_t last_tick) {
    b.set_last_tick(on_cal, last_tick);
    b.set_last_tick(always, last_tick);
    return b.evaluate(now);
  }
  [[nodiscard]] std::vector<escalation_event> of(const std::vector<escalation_event>& ev, std::uint32_t p) const {
    std::vector<escalation_event> out;
    for (const auto& e : ev) {
      if (e.pair == p) out.push_back(e);
    }
    return out;
  }
};
}  // namespace

TEST_CASE("outside its sessions a pair is CLOSED: streaks reset, level held, no events", "[calendar]") {
  rig r;
  const std::int64_t o = open_of(0);
  // Inside the session: AMBER (age 2 min), then RED (age 4 min) makes it ERROR.
  r.at(o + 10 * minute, o + 8 * minute);
  auto ev = r.at(o + 12 * minute, o + 8 * minute);
  REQUIRE(r.of(ev, r.on_cal).size() == 1);
  CHECK(r.of(ev, r.on_cal)[0].new_state == "ERROR");
  const auto before = r.b.row(r.on_cal, o + 12 * minute);
  CHECK(before.red_streak == 1);
  CHECK(before.error_streak == 1);
  // After the close: CLOSED, nothing reported, the streaks back to 0, the level kept.
  const std::int64_t night = close_of(0) + hour;
  ev = r.at(night, close_of(0) - minute);
  CHECK(r.of(ev, r.on_cal).empty());
  const auto row = r.b.row(r.on_cal, night);
  CHECK(row.col == colour::closed);
  CHECK(to_string(row.col) == "CLOSED");
  CHECK(row.lvl == level::error);
  CHECK(row.amber_streak == 0);
  CHECK(row.red_streak == 0);
  CHECK(row.error_streak == 0);
  CHECK(row.last_eval_ns == night);
  CHECK(row.calendar == "XTST");
  CHECK_FALSE(row.breaker_open);
  // The 24/7 twin with the same last tick went RED and escalated.
  CHECK(r.b.row(r.always, night).col == colour::red);
  CHECK(r.b.row(r.always, night).calendar == "24/7");
}

TEST_CASE("no breaker opens overnight, whereas the same pair on 24/7 opens one", "[calendar]") {
  rig r;
  const std::int64_t last = close_of(0) - sec;
  std::vector<escalation_event> on_cal, always;
  for (std::int64_t now = close_of(0); now < open_of(1); now += 5 * minute) {
    const auto ev = r.at(now, last);
    for (const auto& e : r.of(ev, r.on_cal)) on_cal.push_back(e);
    for (const auto& e : r.of(ev, r.always)) always.push_back(e);
  }
  CHECK(on_cal.empty());
  CHECK_FALSE(r.b.breaker_open(r.on_cal));
  CHECK(r.b.level_of(r.on_cal) == level::info);
  CHECK(r.b.breaker_open(r.always));
  CHECK(r.b.level_of(r.always) == level::critical);
  REQUIRE(always.size() == 3);  // ERROR, breaker_open, CRITICAL
  CHECK(always[1].kind == event_kind::breaker_open);
}

TEST_CASE("inside a session age counts from the open: GREEN until amber_after past it", "[calendar]") {
  rig r;
  const std::int64_t o = open_of(1);
  const std::int64_t yesterday = close_of(0) - minute;
  r.at(o - minute, yesterday);  // closed
  CHECK(r.b.row(r.on_cal, o).col == colour::closed);
  r.at(o, yesterday);  // the open itself is inside the session: age 0
  CHECK(r.b.row(r.on_cal, o).col == colour::green);
  r.at(o + 90 * sec, yesterday);  // amber_after (1.5 tf) is inclusive
  CHECK(r.b.row(r.on_cal, o).col == colour::green);
  r.at(o + 90 * sec + 1, yesterday);
  CHECK(r.b.row(r.on_cal, o).col == colour::amber);
  r.at(o + 100 * sec, o + 95 * sec);  // a tick after the open counts from itself
  CHECK(r.b.row(r.on_cal, o).col == colour::green);
  r.at(o + 200 * sec, o + 95 * sec);
  CHECK(r.b.row(r.on_cal, o).col == colour::amber);
}

TEST_CASE("a pair that never traded counts from the open instead of being RED", "[calendar]") {
  escalation_board b;
  const auto s = weekdays(2);
  const auto cal = b.set_calendar("XTST", s.opens, s.closes);
  const auto p = b.add_pair("NEW", 5 * minute, cal);
  const auto q = b.add_pair("NEW24", 5 * minute);
  for (const auto& e : b.evaluate(open_of(0) + 7 * minute)) CHECK(e.pair == q);
  CHECK(b.row(p, open_of(0) + 7 * minute).col == colour::green);  // 5m pair: GREEN until 7.5 min
  CHECK(b.row(q, open_of(0) + 7 * minute).col == colour::red);
  CHECK(b.row(p, 0).last_tick_ns == 0);
  b.evaluate(open_of(0) + 8 * minute);
  CHECK(b.row(p, 0).col == colour::amber);
  b.evaluate(open_of(0) + 16 * minute);  // beyond 3 tf from the open: RED like any stale pair
  CHECK(b.row(p, 0).col == colour::red);
}

TEST_CASE("a lunch break splits the day; the reopening is a session open too", "[calendar]") {
  escalation_board b;
  // Tokyo-like: 00:00-02:30 and 03:30-06:00 UTC.
  const std::vector<std::int64_t> opens{t0, t0 + 3 * hour + 30 * minute};
  const std::vector<std::int64_t> closes{t0 + 2 * hour + 30 * minute, t0 + 6 * hour};
  const auto p = b.add_pair("7203", minute, b.set_calendar("XTKS", opens, closes));
  b.set_last_tick(p, opens[0] + 2 * hour + 29 * minute);
  b.evaluate(t0 + 2 * hour + 29 * minute + 30 * sec);
  CHECK(b.row(p, 0).col == colour::green);
  CHECK(b.evaluate(t0 + 2 * hour + 30 * minute).empty());  // the close is excluded: [open, close)
  CHECK(b.row(p, 0).col == colour::closed);
  CHECK(b.evaluate(t0 + 3 * hour).empty());
  CHECK(b.row(p, 0).col == colour::closed);
  CHECK(b.evaluate(opens[1] + minute).empty());
  CHECK(b.row(p, 0).col == colour::green);  // from the reopening, not from the last tick
  b.evaluate(opens[1] + 2 * minute);
  CHECK(b.row(p, 0).col == colour::amber);
  b.evaluate(t0 + 6 * hour);
  CHECK(b.row(p, 0).col == colour::closed);
}

TEST_CASE("an open breaker stays open while CLOSED; CLOSED cycles leave the auto-close streak", "[calendar]") {
  escalation_config c;
  c.auto_close_cycles = 3;
  escalation_board b(c);
  const auto s = weekdays(3);
  const auto p = b.add_pair("SPY", minute, b.set_calendar("XTST", s.opens, s.closes));
  std::int64_t now = close_of(0) - 20 * minute;
  b.set_last_tick(p, now - 10 * minute);
  b.evaluate(now);
  b.evaluate(now += minute);  // red_streak 2: the breaker opens inside the session
  REQUIRE(b.breaker_open(p));
  b.set_last_tick(p, now += minute);
  b.evaluate(now);
  b.set_last_tick(p, now += minute);
  b.evaluate(now);
  REQUIRE(b.row(p, now).clean_green_streak == 2);
  // The night: no event, the breaker stays open, the clean streak stays at 2.
  for (now = close_of(0); now < open_of(1); now += 30 * minute) {
    CHECK(b.evaluate(now).empty());
    CHECK(b.breaker_open(p));
    CHECK(b.row(p, now).clean_green_streak == 2);
    CHECK(b.level_of(p) == level::critical);
  }
  // One clean GREEN cycle after the open completes the three.
  now = open_of(1) + minute;
  b.set_last_tick(p, now);
  const auto ev = b.evaluate(now);
  CHECK_FALSE(b.breaker_open(p));
  REQUIRE(ev.size() == 1);
  CHECK(ev[0].kind == event_kind::breaker_close);
}

TEST_CASE("an operator closes a breaker while the market is closed", "[calendar]") {
  rig r;
  r.at(open_of(0) + 10 * minute, open_of(0));
  r.at(open_of(0) + 11 * minute, open_of(0));
  REQUIRE(r.b.breaker_open(r.on_cal));
  const std::int64_t night = close_of(0) + hour;
  r.at(night, open_of(0));
  CHECK(r.b.close_breaker(r.on_cal, night, "alice"));
  CHECK(r.of(r.at(night + hour, open_of(0)), r.on_cal).empty());
  CHECK_FALSE(r.b.breaker_open(r.on_cal));
}

TEST_CASE("set_calendar validates the sessions and names the problem", "[calendar]") {
  escalation_board b;
  const std::vector<std::int64_t> one{10}, two{10, 20}, none;
  const auto fails_with = [&](std::string_view name, const std::vector<std::int64_t>& o,
                              const std::vector<std::int64_t>& cl, const std::string& part) {
    try {
      b.set_calendar(name, o, cl);
    } catch (const std::invalid_argument& e) {
      INFO(e.what());
      CHECK(std::string(e.what()).find(part) != std::string::npos);
      return;
    }
    FAIL("no exception for " << part);
  };
  fails_with("X", one, two, "1 opens but 2 closes");
  fails_with("X", none, none, "has no sessions");
  fails_with("X", one, one, "session 0 opens at 10 but does not close after it");
  fails_with("X", {10, 15}, {20, 30}, "session 1 opens at 15, before session 0 closes (20)");
  fails_with("X", {30, 10}, {40, 20}, "session 1 opens at 10, before session 0 closes (40)");
  fails_with("", one, {20}, "1-32 characters");
  fails_with(std::string(33, 'A'), one, {20}, "1-32 characters");
  fails_with("24/7", one, {20}, "built in");
  CHECK(b.calendar_count() == 1);  // nothing registered by the failures
  // Adjacent sessions do not overlap ([open, close)); 32 characters is the limit.
  const std::vector<std::int64_t> adjacent_opens{10, 20}, adjacent_closes{20, 30};
  CHECK(b.set_calendar(std::string(32, 'A'), adjacent_opens, adjacent_closes) == 1);
  CHECK_THROWS_AS(b.add_pair("X", minute, 2), std::invalid_argument);
  CHECK_THROWS_AS(b.set_pair_calendar(0, 1), std::out_of_range);  // no pair 0 yet
}

TEST_CASE("re-registering a calendar replaces its sessions and keeps its index", "[calendar]") {
  escalation_board b;
  const std::vector<std::int64_t> first_open{t0}, first_close{t0 + hour};
  const auto cal = b.set_calendar("XTST", first_open, first_close);
  const auto p = b.add_pair("SPY", minute, cal);
  CHECK(b.calendar_of(p) == cal);
  CHECK(b.find_calendar("XTST") == cal);
  CHECK(b.find_calendar("24/7") == escalation_board::always_open);
  CHECK_FALSE(b.find_calendar("XLON"));
  b.evaluate(t0 + 2 * hour);
  CHECK(b.row(p, 0).col == colour::closed);
  const std::vector<std::int64_t> later_open{t0 + 2 * hour - minute}, later_close{t0 + 3 * hour};
  CHECK(b.set_calendar("XTST", later_open, later_close) == cal);
  CHECK(b.calendar_count() == 2);
  b.evaluate(t0 + 2 * hour);
  CHECK(b.row(p, 0).col == colour::green);  // open for a minute
}

TEST_CASE("a pair keeps its calendar when added again; set_pair_calendar moves it", "[calendar]") {
  escalation_board b;
  const std::vector<std::int64_t> opens{t0}, closes{t0 + hour};
  const auto cal = b.set_calendar("XTST", opens, closes);
  const auto p = b.add_pair("SPY", minute);
  CHECK(b.add_pair("SPY", minute, cal) == p);
  CHECK(b.calendar_of(p) == escalation_board::always_open);
  b.set_pair_calendar(p, cal);
  CHECK(b.row(p, 0).calendar == "XTST");
  CHECK(b.calendar_name(cal) == "XTST");
  CHECK_THROWS_AS(b.set_pair_calendar(p, 7), std::invalid_argument);
}

TEST_CASE("a calendar past its last session reads CLOSED", "[calendar]") {
  escalation_board b;
  const std::vector<std::int64_t> opens{t0}, closes{t0 + hour};
  const auto p = b.add_pair("OLD", minute, b.set_calendar("XTST", opens, closes));
  CHECK(b.evaluate(t0 - hour).empty());  // before the first session
  CHECK(b.row(p, 0).col == colour::closed);
  for (int i = 1; i < 5; ++i) CHECK(b.evaluate(t0 + i * day).empty());
  CHECK(b.row(p, 0).col == colour::closed);
  CHECK(b.level_of(p) == level::info);
}

TEST_CASE("JSON version 2 keeps the calendars and each pair's calendar", "[calendar][json]") {
  escalation_config c;
  c.auto_close_cycles = 2;
  rig r(c);
  const std::vector<std::int64_t> opens{t0, t0 + 3 * hour}, closes{t0 + 2 * hour, t0 + 6 * hour};
  const auto tks = r.b.set_calendar("XTKS", opens, closes);
  r.b.add_pair("7203", 5 * minute, tks);
  for (std::int64_t now = open_of(0) - hour; now < open_of(1) + hour; now += 7 * minute) {
    r.at(now, now - (now / minute % 3) * 2 * minute);
  }
  const auto doc = r.b.to_json();
  CHECK(doc["version"] == 2);
  REQUIRE(doc["calendars"].size() == 2);
  CHECK(doc["calendars"][0]["name"] == "XTST");
  CHECK(doc["calendars"][1]["opens"] == nlohmann::json(opens));
  CHECK(doc["pairs"][0]["calendar"] == "XTST");
  CHECK(doc["pairs"][1]["calendar"] == "24/7");
  CHECK(doc["pairs"][2]["calendar"] == "XTKS");
  auto copy = escalation_board::from_json(nlohmann::json::parse(doc.dump()));
  CHECK(copy == r.b);
  CHECK(copy.calendar_of(2) == tks);
  // Identical from here on, across a close and an open.
  for (std::int64_t now = open_of(1) + hour; now < open_of(2) + hour; now += 13 * minute) {
    const auto a = r.b.evaluate(now);
    const auto b = copy.evaluate(now);
    CHECK(a.size() == b.size());
  }
  CHECK(copy == r.b);
}

TEST_CASE("a version 1 document loads with every pair on 24/7", "[calendar][json]") {
  escalation_board b;
  b.add_pair("A", minute);
  b.add_pair("B", 5 * minute);
  b.set_last_tick(0, t0);
  b.evaluate(t0 + 10 * minute);
  auto v1 = b.to_json();
  v1["version"] = 1;
  v1.erase("calendars");
  for (auto& p : v1["pairs"]) p.erase("calendar");
  const auto loaded = escalation_board::from_json(v1);
  CHECK(loaded == b);
  CHECK(loaded.calendar_count() == 1);
  CHECK(loaded.row(0, t0).calendar == "24/7");
  CHECK(loaded.row(1, t0).col == colour::red);
  auto closed = v1;
  closed["pairs"][0]["colour"] = "CLOSED";
  CHECK_THROWS_WITH(escalation_board::from_json(closed), Catch::Contains("CLOSED needs a version 2"));
  auto future = b.to_json();
  future["version"] = 3;
  CHECK_THROWS_WITH(escalation_board::from_json(future), Catch::Contains("expected 1 to 2"));
}

TEST_CASE("calendars in a document are validated before anything is built", "[calendar][json]") {
  rig r;
  const auto good = r.b.to_json();
  using J = nlohmann::json;
  const auto broken = [&](auto&& edit) {
    J d = good;
    edit(d);
    return d;
  };
  const auto refused = [](const J& d, const std::string& part) {
    try {
      (void)escalation_board::from_json(d);
    } catch (const std::invalid_argument& e) {
      INFO(e.what());
      CHECK(std::string(e.what()).find(part) != std::string::npos);
      return;
    }
    FAIL("accepted a document that should fail with " << part);
  };
  refused(broken([](J& d) { d.erase("calendars"); }), "has no 'calendars'");
  refused(broken([](J& d) { d["calendars"] = J::object(); }), "calendars must be an array");
  refused(broken([](J& d) { d["calendars"][0]["opens"][1] = d["calendars"][0]["opens"][0]; }),
          "calendars[0]: calendar 'XTST': session 1 opens at");
  refused(broken([](J& d) { d["calendars"][0]["closes"].erase(0); }), "5 opens but 4 closes");
  refused(broken([](J& d) { d["calendars"][0]["opens"][0] = "x"; }), "calendars[0].opens[] must be an integer");
  refused(broken([](J& d) { d["calendars"][0]["name"] = "24/7"; }), "built in");
  refused(broken([](J& d) { d["calendars"].push_back(d["calendars"][0]); }), "repeats calendar 'XTST'");
  refused(broken([](J& d) { d["pairs"][0]["calendar"] = "XLON"; }), "pairs[0].calendar 'XLON' is not in calendars");
  refused(broken([](J& d) { d["pairs"][0].erase("calendar"); }), "pairs[0] has no 'calendar'");
}
