"""Health core (docs/semantics.md, "Health core"): freshness, the escalation ladder with
per-pair breakers, the generic circuit breaker, and the operational state machine.

Everything runs in the native core; time is passed in as ``now_ns`` (int ns, aware
datetime, datetime64) and defaults to the wall clock when omitted.
"""

from __future__ import annotations

import functools
import inspect
import math
from collections.abc import Awaitable, Callable, Iterable, Mapping
from types import TracebackType
from typing import Any, ParamSpec, TypeVar, overload

import numpy as np

from montalaq import calendars as _calendars
from montalaq._native import health as _h
from montalaq._time import datetime_utc, seconds_to_ns, to_ns
from montalaq.errors import ErrorCode
from montalaq.timeframes import parse_timeframe, timeframe_label

Colour = _h.Colour
Level = _h.Level
BreakerState = _h.BreakerState
OpState = _h.OpState
InvalidTransitionError = _h.InvalidTransitionError

P = ParamSpec("P")
R = TypeVar("R")

_NS_PER_S = 1_000_000_000


_MAX_INT32 = 2**31 - 1


def _number(value: object, name: str) -> float:
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise TypeError(f"{name}: expected a number, got {type(value).__name__}")
    if not math.isfinite(value):
        raise ValueError(f"{name}: must be finite, got {value}")
    return float(value)


def _int_setting(name: str, value: object, minimum: int, maximum: int = _MAX_INT32) -> int:
    if isinstance(value, bool) or not isinstance(value, int):
        raise TypeError(f"{name}: expected an integer, got {type(value).__name__}")
    if not minimum <= value <= maximum:
        raise ValueError(f"{name}: must be in [{minimum}, {maximum}], got {value}")
    return value


class Freshness(_h.Freshness):
    """GREEN/AMBER/RED from the age of the last trade (docs/semantics.md, "Health core": freshness).

    Defaults ``amber_after = 1.5 * tf`` and ``red_after = 3 * tf``; ``overrides`` maps a
    timeframe string to ``(amber_after_s, red_after_s)``.
    """

    def __init__(
        self,
        amber_mult: float = 1.5,
        red_mult: float = 3.0,
        overrides: Mapping[str, tuple[float, float]] | None = None,
    ) -> None:
        amber = _number(amber_mult, "amber_mult")
        red = _number(red_mult, "red_mult")
        if amber <= 0 or red <= 0:
            raise ValueError(f"amber_mult and red_mult must be > 0; got {amber_mult}, {red_mult}")
        if amber > red:
            raise ValueError(f"amber_mult ({amber_mult}) must be <= red_mult ({red_mult})")
        super().__init__(amber, red)
        if overrides is not None and not isinstance(overrides, Mapping):
            raise TypeError(
                "overrides: expected a mapping {timeframe: (amber_after_s, red_after_s)}, "
                f"got {type(overrides).__name__}"
            )
        for tf, pair in (overrides or {}).items():
            if not isinstance(pair, tuple | list) or len(pair) != 2:
                raise TypeError(f"overrides[{tf!r}]: expected (amber_after_s, red_after_s), got {pair!r}")
            amber_ns = seconds_to_ns(pair[0], f"overrides[{tf!r}].amber_after_s")
            red_ns = seconds_to_ns(pair[1], f"overrides[{tf!r}].red_after_s")
            if amber_ns > red_ns:
                raise ValueError(f"overrides[{tf!r}]: amber_after_s must be <= red_after_s, got {pair!r}")
            self.set_override(parse_timeframe(tf), amber_ns, red_ns)

    def colour(self, timeframe: str, now: Any, last_tick: Any | None) -> Colour:
        """Colour of a pair whose last trade was at ``last_tick`` (None: never)."""
        last = 0 if last_tick is None else to_ns(last_tick, "last_tick")
        return self.classify(parse_timeframe(timeframe), to_ns(now, "now"), last)


def _event(raw: dict[str, Any]) -> dict[str, Any]:
    """An escalation event as the notifier and the API see it (docs/semantics.md, "Health core")."""
    return {
        "kind": raw["kind"],
        "symbol": raw["symbol"],
        "timeframe": timeframe_label(raw["tf_ns"]),
        "old": raw["old"],
        "new": raw["new"],
        "reason": raw["reason"],
        "at": datetime_utc(raw["at_ns"]),
        "at_ns": raw["at_ns"],
        "last_error_code": raw["last_error_code"],
    }


def _row(raw: dict[str, Any]) -> dict[str, Any]:
    row = dict(raw)
    row["timeframe"] = timeframe_label(row["tf_ns"])
    for key in ("last_tick", "last_eval", "breaker_changed"):
        ns = row[f"{key}_ns"]
        row[f"{key}_at" if key == "breaker_changed" else key] = None if ns is None else datetime_utc(ns)
    return row


class EscalationBoard(_h.EscalationBoard):
    """Escalation ladder and per-pair breaker for every (symbol, timeframe) (docs/semantics.md,
    "Health core": order inside a cycle).

    ``evaluate(now, last_tick_ns)`` runs one cycle over every pair and returns the events
    (level changes, breaker open/close) with their reason and last error code. Pairs are
    registered by ``add_pairs``, by ``record_failure``, or by appearing in ``last_tick_ns``;
    a registered pair that has never traded is RED. One broken pair never changes another.
    A pair may follow a market calendar (``add_pair(..., calendar="XNYS")``): outside its
    sessions it is CLOSED and nothing escalates (docs/semantics.md, "Market calendars").

    Thread safety: every method may be called from any thread (an internal lock).
    """

    def __init__(
        self,
        freshness: Freshness | None = None,
        auto_close_cycles: int = 0,
        *,
        critical_red_streak: int = 3,
        error_fails: int = 3,
        warn_amber_streak: int = 2,
        warn_fails: int = 2,
        breaker_red_streak: int = 2,
        breaker_error_streak: int = 3,
        fail_window_s: float = 300.0,
        max_failures_kept: int = 1_000,
    ) -> None:
        super().__init__(
            freshness if freshness is not None else Freshness(),
            _int_setting("auto_close_cycles", auto_close_cycles, 0),
            _int_setting("critical_red_streak", critical_red_streak, 1),
            _int_setting("error_fails", error_fails, 1),
            _int_setting("warn_amber_streak", warn_amber_streak, 1),
            _int_setting("warn_fails", warn_fails, 1),
            _int_setting("breaker_red_streak", breaker_red_streak, 1),
            _int_setting("breaker_error_streak", breaker_error_streak, 1),
            seconds_to_ns(fail_window_s, "fail_window_s"),
            _int_setting("max_failures_kept", max_failures_kept, 1, 1_000_000_000),
        )
        # Calendar name -> board index, for the calendars whose sessions this object put on
        # the board (a loaded document's sessions are replaced by this process's on first use).
        self._calendar_ids: dict[str, int] = {}

    @classmethod
    def from_json(cls, text: str) -> EscalationBoard:
        """A board from ``to_json()`` output; ValueError on a malformed or foreign document."""
        if not isinstance(text, str):
            raise TypeError(f"text: expected a JSON string, got {type(text).__name__}")
        board = cls()
        board.load_json(text)
        return board

    def load_json(self, text: str) -> None:
        """Replace this board's state with a document from ``to_json()`` (version 1 or 2); on
        any error (ValueError) the board is unchanged."""
        super().load_json(text)
        self._calendar_ids = {}

    def add_pair(self, symbol: str, timeframe: str, calendar: str | None = None) -> int:
        """Register a pair (idempotent); returns its index in ``pairs()`` order.

        ``calendar``: ``"24/7"`` or an exchange_calendars name such as ``"XNYS"``
        (:func:`montalaq.calendars.normalize`); the pair moves to it if it was on another.
        None keeps an existing pair's calendar; a new pair is then on ``"24/7"``.
        """
        if not isinstance(symbol, str) or not symbol:
            raise ValueError("symbol: expected a non-empty string")
        tf_ns = parse_timeframe(timeframe)
        if calendar is None:
            return self._add_pair(symbol, tf_ns)
        return self._add_on(symbol, tf_ns, self._calendar_id(_calendars.normalize(calendar)))

    def add_pairs(
        self, symbols: Iterable[str], timeframes: Iterable[str], calendar: str | None = None
    ) -> list[int]:
        """Register every (symbol, timeframe) combination, on ``calendar`` as in ``add_pair``."""
        tfs = list(timeframes)
        name = None if calendar is None else _calendars.normalize(calendar)
        return [self.add_pair(s, tf, name) for s in symbols for tf in tfs]

    def _add_on(self, symbol: str, tf_ns: int, calendar: int) -> int:
        idx = self._add_pair(symbol, tf_ns, calendar)
        self._set_pair_calendar(idx, calendar)  # an existing pair moves
        return idx

    def _calendar_id(self, name: str) -> int:
        """The board index of a normalised calendar name, putting its sessions on the board
        the first time this object uses it."""
        if name == _calendars.ALWAYS_OPEN:
            return 0
        found = self._calendar_ids.get(name)
        if found is None:
            opens, closes = _calendars.sessions(name)
            found = self._calendar_ids[name] = self._set_calendar(name, opens, closes)
        return found

    def _index(self, symbol: str, timeframe: str) -> int:
        idx = self._find_pair(symbol, parse_timeframe(timeframe))
        if idx is None:
            raise ValueError(f"unknown pair ({symbol!r}, {timeframe!r}); register it with add_pair")
        return idx

    def record_failure(
        self,
        symbol: str,
        timeframe: str,
        at_ns: Any = None,
        error_code: ErrorCode | str = ErrorCode.UNKNOWN,
    ) -> None:
        """Record an analysis failure for a pair (registering it if new) at ``at_ns``
        (int ns, aware datetime, datetime64; default now) with its error code."""
        if isinstance(at_ns, ErrorCode | str):
            raise TypeError(
                "at_ns: expected a time (int ns, aware datetime, datetime64) or None; the error code "
                "is the fourth argument: record_failure(symbol, timeframe, at_ns, error_code)"
            )
        code = error_code.name if isinstance(error_code, ErrorCode) else error_code
        if not isinstance(code, str) or not code:
            raise ValueError("error_code: expected an ErrorCode or a non-empty string")
        self._record_failure(self.add_pair(symbol, timeframe), at_ns, code)

    def evaluate(self, now: Any = None, last_tick_ns: Any = None) -> list[dict[str, Any]]:
        """Run one cycle; returns this cycle's events.

        ``last_tick_ns``: None (use the ticks given before), a mapping
        ``{(symbol, timeframe): ts_ns}``, a :class:`montalaq.MarketEngine` (its symbols x
        timeframes), or an int64 array with one time per pair in ``pairs()`` order (the
        fast path for large boards; 0 means never).
        """
        ticks = None if last_tick_ns is None else self._apply_ticks(last_tick_ns)
        return [_event(e) for e in self._evaluate(now, ticks)]

    def _apply_ticks(self, source: Any) -> Any:
        """Stores mapping/engine ticks; returns an array for the native one-pass path."""
        from montalaq.engine import MarketEngine

        if isinstance(source, MarketEngine):
            symbols, last = source.last_trades()
            frames = source.timeframes
            idx = np.array([self.add_pair(sym, tf) for sym in symbols for tf in frames], dtype=np.uint32)
            self._set_last_ticks(idx, np.repeat(np.asarray(last, dtype=np.int64), len(frames)))
            return None
        if isinstance(source, Mapping):
            idx = np.empty(len(source), dtype=np.uint32)
            ts = np.empty(len(source), dtype=np.int64)
            for i, ((symbol, tf), value) in enumerate(source.items()):
                idx[i] = self.add_pair(symbol, tf)
                ts[i] = 0 if value is None else to_ns(value, f"last_tick_ns[{symbol!r}, {tf!r}]")
            self._set_last_ticks(idx, ts)
            return None
        arr = np.asarray(source)
        if arr.ndim != 1 or arr.dtype.kind not in "iu":
            raise TypeError(
                "last_tick_ns: expected a mapping {(symbol, timeframe): ts_ns}, a MarketEngine, or an "
                f"int64 array with one time per pair; got {type(source).__name__}"
            )
        if arr.shape[0] != len(self):
            raise ValueError(f"last_tick_ns: expected one time per pair ({len(self)}), got {arr.shape[0]}")
        return np.ascontiguousarray(arr, dtype=np.int64)

    def set_last_ticks(self, last_tick_ns: Any) -> None:
        """Store last trade times without evaluating (same forms as ``evaluate``)."""
        ticks = self._apply_ticks(last_tick_ns)
        if ticks is not None:
            self._set_last_ticks(np.arange(len(self), dtype=np.uint32), ticks)

    def level(self, symbol: str, timeframe: str) -> Level:
        """Current escalation level of a pair."""
        return self._level(self._index(symbol, timeframe))

    def breaker_open(self, symbol: str, timeframe: str) -> bool:
        """Whether the pair's breaker is open (the scheduler skips only this pair)."""
        return self._breaker_open(self._index(symbol, timeframe))

    def close_breaker(
        self, symbol: str, timeframe: str, by: str = "operator", now: Any = None
    ) -> dict[str, Any] | None:
        """Operator close; returns the breaker_close event, or None if it was not open."""
        ev = self._close_breaker(self._index(symbol, timeframe), now, by)
        return None if ev is None else _event(ev)

    def pair(self, symbol: str, timeframe: str, now: Any = None) -> dict[str, Any]:
        """One pair as a status row."""
        return _row(self._row(self._index(symbol, timeframe), now))

    def pairs(self, now: Any = None) -> list[dict[str, Any]]:
        """Every pair as a row for the status API (freshness, level, breaker, streaks...)."""
        return [_row(r) for r in self._rows(now)]


class CircuitOpenError(RuntimeError):
    """Raised instead of calling through an open breaker; ``code`` is ``CIRCUIT_OPEN``."""

    code = ErrorCode.CIRCUIT_OPEN

    def __init__(self, name: str, retry_after_s: float | None) -> None:
        self.breaker = name
        self.retry_after_s = retry_after_s
        when = "" if retry_after_s is None else f"; retry in {retry_after_s:.1f} s"
        super().__init__(f"circuit '{name}' is open{when}")


class CircuitBreaker(_h.CircuitBreaker):
    """CLOSED -> OPEN -> HALF_OPEN breaker for calls to brokers, exchanges, channels
    (docs/semantics.md, "Health core": circuit breaker).

    ``mode="count"``: open after ``failure_threshold`` failures within ``window_s``.
    ``mode="rate"``: open when the failure rate over the last ``rate_window_calls`` calls
    reaches ``failure_rate_pct`` (once ``min_calls`` were made). OPEN rejects for
    ``cooldown_s``; HALF_OPEN lets ``half_open_calls`` probes through (all succeed ->
    CLOSED, one fails -> OPEN again), and re-opens if they do not report within
    ``half_open_max_wait_s`` (default: the cooldown), so it never hangs half-open.

    Use ``allow()`` / ``record_success()`` / ``record_failure()`` directly (native, fast),
    or wrap calls: ``@breaker`` on a sync or async function, ``with breaker:`` or
    ``async with breaker:``. Exceptions listed in ``exclude`` pass through without
    counting as failures. Thread-safe.
    """

    def __init__(
        self,
        name: str = "default",
        *,
        failure_threshold: int = 5,
        window_s: float = 300.0,
        cooldown_s: float = 120.0,
        half_open_calls: int = 1,
        mode: str = "count",
        failure_rate_pct: float = 50.0,
        rate_window_calls: int = 100,
        min_calls: int = 10,
        half_open_max_wait_s: float | None = None,
        history: int = 100,
        exclude: tuple[type[Exception], ...] = (),
    ) -> None:
        if mode not in ("count", "rate"):
            raise ValueError(f"mode: expected 'count' or 'rate', got {mode!r}")
        if isinstance(failure_rate_pct, bool) or not isinstance(failure_rate_pct, int | float):
            raise TypeError("failure_rate_pct: expected a number")
        if not 0 < failure_rate_pct <= 100:
            raise ValueError(f"failure_rate_pct: must be in (0, 100], got {failure_rate_pct}")
        rate_calls = _int_setting("rate_window_calls", rate_window_calls, 1, 10_000_000)
        minimum = _int_setting("min_calls", min_calls, 1)
        if minimum > rate_calls:
            raise ValueError(f"min_calls: must be <= rate_window_calls ({rate_calls}), got {minimum}")
        super().__init__(
            _h.BreakerMode.COUNT if mode == "count" else _h.BreakerMode.RATE,
            _int_setting("failure_threshold", failure_threshold, 1),
            seconds_to_ns(window_s, "window_s"),
            float(failure_rate_pct),
            rate_calls,
            minimum,
            seconds_to_ns(cooldown_s, "cooldown_s"),
            _int_setting("half_open_calls", half_open_calls, 1),
            0
            if half_open_max_wait_s is None
            else seconds_to_ns(half_open_max_wait_s, "half_open_max_wait_s"),
            _int_setting("history", history, 1, 1_000_000),
        )
        if not isinstance(name, str) or not name:
            raise ValueError("name: expected a non-empty string")
        excluded = tuple(exclude)
        if not all(isinstance(e, type) and issubclass(e, Exception) for e in excluded):
            raise TypeError("exclude: expected a tuple of Exception subclasses")
        self._name = name
        self._exclude = excluded
        # The native call path (call, with, the sync decorator) raises this class itself.
        self._configure(name, CircuitOpenError)

    @property
    def name(self) -> str:
        """The breaker's name (fixed at construction: the native call path holds it)."""
        return self._name

    @property
    def exclude(self) -> tuple[type[Exception], ...]:
        """Exceptions that pass through without counting as failures (fixed at construction)."""
        return self._exclude

    @classmethod
    def from_json(
        cls, text: str, name: str = "default", exclude: tuple[type[Exception], ...] = ()
    ) -> CircuitBreaker:
        """A breaker (config, state, counts, history) from ``to_json()``; ValueError on a bad document."""
        breaker = cls(name, exclude=exclude)
        breaker.load_json(text)
        return breaker

    def _reject(self) -> CircuitOpenError:
        retry = self.retry_after_ns()
        return CircuitOpenError(self.name, None if retry is None else retry / _NS_PER_S)

    def _failed(self, exc_type: type[BaseException]) -> bool | None:
        """What guarded code raising ``exc_type`` means: True a failure, False a success
        (``exclude``), None no outcome (KeyboardInterrupt, CancelledError...: a half-open
        probe then times out). The one place of these rules: the native paths (``call``,
        ``with``, the sync decorator) ask it too."""
        if issubclass(exc_type, self._exclude):
            return False
        return True if issubclass(exc_type, Exception) else None

    def _settle(self, exc: BaseException | None) -> None:
        failed = False if exc is None else self._failed(type(exc))
        if failed is False:
            self.record_success()
        elif failed:
            self.record_failure()

    @overload
    def __call__(self, fn: Callable[P, Awaitable[R]]) -> Callable[P, Awaitable[R]]: ...
    @overload
    def __call__(self, fn: Callable[P, R]) -> Callable[P, R]: ...
    def __call__(self, fn: Callable[P, Any]) -> Callable[P, Any]:
        """Decorate a sync or async callable: rejected with CircuitOpenError while open."""
        if inspect.iscoroutinefunction(fn):

            @functools.wraps(fn)
            async def async_wrapper(*args: P.args, **kwargs: P.kwargs) -> Any:
                if not self.allow():
                    raise self._reject()
                try:
                    result = await fn(*args, **kwargs)
                except BaseException as exc:
                    self._settle(exc)
                    raise
                self.record_success()
                return result

            return async_wrapper

        guarded = self.call  # native: allow, call, record in one step

        @functools.wraps(fn)
        def wrapper(*args: P.args, **kwargs: P.kwargs) -> Any:
            return guarded(fn, *args, **kwargs)

        return wrapper

    # `with breaker:` uses the native __enter__/__exit__ of the base class.

    async def __aenter__(self) -> CircuitBreaker:
        if not self.allow():
            raise self._reject()
        return self

    async def __aexit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self._settle(exc)


class OperationalState(_h.OperationalState):
    """STARTING / ACTIVE / WAITING / ERROR / SHUTDOWN with the transitions of docs/semantics.md,
    "Health core": operational state.

    ``transition(to, reason)`` raises :class:`InvalidTransitionError` (a ValueError) for
    anything else; each state records when it was entered and why.
    """

    def __init__(self, now: Any = None, reason: str = "created") -> None:
        super().__init__(now, reason)

    @classmethod
    def from_json(cls, text: str) -> OperationalState:
        """A state machine from ``to_json()`` output; ValueError on a bad document."""
        state = cls()
        state.load_json(text)
        return state

    def move(self, to: OpState | str, reason: str = "", now: Any = None) -> bool:
        """``transition`` that also takes the state's name ("ACTIVE")."""
        target = to if isinstance(to, OpState) else _op_state(to)
        return self.transition(target, now, reason)

    @property
    def entered_at(self) -> Any:
        """Aware UTC datetime at which the current state was entered."""
        return datetime_utc(self.entered_at_ns)


def _op_state(name: str) -> OpState:
    try:
        return OpState.__members__[name.upper()]
    except (KeyError, AttributeError):
        raise ValueError(f"to: unknown state {name!r}; expected one of {list(OpState.__members__)}") from None


__all__ = [
    "BreakerState",
    "CircuitBreaker",
    "CircuitOpenError",
    "Colour",
    "EscalationBoard",
    "Freshness",
    "InvalidTransitionError",
    "Level",
    "OpState",
    "OperationalState",
]
