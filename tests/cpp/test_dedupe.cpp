#include <catch2/catch.hpp>
#include <cstdio>
#include <limits>
#include <random>
#include <string>
#include <unordered_map>
#include <unordered_set>
#include <vector>

#include "helpers.hpp"
#include "montalaq/guard/dedupe.hpp"

using montalaq::guard::dedupe_cache;
using montalaq::guard::dedupe_result;
using montalaq::guard::fingerprint;
using test::sec;
using test::t0;

namespace {

constexpr auto allowed = dedupe_result::allowed;
constexpr auto deduped = dedupe_result::deduped;

// 64 lowercase hex characters, like the keys montalaq.dedupe.dedup_key makes.
std::string hex_key(std::mt19937_64& rng) {
  char buf[65];
  for (int w = 0; w < 4; ++w) {
    std::snprintf(buf + 16 * w, 17, "%016llx", static_cast<unsigned long long>(rng()));
  }
  return std::string(buf, 64);
}

// "k<n>" (GCC 12 warns falsely, -Wrestrict, about `"k" + std::to_string(n)`).
std::string kname(std::uint64_t n) {
  std::string s = "k";
  s += std::to_string(n);
  return s;
}

// The reference model: every record by its full key, purged lazily.
struct model {
  std::unordered_map<std::string, std::int64_t> expires;
  dedupe_result check(const std::string& key, std::int64_t now, std::int64_t ttl) {
    const auto it = expires.find(key);
    if (it != expires.end() && now < it->second) return deduped;
    expires[key] = now + ttl;
    return allowed;
  }
};

}  // namespace

TEST_CASE("a key is allowed once, then deduped until its record expires", "[dedupe]") {
  dedupe_cache c(900 * sec);
  CHECK(c.check_and_record("k", t0) == allowed);
  CHECK(c.check_and_record("k", t0) == deduped);
  CHECK(c.check_and_record("k", t0 + 900 * sec - 1) == deduped);
  CHECK(c.contains("k", t0 + 900 * sec - 1));
  CHECK_FALSE(c.contains("k", t0 + 900 * sec));  // expires == now is expired
  CHECK(c.check_and_record("k", t0 + 900 * sec) == allowed);
  CHECK(c.allowed() == 2);
  CHECK(c.deduped() == 2);
}

TEST_CASE("a re-recorded key gets a fresh TTL; a deduped call never extends one", "[dedupe]") {
  dedupe_cache c(10 * sec);
  CHECK(c.check_and_record("k", t0) == allowed);
  CHECK(c.check_and_record("k", t0 + 9 * sec) == deduped);   // does not push expiry to t0+19s
  CHECK(c.check_and_record("k", t0 + 10 * sec) == allowed);  // recorded anew until t0+20s
  CHECK(c.check_and_record("k", t0 + 19 * sec) == deduped);
  CHECK(c.check_and_record("k", t0 + 20 * sec) == allowed);
  CHECK(c.size() == 1);
}

TEST_CASE("keys are independent, any bytes, and contains() records nothing", "[dedupe]") {
  dedupe_cache c(sec);
  const std::string with_nul("a\0b", 3);
  const std::vector<std::string> keys{"", "a", std::string("a\0", 2), with_nul, "ab", "abc", "a|b"};
  for (const auto& k : keys) {
    CHECK_FALSE(c.contains(k, t0));
    CHECK(c.check_and_record(k, t0) == allowed);
  }
  CHECK(c.size() == 7);
  CHECK(c.check_and_record(with_nul, t0) == deduped);
}

TEST_CASE("a per-call TTL applies to that record only", "[dedupe]") {
  dedupe_cache c(900 * sec);
  CHECK(c.check_and_record("short", t0, 5 * sec) == allowed);
  CHECK(c.check_and_record("long", t0) == allowed);
  CHECK(c.check_and_record("short", t0 + 5 * sec) == allowed);  // now with the default TTL
  CHECK(c.check_and_record("short", t0 + 6 * sec) == deduped);
  CHECK(c.check_and_record("long", t0 + 899 * sec) == deduped);
  CHECK_THROWS_AS(c.check_and_record("k", t0, 0), std::invalid_argument);
  CHECK_THROWS_AS(c.check_and_record("k", t0, -sec), std::invalid_argument);
}

TEST_CASE("a clock that steps back still sees the record; expiry saturates", "[dedupe]") {
  dedupe_cache c(10 * sec);
  CHECK(c.check_and_record("k", t0) == allowed);
  CHECK(c.check_and_record("k", t0 - 3600 * sec) == deduped);  // now < expires
  const auto max_ns = std::numeric_limits<std::int64_t>::max();
  CHECK(c.check_and_record("far", max_ns - sec) == allowed);
  CHECK(c.check_and_record("far", max_ns - 1) == deduped);  // expires at INT64_MAX
}

TEST_CASE("purge drops exactly the expired records", "[dedupe]") {
  dedupe_cache c(10 * sec);
  for (int i = 0; i < 100; ++i) c.check_and_record(kname(i), t0, (i + 1) * sec);
  CHECK(c.purge(t0 + sec) == 1);  // k0 expires at t0+1s
  CHECK(c.purge(t0 + 50 * sec) == 49);
  CHECK(c.size() == 50);
  CHECK(c.contains("k50", t0 + 50 * sec));
  CHECK_FALSE(c.contains("k49", t0 + 50 * sec));
  CHECK(c.purge(t0 + 1000 * sec) == 50);
  CHECK(c.size() == 0);
}

TEST_CASE("calls purge expired records as they go, so the table holds the live ones", "[dedupe]") {
  dedupe_cache c(10 * sec);
  for (int i = 0; i < 100'000; ++i) {
    REQUIRE(c.check_and_record(kname(i), t0 + i * (sec / 10)) == allowed);
  }
  CHECK(c.size() <= 101);  // 100 records live in any 10 s at 10 per second
  CHECK(c.queued() <= 2 * c.size() + 1024);
}

TEST_CASE("at capacity, expired records go first and nothing live is evicted", "[dedupe]") {
  dedupe_cache c(10 * sec, 3);
  c.check_and_record("a", t0);
  c.check_and_record("b", t0 + 1);
  c.check_and_record("c", t0 + 2);
  CHECK(c.check_and_record("d", t0 + 10 * sec) == allowed);  // a expired
  CHECK(c.size() == 3);
  CHECK(c.evictions() == 0);
  CHECK(c.check_and_record("b", t0 + 10 * sec) == deduped);
}

TEST_CASE("full of live records, the one expiring soonest is evicted and counted", "[dedupe]") {
  dedupe_cache c(100 * sec, 3);
  c.check_and_record("a", t0 + 2 * sec);
  c.check_and_record("b", t0 + 3 * sec);
  c.check_and_record("c", t0 + 1 * sec, 50 * sec);  // expires first (a heap entry)
  CHECK(c.check_and_record("d", t0 + 4 * sec) == allowed);
  CHECK(c.evictions() == 1);
  CHECK(c.size() == 3);
  CHECK_FALSE(c.contains("c", t0 + 4 * sec));
  CHECK(c.check_and_record("a", t0 + 4 * sec) == deduped);
  CHECK(c.check_and_record("e", t0 + 5 * sec) == allowed);  // now a (t0+102s) goes
  CHECK(c.evictions() == 2);
  CHECK(c.check_and_record("a", t0 + 5 * sec) == allowed);  // the price of eviction
}

TEST_CASE("capacity holds under a flood of keys; bad settings are refused", "[dedupe]") {
  dedupe_cache c(900 * sec, 1000);
  std::mt19937_64 rng(11);
  for (int i = 0; i < 20'000; ++i) REQUIRE(c.check_and_record(hex_key(rng), t0 + i) == allowed);
  CHECK(c.size() == 1000);
  CHECK(c.evictions() == 19'000);
  CHECK(c.queued() <= 2 * c.size() + 1024);
  CHECK_THROWS_AS(dedupe_cache(0), std::invalid_argument);
  CHECK_THROWS_AS(dedupe_cache(-sec), std::invalid_argument);
  CHECK_THROWS_AS(dedupe_cache(sec, 0), std::invalid_argument);
  CHECK_THROWS_AS(dedupe_cache(sec, dedupe_cache::max_capacity + 1), std::invalid_argument);
}

TEST_CASE("a million distinct hex keys: no fingerprint collides, each is allowed once", "[dedupe]") {
  dedupe_cache c(900 * sec, 2'000'000);
  std::mt19937_64 rng(5);
  std::vector<std::string> keys;
  keys.reserve(1'000'000);
  for (int i = 0; i < 1'000'000; ++i) keys.push_back(hex_key(rng));
  for (const auto& k : keys) REQUIRE(c.check_and_record(k, t0) == allowed);
  for (const auto& k : keys) REQUIRE(c.check_and_record(k, t0 + sec) == deduped);
  CHECK(c.size() == 1'000'000);
  // Keys one character apart, at every position and every length up to 64.
  std::unordered_set<std::uint64_t> his;
  std::string base(64, '0');
  std::size_t made = 0;
  for (std::size_t len = 0; len <= 64; ++len) {
    for (std::size_t pos = 0; pos < len; ++pos) {
      std::string k = base.substr(0, len);
      k[pos] = '1';
      his.insert(fingerprint(k).hi);
      ++made;
    }
    his.insert(fingerprint(base.substr(0, len)).hi);
    ++made;
  }
  CHECK(his.size() == made);
}

TEST_CASE("agrees with a map of every record: random keys, TTLs, pauses and jumps", "[dedupe]") {
  dedupe_cache c(20 * sec);
  model m;
  std::mt19937_64 rng(7);
  std::int64_t now = t0;
  for (int i = 0; i < 300'000; ++i) {
    // Mostly small steps (often none), sometimes a jump past every TTL.
    now += (rng() % 100 < 97) ? static_cast<std::int64_t>(rng() % (sec / 5))
                              : static_cast<std::int64_t>(rng() % (60 * sec));
    const std::string key = kname(rng() % 500);
    // A quarter of the records get their own, often shorter, TTL: the heap path.
    const std::int64_t ttl = (rng() % 4 == 0) ? static_cast<std::int64_t>(1 + rng() % (40 * sec)) : 20 * sec;
    REQUIRE(c.check_and_record(key, now, ttl) == m.check(key, now, ttl));
    if (i % 1000 == 0) {
      for (std::uint64_t k = 0; k < 500; ++k) {
        const std::string kk = kname(k);
        const auto it = m.expires.find(kk);
        REQUIRE(c.contains(kk, now) == (it != m.expires.end() && now < it->second));
      }
    }
  }
  CHECK(c.size() <= 500);
  CHECK(c.queued() <= 2 * c.size() + 1024);
}

TEST_CASE("agrees with the model under capacity pressure: evicts the soonest expiry", "[dedupe]") {
  constexpr std::size_t cap = 64;
  dedupe_cache c(50 * sec, cap);
  model m;
  std::mt19937_64 rng(9);
  std::int64_t evicted = 0;
  for (std::int64_t i = 0; i < 200'000; ++i) {
    const std::int64_t now = t0 + i * (sec / 100);
    // Whole-ms TTLs from 1 to 60 s plus `i` ns: every expiry is distinct, so the record
    // expiring soonest is unique, and shorter TTLs after longer ones use the heap.
    const std::int64_t ttl = static_cast<std::int64_t>(1 + rng() % 60'000) * (sec / 1000) + i;
    const std::string key = kname(rng() % 300);
    const auto it = m.expires.find(key);
    const bool present = it != m.expires.end() && now < it->second;
    if (!present) {
      // A record to make: purge expired records; if still full, evict the soonest expiry.
      for (auto e = m.expires.begin(); e != m.expires.end();) e = (now >= e->second) ? m.expires.erase(e) : ++e;
      if (m.expires.size() >= cap) {
        auto soonest = m.expires.begin();
        for (auto e = m.expires.begin(); e != m.expires.end(); ++e) {
          if (e->second < soonest->second) soonest = e;
        }
        m.expires.erase(soonest);
        ++evicted;
      }
    }
    REQUIRE(c.check_and_record(key, now, ttl) == m.check(key, now, ttl));
    REQUIRE(c.size() <= cap);
  }
  CHECK(c.evictions() == evicted);
  CHECK(evicted > 0);
}

TEST_CASE("a clock that steps back: records purged at a later time stay purged", "[dedupe]") {
  // Purging drops what is expired at the latest time seen; if the clock then steps back,
  // a dropped key is ALLOWED again (Redis drops its records by its own clock the same way).
  dedupe_cache c(10 * sec);
  c.check_and_record("a", t0);
  c.check_and_record("b", t0 + 20 * sec);  // purges a (expired at t0+10s) on the way
  CHECK(c.size() == 1);
  CHECK(c.check_and_record("a", t0 + 5 * sec) == allowed);
  CHECK(c.check_and_record("b", t0 + 5 * sec) == deduped);  // unpurged records still count
}

TEST_CASE("a clock wandering back and forth keeps the queue and table bounded", "[dedupe]") {
  dedupe_cache c(20 * sec, 400);
  std::mt19937_64 rng(13);
  std::int64_t now = t0;
  for (int i = 0; i < 300'000; ++i) {
    now += static_cast<std::int64_t>(rng() % (2 * sec)) - sec;  // a random walk
    c.check_and_record(kname(rng() % 500), now, static_cast<std::int64_t>(1 + rng() % (40 * sec)));
    REQUIRE(c.size() <= 400);
    REQUIRE(c.queued() <= 2 * c.size() + 1024);
  }
  CHECK(c.allowed() + c.deduped() == 300'000);
}

TEST_CASE("clear forgets every record and counter", "[dedupe]") {
  dedupe_cache c(sec);
  c.check_and_record("a", t0);
  c.check_and_record("a", t0);
  c.clear();
  CHECK(c.size() == 0);
  CHECK(c.allowed() == 0);
  CHECK(c.deduped() == 0);
  CHECK(c.check_and_record("a", t0) == allowed);
}

TEST_CASE("seconds convert to ns within the API's ranges, rounded half away from zero", "[dedupe]") {
  using montalaq::guard::dedupe_now_ns;
  using montalaq::guard::dedupe_ttl_ns;
  constexpr double inf = std::numeric_limits<double>::infinity();
  constexpr double nan = std::numeric_limits<double>::quiet_NaN();
  CHECK(dedupe_now_ns(0.0) == 0);
  CHECK(dedupe_now_ns(1.5) == 1'500'000'000);
  CHECK(dedupe_now_ns(8e9) == 8'000'000'000LL * sec);
  CHECK(dedupe_now_ns(2.5e-9) == 3);  // a half rounds away from zero
  for (const double bad : {-1e-9, -1.0, 8.000001e9, inf, -inf, nan}) {
    CHECK_THROWS_WITH(dedupe_now_ns(bad), "now_s: expected finite seconds since the epoch in [0, 8e9]");
  }
  CHECK(dedupe_ttl_ns(900.0) == 900 * sec);
  CHECK(dedupe_ttl_ns(1e9) == 1'000'000'000LL * sec);
  CHECK(dedupe_ttl_ns(5e-10) == 1);  // rounds up to 1 ns
  for (const double bad : {0.0, 4e-10, -900.0, 1.000001e9, inf, nan}) {
    CHECK_THROWS_WITH(dedupe_ttl_ns(bad), "ttl_s: expected finite seconds in (0, 1e9] (at least 1 ns)");
  }
  CHECK_THROWS_WITH(dedupe_cache(sec, 0), "capacity: expected an integer in [1, 2**32]");
}
