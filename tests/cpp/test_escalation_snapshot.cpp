#include <catch2/catch.hpp>
#include <cstring>
#include <random>
#include <string>
#include <vector>

#include "helpers.hpp"
#include "montalaq/detail/crc32c.hpp"
#include "montalaq/health/escalation.hpp"

using namespace montalaq::health;
using montalaq::detail::crc32c;
using montalaq::detail::crc32c_portable;
using test::minute;
using test::sec;
using test::t0;

namespace {

std::string name(const char* prefix, int i) {
  std::string s(prefix);
  s += std::to_string(i);
  return s;
}

std::span<const unsigned char> bytes_of(const std::string& s) {
  return {reinterpret_cast<const unsigned char*>(s.data()), s.size()};
}

escalation_board load(const std::string& s) { return escalation_board::from_bytes(bytes_of(s)); }

// After an edit: the header's length and the checksum made right again, so the loader's
// checks behind the frame are what the edit meets.
void reseal(std::string& s) {
  if (s.size() < 20) return;
  const std::uint64_t total = s.size();
  std::memcpy(s.data() + 8, &total, 8);
  const std::uint32_t crc = crc32c(s.data(), s.size() - 4);
  std::memcpy(s.data() + s.size() - 4, &crc, 4);
}

// A board with state in every field: overrides, a calendar (one pair CLOSED), failures,
// open and operator-closed breakers, streaks, a pair never evaluated.
escalation_board rich_board(std::int64_t& now) {
  escalation_config c;
  c.auto_close_cycles = 4;
  c.max_failures_kept = 20;
  freshness f(1.25, 2.5);
  f.set_override(5 * minute, {7 * minute, 11 * minute});
  escalation_board b(c, f);
  const std::vector<std::int64_t> opens{t0 - 600 * minute, t0 + 600 * minute};
  const std::vector<std::int64_t> closes{t0 - 300 * minute, t0 + 900 * minute};
  const auto cal = b.set_calendar("XTST", opens, closes);
  std::mt19937_64 rng(1);
  now = t0;
  for (int i = 0; i < 20; ++i) b.add_pair(name("S", i / 3), minute * (1 + i % 3) * 5);
  b.add_pair("CLOSED", minute, cal);
  for (int cyc = 0; cyc < 30; ++cyc) {
    now += minute;
    for (std::uint32_t p = 0; p < b.size(); ++p) {
      if (rng() % 3 != 0) b.set_last_tick(p, now - static_cast<std::int64_t>(rng() % 20) * minute);
      if (rng() % 5 == 0) b.record_failure(p, now, rng() % 2 ? "ANALYSIS_ERR" : "PROVIDER_DISCONNECTED");
    }
    b.evaluate(now);
    if (cyc % 7 == 0) b.close_breaker(static_cast<std::uint32_t>(rng() % b.size()), now, "op");
  }
  b.add_pair("NEVER", 60 * minute);
  return b;
}

void same_events(const std::vector<escalation_event>& a, const std::vector<escalation_event>& b) {
  REQUIRE(a.size() == b.size());
  for (std::size_t k = 0; k < a.size(); ++k) {
    CHECK(a[k].kind == b[k].kind);
    CHECK(a[k].pair == b[k].pair);
    CHECK(a[k].old_state == b[k].old_state);
    CHECK(a[k].new_state == b[k].new_state);
    CHECK(a[k].reason == b[k].reason);
    CHECK(a[k].at_ns == b[k].at_ns);
    CHECK(a[k].last_error_code == b[k].last_error_code);
  }
}

}  // namespace

TEST_CASE("CRC-32C: the check value, and the table and hardware paths agree", "[crc32c]") {
  const std::string check = "123456789";
  CHECK(crc32c(check.data(), check.size()) == 0xE3069283U);
  CHECK(crc32c_portable(check.data(), check.size()) == 0xE3069283U);
  CHECK(crc32c(nullptr, 0) == 0U);
  // Joining CRCs: appending zero bytes is multiplying by x^(8n).
  const std::string zeros(5000, '\0');
  const auto head = crc32c(check.data(), check.size());
  CHECK(crc32c(zeros.data(), zeros.size(), head) ==
        (montalaq::detail::crc32c_impl::multmodp(montalaq::detail::crc32c_impl::x8nmodp(zeros.size()), head) ^
         crc32c(zeros.data(), zeros.size())));
  std::mt19937_64 rng(3);
  std::vector<unsigned char> buf(100'009);
  for (auto& x : buf) x = static_cast<unsigned char>(rng());
  // 3,072 bytes and up take the three-stream path where the CPU has SSE4.2.
  for (std::size_t off = 0; off < 9; ++off) {
    for (const std::size_t len :
         {0UL, 1UL, 7UL, 8UL, 9UL, 63UL, 64UL, 1000UL, 3071UL, 3072UL, 3079UL, 4090UL, 100'000UL}) {
      const auto whole = crc32c(buf.data() + off, len);
      CHECK(whole == crc32c_portable(buf.data() + off, len));
      const std::size_t cut = len / 3;
      CHECK(crc32c(buf.data() + off + cut, len - cut, crc32c(buf.data() + off, cut)) == whole);
    }
  }
}

TEST_CASE("snapshot round trip gives an identical board that evaluates identically", "[escalation][snapshot]") {
  std::int64_t now = 0;
  auto b = rich_board(now);
  const std::string snap = b.to_bytes();
  CHECK(snap.substr(0, 4) == "MQEB");
  auto copy = load(snap);
  CHECK(copy.to_json() == b.to_json());
  CHECK(copy.to_bytes() == snap);
  for (std::uint32_t p = 0; p < b.size(); ++p) CHECK(copy.find_pair(b.symbol(p), b.tf_ns(p)) == p);
  std::mt19937_64 rng(8);
  for (int cyc = 0; cyc < 12; ++cyc) {
    now += minute;
    std::vector<std::int64_t> ticks(b.size());
    for (auto& t : ticks) t = rng() % 4 == 0 ? 0 : now - static_cast<std::int64_t>(rng() % 8) * minute;
    if (cyc % 3 == 0) {
      b.record_failure(1, now, "LATE");
      copy.record_failure(1, now, "LATE");
    }
    same_events(b.evaluate(now, ticks), copy.evaluate(now, ticks));
  }
  CHECK(copy == b);
  // Pairs added after a load take the next index and are found like the loaded ones.
  CHECK(copy.add_pair("NEW", minute) == b.size());
  CHECK(copy.add_pair("S0", 5 * minute) == 0);
}

TEST_CASE("snapshot of an empty board, and of a board with only calendars", "[escalation][snapshot]") {
  escalation_board b;
  CHECK(load(b.to_bytes()) == b);
  const std::vector<std::int64_t> opens{t0}, closes{t0 + minute};
  b.set_calendar("X", opens, closes);
  const auto c = load(b.to_bytes());
  CHECK(c == b);
  CHECK(c.find_calendar("X") == std::uint16_t{1});
}

TEST_CASE("every truncation of a snapshot is refused as truncated", "[escalation][snapshot]") {
  std::int64_t now = 0;
  const std::string snap = rich_board(now).to_bytes();
  for (std::size_t cut = 0; cut < snap.size(); ++cut) {
    INFO("cut at " << cut);
    CHECK_THROWS_WITH(load(snap.substr(0, cut)), Catch::Contains("snapshot truncated"));
  }
  CHECK_THROWS_WITH(load(snap.substr(0, 100)),
                    Catch::Contains("expected " + std::to_string(snap.size()) + " bytes, got 100"));
  CHECK_THROWS_WITH(load(snap + "x"), Catch::Contains("trailing bytes"));
}

TEST_CASE("every single-byte change of a snapshot is refused", "[escalation][snapshot]") {
  std::int64_t now = 0;
  const std::string snap = rich_board(now).to_bytes();
  std::mt19937_64 rng(11);
  int checksum = 0;
  for (std::size_t pos = 0; pos < snap.size(); ++pos) {
    for (int k = 0; k < 3; ++k) {
      std::string s = snap;
      s[pos] = static_cast<char>(s[pos] ^ static_cast<char>(1 + rng() % 255));
      INFO("byte " << pos);
      try {
        (void)load(s);
        FAIL("a changed byte was accepted");
      } catch (const std::invalid_argument& e) {
        const std::string what = e.what();
        CHECK(what.rfind("escalation board snapshot: ", 0) == 0);
        checksum += what.find("checksum mismatch") != std::string::npos ? 1 : 0;
      }
    }
  }
  CHECK(checksum > static_cast<int>(snap.size()));  // most changes: the header is 16 bytes
}

TEST_CASE("snapshot errors say what is wrong", "[escalation][snapshot]") {
  escalation_board b;
  b.add_pair("X", minute);
  const std::string snap = b.to_bytes();
  CHECK_THROWS_WITH(load(""), Catch::Contains("snapshot truncated: expected at least 20 bytes, got 0"));
  CHECK_THROWS_WITH(load(b.to_json().dump()), Catch::Contains("bad magic") && Catch::Contains("from_json"));
  auto v3 = snap;
  v3[4] = 3;
  reseal(v3);
  CHECK_THROWS_WITH(load(v3), Catch::Contains("unknown version 3"));
  auto flags = snap;
  flags[6] = 1;
  reseal(flags);
  CHECK_THROWS_WITH(load(flags), Catch::Contains("unknown flags 0x0001"));
  auto flipped = snap;
  flipped[130] ^= 0x40;
  CHECK_THROWS_WITH(load(flipped), Catch::Contains("checksum mismatch"));
  // One pair, no overrides or calendars: the columns start at 120; level is the 16th.
  const std::size_t level_at = 120 + 75;
  auto bad_level = snap;
  bad_level[level_at] = 9;
  reseal(bad_level);
  CHECK_THROWS_WITH(load(bad_level), Catch::Contains("pairs[0].level 9 is unknown"));
  auto bad_colour = snap;
  bad_colour[level_at - 1] = 4;
  reseal(bad_colour);
  CHECK_THROWS_WITH(load(bad_colour), Catch::Contains("pairs[0].colour 4 is unknown"));
  auto bad_symbol = snap;
  bad_symbol[120] = 7;  // string 7 of 2
  reseal(bad_symbol);
  CHECK_THROWS_WITH(load(bad_symbol), Catch::Contains("pairs[0].symbol names string 7 of 2"));
  auto bad_tf = snap;
  bad_tf[124] = 1;  // tf_ns + 1: not whole seconds
  reseal(bad_tf);
  CHECK_THROWS_WITH(load(bad_tf), Catch::Contains("pairs[0].tf_ns"));
  auto bad_count = snap;
  bad_count[16] = 2;  // two pairs in a buffer that holds one
  reseal(bad_count);
  CHECK_THROWS_AS(load(bad_count), std::invalid_argument);
  auto bad_config = snap;
  bad_config[56] = 0;  // critical_red_streak 0
  bad_config[57] = 0;
  reseal(bad_config);
  CHECK_THROWS_WITH(load(bad_config), Catch::Contains("config: critical_red_streak"));

  escalation_board two;
  two.add_pair("X", minute);
  two.add_pair("Y", minute);
  auto dup = two.to_bytes();
  dup[124] = dup[120];  // the second pair's symbol index is the first's
  reseal(dup);
  CHECK_THROWS_WITH(load(dup), Catch::Contains("pairs[1] repeats the pair ('X', 60000000000 ns)"));
}

TEST_CASE("fuzz: resealed mutations load a consistent board or throw invalid_argument", "[escalation][snapshot]") {
  std::int64_t now = 0;
  const std::string snap = rich_board(now).to_bytes();
  std::mt19937_64 rng(2024);
  int loaded = 0, refused = 0;
  for (int iter = 0; iter < 4000; ++iter) {
    std::string s = snap;
    const int edits = 1 + static_cast<int>(rng() % 4);
    for (int e = 0; e < edits; ++e) {
      const std::size_t pos = 16 + rng() % (s.size() - 20);  // behind the frame's header
      switch (rng() % 4) {
        case 0: s[pos] = static_cast<char>(rng()); break;
        case 1: s[pos] = static_cast<char>(s[pos] + (rng() % 2 ? 1 : -1)); break;
        case 2: {  // a count or an index: 4 bytes of an extreme value
          const std::uint32_t v = rng() % 2 ? 0xFFFFFFFFU : static_cast<std::uint32_t>(rng() % 64);
          std::memcpy(s.data() + std::min(pos, s.size() - 8), &v, 4);
          break;
        }
        default: s.erase(pos, 1 + rng() % 16); break;
      }
    }
    reseal(s);
    try {
      const auto b = load(s);
      CHECK(load(b.to_bytes()) == b);
      ++loaded;
    } catch (const std::invalid_argument&) {
      ++refused;
    }
  }
  CHECK(refused > 0);
  CHECK(loaded > 0);  // a changed time or streak is still a valid board
}

TEST_CASE("fuzz: random buffers behind a valid frame are refused, never misread", "[escalation][snapshot]") {
  std::mt19937_64 rng(77);
  for (int iter = 0; iter < 3000; ++iter) {
    std::string s(20 + rng() % 400, '\0');
    for (auto& ch : s) ch = static_cast<char>(rng());
    std::memcpy(s.data(), "MQEB\x01\x00\x00\x00", 8);
    reseal(s);
    CHECK_THROWS_AS(load(s), std::invalid_argument);
  }
}

TEST_CASE("a large board's snapshot round trips", "[escalation][snapshot]") {
  escalation_board b;
  const std::int64_t tfs[] = {minute, 5 * minute, 15 * minute, 60 * minute, 240 * minute};
  for (int s = 0; s < 2000; ++s) {
    for (const auto tf : tfs) b.add_pair(name("SYM", s), tf);
  }
  std::vector<std::int64_t> ticks(b.size());
  for (std::size_t i = 0; i < ticks.size(); ++i)
    ticks[i] = i % 50 == 0 ? 0 : t0 - static_cast<std::int64_t>(i % 7) * sec;
  b.evaluate(t0 + minute, ticks);
  const auto snap = b.to_bytes();
  CHECK(snap.size() < b.size() * 90);
  CHECK(load(snap) == b);
}
