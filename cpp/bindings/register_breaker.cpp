// Bindings for the circuit breaker (docs/semantics.md, "Health core": circuit breaker).
//
// The breaker guards calls made from Python, so its per-call overhead is the product. Its
// hot methods (allow, record_success, record_failure, call, __enter__, __exit__) are raw
// CPython METH_FASTCALL functions (common.hpp) rather than pybind11 bindings: pybind11's
// dispatcher costs ~70 ns per call, several times the breaker's own work. The GIL
// serialises access (every core call runs under it), so there is no mutex; the wall clock
// is read only when the state needs a time.
//
// What an exception raised by the guarded code means for the breaker (a failure, a success,
// nothing) is decided in one place, CircuitBreaker._failed (python/montalaq/health.py),
// which the native paths ask; they record the outcome here, as a call that returns.
#include <pybind11/gil_safe_call_once.h>
#include <pybind11/pybind11.h>
#include <pybind11/stl.h>
#include <pybind11/typing.h>

#include <cstdint>
#include <memory>
#include <optional>
#include <stdexcept>
#include <string>

#include "common.hpp"
#include "convert.hpp"
#include "montalaq/health/circuit_breaker.hpp"

namespace py = pybind11;
namespace hl = montalaq::health;
using montalaq::bindings::add_raw_methods;
using montalaq::bindings::as_cfunction;
using montalaq::bindings::deprecated_kw;
using montalaq::bindings::deprecated_now;
using montalaq::bindings::fast_args;
using montalaq::bindings::native_self;
using montalaq::bindings::now_given;
using montalaq::bindings::now_or_wall;
using montalaq::bindings::parse_json_doc;
using montalaq::bindings::raw_call;
using montalaq::bindings::record;
using montalaq::bindings::transition_record;
using montalaq::bindings::transitions_to_py;
using montalaq::bindings::wall_clock_ns;

namespace {

// `now`, or the deprecated `now_ns` keyword (`old`), as int64 ns; None: the wall clock.
std::int64_t now_ns_of(const py::object& now, const py::object& old) {
  return deprecated_now(now, old, "now_ns") ? now_or_wall(old, "now_ns") : now_or_wall(now);
}

class py_breaker {
 public:
  explicit py_breaker(hl::breaker_config c) : b_(c) {}

  void configure(py::str name, py::typing::Callable<py::object(py::str, py::typing::Optional<py::float_>)> open_error) {
    name_ = std::move(name);
    open_error_ = std::move(open_error);
  }

  hl::circuit_breaker& core() noexcept { return b_; }
  // The time the next allow()/record_success() needs: the wall clock only when the state
  // depends on it.
  [[nodiscard]] std::int64_t time_for_allow() const {
    const auto st = b_.state_now();
    return st == hl::breaker_state::open || st == hl::breaker_state::half_open ? wall_clock_ns() : 0;
  }
  [[nodiscard]] std::int64_t time_for_success() const {
    return b_.state_now() == hl::breaker_state::half_open ? wall_clock_ns() : 0;
  }

  // allow() at the wall clock; when rejected, sets the configured open error and returns
  // false.
  bool enter() {
    const std::int64_t now = time_for_allow();
    if (b_.allow(now)) return true;
    set_open_error(now != 0 ? now : wall_clock_ns());
    return false;
  }

  std::string to_json() { return b_.to_json().dump(); }
  void load_json(const std::string& text) {
    b_ = hl::circuit_breaker::from_json(parse_json_doc(text, "circuit breaker document"));
  }

  hl::breaker_state state(const py::object& now, const py::object& old) { return b_.state(now_ns_of(now, old)); }
  void force_open(const py::object& now, const std::string& reason, const py::object& old) {
    b_.force_open(now_ns_of(now, old), reason);
  }
  void disable(const py::object& now, const std::string& reason, const py::object& old) {
    b_.disable(now_ns_of(now, old), reason);
  }
  void reset(const py::object& now, const std::string& reason, const py::object& old) {
    b_.reset(now_ns_of(now, old), reason);
  }
  py::typing::List<transition_record> history() { return transitions_to_py(b_.history()); }
  record<"montalaq.shapes.BreakerCounts"> counts(const py::object& now, const py::object& old) {
    const auto t = now_ns_of(now, old);
    record<"montalaq.shapes.BreakerCounts"> d;
    d["allowed"] = b_.counts().allowed;
    d["rejected"] = b_.counts().rejected;
    d["successes"] = b_.counts().successes;
    d["failures"] = b_.counts().failures;
    d["window_failures"] = b_.window_failures(t);
    d["window_calls"] = b_.window_calls();
    return d;
  }
  std::optional<std::int64_t> retry_after_ns(const py::object& now, const py::object& old) {
    return b_.retry_after_ns(now_ns_of(now, old));
  }

 private:
  void set_open_error(std::int64_t now) {
    if (!open_error_) throw std::runtime_error("circuit is open");  // _configure never ran
    const auto left = b_.retry_after_ns(now);
    const py::object retry_after_s =
        left ? py::object(py::float_(static_cast<double>(*left) / 1e9)) : py::object(py::none());
    const py::object exc = open_error_(name_, retry_after_s);
    py::set_error(py::type::of(exc), exc);
  }

  hl::circuit_breaker b_;
  py::object name_;
  py::object open_error_;
};

py_breaker& breaker_of(PyObject* self) { return native_self<py_breaker>(self, "CircuitBreaker"); }

// The guarded code raised an exception of type `exc_type`: CircuitBreaker._failed says
// whether that is a failure, a success or no outcome (None).
void settle(PyObject* self, py_breaker& b, py::handle exc_type) {
  // A vectorcall without a bound method: this runs on every failing call.
  PYBIND11_CONSTINIT static py::gil_safe_call_once_and_store<py::str> name;
  const py::str& method = name.call_once_and_store_result([] { return py::str("_failed"); }).get_stored();
  const auto failed = py::reinterpret_steal<py::object>(PyObject_CallMethodOneArg(self, method.ptr(), exc_type.ptr()));
  if (!failed) throw py::error_already_set();
  if (failed.is_none()) return;
  if (failed.cast<bool>()) {
    b.core().record_failure(wall_clock_ns());
  } else {
    b.core().record_success(b.time_for_success());
  }
}

// Whether allow/record_* were given a time (`now`, or the deprecated keyword-only `now_ns`;
// None is no time), then in `t`. A bool and an out parameter rather than std::optional:
// returned through memory from an out-of-line call, the optional's byte flag was stored and
// reloaded as part of a 16-byte load (a failed store forward: ~4 ns on allow()).
[[gnu::noinline]] bool passed_now(const char* fname, PyObject* const* args, Py_ssize_t nargs, PyObject* kwnames,
                                  std::int64_t& t) {
  static const char* const names[] = {"now", "now_ns"};
  const auto [now, old] = fast_args(fname, names, 0, args, nargs, kwnames, 1);
  const auto given = deprecated_now(now, old, "now_ns") ? now_given(old, "now_ns") : now_given(now);
  if (given) t = *given;
  return given.has_value();
}

// The same, with no arguments (the call that carries the budget) decided inline: the caller
// then reads the clock only if the state needs a time.
inline bool now_arg(const char* fname, PyObject* const* args, Py_ssize_t nargs, PyObject* kwnames, std::int64_t& t) {
  return (nargs != 0 || kwnames != nullptr) && passed_now(fname, args, nargs, kwnames, t);
}

PyObject* fast_allow(PyObject* self, PyObject* const* args, Py_ssize_t nargs, PyObject* kwnames) {
  return raw_call([&] {
    py_breaker& b = breaker_of(self);
    std::int64_t t = 0;
    const bool given = now_arg("allow", args, nargs, kwnames, t);
    return PyBool_FromLong(b.core().allow(given ? t : b.time_for_allow()) ? 1 : 0);
  });
}

PyObject* fast_success(PyObject* self, PyObject* const* args, Py_ssize_t nargs, PyObject* kwnames) {
  return raw_call([&] {
    py_breaker& b = breaker_of(self);
    std::int64_t t = 0;
    const bool given = now_arg("record_success", args, nargs, kwnames, t);
    b.core().record_success(given ? t : b.time_for_success());
    return py::none().release().ptr();
  });
}

PyObject* fast_failure(PyObject* self, PyObject* const* args, Py_ssize_t nargs, PyObject* kwnames) {
  return raw_call([&] {
    py_breaker& b = breaker_of(self);
    std::int64_t t = 0;
    const bool given = now_arg("record_failure", args, nargs, kwnames, t);
    b.core().record_failure(given ? t : wall_clock_ns());
    return py::none().release().ptr();
  });
}

// breaker.call(fn, *args, **kwargs): allow, call, record, in one native step.
PyObject* fast_call(PyObject* self, PyObject* const* args, Py_ssize_t nargs, PyObject* kwnames) {
  return raw_call([&]() -> PyObject* {
    py_breaker& b = breaker_of(self);
    if (nargs < 1) throw py::type_error("call() needs the callable to guard as its first argument");
    if (!b.enter()) return nullptr;
    PyObject* result = PyObject_Vectorcall(args[0], args + 1, static_cast<std::size_t>(nargs - 1), kwnames);
    if (result != nullptr) {
      b.core().record_success(b.time_for_success());
      return result;
    }
    // The call's exception is set aside while the rules run (fetched as is: normalising it,
    // as py::error_already_set does, would cost more than the rules).
    py::object type, value, trace;
    PyErr_Fetch(&type.ptr(), &value.ptr(), &trace.ptr());
    try {
      settle(self, b, type);
    } catch (py::error_already_set& e) {
      // As `except BaseException: self._settle(exc); raise` would in Python: the rules' own
      // error propagates, with the call's exception as its context.
      PyErr_NormalizeException(&type.ptr(), &value.ptr(), &trace.ptr());
      if (trace) PyException_SetTraceback(value.ptr(), trace.ptr());
      PyException_SetContext(e.value().ptr(), value.release().ptr());
      throw;
    }
    PyErr_Restore(type.release().ptr(), value.release().ptr(), trace.release().ptr());
    return nullptr;
  });
}

PyObject* fast_enter(PyObject* self, PyObject* /*unused*/) {
  return raw_call([&]() -> PyObject* {
    if (!breaker_of(self).enter()) return nullptr;
    return py::reinterpret_borrow<py::object>(self).release().ptr();
  });
}

PyObject* fast_exit(PyObject* self, PyObject* const* args, Py_ssize_t nargs) {
  return raw_call([&] {
    py_breaker& b = breaker_of(self);
    if (nargs >= 1 && args[0] != Py_None) {
      settle(self, b, args[0]);
    } else {
      b.core().record_success(b.time_for_success());
    }
    return py::bool_(false).release().ptr();  // never swallow the exception
  });
}

void add_fast_breaker_methods(py::class_<py_breaker>& cls) {
  static PyMethodDef defs[] = {
      {"allow", as_cfunction(fast_allow), METH_FASTCALL | METH_KEYWORDS,
       "allow(self, now: typing.Any = None, *, now_ns: typing.Any = ...) -> bool\n\nMay a call go ahead at `now` "
       "(None: the wall clock)? In HALF_OPEN this takes a probe permit. now_ns is deprecated."},
      {"record_success", as_cfunction(fast_success), METH_FASTCALL | METH_KEYWORDS,
       "record_success(self, now: typing.Any = None, *, now_ns: typing.Any = ...) -> None\n\nThe guarded call "
       "succeeded. now_ns is deprecated."},
      {"record_failure", as_cfunction(fast_failure), METH_FASTCALL | METH_KEYWORDS,
       "record_failure(self, now: typing.Any = None, *, now_ns: typing.Any = ...) -> None\n\nThe guarded call "
       "failed. now_ns is deprecated."},
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

}  // namespace

void register_breaker(py::module_& m) {
  py::enum_<hl::breaker_state>(m, "BreakerState", "Circuit breaker state.")
      .value("CLOSED", hl::breaker_state::closed)
      .value("OPEN", hl::breaker_state::open)
      .value("HALF_OPEN", hl::breaker_state::half_open)
      .value("FORCED_OPEN", hl::breaker_state::forced_open)
      .value("DISABLED", hl::breaker_state::disabled);
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
      .def("state", &py_breaker::state, py::arg("now") = py::none(), py::kw_only(), deprecated_kw("now_ns"),
           "State at `now` (OPEN turns HALF_OPEN once the cooldown is over).")
      .def("force_open", &py_breaker::force_open, py::arg("now") = py::none(), py::arg("reason") = "operator",
           py::kw_only(), deprecated_kw("now_ns"))
      .def("disable", &py_breaker::disable, py::arg("now") = py::none(), py::arg("reason") = "operator", py::kw_only(),
           deprecated_kw("now_ns"))
      .def("reset", &py_breaker::reset, py::arg("now") = py::none(), py::arg("reason") = "operator", py::kw_only(),
           deprecated_kw("now_ns"))
      .def("history", &py_breaker::history, "Transitions, oldest first (bounded).")
      .def("counts", &py_breaker::counts, py::arg("now") = py::none(), py::kw_only(), deprecated_kw("now_ns"),
           "Calls allowed/rejected, successes/failures, and what counts towards opening at `now`.")
      .def("retry_after_ns", &py_breaker::retry_after_ns, py::arg("now") = py::none(), py::kw_only(),
           deprecated_kw("now_ns"), "While OPEN: ns from `now` until HALF_OPEN; otherwise None.")
      .def("to_json", &py_breaker::to_json)
      .def("load_json", &py_breaker::load_json, py::arg("text"))
      .def("_configure", &py_breaker::configure, py::arg("name"), py::arg("open_error"),
           "Name, and the exception class raised when open (called as open_error(name, retry_after_s)).");
  add_fast_breaker_methods(breaker_cls);
}
