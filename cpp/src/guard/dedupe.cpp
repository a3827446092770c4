#include "montalaq/guard/dedupe.hpp"

#include <algorithm>
#include <cstring>
#include <limits>
#include <stdexcept>

namespace montalaq::guard {

namespace {

__extension__ typedef unsigned __int128 u128;

constexpr std::uint64_t k0 = 0xa0761d6478bd642fULL;
constexpr std::uint64_t k1 = 0xe7037ed1a0b428dbULL;
constexpr std::uint64_t k2 = 0x8ebc6af09c88c6e3ULL;
constexpr std::uint64_t k3 = 0x589965cc75374cc3ULL;
constexpr std::uint64_t k4 = 0x1d8e4e27c47d124fULL;

// Folded 64x64->128 multiply (as in wyhash): cheap and mixes every input bit.
inline std::uint64_t mum(std::uint64_t a, std::uint64_t b) noexcept {
  const u128 r = static_cast<u128>(a) * b;
  return static_cast<std::uint64_t>(r) ^ static_cast<std::uint64_t>(r >> 64);
}
inline std::uint64_t read64(const char* p) noexcept {
  std::uint64_t v = 0;
  std::memcpy(&v, p, sizeof v);
  return v;
}
inline std::uint64_t read32(const char* p) noexcept {
  std::uint32_t v = 0;
  std::memcpy(&v, p, sizeof v);
  return v;
}

constexpr std::size_t initial_slots = 16;
constexpr std::size_t initial_ring = 16;

bool later(const auto& a, const auto& b) noexcept { return a.expires_ns > b.expires_ns; }

}  // namespace

key_fingerprint fingerprint(std::string_view key) noexcept {
  const char* p = key.data();
  std::size_t n = key.size();
  const auto len = static_cast<std::uint64_t>(n);
  // Two lanes with different constants and operand orders give 128 bits of state; the
  // length seeds both, so the overlapping tail reads below stay injective.
  std::uint64_t a = mum(len ^ k0, k1);
  std::uint64_t b = mum(len ^ k2, k3);
  while (n > 16) {
    const std::uint64_t x = read64(p);
    const std::uint64_t y = read64(p + 8);
    a = mum(x ^ k1, y ^ a);
    b = mum(y ^ k3, x ^ b);
    p += 16;
    n -= 16;
  }
  std::uint64_t x = 0;
  std::uint64_t y = 0;
  if (n >= 8) {
    x = read64(p);
    y = read64(p + n - 8);
  } else if (n >= 4) {
    x = (read32(p) << 32) | read32(p + n - 4);
  } else if (n > 0) {
    const auto byte = [](char c) { return static_cast<std::uint64_t>(static_cast<unsigned char>(c)); };
    x = (byte(p[0]) << 16) | (byte(p[n >> 1]) << 8) | byte(p[n - 1]);
  }
  a = mum(x ^ k1, y ^ a);
  b = mum(y ^ k3, x ^ b);
  key_fingerprint fp{mum(a ^ k4, b ^ k0), mum(b ^ k2, a ^ k4 ^ len)};
  if (fp.hi == 0 && fp.lo == 0) fp.lo = 1;  // (0, 0) marks an empty slot
  return fp;
}

namespace detail {

void throw_dedupe_now_range() {
  throw std::invalid_argument("now_s: expected finite seconds since the epoch in [0, 8e9]");
}

void throw_dedupe_ttl_range() {
  throw std::invalid_argument("ttl_s: expected finite seconds in (0, 1e9] (at least 1 ns)");
}

}  // namespace detail

dedupe_cache::dedupe_cache(std::int64_t ttl_ns, std::size_t capacity) : ttl_ns_(ttl_ns), capacity_(capacity) {
  if (ttl_ns <= 0) throw std::invalid_argument("ttl must be > 0");
  if (capacity < 1 || capacity > max_capacity) {
    throw std::invalid_argument("capacity: expected an integer in [1, 2**32]");
  }
  clear();
}

void dedupe_cache::clear() noexcept {
  slots_.assign(initial_slots, slot{});
  mask_ = initial_slots - 1;
  size_ = 0;
  ring_.assign(initial_ring, entry{});
  ring_head_ = 0;
  ring_count_ = 0;
  heap_.clear();
  allowed_ = deduped_ = evictions_ = 0;
}

std::size_t dedupe_cache::probe(const key_fingerprint& fp) const noexcept {
  for (std::size_t i = static_cast<std::size_t>(fp.lo) & mask_;; i = (i + 1) & mask_) {
    const slot& s = slots_[i];
    if ((s.hi == fp.hi && s.lo == fp.lo) || (s.hi == 0 && s.lo == 0)) return i;
  }
}

dedupe_result dedupe_cache::check_and_record(std::string_view key, std::int64_t now_ns, std::int64_t ttl_ns) {
  if (ttl_ns <= 0) throw std::invalid_argument("ttl must be > 0");
  const key_fingerprint fp = fingerprint(key);
  // Two purges per call outpace the one record a call can add, so expired records never
  // pile up while calls keep coming.
  purge_some(now_ns, 2);
  constexpr std::int64_t max_ns = std::numeric_limits<std::int64_t>::max();
  const std::int64_t expires = now_ns > max_ns - ttl_ns ? max_ns : now_ns + ttl_ns;
  std::size_t i = probe(fp);
  slot& s = slots_[i];
  if (s.hi != 0 || s.lo != 0) {
    if (now_ns < s.expires_ns) {
      ++deduped_;
      return dedupe_result::deduped;
    }
    s.expires_ns = expires;  // expired: recorded anew; its old queue entry turns stale
    push_queue({expires, fp.hi, fp.lo});
    ++allowed_;
    return dedupe_result::allowed;
  }
  if (size_ >= capacity_) {
    make_room(now_ns);
    i = probe(fp);
  } else if ((size_ + 1) * 2 > slots_.size()) {
    grow();
    i = probe(fp);
  }
  slots_[i] = slot{fp.hi, fp.lo, expires};
  ++size_;
  push_queue({expires, fp.hi, fp.lo});
  ++allowed_;
  return dedupe_result::allowed;
}

bool dedupe_cache::contains(std::string_view key, std::int64_t now_ns) const noexcept {
  const slot& s = slots_[probe(fingerprint(key))];
  return (s.hi != 0 || s.lo != 0) && now_ns < s.expires_ns;
}

std::size_t dedupe_cache::purge(std::int64_t now_ns) {
  std::size_t dropped = 0;
  for (const entry* m = queue_min(); m != nullptr && m->expires_ns <= now_ns; m = queue_min()) {
    const entry e = *m;
    pop_queue_min();
    dropped += retire(e) ? 1 : 0;
  }
  return dropped;
}

void dedupe_cache::purge_some(std::int64_t now_ns, int budget) noexcept {
  for (; budget > 0; --budget) {
    const entry* m = queue_min();
    if (m == nullptr || m->expires_ns > now_ns) return;
    const entry e = *m;
    pop_queue_min();
    retire(e);
  }
}

void dedupe_cache::make_room(std::int64_t now_ns) {
  purge(now_ns);
  // Still full of live records: drop the one expiring soonest. Every record has a queue
  // entry with its exact expiry, so this finds one.
  while (size_ >= capacity_) {
    const entry* m = queue_min();
    if (m == nullptr) break;
    const entry e = *m;
    pop_queue_min();
    if (retire(e)) ++evictions_;
  }
}

bool dedupe_cache::retire(const entry& e) noexcept {
  const std::size_t i = probe(key_fingerprint{e.hi, e.lo});
  const slot& s = slots_[i];
  if ((s.hi == 0 && s.lo == 0) || s.expires_ns != e.expires_ns) return false;  // stale entry
  erase_at(i);
  return true;
}

void dedupe_cache::erase_at(std::size_t i) noexcept {
  // Backward-shift deletion (as in detail/flat_u64_set.hpp): no tombstones, so a table
  // that sees one erase per insert never fills with them.
  std::size_t hole = i;
  for (std::size_t j = (hole + 1) & mask_;; j = (j + 1) & mask_) {
    const slot s = slots_[j];
    if (s.hi == 0 && s.lo == 0) break;
    const std::size_t h = static_cast<std::size_t>(s.lo) & mask_;
    const bool stays = (hole < j) ? (h > hole && h <= j) : (h > hole || h <= j);
    if (!stays) {
      slots_[hole] = s;
      hole = j;
    }
  }
  slots_[hole] = slot{};
  --size_;
}

void dedupe_cache::grow() {
  std::vector<slot> old(slots_.size() * 2);
  old.swap(slots_);
  mask_ = slots_.size() - 1;
  for (const slot& s : old) {
    if (s.hi == 0 && s.lo == 0) continue;
    std::size_t i = static_cast<std::size_t>(s.lo) & mask_;
    while (slots_[i].hi != 0 || slots_[i].lo != 0) i = (i + 1) & mask_;
    slots_[i] = s;
  }
}

void dedupe_cache::push_queue(const entry& e) {
  const std::size_t rmask = ring_.size() - 1;
  if (ring_count_ == 0 || e.expires_ns >= ring_[(ring_head_ + ring_count_ - 1) & rmask].expires_ns) {
    if (ring_count_ == ring_.size()) {
      std::vector<entry> bigger(ring_.size() * 2);
      for (std::size_t k = 0; k < ring_count_; ++k) bigger[k] = ring_[(ring_head_ + k) & rmask];
      ring_.swap(bigger);
      ring_head_ = 0;
    }
    ring_[(ring_head_ + ring_count_) & (ring_.size() - 1)] = e;
    ++ring_count_;
  } else {
    heap_.push_back(e);
    std::push_heap(heap_.begin(), heap_.end(), later<entry, entry>);
  }
  if (queued() > 2 * size_ + 1024) rebuild_queue();
}

const dedupe_cache::entry* dedupe_cache::queue_min() const noexcept {
  const entry* r = ring_count_ != 0 ? &ring_[ring_head_] : nullptr;
  if (heap_.empty()) return r;
  if (r == nullptr || heap_.front().expires_ns < r->expires_ns) return &heap_.front();
  return r;
}

void dedupe_cache::pop_queue_min() noexcept {
  const bool from_ring =
      ring_count_ != 0 && (heap_.empty() || heap_.front().expires_ns >= ring_[ring_head_].expires_ns);
  if (from_ring) {
    ring_head_ = (ring_head_ + 1) & (ring_.size() - 1);
    --ring_count_;
  } else if (!heap_.empty()) {
    std::pop_heap(heap_.begin(), heap_.end(), later<entry, entry>);
    heap_.pop_back();
  }
}

void dedupe_cache::rebuild_queue() {
  // Only superseded entries can make the queue outgrow the table (a clock that steps back
  // re-records keys whose entries are not next in line); start again from the records.
  std::vector<entry> live;
  live.reserve(size_);
  for (const slot& s : slots_) {
    if (s.hi != 0 || s.lo != 0) live.push_back(entry{s.expires_ns, s.hi, s.lo});
  }
  std::sort(live.begin(), live.end(), [](const entry& a, const entry& b) { return a.expires_ns < b.expires_ns; });
  std::size_t n = initial_ring;
  while (n < live.size()) n *= 2;
  live.resize(n);
  ring_.swap(live);
  ring_head_ = 0;
  ring_count_ = size_;
  heap_.clear();
}

}  // namespace montalaq::guard
