"""Retry with exponential backoff and jitter (docs/semantics.md, section Guards: "Retry",
"Retry-After"); the schedule comes from the core.

Attempt n (n >= 1) waits ``min(max_delay_s, base_s * 2**(n-1)) * (1 + U(-jitter, +jitter))``
before the next try, at most ``max_attempts`` attempts. Retryable: exceptions whose code
is TRANSIENT in the error taxonomy (timeouts, connection errors, ...), and HTTP errors with
status 429 or 5xx, waiting what ``Retry-After`` asks when it says (up to ``max_delay_s``);
other 4xx, PERMANENT codes and cancellation are not retried. When attempts run out the last
exception is raised as it was. ``seed`` makes the jitter, and so the schedule, reproducible.
"""

from __future__ import annotations

import asyncio
import math
import re
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from email.utils import parsedate_to_datetime
from typing import Any, Final, TypeVar

from montalaq._native import guard as _g
from montalaq.errors import DEFAULT_TAXONOMY, Code, ErrorTaxonomy

R = TypeVar("R")


@dataclass
class RetryStats:
    """What one call did so far; updated live while the call runs."""

    attempts: int = 0
    total_wait_s: float = 0.0
    last_error: BaseException | None = None
    last_error_code: Code | None = None
    waits_s: list[float] = field(default_factory=list)
    done: bool = False
    succeeded: bool = False


def _status_of(exc: BaseException) -> int | None:
    for holder in (exc, getattr(exc, "response", None)):
        if holder is None:
            continue
        for attr in ("status_code", "status"):
            value = getattr(holder, attr, None)
            if isinstance(value, int) and not isinstance(value, bool) and 100 <= value <= 599:
                return value
    return None


# RFC 9110's delay-seconds is 1*DIGIT; a decimal fraction is accepted too (servers send "0.25").
_DELAY_SECONDS: Final = re.compile(r"[0-9]+(?:\.[0-9]+)?")


def parse_retry_after(value: str | None, *, now: datetime | None = None) -> float | None:
    """Seconds to wait from a ``Retry-After`` value: delay-seconds or an HTTP-date (RFC 9110
    section 10.2.3; decisions in docs/semantics.md, section Guards, "Retry-After").

    A date in the past gives ``0.0``. ``None`` for a missing, empty, negative or otherwise
    unreadable value and for one too large for a float; no cap (each caller bounds the wait).
    ``now`` (aware) is for tests; it defaults to the current time.
    """
    if value is None:
        return None
    text = value.strip()
    if _DELAY_SECONDS.fullmatch(text):
        seconds = float(text)
        return seconds if math.isfinite(seconds) else None
    try:
        when = parsedate_to_datetime(text)
    except (TypeError, ValueError, IndexError, OverflowError):
        return None
    if when.tzinfo is None:  # asctime and "-0000" carry no zone; HTTP-dates are GMT
        when = when.replace(tzinfo=UTC)
    return max(0.0, (when - (now or datetime.now(UTC))).total_seconds())


def _retry_after_s(exc: BaseException, now: Callable[[], float]) -> float | None:
    """What the ``Retry-After`` header of ``exc``'s response (or of ``exc``) asks, in s."""
    for holder in (getattr(exc, "response", None), exc):
        headers = getattr(holder, "headers", None) if holder is not None else None
        if headers is None:
            continue
        try:
            raw = headers.get("Retry-After") or headers.get("retry-after")
        except AttributeError:
            continue
        if raw is None:
            continue
        return parse_retry_after(str(raw), now=datetime.fromtimestamp(now(), UTC))
    return None


class RetryPolicy:
    """A retry policy: ``delays()``, ``call(fn, ...)``, ``acall(fn, ...)``.

    ``sleep``/``asleep`` are the waits (time.sleep / asyncio.sleep by default; tests pass
    their own to run without waiting). ``taxonomy`` decides which exceptions are TRANSIENT.
    """

    def __init__(
        self,
        max_attempts: int = 3,
        base_s: float = 1.0,
        jitter: float = 0.2,
        max_delay_s: float = 60.0,
        seed: int | None = None,
        *,
        taxonomy: ErrorTaxonomy | None = None,
        sleep: Callable[[float], Any] = time.sleep,
        asleep: Callable[[float], Awaitable[Any]] = asyncio.sleep,
        clock: Callable[[], float] = time.time,
    ) -> None:
        if (
            isinstance(max_attempts, bool)
            or not isinstance(max_attempts, int)
            or not 1 <= max_attempts <= 1000
        ):
            raise ValueError(f"max_attempts: expected an integer in [1, 1000], got {max_attempts!r}")
        for name, value in (("base_s", base_s), ("jitter", jitter), ("max_delay_s", max_delay_s)):
            if (
                isinstance(value, bool)
                or not isinstance(value, int | float)
                or not math.isfinite(value)
                or value < 0
            ):
                raise ValueError(f"{name}: expected a finite number >= 0, got {value!r}")
        if jitter >= 1:
            raise ValueError(f"jitter: must be < 1, got {jitter!r}")
        if seed is not None and (
            isinstance(seed, bool) or not isinstance(seed, int) or not 0 <= seed < 2**64
        ):
            raise ValueError(f"seed: expected an integer in [0, 2**64), got {seed!r}")
        self.max_attempts = max_attempts
        self.base_s = float(base_s)
        self.jitter = float(jitter)
        self.max_delay_s = float(max_delay_s)
        self.seed = seed
        self.taxonomy = taxonomy if taxonomy is not None else DEFAULT_TAXONOMY
        self._sleep = sleep
        self._asleep = asleep
        self._clock = clock
        self._schedule = _g.RetrySchedule(max_attempts, self.base_s, self.jitter, self.max_delay_s, seed)
        self.last_stats: RetryStats | None = None

    def delays(self) -> list[float]:
        """The waits (s) between the attempts of one call; the same list every time with a seed."""
        return list(self._schedule.delays())

    def backoff_s(self, attempt: int) -> float:
        """The wait (s) after failed attempt ``attempt`` (>= 1, any size: capped at
        ``max_delay_s``), with jitter; for callers that schedule retries themselves."""
        if isinstance(attempt, bool) or not isinstance(attempt, int) or attempt < 1:
            raise ValueError(f"attempt: expected an integer >= 1, got {attempt!r}")
        return float(self._schedule.delay_s(min(attempt, 1000)))

    def retry_decision(self, exc: BaseException, attempt: int) -> float | None:
        """Seconds to wait before retrying after ``exc`` on ``attempt``, or None: do not retry."""
        if attempt >= self.max_attempts or not isinstance(exc, Exception):
            return None
        status = _status_of(exc)
        if status is not None:
            if status != 429 and not 500 <= status <= 599:
                return None
            asked = _retry_after_s(exc, self._clock)
            if asked is not None:
                return asked if asked <= self.max_delay_s else None
        elif not self.taxonomy.is_transient(exc):
            return None
        return float(self._schedule.delay_s(attempt))

    def _record(self, stats: RetryStats, exc: BaseException) -> None:
        stats.last_error = exc
        stats.last_error_code = self.taxonomy.code_for(exc)

    def call_with(self, stats: RetryStats, fn: Callable[..., R], *args: Any, **kwargs: Any) -> R:
        """``fn(*args, **kwargs)`` with retries; ``stats`` is updated as it goes."""
        self.last_stats = stats
        while True:
            stats.attempts += 1
            try:
                result = fn(*args, **kwargs)
            except BaseException as exc:
                self._record(stats, exc)
                wait = self.retry_decision(exc, stats.attempts)
                if wait is None:
                    stats.done = True
                    raise
                stats.waits_s.append(wait)
                stats.total_wait_s += wait
                self._sleep(wait)
                continue
            stats.done = stats.succeeded = True
            return result

    def call(self, fn: Callable[..., R], *args: Any, **kwargs: Any) -> R:
        """``fn(*args, **kwargs)`` with retries (stats in ``last_stats``)."""
        return self.call_with(RetryStats(), fn, *args, **kwargs)

    async def acall_with(
        self, stats: RetryStats, fn: Callable[..., Awaitable[R]], *args: Any, **kwargs: Any
    ) -> R:
        """Async form of :meth:`call_with`; cancellation is never retried."""
        self.last_stats = stats
        while True:
            stats.attempts += 1
            try:
                result = await fn(*args, **kwargs)
            except BaseException as exc:
                self._record(stats, exc)
                wait = self.retry_decision(exc, stats.attempts)
                if wait is None:
                    stats.done = True
                    raise
                stats.waits_s.append(wait)
                stats.total_wait_s += wait
                await self._asleep(wait)
                continue
            stats.done = stats.succeeded = True
            return result

    async def acall(self, fn: Callable[..., Awaitable[R]], *args: Any, **kwargs: Any) -> R:
        """Async ``await fn(*args, **kwargs)`` with retries (stats in ``last_stats``)."""
        return await self.acall_with(RetryStats(), fn, *args, **kwargs)

    def __repr__(self) -> str:
        return (
            f"RetryPolicy(max_attempts={self.max_attempts}, base_s={self.base_s}, jitter={self.jitter}, "
            f"max_delay_s={self.max_delay_s}, seed={self.seed})"
        )


__all__ = ["RetryPolicy", "RetryStats", "parse_retry_after"]
