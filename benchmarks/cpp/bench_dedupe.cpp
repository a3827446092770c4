// In-process dedupe throughput (README.md, Speed: check_and_record >= 10 M/s).
// Keys are 64 lowercase hex characters, the shape montalaq.dedupe.dedup_key returns, all
// distinct and random. Every stream is N calls (default 10 M) on a fresh cache with the
// defaults (TTL 900 s, capacity 1 M); best of `repeats` runs:
//   mixed_<live>: half new keys, half repeats of one of the last 4,096 new keys; the clock
//            moves so that about <live> records are unexpired at any time (0.5 new keys per
//            call x 900 s / step), so records expire and are purged as the run goes;
//   new:     every key new, 10 µs apart: 90 M would be live in a TTL, so once full the
//            capacity bound evicts one record per call;
//   repeat:  65,536 recorded keys checked again in random order (the DEDUPED path).
// The cost of a call is mostly one cache miss per new key (its slot), so throughput falls
// as the live set outgrows the CPU caches; the streams show where.
// Usage: montalaq_bench_dedupe [calls] [repeats]; prints one JSON line.
#include <algorithm>
#include <chrono>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <random>
#include <string>
#include <string_view>
#include <vector>

#include "montalaq/guard/dedupe.hpp"

namespace {

using montalaq::guard::dedupe_cache;
using montalaq::guard::dedupe_result;

constexpr std::size_t key_len = 64;
constexpr std::int64_t t0 = 1'767'225'600LL * 1'000'000'000LL;

std::vector<char> random_keys(std::size_t n, std::uint64_t seed) {
  static constexpr char digits[] = "0123456789abcdef";
  std::vector<char> out(n * key_len);
  std::mt19937_64 rng(seed);
  for (std::size_t i = 0; i < n * key_len; i += 16) {
    std::uint64_t w = rng();
    for (std::size_t k = 0; k < 16; ++k, w >>= 4) out[i + k] = digits[w & 15];
  }
  return out;
}

struct run {
  double seconds = 1e30;
  std::int64_t allowed = 0;
  std::int64_t evictions = 0;
  std::size_t size = 0;
};

// Calls check_and_record for keys[order[i]] at times t0 + i * step_ns, after recording
// the first `warm` keys.
run time_stream(const std::vector<char>& keys, const std::vector<std::uint32_t>& order, std::int64_t step_ns,
                int repeats, std::size_t warm = 0) {
  run best;
  for (int r = 0; r < repeats; ++r) {
    dedupe_cache c;
    for (std::size_t i = 0; i < warm; ++i) c.check_and_record(std::string_view(&keys[i * key_len], key_len), t0);
    std::int64_t allowed = 0;
    std::int64_t now = t0 + 1;
    const auto a = std::chrono::steady_clock::now();
    for (const std::uint32_t k : order) {
      allowed +=
          c.check_and_record(std::string_view(&keys[std::size_t{k} * key_len], key_len), now) == dedupe_result::allowed;
      now += step_ns;
    }
    const auto b = std::chrono::steady_clock::now();
    const double s = std::chrono::duration<double>(b - a).count();
    if (s < best.seconds) best = run{s, allowed, c.evictions(), c.size()};
  }
  return best;
}

void print(const char* name, const run& r, std::size_t n, bool first) {
  const double dn = static_cast<double>(n);
  std::printf(
      "%s\"%s\": {\"calls_per_s\": %.0f, \"ns_per_call\": %.2f, \"allowed\": %lld, \"deduped\": %lld, "
      "\"records_at_end\": %zu, \"evictions\": %lld}",
      first ? "" : ", ", name, dn / r.seconds, r.seconds / dn * 1e9, static_cast<long long>(r.allowed),
      static_cast<long long>(static_cast<std::int64_t>(n) - r.allowed), r.size, static_cast<long long>(r.evictions));
}

}  // namespace

int main(int argc, char** argv) {
  const std::size_t n = argc > 1 ? static_cast<std::size_t>(std::atoll(argv[1])) : 10'000'000;
  const int repeats = argc > 2 ? std::atoi(argv[2]) : 3;
  if (n < 1 || n > 100'000'000 || repeats < 1) {
    std::fprintf(stderr, "usage: montalaq_bench_dedupe [calls in 1..1e8] [repeats >= 1]\n");
    return 2;
  }
  std::mt19937_64 rng(42);
  const std::vector<char> keys = random_keys(n, 1);

  // New keys in pool order, repeats drawn from the last 4,096 new ones.
  std::vector<std::uint32_t> mixed(n);
  std::uint32_t fresh = 0;
  for (auto& k : mixed) {
    if (fresh == 0 || rng() % 2 == 0) {
      k = fresh++;
    } else {
      k = fresh - 1 - static_cast<std::uint32_t>(rng() % std::min<std::uint32_t>(fresh, 4096));
    }
  }
  std::vector<std::uint32_t> all_new(n);
  for (std::size_t i = 0; i < n; ++i) all_new[i] = static_cast<std::uint32_t>(i);
  const std::size_t hot = std::min<std::size_t>(65'536, n);
  std::vector<std::uint32_t> repeat(n);
  for (auto& k : repeat) k = static_cast<std::uint32_t>(rng() % hot);

  std::printf("{\"calls\": %zu, \"key\": \"64 hex chars\", \"ttl_s\": 900, \"capacity\": %zu, ", n,
              dedupe_cache::default_capacity);
  bool first = true;
  for (const std::int64_t live : {10'000LL, 100'000LL, 450'000LL}) {
    const std::int64_t step_ns = dedupe_cache::default_ttl_ns / (2 * live);
    const std::string name = "mixed_" + std::to_string(live / 1000) + "k_live";
    print(name.c_str(), time_stream(keys, mixed, step_ns, repeats), n, first);
    first = false;
  }
  print("new_at_capacity", time_stream(keys, all_new, 10'000, repeats), n, false);
  print("repeat", time_stream(keys, repeat, 1, repeats, hot), n, false);
  std::printf("}\n");
  return 0;
}
