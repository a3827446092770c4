#include <catch2/catch.hpp>
#include <random>
#include <set>

#include "montalaq/detail/flat_u64_set.hpp"
#include "montalaq/detail/ring.hpp"

TEST_CASE("flat_u64_set agrees with std::set under random insert/erase", "[detail]") {
  montalaq::detail::flat_u64_set s;
  std::set<std::uint64_t> ref;
  std::mt19937_64 rng(7);
  for (int i = 0; i < 200'000; ++i) {
    const std::uint64_t k = rng() % 5000;  // small key space: many collisions and erases
    switch (rng() % 3) {
      case 0: CHECK(s.insert(k) == ref.insert(k).second); break;
      case 1: CHECK(s.erase(k) == (ref.erase(k) == 1)); break;
      default: CHECK(s.contains(k) == (ref.count(k) == 1)); break;
    }
    REQUIRE(s.size() == ref.size());
  }
  for (std::uint64_t k = 0; k < 5000; ++k) REQUIRE(s.contains(k) == (ref.count(k) == 1));
}

TEST_CASE("flat_u64_set handles key 0 and the maximum key", "[detail]") {
  montalaq::detail::flat_u64_set s;
  CHECK(s.insert(0));
  CHECK_FALSE(s.insert(0));
  CHECK(s.insert(~0ULL));
  CHECK(s.contains(0));
  CHECK(s.erase(0));
  CHECK_FALSE(s.contains(0));
  CHECK(s.contains(~0ULL));
  CHECK(s.size() == 1);
}

TEST_CASE("ring keeps the newest elements and reports evictions", "[detail]") {
  montalaq::detail::ring<int> r(3);
  int ev = -1;
  CHECK_FALSE(r.push(1, &ev));
  r.push(2);
  r.push(3);
  CHECK(r.full());
  CHECK(r.push(4, &ev));
  CHECK(ev == 1);
  CHECK(r[0] == 2);
  CHECK(r.back() == 4);
  montalaq::detail::ring<int> big(100);
  for (int i = 0; i < 1000; ++i) big.push(i);
  CHECK(big.size() == 100);
  CHECK(big.front() == 900);
  CHECK(big.back() == 999);
}
