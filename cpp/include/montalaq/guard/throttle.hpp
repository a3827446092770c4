#pragma once
// Notification throttling per error type (docs/semantics.md, Guards).
//
// Each error type has a throttle window (STARTUP 3600 s, WEBSOCKET 3600 s, BROKER 1800 s,
// DATABASE 3600 s, any other type the default 3600 s). The first occurrence of a type opens
// its window and notifies; later occurrences with `now - window_start < window` are only
// counted. Notifications are not sent one by one: `report()` buffers them, and every type
// that notifies within one aggregation window (60 s, starting with the first buffered
// report) goes out in ONE digest, returned by `flush(now)` once that window has elapsed.
// Occurrences of a type while its notification is still buffered add to its digest entry.
// `resolve()` ends an episode with one recovery message; the next occurrence notifies again.
//
// Error type names are 1..64 characters from [A-Za-z0-9_.:-], folded to upper case, so
// "broker" and "BROKER" are one type (and match the configured windows).
// Time is passed in (int64 ns); the core never reads a clock. Thread safety: none inside
// (the binding relies on the GIL).
#include <cstdint>
#include <deque>
#include <map>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include <nlohmann/json.hpp>

namespace montalaq::guard {

enum class throttle_decision : std::uint8_t {
  notify = 0,  // first occurrence in its window: buffered for the next digest
  suppressed,  // inside the window: counted only
};
[[nodiscard]] std::string_view to_string(throttle_decision d) noexcept;

// One error type in a digest: the occurrences folded into it while it was buffered.
struct throttle_entry {
  std::string error_type;
  std::int64_t count = 0;
  std::int64_t first_seen_ns = 0;
  std::int64_t last_seen_ns = 0;
  std::string message;                         // first non-empty message (truncated), the sample
  std::optional<std::int64_t> resolved_at_ns;  // resolved while buffered: the digest says so
};

// One message: every type that notified within one aggregation window.
struct throttle_digest {
  std::uint64_t seq = 0;                // 1, 2, ... in the order digests were opened
  std::int64_t opened_at_ns = 0;        // the first buffered report; due at opened_at + aggregation
  std::vector<throttle_entry> entries;  // in order of first notification
};

// The recovery message resolve() returns: the episode that just ended.
struct throttle_recovery {
  std::string error_type;
  std::int64_t resolved_at_ns = 0;
  std::int64_t since_ns = 0;  // first occurrence of the episode
  std::int64_t last_seen_ns = 0;
  std::int64_t count = 0;  // occurrences in the episode
};

// The error summary row (docs/semantics.md, Guards; table error_notifications_log).
struct error_summary {
  std::string error_type;
  std::int64_t first_occurrence_ns = 0;
  std::int64_t last_occurrence_ns = 0;
  std::int64_t count = 0;               // every occurrence ever reported
  std::int64_t notifications_sent = 0;  // digests flushed with this type + recovery messages
  bool resolved = false;
  std::optional<std::int64_t> resolved_at_ns;
};

class error_throttle {
 public:
  static constexpr std::int64_t ns_per_s = 1'000'000'000LL;
  static constexpr std::size_t max_type_chars = 64;
  static constexpr std::size_t max_message_bytes = 1024;

  struct config {
    std::int64_t default_window_ns = 3600 * ns_per_s;
    std::int64_t aggregation_ns = 60 * ns_per_s;
    std::map<std::string, std::int64_t, std::less<>> windows = default_windows();
    std::size_t max_types = 1024;  // distinct error types kept; a new one past this throws
  };
  // STARTUP, WEBSOCKET, DATABASE 3600 s; BROKER 1800 s.
  [[nodiscard]] static std::map<std::string, std::int64_t, std::less<>> default_windows();

  // Throws std::invalid_argument for windows <= 0, aggregation < 0, max_types == 0 or a bad
  // type name in `windows`.
  explicit error_throttle(config cfg);
  error_throttle();  // the documented defaults (docs/semantics.md, Guards)

  // Canonical form of an error type name (upper case); std::invalid_argument if empty,
  // longer than 64 characters or with characters outside [A-Za-z0-9_.:-].
  [[nodiscard]] static std::string canonical_type(std::string_view error_type);

  // One occurrence. std::invalid_argument for a bad name; std::length_error when it would
  // be the (max_types + 1)-th distinct type.
  throttle_decision report(std::string_view error_type, std::int64_t now_ns, std::string_view message = {});
  // Digests whose aggregation window has elapsed (`now - opened_at >= aggregation`), oldest
  // first; they leave the buffer and count as sent.
  std::vector<throttle_digest> flush(std::int64_t now_ns);
  // Ends the type's episode. Returns the recovery message when the type was active and
  // its notification already went out; nullopt when there is nothing to recover from
  // (never reported, or already resolved) and when its notification is still buffered (the
  // buffered entry is marked resolved instead, so the error and its recovery go out as
  // one message, never the recovery first).
  std::optional<throttle_recovery> resolve(std::string_view error_type, std::int64_t now_ns);

  [[nodiscard]] std::vector<error_summary> summary() const;  // sorted by type
  [[nodiscard]] std::optional<error_summary> summary(std::string_view error_type) const;
  [[nodiscard]] std::int64_t window_ns(std::string_view error_type) const;
  // When the oldest buffered digest is due; nullopt when nothing is buffered.
  [[nodiscard]] std::optional<std::int64_t> next_flush_ns() const;
  [[nodiscard]] std::size_t buffered() const noexcept;  // entries waiting in digests
  [[nodiscard]] const config& settings() const noexcept { return cfg_; }

  [[nodiscard]] nlohmann::json to_json() const;
  // Validates the whole document (config, types, buffered digests and their links) before
  // building; std::invalid_argument on anything malformed.
  [[nodiscard]] static error_throttle from_json(const nlohmann::json& doc);
  static constexpr int json_version = 1;

 private:
  struct type_state {
    std::int64_t first_ns = 0, last_ns = 0;
    std::int64_t count = 0, notifications = 0;
    std::int64_t window_start_ns = 0;  // the occurrence that last notified
    std::int64_t episode_start_ns = 0, episode_last_ns = 0, episode_count = 0;
    bool resolved = false;
    std::optional<std::int64_t> resolved_at_ns;
    std::uint64_t pending_seq = 0;  // digest holding this type's unsent entry; 0: none
  };

  throttle_entry* pending_entry(const std::string& type, const type_state& st);
  throttle_digest& open_digest(std::int64_t now_ns);

  config cfg_;
  std::map<std::string, type_state, std::less<>> types_;
  std::deque<throttle_digest> pending_;
  std::uint64_t next_seq_ = 1;
};

}  // namespace montalaq::guard
