#pragma once
// montalaq's stand-in for the few spdlog names the core uses, compiled only when no spdlog
// is installed (cmake/montalaq_dependencies.cmake explains why a fallback beats a failed
// build). It keeps spdlog's meaning for what montalaq calls: levels trace..off, a logger
// with a level and one sink, and "{}" placeholders formatted with operator<<. Nothing else.
#include <atomic>
#include <chrono>
#include <memory>
#include <mutex>
#include <sstream>
#include <string>
#include <string_view>
#include <utility>

namespace spdlog {

namespace level {
enum level_enum : int { trace = 0, debug, info, warn, err, critical, off };
}  // namespace level

namespace details {

struct log_msg {
  std::chrono::system_clock::time_point time;
  level::level_enum level;
  std::string_view logger_name;
  std::string_view payload;
};

inline void format_into(std::ostringstream& out, std::string_view f) { out << f; }

// Each "{}" takes the next argument; surplus placeholders stay as they are.
template <class T, class... Rest>
void format_into(std::ostringstream& out, std::string_view f, const T& first, const Rest&... rest) {
  const auto at = f.find("{}");
  if (at == std::string_view::npos) {
    out << f;
    return;
  }
  out << f.substr(0, at) << first;
  format_into(out, f.substr(at + 2), rest...);
}

template <class... Args>
std::string format(std::string_view f, const Args&... args) {
  std::ostringstream out;
  format_into(out, f, args...);
  return out.str();
}

}  // namespace details

namespace sinks {

class sink {
 public:
  virtual ~sink() = default;
  virtual void log(const details::log_msg& msg) = 0;
};

template <class Mutex>
class base_sink : public sink {
 public:
  void log(const details::log_msg& msg) final {
    std::lock_guard<Mutex> lock(mutex_);
    sink_it_(msg);
  }

 protected:
  virtual void sink_it_(const details::log_msg& msg) = 0;
  virtual void flush_() = 0;
  Mutex mutex_;
};

}  // namespace sinks

class logger {
 public:
  logger(std::string name, std::shared_ptr<sinks::sink> sink) : name_(std::move(name)), sink_(std::move(sink)) {}

  void set_level(level::level_enum l) noexcept { level_.store(l); }
  [[nodiscard]] level::level_enum level() const noexcept { return level_.load(); }
  [[nodiscard]] bool should_log(level::level_enum l) const noexcept { return l != level::off && l >= level_.load(); }

  template <class... Args>
  void log(level::level_enum l, std::string_view f, const Args&... args) {
    if (!should_log(l)) return;
    const std::string payload = details::format(f, args...);
    sink_->log(details::log_msg{std::chrono::system_clock::now(), l, name_, payload});
  }
  template <class... Args>
  void trace(std::string_view f, const Args&... args) {
    log(level::trace, f, args...);
  }
  template <class... Args>
  void debug(std::string_view f, const Args&... args) {
    log(level::debug, f, args...);
  }
  template <class... Args>
  void info(std::string_view f, const Args&... args) {
    log(level::info, f, args...);
  }
  template <class... Args>
  void warn(std::string_view f, const Args&... args) {
    log(level::warn, f, args...);
  }
  template <class... Args>
  void error(std::string_view f, const Args&... args) {
    log(level::err, f, args...);
  }
  template <class... Args>
  void critical(std::string_view f, const Args&... args) {
    log(level::critical, f, args...);
  }

 private:
  std::string name_;
  std::shared_ptr<sinks::sink> sink_;
  std::atomic<level::level_enum> level_{level::info};
};

}  // namespace spdlog
