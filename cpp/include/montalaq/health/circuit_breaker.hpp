#pragma once
// Generic circuit breaker for brokers, exchanges and notification channels (docs/semantics.md,
// "Health core": circuit breaker).
// Time is passed in; the breaker never reads a clock.
//
// Thread safety: none inside; one thread at a time (the Python binding relies on the GIL).
#include <cstdint>
#include <deque>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include <nlohmann/json.hpp>

namespace montalaq::health {

enum class breaker_state : std::uint8_t { closed = 0, open, half_open, forced_open, disabled };
[[nodiscard]] std::string_view to_string(breaker_state s) noexcept;

enum class breaker_mode : std::uint8_t { count = 0, rate };

struct breaker_config {
  breaker_mode mode = breaker_mode::count;
  // count mode: OPEN after failure_threshold failures within window_ns
  int failure_threshold = 5;
  std::int64_t window_ns = 300'000'000'000LL;
  // rate mode: OPEN when failures / calls >= failure_rate_pct over the last
  // rate_window_calls calls, once at least min_calls calls were recorded
  double failure_rate_pct = 50.0;
  int rate_window_calls = 100;
  int min_calls = 10;
  std::int64_t cooldown_ns = 120'000'000'000LL;  // OPEN rejects for this long
  int half_open_calls = 1;                       // probes let through in HALF_OPEN
  // HALF_OPEN can never hang: if its probes have not all reported this long after the
  // first was handed out, the breaker re-opens. 0 means "the cooldown".
  std::int64_t half_open_max_wait_ns = 0;
  std::size_t history_capacity = 100;
  void validate() const;  // std::invalid_argument naming the field
};

struct breaker_transition {
  std::int64_t at_ns;
  breaker_state from, to;
  std::string reason;
};

struct breaker_counts {
  std::int64_t allowed = 0, rejected = 0, successes = 0, failures = 0;
};

class circuit_breaker {
 public:
  explicit circuit_breaker(breaker_config cfg = {});

  // May the call go ahead? Counts the call (or the rejection); in HALF_OPEN hands out
  // one of the probe permits.
  bool allow(std::int64_t now_ns);
  void record_success(std::int64_t now_ns);
  void record_failure(std::int64_t now_ns);

  // Current state, after applying time-driven transitions (OPEN -> HALF_OPEN at the end of
  // the cooldown, HALF_OPEN -> OPEN when probes time out).
  breaker_state state(std::int64_t now_ns);
  [[nodiscard]] breaker_state state_now() const noexcept { return state_; }  // no time step
  // While OPEN (after applying the clock, as state() does): ns until the cooldown ends and
  // the breaker turns HALF_OPEN, > 0; in any other state nullopt (FORCED_OPEN has no end).
  [[nodiscard]] std::optional<std::int64_t> retry_after_ns(std::int64_t now_ns);

  // Operator controls.
  void force_open(std::int64_t now_ns, std::string_view reason);
  void disable(std::int64_t now_ns, std::string_view reason);
  void reset(std::int64_t now_ns, std::string_view reason);  // -> CLOSED, counts cleared

  [[nodiscard]] const std::deque<breaker_transition>& history() const noexcept { return history_; }
  [[nodiscard]] const breaker_counts& counts() const noexcept { return counts_; }
  [[nodiscard]] const breaker_config& config() const noexcept { return cfg_; }
  [[nodiscard]] std::int64_t opened_at_ns() const noexcept { return opened_at_; }
  // Failures currently counted towards opening (count mode: within the window; rate mode:
  // in the call window), and calls in the rate window.
  [[nodiscard]] int window_failures(std::int64_t now_ns) const;
  [[nodiscard]] int window_calls() const noexcept { return static_cast<int>(outcomes_.size()); }

  [[nodiscard]] nlohmann::json to_json() const;
  [[nodiscard]] static circuit_breaker from_json(const nlohmann::json& doc);  // std::invalid_argument
  static constexpr int json_version = 1;

 private:
  void move_to(breaker_state to, std::int64_t now_ns, std::string reason);
  void step(std::int64_t now_ns);
  void clear_window();
  void push_outcome(bool failed, std::int64_t now_ns);
  [[nodiscard]] std::int64_t max_wait() const noexcept {
    return cfg_.half_open_max_wait_ns > 0 ? cfg_.half_open_max_wait_ns : cfg_.cooldown_ns;
  }

  breaker_config cfg_;
  breaker_state state_ = breaker_state::closed;
  std::int64_t opened_at_ = 0;  // start of the current OPEN
  std::int64_t half_open_since_ = 0;
  std::int64_t first_probe_at_ = 0;  // when HALF_OPEN handed out its first permit
  int probes_issued_ = 0, probes_ok_ = 0;
  std::deque<std::int64_t> fail_times_;  // count mode: the last failure_threshold failures
  std::deque<bool> outcomes_;            // rate mode: true = failure
  int outcome_failures_ = 0;
  breaker_counts counts_;
  std::deque<breaker_transition> history_;
};

}  // namespace montalaq::health
