#include "montalaq/common/log.hpp"

#include <chrono>
#include <deque>
#include <map>
#include <mutex>

#include <spdlog/sinks/base_sink.h>

namespace montalaq::log {
namespace {

class buffer_sink final : public spdlog::sinks::base_sink<std::mutex> {
 public:
  std::vector<record> take(std::size_t max_records) {
    std::lock_guard<std::mutex> lock(mutex_);
    std::vector<record> out;
    const std::size_t n = std::min(max_records, buf_.size());
    out.reserve(n);
    for (std::size_t i = 0; i < n; ++i) {
      out.push_back(std::move(buf_.front()));
      buf_.pop_front();
    }
    return out;
  }
  std::int64_t dropped() {
    std::lock_guard<std::mutex> lock(mutex_);
    return dropped_;
  }

 protected:
  void sink_it_(const spdlog::details::log_msg& msg) override {
    if (buf_.size() >= buffer_capacity) {
      buf_.pop_front();
      ++dropped_;
    }
    const auto ts = std::chrono::duration_cast<std::chrono::nanoseconds>(msg.time.time_since_epoch()).count();
    buf_.push_back(record{static_cast<std::int64_t>(ts), static_cast<int>(msg.level),
                          std::string(msg.logger_name.begin(), msg.logger_name.end()),
                          std::string(msg.payload.begin(), msg.payload.end())});
  }
  void flush_() override {}

 private:
  std::deque<record> buf_;
  std::int64_t dropped_ = 0;
};

struct state {
  std::shared_ptr<buffer_sink> sink = std::make_shared<buffer_sink>();
  std::shared_ptr<spdlog::logger> lg = std::make_shared<spdlog::logger>("montalaq", sink);
  std::mutex components_mu;  // guards components and level changes
  std::map<std::string, std::shared_ptr<spdlog::logger>, std::less<>> components;
  state() { lg->set_level(spdlog::level::warn); }
};

state& global() {
  static state s;  // created on first use, never destroyed before its last user
  return s;
}

}  // namespace

spdlog::logger& logger() { return *global().lg; }

spdlog::logger& logger(std::string_view component) {
  auto& g = global();
  std::lock_guard<std::mutex> lock(g.components_mu);
  auto it = g.components.find(component);
  if (it == g.components.end()) {
    auto lg = std::make_shared<spdlog::logger>(std::string(component), g.sink);
    lg->set_level(g.lg->level());
    it = g.components.emplace(std::string(component), std::move(lg)).first;
  }
  return *it->second;
}

void set_level(spdlog::level::level_enum level) {
  auto& g = global();
  std::lock_guard<std::mutex> lock(g.components_mu);
  g.lg->set_level(level);
  for (auto& [name, lg] : g.components) lg->set_level(level);
}

std::vector<record> drain(std::size_t max_records) { return global().sink->take(max_records); }
std::int64_t dropped() { return global().sink->dropped(); }

}  // namespace montalaq::log
