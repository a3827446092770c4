// Bindings for the health core: freshness, escalation board, circuit breaker, operational
// state. `now_ns=None` reads the wall clock here, in the binding: the core never does.
#include <pybind11/numpy.h>
#include <pybind11/pybind11.h>
#include <pybind11/stl.h>
#include <pybind11/typing.h>

#include <chrono>
#include <exception>
#include <mutex>
#include <optional>
#include <string>

#include "convert.hpp"
#include "fast_methods.hpp"
#include "montalaq/health/circuit_breaker.hpp"
#include "montalaq/health/escalation.hpp"
#include "montalaq/health/freshness.hpp"
#include "montalaq/health/operational_state.hpp"

namespace py = pybind11;
namespace hl = montalaq::health;
using montalaq::bindings::add_raw_methods;
using montalaq::bindings::as_cfunction;
using montalaq::bindings::json_to_py;
using montalaq::bindings::native_self;
using montalaq::bindings::to_ns;
using montalaq::bindings::view;

namespace {

using dict_t = py::typing::Dict<py::str, py::object>;

std::int64_t wall_ns() {
  return std::chrono::duration_cast<std::chrono::nanoseconds>(std::chrono::system_clock::now().time_since_epoch())
      .count();
}
std::int64_t now_or_wall(const py::object& now) { return now.is_none() ? wall_ns() : to_ns(now, "now_ns"); }

nlohmann::json parse_doc(const std::string& text, const char* what) {
  try {
    return nlohmann::json::parse(text);
  } catch (const nlohmann::json::exception& e) {
    throw py::value_error(std::string(what) + ": not valid JSON: " + e.what());
  }
}

dict_t event_dict(const hl::escalation_event& e, const std::string& symbol, std::int64_t tf_ns) {
  py::dict d;
  d["kind"] = std::string(hl::to_string(e.kind));
  d["pair"] = e.pair;
  d["symbol"] = symbol;
  d["tf_ns"] = tf_ns;
  d["old"] = e.old_state;
  d["new"] = e.new_state;
  d["reason"] = e.reason;
  d["at_ns"] = e.at_ns;
  d["last_error_code"] = e.last_error_code.empty() ? py::object(py::none()) : py::object(py::str(e.last_error_code));
  return py::reinterpret_steal<dict_t>(d.release());
}

dict_t row_dict(const hl::pair_row& r) {
  py::dict d;
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
  return py::reinterpret_steal<dict_t>(d.release());
}

// Breaker and operational-state histories share a shape: {at_ns, from, to, reason}.
template <class Transitions>
py::typing::List<dict_t> transitions(const Transitions& history) {
  py::typing::List<dict_t> out;
  for (const auto& h : history) {
    py::dict d;
    d["at_ns"] = h.at_ns;
    d["from"] = std::string(hl::to_string(h.from));
    d["to"] = std::string(hl::to_string(h.to));
    d["reason"] = h.reason;
    out.append(py::reinterpret_steal<dict_t>(d.release()));
  }
  return out;
}

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
  std::optional<std::uint32_t> find_pair(const std::string& symbol, std::int64_t tf_ns) {
    std::lock_guard<std::mutex> lock(mu_);
    return b_.find_pair(symbol, tf_ns);
  }
  std::size_t size() {
    std::lock_guard<std::mutex> lock(mu_);
    return b_.size();
  }
  void record_failure(std::uint32_t pair, const py::object& at, const std::string& code) {
    const auto t = now_or_wall(at);
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
  py::typing::List<dict_t> evaluate(const py::object& now,
                                    const std::optional<py::array_t<std::int64_t, py::array::c_style>>& ticks) {
    const auto t = now_or_wall(now);
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
    py::typing::List<dict_t> out;
    for (const auto& l : events) out.append(event_dict(l.e, l.symbol, l.tf_ns));
    return out;
  }
  std::optional<dict_t> close_breaker(std::uint32_t pair, const py::object& now, const std::string& by) {
    const auto t = now_or_wall(now);
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
  dict_t row(std::uint32_t pair, const py::object& now) {
    const auto t = now_or_wall(now);
    std::lock_guard<std::mutex> lock(mu_);
    check(pair);
    return row_dict(b_.row(pair, t));
  }
  py::typing::List<dict_t> rows(const py::object& now) {
    const auto t = now_or_wall(now);
    std::lock_guard<std::mutex> lock(mu_);
    py::typing::List<dict_t> out;
    for (std::uint32_t i = 0; i < b_.size(); ++i) out.append(row_dict(b_.row(i, t)));
    return out;
  }
  std::string to_json() {
    std::lock_guard<std::mutex> lock(mu_);
    return b_.to_json().dump();
  }
  void load_json(const std::string& text) {
    // Parse and validate into a new board first: on any error this one is untouched.
    auto fresh = hl::escalation_board::from_json(parse_doc(text, "escalation board document"));
    std::lock_guard<std::mutex> lock(mu_);
    b_ = std::move(fresh);
  }
  dict_t config() {
    std::lock_guard<std::mutex> lock(mu_);
    const auto doc = b_.to_json();
    py::dict d = json_to_py(doc["config"]);
    d["freshness"] = json_to_py(doc["freshness"]);
    return py::reinterpret_steal<dict_t>(d.release());
  }

 private:
  void check(std::uint32_t pair) const {
    if (pair >= b_.size()) throw py::index_error("pair index " + std::to_string(pair) + " is not on this board");
  }
  hl::escalation_board b_;
  std::mutex mu_;
};

// The breaker guards calls made from Python, so its per-call overhead is the product. Its
// hot methods (allow, record_success, record_failure, call, __enter__, __exit__) are raw
// CPython METH_FASTCALL functions rather than pybind11 bindings: pybind11's dispatcher
// costs ~70 ns per call, several times the breaker's own work. The GIL serialises access
// (nothing here releases it), so there is no mutex either; the wall clock is read only
// when the state needs a time.
class py_breaker {
 public:
  explicit py_breaker(hl::breaker_config c) : b_(c) {}
  ~py_breaker() {
    Py_XDECREF(name_);
    Py_XDECREF(exclude_);
    Py_XDECREF(open_error_);
  }
  py_breaker(const py_breaker&) = delete;
  py_breaker& operator=(const py_breaker&) = delete;

  void configure(const py::str& name, const py::typing::Tuple<py::type, py::ellipsis>& exclude,
                 const py::object& open_error) {
    Py_XDECREF(name_);
    Py_XDECREF(exclude_);
    Py_XDECREF(open_error_);
    name_ = name.inc_ref().ptr();
    exclude_ = exclude.inc_ref().ptr();
    open_error_ = open_error.inc_ref().ptr();
  }

  hl::circuit_breaker& core() noexcept { return b_; }
  [[nodiscard]] bool needs_time_for_allow() const noexcept {
    const auto st = b_.state_now();
    return st == hl::breaker_state::open || st == hl::breaker_state::half_open;
  }
  [[nodiscard]] bool needs_time_for_success() const noexcept { return b_.state_now() == hl::breaker_state::half_open; }

  // Raises the configured open error; returns nullptr for the C API caller.
  PyObject* raise_open(std::int64_t now) {
    PyObject* retry = Py_None;
    Py_INCREF(retry);
    if (b_.state(now) == hl::breaker_state::open) {
      Py_DECREF(retry);
      const auto left = std::max<std::int64_t>(0, b_.opened_at_ns() + b_.config().cooldown_ns - now);
      retry = PyFloat_FromDouble(static_cast<double>(left) / 1e9);
      if (retry == nullptr) return nullptr;
    }
    if (open_error_ == nullptr) {
      Py_DECREF(retry);
      PyErr_SetString(PyExc_RuntimeError, "circuit is open");
      return nullptr;
    }
    PyObject* exc = PyObject_CallFunctionObjArgs(open_error_, name_ != nullptr ? name_ : Py_None, retry, nullptr);
    Py_DECREF(retry);
    if (exc == nullptr) return nullptr;
    PyErr_SetObject(reinterpret_cast<PyObject*>(Py_TYPE(exc)), exc);
    Py_DECREF(exc);
    return nullptr;
  }

  // After the guarded call raised `exc_type`: a failure unless it is excluded; exceptions
  // that are not Exceptions (KeyboardInterrupt, CancelledError) report nothing, and an
  // unreported half-open probe times out by itself.
  void settle_exception(PyObject* exc_type) {
    if (exc_type == nullptr || !PyErr_GivenExceptionMatches(exc_type, PyExc_Exception)) return;
    if (exclude_ != nullptr && PyTuple_GET_SIZE(exclude_) > 0 && PyErr_GivenExceptionMatches(exc_type, exclude_)) {
      b_.record_success(needs_time_for_success() ? wall_ns() : 0);
      return;
    }
    b_.record_failure(wall_ns());
  }

  std::string to_json() { return b_.to_json().dump(); }
  void load_json(const std::string& text) {
    b_ = hl::circuit_breaker::from_json(parse_doc(text, "circuit breaker document"));
  }

  hl::breaker_state state(const py::object& now) { return b_.state(now_or_wall(now)); }
  void force_open(const py::object& now, const std::string& reason) { b_.force_open(now_or_wall(now), reason); }
  void disable(const py::object& now, const std::string& reason) { b_.disable(now_or_wall(now), reason); }
  void reset(const py::object& now, const std::string& reason) { b_.reset(now_or_wall(now), reason); }
  py::typing::List<dict_t> history() { return transitions(b_.history()); }
  py::typing::Dict<py::str, py::int_> counts(const py::object& now) {
    const auto t = now_or_wall(now);
    py::typing::Dict<py::str, py::int_> d;
    d["allowed"] = b_.counts().allowed;
    d["rejected"] = b_.counts().rejected;
    d["successes"] = b_.counts().successes;
    d["failures"] = b_.counts().failures;
    d["window_failures"] = b_.window_failures(t);
    d["window_calls"] = b_.window_calls();
    return d;
  }
  std::optional<std::int64_t> retry_after_ns(const py::object& now) {
    const auto t = now_or_wall(now);
    if (b_.state(t) != hl::breaker_state::open) return std::nullopt;
    return std::max<std::int64_t>(0, b_.opened_at_ns() + b_.config().cooldown_ns - t);
  }

 private:
  hl::circuit_breaker b_;
  PyObject* name_ = nullptr;
  PyObject* exclude_ = nullptr;
  PyObject* open_error_ = nullptr;
};

py_breaker* breaker_of(PyObject* self) { return native_self<py_breaker>(self, "CircuitBreaker"); }

// The optional now_ns argument (positional or keyword); *given == false means "not given
// or None": the caller reads the clock only if it needs a time.
bool parse_now(PyObject* const* args, Py_ssize_t nargs, PyObject* kwnames, const char* fname, std::int64_t* now,
               bool* given) {
  PyObject* arg = nullptr;
  if (nargs > 1) {
    PyErr_Format(PyExc_TypeError, "%s() takes at most 1 argument (now_ns)", fname);
    return false;
  }
  if (nargs == 1) arg = args[0];
  if (kwnames != nullptr) {
    for (Py_ssize_t k = 0; k < PyTuple_GET_SIZE(kwnames); ++k) {
      PyObject* key = PyTuple_GET_ITEM(kwnames, k);
      if (PyUnicode_CompareWithASCIIString(key, "now_ns") != 0 || arg != nullptr) {
        PyErr_Format(PyExc_TypeError, "%s() got an unexpected keyword argument %R", fname, key);
        return false;
      }
      arg = args[nargs + k];
    }
  }
  *given = arg != nullptr && arg != Py_None;
  if (!*given) return true;
  try {
    *now = to_ns(arg, "now_ns");
  } catch (py::error_already_set& e) {
    e.restore();
    return false;
  } catch (const std::exception& e) {
    PyErr_SetString(PyExc_ValueError, e.what());
    return false;
  }
  return true;
}

PyObject* fast_allow(PyObject* self, PyObject* const* args, Py_ssize_t nargs, PyObject* kwnames) {
  py_breaker* b = breaker_of(self);
  if (b == nullptr) return nullptr;
  std::int64_t now = 0;
  bool given = false;
  if (!parse_now(args, nargs, kwnames, "allow", &now, &given)) return nullptr;
  if (!given && b->needs_time_for_allow()) now = wall_ns();
  return PyBool_FromLong(b->core().allow(now) ? 1 : 0);
}

PyObject* fast_success(PyObject* self, PyObject* const* args, Py_ssize_t nargs, PyObject* kwnames) {
  py_breaker* b = breaker_of(self);
  if (b == nullptr) return nullptr;
  std::int64_t now = 0;
  bool given = false;
  if (!parse_now(args, nargs, kwnames, "record_success", &now, &given)) return nullptr;
  if (!given && b->needs_time_for_success()) now = wall_ns();
  b->core().record_success(now);
  Py_RETURN_NONE;
}

PyObject* fast_failure(PyObject* self, PyObject* const* args, Py_ssize_t nargs, PyObject* kwnames) {
  py_breaker* b = breaker_of(self);
  if (b == nullptr) return nullptr;
  std::int64_t now = 0;
  bool given = false;
  if (!parse_now(args, nargs, kwnames, "record_failure", &now, &given)) return nullptr;
  b->core().record_failure(given ? now : wall_ns());
  Py_RETURN_NONE;
}

// breaker.call(fn, *args, **kwargs): allow, call, record, in one native step.
PyObject* fast_call(PyObject* self, PyObject* const* args, Py_ssize_t nargs, PyObject* kwnames) {
  py_breaker* b = breaker_of(self);
  if (b == nullptr) return nullptr;
  if (nargs < 1) {
    PyErr_SetString(PyExc_TypeError, "call() needs the callable to guard as its first argument");
    return nullptr;
  }
  const std::int64_t now = b->needs_time_for_allow() ? wall_ns() : 0;
  if (!b->core().allow(now)) return b->raise_open(now != 0 ? now : wall_ns());
  PyObject* result = PyObject_Vectorcall(args[0], args + 1, static_cast<std::size_t>(nargs - 1), kwnames);
  if (result == nullptr) {
    b->settle_exception(PyErr_Occurred());
    return nullptr;
  }
  b->core().record_success(b->needs_time_for_success() ? wall_ns() : 0);
  return result;
}

PyObject* fast_enter(PyObject* self, PyObject* /*unused*/) {
  py_breaker* b = breaker_of(self);
  if (b == nullptr) return nullptr;
  const std::int64_t now = b->needs_time_for_allow() ? wall_ns() : 0;
  if (!b->core().allow(now)) return b->raise_open(now != 0 ? now : wall_ns());
  Py_INCREF(self);
  return self;
}

PyObject* fast_exit(PyObject* self, PyObject* const* args, Py_ssize_t nargs) {
  py_breaker* b = breaker_of(self);
  if (b == nullptr) return nullptr;
  PyObject* exc_type = nargs >= 1 && args[0] != Py_None ? args[0] : nullptr;
  if (exc_type == nullptr) {
    b->core().record_success(b->needs_time_for_success() ? wall_ns() : 0);
  } else {
    b->settle_exception(exc_type);
  }
  Py_RETURN_FALSE;  // never swallow the exception
}

void add_fast_breaker_methods(py::class_<py_breaker>& cls) {
  static PyMethodDef defs[] = {
      {"allow", as_cfunction(fast_allow), METH_FASTCALL | METH_KEYWORDS,
       "allow(self, now_ns: typing.Any = None) -> bool\n\nMay a call go ahead now (None: the wall clock)? In "
       "HALF_OPEN this takes a probe permit."},
      {"record_success", as_cfunction(fast_success), METH_FASTCALL | METH_KEYWORDS,
       "record_success(self, now_ns: typing.Any = None) -> None\n\nThe guarded call succeeded."},
      {"record_failure", as_cfunction(fast_failure), METH_FASTCALL | METH_KEYWORDS,
       "record_failure(self, now_ns: typing.Any = None) -> None\n\nThe guarded call failed."},
      {"call", as_cfunction(fast_call), METH_FASTCALL | METH_KEYWORDS,
       "call(self, fn: collections.abc.Callable[..., typing.Any], *args: typing.Any, **kwargs: typing.Any) -> "
       "typing.Any\n\nfn(*args, **kwargs) through the breaker; raises the open error when rejected."},
      {"__enter__", as_cfunction(fast_enter), METH_NOARGS,
       "__enter__(self) -> typing.Self\n\nEnter a guarded block (raises the open error when rejected)."},
      {"__exit__", as_cfunction(fast_exit), METH_FASTCALL,
       "__exit__(self, exc_type: typing.Any, exc: typing.Any, tb: typing.Any) -> bool\n\nRecord the block's "
       "outcome; never swallows the exception."},
  };
  add_raw_methods(cls, defs);
}

class py_opstate {
 public:
  py_opstate(const py::object& now, const std::string& reason) : s_(now_or_wall(now), reason) {}
  bool transition(hl::op_state to, const py::object& now, const std::string& reason) {
    const auto t = now_or_wall(now);
    std::lock_guard<std::mutex> lock(mu_);
    return s_.transition(to, t, reason);
  }
  hl::op_state current() {
    std::lock_guard<std::mutex> lock(mu_);
    return s_.current();
  }
  std::int64_t entered_at_ns() {
    std::lock_guard<std::mutex> lock(mu_);
    return s_.entered_at_ns();
  }
  std::string reason() {
    std::lock_guard<std::mutex> lock(mu_);
    return s_.reason();
  }
  py::typing::List<dict_t> history() {
    std::lock_guard<std::mutex> lock(mu_);
    return transitions(s_.history());
  }
  std::string to_json() {
    std::lock_guard<std::mutex> lock(mu_);
    return s_.to_json().dump();
  }
  void load_json(const std::string& text) {
    auto fresh = hl::operational_state::from_json(parse_doc(text, "operational state document"));
    std::lock_guard<std::mutex> lock(mu_);
    s_ = std::move(fresh);
  }

 private:
  hl::operational_state s_;
  std::mutex mu_;
};

}  // namespace

void register_health(py::module_& m) {
  py::enum_<hl::colour>(m, "Colour",
                        "Freshness colour of a (symbol, timeframe); CLOSED outside its market calendar's sessions.")
      .value("GREEN", hl::colour::green)
      .value("AMBER", hl::colour::amber)
      .value("RED", hl::colour::red)
      .value("CLOSED", hl::colour::closed);
  py::enum_<hl::level>(m, "Level", "Escalation level, ordered INFO < WARN < ERROR < CRITICAL.", py::arithmetic())
      .value("INFO", hl::level::info)
      .value("WARN", hl::level::warn)
      .value("ERROR", hl::level::error)
      .value("CRITICAL", hl::level::critical);
  py::enum_<hl::breaker_state>(m, "BreakerState", "Circuit breaker state.")
      .value("CLOSED", hl::breaker_state::closed)
      .value("OPEN", hl::breaker_state::open)
      .value("HALF_OPEN", hl::breaker_state::half_open)
      .value("FORCED_OPEN", hl::breaker_state::forced_open)
      .value("DISABLED", hl::breaker_state::disabled);
  py::enum_<hl::op_state>(m, "OpState", "Operational state of the process (SPEC §4.5).")
      .value("STARTING", hl::op_state::starting)
      .value("ACTIVE", hl::op_state::active)
      .value("WAITING", hl::op_state::waiting)
      .value("ERROR", hl::op_state::error)
      .value("SHUTDOWN", hl::op_state::shutdown);
  py::register_exception<hl::invalid_transition>(m, "InvalidTransitionError", PyExc_ValueError);

  py::class_<hl::freshness>(m, "Freshness", "Freshness thresholds per timeframe (SPEC §4.1).")
      .def(py::init<double, double>(), py::arg("amber_mult") = 1.5, py::arg("red_mult") = 3.0)
      .def(
          "set_override",
          [](hl::freshness& f, std::int64_t tf_ns, std::int64_t amber_after_ns, std::int64_t red_after_ns) {
            f.set_override(tf_ns, {amber_after_ns, red_after_ns});
          },
          py::arg("tf_ns"), py::arg("amber_after_ns"), py::arg("red_after_ns"))
      .def(
          "thresholds",
          [](const hl::freshness& f, std::int64_t tf_ns) {
            const auto t = f.thresholds(tf_ns);
            return std::make_pair(t.amber_after_ns, t.red_after_ns);
          },
          py::arg("tf_ns"), "(amber_after_ns, red_after_ns) for a timeframe.")
      .def(
          "classify",
          [](const hl::freshness& f, std::int64_t tf_ns, const py::object& now, std::int64_t last_tick_ns) {
            return f.classify(tf_ns, now_or_wall(now), last_tick_ns);
          },
          py::arg("tf_ns"), py::arg("now_ns"), py::arg("last_tick_ns"),
          "Colour for a last trade time (<= 0: never received, RED).")
      .def_property_readonly("amber_mult", &hl::freshness::amber_mult)
      .def_property_readonly("red_mult", &hl::freshness::red_mult);

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
      .def("_find_pair", &py_board::find_pair, py::arg("symbol"), py::arg("tf_ns"))
      .def("__len__", &py_board::size)
      .def("_record_failure", &py_board::record_failure, py::arg("pair"), py::arg("at_ns"), py::arg("error_code"))
      .def("_set_last_ticks", &py_board::set_last_ticks, py::arg("pairs"), py::arg("ts_ns"))
      .def("_evaluate", &py_board::evaluate, py::arg("now_ns"), py::arg("ticks") = py::none(),
           "One cycle; `ticks` (one int64 per pair, index order) become the pairs' last ticks.")
      .def("_close_breaker", &py_board::close_breaker, py::arg("pair"), py::arg("now_ns"), py::arg("by"))
      .def("_level", &py_board::level, py::arg("pair"))
      .def("_breaker_open", &py_board::breaker_open, py::arg("pair"))
      .def("_row", &py_board::row, py::arg("pair"), py::arg("now_ns"))
      .def("_rows", &py_board::rows, py::arg("now_ns"))
      .def("to_json", &py_board::to_json, "The whole board (config, freshness, every pair) as a JSON string.")
      .def("load_json", &py_board::load_json, py::arg("text"),
           "Replace this board's state with a document from to_json(); on any error (ValueError) the board is "
           "unchanged.")
      .def("config", &py_board::config, "Thresholds and freshness settings.");

  py::enum_<hl::breaker_mode>(m, "BreakerMode", "How a circuit breaker decides to open.")
      .value("COUNT", hl::breaker_mode::count)
      .value("RATE", hl::breaker_mode::rate);

  py::class_<py_breaker> breaker_cls(m, "CircuitBreaker",
                                     "Native circuit breaker; use montalaq.health.CircuitBreaker.");
  breaker_cls
      .def(py::init([](hl::breaker_mode mode, int failure_threshold, std::int64_t window_ns, double failure_rate_pct,
                       int rate_window_calls, int min_calls, std::int64_t cooldown_ns, int half_open_calls,
                       std::int64_t half_open_max_wait_ns, std::size_t history_capacity) {
             hl::breaker_config c;
             c.mode = mode;
             c.failure_threshold = failure_threshold;
             c.window_ns = window_ns;
             c.failure_rate_pct = failure_rate_pct;
             c.rate_window_calls = rate_window_calls;
             c.min_calls = min_calls;
             c.cooldown_ns = cooldown_ns;
             c.half_open_calls = half_open_calls;
             c.half_open_max_wait_ns = half_open_max_wait_ns;
             c.history_capacity = history_capacity;
             return std::make_unique<py_breaker>(c);
           }),
           py::arg("mode"), py::arg("failure_threshold"), py::arg("window_ns"), py::arg("failure_rate_pct"),
           py::arg("rate_window_calls"), py::arg("min_calls"), py::arg("cooldown_ns"), py::arg("half_open_calls"),
           py::arg("half_open_max_wait_ns"), py::arg("history_capacity"))
      .def("state", &py_breaker::state, py::arg("now_ns") = py::none(),
           "State after applying the clock (OPEN turns HALF_OPEN once the cooldown is over).")
      .def("force_open", &py_breaker::force_open, py::arg("now_ns") = py::none(), py::arg("reason") = "operator")
      .def("disable", &py_breaker::disable, py::arg("now_ns") = py::none(), py::arg("reason") = "operator")
      .def("reset", &py_breaker::reset, py::arg("now_ns") = py::none(), py::arg("reason") = "operator")
      .def("history", &py_breaker::history, "Transitions, oldest first (bounded).")
      .def("counts", &py_breaker::counts, py::arg("now_ns") = py::none(),
           "Calls allowed/rejected, successes/failures, and what counts towards opening now.")
      .def("retry_after_ns", &py_breaker::retry_after_ns, py::arg("now_ns") = py::none(),
           "While OPEN: ns until HALF_OPEN; otherwise None.")
      .def("to_json", &py_breaker::to_json)
      .def("load_json", &py_breaker::load_json, py::arg("text"))
      .def("_configure", &py_breaker::configure, py::arg("name"), py::arg("exclude"), py::arg("open_error"),
           "Name, exceptions that do not count as failures, and the exception class raised when open.");
  add_fast_breaker_methods(breaker_cls);

  py::class_<py_opstate>(m, "OperationalState", "Native operational state machine; use montalaq.health.")
      .def(py::init<const py::object&, const std::string&>(), py::arg("now_ns") = py::none(),
           py::arg("reason") = "created")
      .def("transition", &py_opstate::transition, py::arg("to"), py::arg("now_ns") = py::none(), py::arg("reason") = "",
           "Move to `to`; InvalidTransitionError (a ValueError) if SPEC §4.5 does not allow it. "
           "SHUTDOWN -> SHUTDOWN is ignored and returns False.")
      .def_property_readonly("state", &py_opstate::current)
      .def_property_readonly("entered_at_ns", &py_opstate::entered_at_ns)
      .def_property_readonly("reason", &py_opstate::reason)
      .def("history", &py_opstate::history)
      .def("to_json", &py_opstate::to_json)
      .def("load_json", &py_opstate::load_json, py::arg("text"));
  m.def("allowed_transition", &hl::operational_state::allowed, py::arg("from_state"), py::arg("to_state"),
        "Whether SPEC §4.5 allows from_state -> to_state.");
}
