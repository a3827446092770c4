"""Guards whose state the workers share through Redis: the error-type throttle and the
notification channels' circuit breakers. Each synchronised call loads the native object's
shared document under a short Redis lock, runs the native call and stores the result, so
every worker sees one throttle window per error type and one breaker per channel
(docs/semantics.md, "Celery", Shared guards).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any, Protocol, TypeVar

from redis.lock import Lock

from montalaq._time import UNSET
from montalaq._time import now_or_old_ns as _time  # taken before the lock; None: the wall clock
from montalaq.celery.state import SharedState, text
from montalaq.health import BreakerState, CircuitBreaker
from montalaq.shapes import DigestEntry, ThrottleRecovery, ThrottleSummaryRow
from montalaq.throttle import ErrorThrottle, ThrottleDecision

T = TypeVar("T")
_LOCK_TIMEOUT_S = 10.0


class _JsonState(Protocol):
    def load_json(self, text: str) -> None: ...

    def to_json(self) -> str: ...


def _synced(obj: _JsonState, state: SharedState, key: str, fn: Callable[[], T], *, write: bool = True) -> T:
    """Load ``obj`` from the shared document, run ``fn``, store ``obj`` -- under a lock."""
    client = state.client
    lock = Lock(
        client, key + ":lock", timeout=_LOCK_TIMEOUT_S, blocking_timeout=_LOCK_TIMEOUT_S, thread_local=False
    )
    if not lock.acquire():
        raise TimeoutError(f"shared guard {key!r}: lock not acquired within {_LOCK_TIMEOUT_S} s")
    try:
        raw = client.get(key)
        if raw is not None:
            obj.load_json(text(raw))
        out = fn()
        if write:
            client.set(key, obj.to_json())
        return out
    finally:
        lock.release()


class SharedErrorThrottle(ErrorThrottle):
    """An :class:`~montalaq.throttle.ErrorThrottle` shared by every worker (docs/semantics.md, "Celery").
    ``windows``/``aggregation_s``/``default_window_s`` configure a throttle created fresh;
    an existing shared one keeps the configuration it was created with."""

    def __init__(
        self,
        state: SharedState,
        windows: Mapping[str, float] | None = None,
        aggregation_s: float = 60.0,
        *,
        default_window_s: float = 3600.0,
        name: str = "throttle",
    ) -> None:
        ErrorThrottle.__init__(self, windows, aggregation_s, default_window_s=default_window_s)
        self._shared = state
        self._shared_key = state.key("guard", name)

    def _synced(self, fn: Callable[[], T], *, write: bool = True) -> T:
        return _synced(self, self._shared, self._shared_key, fn, write=write)

    def report(self, error_type: Any, message: Any = "", now: Any = None) -> ThrottleDecision:
        """``ErrorThrottle.report`` on the shared state."""
        return self._synced(lambda: ErrorThrottle.report(self, error_type, message, now))

    def flush(self, now: Any = None) -> list[list[DigestEntry]]:
        """``ErrorThrottle.flush`` on the shared state (a digest is flushed by one worker)."""
        return self._synced(lambda: ErrorThrottle.flush(self, now))

    def resolve(self, error_type: Any, now: Any = None) -> ThrottleRecovery | None:
        """``ErrorThrottle.resolve`` on the shared state."""
        return self._synced(lambda: ErrorThrottle.resolve(self, error_type, now))

    def summary(self) -> list[ThrottleSummaryRow]:
        """``ErrorThrottle.summary`` of the shared state."""
        return self._synced(lambda: ErrorThrottle.summary(self), write=False)


class SharedCircuitBreaker(CircuitBreaker):
    """A :class:`~montalaq.health.CircuitBreaker` shared by every worker (docs/semantics.md, "Celery");
    the keyword arguments are CircuitBreaker's and configure a breaker created fresh."""

    def __init__(self, state: SharedState, name: str, **kwargs: Any) -> None:
        CircuitBreaker.__init__(self, name, **kwargs)
        self._shared = state
        self._shared_key = state.key("guard", f"breaker:{name}")

    def _synced(self, fn: Callable[[], T], *, write: bool = True) -> T:
        return _synced(self, self._shared, self._shared_key, fn, write=write)

    def allow(self, now: Any = None, *, now_ns: Any = UNSET) -> bool:
        """``allow`` on the shared state (a half-open probe permit is taken once cluster-wide)."""
        t = _time(now, now_ns)
        return self._synced(lambda: CircuitBreaker.allow(self, t))

    def record_success(self, now: Any = None, *, now_ns: Any = UNSET) -> None:
        """``record_success`` on the shared state."""
        t = _time(now, now_ns)
        self._synced(lambda: CircuitBreaker.record_success(self, t))

    def record_failure(self, now: Any = None, *, now_ns: Any = UNSET) -> None:
        """``record_failure`` on the shared state."""
        t = _time(now, now_ns)
        self._synced(lambda: CircuitBreaker.record_failure(self, t))

    def retry_after_ns(self, now: Any = None, *, now_ns: Any = UNSET) -> int | None:
        """``retry_after_ns`` of the shared state."""
        t = _time(now, now_ns)
        return self._synced(lambda: CircuitBreaker.retry_after_ns(self, t), write=False)

    def state(self, now: Any = None, *, now_ns: Any = UNSET) -> BreakerState:
        """``state`` of the shared state."""
        t = _time(now, now_ns)
        return self._synced(lambda: CircuitBreaker.state(self, t), write=False)


__all__ = ["SharedCircuitBreaker", "SharedErrorThrottle"]
