"""The store's argument checks (limits, timeframes, times) and its rows read back as records."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from montalaq.records import Analysis, AnalysisStatus, Decision, Finding, as_utc
from montalaq.timeframes import parse_timeframe, timeframe_label

MAX_LIMIT = 10_000


def _limit(limit: object) -> int:
    if isinstance(limit, bool) or not isinstance(limit, int) or not 1 <= limit <= MAX_LIMIT:
        raise ValueError(f"limit: expected an integer in [1, {MAX_LIMIT}], got {limit!r}")
    return limit


def _tf(timeframe: object) -> str:
    if not isinstance(timeframe, str):
        raise TypeError(f"timeframe: expected a string such as '1m', got {type(timeframe).__name__}")
    return timeframe_label(parse_timeframe(timeframe))


def _now(now: Any) -> datetime:
    return datetime.now(UTC) if now is None else as_utc(now, "now")


def _analysis(r: Any) -> Analysis:
    m = r._mapping
    return Analysis(
        symbol=m["symbol"],
        timeframe=m["timeframe"],
        bar_ts=m["bar_ts"],
        status=AnalysisStatus(m["status"]),
        final_decision=None if m["final_decision"] is None else Decision(m["final_decision"]),
        rule_confidence_score=m["rule_confidence_score"],
        ml_confidence=m["ml_confidence"],
        composite_score=m["composite_score"],
        stop_loss=m["stop_loss"],
        take_profit=m["take_profit"],
        close=m["close"],
        error_code=m["error_code"],
        error_message=m["error_message"],
        top_features=m["top_features"],
        correlation_id=m["correlation_id"],
        created_at=m["created_at"],
        updated_at=m["updated_at"],
    )


def _finding(r: Any) -> Finding:
    m = r._mapping
    return Finding(
        id=m["id"],
        ts_utc=m["ts_utc"],
        agent=m["agent"],
        symbol=m["symbol"],
        score=m["score"],
        label=m["label"],
        details=m["details"] or {},
        correlation_id=m["correlation_id"],
    )
