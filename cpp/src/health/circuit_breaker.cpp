#include "montalaq/health/circuit_breaker.hpp"

#include <cmath>
#include <cstdio>
#include <limits>
#include <stdexcept>

#include "montalaq/common/log.hpp"
#include "montalaq/detail/json_read.hpp"
#include "montalaq/detail/saturating.hpp"

namespace montalaq::health {
namespace {

const detail::json_reader rd("circuit breaker document");
constexpr breaker_state all_states[] = {breaker_state::closed, breaker_state::open, breaker_state::half_open,
                                        breaker_state::forced_open, breaker_state::disabled};
constexpr int max_int = std::numeric_limits<int>::max();

std::string_view mode_name(breaker_mode m) { return m == breaker_mode::count ? "count" : "rate"; }

}  // namespace

std::string_view to_string(breaker_state s) noexcept {
  switch (s) {
    case breaker_state::closed: return "CLOSED";
    case breaker_state::open: return "OPEN";
    case breaker_state::half_open: return "HALF_OPEN";
    case breaker_state::forced_open: return "FORCED_OPEN";
    case breaker_state::disabled: return "DISABLED";
  }
  return "CLOSED";
}

void breaker_config::validate() const {
  if (failure_threshold < 1) throw std::invalid_argument("failure_threshold must be >= 1");
  if (window_ns < 1) throw std::invalid_argument("window must be > 0");
  if (!(failure_rate_pct > 0.0 && failure_rate_pct <= 100.0)) {
    throw std::invalid_argument("failure_rate_pct must be in (0, 100]");
  }
  if (rate_window_calls < 1) throw std::invalid_argument("rate_window_calls must be >= 1");
  if (min_calls < 1 || min_calls > rate_window_calls) {
    throw std::invalid_argument("min_calls must be in [1, rate_window_calls]");
  }
  if (cooldown_ns < 1) throw std::invalid_argument("cooldown must be > 0");
  if (half_open_calls < 1) throw std::invalid_argument("half_open_calls must be >= 1");
  if (half_open_max_wait_ns < 0) throw std::invalid_argument("half_open_max_wait must be >= 0 (0 = the cooldown)");
  if (history_capacity < 1) throw std::invalid_argument("history_capacity must be >= 1");
}

circuit_breaker::circuit_breaker(breaker_config cfg) : cfg_(cfg) { cfg_.validate(); }

void circuit_breaker::move_to(breaker_state to, std::int64_t now_ns, std::string reason) {
  if (to == state_) return;
  if (history_.size() >= cfg_.history_capacity) history_.pop_front();
  log::logger().info("circuit breaker {} -> {}: {}", to_string(state_), to_string(to), reason);
  history_.push_back({now_ns, state_, to, std::move(reason)});
  state_ = to;
  if (to == breaker_state::open) opened_at_ = now_ns;
  if (to == breaker_state::half_open) {
    half_open_since_ = now_ns;
    probes_issued_ = probes_ok_ = 0;
  }
  if (to == breaker_state::closed) clear_window();
}

void circuit_breaker::clear_window() {
  fail_times_.clear();
  outcomes_.clear();
  outcome_failures_ = 0;
}

void circuit_breaker::step(std::int64_t now_ns) {
  if (state_ == breaker_state::open && detail::elapsed(now_ns, opened_at_) >= cfg_.cooldown_ns) {
    move_to(breaker_state::half_open, now_ns, "cooldown elapsed");
  } else if (state_ == breaker_state::half_open && probes_issued_ > probes_ok_ &&
             detail::elapsed(now_ns, first_probe_at_) >= max_wait()) {
    move_to(breaker_state::open, now_ns, "half-open probes did not report in time");
  }
}

breaker_state circuit_breaker::state(std::int64_t now_ns) {
  step(now_ns);
  return state_;
}

std::optional<std::int64_t> circuit_breaker::retry_after_ns(std::int64_t now_ns) {
  step(now_ns);
  if (state_ != breaker_state::open) return std::nullopt;
  // Still OPEN, so the time since opening is below the cooldown and the rest is > 0. A
  // clock behind the opening makes that time negative and the rest can pass int64:
  // elapsed() is the saturating subtraction for both steps.
  return detail::elapsed(cfg_.cooldown_ns, detail::elapsed(now_ns, opened_at_));
}

bool circuit_breaker::allow(std::int64_t now_ns) {
  switch (state_) {
    case breaker_state::closed:
    case breaker_state::disabled: ++counts_.allowed; return true;
    case breaker_state::forced_open: ++counts_.rejected; return false;
    default: break;
  }
  step(now_ns);
  if (state_ == breaker_state::half_open && probes_issued_ < cfg_.half_open_calls) {
    if (probes_issued_ == 0) first_probe_at_ = now_ns;  // the probe deadline runs from here
    ++probes_issued_;
    ++counts_.allowed;
    return true;
  }
  ++counts_.rejected;
  return false;
}

void circuit_breaker::push_outcome(bool failed, std::int64_t now_ns) {
  outcomes_.push_back(failed);
  outcome_failures_ += failed ? 1 : 0;
  if (static_cast<int>(outcomes_.size()) > cfg_.rate_window_calls) {
    outcome_failures_ -= outcomes_.front() ? 1 : 0;
    outcomes_.pop_front();
  }
  // Checked after every result, as resilience4j does: a success can complete min_calls
  // with the failure rate already over the threshold.
  const auto calls = static_cast<int>(outcomes_.size());
  if (calls >= cfg_.min_calls &&
      100.0 * static_cast<double>(outcome_failures_) >= cfg_.failure_rate_pct * static_cast<double>(calls)) {
    move_to(breaker_state::open, now_ns,
            "failure rate " + std::to_string(100 * outcome_failures_ / calls) + "% over " + std::to_string(calls) +
                " calls");
  }
}

void circuit_breaker::record_success(std::int64_t now_ns) {
  ++counts_.successes;
  step(now_ns);  // a probe reporting after its deadline finds the breaker re-opened
  switch (state_) {
    case breaker_state::closed:
      if (cfg_.mode == breaker_mode::rate) push_outcome(false, now_ns);
      break;
    case breaker_state::half_open:
      if (++probes_ok_ >= cfg_.half_open_calls) move_to(breaker_state::closed, now_ns, "half-open probes succeeded");
      break;
    default: break;  // a late result from before the breaker opened, or an operator state
  }
}

void circuit_breaker::record_failure(std::int64_t now_ns) {
  ++counts_.failures;
  step(now_ns);
  switch (state_) {
    case breaker_state::closed:
      if (cfg_.mode == breaker_mode::count) {
        fail_times_.push_back(now_ns);
        if (static_cast<int>(fail_times_.size()) > cfg_.failure_threshold) fail_times_.pop_front();
        if (static_cast<int>(fail_times_.size()) == cfg_.failure_threshold &&
            detail::elapsed(now_ns, fail_times_.front()) < cfg_.window_ns) {
          char window[32];
          std::snprintf(window, sizeof window, "%g", static_cast<double>(cfg_.window_ns) / 1e9);
          move_to(breaker_state::open, now_ns,
                  std::to_string(cfg_.failure_threshold) + " failures within " + window + " s");
        }
      } else {
        push_outcome(true, now_ns);
      }
      break;
    case breaker_state::half_open: move_to(breaker_state::open, now_ns, "half-open probe failed"); break;
    default: break;
  }
}

void circuit_breaker::force_open(std::int64_t now_ns, std::string_view reason) {
  move_to(breaker_state::forced_open, now_ns, "operator: " + std::string(reason));
}
void circuit_breaker::disable(std::int64_t now_ns, std::string_view reason) {
  move_to(breaker_state::disabled, now_ns, "operator: " + std::string(reason));
}
void circuit_breaker::reset(std::int64_t now_ns, std::string_view reason) {
  move_to(breaker_state::closed, now_ns, "operator: " + std::string(reason));
  clear_window();
}

int circuit_breaker::window_failures(std::int64_t now_ns) const {
  if (cfg_.mode == breaker_mode::rate) return outcome_failures_;
  int n = 0;
  for (const auto t : fail_times_) n += (detail::elapsed(now_ns, t) < cfg_.window_ns) ? 1 : 0;
  return n;
}

nlohmann::json circuit_breaker::to_json() const {
  nlohmann::json hist = nlohmann::json::array();
  for (const auto& h : history_) {
    hist.push_back({{"at_ns", h.at_ns}, {"from", to_string(h.from)}, {"to", to_string(h.to)}, {"reason", h.reason}});
  }
  nlohmann::json outcomes = nlohmann::json::array();
  for (const bool f : outcomes_) outcomes.push_back(f);
  return {{"format", "montalaq.circuit_breaker"},
          {"version", json_version},
          {"config",
           {{"mode", mode_name(cfg_.mode)},
            {"failure_threshold", cfg_.failure_threshold},
            {"window_ns", cfg_.window_ns},
            {"failure_rate_pct", cfg_.failure_rate_pct},
            {"rate_window_calls", cfg_.rate_window_calls},
            {"min_calls", cfg_.min_calls},
            {"cooldown_ns", cfg_.cooldown_ns},
            {"half_open_calls", cfg_.half_open_calls},
            {"half_open_max_wait_ns", cfg_.half_open_max_wait_ns},
            {"history_capacity", cfg_.history_capacity}}},
          {"state", to_string(state_)},
          {"opened_at_ns", opened_at_},
          {"half_open_since_ns", half_open_since_},
          {"first_probe_ns", first_probe_at_},
          {"probes_issued", probes_issued_},
          {"probes_ok", probes_ok_},
          {"fail_times_ns", fail_times_},
          {"outcomes", outcomes},
          {"counts",
           {{"allowed", counts_.allowed},
            {"rejected", counts_.rejected},
            {"successes", counts_.successes},
            {"failures", counts_.failures}}},
          {"history", hist}};
}

circuit_breaker circuit_breaker::from_json(const nlohmann::json& doc) {
  rd.expect_format(doc, "montalaq.circuit_breaker", json_version);
  const auto& c = rd.field(doc, "config", "document");
  breaker_config cfg;
  const std::string mode = rd.get_string(c, "mode", "config");
  if (mode != "count" && mode != "rate") rd.fail("config.mode must be 'count' or 'rate'");
  cfg.mode = mode == "count" ? breaker_mode::count : breaker_mode::rate;
  cfg.failure_threshold = static_cast<int>(rd.get_int(c, "failure_threshold", "config", 1, max_int));
  cfg.window_ns = rd.get_int(c, "window_ns", "config", 1);
  cfg.failure_rate_pct = rd.get_double(c, "failure_rate_pct", "config");
  cfg.rate_window_calls = static_cast<int>(rd.get_int(c, "rate_window_calls", "config", 1, 10'000'000));
  cfg.min_calls = static_cast<int>(rd.get_int(c, "min_calls", "config", 1, max_int));
  cfg.cooldown_ns = rd.get_int(c, "cooldown_ns", "config", 1);
  cfg.half_open_calls = static_cast<int>(rd.get_int(c, "half_open_calls", "config", 1, max_int));
  cfg.half_open_max_wait_ns = rd.get_int(c, "half_open_max_wait_ns", "config", 0);
  cfg.history_capacity = static_cast<std::size_t>(rd.get_int(c, "history_capacity", "config", 1, 1'000'000));
  try {
    cfg.validate();
  } catch (const std::invalid_argument& e) {
    rd.fail(std::string("config: ") + e.what());
  }
  circuit_breaker b(cfg);
  b.state_ = rd.get_enum(doc, "state", "document", all_states);
  b.opened_at_ = rd.get_int(doc, "opened_at_ns", "document");
  b.half_open_since_ = rd.get_int(doc, "half_open_since_ns", "document");
  b.first_probe_at_ = rd.get_int(doc, "first_probe_ns", "document");
  b.probes_issued_ = static_cast<int>(rd.get_int(doc, "probes_issued", "document", 0, cfg.half_open_calls));
  b.probes_ok_ = static_cast<int>(rd.get_int(doc, "probes_ok", "document", 0, b.probes_issued_));
  const auto& ft = rd.field(doc, "fail_times_ns", "document");
  if (!ft.is_array() || static_cast<int>(ft.size()) > cfg.failure_threshold) {
    rd.fail("fail_times_ns must be an array of at most failure_threshold times");
  }
  for (const auto& t : ft) {
    const std::int64_t at = rd.as_int(t, "fail_times_ns[]");
    // The window drops failures from the front: times out of order would keep an old
    // failure counting forever (regression: the loader accepted them).
    if (!b.fail_times_.empty() && at < b.fail_times_.back()) rd.fail("fail_times_ns must be in time order");
    b.fail_times_.push_back(at);
  }
  const auto& oc = rd.field(doc, "outcomes", "document");
  if (!oc.is_array() || static_cast<int>(oc.size()) > cfg.rate_window_calls) {
    rd.fail("outcomes must be an array of at most rate_window_calls booleans");
  }
  for (const auto& o : oc) {
    if (!o.is_boolean()) rd.fail("outcomes[] must be booleans");
    b.outcomes_.push_back(o.get<bool>());
    b.outcome_failures_ += o.get<bool>() ? 1 : 0;
  }
  const auto& cn = rd.field(doc, "counts", "document");
  // Counters go on counting after the load: they must leave room to (2^62, ~146 years of
  // a billion calls a second), or the next increment overflows.
  constexpr std::int64_t max_count = std::int64_t{1} << 62;
  b.counts_.allowed = rd.get_int(cn, "allowed", "counts", 0, max_count);
  b.counts_.rejected = rd.get_int(cn, "rejected", "counts", 0, max_count);
  b.counts_.successes = rd.get_int(cn, "successes", "counts", 0, max_count);
  b.counts_.failures = rd.get_int(cn, "failures", "counts", 0, max_count);
  const auto& hs = rd.field(doc, "history", "document");
  if (!hs.is_array() || hs.size() > cfg.history_capacity)
    rd.fail("history must be an array of at most history_capacity");
  for (std::size_t i = 0; i < hs.size(); ++i) {
    const std::string where = "history[" + std::to_string(i) + "]";
    b.history_.push_back({rd.get_int(hs[i], "at_ns", where), rd.get_enum(hs[i], "from", where, all_states),
                          rd.get_enum(hs[i], "to", where, all_states), rd.get_string(hs[i], "reason", where)});
  }
  return b;
}

}  // namespace montalaq::health
