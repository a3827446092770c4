#pragma once
// The frame of every binary snapshot (docs/semantics.md, "Binary snapshots"): a 16-byte
// header (4-byte magic, u16 format version, u16 flags, u64 total length), the object's
// sections, and a trailing CRC-32C over every byte before it. Little-endian throughout.
// open_snapshot checks the frame (length, magic, version, flags, checksum) before a loader
// reads anything; byte_reader and column keep every later read inside the buffer.
#include <algorithm>
#include <array>
#include <bit>
#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <cstring>
#include <span>
#include <stdexcept>
#include <string>
#include <string_view>
#include <type_traits>

#include "montalaq/detail/crc32c.hpp"

namespace montalaq::detail {

static_assert(std::endian::native == std::endian::little,
              "binary snapshots are little-endian: this target needs byte swaps in snapshot_io.hpp");

inline constexpr std::size_t snapshot_header_bytes = 16;
inline constexpr std::size_t snapshot_trailer_bytes = 4;

using snapshot_magic = std::array<char, 4>;

// Appends fixed-width values; seal() writes the total length into the header and appends
// the checksum.
class snapshot_writer {
 public:
  snapshot_writer(snapshot_magic magic, std::uint16_t version, std::size_t reserve = 0) {
    buf_.reserve(reserve + snapshot_header_bytes + snapshot_trailer_bytes);
    buf_.append(magic.data(), magic.size());
    put<std::uint16_t>(version);
    put<std::uint16_t>(0);  // flags: none defined
    put<std::uint64_t>(0);  // total length, patched by seal()
  }

  template <class T>
  void put(T v) {
    static_assert(std::is_trivially_copyable_v<T>);
    const auto at = buf_.size();
    buf_.resize(at + sizeof(T));
    std::memcpy(buf_.data() + at, &v, sizeof(T));
  }
  template <class T>
  void put_at(std::size_t pos, T v) {
    static_assert(std::is_trivially_copyable_v<T>);
    std::memcpy(buf_.data() + pos, &v, sizeof(T));
  }
  template <class T>
  void put_array(std::span<const T> v) {
    if (v.empty()) return;
    std::memcpy(grow(v.size_bytes()), v.data(), v.size_bytes());
  }
  // n new bytes at the end (value-initialised), for sections written column by column.
  char* grow(std::size_t n) {
    const auto at = buf_.size();
    buf_.resize(at + n);
    return buf_.data() + at;
  }
  [[nodiscard]] std::size_t size() const noexcept { return buf_.size(); }

  std::string seal() && {
    put_at<std::uint64_t>(8, static_cast<std::uint64_t>(buf_.size() + snapshot_trailer_bytes));
    put<std::uint32_t>(crc32c(buf_.data(), buf_.size()));
    return std::move(buf_);
  }

 private:
  std::string buf_;
};

// Bounds-checked sequential reads; every failure is std::invalid_argument prefixed with
// the snapshot's name.
class byte_reader {
 public:
  byte_reader(const unsigned char* p, std::size_t n, std::string_view what) : p_(p), end_(p + n), what_(what) {}

  [[noreturn]] void fail(const std::string& msg) const { throw std::invalid_argument(std::string(what_) + ": " + msg); }

  [[nodiscard]] std::size_t remaining() const noexcept { return static_cast<std::size_t>(end_ - p_); }

  const unsigned char* take(std::size_t n, const char* section) {
    if (n > remaining()) {
      fail(std::string(section) + " runs past the end (" + std::to_string(n) + " bytes wanted, " +
           std::to_string(remaining()) + " left)");
    }
    const auto* at = p_;
    p_ += n;
    return at;
  }
  template <class T>
  T get(const char* field) {
    static_assert(std::is_trivially_copyable_v<T>);
    T v;
    std::memcpy(&v, take(sizeof(T), field), sizeof(T));
    return v;
  }

 private:
  const unsigned char* p_;
  const unsigned char* end_;
  std::string_view what_;
};

// `count` values of T stored back to back at `p`, read without alignment assumptions.
template <class T>
class column {
 public:
  column() = default;
  column(const unsigned char* p, std::size_t count) : p_(p), n_(count) {}
  static column take(byte_reader& r, std::size_t count, const char* section) {
    if (count > r.remaining() / sizeof(T)) {
      r.fail(std::string(section) + " holds " + std::to_string(count) + " values but only " +
             std::to_string(r.remaining()) + " bytes are left");
    }
    return {r.take(count * sizeof(T), section), count};
  }
  T operator[](std::size_t i) const noexcept {
    T v;
    std::memcpy(&v, p_ + i * sizeof(T), sizeof(T));
    return v;
  }
  [[nodiscard]] std::size_t size() const noexcept { return n_; }

 private:
  const unsigned char* p_ = nullptr;
  std::size_t n_ = 0;
};

// A section of `count` values per column, written column by column from one pass over
// the rows: next<T>() hands out the next column (the region must not move meanwhile).
class column_carver {
 public:
  template <class T>
  class out {
   public:
    explicit out(char* p) : p_(p) {}
    void set(std::size_t i, T v) noexcept { std::memcpy(p_ + i * sizeof(T), &v, sizeof(T)); }

   private:
    char* p_;
  };
  column_carver(char* region, std::size_t count) : p_(region), n_(count) {}
  template <class T>
  out<T> next() noexcept {
    out<T> c(p_);
    p_ += n_ * sizeof(T);
    return c;
  }

 private:
  char* p_;
  std::size_t n_;
};

// Checks the frame of `data`: long enough for a header, `magic`, a version in [oldest,
// newest], no flags, the total length of the header equal to the buffer's, and the
// checksum. Returns the version and a reader over the sections (header and trailer cut off).
struct opened_snapshot {
  std::uint16_t version;
  byte_reader body;
};

inline opened_snapshot open_snapshot(std::span<const unsigned char> data, snapshot_magic magic, std::string_view what,
                                     std::uint16_t oldest, std::uint16_t newest) {
  const std::string name(what);
  const auto fail = [&](const std::string& msg) { throw std::invalid_argument(name + ": " + msg); };
  const std::size_t n = data.size();
  const std::size_t head = std::min<std::size_t>(n, 4);
  if (head > 0 && std::memcmp(data.data(), magic.data(), head) != 0) {
    std::string got;
    for (std::size_t i = 0; i < head; ++i) {
      char hex[4];
      std::snprintf(hex, sizeof hex, "%02x ", data[i]);
      got += hex;
    }
    if (!got.empty()) got.pop_back();
    fail("bad magic [" + got + "], expected '" + std::string(magic.data(), 4) + "'" +
         (data[0] == '{' ? " (a JSON document loads with from_json / load_json)" : ""));
  }
  if (n < snapshot_header_bytes + snapshot_trailer_bytes) {
    fail("snapshot truncated: expected at least " + std::to_string(snapshot_header_bytes + snapshot_trailer_bytes) +
         " bytes, got " + std::to_string(n));
  }
  std::uint16_t version = 0, flags = 0;
  std::uint64_t total = 0;
  std::memcpy(&version, data.data() + 4, 2);
  std::memcpy(&flags, data.data() + 6, 2);
  std::memcpy(&total, data.data() + 8, 8);
  if (version < oldest || version > newest) {
    fail("unknown version " + std::to_string(version) + " (this build reads version " +
         (oldest == newest ? std::to_string(newest) : std::to_string(oldest) + " to " + std::to_string(newest)) + ")");
  }
  if (flags != 0) {
    char hex[8];
    std::snprintf(hex, sizeof hex, "%04x", flags);
    fail(std::string("unknown flags 0x") + hex + " (none are defined in version " + std::to_string(version) + ")");
  }
  if (total > n) fail("snapshot truncated: expected " + std::to_string(total) + " bytes, got " + std::to_string(n));
  if (total < n) {
    fail("snapshot has " + std::to_string(n) + " bytes but its header says " + std::to_string(total) +
         " (trailing bytes, or a corrupt length)");
  }
  std::uint32_t stored = 0;
  std::memcpy(&stored, data.data() + n - snapshot_trailer_bytes, 4);
  const std::uint32_t computed = crc32c(data.data(), n - snapshot_trailer_bytes);
  if (stored != computed) {
    char msg[96];
    std::snprintf(msg, sizeof msg, "checksum mismatch (stored %08x, computed %08x): the snapshot is corrupt", stored,
                  computed);
    fail(msg);
  }
  return {version,
          byte_reader(data.data() + snapshot_header_bytes, n - snapshot_header_bytes - snapshot_trailer_bytes, what)};
}

}  // namespace montalaq::detail
