#pragma once
// Per-symbol trade cache as parallel arrays (struct of arrays). A trade costs 26 bytes of
// stores (34 with an id) instead of a 40-byte padded record: the cache is the largest
// per-trade memory traffic on the streaming path, and a 50k-trade cache does not fit L2.
#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <vector>

namespace montalaq::detail {

class trade_cache {
 public:
  struct entry {
    std::int64_t ts_ns;
    double price, size;
    std::uint64_t trade_id;
    std::int8_t side;
    bool has_id;
  };

  explicit trade_cache(std::size_t capacity = 1) : capacity_(std::max<std::size_t>(capacity, 1)) {}

  [[nodiscard]] std::size_t size() const noexcept { return size_; }
  [[nodiscard]] std::size_t capacity() const noexcept { return capacity_; }
  [[nodiscard]] bool full() const noexcept { return size_ == capacity_; }

  // The slot the next push overwrites (the oldest entry); only meaningful when full().
  [[nodiscard]] entry oldest() const noexcept {
    const std::size_t i = head_;
    return entry{ts_[i], px_[i], sz_[i], has_id_[i] ? id_[i] : 0, side_[i], has_id_[i] != 0};
  }

  void push(std::int64_t ts, double price, double size, std::int8_t side, bool has_id, std::uint64_t id) {
    std::size_t slot;
    if (size_ < capacity_) {
      if (size_ == ts_.size()) grow();
      slot = head_ + size_;
      if (slot >= ts_.size()) slot -= ts_.size();
      ++size_;
    } else {
      slot = head_;
      head_ = head_ + 1 == ts_.size() ? 0 : head_ + 1;
    }
    ts_[slot] = ts;
    px_[slot] = price;
    sz_[slot] = size;
    side_[slot] = side;
    has_id_[slot] = has_id ? 1 : 0;
    if (has_id) id_[slot] = id;
  }

 private:
  void grow() {
    const std::size_t cap = std::min(capacity_, std::max<std::size_t>(64, ts_.size() * 2));
    rotate_into(ts_, cap);
    rotate_into(px_, cap);
    rotate_into(sz_, cap);
    rotate_into(side_, cap);
    rotate_into(has_id_, cap);
    rotate_into(id_, cap);
    head_ = 0;
  }
  template <class T>
  void rotate_into(std::vector<T>& v, std::size_t cap) const {
    std::vector<T> next;
    next.reserve(cap);
    for (std::size_t i = 0; i < size_; ++i) {
      std::size_t j = head_ + i;
      if (j >= v.size()) j -= v.size();
      next.push_back(v[j]);
    }
    next.resize(cap);
    v.swap(next);
  }

  std::vector<std::int64_t> ts_;
  std::vector<double> px_, sz_;
  std::vector<std::int8_t> side_;
  std::vector<std::uint8_t> has_id_;
  std::vector<std::uint64_t> id_;
  std::size_t capacity_;
  std::size_t head_ = 0;
  std::size_t size_ = 0;
};

}  // namespace montalaq::detail
