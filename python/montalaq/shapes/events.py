"""The escalation board's records: its events, its pair rows, the operator's breaker close and
the pairs' ingestion status (docs/semantics.md, "Health core", "HTTP API")."""

from datetime import datetime
from typing import Literal

from typing_extensions import TypedDict

from montalaq.shapes.common import FreshnessName, LevelName, PairFreshnessName

EventKind = Literal["level", "breaker_open", "breaker_close"]


class EventDoc(TypedDict):
    """An escalation event as JSON carries it between processes (Celery's pending events,
    the notification's fields): ``at_ns`` only."""

    kind: EventKind
    symbol: str
    timeframe: str
    old: str  # a level (INFO..CRITICAL) for "level", CLOSED/OPEN for the breaker's events
    new: str
    reason: str
    at_ns: int
    last_error_code: str | None


class EscalationEvent(EventDoc):
    """One escalation event of a board cycle (``EscalationBoard.evaluate``, ``close_breaker``)."""

    at: datetime  # aware UTC, the same instant as at_ns


class BoardRow(TypedDict):
    """One pair of the board as ``EscalationBoard.pair``/``pairs`` give it: the native row
    (times in int ns, None before the first) and the same times as aware UTC datetimes."""

    symbol: str
    tf_ns: int
    timeframe: str
    freshness: FreshnessName
    escalation_level: LevelName
    breaker_open: bool
    amber_streak: int
    red_streak: int
    error_streak: int
    clean_green_streak: int
    fails_5m: int  # failures recorded in the last fail window
    last_tick_ns: int | None
    last_eval_ns: int | None
    last_error_code: str | None
    breaker_changed_ns: int | None
    breaker_reason: str | None
    calendar: str  # the pair's market calendar ("24/7" for none)
    last_tick: datetime | None
    last_eval: datetime | None
    breaker_changed_at: datetime | None


class BreakerOutcome(TypedDict):
    """What an operator close of a pair's breaker did: ``closed`` is false when it was not open."""

    symbol: str
    timeframe: str
    closed: bool
    breaker_open: bool


class BreakerClose(BreakerOutcome):
    """``POST /api/breakers/{symbol}/{tf}/close``: ``closed`` is false when it was not open."""

    event: EscalationEvent | None


class BreakerCloseDoc(BreakerOutcome):
    """The Celery close of a pair's breaker (``MontalaqCelery.close_breaker``): the event as
    JSON carries it."""

    event: EventDoc | None


class PairStatus(TypedDict):
    """One (symbol, timeframe) of ``GET /api/ingestion/status``."""

    symbol: str
    timeframe: str
    provider: str | None
    freshness: PairFreshnessName  # UNKNOWN: never evaluated by this process
    escalation_level: LevelName
    breaker_open: bool
    last_tick: datetime | None
    last_eval: datetime | None
    last_error_code: str | None
    last_signal_bar_ts: datetime | None
    last_notify_at: datetime | None
    amber_streak: int
    red_streak: int
    error_streak: int
    fails_5m: int
    breaker_changed_at: datetime | None
    breaker_reason: str | None
    calendar: str  # the pair's market calendar (docs/semantics.md, "Market calendars")


class ProviderSummary(TypedDict):
    """Pairs of one provider by freshness, and its open breakers."""

    pairs: int
    green: int
    amber: int
    red: int
    closed: int  # outside their market's session
    unknown: int  # never evaluated by this process
    breakers_open: int


class IngestionStatus(TypedDict):
    """``GET /api/ingestion/status``."""

    pairs: list[PairStatus]
    providers_summary: dict[str, ProviderSummary]


class IngestionRow(TypedDict):
    """An ``ingestion_status`` row as the store reads it back (``Store.ingestion_status``)."""

    symbol: str
    timeframe: str
    provider: str | None
    freshness: str | None
    last_tick_at: datetime | None
    escalation_level: str | None
    breaker_open: bool
    last_error_code: str | None
    last_signal_bar_ts: datetime | None
    last_notify_at: datetime | None
    updated_at: datetime


__all__ = [
    "BoardRow",
    "BreakerClose",
    "BreakerCloseDoc",
    "BreakerOutcome",
    "EscalationEvent",
    "EventDoc",
    "EventKind",
    "IngestionRow",
    "IngestionStatus",
    "PairStatus",
    "ProviderSummary",
]
