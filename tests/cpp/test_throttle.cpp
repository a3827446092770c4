#include <catch2/catch.hpp>
#include <stdexcept>
#include <string>

#include "helpers.hpp"
#include "montalaq/guard/throttle.hpp"

using montalaq::guard::error_throttle;
using montalaq::guard::throttle_decision;
using test::minute;
using test::sec;
using test::t0;

namespace {
constexpr auto notify = throttle_decision::notify;
constexpr auto suppressed = throttle_decision::suppressed;
constexpr std::int64_t hour = 3600 * sec;
}  // namespace

TEST_CASE("first occurrence notifies, later ones in the window count; the window edge is exact", "[throttle]") {
  error_throttle t;
  CHECK(t.report("WEBSOCKET", t0, "disconnected") == notify);
  CHECK(t.report("WEBSOCKET", t0 + sec) == suppressed);
  CHECK(t.report("WEBSOCKET", t0 + hour - 1) == suppressed);
  CHECK(t.report("WEBSOCKET", t0 + hour) == notify);  // the window [t0, t0 + 1 h) has passed
  CHECK(t.report("WEBSOCKET", t0 + hour + sec) == suppressed);
  const auto s = t.summary("WEBSOCKET");
  REQUIRE(s);
  CHECK(s->count == 5);
  CHECK(s->first_occurrence_ns == t0);
  CHECK(s->last_occurrence_ns == t0 + hour + sec);
}

TEST_CASE("windows per type: BROKER 1800 s, unknown types the default, names fold to upper case", "[throttle]") {
  error_throttle t;
  CHECK(t.window_ns("STARTUP") == hour);
  CHECK(t.window_ns("WEBSOCKET") == hour);
  CHECK(t.window_ns("BROKER") == hour / 2);
  CHECK(t.window_ns("DATABASE") == hour);
  CHECK(t.window_ns("SOMETHING_ELSE") == hour);
  CHECK(t.window_ns("broker") == hour / 2);
  CHECK(t.report("broker", t0) == notify);
  CHECK(t.report("Broker", t0 + 1800 * sec - 1) == suppressed);
  CHECK(t.report("BROKER", t0 + 1800 * sec) == notify);
  CHECK(t.report("cache-miss", t0) == notify);  // unknown types throttle with the default window
  CHECK(t.report("CACHE-MISS", t0 + hour - 1) == suppressed);
  CHECK(t.summary().size() == 2);
  CHECK(t.summary().front().error_type == "BROKER");

  error_throttle::config cfg;
  cfg.default_window_ns = 10 * sec;
  cfg.windows["DATABASE"] = 5 * sec;
  error_throttle custom(cfg);
  CHECK(custom.window_ns("DATABASE") == 5 * sec);
  CHECK(custom.window_ns("STARTUP") == hour);
  CHECK(custom.window_ns("NEW") == 10 * sec);
}

TEST_CASE("a burst of different errors within the aggregation window is one digest", "[throttle]") {
  error_throttle t;
  const char* types[] = {"STARTUP", "WEBSOCKET", "BROKER", "DATABASE", "OTHER"};
  for (int i = 0; i < 5; ++i) CHECK(t.report(types[i], t0 + i * 10 * sec, std::string("m") + types[i]) == notify);
  CHECK(t.report("BROKER", t0 + 45 * sec, "again") == suppressed);
  CHECK(t.report("BROKER", t0 + 50 * sec) == suppressed);
  CHECK(t.buffered() == 5);
  CHECK(t.next_flush_ns() == t0 + minute);
  CHECK(t.flush(t0 + minute - 1).empty());  // the window [t0, t0 + 60 s) is still open
  const auto digests = t.flush(t0 + minute);
  REQUIRE(digests.size() == 1);
  const auto& d = digests.front();
  CHECK(d.opened_at_ns == t0);
  REQUIRE(d.entries.size() == 5);
  CHECK(d.entries[0].error_type == "STARTUP");
  CHECK(d.entries[2].error_type == "BROKER");
  CHECK(d.entries[2].count == 3);  // occurrences while buffered join the entry
  CHECK(d.entries[2].first_seen_ns == t0 + 20 * sec);
  CHECK(d.entries[2].last_seen_ns == t0 + 50 * sec);
  CHECK(d.entries[2].message == "mBROKER");  // the first message is the sample
  CHECK(d.entries[4].count == 1);
  CHECK(t.buffered() == 0);
  CHECK_FALSE(t.next_flush_ns());
  CHECK(t.flush(t0 + hour).empty());  // nothing twice
  CHECK(t.report("BROKER", t0 + 70 * sec) == suppressed);
  CHECK(t.buffered() == 0);  // sent already: only counted
  CHECK(t.summary("BROKER")->count == 4);
  CHECK(t.summary("BROKER")->notifications_sent == 1);
}

TEST_CASE("a notification after the aggregation window starts the next digest", "[throttle]") {
  error_throttle t;
  CHECK(t.report("A", t0) == notify);
  CHECK(t.report("B", t0 + minute - 1) == notify);  // same digest
  CHECK(t.report("C", t0 + minute) == notify);      // the first digest's window is over
  CHECK(t.report("A", t0 + minute + sec) == suppressed);
  CHECK(t.flush(t0 + minute + sec).size() == 1);
  auto rest = t.flush(t0 + 2 * minute);
  REQUIRE(rest.size() == 1);
  CHECK(rest[0].opened_at_ns == t0 + minute);
  REQUIRE(rest[0].entries.size() == 1);
  CHECK(rest[0].entries[0].error_type == "C");

  // Two overdue digests come out of one flush, oldest first.
  CHECK(t.report("D", t0 + 10 * minute) == notify);
  CHECK(t.report("E", t0 + 12 * minute) == notify);
  const auto both = t.flush(t0 + 20 * minute);
  REQUIRE(both.size() == 2);
  CHECK(both[0].entries[0].error_type == "D");
  CHECK(both[1].entries[0].error_type == "E");
  CHECK(both[0].seq < both[1].seq);
}

TEST_CASE("aggregation 0 sends each notification on its own", "[throttle]") {
  error_throttle::config cfg;
  cfg.aggregation_ns = 0;
  error_throttle t(cfg);
  t.report("A", t0);
  t.report("B", t0);
  CHECK(t.flush(t0).size() == 2);
}

TEST_CASE("resolve sends one recovery; the next occurrence notifies again", "[throttle]") {
  error_throttle t;
  CHECK_FALSE(t.resolve("BROKER", t0));  // never reported: nothing to recover from
  t.report("BROKER", t0, "down");
  t.report("BROKER", t0 + sec);
  t.flush(t0 + minute);
  t.report("BROKER", t0 + 2 * minute);
  const auto rec = t.resolve("broker", t0 + 3 * minute);
  REQUIRE(rec);
  CHECK(rec->error_type == "BROKER");
  CHECK(rec->resolved_at_ns == t0 + 3 * minute);
  CHECK(rec->since_ns == t0);
  CHECK(rec->last_seen_ns == t0 + 2 * minute);
  CHECK(rec->count == 3);
  CHECK_FALSE(t.resolve("BROKER", t0 + 4 * minute));  // one recovery, not two
  auto s = *t.summary("BROKER");
  CHECK(s.resolved);
  CHECK(s.resolved_at_ns == t0 + 3 * minute);
  CHECK(s.notifications_sent == 2);  // the digest and the recovery

  // Inside the 1800 s window, but after resolution: a new episode notifies.
  CHECK(t.report("BROKER", t0 + 5 * minute, "down again") == notify);
  CHECK(t.report("BROKER", t0 + 6 * minute) == suppressed);
  s = *t.summary("BROKER");
  CHECK_FALSE(s.resolved);
  CHECK_FALSE(s.resolved_at_ns);
  CHECK(s.count == 5);
  t.flush(t0 + 7 * minute);
  const auto rec2 = t.resolve("BROKER", t0 + 8 * minute);
  REQUIRE(rec2);
  CHECK(rec2->since_ns == t0 + 5 * minute);
  CHECK(rec2->count == 2);
}

TEST_CASE("resolving while the notification is buffered folds the recovery into the digest", "[throttle]") {
  error_throttle t;
  t.report("WEBSOCKET", t0, "disconnected");
  t.report("DATABASE", t0 + sec);
  CHECK_FALSE(t.resolve("WEBSOCKET", t0 + 5 * sec));  // no recovery before the error was reported
  CHECK(t.summary("WEBSOCKET")->resolved);
  auto d = t.flush(t0 + minute);
  REQUIRE(d.size() == 1);
  REQUIRE(d[0].entries.size() == 2);
  CHECK(d[0].entries[0].resolved_at_ns == t0 + 5 * sec);
  CHECK_FALSE(d[0].entries[1].resolved_at_ns);
  CHECK(t.summary("WEBSOCKET")->notifications_sent == 1);  // one message in all
  CHECK_FALSE(t.resolve("WEBSOCKET", t0 + 2 * minute));

  // Resolved and back again before the flush: the entry shows it active, counting both.
  t.report("BROKER", t0 + 10 * minute);
  t.resolve("BROKER", t0 + 10 * minute + sec);
  CHECK(t.report("BROKER", t0 + 10 * minute + 2 * sec) == notify);
  d = t.flush(t0 + 11 * minute);
  REQUIRE(d.size() == 1);
  REQUIRE(d[0].entries.size() == 1);
  CHECK(d[0].entries[0].count == 2);
  CHECK_FALSE(d[0].entries[0].resolved_at_ns);
}

TEST_CASE("a clock that goes back neither crashes nor notifies early", "[throttle]") {
  error_throttle t;
  t.report("A", t0);
  CHECK(t.report("A", t0 - hour) == suppressed);
  CHECK(t.summary("A")->first_occurrence_ns == t0 - hour);
  CHECK(t.summary("A")->last_occurrence_ns == t0);
  CHECK(t.flush(t0 - 1).empty());
  CHECK(t.report("B", std::numeric_limits<std::int64_t>::min()) == notify);
  CHECK(t.report("C", std::numeric_limits<std::int64_t>::max()) == notify);
  CHECK(t.flush(std::numeric_limits<std::int64_t>::max()).size() == 1);  // A's digest, which B joined
  CHECK(t.next_flush_ns() == std::numeric_limits<std::int64_t>::max());  // saturates, no overflow
}

TEST_CASE("bad names and settings are refused with clear errors", "[throttle]") {
  error_throttle t;
  CHECK_THROWS_WITH(t.report("", t0), Catch::Contains("error_type"));
  CHECK_THROWS_WITH(t.report("BAD TYPE", t0), Catch::Contains("outside"));
  CHECK_THROWS_WITH(t.report(std::string(65, 'A'), t0), Catch::Contains("at most 64"));
  CHECK_THROWS_AS(t.resolve("", t0), std::invalid_argument);
  CHECK_THROWS_AS(t.window_ns("\xc3\xa9"), std::invalid_argument);
  CHECK(t.summary().empty());  // nothing was recorded by the failed calls

  error_throttle::config cfg;
  cfg.max_types = 2;
  error_throttle small(cfg);
  small.report("A", t0);
  small.report("B", t0);
  CHECK_THROWS_AS(small.report("C", t0), std::length_error);
  CHECK(small.report("a", t0 + 1) == suppressed);  // known types still work

  auto bad = [](auto&& edit) {
    error_throttle::config c;
    edit(c);
    return c;
  };
  CHECK_THROWS_AS(error_throttle(bad([](auto& c) { c.default_window_ns = 0; })), std::invalid_argument);
  CHECK_THROWS_AS(error_throttle(bad([](auto& c) { c.aggregation_ns = -1; })), std::invalid_argument);
  CHECK_THROWS_AS(error_throttle(bad([](auto& c) { c.max_types = 0; })), std::invalid_argument);
  CHECK_THROWS_AS(error_throttle(bad([](auto& c) { c.windows["X"] = 0; })), std::invalid_argument);
  CHECK_THROWS_WITH(error_throttle(bad([](auto& c) { c.windows["broker"] = 5; })), Catch::Contains("two entries"));
  CHECK_THROWS_WITH(error_throttle(bad([](auto& c) { c.windows[""] = 5; })), Catch::Contains("windows"));
}

TEST_CASE("sample messages are truncated on a UTF-8 boundary", "[throttle]") {
  error_throttle t;
  std::string msg(error_throttle::max_message_bytes - 1, 'x');
  msg += "\xc3\xa9tail";  // a two-byte character straddling the limit
  t.report("A", t0, "");
  t.report("A", t0 + 1, msg);  // the first non-empty message is the sample
  const auto d = t.flush(t0 + minute);
  REQUIRE(d.size() == 1);
  CHECK(d[0].entries[0].message == std::string(error_throttle::max_message_bytes - 1, 'x'));
}

TEST_CASE("JSON round trip keeps counts, windows and buffered digests", "[throttle]") {
  error_throttle::config cfg;
  cfg.windows["CUSTOM"] = 7 * sec;
  cfg.aggregation_ns = 30 * sec;
  error_throttle t(cfg);
  t.report("BROKER", t0, "down");
  t.flush(t0 + minute);
  t.report("BROKER", t0 + 2 * minute);
  t.report("CUSTOM", t0 + 2 * minute, "c");
  t.resolve("CUSTOM", t0 + 2 * minute + sec);
  t.report("DATABASE", t0 + 2 * minute + 2 * sec, "db");

  const auto doc = t.to_json();
  auto u = error_throttle::from_json(nlohmann::json::parse(doc.dump()));
  CHECK(u.to_json() == doc);
  CHECK(u.window_ns("CUSTOM") == 7 * sec);
  CHECK(u.buffered() == 2);
  // Both continue identically.
  for (auto* x : {&t, &u}) {
    CHECK(x->report("BROKER", t0 + 3 * minute) == suppressed);
    CHECK(x->report("CUSTOM", t0 + 3 * minute) == notify);
  }
  CHECK(t.to_json() == u.to_json());
  const auto a = t.flush(t0 + hour);
  const auto b = u.flush(t0 + hour);
  REQUIRE(a.size() == b.size());
  CHECK(a.size() == 2);
  CHECK(a[0].entries[1].resolved_at_ns == b[0].entries[1].resolved_at_ns);
}

TEST_CASE("malformed JSON documents are refused whole", "[throttle]") {
  error_throttle t;
  t.report("BROKER", t0, "down");
  t.report("DATABASE", t0 + sec);
  const auto good = t.to_json();
  CHECK_NOTHROW(error_throttle::from_json(good));

  auto broken = [&](auto&& edit) {
    auto d = good;
    edit(d);
    return d;
  };
  using J = nlohmann::json;
  CHECK_THROWS_AS(error_throttle::from_json(J::array()), std::invalid_argument);
  CHECK_THROWS_AS(error_throttle::from_json(broken([](J& d) { d["format"] = "other"; })), std::invalid_argument);
  CHECK_THROWS_AS(error_throttle::from_json(broken([](J& d) { d["version"] = 2; })), std::invalid_argument);
  CHECK_THROWS_AS(error_throttle::from_json(broken([](J& d) { d["config"]["default_window_ns"] = 0; })),
                  std::invalid_argument);
  CHECK_THROWS_AS(error_throttle::from_json(broken([](J& d) { d["config"]["windows"]["broker"] = 5; })),
                  std::invalid_argument);
  CHECK_THROWS_AS(error_throttle::from_json(broken([](J& d) { d["types"][0]["count"] = 0; })), std::invalid_argument);
  CHECK_THROWS_AS(error_throttle::from_json(broken([](J& d) { d["types"][0]["error_type"] = "broker"; })),
                  std::invalid_argument);
  CHECK_THROWS_AS(error_throttle::from_json(broken([](J& d) { d["types"][1] = d["types"][0]; })),
                  std::invalid_argument);
  CHECK_THROWS_AS(error_throttle::from_json(broken([](J& d) { d["types"][0]["resolved"] = true; })),
                  std::invalid_argument);
  CHECK_THROWS_AS(error_throttle::from_json(broken([](J& d) { d["types"][0]["pending_seq"] = 7; })),
                  std::invalid_argument);
  CHECK_THROWS_AS(error_throttle::from_json(broken([](J& d) { d["pending"][0]["entries"] = J::array(); })),
                  std::invalid_argument);
  CHECK_THROWS_AS(error_throttle::from_json(broken([](J& d) { d["pending"][0]["entries"][0]["error_type"] = "X"; })),
                  std::invalid_argument);
  CHECK_THROWS_AS(error_throttle::from_json(broken([](J& d) { d["pending"][0]["entries"][0]["message"] = 1; })),
                  std::invalid_argument);
  CHECK_THROWS_AS(error_throttle::from_json(broken([](J& d) { d["pending"].push_back(d["pending"][0]); })),
                  std::invalid_argument);
  // A type that says its entry is buffered when no digest holds it.
  CHECK_THROWS_WITH(error_throttle::from_json(broken([](J& d) { d["pending"] = J::array(); })),
                    Catch::Contains("pending_seq"));
}
