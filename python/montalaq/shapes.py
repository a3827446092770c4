"""The shapes of the records montalaq hands out as dicts, defined once: the native core's
results, the API's models (which use these types) and the Celery rows all name them here.
docs/semantics.md, "Health core", says what each field means.

``typing_extensions.TypedDict`` because pydantic (the API's models) needs it before Python 3.12.
"""

from __future__ import annotations

from datetime import datetime
from typing import Literal

from typing_extensions import TypedDict

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


__all__ = ["EscalationEvent", "EventDoc", "EventKind"]
