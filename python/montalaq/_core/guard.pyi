"""
Rate limiting and other in-process guards
"""

from __future__ import annotations

import collections.abc
import typing

__all__: list[str] = [
    "DedupeCache",
    "DedupeResult",
    "ErrorThrottle",
    "OrderKind",
    "RateLimiter",
    "RetrySchedule",
    "SafetyReason",
    "ThrottleDecision",
    "canonical_error_type",
    "check_dedupe_key",
    "dedupe_now_ns",
    "dedupe_time_ns",
    "dedupe_ttl_ns",
    "is_tick_multiple",
    "validate_trading_decision",
]

class RateLimiter:
    """
    Native sliding-window limiter; use montalaq.ratelimit.RateLimiter.
    """
    def __init__(
        self,
        limit: typing.SupportsInt | typing.SupportsIndex,
        window_ns: typing.SupportsInt | typing.SupportsIndex,
        max_keys: typing.SupportsInt | typing.SupportsIndex,
    ) -> None: ...
    def purge(self, now: typing.Any = None, *, now_s: typing.Any = ...) -> int:
        """
        Drop keys with an empty window at `now`; returns how many. now_s is deprecated.
        """
    def remaining(self, key: str, now: typing.Any = None, *, now_s: typing.Any = ...) -> int:
        """
        Slots left for `key` at `now`. now_s is deprecated.
        """
    def retry_after_s(self, key: str, now: typing.Any = None, *, now_s: typing.Any = ...) -> float:
        """
        Seconds from `now` until `key` gets a slot (0 if it has one). now_s is deprecated.
        """
    def try_acquire(self, key: str, now: typing.Any = None, *, now_s: float | None = ...) -> bool:
        """
        Take a slot for `key` if fewer than `limit` were taken in the window ending at `now` (None: the wall clock); False means over the limit (fold the event into a digest: nothing is dropped here). now_s (seconds) is deprecated.
        """
    @property
    def denied(self) -> int: ...
    @property
    def keys(self) -> int: ...
    @property
    def limit(self) -> int: ...
    @property
    def window_s(self) -> float: ...

class DedupeResult:
    """
    Answer of check_and_record (docs/semantics.md, Guards: dedupe).

    Members:

      ALLOWED : Not seen within its TTL: go ahead (the key is now recorded).

      DEDUPED : An unexpired record exists: drop the duplicate.
    """

    ALLOWED: typing.ClassVar[DedupeResult]
    DEDUPED: typing.ClassVar[DedupeResult]
    __members__: typing.ClassVar[dict[str, DedupeResult]]
    @typing.overload
    def __eq__(self, other: DedupeResult) -> bool: ...
    @typing.overload
    def __eq__(self, other: typing.Any) -> bool: ...
    def __getstate__(self) -> int: ...
    def __hash__(self) -> int: ...
    def __index__(self) -> int: ...
    def __init__(self, value: typing.SupportsInt | typing.SupportsIndex) -> None: ...
    def __int__(self) -> int: ...
    @typing.overload
    def __ne__(self, other: DedupeResult) -> bool: ...
    @typing.overload
    def __ne__(self, other: typing.Any) -> bool: ...
    def __repr__(self) -> str: ...
    def __setstate__(self, state: typing.SupportsInt | typing.SupportsIndex) -> None: ...
    def __str__(self) -> str: ...
    @property
    def name(self) -> str: ...
    @property
    def value(self) -> int: ...

class DedupeCache:
    """
    Native TTL dedupe cache; use montalaq.dedupe.DedupeCache.
    """
    def __init__(self, ttl_s: float, capacity: int) -> None: ...
    def __len__(self) -> int:
        """
        Records held (expired ones not purged yet included).
        """
    def check_and_record(
        self,
        key: str,
        now: typing.Any = None,
        ttl_s: typing.SupportsFloat | None = None,
        *,
        now_s: typing.SupportsFloat | None = ...,
    ) -> DedupeResult:
        """
        ALLOWED (and `key` is recorded until now + ttl_s), or DEDUPED while an earlier record of `key` is unexpired. now=None: the wall clock; ttl_s=None: the cache's TTL. now_s (seconds) is deprecated.
        """
    def clear(self) -> None:
        """
        Forget every record and reset the counters.
        """
    def contains(self, key: str, now: typing.Any = None, *, now_s: typing.SupportsFloat | None = ...) -> bool:
        """
        Is there an unexpired record of `key` at `now`? Records nothing. now_s (seconds) is deprecated.
        """
    def purge(self, now: typing.Any = None, *, now_s: typing.Any = ...) -> int:
        """
        Drop every record expired at `now`; returns how many (calls also purge). now_s is deprecated.
        """
    @property
    def allowed(self) -> int:
        """
        ALLOWED answers so far.
        """
    @property
    def capacity(self) -> int: ...
    @property
    def deduped(self) -> int:
        """
        DEDUPED answers so far.
        """
    @property
    def evictions(self) -> int:
        """
        Unexpired records dropped to stay within capacity (each may let a duplicate through).
        """
    @property
    def ttl_s(self) -> float: ...

class ThrottleDecision:
    """
    What report() decided for one error occurrence.

    Members:

      NOTIFY : First in its window: goes out in the next digest.

      SUPPRESSED : Inside the window: counted only.
    """

    NOTIFY: typing.ClassVar[ThrottleDecision]
    SUPPRESSED: typing.ClassVar[ThrottleDecision]
    __members__: typing.ClassVar[dict[str, ThrottleDecision]]
    @typing.overload
    def __eq__(self, other: ThrottleDecision) -> bool: ...
    @typing.overload
    def __eq__(self, other: typing.Any) -> bool: ...
    def __getstate__(self) -> int: ...
    def __hash__(self) -> int: ...
    def __index__(self) -> int: ...
    def __init__(self, value: typing.SupportsInt | typing.SupportsIndex) -> None: ...
    def __int__(self) -> int: ...
    @typing.overload
    def __ne__(self, other: ThrottleDecision) -> bool: ...
    @typing.overload
    def __ne__(self, other: typing.Any) -> bool: ...
    def __repr__(self) -> str: ...
    def __setstate__(self, state: typing.SupportsInt | typing.SupportsIndex) -> None: ...
    def __str__(self) -> str: ...
    @property
    def name(self) -> str: ...
    @property
    def value(self) -> int: ...

class ErrorThrottle:
    """
    Native per-error-type throttle; use montalaq.throttle.
    """
    def __init__(
        self,
        default_window_ns: typing.SupportsInt | typing.SupportsIndex,
        aggregation_ns: typing.SupportsInt | typing.SupportsIndex,
        windows: collections.abc.Mapping[str, typing.SupportsInt | typing.SupportsIndex],
        max_types: typing.SupportsInt | typing.SupportsIndex,
    ) -> None: ...
    def _flush(self, now: typing.Any = None) -> list[dict[str, typing.Any]]:
        """
        Digests whose aggregation window has elapsed, oldest first.
        """
    def _report(self, error_type: str, now: typing.Any = None, message: str = "") -> ThrottleDecision:
        """
        Record one occurrence; NOTIFY if it is the first in its type's window (buffered for the next digest).
        """
    def _resolve(self, error_type: str, now: typing.Any = None) -> dict[str, typing.Any] | None:
        """
        The recovery message, or None (nothing active, or folded into a buffered digest).
        """
    def _summary(self) -> list[dict[str, typing.Any]]:
        """
        One row per error type, sorted by type.
        """
    def load_json(self, text: str) -> None:
        """
        Replace config and state with a document from to_json(); ValueError changes nothing.
        """
    def to_json(self) -> str:
        """
        Config, every type's counts and the buffered digests as a JSON string.
        """
    def window_s(self, error_type: str) -> float:
        """
        The throttle window of a type, in seconds.
        """
    @property
    def aggregation_s(self) -> float: ...
    @property
    def buffered(self) -> int:
        """
        Entries waiting in digests.
        """
    @property
    def default_window_s(self) -> float: ...
    @property
    def max_types(self) -> int: ...
    @property
    def next_flush_ns(self) -> int | None:
        """
        When the oldest buffered digest is due (int ns), or None.
        """

class SafetyReason:
    """
    Outcome of validate_trading_decision: OK or why it is blocked.

    Members:

      OK

      INVALID_SYMBOL : Symbol not in the allowed set.

      INVALID_SIDE : Side is not exactly BUY or SELL.

      INVALID_QUANTITY : Quantity not finite or not > 0.

      INVALID_PRICE : Price not finite, not > 0 or off the tick grid.

      TP_SL_WITHOUT_FILL : Take-profit or stop-loss before the entry filled.

      SELL_WITHOUT_POSITION : SELL larger than the open long position.
    """

    INVALID_PRICE: typing.ClassVar[SafetyReason]
    INVALID_QUANTITY: typing.ClassVar[SafetyReason]
    INVALID_SIDE: typing.ClassVar[SafetyReason]
    INVALID_SYMBOL: typing.ClassVar[SafetyReason]
    OK: typing.ClassVar[SafetyReason]
    SELL_WITHOUT_POSITION: typing.ClassVar[SafetyReason]
    TP_SL_WITHOUT_FILL: typing.ClassVar[SafetyReason]
    __members__: typing.ClassVar[dict[str, SafetyReason]]
    @typing.overload
    def __eq__(self, other: SafetyReason) -> bool: ...
    @typing.overload
    def __eq__(self, other: typing.Any) -> bool: ...
    def __getstate__(self) -> int: ...
    def __hash__(self) -> int: ...
    def __index__(self) -> int: ...
    def __init__(self, value: typing.SupportsInt | typing.SupportsIndex) -> None: ...
    def __int__(self) -> int: ...
    @typing.overload
    def __ne__(self, other: SafetyReason) -> bool: ...
    @typing.overload
    def __ne__(self, other: typing.Any) -> bool: ...
    def __repr__(self) -> str: ...
    def __setstate__(self, state: typing.SupportsInt | typing.SupportsIndex) -> None: ...
    def __str__(self) -> str: ...
    @property
    def name(self) -> str: ...
    @property
    def value(self) -> int: ...

class OrderKind:
    """
    What an order is for.

    Members:

      ENTRY

      TAKE_PROFIT

      STOP_LOSS

      EXIT
    """

    ENTRY: typing.ClassVar[OrderKind]
    EXIT: typing.ClassVar[OrderKind]
    STOP_LOSS: typing.ClassVar[OrderKind]
    TAKE_PROFIT: typing.ClassVar[OrderKind]
    __members__: typing.ClassVar[dict[str, OrderKind]]
    @typing.overload
    def __eq__(self, other: OrderKind) -> bool: ...
    @typing.overload
    def __eq__(self, other: typing.Any) -> bool: ...
    def __getstate__(self) -> int: ...
    def __hash__(self) -> int: ...
    def __index__(self) -> int: ...
    def __init__(self, value: typing.SupportsInt | typing.SupportsIndex) -> None: ...
    def __int__(self) -> int: ...
    @typing.overload
    def __ne__(self, other: OrderKind) -> bool: ...
    @typing.overload
    def __ne__(self, other: typing.Any) -> bool: ...
    def __repr__(self) -> str: ...
    def __setstate__(self, state: typing.SupportsInt | typing.SupportsIndex) -> None: ...
    def __str__(self) -> str: ...
    @property
    def name(self) -> str: ...
    @property
    def value(self) -> int: ...

class RetrySchedule:
    """
    Native retry schedule; use montalaq.retry.RetryPolicy.
    """
    def __init__(
        self,
        max_attempts: typing.SupportsInt | typing.SupportsIndex,
        base_s: typing.SupportsFloat | typing.SupportsIndex,
        jitter: typing.SupportsFloat | typing.SupportsIndex,
        max_delay_s: typing.SupportsFloat | typing.SupportsIndex,
        seed: typing.SupportsInt | typing.SupportsIndex | None,
    ) -> None: ...
    def delay_s(self, attempt: typing.SupportsInt | typing.SupportsIndex) -> float:
        """
        Seconds to wait after attempt `attempt` (1-based) failed; draws the jitter.
        """
    def delays(self) -> list[float]:
        """
        The waits between the attempts of one call (max_attempts - 1 values); reproducible with a seed.
        """
    def nominal_s(self, attempt: typing.SupportsInt | typing.SupportsIndex) -> float:
        """
        min(max_delay, base * 2^(attempt-1)), before jitter.
        """

def canonical_error_type(error_type: str) -> str:
    """
    The canonical (upper-case) form of an error type name; ValueError if empty, longer than 64 characters or outside [A-Za-z0-9_.:-].
    """

def check_dedupe_key(key: str) -> str:
    """
    `key` if DedupeCache would take it as a key; TypeError or ValueError as it would raise.
    """

def dedupe_now_ns(now_s: float | None) -> int | None:
    """
    The deprecated now_s as DedupeCache takes it, in ns (None stays None: the backend's clock).
    """

def dedupe_time_ns(now: typing.Any) -> int | None:
    """
    now as DedupeCache takes it, in ns (None stays None: the backend's clock).
    """

def dedupe_ttl_ns(ttl_s: float) -> int:
    """
    ttl_s as DedupeCache takes it, in ns.
    """

def is_tick_multiple(
    price: typing.SupportsFloat | typing.SupportsIndex, tick_size: typing.SupportsFloat | typing.SupportsIndex
) -> bool:
    """
    Whether price is a whole number of ticks (relative tolerance 1e-9, at most 1e-3 tick).
    """

def validate_trading_decision(
    symbol: str,
    side: str,
    quantity: typing.SupportsFloat | typing.SupportsIndex,
    price: typing.SupportsFloat | typing.SupportsIndex,
    tick_size: typing.SupportsFloat | typing.SupportsIndex,
    allowed_symbols: collections.abc.Set[str],
    entry_filled: bool,
    position_qty: typing.SupportsFloat | typing.SupportsIndex,
    kind: OrderKind,
) -> SafetyReason:
    """
    OK or the first failing reason; ValueError for a bad tick_size or position_qty. Use montalaq.safety.validate_trading_decision.
    """
