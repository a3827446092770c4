"""The records montalaq stores and serves: analyses and findings (docs/semantics.md, Agents;
docs/semantics.md, Persistence).

Plain dataclasses, validated on construction, with ``to_dict()`` giving the JSON shape the
API serves (aware UTC times as ISO-8601 ``Z`` strings, undefined numbers as ``None``).
Times are accepted as anything :func:`montalaq._time.to_ns` accepts (int ns, aware
datetimes, numpy/pandas timestamps) and kept as aware UTC datetimes (microseconds).
"""

from __future__ import annotations

import enum
import math
import numbers
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any, TypeVar

from montalaq._time import datetime_utc, iso_z, to_ns
from montalaq.shapes import AnalysisDoc, FindingDoc
from montalaq.timeframes import parse_timeframe, timeframe_label

_E = TypeVar("_E", bound=enum.Enum)


class AnalysisStatus(enum.Enum):
    """Where an analysis is in its life."""

    PENDING = "PENDING"
    RUNNING = "RUNNING"
    COMPLETE = "COMPLETE"
    FAILED = "FAILED"


class Decision(enum.Enum):
    """An analysis' final decision."""

    BUY = "BUY"
    SELL = "SELL"
    HOLD = "HOLD"


def as_utc(value: Any, name: str) -> datetime:
    """``value`` (int ns, aware datetime, numpy/pandas timestamp) as an aware UTC datetime."""
    if isinstance(value, datetime) and value.tzinfo is not None:
        return value.astimezone(UTC)
    return datetime_utc(to_ns(value, name))


def _symbol(value: object, name: str = "symbol") -> str:
    if not isinstance(value, str) or not value.strip() or len(value) > 64:
        raise ValueError(f"{name}: expected a non-empty string of at most 64 characters, got {value!r}")
    return value.strip()


def _enum(cls: type[_E], value: object, name: str) -> _E:
    try:
        return cls(value)
    except ValueError:
        raise ValueError(f"{name}: expected one of {[m.value for m in cls]}, got {value!r}") from None


def _score(value: object, name: str, lo: float | None = None, hi: float | None = None) -> float | None:
    if value is None:
        return None
    # numbers.Real: numpy scalars (float32, int64) too, not only Python int/float.
    if isinstance(value, bool) or not isinstance(value, numbers.Real):
        raise TypeError(f"{name}: expected a number or None, got {type(value).__name__}")
    v = float(value)
    if not math.isfinite(v):
        raise ValueError(f"{name}: expected a finite number, got {value!r}")
    if (lo is not None and v < lo) or (hi is not None and v > hi):
        raise ValueError(f"{name}: expected a number in [{lo}, {hi}], got {value!r}")
    return v


def _opt_time(value: Any, name: str) -> datetime | None:
    return None if value is None else as_utc(value, name)


@dataclass
class Analysis:
    """One analysis of (symbol, timeframe, closed bar). ``bar_ts`` is the bar's open time.

    Scores are 0-100 (``ml_confidence`` may be None); ``stop_loss``/``take_profit`` are
    prices. ``error_code``/``error_message`` are set when ``status`` is FAILED.
    """

    symbol: str
    timeframe: str
    bar_ts: datetime
    status: AnalysisStatus = AnalysisStatus.PENDING
    final_decision: Decision | None = None
    rule_confidence_score: float | None = None
    ml_confidence: float | None = None
    composite_score: float | None = None
    stop_loss: float | None = None
    take_profit: float | None = None
    close: float | None = None
    error_code: str | None = None
    error_message: str | None = None
    top_features: dict[str, float] | None = None
    correlation_id: str | None = None
    created_at: datetime | None = None
    updated_at: datetime | None = None

    def __post_init__(self) -> None:
        self.symbol = _symbol(self.symbol)
        if not isinstance(self.timeframe, str):
            raise TypeError(f"timeframe: expected a string such as '1m', got {type(self.timeframe).__name__}")
        self.timeframe = timeframe_label(parse_timeframe(self.timeframe))
        self.bar_ts = as_utc(self.bar_ts, "bar_ts")
        self.status = _enum(AnalysisStatus, self.status, "status")
        if self.final_decision is not None:
            self.final_decision = _enum(Decision, self.final_decision, "final_decision")
        self.rule_confidence_score = _score(self.rule_confidence_score, "rule_confidence_score", 0, 100)
        self.ml_confidence = _score(self.ml_confidence, "ml_confidence", 0, 100)
        self.composite_score = _score(self.composite_score, "composite_score", 0, 100)
        self.stop_loss = _score(self.stop_loss, "stop_loss")
        self.take_profit = _score(self.take_profit, "take_profit")
        self.close = _score(self.close, "close")
        self.created_at = _opt_time(self.created_at, "created_at")
        self.updated_at = _opt_time(self.updated_at, "updated_at")
        if self.top_features is not None:
            features: dict[str, float] = {}
            for k, v in dict(self.top_features).items():
                value = _score(v, f"top_features[{k!r}]")
                if value is None:
                    raise TypeError(f"top_features[{k!r}]: expected a finite number, got None")
                features[str(k)] = value
            self.top_features = features

    def to_dict(self) -> AnalysisDoc:
        """The API's JSON shape."""
        return {
            "symbol": self.symbol,
            "timeframe": self.timeframe,
            "bar_ts": iso_z(self.bar_ts),
            "status": self.status.value,
            "final_decision": None if self.final_decision is None else self.final_decision.value,
            "rule_confidence_score": self.rule_confidence_score,
            "ml_confidence": self.ml_confidence,
            "composite_score": self.composite_score,
            "stop_loss": self.stop_loss,
            "take_profit": self.take_profit,
            "close": self.close,
            "error_code": self.error_code,
            "error_message": self.error_message,
            "top_features": self.top_features,
            "correlation_id": self.correlation_id,
            "created_at": None if self.created_at is None else iso_z(self.created_at),
            "updated_at": None if self.updated_at is None else iso_z(self.updated_at),
        }


@dataclass
class Finding:
    """One agent finding: ``{ts_utc, agent, symbol, score, label, details}`` (docs/semantics.md, Agents).

    ``id`` is assigned by the store (None until written, and while buffered in memory).
    """

    ts_utc: datetime
    agent: str
    symbol: str
    score: float
    label: str = ""
    details: dict[str, Any] = field(default_factory=dict)
    correlation_id: str | None = None
    id: int | None = None

    def __post_init__(self) -> None:
        self.ts_utc = as_utc(self.ts_utc, "ts_utc")
        self.agent = _symbol(self.agent, "agent")
        self.symbol = _symbol(self.symbol)
        score = _score(self.score, "score")
        if score is None:
            raise TypeError("score: expected a finite number, got None")
        self.score = score
        if not isinstance(self.label, str):
            raise TypeError(f"label: expected a string, got {type(self.label).__name__}")
        if not isinstance(self.details, dict):
            raise TypeError(f"details: expected a dict, got {type(self.details).__name__}")

    def to_dict(self) -> FindingDoc:
        """The API's JSON shape."""
        return {
            "id": self.id,
            "ts_utc": iso_z(self.ts_utc),
            "agent": self.agent,
            "symbol": self.symbol,
            "score": self.score,
            "label": self.label,
            "details": self.details,
            "correlation_id": self.correlation_id,
        }


__all__ = ["Analysis", "AnalysisStatus", "Decision", "Finding", "as_utc"]
