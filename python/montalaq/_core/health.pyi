"""
Freshness, escalation, breakers, operational state
"""

from __future__ import annotations

import collections.abc
import typing

import numpy
import numpy.typing

import montalaq.shapes

__all__: list[str] = [
    "BreakerMode",
    "BreakerState",
    "CircuitBreaker",
    "Colour",
    "EscalationBoard",
    "Freshness",
    "InvalidTransitionError",
    "Level",
    "OpState",
    "OperationalState",
    "allowed_transition",
]

class Colour:
    """
    Freshness colour of a (symbol, timeframe); CLOSED outside its market calendar's sessions.

    Members:

      GREEN

      AMBER

      RED

      CLOSED
    """

    AMBER: typing.ClassVar[Colour]
    CLOSED: typing.ClassVar[Colour]
    GREEN: typing.ClassVar[Colour]
    RED: typing.ClassVar[Colour]
    __members__: typing.ClassVar[dict[str, Colour]]
    @typing.overload
    def __eq__(self, other: Colour) -> bool: ...
    @typing.overload
    def __eq__(self, other: typing.Any) -> bool: ...
    def __getstate__(self) -> int: ...
    def __hash__(self) -> int: ...
    def __index__(self) -> int: ...
    def __init__(self, value: typing.SupportsInt | typing.SupportsIndex) -> None: ...
    def __int__(self) -> int: ...
    @typing.overload
    def __ne__(self, other: Colour) -> bool: ...
    @typing.overload
    def __ne__(self, other: typing.Any) -> bool: ...
    def __repr__(self) -> str: ...
    def __setstate__(self, state: typing.SupportsInt | typing.SupportsIndex) -> None: ...
    def __str__(self) -> str: ...
    @property
    def name(self) -> str: ...
    @property
    def value(self) -> int: ...

class Freshness:
    """
    Freshness thresholds per timeframe (docs/semantics.md, Health core: freshness).
    """
    def __init__(
        self,
        amber_mult: typing.SupportsFloat | typing.SupportsIndex = 1.5,
        red_mult: typing.SupportsFloat | typing.SupportsIndex = 3.0,
    ) -> None: ...
    def classify(
        self,
        tf_ns: typing.SupportsInt | typing.SupportsIndex,
        now_ns: typing.Any,
        last_tick_ns: typing.SupportsInt | typing.SupportsIndex,
    ) -> Colour:
        """
        Colour for a last trade time (<= 0: never received, RED).
        """
    def set_override(
        self,
        tf_ns: typing.SupportsInt | typing.SupportsIndex,
        amber_after_ns: typing.SupportsInt | typing.SupportsIndex,
        red_after_ns: typing.SupportsInt | typing.SupportsIndex,
    ) -> None: ...
    def thresholds(self, tf_ns: typing.SupportsInt | typing.SupportsIndex) -> tuple[int, int]:
        """
        (amber_after_ns, red_after_ns) for a timeframe.
        """
    @property
    def amber_mult(self) -> float: ...
    @property
    def red_mult(self) -> float: ...

class Level:
    """
    Escalation level, ordered INFO < WARN < ERROR < CRITICAL.

    Members:

      INFO

      WARN

      ERROR

      CRITICAL
    """

    CRITICAL: typing.ClassVar[Level]
    ERROR: typing.ClassVar[Level]
    INFO: typing.ClassVar[Level]
    WARN: typing.ClassVar[Level]
    __members__: typing.ClassVar[dict[str, Level]]
    @typing.overload
    def __eq__(self, other: Level) -> bool: ...
    @typing.overload
    def __eq__(self, other: typing.Any) -> bool: ...
    @typing.overload
    def __ge__(self, other: Level) -> bool: ...
    @typing.overload
    def __ge__(self, other: typing.Any) -> None: ...
    def __getstate__(self) -> int: ...
    @typing.overload
    def __gt__(self, other: Level) -> bool: ...
    @typing.overload
    def __gt__(self, other: typing.Any) -> None: ...
    def __hash__(self) -> int: ...
    def __index__(self) -> int: ...
    def __init__(self, value: typing.SupportsInt | typing.SupportsIndex) -> None: ...
    def __int__(self) -> int: ...
    @typing.overload
    def __le__(self, other: Level) -> bool: ...
    @typing.overload
    def __le__(self, other: typing.Any) -> None: ...
    @typing.overload
    def __lt__(self, other: Level) -> bool: ...
    @typing.overload
    def __lt__(self, other: typing.Any) -> None: ...
    @typing.overload
    def __ne__(self, other: Level) -> bool: ...
    @typing.overload
    def __ne__(self, other: typing.Any) -> bool: ...
    def __repr__(self) -> str: ...
    def __setstate__(self, state: typing.SupportsInt | typing.SupportsIndex) -> None: ...
    def __str__(self) -> str: ...
    @property
    def name(self) -> str: ...
    @property
    def value(self) -> int: ...

class EscalationBoard:
    """
    Native escalation board; use montalaq.health.EscalationBoard.
    """
    def __init__(
        self,
        freshness: Freshness,
        auto_close_cycles: typing.SupportsInt | typing.SupportsIndex,
        critical_red_streak: typing.SupportsInt | typing.SupportsIndex,
        error_fails: typing.SupportsInt | typing.SupportsIndex,
        warn_amber_streak: typing.SupportsInt | typing.SupportsIndex,
        warn_fails: typing.SupportsInt | typing.SupportsIndex,
        breaker_red_streak: typing.SupportsInt | typing.SupportsIndex,
        breaker_error_streak: typing.SupportsInt | typing.SupportsIndex,
        fail_window_ns: typing.SupportsInt | typing.SupportsIndex,
        max_failures_kept: typing.SupportsInt | typing.SupportsIndex,
    ) -> None: ...
    def __len__(self) -> int: ...
    def _add_pair(
        self,
        symbol: str,
        tf_ns: typing.SupportsInt | typing.SupportsIndex,
        calendar: typing.SupportsInt | typing.SupportsIndex = 0,
    ) -> int:
        """
        Register a pair if new (an existing pair keeps its calendar); returns its index.
        """
    def _breaker_open(self, pair: typing.SupportsInt | typing.SupportsIndex) -> bool: ...
    def _close_breaker(
        self, pair: typing.SupportsInt | typing.SupportsIndex, now: typing.Any, by: str
    ) -> dict[str, typing.Any] | None: ...
    def _evaluate(
        self, now: typing.Any, ticks: typing.Annotated[numpy.typing.ArrayLike, numpy.int64] | None = None
    ) -> list[dict[str, typing.Any]]:
        """
        One cycle; `ticks` (one int64 per pair, index order) become the pairs' last ticks.
        """
    def _find_calendar(self, name: str) -> int | None: ...
    def _find_pair(self, symbol: str, tf_ns: typing.SupportsInt | typing.SupportsIndex) -> int | None: ...
    def _level(self, pair: typing.SupportsInt | typing.SupportsIndex) -> Level: ...
    def _place_pairs(
        self,
        symbols: collections.abc.Sequence[str],
        symbol_of: typing.Annotated[numpy.typing.ArrayLike, numpy.uint32],
        tf_ns: typing.Annotated[numpy.typing.ArrayLike, numpy.int64],
        calendar: typing.Annotated[numpy.typing.ArrayLike, numpy.uint16],
    ) -> numpy.typing.NDArray[numpy.uint32]:
        """
        Register a watchlist's pairs in one call; returns their indices.
        """
    def _record_failure(
        self, pair: typing.SupportsInt | typing.SupportsIndex, at_ns: typing.Any, error_code: str
    ) -> None: ...
    def _row(
        self, pair: typing.SupportsInt | typing.SupportsIndex, now: typing.Any
    ) -> dict[str, typing.Any]: ...
    def _rows(self, now: typing.Any) -> list[dict[str, typing.Any]]: ...
    def _set_auto_close_cycles(self, cycles: typing.SupportsInt | typing.SupportsIndex) -> None:
        """
        Take a new auto_close_cycles and keep every pair's state.
        """
    def _set_calendar(
        self,
        name: str,
        opens_ns: typing.Annotated[numpy.typing.ArrayLike, numpy.int64],
        closes_ns: typing.Annotated[numpy.typing.ArrayLike, numpy.int64],
    ) -> int:
        """
        Register (or replace) a calendar's sessions [open, close); returns its index (0 is '24/7').
        """
    def _set_last_ticks(
        self,
        pairs: typing.Annotated[numpy.typing.ArrayLike, numpy.uint32],
        ts_ns: typing.Annotated[numpy.typing.ArrayLike, numpy.int64],
    ) -> None: ...
    def _set_pair_calendar(
        self,
        pair: typing.SupportsInt | typing.SupportsIndex,
        calendar: typing.SupportsInt | typing.SupportsIndex,
    ) -> None: ...
    def config(self) -> dict[str, typing.Any]:
        """
        Thresholds and freshness settings.
        """
    def load_bytes(self, data: bytes) -> None:
        """
        Replace this board's state with a snapshot from to_bytes(); on any error (ValueError) the board is unchanged.
        """
    def load_json(self, text: str) -> None:
        """
        Replace this board's state with a document from to_json(); on any error (ValueError) the board is unchanged.
        """
    def to_bytes(self) -> bytes:
        """
        The whole board as a binary snapshot (docs/semantics.md, "Binary snapshots"); GIL released.
        """
    def to_json(self) -> str:
        """
        The whole board (config, freshness, every pair) as a JSON string.
        """

class BreakerState:
    """
    Circuit breaker state.

    Members:

      CLOSED

      OPEN

      HALF_OPEN

      FORCED_OPEN

      DISABLED
    """

    CLOSED: typing.ClassVar[BreakerState]
    DISABLED: typing.ClassVar[BreakerState]
    FORCED_OPEN: typing.ClassVar[BreakerState]
    HALF_OPEN: typing.ClassVar[BreakerState]
    OPEN: typing.ClassVar[BreakerState]
    __members__: typing.ClassVar[dict[str, BreakerState]]
    @typing.overload
    def __eq__(self, other: BreakerState) -> bool: ...
    @typing.overload
    def __eq__(self, other: typing.Any) -> bool: ...
    def __getstate__(self) -> int: ...
    def __hash__(self) -> int: ...
    def __index__(self) -> int: ...
    def __init__(self, value: typing.SupportsInt | typing.SupportsIndex) -> None: ...
    def __int__(self) -> int: ...
    @typing.overload
    def __ne__(self, other: BreakerState) -> bool: ...
    @typing.overload
    def __ne__(self, other: typing.Any) -> bool: ...
    def __repr__(self) -> str: ...
    def __setstate__(self, state: typing.SupportsInt | typing.SupportsIndex) -> None: ...
    def __str__(self) -> str: ...
    @property
    def name(self) -> str: ...
    @property
    def value(self) -> int: ...

class BreakerMode:
    """
    How a circuit breaker decides to open.

    Members:

      COUNT

      RATE
    """

    COUNT: typing.ClassVar[BreakerMode]
    RATE: typing.ClassVar[BreakerMode]
    __members__: typing.ClassVar[dict[str, BreakerMode]]
    @typing.overload
    def __eq__(self, other: BreakerMode) -> bool: ...
    @typing.overload
    def __eq__(self, other: typing.Any) -> bool: ...
    def __getstate__(self) -> int: ...
    def __hash__(self) -> int: ...
    def __index__(self) -> int: ...
    def __init__(self, value: typing.SupportsInt | typing.SupportsIndex) -> None: ...
    def __int__(self) -> int: ...
    @typing.overload
    def __ne__(self, other: BreakerMode) -> bool: ...
    @typing.overload
    def __ne__(self, other: typing.Any) -> bool: ...
    def __repr__(self) -> str: ...
    def __setstate__(self, state: typing.SupportsInt | typing.SupportsIndex) -> None: ...
    def __str__(self) -> str: ...
    @property
    def name(self) -> str: ...
    @property
    def value(self) -> int: ...

class CircuitBreaker:
    """
    Native circuit breaker; use montalaq.health.CircuitBreaker.
    """
    def __enter__(self) -> typing.Self:
        """
        Enter a guarded block (raises the open error when rejected).
        """
    def __exit__(self, exc_type: typing.Any, exc: typing.Any, tb: typing.Any) -> bool:
        """
        Record the block's outcome; never swallows the exception.
        """
    def __init__(
        self,
        mode: BreakerMode,
        failure_threshold: typing.SupportsInt | typing.SupportsIndex,
        window_ns: typing.SupportsInt | typing.SupportsIndex,
        failure_rate_pct: typing.SupportsFloat | typing.SupportsIndex,
        rate_window_calls: typing.SupportsInt | typing.SupportsIndex,
        min_calls: typing.SupportsInt | typing.SupportsIndex,
        cooldown_ns: typing.SupportsInt | typing.SupportsIndex,
        half_open_calls: typing.SupportsInt | typing.SupportsIndex,
        half_open_max_wait_ns: typing.SupportsInt | typing.SupportsIndex,
        history_capacity: typing.SupportsInt | typing.SupportsIndex,
    ) -> None: ...
    def _configure(
        self, name: str, open_error: collections.abc.Callable[[str, float | None], typing.Any]
    ) -> None:
        """
        Name, and the exception class raised when open (called as open_error(name, retry_after_s)).
        """
    def allow(self, now: typing.Any = None, *, now_ns: typing.Any = ...) -> bool:
        """
        May a call go ahead at `now` (None: the wall clock)? In HALF_OPEN this takes a probe permit. now_ns is deprecated.
        """
    def call(
        self, fn: collections.abc.Callable[..., typing.Any], *args: typing.Any, **kwargs: typing.Any
    ) -> typing.Any:
        """
        fn(*args, **kwargs) through the breaker; raises the open error when rejected.
        """
    def counts(self, now: typing.Any = None, *, now_ns: typing.Any = ...) -> montalaq.shapes.BreakerCounts:
        """
        Calls allowed/rejected, successes/failures, and what counts towards opening at `now`.
        """
    def disable(
        self, now: typing.Any = None, reason: str = "operator", *, now_ns: typing.Any = ...
    ) -> None: ...
    def force_open(
        self, now: typing.Any = None, reason: str = "operator", *, now_ns: typing.Any = ...
    ) -> None: ...
    def history(self) -> list[montalaq.shapes.Transition]:
        """
        Transitions, oldest first (bounded).
        """
    def load_json(self, text: str) -> None: ...
    def record_failure(self, now: typing.Any = None, *, now_ns: typing.Any = ...) -> None:
        """
        The guarded call failed. now_ns is deprecated.
        """
    def record_success(self, now: typing.Any = None, *, now_ns: typing.Any = ...) -> None:
        """
        The guarded call succeeded. now_ns is deprecated.
        """
    def reset(
        self, now: typing.Any = None, reason: str = "operator", *, now_ns: typing.Any = ...
    ) -> None: ...
    def retry_after_ns(self, now: typing.Any = None, *, now_ns: typing.Any = ...) -> int | None:
        """
        While OPEN: ns from `now` until HALF_OPEN; otherwise None.
        """
    def state(self, now: typing.Any = None, *, now_ns: typing.Any = ...) -> BreakerState:
        """
        State at `now` (OPEN turns HALF_OPEN once the cooldown is over).
        """
    def to_json(self) -> str: ...

class OpState:
    """
    Operational state of the process (docs/semantics.md, Health core: operational state).

    Members:

      STARTING

      ACTIVE

      WAITING

      ERROR

      SHUTDOWN
    """

    ACTIVE: typing.ClassVar[OpState]
    ERROR: typing.ClassVar[OpState]
    SHUTDOWN: typing.ClassVar[OpState]
    STARTING: typing.ClassVar[OpState]
    WAITING: typing.ClassVar[OpState]
    __members__: typing.ClassVar[dict[str, OpState]]
    @typing.overload
    def __eq__(self, other: OpState) -> bool: ...
    @typing.overload
    def __eq__(self, other: typing.Any) -> bool: ...
    def __getstate__(self) -> int: ...
    def __hash__(self) -> int: ...
    def __index__(self) -> int: ...
    def __init__(self, value: typing.SupportsInt | typing.SupportsIndex) -> None: ...
    def __int__(self) -> int: ...
    @typing.overload
    def __ne__(self, other: OpState) -> bool: ...
    @typing.overload
    def __ne__(self, other: typing.Any) -> bool: ...
    def __repr__(self) -> str: ...
    def __setstate__(self, state: typing.SupportsInt | typing.SupportsIndex) -> None: ...
    def __str__(self) -> str: ...
    @property
    def name(self) -> str: ...
    @property
    def value(self) -> int: ...

class InvalidTransitionError(ValueError):
    pass

class OperationalState:
    """
    Native operational state machine; use montalaq.health.
    """
    def __init__(self, now: typing.Any = None, reason: str = "created") -> None: ...
    def history(self) -> list[montalaq.shapes.Transition]: ...
    def load_json(self, text: str) -> None: ...
    def to_json(self) -> str: ...
    def transition(
        self, to: OpState, now: typing.Any = None, reason: str = "", *, now_ns: typing.Any = ...
    ) -> bool:
        """
        Move to `to`; InvalidTransitionError (a ValueError) if the state machine does not allow it. SHUTDOWN -> SHUTDOWN is ignored and returns False.
        """
    @property
    def entered_at_ns(self) -> int: ...
    @property
    def reason(self) -> str: ...
    @property
    def state(self) -> OpState: ...

def allowed_transition(from_state: OpState, to_state: OpState) -> bool:
    """
    Whether the state machine (docs/semantics.md, Health core: operational state) allows from_state -> to_state.
    """
