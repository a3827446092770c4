// Bindings for the escalation board (docs/semantics.md, "Health core": order inside a
// cycle, market calendars, JSON). The board is shared between threads, so every call takes
// its mutex, and batch work (set_calendar, set_last_ticks, evaluate, the binary snapshot)
// releases the GIL. `now=None` reads the wall clock here, in the binding.
#include <pybind11/numpy.h>
#include <pybind11/pybind11.h>
#include <pybind11/stl.h>
#include <pybind11/typing.h>

#include <cstdint>
#include <memory>
#include <mutex>
#include <optional>
#include <span>
#include <string>
#include <vector>

#include "common.hpp"
#include "convert.hpp"
#include "montalaq/health/escalation.hpp"
#include "montalaq/health/freshness.hpp"

namespace py = pybind11;
namespace hl = montalaq::health;
using montalaq::bindings::json_to_py;
using montalaq::bindings::now_or_wall;
using montalaq::bindings::parse_json_doc;
using montalaq::bindings::str_dict;
using montalaq::bindings::to_numpy;
using montalaq::bindings::view;

namespace {

str_dict event_dict(const hl::escalation_event& e, const std::string& symbol, std::int64_t tf_ns) {
  str_dict d;
  d["kind"] = std::string(hl::to_string(e.kind));
  d["pair"] = e.pair;
  d["symbol"] = symbol;
  d["tf_ns"] = tf_ns;
  d["old"] = e.old_state;
  d["new"] = e.new_state;
  d["reason"] = e.reason;
  d["at_ns"] = e.at_ns;
  d["last_error_code"] = e.last_error_code.empty() ? py::object(py::none()) : py::object(py::str(e.last_error_code));
  return d;
}

str_dict row_dict(const hl::pair_row& r) {
  str_dict d;
  d["symbol"] = r.symbol;
  d["tf_ns"] = r.tf_ns;
  d["freshness"] = std::string(hl::to_string(r.col));
  d["escalation_level"] = std::string(hl::to_string(r.lvl));
  d["breaker_open"] = r.breaker_open;
  d["amber_streak"] = r.amber_streak;
  d["red_streak"] = r.red_streak;
  d["error_streak"] = r.error_streak;
  d["clean_green_streak"] = r.clean_green_streak;
  d["fails_5m"] = r.fails_5m;
  d["last_tick_ns"] = r.last_tick_ns > 0 ? py::object(py::int_(r.last_tick_ns)) : py::object(py::none());
  d["last_eval_ns"] = r.last_eval_ns != 0 ? py::object(py::int_(r.last_eval_ns)) : py::object(py::none());
  d["last_error_code"] = r.last_error_code.empty() ? py::object(py::none()) : py::object(py::str(r.last_error_code));
  d["breaker_changed_ns"] =
      r.breaker_changed_ns != 0 ? py::object(py::int_(r.breaker_changed_ns)) : py::object(py::none());
  d["breaker_reason"] = r.breaker_reason.empty() ? py::object(py::none()) : py::object(py::str(r.breaker_reason));
  d["calendar"] = r.calendar;
  return d;
}

// A time argument (None: the wall clock); errors name `name`.
std::int64_t now_ns_of(const py::object& now, const char* name = "now") { return now_or_wall(now, name); }

class py_board {
 public:
  py_board(hl::escalation_config cfg, const hl::freshness& f) : b_(cfg, f) {}

  std::uint32_t add_pair(const std::string& symbol, std::int64_t tf_ns, std::uint16_t calendar) {
    std::lock_guard<std::mutex> lock(mu_);
    return b_.add_pair(symbol, tf_ns, calendar);
  }
  std::uint16_t set_calendar(const std::string& name, const py::array_t<std::int64_t, py::array::c_style>& opens,
                             const py::array_t<std::int64_t, py::array::c_style>& closes) {
    const auto o = view(opens);
    const auto c = view(closes);
    py::gil_scoped_release release;
    std::lock_guard<std::mutex> lock(mu_);
    return b_.set_calendar(name, o, c);
  }
  std::optional<std::uint16_t> find_calendar(const std::string& name) {
    std::lock_guard<std::mutex> lock(mu_);
    return b_.find_calendar(name);
  }
  void set_pair_calendar(std::uint32_t pair, std::uint16_t calendar) {
    std::lock_guard<std::mutex> lock(mu_);
    check(pair);
    b_.set_pair_calendar(pair, calendar);
  }
  py::array_t<std::uint32_t> place_pairs(std::vector<std::string> symbols,
                                         const py::array_t<std::uint32_t, py::array::c_style>& symbol_of,
                                         const py::array_t<std::int64_t, py::array::c_style>& tf_ns,
                                         const py::array_t<std::uint16_t, py::array::c_style>& calendar) {
    const auto s = view(symbol_of);
    const auto t = view(tf_ns);
    const auto c = view(calendar);
    std::vector<std::uint32_t> placed;
    {
      py::gil_scoped_release release;
      std::lock_guard<std::mutex> lock(mu_);
      placed = b_.place_pairs(symbols, s, t, c);
    }
    return to_numpy(std::move(placed));
  }
  std::optional<std::uint32_t> find_pair(const std::string& symbol, std::int64_t tf_ns) {
    std::lock_guard<std::mutex> lock(mu_);
    return b_.find_pair(symbol, tf_ns);
  }
  std::size_t size() {
    std::lock_guard<std::mutex> lock(mu_);
    return b_.size();
  }
  void record_failure(std::uint32_t pair, const py::object& at, const std::string& code) {
    const auto t = now_ns_of(at, "at_ns");
    std::lock_guard<std::mutex> lock(mu_);
    check(pair);
    b_.record_failure(pair, t, code);
  }
  void set_last_ticks(const py::array_t<std::uint32_t, py::array::c_style>& pairs,
                      const py::array_t<std::int64_t, py::array::c_style>& ts) {
    const auto p = view(pairs);
    const auto t = view(ts);
    py::gil_scoped_release release;
    std::lock_guard<std::mutex> lock(mu_);
    b_.set_last_ticks(p, t);
  }
  py::typing::List<str_dict> evaluate(const py::object& now,
                                      const std::optional<py::array_t<std::int64_t, py::array::c_style>>& ticks) {
    const auto t = now_ns_of(now);
    const std::span<const std::int64_t> tv = ticks ? view(*ticks) : std::span<const std::int64_t>{};
    // Names are copied under the same lock as the cycle, so a concurrent load_json can
    // never relabel this cycle's events.
    struct labelled {
      hl::escalation_event e;
      std::string symbol;
      std::int64_t tf_ns;
    };
    std::vector<labelled> events;
    {
      py::gil_scoped_release release;
      std::lock_guard<std::mutex> lock(mu_);
      for (auto& e : b_.evaluate(t, tv)) {
        const auto pair = e.pair;
        events.push_back({std::move(e), b_.symbol(pair), b_.tf_ns(pair)});
      }
    }
    py::typing::List<str_dict> out;
    for (const auto& l : events) out.append(event_dict(l.e, l.symbol, l.tf_ns));
    return out;
  }
  std::optional<str_dict> close_breaker(std::uint32_t pair, const py::object& now, const std::string& by) {
    const auto t = now_ns_of(now);
    std::lock_guard<std::mutex> lock(mu_);
    check(pair);
    hl::escalation_event ev{};
    if (!b_.close_breaker(pair, t, by, &ev)) return std::nullopt;
    return event_dict(ev, b_.symbol(pair), b_.tf_ns(pair));
  }
  hl::level level(std::uint32_t pair) {
    std::lock_guard<std::mutex> lock(mu_);
    check(pair);
    return b_.level_of(pair);
  }
  bool breaker_open(std::uint32_t pair) {
    std::lock_guard<std::mutex> lock(mu_);
    check(pair);
    return b_.breaker_open(pair);
  }
  str_dict row(std::uint32_t pair, const py::object& now) {
    const auto t = now_ns_of(now);
    std::lock_guard<std::mutex> lock(mu_);
    check(pair);
    return row_dict(b_.row(pair, t));
  }
  py::typing::List<str_dict> rows(const py::object& now) {
    const auto t = now_ns_of(now);
    std::lock_guard<std::mutex> lock(mu_);
    py::typing::List<str_dict> out;
    for (std::uint32_t i = 0; i < b_.size(); ++i) out.append(row_dict(b_.row(i, t)));
    return out;
  }
  std::string to_json() {
    std::lock_guard<std::mutex> lock(mu_);
    return b_.to_json().dump();
  }
  void load_json(const std::string& text) {
    // Parse and validate into a new board first: on any error this one is untouched.
    auto fresh = hl::escalation_board::from_json(parse_json_doc(text, "escalation board document"));
    std::lock_guard<std::mutex> lock(mu_);
    b_ = std::move(fresh);
  }
  // The snapshot is built, and read and checked, with the GIL released; the board is
  // replaced only by a loaded snapshot, under the lock.
  py::bytes to_bytes() {
    std::string out;
    {
      py::gil_scoped_release release;
      std::lock_guard<std::mutex> lock(mu_);
      out = b_.to_bytes();
    }
    return {out.data(), out.size()};
  }
  void load_bytes(const py::bytes& data) {
    // bytes are immutable and the caller holds them for the call: safe to read without the GIL.
    const auto* p = reinterpret_cast<const unsigned char*>(PyBytes_AS_STRING(data.ptr()));
    const auto n = static_cast<std::size_t>(PyBytes_GET_SIZE(data.ptr()));
    py::gil_scoped_release release;
    auto fresh = hl::escalation_board::from_bytes({p, n});
    std::lock_guard<std::mutex> lock(mu_);
    b_ = std::move(fresh);
  }
  str_dict config() {
    std::lock_guard<std::mutex> lock(mu_);
    const auto doc = b_.settings_json();
    str_dict d = json_to_py(doc["config"]);
    d["freshness"] = json_to_py(doc["freshness"]);
    return d;
  }
  void set_auto_close_cycles(int cycles) {
    std::lock_guard<std::mutex> lock(mu_);
    b_.set_auto_close_cycles(cycles);
  }

 private:
  void check(std::uint32_t pair) const {
    if (pair >= b_.size()) throw py::index_error("pair index " + std::to_string(pair) + " is not on this board");
  }
  hl::escalation_board b_;
  std::mutex mu_;
};

}  // namespace

void register_escalation(py::module_& m) {
  py::enum_<hl::level>(m, "Level", "Escalation level, ordered INFO < WARN < ERROR < CRITICAL.", py::arithmetic())
      .value("INFO", hl::level::info)
      .value("WARN", hl::level::warn)
      .value("ERROR", hl::level::error)
      .value("CRITICAL", hl::level::critical);

  py::class_<py_board>(m, "EscalationBoard", "Native escalation board; use montalaq.health.EscalationBoard.")
      .def(py::init([](const hl::freshness& fresh, int auto_close_cycles, int critical_red_streak, int error_fails,
                       int warn_amber_streak, int warn_fails, int breaker_red_streak, int breaker_error_streak,
                       std::int64_t fail_window_ns, std::size_t max_failures_kept) {
             hl::escalation_config c;
             c.auto_close_cycles = auto_close_cycles;
             c.critical_red_streak = critical_red_streak;
             c.error_fails = error_fails;
             c.warn_amber_streak = warn_amber_streak;
             c.warn_fails = warn_fails;
             c.breaker_red_streak = breaker_red_streak;
             c.breaker_error_streak = breaker_error_streak;
             c.fail_window_ns = fail_window_ns;
             c.max_failures_kept = max_failures_kept;
             return std::make_unique<py_board>(c, fresh);
           }),
           py::arg("freshness"), py::arg("auto_close_cycles"), py::arg("critical_red_streak"), py::arg("error_fails"),
           py::arg("warn_amber_streak"), py::arg("warn_fails"), py::arg("breaker_red_streak"),
           py::arg("breaker_error_streak"), py::arg("fail_window_ns"), py::arg("max_failures_kept"))
      .def("_add_pair", &py_board::add_pair, py::arg("symbol"), py::arg("tf_ns"), py::arg("calendar") = 0,
           "Register a pair if new (an existing pair keeps its calendar); returns its index.")
      .def("_set_calendar", &py_board::set_calendar, py::arg("name"), py::arg("opens_ns"), py::arg("closes_ns"),
           "Register (or replace) a calendar's sessions [open, close); returns its index (0 is '24/7').")
      .def("_find_calendar", &py_board::find_calendar, py::arg("name"))
      .def("_set_pair_calendar", &py_board::set_pair_calendar, py::arg("pair"), py::arg("calendar"))
      .def("_place_pairs", &py_board::place_pairs, py::arg("symbols"), py::arg("symbol_of"), py::arg("tf_ns"),
           py::arg("calendar"), "Register a watchlist's pairs in one call; returns their indices.")
      .def("_find_pair", &py_board::find_pair, py::arg("symbol"), py::arg("tf_ns"))
      .def("__len__", &py_board::size)
      .def("_record_failure", &py_board::record_failure, py::arg("pair"), py::arg("at_ns"), py::arg("error_code"))
      .def("_set_last_ticks", &py_board::set_last_ticks, py::arg("pairs"), py::arg("ts_ns"))
      .def("_evaluate", &py_board::evaluate, py::arg("now"), py::arg("ticks") = py::none(),
           "One cycle; `ticks` (one int64 per pair, index order) become the pairs' last ticks.")
      .def("_close_breaker", &py_board::close_breaker, py::arg("pair"), py::arg("now"), py::arg("by"))
      .def("_level", &py_board::level, py::arg("pair"))
      .def("_breaker_open", &py_board::breaker_open, py::arg("pair"))
      .def("_row", &py_board::row, py::arg("pair"), py::arg("now"))
      .def("_rows", &py_board::rows, py::arg("now"))
      .def("to_json", &py_board::to_json, "The whole board (config, freshness, every pair) as a JSON string.")
      .def("load_json", &py_board::load_json, py::arg("text"),
           "Replace this board's state with a document from to_json(); on any error (ValueError) the board is "
           "unchanged.")
      .def("to_bytes", &py_board::to_bytes,
           "The whole board as a binary snapshot (docs/semantics.md, \"Binary snapshots\"); GIL released.")
      .def("load_bytes", &py_board::load_bytes, py::arg("data"),
           "Replace this board's state with a snapshot from to_bytes(); on any error (ValueError) the board is "
           "unchanged.")
      .def("config", &py_board::config, "Thresholds and freshness settings.")
      .def("_set_auto_close_cycles", &py_board::set_auto_close_cycles, py::arg("cycles"),
           "Take a new auto_close_cycles and keep every pair's state.");
}
