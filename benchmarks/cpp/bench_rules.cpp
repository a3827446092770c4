// Cost of one rule_engine::evaluate() with nothing changing state: the 8 built-ins plus
// 100 user rules (a mix of comparisons, constant and threshold_metric thresholds, `for`
// durations) over a snapshot in which
//   quiet:  no rule holds;
//   firing: every rule fires in the warm-up and stays firing (no further events).
// Also counts heap allocations inside the timed loop (operator new is counted here):
// evaluate() must not allocate when no rule changes state.
// Usage: montalaq_bench_rules [evaluations] [repeats]; prints one JSON line.
#include <atomic>
#include <chrono>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <new>
#include <string>
#include <vector>

#include "montalaq/rules/builtin.hpp"
#include "montalaq/rules/rule_engine.hpp"

namespace {
std::atomic<std::int64_t> allocations{0};
}  // namespace

void* operator new(std::size_t n) {
  allocations.fetch_add(1, std::memory_order_relaxed);
  if (void* p = std::malloc(n == 0 ? 1 : n)) return p;
  throw std::bad_alloc();
}
void operator delete(void* p) noexcept { std::free(p); }
void operator delete(void* p, std::size_t) noexcept { std::free(p); }

namespace {

using namespace montalaq::rules;

constexpr std::int64_t t0 = 1'767'225'600LL * 1'000'000'000LL;
constexpr int user_rules = 100;

rule_engine make_engine() {
  rule_engine e;
  for (auto& r : builtin_rules({})) e.add_rule(std::move(r));
  const comparison ops[] = {comparison::gt, comparison::ge, comparison::lt,
                            comparison::le, comparison::eq, comparison::ne};
  for (int i = 0; i < user_rules; ++i) {
    rule_def r;
    r.name = "user_" + std::to_string(i);
    r.metric = "custom.m" + std::to_string(i);
    r.op = ops[i % 6];
    if (i % 5 == 0) {
      r.threshold_metric = "custom.limit" + std::to_string(i % 10);
    } else {
      r.threshold = 50;
    }
    r.for_ns = (i % 3) * 60'000'000'000LL;
    e.add_rule(std::move(r));
  }
  return e;
}

// A snapshot in which no rule holds (quiet) or every rule holds (firing).
std::vector<double> snapshot(const rule_engine& e, bool firing) {
  std::vector<double> v(e.paths().size(), 0.0);
  const auto set = [&](const char* path, double x) { v[*e.slot(path)] = x; };
  set("risk.circuit_breaker_active", firing ? 1 : 0);
  set("sentiment.provider_errors_1h", firing ? 50 : 0);
  set("artifacts.teacher_model_age_hours", firing ? 48 : 1);
  set("artifacts.student_model_age_hours", firing ? 48 : 1);
  set("heartbeat.age_seconds", firing ? 600 : 1);
  set("connectivity.broker_authenticated", firing ? 0 : 1);
  set("risk.daily_loss_pct", firing ? 9 : 0);
  set("positions.total_value", firing ? 2000 : 0);
  set("risk.max_position_value", 1000);
  // Every user threshold (constant or custom.limit*) is 50; pick each rule's value so that
  // its comparison holds (firing) or not (quiet).
  for (int l = 0; l < 10; ++l) v[*e.slot("custom.limit" + std::to_string(l))] = 50;
  constexpr double quiet_value[] = {40, 40, 60, 60, 40, 50};   // gt, ge, lt, le, eq, ne
  constexpr double firing_value[] = {60, 50, 40, 50, 50, 40};  // the same ops
  for (int i = 0; i < user_rules; ++i) {
    v[*e.slot("custom.m" + std::to_string(i))] = firing ? firing_value[i % 6] : quiet_value[i % 6];
  }
  return v;
}

struct result {
  double ns_per_eval = 1e30;
  std::int64_t allocations = 0;
  std::int64_t events = 0;
  std::size_t active = 0;
};

result time_it(bool firing, int n, int repeats) {
  result best;
  for (int r = 0; r < repeats; ++r) {
    auto e = make_engine();
    const auto v = snapshot(e, firing);
    std::int64_t now = t0;
    std::int64_t events = 0;
    // Warm-up past every `for` (120 s): the rules that will ever fire have fired.
    for (int i = 0; i < 10; ++i, now += 60'000'000'000LL)
      events += static_cast<std::int64_t>(e.evaluate(now, v).size());
    const auto allocs_before = allocations.load();
    std::int64_t steady_events = 0;
    const auto a = std::chrono::steady_clock::now();
    for (int i = 0; i < n; ++i) {
      now += 1'000'000'000LL;
      steady_events += static_cast<std::int64_t>(e.evaluate(now, v).size());
    }
    const auto b = std::chrono::steady_clock::now();
    const auto allocs = allocations.load() - allocs_before;
    const double ns = std::chrono::duration<double, std::nano>(b - a).count() / n;
    if (ns < best.ns_per_eval) best = {ns, allocs + steady_events, events, e.active().size()};
  }
  return best;
}

}  // namespace

int main(int argc, char** argv) {
  const int n = argc > 1 ? std::atoi(argv[1]) : 1'000'000;
  const int repeats = argc > 2 ? std::atoi(argv[2]) : 3;
  if (n < 1 || repeats < 1) {
    std::fprintf(stderr, "usage: montalaq_bench_rules [evaluations >= 1] [repeats >= 1]\n");
    return 2;
  }
  const auto engine = make_engine();
  std::printf("{\"rules\": %zu, \"slots\": %zu, \"evaluations\": %d", engine.rule_count(), engine.paths().size(), n);
  for (const bool firing : {false, true}) {
    const auto r = time_it(firing, n, repeats);
    std::printf(
        ", \"%s\": {\"ns_per_evaluate\": %.1f, \"active\": %zu, \"warmup_events\": %lld, "
        "\"allocations_or_events_in_timed_loop\": %lld}",
        firing ? "firing" : "quiet", r.ns_per_eval, r.active, static_cast<long long>(r.events),
        static_cast<long long>(r.allocations));
  }
  std::printf("}\n");
  return 0;
}
