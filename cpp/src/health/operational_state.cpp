#include "montalaq/health/operational_state.hpp"

#include "montalaq/common/log.hpp"
#include "montalaq/detail/json_read.hpp"

namespace montalaq::health {
namespace {

const detail::json_reader rd("operational state document");
constexpr op_state all_states[] = {op_state::starting, op_state::active, op_state::waiting, op_state::error,
                                   op_state::shutdown};

}  // namespace

std::string_view to_string(op_state s) noexcept {
  switch (s) {
    case op_state::starting: return "STARTING";
    case op_state::active: return "ACTIVE";
    case op_state::waiting: return "WAITING";
    case op_state::error: return "ERROR";
    case op_state::shutdown: return "SHUTDOWN";
  }
  return "STARTING";
}

operational_state::operational_state(std::int64_t now_ns, std::string_view reason, std::size_t history_capacity)
    : entered_at_(now_ns), reason_(reason), capacity_(history_capacity == 0 ? 1 : history_capacity) {}

bool operational_state::allowed(op_state from, op_state to) noexcept {
  if (to == op_state::shutdown) return true;
  switch (from) {
    case op_state::starting: return to == op_state::active || to == op_state::waiting || to == op_state::error;
    case op_state::active: return to == op_state::waiting || to == op_state::error;
    case op_state::waiting: return to == op_state::active || to == op_state::error;
    case op_state::error: return to == op_state::starting;
    case op_state::shutdown: return false;
  }
  return false;
}

bool operational_state::transition(op_state to, std::int64_t now_ns, std::string_view reason) {
  if (state_ == op_state::shutdown && to == op_state::shutdown) return false;
  if (!allowed(state_, to)) {
    throw invalid_transition("operational state: " + std::string(to_string(state_)) + " -> " +
                             std::string(to_string(to)) + " is not allowed");
  }
  if (history_.size() >= capacity_) history_.pop_front();
  history_.push_back({now_ns, state_, to, std::string(reason)});
  log::logger().info("operational state {} -> {}: {}", to_string(state_), to_string(to), reason);
  state_ = to;
  entered_at_ = now_ns;
  reason_ = std::string(reason);
  return true;
}

nlohmann::json operational_state::to_json() const {
  nlohmann::json hist = nlohmann::json::array();
  for (const auto& h : history_) {
    hist.push_back({{"at_ns", h.at_ns}, {"from", to_string(h.from)}, {"to", to_string(h.to)}, {"reason", h.reason}});
  }
  return {{"format", "montalaq.operational_state"},
          {"version", json_version},
          {"state", to_string(state_)},
          {"entered_at_ns", entered_at_},
          {"reason", reason_},
          {"history_capacity", capacity_},
          {"history", hist}};
}

operational_state operational_state::from_json(const nlohmann::json& doc) {
  rd.expect_format(doc, "montalaq.operational_state", json_version);
  const auto cap = static_cast<std::size_t>(rd.get_int(doc, "history_capacity", "document", 1, 1'000'000));
  operational_state s(rd.get_int(doc, "entered_at_ns", "document"), rd.get_string(doc, "reason", "document"), cap);
  s.state_ = rd.get_enum(doc, "state", "document", all_states);
  const auto& hs = rd.field(doc, "history", "document");
  if (!hs.is_array() || hs.size() > cap) rd.fail("history must be an array of at most history_capacity entries");
  for (std::size_t i = 0; i < hs.size(); ++i) {
    const std::string where = "history[" + std::to_string(i) + "]";
    const op_transition t{rd.get_int(hs[i], "at_ns", where), rd.get_enum(hs[i], "from", where, all_states),
                          rd.get_enum(hs[i], "to", where, all_states), rd.get_string(hs[i], "reason", where)};
    if (!allowed(t.from, t.to)) rd.fail(where + " records a transition the machine does not allow");
    s.history_.push_back(t);
  }
  return s;
}

}  // namespace montalaq::health
