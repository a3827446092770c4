#pragma once
// Strict, typed reads from a JSON document for the from_json loaders. Every failure throws
// std::invalid_argument naming the document, the path and what was expected, so a loader
// can validate completely before it builds anything.
#include <cstdint>
#include <limits>
#include <stdexcept>
#include <string>
#include <string_view>

#include <nlohmann/json.hpp>

namespace montalaq::detail {

class json_reader {
 public:
  explicit json_reader(std::string_view doc_name) : doc_(doc_name) {}

  [[noreturn]] void fail(const std::string& what) const {
    throw std::invalid_argument(std::string(doc_) + ": " + what);
  }

  const nlohmann::json& field(const nlohmann::json& obj, const char* key, const std::string& where) const {
    if (!obj.is_object()) fail(where + " must be an object");
    const auto it = obj.find(key);
    if (it == obj.end()) fail(where + " has no '" + key + "'");
    return *it;
  }

  std::int64_t as_int(const nlohmann::json& v, const std::string& where,
                      std::int64_t lo = std::numeric_limits<std::int64_t>::min(),
                      std::int64_t hi = std::numeric_limits<std::int64_t>::max()) const {
    if (!v.is_number_integer()) fail(where + " must be an integer");
    std::int64_t x = 0;
    if (v.is_number_unsigned()) {
      const auto u = v.get<std::uint64_t>();
      if (u > static_cast<std::uint64_t>(std::numeric_limits<std::int64_t>::max())) fail(where + " is out of range");
      x = static_cast<std::int64_t>(u);
    } else {
      x = v.get<std::int64_t>();
    }
    if (x < lo || x > hi) fail(where + " = " + std::to_string(x) + " is out of range");
    return x;
  }

  std::int64_t get_int(const nlohmann::json& obj, const char* key, const std::string& where,
                       std::int64_t lo = std::numeric_limits<std::int64_t>::min(),
                       std::int64_t hi = std::numeric_limits<std::int64_t>::max()) const {
    return as_int(field(obj, key, where), where + "." + key, lo, hi);
  }

  double get_double(const nlohmann::json& obj, const char* key, const std::string& where) const {
    const auto& v = field(obj, key, where);
    if (!v.is_number()) fail(where + "." + key + " must be a number");
    return v.get<double>();
  }

  std::string get_string(const nlohmann::json& obj, const char* key, const std::string& where) const {
    const auto& v = field(obj, key, where);
    if (!v.is_string()) fail(where + "." + key + " must be a string");
    return v.get<std::string>();
  }

  bool get_bool(const nlohmann::json& obj, const char* key, const std::string& where) const {
    const auto& v = field(obj, key, where);
    if (!v.is_boolean()) fail(where + "." + key + " must be true or false");
    return v.get<bool>();
  }

  // Enums by their to_string() names.
  template <class E, std::size_t N>
  E get_enum(const nlohmann::json& obj, const char* key, const std::string& where, const E (&values)[N]) const {
    const std::string s = get_string(obj, key, where);
    for (const E e : values) {
      if (to_string(e) == s) return e;
    }
    fail(where + "." + key + " = '" + s + "' is not a known value");
  }

  void expect_format(const nlohmann::json& doc, std::string_view format, int version) const {
    expect_format(doc, format, version, version);
  }

  // A loader that still reads older versions of its document: returns the version found.
  int expect_format(const nlohmann::json& doc, std::string_view format, int oldest, int newest) const {
    if (!doc.is_object()) fail("expected a JSON object");
    const auto it = doc.find("format");
    if (it == doc.end() || !it->is_string() || it->get<std::string>() != format) {
      fail("not a " + std::string(format) + " document (format)");
    }
    const auto v = get_int(doc, "version", "document");
    if (v < oldest || v > newest) {
      const std::string expected =
          oldest == newest ? std::to_string(newest) : std::to_string(oldest) + " to " + std::to_string(newest);
      fail("version " + std::to_string(v) + " is not supported (expected " + expected + ")");
    }
    return static_cast<int>(v);
  }

 private:
  std::string_view doc_;
};

}  // namespace montalaq::detail
