"""The stored records as JSON: analyses, findings, positions, and a benchmark's result
(docs/semantics.md, "Agents")."""

from datetime import datetime
from typing import Any, Literal

from typing_extensions import TypedDict

from montalaq.shapes.common import IsoTime


class AnalysisDoc(TypedDict):
    """One analysis (docs/semantics.md, Agents); scores 0-100, prices in the symbol's currency."""

    symbol: str
    timeframe: str
    bar_ts: IsoTime
    status: Literal["PENDING", "RUNNING", "COMPLETE", "FAILED"]
    final_decision: Literal["BUY", "SELL", "HOLD"] | None
    rule_confidence_score: float | None
    ml_confidence: float | None
    composite_score: float | None
    stop_loss: float | None
    take_profit: float | None
    close: float | None
    error_code: str | None
    error_message: str | None
    top_features: dict[str, float] | None
    correlation_id: str | None
    created_at: IsoTime | None
    updated_at: IsoTime | None


class FindingDoc(TypedDict):
    """One agent finding (docs/semantics.md, Agents); ``id`` is null while it is buffered in memory."""

    id: int | None
    ts_utc: IsoTime
    agent: str
    symbol: str
    score: float
    label: str
    details: dict[str, Any]  # the agent's own values
    correlation_id: str | None


class PositionRow(TypedDict):
    """A ``position_state`` row (``Store.positions``), as trend_score's posture keeps it."""

    symbol: str
    status: str
    qty: float
    avg_price: float | None
    updated_at: datetime
    last_action: str | None
    last_conf: float | None


class BenchResultDoc(TypedDict):
    """One benchmark's result (``montalaq.bench.Result.to_dict``): ``ratio`` is how many
    times faster montalaq is than the peer (None without a peer)."""

    name: str
    unit: str
    montalaq: float
    peer: str | None
    peer_value: float | None
    ratio: float | None
    note: str


__all__ = ["AnalysisDoc", "BenchResultDoc", "FindingDoc", "PositionRow"]
