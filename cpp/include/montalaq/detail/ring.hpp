#pragma once
// Bounded FIFO that grows geometrically up to its capacity and then overwrites the oldest
// element. Growing (rather than reserving the capacity up front) keeps an engine with
// thousands of quiet symbols small.
#include <algorithm>
#include <cstddef>
#include <vector>

namespace montalaq::detail {

template <class T>
class ring {
 public:
  explicit ring(std::size_t capacity = 1) : capacity_(std::max<std::size_t>(capacity, 1)) {}

  [[nodiscard]] std::size_t size() const noexcept { return size_; }
  [[nodiscard]] std::size_t capacity() const noexcept { return capacity_; }
  [[nodiscard]] bool full() const noexcept { return size_ == capacity_; }
  [[nodiscard]] bool empty() const noexcept { return size_ == 0; }

  // i = 0 is the oldest element.
  [[nodiscard]] const T& operator[](std::size_t i) const noexcept { return buf_[wrap(head_ + i)]; }
  [[nodiscard]] T& operator[](std::size_t i) noexcept { return buf_[wrap(head_ + i)]; }
  [[nodiscard]] const T& front() const noexcept { return (*this)[0]; }
  [[nodiscard]] const T& back() const noexcept { return (*this)[size_ - 1]; }

  // Appends; when full, the oldest element is overwritten and returned through `evicted`.
  bool push(const T& v, T* evicted = nullptr) {
    if (size_ < capacity_) {
      if (size_ == buf_.size()) grow();
      buf_[wrap(head_ + size_)] = v;
      ++size_;
      return false;
    }
    T& slot = buf_[head_];
    if (evicted != nullptr) *evicted = slot;
    slot = v;
    head_ = wrap(head_ + 1);
    return true;
  }

  void clear() noexcept {
    buf_.clear();
    head_ = 0;
    size_ = 0;
  }

 private:
  [[nodiscard]] std::size_t wrap(std::size_t i) const noexcept { return i >= buf_.size() ? i - buf_.size() : i; }
  void grow() {
    const std::size_t new_cap = std::min(capacity_, std::max<std::size_t>(16, buf_.size() * 2));
    std::vector<T> next;
    next.reserve(new_cap);
    for (std::size_t i = 0; i < size_; ++i) next.push_back((*this)[i]);
    next.resize(new_cap);
    buf_.swap(next);
    head_ = 0;
  }

  std::vector<T> buf_;
  std::size_t capacity_;
  std::size_t head_ = 0;
  std::size_t size_ = 0;
};

}  // namespace montalaq::detail
