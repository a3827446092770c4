"""The circuit breaker for calls to brokers, exchanges and channels, and its exception
rules: what a guarded call's exception counts as (docs/semantics.md, "Health core":
circuit breaker)."""

from __future__ import annotations

import functools
import inspect
from collections.abc import Awaitable, Callable
from types import TracebackType
from typing import Any, ParamSpec, TypeVar, overload

from montalaq._native import health as _h
from montalaq._time import seconds_to_ns
from montalaq.errors import ErrorCode
from montalaq.health.arguments import int_setting

BreakerState = _h.BreakerState

P = ParamSpec("P")
R = TypeVar("R")

_NS_PER_S = 1_000_000_000


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
        rate_calls = int_setting("rate_window_calls", rate_window_calls, 1, 10_000_000)
        minimum = int_setting("min_calls", min_calls, 1)
        if minimum > rate_calls:
            raise ValueError(f"min_calls: must be <= rate_window_calls ({rate_calls}), got {minimum}")
        super().__init__(
            _h.BreakerMode.COUNT if mode == "count" else _h.BreakerMode.RATE,
            int_setting("failure_threshold", failure_threshold, 1),
            seconds_to_ns(window_s, "window_s"),
            float(failure_rate_pct),
            rate_calls,
            minimum,
            seconds_to_ns(cooldown_s, "cooldown_s"),
            int_setting("half_open_calls", half_open_calls, 1),
            0
            if half_open_max_wait_s is None
            else seconds_to_ns(half_open_max_wait_s, "half_open_max_wait_s"),
            int_setting("history", history, 1, 1_000_000),
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


__all__ = ["BreakerState", "CircuitBreaker", "CircuitOpenError"]
