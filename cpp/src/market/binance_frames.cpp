#include "montalaq/market/binance_frames.hpp"

#include <charconv>
#include <cmath>
#include <cstring>
#include <system_error>

#include "montalaq/market/trade.hpp"

namespace montalaq::market::binance {
namespace {

constexpr int max_depth = 64;

// A forward-only scanner over one frame. Every reader returns false on anything that is not
// JSON of the expected shape; the caller then calls the frame malformed.
struct scanner {
  const char* p;
  const char* end;

  void ws() noexcept {
    while (p < end && (*p == ' ' || *p == '\t' || *p == '\n' || *p == '\r')) ++p;
  }
  bool eat(char c) noexcept {
    ws();
    if (p < end && *p == c) {
      ++p;
      return true;
    }
    return false;
  }
  [[nodiscard]] bool at(char c) noexcept {
    ws();
    return p < end && *p == c;
  }

  // A string's raw content (escapes left as they are); `escaped` says whether it has any.
  bool string(std::string_view& out, bool& escaped) noexcept {
    if (!eat('"')) return false;
    const char* s = p;
    escaped = false;
    while (p < end) {
      const char ch = *p;
      if (ch == '"') {
        out = std::string_view(s, static_cast<std::size_t>(p - s));
        ++p;
        return true;
      }
      if (ch == '\\') {
        escaped = true;
        p += 2;
        continue;
      }
      if (static_cast<unsigned char>(ch) < 0x20) return false;
      ++p;
    }
    return false;
  }

  bool number_token(std::string_view& out) noexcept {
    ws();
    const char* s = p;
    while (p < end && ((*p >= '0' && *p <= '9') || *p == '-' || *p == '+' || *p == '.' || *p == 'e' || *p == 'E')) ++p;
    if (p == s) return false;
    out = std::string_view(s, static_cast<std::size_t>(p - s));
    return true;
  }

  bool literal(std::string_view word) noexcept {
    ws();
    if (static_cast<std::size_t>(end - p) < word.size() || std::memcmp(p, word.data(), word.size()) != 0) return false;
    p += word.size();
    return true;
  }

  bool skip_value(int depth) noexcept {
    if (depth > max_depth) return false;
    ws();
    if (p >= end) return false;
    std::string_view sv;
    bool esc = false;
    switch (*p) {
      case '"': return string(sv, esc);
      case '{': {
        ++p;
        if (eat('}')) return true;
        do {
          if (!string(sv, esc) || !eat(':') || !skip_value(depth + 1)) return false;
        } while (eat(','));
        return eat('}');
      }
      case '[': {
        ++p;
        if (eat(']')) return true;
        do {
          if (!skip_value(depth + 1)) return false;
        } while (eat(','));
        return eat(']');
      }
      case 't': return literal("true");
      case 'f': return literal("false");
      case 'n': return literal("null");
      default: return number_token(sv);
    }
  }
};

struct fields {
  std::string_view e, s, price, qty, bid, ask;
  bool has_e = false, has_s = false, has_p = false, has_q = false, has_b = false, has_a = false;
  std::int64_t trade_ms = 0;
  std::uint64_t t = 0, u = 0;
  bool has_trade_ms = false, has_t = false, has_u = false, has_m = false, m = false;
  bool control = false;  // "result" or "id": a reply to a request
};

bool to_u64(std::string_view tok, std::uint64_t& out) noexcept {
  const auto* first = tok.data();
  const auto* last = first + tok.size();
  const auto r = std::from_chars(first, last, out);
  return r.ec == std::errc{} && r.ptr == last;
}

bool decimal(std::string_view s, double& out) noexcept {
  if (s.empty()) return false;
  const auto* first = s.data();
  const auto* last = first + s.size();
  const auto r = std::from_chars(first, last, out, std::chars_format::fixed);
  return r.ec == std::errc{} && r.ptr == last && std::isfinite(out);
}

// One object's fields we know; unknown keys are skipped. `data` receives the envelope's
// "data" object when `top` (a raw stream's frame has none: its top level is the payload).
bool object(scanner& sc, fields& f, fields* data, bool& has_data, int depth) noexcept {
  if (!sc.eat('{')) return false;
  if (sc.eat('}')) return true;
  do {
    std::string_view key;
    bool esc = false;
    if (!sc.string(key, esc) || !sc.eat(':')) return false;
    std::string_view val;
    bool vesc = false;
    if (esc) {
      if (!sc.skip_value(depth + 1)) return false;  // no key of ours has an escape
      continue;
    }
    if (key.size() == 1) {
      switch (key[0]) {
        case 'e':
        case 's':
        case 'p':
        case 'q':
        case 'b':
        case 'a': {
          if (!sc.at('"')) {
            if (!sc.skip_value(depth + 1)) return false;
            continue;
          }
          if (!sc.string(val, vesc) || vesc) return false;
          switch (key[0]) {
            case 'e': f.e = val, f.has_e = true; break;
            case 's': f.s = val, f.has_s = true; break;
            case 'p': f.price = val, f.has_p = true; break;
            case 'q': f.qty = val, f.has_q = true; break;
            case 'b': f.bid = val, f.has_b = true; break;
            default: f.ask = val, f.has_a = true; break;
          }
          continue;
        }
        case 't':
        case 'u':
        case 'T': {
          std::string_view tok;
          std::uint64_t n = 0;
          if (!sc.number_token(tok) || !to_u64(tok, n)) return false;
          if (key[0] == 't') {
            f.t = n;
            f.has_t = true;
          } else if (key[0] == 'u') {
            f.u = n;
            f.has_u = true;
          } else {
            if (n == 0 || n > static_cast<std::uint64_t>(max_ts_ns / 1'000'000)) return false;
            f.trade_ms = static_cast<std::int64_t>(n);
            f.has_trade_ms = true;
          }
          continue;
        }
        case 'm':
          if (sc.literal("true")) {
            f.m = true;
          } else if (sc.literal("false")) {
            f.m = false;
          } else {
            return false;
          }
          f.has_m = true;
          continue;
        default: break;
      }
    }
    if (data != nullptr && key == "data" && sc.at('{')) {
      bool unused = false;
      if (!object(sc, *data, nullptr, unused, depth + 1)) return false;
      has_data = true;
      continue;
    }
    if (key == "result" || key == "id") f.control = true;
    if (!sc.skip_value(depth + 1)) return false;
  } while (sc.eat(','));
  return sc.eat('}');
}

}  // namespace

frame_kind parse_frame(std::string_view frame, trade_msg& t, quote_msg& q) noexcept {
  scanner sc{frame.data(), frame.data() + frame.size()};
  fields top, data;
  bool has_data = false;
  if (!object(sc, top, &data, has_data, 0)) return frame_kind::malformed;
  sc.ws();
  if (sc.p != sc.end) return frame_kind::malformed;  // trailing bytes
  const fields& f = has_data ? data : top;
  if (f.has_e && f.e == "trade") {
    if (!(f.has_s && f.has_t && f.has_p && f.has_q && f.has_trade_ms && f.has_m)) return frame_kind::malformed;
    if (!decimal(f.price, t.price) || !decimal(f.qty, t.size)) return frame_kind::malformed;
    t.symbol = f.s;
    t.id = f.t;
    t.ts_ns = f.trade_ms * 1'000'000;
    t.side = f.m ? std::int8_t{-1} : std::int8_t{1};
    return frame_kind::trade;
  }
  if ((!f.has_e || f.e == "bookTicker") && f.has_u && f.has_s && f.has_b && f.has_a) {
    if (!decimal(f.bid, q.bid) || !decimal(f.ask, q.ask)) return frame_kind::malformed;
    q.symbol = f.s;
    q.update_id = f.u;
    return frame_kind::quote;
  }
  if (top.control && !has_data) return frame_kind::control;
  return frame_kind::malformed;
}

}  // namespace montalaq::market::binance
