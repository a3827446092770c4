#pragma once
// The escalation ladder and per-pair breakers for every (symbol, timeframe) in one object
// (docs/semantics.md, Health core). Evaluation walks flat arrays; nothing per pair is allocated per cycle.
// Pairs may follow a market calendar: outside its sessions they are CLOSED and nothing
// escalates (docs/semantics.md, "Market calendars").
//
// Thread safety: none inside; one thread at a time (the Python binding adds a mutex).
#include <cstdint>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include <nlohmann/json.hpp>

#include "montalaq/health/freshness.hpp"

namespace montalaq::health {

enum class level : std::uint8_t { info = 0, warn, error, critical };
[[nodiscard]] std::string_view to_string(level l) noexcept;

struct escalation_config {
  int critical_red_streak = 3;   // CRITICAL when red_streak >= this (or breaker already open)
  int error_fails = 3;           // ERROR when fails_5m >= this (or colour RED)
  int warn_amber_streak = 2;     // WARN when amber_streak >= this
  int warn_fails = 2;            // WARN when fails_5m >= this
  int breaker_red_streak = 2;    // breaker opens when red_streak >= this
  int breaker_error_streak = 3;  // ... or error_streak >= this ("persistent ERROR")
  int auto_close_cycles = 0;     // 0: operator only; else close after N GREEN cycles, no fails
  std::int64_t fail_window_ns = 300'000'000'000LL;
  std::size_t max_failures_kept = 1'000;  // per pair; older ones beyond the window are pruned anyway
  void validate() const;                  // std::invalid_argument naming the field
};

enum class event_kind : std::uint8_t { level_change = 0, breaker_open, breaker_close };
[[nodiscard]] std::string_view to_string(event_kind k) noexcept;

struct escalation_event {
  event_kind kind;
  std::uint32_t pair;
  std::string old_state;  // a level name, or CLOSED/OPEN for breaker events
  std::string new_state;
  std::string reason;
  std::int64_t at_ns;
  std::string last_error_code;  // empty: none
};

struct pair_row {
  std::string symbol;
  std::int64_t tf_ns;
  colour col;
  level lvl;
  bool breaker_open;
  int amber_streak, red_streak, error_streak, clean_green_streak;
  int fails_5m;
  std::int64_t last_tick_ns;  // 0: never
  std::int64_t last_eval_ns;  // 0: never evaluated
  std::string last_error_code;
  std::int64_t breaker_changed_ns;  // 0: never
  std::string breaker_reason;
  std::string calendar;  // "24/7" or the name given to set_calendar
};

class escalation_board {
 public:
  explicit escalation_board(escalation_config cfg = {}, freshness fresh = freshness{});

  // Calendar index 0: the built-in "24/7", always open.
  static constexpr std::uint16_t always_open = 0;
  static constexpr std::size_t max_calendar_name = 32;

  // Registers (symbol, tf) on `calendar` if new; returns its index (stable for the board's
  // life). An existing pair keeps its calendar (set_pair_calendar changes it).
  std::uint32_t add_pair(std::string_view symbol, std::int64_t tf_ns, std::uint16_t calendar = always_open);
  [[nodiscard]] std::optional<std::uint32_t> find_pair(std::string_view symbol, std::int64_t tf_ns) const;
  [[nodiscard]] std::size_t size() const noexcept { return hot_.size(); }

  // Failures are timestamped: fails_5m counts those with now - at < fail_window.
  void record_failure(std::uint32_t pair, std::int64_t at_ns, std::string_view error_code);
  void set_last_tick(std::uint32_t pair, std::int64_t ts_ns);
  void set_last_ticks(std::span<const std::uint32_t> pairs, std::span<const std::int64_t> ts_ns);

  // Registers a market calendar as its sessions, [opens[i], closes[i]) in ns, ascending and
  // non-overlapping; returns its index. Re-registering a name replaces its sessions and
  // keeps its index. std::invalid_argument names the problem (lengths, an empty or
  // unordered session, overlap, a name that is empty, longer than 32 chars or "24/7").
  std::uint16_t set_calendar(std::string_view name, std::span<const std::int64_t> opens,
                             std::span<const std::int64_t> closes);
  [[nodiscard]] std::optional<std::uint16_t> find_calendar(std::string_view name) const;
  [[nodiscard]] std::size_t calendar_count() const noexcept { return calendars_.size(); }
  [[nodiscard]] const std::string& calendar_name(std::uint16_t calendar) const { return calendars_.at(calendar).name; }
  // Moves a pair to another calendar; its streaks, level and breaker stay as they are.
  void set_pair_calendar(std::uint32_t pair, std::uint16_t calendar);
  // A watchlist in one call: pair i is (symbols[symbol_of[i]], tf_ns[i]) on calendar[i],
  // registered when new, moved to that calendar when it exists; returns the pairs' indices.
  // Every argument is checked before anything changes (std::invalid_argument).
  std::vector<std::uint32_t> place_pairs(std::span<const std::string> symbols, std::span<const std::uint32_t> symbol_of,
                                         std::span<const std::int64_t> tf_ns, std::span<const std::uint16_t> calendar);
  [[nodiscard]] std::uint16_t calendar_of(std::uint32_t pair) const { return hot_.at(pair).calendar; }

  // One cycle over every pair, in index order. Returns the events of this cycle. Each
  // calendar's state at now_ns (open? since when?) is looked up once, before the pairs. With
  // `ticks` (one per pair, in index order) the cycle reads them directly and keeps them as
  // the pairs' last ticks: no separate upload pass.
  std::vector<escalation_event> evaluate(std::int64_t now_ns, std::span<const std::int64_t> ticks = {});

  // Operator close; returns false (and records nothing) if the breaker was not open.
  bool close_breaker(std::uint32_t pair, std::int64_t now_ns, std::string_view by, escalation_event* ev = nullptr);

  [[nodiscard]] level level_of(std::uint32_t pair) const { return hot_.at(pair).lvl; }
  [[nodiscard]] bool breaker_open(std::uint32_t pair) const { return hot_.at(pair).breaker_open; }
  [[nodiscard]] const std::string& symbol(std::uint32_t pair) const { return cold_.at(pair).symbol; }
  [[nodiscard]] std::int64_t tf_ns(std::uint32_t pair) const { return cold_.at(pair).tf_ns; }
  [[nodiscard]] pair_row row(std::uint32_t pair, std::int64_t now_ns) const;
  [[nodiscard]] const escalation_config& config() const noexcept { return cfg_; }
  [[nodiscard]] const freshness& fresh() const noexcept { return fresh_; }
  // The thresholds and freshness settings as the JSON document's "config" and "freshness"
  // objects ({"config": ..., "freshness": ...}), without the pairs: cheap on any board.
  [[nodiscard]] nlohmann::json settings_json() const;
  // BREAKER_AUTO_CLOSE_CYCLES changed since the board was saved: take the new value and
  // keep every pair's state (0 = operator only; negative throws std::invalid_argument).
  void set_auto_close_cycles(int cycles);

  // Full state as JSON, and back. from_json validates everything before it builds a
  // board, so a malformed or foreign document throws std::invalid_argument and never
  // yields a half-loaded board. Version 1 documents (before calendars) load with every
  // pair on "24/7".
  [[nodiscard]] nlohmann::json to_json() const;
  [[nodiscard]] static escalation_board from_json(const nlohmann::json& doc);
  static constexpr int json_version = 2;
  static constexpr int json_oldest_version = 1;

  // Full state as a binary snapshot, and back (docs/semantics.md, "Binary snapshots"): the
  // same state as to_json, little-endian, columnar, versioned and CRC-32C checked, about
  // 100x faster both ways. from_bytes checks the frame (length, magic, version, checksum)
  // and every count, index, enum and range while it builds a new board, so a truncated,
  // corrupt or foreign buffer throws std::invalid_argument and never yields a board.
  [[nodiscard]] std::string to_bytes() const;
  [[nodiscard]] static escalation_board from_bytes(std::span<const unsigned char> data);
  static constexpr std::uint16_t bytes_version = 1;

  friend bool operator==(const escalation_board& a, const escalation_board& b) { return a.to_json() == b.to_json(); }

 private:
  struct failure {
    std::int64_t at_ns;
    std::string code;
  };
  // What every cycle touches, packed into one cache line per pair; the rest lives in cold_
  // and is read only for pairs with failures or events. A 100k-pair cycle is bound by
  // memory traffic, so this split is the whole game.
  struct alignas(64) hot_state {
    std::int64_t last_tick_ns = 0;
    std::int64_t amber_after_ns = 0, red_after_ns = 0;  // thresholds fixed at add_pair
    std::int64_t last_eval_ns = 0;
    std::int32_t amber_streak = 0, red_streak = 0, error_streak = 0, clean_green_streak = 0;
    std::uint32_t n_failures = 0;  // == cold failures.size(), to skip cold_ when zero
    std::uint16_t calendar = always_open;
    colour col = colour::red;
    level lvl = level::info;
    bool breaker_open = false;
  };
  static_assert(sizeof(hot_state) == 64, "a pair's hot state must stay one cache line");
  struct calendar_sessions {
    std::string name;
    std::vector<std::int64_t> opens, closes;  // empty for "24/7"
    bool warned_past_end = false;             // logged once that its sessions ran out
  };
  // A calendar at the cycle's now: open, and since when (the session's open; INT64_MIN for
  // "24/7", so the last tick alone decides).
  struct calendar_now {
    std::int64_t session_open_ns;
    bool open;
  };
  struct cold_state {
    std::string symbol;
    std::int64_t tf_ns = 0;
    std::vector<failure> failures;  // ascending by at_ns; empty vectors allocate nothing
    std::string last_error_code;
    std::int64_t last_error_ns = 0;  // time of the failure that set last_error_code
    std::int64_t breaker_changed_ns = 0;
    std::string breaker_reason;
  };
  int prune_failures(std::uint32_t i, std::int64_t now_ns);
  void calendars_at(std::int64_t now_ns);
  void evaluate_one(std::uint32_t i, std::int64_t now_ns, std::vector<escalation_event>& events);
  // The (symbol, timeframe) index: the slot holding the pair, or the empty slot where it
  // would go (slots_ must not be empty); `hash` is key_hash(symbol, tf_ns).
  [[nodiscard]] static std::uint64_t key_hash(std::string_view symbol, std::int64_t tf_ns) noexcept;
  [[nodiscard]] std::size_t slot_of(std::string_view symbol, std::int64_t tf_ns, std::uint64_t hash) const noexcept;
  // Sizes the index for `pairs` pairs and re-inserts those already on the board.
  void reserve_index(std::size_t pairs);
  // Appends a pair to the index (not to hot_/cold_); false if the key is already there.
  bool index_new_pair(std::uint32_t idx);
  bool index_at(std::uint32_t idx, std::uint64_t hash);
  // Indexes the pairs from `from` on (`hashes`: their key_hash values, if the caller has
  // them); returns the first one whose key is already there, or size() when none is.
  std::size_t index_pairs(std::size_t from, std::span<const std::uint64_t> hashes = {});

  escalation_config cfg_;
  freshness fresh_;
  std::vector<hot_state> hot_;
  std::vector<cold_state> cold_;
  std::vector<calendar_sessions> calendars_;
  std::vector<calendar_now> calendars_now_;  // filled by calendars_at, one per calendar
  // (symbol, timeframe) -> pair index by open addressing: a slot holds index + 1 (0: empty)
  // in its low half and the key's hash tag in its high half; keys are compared against
  // cold_ only when the tags match, so loading 100k pairs allocates no node, copies no
  // string and rarely touches cold_ per pair. Never more than half full.
  std::vector<std::uint64_t> slots_;
};

}  // namespace montalaq::health
