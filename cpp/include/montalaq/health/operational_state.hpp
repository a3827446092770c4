#pragma once
// The process-wide operational state machine (docs/semantics.md, Health core).
#include <cstdint>
#include <deque>
#include <stdexcept>
#include <string>
#include <string_view>

#include <nlohmann/json.hpp>

namespace montalaq::health {

enum class op_state : std::uint8_t { starting = 0, active, waiting, error, shutdown };
[[nodiscard]] std::string_view to_string(op_state s) noexcept;

// A transition the machine does not allow. Derives from invalid_argument: the caller
// asked for something that cannot be done from here (Python sees ValueError).
class invalid_transition : public std::invalid_argument {
 public:
  using std::invalid_argument::invalid_argument;
};

struct op_transition {
  std::int64_t at_ns;
  op_state from, to;
  std::string reason;
};

class operational_state {
 public:
  explicit operational_state(std::int64_t now_ns, std::string_view reason = "created",
                             std::size_t history_capacity = 100);

  [[nodiscard]] static bool allowed(op_state from, op_state to) noexcept;
  // Throws invalid_transition for anything docs/semantics.md, Health core does not allow. SHUTDOWN -> SHUTDOWN
  // is accepted and ignored (returns false): a second SIGTERM must not raise.
  bool transition(op_state to, std::int64_t now_ns, std::string_view reason);

  [[nodiscard]] op_state current() const noexcept { return state_; }
  [[nodiscard]] std::int64_t entered_at_ns() const noexcept { return entered_at_; }
  [[nodiscard]] const std::string& reason() const noexcept { return reason_; }
  [[nodiscard]] const std::deque<op_transition>& history() const noexcept { return history_; }

  [[nodiscard]] nlohmann::json to_json() const;
  [[nodiscard]] static operational_state from_json(const nlohmann::json& doc);  // std::invalid_argument
  static constexpr int json_version = 1;

 private:
  op_state state_ = op_state::starting;
  std::int64_t entered_at_ = 0;
  std::string reason_;
  std::size_t capacity_;
  std::deque<op_transition> history_;
};

}  // namespace montalaq::health
