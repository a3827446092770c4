#pragma once
// Idempotency guard (docs/semantics.md, "Guards"). check_and_record(key, now, ttl) answers ALLOWED and
// records the key until `now + ttl`, or DEDUPED while an earlier record is unexpired
// (`now < expires`); an expired record is replaced and the answer is ALLOWED again. A
// DEDUPED answer never extends a record, so a key repeated forever is let through once
// per TTL, not never.
//
// Keys are any byte strings, held as a 128-bit fingerprint (odds of a false DEDUPED
// ~n²/2^129, about 1e-27 for a million live keys) in an open-addressing table, so a call
// allocates nothing in the steady state. An expiry-ordered queue (a FIFO ring while
// expiries arrive in order, a min-heap for the rare record that expires before the
// newest one: a shorter per-call TTL or a clock that stepped back) purges expired
// records, a couple per call, so the table holds about the live records.
// Memory is bounded by `capacity`: a new key at capacity first purges every expired
// record and, if none was, evicts the record expiring soonest, counted in evictions().
// An evicted key can be ALLOWED again before its TTL ends, so size the capacity above the
// number of keys recorded in one TTL and alert on evictions.
// Time is passed in (ns); thread safety: none inside (the binding relies on the GIL).
#include <cmath>
#include <cstddef>
#include <cstdint>
#include <string_view>
#include <vector>

namespace montalaq::guard {

enum class dedupe_result : std::uint8_t { allowed = 0, deduped = 1 };

struct key_fingerprint {
  std::uint64_t hi = 0;
  std::uint64_t lo = 0;
  friend bool operator==(const key_fingerprint&, const key_fingerprint&) = default;
};

// 128-bit non-cryptographic fingerprint of a byte string; never (0, 0), which marks an
// empty slot. In-memory only: it is not persisted or shared between processes.
[[nodiscard]] key_fingerprint fingerprint(std::string_view key) noexcept;

// The API's times are seconds since the epoch and seconds of TTL (as Python and the Redis
// backend take them); these bounds keep now + ttl within int64 ns. The conversions round half
// away from zero and throw std::invalid_argument naming the argument as the API does.
inline constexpr double dedupe_max_now_s = 8e9;
inline constexpr double dedupe_max_ttl_s = 1e9;
namespace detail {
// The std::invalid_argument of the conversions below, out of line: they are inlined into
// every call of the Python API.
[[noreturn]] void throw_dedupe_now_range();
[[noreturn]] void throw_dedupe_ttl_range();
}  // namespace detail

// now_s in [0, 8e9] (NaN refused) to ns.
[[nodiscard]] inline std::int64_t dedupe_now_ns(double now_s) {
  if (!(now_s >= 0 && now_s <= dedupe_max_now_s)) detail::throw_dedupe_now_range();
  return std::llround(now_s * 1e9);
}
// ttl_s in (0, 1e9] to ns, at least 1 ns after rounding.
[[nodiscard]] inline std::int64_t dedupe_ttl_ns(double ttl_s) {
  const std::int64_t ns = (ttl_s > 0 && ttl_s <= dedupe_max_ttl_s) ? std::llround(ttl_s * 1e9) : 0;
  if (ns < 1) detail::throw_dedupe_ttl_range();
  return ns;
}

class dedupe_cache {
 public:
  static constexpr std::int64_t default_ttl_ns = 900LL * 1'000'000'000LL;
  static constexpr std::size_t default_capacity = 1'000'000;
  static constexpr std::size_t max_capacity = std::size_t{1} << 32;

  // Throws std::invalid_argument unless ttl_ns > 0 and 1 <= capacity <= max_capacity (the
  // message names `capacity` as the API does).
  explicit dedupe_cache(std::int64_t ttl_ns = default_ttl_ns, std::size_t capacity = default_capacity);

  dedupe_result check_and_record(std::string_view key, std::int64_t now_ns) {
    return check_and_record(key, now_ns, ttl_ns_);
  }
  // `ttl_ns` applies to this record only; throws std::invalid_argument unless > 0.
  // `now_ns + ttl_ns` saturates at the largest int64.
  dedupe_result check_and_record(std::string_view key, std::int64_t now_ns, std::int64_t ttl_ns);
  // Is there an unexpired record of `key`? Records nothing.
  [[nodiscard]] bool contains(std::string_view key, std::int64_t now_ns) const noexcept;
  // Drops every record with expires <= now; returns how many.
  std::size_t purge(std::int64_t now_ns);
  // Forgets every record (counters too).
  void clear() noexcept;

  [[nodiscard]] std::int64_t ttl_ns() const noexcept { return ttl_ns_; }
  [[nodiscard]] std::size_t capacity() const noexcept { return capacity_; }
  // Records held, including expired ones not purged yet.
  [[nodiscard]] std::size_t size() const noexcept { return size_; }
  [[nodiscard]] std::int64_t allowed() const noexcept { return allowed_; }
  [[nodiscard]] std::int64_t deduped() const noexcept { return deduped_; }
  // Unexpired records dropped to stay within capacity.
  [[nodiscard]] std::int64_t evictions() const noexcept { return evictions_; }
  // Entries in the expiry queue (records plus superseded entries awaiting their turn);
  // kept below 2 * size() + 1024 by a rebuild.
  [[nodiscard]] std::size_t queued() const noexcept { return ring_count_ + heap_.size(); }

 private:
  struct slot {
    std::uint64_t hi = 0;
    std::uint64_t lo = 0;
    std::int64_t expires_ns = 0;
  };
  struct entry {  // in the expiry queue; stale once its record was replaced or dropped
    std::int64_t expires_ns = 0;
    std::uint64_t hi = 0;
    std::uint64_t lo = 0;
  };

  [[nodiscard]] std::size_t probe(const key_fingerprint& fp) const noexcept;
  void grow();
  void erase_at(std::size_t i) noexcept;
  void push_queue(const entry& e);
  [[nodiscard]] const entry* queue_min() const noexcept;
  void pop_queue_min() noexcept;
  // Drops `e`'s record if it is still the one the entry was queued for.
  bool retire(const entry& e) noexcept;
  void purge_some(std::int64_t now_ns, int budget) noexcept;
  void make_room(std::int64_t now_ns);
  void rebuild_queue();

  std::int64_t ttl_ns_;
  std::size_t capacity_;
  std::vector<slot> slots_;
  std::size_t mask_ = 0;
  std::size_t size_ = 0;
  std::vector<entry> ring_;  // FIFO, non-decreasing expiry, power-of-two size
  std::size_t ring_head_ = 0;
  std::size_t ring_count_ = 0;
  std::vector<entry> heap_;  // min-heap on expiry for out-of-order records
  std::int64_t allowed_ = 0;
  std::int64_t deduped_ = 0;
  std::int64_t evictions_ = 0;
};

}  // namespace montalaq::guard
