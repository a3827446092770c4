#pragma once
// Open-addressing set of uint64 keys (linear probing, backward-shift deletion).
// Used for the per-symbol trade-id window: inserts and erases happen once per trade, so a
// node-based std::unordered_set (one allocation per key) would dominate the hot path.
#include <cstddef>
#include <cstdint>
#include <vector>

namespace montalaq::detail {

class flat_u64_set {
 public:
  flat_u64_set() = default;

  [[nodiscard]] bool contains(std::uint64_t key) const noexcept {
    if (key == empty_key) return has_empty_key_;
    if (slots_.empty()) return false;
    for (std::size_t i = home(key);; i = (i + 1) & mask_) {
      const std::uint64_t s = slots_[i];
      if (s == key) return true;
      if (s == empty_key) return false;
    }
  }

  // Returns false if the key was already present.
  bool insert(std::uint64_t key) {
    if (key == empty_key) {
      if (has_empty_key_) return false;
      has_empty_key_ = true;
      ++size_;
      return true;
    }
    if ((size_ + 1) * 2 > slots_.size()) grow();
    for (std::size_t i = home(key);; i = (i + 1) & mask_) {
      std::uint64_t& s = slots_[i];
      if (s == key) return false;
      if (s == empty_key) {
        s = key;
        ++size_;
        return true;
      }
    }
  }

  bool erase(std::uint64_t key) noexcept {
    if (key == empty_key) {
      if (!has_empty_key_) return false;
      has_empty_key_ = false;
      --size_;
      return true;
    }
    if (slots_.empty()) return false;
    std::size_t i = home(key);
    for (;; i = (i + 1) & mask_) {
      if (slots_[i] == key) break;
      if (slots_[i] == empty_key) return false;
    }
    // Backward-shift: pull later members of the probe run into the hole so lookups never
    // need tombstones (which would slowly fill a set that sees one erase per insert).
    std::size_t hole = i;
    for (std::size_t j = (hole + 1) & mask_;; j = (j + 1) & mask_) {
      const std::uint64_t s = slots_[j];
      if (s == empty_key) break;
      const std::size_t h = home(s);
      // Move s into the hole unless its home lies cyclically in (hole, j].
      const bool stays = (hole < j) ? (h > hole && h <= j) : (h > hole || h <= j);
      if (!stays) {
        slots_[hole] = s;
        hole = j;
      }
    }
    slots_[hole] = empty_key;
    --size_;
    return true;
  }

  [[nodiscard]] std::size_t size() const noexcept { return size_; }
  void clear() noexcept {
    slots_.clear();
    mask_ = 0;
    size_ = 0;
    has_empty_key_ = false;
  }

 private:
  static constexpr std::uint64_t empty_key = 0;

  static std::uint64_t mix(std::uint64_t x) noexcept {  // splitmix64 finaliser
    x ^= x >> 30;
    x *= 0xbf58476d1ce4e5b9ULL;
    x ^= x >> 27;
    x *= 0x94d049bb133111ebULL;
    x ^= x >> 31;
    return x;
  }
  [[nodiscard]] std::size_t home(std::uint64_t key) const noexcept {
    return static_cast<std::size_t>(mix(key)) & mask_;
  }

  void grow() {
    std::vector<std::uint64_t> old;
    old.swap(slots_);
    const std::size_t cap = old.empty() ? 16 : old.size() * 2;
    slots_.assign(cap, empty_key);
    mask_ = cap - 1;
    for (const std::uint64_t k : old) {
      if (k == empty_key) continue;
      std::size_t i = home(k);
      while (slots_[i] != empty_key) i = (i + 1) & mask_;
      slots_[i] = k;
    }
  }

  std::vector<std::uint64_t> slots_;
  std::size_t mask_ = 0;
  std::size_t size_ = 0;  // includes the empty-key member
  bool has_empty_key_ = false;
};

}  // namespace montalaq::detail
