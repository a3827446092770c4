#include <catch2/catch.hpp>
#include <cmath>
#include <functional>
#include <limits>
#include <random>
#include <string>
#include <vector>

#include "helpers.hpp"
#include "montalaq/common/log.hpp"
#include "montalaq/rules/builtin.hpp"
#include "montalaq/rules/rule_engine.hpp"

using namespace montalaq::rules;
using test::sec;
using test::t0;

namespace {

constexpr double nan_v = std::numeric_limits<double>::quiet_NaN();

// An engine with the built-ins and a snapshot in which none of them holds.
struct fixture {
  rule_engine e;
  std::vector<double> v;

  explicit fixture(const builtin_thresholds& t = {}) {
    for (auto& r : builtin_rules(t)) e.add_rule(std::move(r));
    v.assign(e.paths().size(), nan_v);
    set("risk.circuit_breaker_active", 0);
    set("sentiment.provider_errors_1h", 0);
    set("artifacts.teacher_model_age_hours", 1);
    set("artifacts.student_model_age_hours", 1);
    set("heartbeat.age_seconds", 1);
    set("connectivity.broker_authenticated", 1);
    set("risk.daily_loss_pct", 0);
    set("positions.total_value", 0);
    set("risk.max_position_value", 1000);
  }
  void set(std::string_view path, double x) {
    const auto s = e.slot(path);
    REQUIRE(s.has_value());
    v[*s] = x;
  }
  std::vector<rule_event> eval(std::int64_t now_ns) { return e.evaluate(now_ns, v); }
};

rule_def user_rule(std::string name, std::string metric, comparison op, double threshold, std::int64_t for_ns = 0) {
  rule_def r;
  r.name = std::move(name);
  r.metric = std::move(metric);
  r.op = op;
  r.threshold = threshold;
  r.for_ns = for_ns;
  return r;
}

// One rule "cpu_high: host.cpu > 90" with a `for`, and its value.
struct one_rule {
  rule_engine e;
  std::vector<double> v{0.0};
  explicit one_rule(std::int64_t for_ns = 0) {
    e.add_rule(user_rule("cpu_high", "host.cpu", comparison::gt, 90, for_ns));
  }
  std::vector<rule_event> at(std::int64_t now_ns, double cpu) {
    v[0] = cpu;
    return e.evaluate(now_ns, v);
  }
};

}  // namespace

TEST_CASE("comparisons parse from symbols and names and compare at the boundary", "[rules]") {
  const std::pair<const char*, comparison> forms[] = {
      {">", comparison::gt},  {">=", comparison::ge}, {"<", comparison::lt},  {"<=", comparison::le},
      {"==", comparison::eq}, {"!=", comparison::ne}, {"gt", comparison::gt}, {"GE", comparison::ge},
      {"lt", comparison::lt}, {"le", comparison::le}, {"eq", comparison::eq}, {"Ne", comparison::ne}};
  for (const auto& [text, c] : forms) CHECK(parse_comparison(text) == c);
  CHECK_FALSE(parse_comparison("=>"));
  CHECK_FALSE(parse_comparison(""));
  CHECK_FALSE(parse_comparison("greater"));
  CHECK(compare(comparison::gt, 5.0000001, 5));
  CHECK_FALSE(compare(comparison::gt, 5, 5));
  CHECK(compare(comparison::ge, 5, 5));
  CHECK_FALSE(compare(comparison::ge, std::nextafter(5.0, 0.0), 5));
  CHECK(compare(comparison::lt, std::nextafter(5.0, 0.0), 5));
  CHECK_FALSE(compare(comparison::lt, 5, 5));
  CHECK(compare(comparison::le, 5, 5));
  CHECK_FALSE(compare(comparison::le, std::nextafter(5.0, 6.0), 5));
  CHECK(compare(comparison::eq, 1, 1));
  CHECK_FALSE(compare(comparison::eq, std::nextafter(1.0, 0.0), 1));
  CHECK(compare(comparison::ne, std::nextafter(1.0, 0.0), 1));
  CHECK_FALSE(compare(comparison::ne, 1, 1));
  CHECK(parse_severity("critical") == severity::critical);
  CHECK(parse_severity("Warning") == severity::warning);
  CHECK_FALSE(parse_severity("WARN"));
}

TEST_CASE("each built-in fires at its threshold and not just below", "[rules]") {
  struct row {
    const char* rule;
    const char* metric;
    double quiet;  // the nearest value on the quiet side of the boundary
    double fires;  // the first value that fires
    double threshold;
    severity sev;
  };
  const row rows[] = {
      {"circuit_breaker_triggered", "risk.circuit_breaker_active", std::nextafter(1.0, 0.0), 1, 1, severity::critical},
      {"sentiment_failures_high", "sentiment.provider_errors_1h", 10, std::nextafter(10.0, 11.0), 10,
       severity::warning},
      {"stale_teacher_model", "artifacts.teacher_model_age_hours", 24, std::nextafter(24.0, 25.0), 24,
       severity::warning},
      {"stale_student_model", "artifacts.student_model_age_hours", 24, std::nextafter(24.0, 25.0), 24,
       severity::warning},
      {"heartbeat_lapsed", "heartbeat.age_seconds", 120, std::nextafter(120.0, 121.0), 120, severity::critical},
      {"connectivity_lost", "connectivity.broker_authenticated", std::nextafter(0.0, 1.0), 0, 0, severity::critical},
      {"daily_loss_exceeded", "risk.daily_loss_pct", std::nextafter(5.0, 0.0), 5, 5, severity::critical},
      {"position_limit_breached", "positions.total_value", 1000, std::nextafter(1000.0, 1001.0), 1000,
       severity::warning},
  };
  fixture probe;
  REQUIRE(probe.e.rule_count() == std::size(rows));
  for (const auto& r : rows) {
    INFO(r.rule);
    fixture f;
    CHECK(f.eval(t0).empty());
    f.set(r.metric, r.quiet);
    CHECK(f.eval(t0 + sec).empty());
    f.set(r.metric, r.fires);
    const auto ev = f.eval(t0 + 2 * sec);
    REQUIRE(ev.size() == 1);
    CHECK(ev[0].rule == r.rule);
    CHECK(ev[0].metric == r.metric);
    CHECK(ev[0].kind == event_kind::firing);
    CHECK(ev[0].sev == r.sev);
    CHECK(ev[0].value == r.fires);
    CHECK(ev[0].threshold == r.threshold);
    CHECK(ev[0].since_ns == t0 + 2 * sec);
    CHECK(ev[0].at_ns == t0 + 2 * sec);
    CHECK_FALSE(ev[0].message.empty());
  }
}

TEST_CASE("built-in thresholds are configurable and validated", "[rules]") {
  builtin_thresholds t;
  t.heartbeat_max_age_s = 30;
  fixture f(t);
  f.set("heartbeat.age_seconds", 31);
  const auto ev = f.eval(t0);
  REQUIRE(ev.size() == 1);
  CHECK(ev[0].message == "No engine heartbeat for 31 s (limit 30 s)");
  t.daily_loss_max_pct = -1;
  CHECK_THROWS_WITH(builtin_rules(t), Catch::Contains("daily_loss_max_pct") && Catch::Contains(">= 0"));
  t = {};
  t.sentiment_errors_per_hour = std::numeric_limits<double>::infinity();
  CHECK_THROWS_WITH(builtin_rules(t), Catch::Contains("sentiment_errors_per_hour") && Catch::Contains("finite"));
  t = {};
  t.teacher_model_max_age_hours = nan_v;
  CHECK_THROWS_AS(builtin_rules(t), std::invalid_argument);
}

TEST_CASE("a firing rule fires once over many evaluations and resolves once", "[rules]") {
  fixture f;
  f.set("heartbeat.age_seconds", 500);
  int firing = 0, resolved = 0;
  for (int i = 0; i < 1000; ++i) {
    for (const auto& ev : f.eval(t0 + i * sec)) {
      CHECK(ev.kind == event_kind::firing);
      CHECK(ev.since_ns == t0);
      ++firing;
    }
  }
  CHECK(firing == 1);
  REQUIRE(f.e.active().size() == 1);
  CHECK(f.e.active()[0].fired_at_ns == t0);
  f.set("heartbeat.age_seconds", 2);
  for (int i = 1000; i < 2000; ++i) {
    for (const auto& ev : f.eval(t0 + i * sec)) {
      CHECK(ev.kind == event_kind::resolved);
      CHECK(ev.rule == "heartbeat_lapsed");
      CHECK(ev.since_ns == t0);  // the episode's start
      CHECK(ev.at_ns == t0 + 1000 * sec);
      CHECK(ev.value == 2);
      CHECK(ev.message == "heartbeat_lapsed resolved: heartbeat.age_seconds = 2 (no longer > 120)");
      ++resolved;
    }
  }
  CHECK(resolved == 1);
  CHECK(f.e.active().empty());
  CHECK(f.e.evaluations() == 2000);
  f.set("heartbeat.age_seconds", 121);  // a new episode fires again
  const auto again = f.eval(t0 + 2000 * sec);
  REQUIRE(again.size() == 1);
  CHECK(again[0].since_ns == t0 + 2000 * sec);
}

TEST_CASE("for: fires exactly at t0 + for, not a nanosecond before", "[rules]") {
  one_rule r(60 * sec);
  CHECK(r.at(t0, 95).empty());
  CHECK(r.at(t0 + 30 * sec, 95).empty());
  CHECK(r.at(t0 + 60 * sec - 1, 95).empty());
  const auto ev = r.at(t0 + 60 * sec, 96);
  REQUIRE(ev.size() == 1);
  CHECK(ev[0].since_ns == t0);
  CHECK(ev[0].at_ns == t0 + 60 * sec);
  CHECK(ev[0].value == 96);
  CHECK(r.at(t0 + 120 * sec, 95).empty());
}

TEST_CASE("for: a false evaluation resets the timer", "[rules]") {
  one_rule r(60 * sec);
  CHECK(r.at(t0, 95).empty());
  CHECK(r.at(t0 + 30 * sec, 90).empty());  // 90 > 90 is false: reset
  CHECK(r.at(t0 + 40 * sec, 95).empty());  // holding again since t0 + 40 s
  CHECK(r.at(t0 + 60 * sec, 95).empty());
  CHECK(r.at(t0 + 99 * sec, 95).empty());
  const auto ev = r.at(t0 + 100 * sec, 95);
  REQUIRE(ev.size() == 1);
  CHECK(ev[0].since_ns == t0 + 40 * sec);
}

TEST_CASE("for: a condition that never holds long enough never fires or resolves", "[rules]") {
  one_rule r(60 * sec);
  for (int i = 0; i < 100; ++i) CHECK(r.at(t0 + i * 10 * sec, i % 5 == 4 ? 10 : 99).empty());
  CHECK(r.e.active().empty());
}

TEST_CASE("missing values keep the state: no fire, no resolve, no timer restart", "[rules]") {
  SECTION("the for timer keeps running through a gap") {
    one_rule r(60 * sec);
    CHECK(r.at(t0, 95).empty());
    CHECK(r.at(t0 + 30 * sec, nan_v).empty());
    const auto ev = r.at(t0 + 60 * sec, 95);
    REQUIRE(ev.size() == 1);
    CHECK(ev[0].since_ns == t0);
  }
  SECTION("a missing value neither fires a quiet rule nor resolves a firing one") {
    one_rule r;
    CHECK(r.at(t0, nan_v).empty());
    REQUIRE(r.at(t0 + sec, 95).size() == 1);
    for (int i = 2; i < 50; ++i) CHECK(r.at(t0 + i * sec, nan_v).empty());
    REQUIRE(r.e.active().size() == 1);
    CHECK(r.e.active()[0].value == 95);  // the last value seen
    const auto ev = r.at(t0 + 50 * sec, 10);
    REQUIRE(ev.size() == 1);
    CHECK(ev[0].kind == event_kind::resolved);
  }
  SECTION("a missing threshold_metric keeps the state too") {
    fixture f;
    f.set("positions.total_value", 2000);
    REQUIRE(f.eval(t0).size() == 1);
    f.set("risk.max_position_value", nan_v);
    f.set("positions.total_value", 0);
    CHECK(f.eval(t0 + sec).empty());
    CHECK(f.e.active().size() == 1);
    f.set("risk.max_position_value", 1000);
    const auto ev = f.eval(t0 + 2 * sec);
    REQUIRE(ev.size() == 1);
    CHECK(ev[0].kind == event_kind::resolved);
  }
}

TEST_CASE("threshold_metric compares with the other metric's current value", "[rules]") {
  fixture f;
  f.set("positions.total_value", 900);
  CHECK(f.eval(t0).empty());
  f.set("risk.max_position_value", 800);  // the limit moves under the value
  auto ev = f.eval(t0 + sec);
  REQUIRE(ev.size() == 1);
  CHECK(ev[0].rule == "position_limit_breached");
  CHECK(ev[0].value == 900);
  CHECK(ev[0].threshold == 800);
  CHECK(ev[0].message == "Total position value 900 exceeds the limit 800");
  f.set("risk.max_position_value", 900);  // equal is not >
  ev = f.eval(t0 + 2 * sec);
  REQUIRE(ev.size() == 1);
  CHECK(ev[0].kind == event_kind::resolved);
  CHECK(ev[0].threshold == 900);
}

TEST_CASE("metric paths are interned once, in the order rules read them", "[rules]") {
  rule_engine e;
  rule_def a = user_rule("a", "x.one", comparison::gt, 1);
  rule_def b = user_rule("b", "x.two", comparison::gt, 0);
  b.threshold.reset();
  b.threshold_metric = std::string("x.one");
  rule_def c = user_rule("c", "x.two", comparison::lt, 0);
  e.add_rule(a);
  e.add_rule(b);
  e.add_rule(c);
  CHECK(e.paths() == std::vector<std::string>{"x.one", "x.two"});
  CHECK(e.slot("x.one") == 0U);
  CHECK(e.slot("x.two") == 1U);
  CHECK_FALSE(e.slot("x.three"));
  CHECK(e.rule_count() == 3);
}

TEST_CASE("acknowledge marks a firing rule until it resolves", "[rules]") {
  fixture f;
  CHECK_THROWS_WITH(f.e.acknowledge("no_such_rule", t0), Catch::Contains("no_such_rule"));
  CHECK_FALSE(f.e.acknowledge("heartbeat_lapsed", t0));  // not firing
  f.set("heartbeat.age_seconds", 300);
  f.eval(t0);
  CHECK(f.e.acknowledge("heartbeat_lapsed", t0 + sec));
  CHECK(f.e.acknowledge("heartbeat_lapsed", t0 + 2 * sec));  // again: still true, first time kept
  auto act = f.e.active();
  REQUIRE(act.size() == 1);
  CHECK(act[0].acknowledged);
  CHECK(act[0].acknowledged_at_ns == t0 + sec);
  CHECK(act[0].since_ns == t0);
  CHECK(act[0].fired_at_ns == t0);
  CHECK(act[0].sev == severity::critical);
  CHECK(act[0].message == "No engine heartbeat for 300 s (limit 120 s)");
  f.set("heartbeat.age_seconds", 301);
  CHECK(f.eval(t0 + 3 * sec).empty());  // acknowledging does not re-fire or resolve
  CHECK(f.e.active()[0].value == 301);  // active() shows the latest value
  f.set("heartbeat.age_seconds", 1);
  f.eval(t0 + 4 * sec);
  CHECK_FALSE(f.e.acknowledge("heartbeat_lapsed", t0 + 5 * sec));
  f.set("heartbeat.age_seconds", 300);
  f.eval(t0 + 6 * sec);
  act = f.e.active();
  REQUIRE(act.size() == 1);
  CHECK_FALSE(act[0].acknowledged);  // a new episode starts unacknowledged
  CHECK_FALSE(act[0].acknowledged_at_ns);
}

TEST_CASE("messages substitute placeholders with compact numbers", "[rules]") {
  CHECK(format_number(120) == "120");
  CHECK(format_number(0.25) == "0.25");
  CHECK(format_number(5.5) == "5.5");
  CHECK(format_number(-3.125) == "-3.125");
  CHECK(format_number(1.0 / 3.0) == "0.333333");
  CHECK(format_number(1234567.89) == "1234570");
  CHECK(format_number(999999.7) == "1000000");
  CHECK(format_number(0.000123456789) == "0.000123457");
  CHECK(format_number(1e20) == "1e+20");
  CHECK(format_number(1.5e-7) == "1.5e-07");
  CHECK(format_number(-0.0) == "0");
  CHECK(format_number(std::numeric_limits<double>::infinity()) == "inf");
  rule_def r = user_rule("x", "a.b", comparison::gt, 2);
  r.message = "{rule} {metric} {value} {threshold} {unknown} {value";
  CHECK(format_message(r, 2.5, 2) == "x a.b 2.5 2 {unknown} {value");
  r.message = std::string(default_message);
  CHECK(format_message(r, 2.5, 2) == "x: a.b = 2.5 (threshold 2)");
}

TEST_CASE("add_rule refuses bad definitions naming the field, and duplicates", "[rules]") {
  rule_engine e;
  e.add_rule(user_rule("ok", "a.b", comparison::gt, 1));
  const auto refused = [&](rule_def r, const char* needle) {
    INFO(needle);
    CHECK_THROWS_WITH(e.add_rule(std::move(r)), Catch::Contains(needle));
  };
  refused(user_rule("", "a.b", comparison::gt, 1), "name");
  refused(user_rule(std::string(65, 'n'), "a.b", comparison::gt, 1), "name: at most 64");
  refused(user_rule("has space", "a.b", comparison::gt, 1), "[A-Za-z0-9_.:-]");
  refused(user_rule("r", "", comparison::gt, 1), "metric");
  refused(user_rule("r", "a..b", comparison::gt, 1), "metric: 'a..b' is not a metric path");
  refused(user_rule("r", ".a", comparison::gt, 1), "metric");
  refused(user_rule("r", "a.", comparison::gt, 1), "metric");
  refused(user_rule("r", "a b", comparison::gt, 1), "metric");
  refused(user_rule("r", std::string(129, 'm'), comparison::gt, 1), "metric");
  refused(user_rule("r", "a.b", comparison::gt, nan_v), "threshold: must be a finite number");
  refused(user_rule("r", "a.b", comparison::gt, std::numeric_limits<double>::infinity()), "threshold");
  rule_def both = user_rule("r", "a.b", comparison::gt, 1);
  both.threshold_metric = "a.c";
  refused(both, "exactly one of threshold");
  rule_def neither = user_rule("r", "a.b", comparison::gt, 1);
  neither.threshold.reset();
  refused(neither, "exactly one of threshold");
  rule_def bad_other = neither;
  bad_other.threshold_metric = "a b";
  refused(bad_other, "threshold_metric");
  refused(user_rule("r", "a.b", comparison::gt, 1, -1), "for: must be >= 0");
  rule_def long_msg = user_rule("r", "a.b", comparison::gt, 1);
  long_msg.message = std::string(1025, 'm');
  refused(long_msg, "message: at most 1024 bytes");
  rule_def bad_utf8 = user_rule("r", "a.b", comparison::gt, 1);
  bad_utf8.message = "\xC3\x28";
  refused(bad_utf8, "message: must be valid UTF-8");
  refused(user_rule("ok", "c.d", comparison::lt, 1), "rule 'ok': name: already a rule");
  CHECK(e.rule_count() == 1);
  CHECK(e.paths() == std::vector<std::string>{"a.b"});                   // nothing interned by refused rules
  e.add_rule(user_rule("single_segment", "uptime", comparison::gt, 1));  // a path needs no dot
  CHECK(e.rule_count() == 2);
}

TEST_CASE("a rules document loads with defaults and aliases and round-trips", "[rules][json]") {
  rule_engine e;
  e.load_rules_json(R"([
    {"name": "cpu_high", "metric": "host.cpu", "op": ">=", "threshold": 90, "for_s": 1.5,
     "severity": "critical", "message": "CPU {value}% >= {threshold}%"},
    {"name": "disk_low", "metric": "host.disk_free_gb", "op": "lt", "threshold": 5},
    {"name": "over_budget", "metric": "pnl.daily", "op": "LE", "threshold_metric": "risk.budget", "severity": "Info"}
  ])");
  REQUIRE(e.rule_count() == 3);
  CHECK(e.paths() == std::vector<std::string>{"host.cpu", "host.disk_free_gb", "pnl.daily", "risk.budget"});
  const auto doc = nlohmann::json::parse(e.rules_json());
  REQUIRE(doc.size() == 3);
  CHECK(doc[0]["op"] == ">=");
  CHECK(doc[0]["for_s"] == 1.5);
  CHECK(doc[0]["severity"] == "CRITICAL");
  CHECK(doc[1]["op"] == "<");
  CHECK(doc[1]["for_s"] == 0.0);
  CHECK(doc[1]["severity"] == "WARNING");
  CHECK(doc[1]["message"] == std::string(default_message));
  CHECK(doc[2]["threshold_metric"] == "risk.budget");
  CHECK_FALSE(doc[2].contains("threshold"));
  CHECK(doc[2]["severity"] == "INFO");

  rule_engine copy;
  copy.load_rules_json(e.rules_json());
  CHECK(copy.rules_json() == e.rules_json());
  CHECK(copy.paths() == e.paths());

  std::vector<double> v{95, 100, 0, 0};
  auto ev = e.evaluate(t0, v);
  REQUIRE(ev.size() == 1);
  CHECK(ev[0].rule == "over_budget");  // 0 <= 0, for 0: at once
  CHECK(ev[0].sev == severity::info);
  CHECK(e.evaluate(t0 + 1'499'999'999, v).empty());
  ev = e.evaluate(t0 + 1'500'000'000, v);  // cpu_high after its 1.5 s
  REQUIRE(ev.size() == 1);
  CHECK(ev[0].rule == "cpu_high");
  CHECK(ev[0].message == "CPU 95% >= 90%");
}

TEST_CASE("bad rules documents are refused naming the element and field, all or nothing", "[rules][json]") {
  rule_engine e;
  e.load_rules_json(R"([{"name": "existing", "metric": "a.b", "op": ">", "threshold": 1}])");
  const std::string rules_before = e.rules_json();
  const auto paths_before = e.paths();
  const std::string good = R"({"name": "fine", "metric": "c.d", "op": ">", "threshold": 1})";
  struct bad_doc {
    std::string text;
    std::vector<const char*> needles;
  };
  const bad_doc docs[] = {
      {"not json", {"rules document", "not valid JSON"}},
      {R"({"name": "x"})", {"JSON array"}},
      {"[" + good + R"(, 5])", {"rules[1]", "must be an object"}},
      {"[" + good + R"(, {"metric": "a.c", "op": ">", "threshold": 1}])", {"rules[1]", "name: missing"}},
      {R"([{"name": 7, "metric": "a.c", "op": ">", "threshold": 1}])", {"rules[0]", "name: must be a string"}},
      {R"([{"name": "bad name", "metric": "a.c", "op": ">", "threshold": 1}])", {"rules[0]", "[A-Za-z0-9_.:-]"}},
      {R"([{"name": "r", "op": ">", "threshold": 1}])", {"rules[0] (name 'r')", "metric: missing"}},
      {R"([{"name": "r", "metric": "a..c", "op": ">", "threshold": 1}])", {"rules[0] (name 'r')", "metric:"}},
      {R"([{"name": "r", "metric": "a.c", "threshold": 1}])", {"(name 'r')", "op: missing"}},
      {R"([{"name": "r", "metric": "a.c", "op": "=~", "threshold": 1}])",
       {"(name 'r')", "op: '=~' is not a comparison", ">, >=, <, <=, ==, !="}},
      {R"([{"name": "r", "metric": "a.c", "op": ">"}])", {"(name 'r')", "exactly one of threshold"}},
      {R"([{"name": "r", "metric": "a.c", "op": ">", "threshold": 1, "threshold_metric": "a.d"}])",
       {"exactly one of threshold"}},
      {R"([{"name": "r", "metric": "a.c", "op": ">", "threshold": "1"}])",
       {"(name 'r')", "threshold: must be a number"}},
      {R"([{"name": "r", "metric": "a.c", "op": ">", "threshold": null}])", {"threshold: must be a number"}},
      {R"([{"name": "r", "metric": "a.c", "op": ">", "threshold_metric": "x y"}])", {"threshold_metric"}},
      {R"([{"name": "r", "metric": "a.c", "op": ">", "threshold": 1, "for_s": -1}])", {"(name 'r')", "for_s"}},
      {R"([{"name": "r", "metric": "a.c", "op": ">", "threshold": 1, "for_s": "60"}])", {"for_s: must be a number"}},
      {R"([{"name": "r", "metric": "a.c", "op": ">", "threshold": 1, "for_s": 1e300}])", {"for_s"}},
      {R"([{"name": "r", "metric": "a.c", "op": ">", "threshold": 1, "severity": "FATAL"}])",
       {"(name 'r')", "severity: 'FATAL'", "INFO, WARNING, CRITICAL"}},
      {R"([{"name": "r", "metric": "a.c", "op": ">", "threshold": 1, "message": 3}])", {"message: must be a string"}},
      {R"([{"name": "r", "metric": "a.c", "op": ">", "threshold": 1, "for": 60}])",
       {"(name 'r')", "unknown key 'for'", "for_s"}},
      {"[" + good + "," + good + "]", {"rules[1] (name 'fine')", "repeats rules[0]"}},
      {"[" + good + R"(, {"name": "existing", "metric": "a.c", "op": ">", "threshold": 1}])",
       {"rules[1] (name 'existing')", "already a rule"}},
  };
  for (const auto& d : docs) {
    INFO(d.text);
    try {
      e.load_rules_json(d.text);
      FAIL("accepted");
    } catch (const std::invalid_argument& err) {
      for (const char* needle : d.needles) CHECK_THAT(err.what(), Catch::Contains(needle));
    }
    CHECK(e.rules_json() == rules_before);  // nothing from the document was added
    CHECK(e.paths() == paths_before);
    CHECK(e.rule_count() == 1);
  }
}

TEST_CASE("evaluate refuses a values span of the wrong size", "[rules]") {
  fixture f;
  std::vector<double> short_v(f.v.size() - 1, 0.0);
  CHECK_THROWS_WITH(f.e.evaluate(t0, short_v),
                    Catch::Contains("values: expected 9 values") && Catch::Contains("got 8"));
  CHECK(f.e.evaluations() == 0);
  rule_engine empty;
  CHECK(empty.evaluate(t0, {}).empty());
  CHECK_THROWS_AS(empty.evaluate(t0, f.v), std::invalid_argument);
}

TEST_CASE("a clock that goes back neither fires a for rule nor overflows", "[rules]") {
  one_rule r(60 * sec);
  CHECK(r.at(t0, 95).empty());
  CHECK(r.at(t0 - 1000 * sec, 95).empty());
  CHECK(r.at(std::numeric_limits<std::int64_t>::min(), 95).empty());
  const auto ev = r.at(t0 + 60 * sec, 95);
  REQUIRE(ev.size() == 1);
  one_rule extreme(std::numeric_limits<std::int64_t>::max());
  CHECK(extreme.at(std::numeric_limits<std::int64_t>::min(), 95).empty());
  CHECK(extreme.at(std::numeric_limits<std::int64_t>::max(), 95).size() == 1);  // max - min >= max
}

TEST_CASE("infinite values compare but leave the state document as null", "[rules][json]") {
  one_rule r;
  const auto ev = r.at(t0, std::numeric_limits<double>::infinity());
  REQUIRE(ev.size() == 1);
  CHECK(ev[0].message == "cpu_high: host.cpu = inf (threshold 90)");
  const auto state = nlohmann::json::parse(r.e.state_json());
  CHECK(state["rules"][0]["value"].is_null());
  one_rule copy;
  copy.e.load_state_json(r.e.state_json());
  CHECK(copy.e.state_json() == r.e.state_json());
  CHECK(copy.at(t0 + sec, 10).size() == 1);  // and it resolves from there
}

namespace {

// Engines with the built-ins plus user rules, driven into a mix of states.
struct mixed {
  fixture f;
  mixed() {
    f.e.add_rule(user_rule("slow_burn", "pnl.daily", comparison::lt, -100, 300 * sec));
    f.v.push_back(0);
    f.set("pnl.daily", -500);
    f.set("heartbeat.age_seconds", 500);
    f.set("positions.total_value", 5000);
    f.eval(t0);
    f.e.acknowledge("heartbeat_lapsed", t0 + sec);
    f.set("risk.daily_loss_pct", 7);
    f.eval(t0 + 10 * sec);
    f.set("risk.daily_loss_pct", 0);
    f.set("positions.total_value", 0);
    f.set("connectivity.broker_authenticated", nan_v);
    f.eval(t0 + 20 * sec);
  }
};

}  // namespace

TEST_CASE("state_json round trip gives an engine that behaves the same", "[rules][json]") {
  mixed a;
  const std::string state = a.f.e.state_json();
  mixed b;  // same rules, different history
  b.f.set("heartbeat.age_seconds", 1);
  b.f.eval(t0 + 30 * sec);
  b.f.e.load_state_json(state);
  CHECK(b.f.e.state_json() == state);
  CHECK(b.f.e.evaluations() == a.f.e.evaluations());
  const auto doc = nlohmann::json::parse(state);
  CHECK(doc["format"] == "montalaq.rule_engine_state");
  CHECK(doc["rules"].size() == 9);
  // Both go on identically: slow_burn fires at t0 + 300 s, the heartbeat resolves.
  a.f.set("heartbeat.age_seconds", 1);
  b.f.set("heartbeat.age_seconds", 1);
  const auto ea = a.f.eval(t0 + 300 * sec);
  const auto eb = b.f.eval(t0 + 300 * sec);
  REQUIRE(ea.size() == 2);
  REQUIRE(eb.size() == ea.size());
  for (std::size_t i = 0; i < ea.size(); ++i) {
    CHECK(ea[i].rule == eb[i].rule);
    CHECK(ea[i].kind == eb[i].kind);
    CHECK(ea[i].since_ns == eb[i].since_ns);
    CHECK(ea[i].message == eb[i].message);
  }
  CHECK(ea[0].rule == "heartbeat_lapsed");
  CHECK(ea[0].kind == event_kind::resolved);
  CHECK(ea[1].rule == "slow_burn");
  CHECK(ea[1].since_ns == t0);
  CHECK(a.f.e.state_json() == b.f.e.state_json());
}

TEST_CASE("rules the state does not mention start afresh", "[rules][json]") {
  mixed a;
  auto doc = nlohmann::json::parse(a.f.e.state_json());
  auto& rules = doc["rules"];
  for (std::size_t i = 0; i < rules.size(); ++i) {
    if (rules[i]["name"] == "heartbeat_lapsed") {
      rules.erase(i);
      break;
    }
  }
  mixed b;
  b.f.e.load_state_json(doc.dump());
  for (const auto& al : b.f.e.active()) CHECK(al.rule != "heartbeat_lapsed");
  CHECK(b.f.eval(t0 + 30 * sec).size() == 1);  // still 500 s old: it fires anew
}

TEST_CASE("malformed state documents are refused and change nothing", "[rules][json]") {
  mixed m;
  auto& e = m.f.e;
  const std::string before = e.state_json();
  const auto good = nlohmann::json::parse(before);
  const auto index_of = [&](const char* name) {
    for (std::size_t i = 0; i < good["rules"].size(); ++i) {
      if (good["rules"][i]["name"] == name) return i;
    }
    FAIL("no rule " << name);
    return std::size_t{0};
  };
  const std::size_t hb = index_of("heartbeat_lapsed");
  const std::size_t quiet = index_of("stale_teacher_model");
  struct mutation {
    const char* needle;
    std::function<void(nlohmann::json&)> edit;
  };
  const mutation mutations[] = {
      {"format", [](auto& d) { d["format"] = "montalaq.other"; }},
      {"version", [](auto& d) { d["version"] = 99; }},
      {"evaluations", [](auto& d) { d["evaluations"] = -1; }},
      {"unknown key 'extra'", [](auto& d) { d["extra"] = 1; }},
      {"rules must be an array", [](auto& d) { d["rules"] = nlohmann::json::object(); }},
      {"is not a rule of this engine", [&](auto& d) { d["rules"][quiet]["name"] = "ghost"; }},
      {"repeats", [&](auto& d) { d["rules"].push_back(d["rules"][hb]); }},
      {"unknown key 'colour'", [&](auto& d) { d["rules"][hb]["colour"] = "red"; }},
      {"firing", [&](auto& d) { d["rules"][hb]["firing"] = "yes"; }},
      {"pending_since_ns", [&](auto& d) { d["rules"][hb]["pending_since_ns"] = nullptr; }},
      {"fired_at_ns must be set exactly when firing", [&](auto& d) { d["rules"][hb]["fired_at_ns"] = nullptr; }},
      {"fired_at_ns must be set exactly when firing", [&](auto& d) { d["rules"][quiet]["fired_at_ns"] = t0; }},
      {"before pending_since_ns", [&](auto& d) { d["rules"][hb]["fired_at_ns"] = t0 - 1; }},
      {"only a firing rule",
       [&](auto& d) {
         d["rules"][quiet]["acknowledged"] = true;
         d["rules"][quiet]["acknowledged_at_ns"] = t0;
       }},
      {"acknowledged_at_ns", [&](auto& d) { d["rules"][hb]["acknowledged_at_ns"] = nullptr; }},
      {"value must be a number or null", [&](auto& d) { d["rules"][hb]["value"] = "500"; }},
      {"message must be empty unless firing", [&](auto& d) { d["rules"][quiet]["message"] = "x"; }},
      {"pending_since_ns must be an integer", [&](auto& d) { d["rules"][hb]["pending_since_ns"] = 1.5; }},
      {"has no 'message'", [&](auto& d) { d["rules"][hb].erase("message"); }},
  };
  for (const auto& mu : mutations) {
    INFO(mu.needle);
    auto doc = good;
    mu.edit(doc);
    CHECK_THROWS_WITH(e.load_state_json(doc.dump()), Catch::Contains(mu.needle));
    CHECK(e.state_json() == before);
  }
  CHECK_THROWS_WITH(e.load_state_json("{"), Catch::Contains("not valid JSON"));
  CHECK_THROWS_WITH(e.load_state_json("[]"), Catch::Contains("JSON object"));
  CHECK(e.state_json() == before);
}

TEST_CASE("fuzz: mutated state documents load or throw invalid_argument, never anything else", "[rules][json]") {
  mixed m;
  const std::string text = m.f.e.state_json();
  std::mt19937_64 rng(7);
  int loaded = 0, refused = 0;
  for (int iter = 0; iter < 3000; ++iter) {
    std::string s = text;
    const int edits = 1 + static_cast<int>(rng() % 4);
    for (int k = 0; k < edits; ++k) {
      const std::size_t pos = rng() % s.size();
      switch (rng() % 3) {
        case 0: s[pos] = static_cast<char>(32 + rng() % 95); break;
        case 1: s.erase(pos, 1 + rng() % 8); break;
        default: s.insert(pos, 1, "{}[]\",:0-9e"[rng() % 11]); break;
      }
      if (s.empty()) s.push_back('{');  // not `s = "{"`: GCC 12 false -Wrestrict (PR 105329)
    }
    mixed target;
    const std::string target_before = target.f.e.state_json();
    try {
      target.f.e.load_state_json(s);
      ++loaded;
      // Whatever loaded must evaluate, serialise and reload.
      for (int i = 0; i < 3; ++i) target.f.eval(t0 + static_cast<std::int64_t>(rng() % 1000) * sec);
      for (const auto& al : target.f.e.active()) (void)target.f.e.acknowledge(al.rule, t0);
      mixed again;
      again.f.e.load_state_json(target.f.e.state_json());
    } catch (const std::invalid_argument&) {
      ++refused;
      CHECK(target.f.e.state_json() == target_before);
    }
  }
  CHECK(refused > 0);
  CHECK(loaded > 0);
}

TEST_CASE("fuzz: mutated rules documents add everything or nothing", "[rules][json]") {
  rule_engine src;
  for (auto& r : builtin_rules({})) src.add_rule(std::move(r));
  src.add_rule(user_rule("user.rule:1", "a.b", comparison::ne, 0.5, 10 * sec));
  const std::string text = src.rules_json();
  std::mt19937_64 rng(11);
  int loaded = 0, refused = 0;
  for (int iter = 0; iter < 3000; ++iter) {
    std::string s = text;
    const int edits = 1 + static_cast<int>(rng() % 3);
    for (int k = 0; k < edits; ++k) {
      const std::size_t pos = rng() % s.size();
      switch (rng() % 3) {
        case 0: s[pos] = static_cast<char>(32 + rng() % 95); break;
        case 1: s.erase(pos, 1 + rng() % 8); break;
        default: s.insert(pos, 1, "{}[]\",:0-9e"[rng() % 11]); break;
      }
      if (s.empty()) s.push_back('[');
    }
    rule_engine e;
    e.add_rule(user_rule("pre", "p.q", comparison::gt, 1));
    try {
      e.load_rules_json(s);
      ++loaded;
      rule_engine copy;
      copy.load_rules_json(e.rules_json());
      CHECK(copy.rules_json() == e.rules_json());
    } catch (const std::invalid_argument&) {
      ++refused;
      CHECK(e.rule_count() == 1);
      CHECK(e.paths().size() == 1);
    }
  }
  CHECK(refused > 0);
  CHECK(loaded > 0);
}

TEST_CASE("transitions are logged to the alert logger, evaluations are not", "[rules]") {
  namespace lg = montalaq::log;
  lg::set_level(spdlog::level::info);
  (void)lg::drain();
  fixture f;
  for (int i = 0; i < 100; ++i) f.eval(t0 + i * sec);
  CHECK(lg::drain().empty());
  f.set("heartbeat.age_seconds", 500);
  for (int i = 100; i < 200; ++i) f.eval(t0 + i * sec);
  f.set("heartbeat.age_seconds", 5);
  for (int i = 200; i < 300; ++i) f.eval(t0 + i * sec);
  const auto recs = lg::drain();
  lg::set_level(spdlog::level::warn);
  REQUIRE(recs.size() == 2);
  CHECK(recs[0].logger == "alert");
  CHECK(recs[0].level == spdlog::level::critical);
  CHECK_THAT(recs[0].message, Catch::StartsWith("FIRING heartbeat_lapsed (CRITICAL)"));
  CHECK(recs[1].logger == "alert");
  CHECK(recs[1].level == spdlog::level::info);
  CHECK_THAT(recs[1].message, Catch::StartsWith("RESOLVED heartbeat_lapsed"));
}
