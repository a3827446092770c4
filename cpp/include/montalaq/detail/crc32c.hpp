#pragma once
// CRC-32C (Castagnoli, reflected polynomial 0x82F63B78; check value of "123456789" is
// 0xE3069283), the checksum of the binary snapshots (docs/semantics.md, "Binary snapshots").
// Portable slicing-by-8 tables, and the SSE4.2 crc32 instruction where the CPU has it
// (chosen at run time): a 100k-pair board snapshot is about 9 MB, and the byte-at-a-time
// table would take a good part of the 10 ms budget alone.
#include <array>
#include <cstddef>
#include <cstdint>
#include <cstring>

#if defined(__x86_64__) && (defined(__GNUC__) || defined(__clang__))
#include <nmmintrin.h>
#define MONTALAQ_CRC32C_X86 1
#endif

namespace montalaq::detail {

namespace crc32c_impl {

using tables = std::array<std::array<std::uint32_t, 256>, 8>;

consteval tables make_tables() {
  tables t{};
  for (std::uint32_t i = 0; i < 256; ++i) {
    std::uint32_t c = i;
    for (int k = 0; k < 8; ++k) c = (c & 1U) != 0 ? (c >> 1) ^ 0x82F63B78U : c >> 1;
    t[0][i] = c;
  }
  for (std::size_t s = 1; s < 8; ++s) {
    for (std::size_t i = 0; i < 256; ++i) t[s][i] = (t[s - 1][i] >> 8) ^ t[0][t[s - 1][i] & 0xFFU];
  }
  return t;
}

inline constexpr tables table = make_tables();

// `crc` is the running register (already inverted); returns the register.
inline std::uint32_t portable(std::uint32_t crc, const unsigned char* p, std::size_t n) noexcept {
  while (n >= 8) {
    std::uint32_t lo = 0, hi = 0;
    std::memcpy(&lo, p, 4);
    std::memcpy(&hi, p + 4, 4);
    lo ^= crc;  // the tables assume little-endian words (static_assert in the snapshot code)
    crc = table[7][lo & 0xFFU] ^ table[6][(lo >> 8) & 0xFFU] ^ table[5][(lo >> 16) & 0xFFU] ^ table[4][lo >> 24] ^
          table[3][hi & 0xFFU] ^ table[2][(hi >> 8) & 0xFFU] ^ table[1][(hi >> 16) & 0xFFU] ^ table[0][hi >> 24];
    p += 8;
    n -= 8;
  }
  while (n-- > 0) crc = (crc >> 8) ^ table[0][(crc ^ *p++) & 0xFFU];
  return crc;
}

// a * b modulo the polynomial, both reflected (zlib's multmodp): what joins the CRCs of
// two pieces into the CRC of both.
constexpr std::uint32_t multmodp(std::uint32_t a, std::uint32_t b) noexcept {
  std::uint32_t m = 1U << 31, p = 0;
  for (;;) {
    if ((a & m) != 0) {
      p ^= b;
      if ((a & (m - 1)) == 0) break;
    }
    m >>= 1;
    b = (b & 1U) != 0 ? (b >> 1) ^ 0x82F63B78U : b >> 1;
  }
  return p;
}

consteval std::array<std::uint32_t, 32> make_x2n() {
  std::array<std::uint32_t, 32> t{};
  std::uint32_t p = 1U << 30;  // x^1
  for (auto& v : t) {
    v = p;
    p = multmodp(p, p);
  }
  return t;
}
inline constexpr std::array<std::uint32_t, 32> x2n = make_x2n();  // x^(2^k)

// x^(8n) modulo the polynomial: the factor that appends n zero bytes.
inline std::uint32_t x8nmodp(std::size_t n) noexcept {
  std::uint32_t xp = 1U << 31;  // x^0
  for (std::size_t k = 3; n != 0; n >>= 1, ++k) {
    if ((n & 1U) != 0) xp = multmodp(x2n[k & 31], xp);
  }
  return xp;
}

#ifdef MONTALAQ_CRC32C_X86
// The crc32 instruction has a latency of 3 cycles and a throughput of 1: three independent
// streams over thirds of a large buffer, joined with multmodp, run about 3x one stream.
__attribute__((target("sse4.2"))) inline std::uint32_t hardware(std::uint32_t crc, const unsigned char* p,
                                                                std::size_t n) noexcept {
  constexpr std::size_t min_split = 3 * 1024;
  if (n >= min_split) {
    const std::size_t third = n / 24 * 8;  // bytes per stream, whole words
    std::uint64_t a = crc, b = 0xFFFFFFFFU, c = 0xFFFFFFFFU;
    const unsigned char* pb = p + third;
    const unsigned char* pc = p + 2 * third;
    for (std::size_t i = 0; i < third; i += 8) {
      std::uint64_t wa = 0, wb = 0, wc = 0;
      std::memcpy(&wa, p + i, 8);
      std::memcpy(&wb, pb + i, 8);
      std::memcpy(&wc, pc + i, 8);
      a = _mm_crc32_u64(a, wa);
      b = _mm_crc32_u64(b, wb);
      c = _mm_crc32_u64(c, wc);
    }
    // Registers to CRCs (inverted), joined as the CRC of the three thirds, back to a register.
    const std::uint32_t shift = x8nmodp(third);
    std::uint32_t joined = multmodp(shift, ~static_cast<std::uint32_t>(a)) ^ ~static_cast<std::uint32_t>(b);
    joined = multmodp(shift, joined) ^ ~static_cast<std::uint32_t>(c);
    crc = ~joined;
    p += 3 * third;
    n -= 3 * third;
  }
  std::uint64_t c = crc;
  while (n >= 8) {
    std::uint64_t w = 0;
    std::memcpy(&w, p, 8);
    c = _mm_crc32_u64(c, w);
    p += 8;
    n -= 8;
  }
  auto c32 = static_cast<std::uint32_t>(c);
  while (n-- > 0) c32 = _mm_crc32_u8(c32, *p++);
  return c32;
}

inline bool has_hardware() noexcept {
  static const bool yes = __builtin_cpu_supports("sse4.2") != 0;
  return yes;
}
#endif

}  // namespace crc32c_impl

// CRC-32C of n bytes, continuing from `crc` (the result of an earlier call; 0 to start).
inline std::uint32_t crc32c(const void* data, std::size_t n, std::uint32_t crc = 0) noexcept {
  const auto* p = static_cast<const unsigned char*>(data);
#ifdef MONTALAQ_CRC32C_X86
  if (crc32c_impl::has_hardware()) return ~crc32c_impl::hardware(~crc, p, n);
#endif
  return ~crc32c_impl::portable(~crc, p, n);
}

// The table version whatever the CPU, so tests can hold the two paths to the same values.
inline std::uint32_t crc32c_portable(const void* data, std::size_t n, std::uint32_t crc = 0) noexcept {
  return ~crc32c_impl::portable(~crc, static_cast<const unsigned char*>(data), n);
}

}  // namespace montalaq::detail
