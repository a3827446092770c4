"""Response shapes of the HTTP API, for the OpenAPI schema (docs/semantics.md, Agents; docs/semantics.md,
HTTP API).

These pydantic models *document* the bodies; the endpoints serialise with
:mod:`montalaq.api.responses` and return bytes, so they are never validated per request.
The schema tests (schemathesis) check every answer against them. Times are ISO-8601 UTC
strings with ``Z``; a field typed ``float | None`` is ``null`` where the value is
undefined, never NaN.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

from montalaq.shapes import EscalationEvent

# CLOSED: outside the pair's market session; UNKNOWN: never evaluated by this process.
Freshness = Literal["GREEN", "AMBER", "RED", "CLOSED", "UNKNOWN"]
Level = Literal["INFO", "WARN", "ERROR", "CRITICAL"]


class ErrorDetail(BaseModel):
    """Every error answer: ``detail`` names the parameter and what is accepted."""

    detail: str


class AgentHealth(BaseModel):
    """An agent in ``/health``."""

    status: str = Field(description="never_run, ok or error")
    last_run: datetime | None


class ReplayInfo(BaseModel):
    """What the service replays instead of a live feed: the file or sample, its speed
    (virtual seconds per wall second), and whether it loops."""

    source: str
    speed: float
    loop: bool
    shifted_to_today: bool


class SchedulerInfo(BaseModel):
    """Whether this process runs the scheduler and has market data of its own; ``reason``
    (only without market data) says why the pairs are UNKNOWN and where to look."""

    running: bool
    market_data: bool
    reason: str | None


class Health(BaseModel):
    """``GET /health`` (readiness: 200 only while ``state`` is ACTIVE, else 503 with the
    same body). ``status`` is "ok" when ACTIVE, else the state in lower case."""

    status: Literal["ok", "starting", "waiting", "error", "shutdown"]
    state: Literal["STARTING", "ACTIVE", "WAITING", "ERROR", "SHUTDOWN"]
    reason: str
    symbols: list[str]
    trades_cached: dict[str, int]
    agents: dict[str, AgentHealth]
    replay: ReplayInfo | None = None
    scheduler: SchedulerInfo | None = None


class Livez(BaseModel):
    """``GET /livez``: the process runs (whatever its operational state)."""

    alive: Literal[True]
    state: str


class AlertItem(BaseModel):
    """One alert line (docs/operations.md, "Alerts")."""

    id: str
    timestamp: datetime
    severity: str
    rule: str
    message: str
    context: dict[str, Any]
    acknowledged: bool


class Alerts(BaseModel):
    """``GET /api/alerts``: firing now, and the newest alert lines (FIRING and RESOLVED)."""

    enabled: bool
    active: list[AlertItem]
    recent: list[AlertItem]


class AlertAck(BaseModel):
    """``POST /api/alerts/{id}/ack``."""

    id: str
    acknowledged: bool


class ErrorTypeSummary(BaseModel):
    """One error type of the error summary (counts over every episode; the rest of the
    newest episode)."""

    error_type: str
    error_message: str
    first_occurrence: datetime
    last_occurrence: datetime
    occurrence_count: int
    last_notification_sent: datetime | None
    notification_count: int
    is_resolved: bool
    resolved_at: datetime | None
    episodes: int
    open_since: datetime | None


class ErrorSummary(BaseModel):
    """``GET /api/errors/summary``."""

    errors: list[ErrorTypeSummary]
    open: int


class HealthSnapshot(BaseModel):
    """``GET /api/health/snapshot`` (docs/operations.md, "Operator views")."""

    state: str
    reason: str
    entered_at: datetime
    failing: dict[str, Any]
    last_decisions: list[dict[str, Any]] | None
    dedup_events_last_60min: int | None
    circuits: dict[str, Any]
    outbox: dict[str, Any]
    alerts_active: int
    monitoring: dict[str, Any] | None
    providers: list[dict[str, Any]] = []  # each streaming feed's numbers (docs/feeds.md)
    llm: dict[str, Any] | None = None  # the LLM analyst's numbers when LLM_ENABLE (docs/llm.md)


class DbHealth(BaseModel):
    """``GET /db-health``: ``error`` (type and message, no secrets) only when not ok."""

    ok: bool
    error: str | None = None


class AgentInfo(BaseModel):
    """A registered agent (``GET /agents``): ``agent`` is its name (the contract's key;
    ``name`` is kept beside it)."""

    agent: str
    name: str
    interval_s: float
    description: str
    status: str = Field(description="never_run, ok or error")
    last_run: datetime | None
    last_error: str | None
    runs: int
    errors: int


class FindingOut(BaseModel):
    """One agent finding (docs/semantics.md, Agents); ``id`` is null while it is buffered in memory."""

    id: int | None
    ts_utc: datetime
    agent: str
    symbol: str
    score: float
    label: str
    details: dict[str, Any]
    correlation_id: str | None


class Agents(BaseModel):
    """``GET /agents``."""

    agents: list[AgentInfo]


class RunResult(BaseModel):
    """One agent of a forced run: its findings, and its error when it raised."""

    agent: str
    findings: int
    error: str | None = None


class RunNowResult(BaseModel):
    """``POST /agents/run-now``: ``ok`` (no agent raised), ``ran`` (the agents), ``results``
    (per agent), and beside them the symbols, whether stored, the findings."""

    ok: bool
    ran: list[str]
    results: list[RunResult]
    agents: list[str]
    symbols: list[str]
    insert: bool
    findings: list[FindingOut]


class Findings(BaseModel):
    """``GET /findings``: newest first."""

    findings: list[FindingOut]


class Signals(BaseModel):
    """``GET /signals`` tile (docs/semantics.md, Agents)."""

    mom1_bps: float | None
    mom5_bps: float | None
    rvol_vs_recent: float | None
    px_vs_vwap_bps: float | None
    best_bid: float | None
    best_ask: float | None
    last_price: float | None
    trades_cached: int


class SignalsTF(BaseModel):
    """``GET /signals_tf`` (docs/semantics.md, Agents); other configured timeframes add ``<feature>_<tf>``
    keys."""

    model_config = ConfigDict(extra="allow")

    mom_bps_1m: float | None
    mom_bps_5m: float | None
    mom_bps_15m: float | None
    px_vs_vwap_bps_1m: float | None
    px_vs_vwap_bps_5m: float | None
    px_vs_vwap_bps_15m: float | None
    rvol_1m: float | None
    rvol_5m: float | None
    rvol_15m: float | None
    atr_1m: float | None
    atr_5m: float | None
    atr_15m: float | None


class FrameFeatures(BaseModel):
    """Latest closed bar of one timeframe and its features."""

    bar_start: datetime
    close: float
    atr: float | None
    mom_bps: float | None
    px_vs_vwap_bps: float | None
    rvol: float | None


class Trend(BaseModel):
    """Trend-score inputs, ``p_up`` and posture (null until defined)."""

    features: dict[str, float] | None
    p_up: float | None
    posture: str | None


class DebugFeatures(BaseModel):
    """``GET /debug/features``: the latest closed bar per timeframe (``bars``), flat
    ``<feature>_<tf>`` keys (``mom_bps_1m``, ``px_vs_vwap_bps_1m``, ``atr_1m``, ``rvol_1m``,
    ... for every configured timeframe), per timeframe (null before its first bar) and the
    trend."""

    model_config = ConfigDict(extra="allow")  # the flat keys depend on TIMEFRAMES

    symbol: str
    bars: dict[str, dict[str, Any] | None]
    timeframes: dict[str, FrameFeatures | None]
    trend: Trend


class AnalysisOut(BaseModel):
    """One analysis (docs/semantics.md, Agents); scores 0-100, prices in the symbol's currency."""

    symbol: str
    timeframe: str
    bar_ts: datetime
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
    created_at: datetime | None
    updated_at: datetime | None


class PairStatus(BaseModel):
    """One (symbol, timeframe) of ``GET /api/ingestion/status``."""

    symbol: str
    timeframe: str
    provider: str | None
    freshness: Freshness
    escalation_level: Level
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
    calendar: str = "24/7"  # the pair's market calendar (docs/semantics.md, "Market calendars")


class ProviderSummary(BaseModel):
    """Pairs of one provider by freshness, and its open breakers."""

    pairs: int
    green: int
    amber: int
    red: int
    closed: int = 0  # outside their market's session
    unknown: int = 0  # never evaluated by this process
    breakers_open: int


class IngestionStatus(BaseModel):
    """``GET /api/ingestion/status``."""

    pairs: list[PairStatus]
    providers_summary: dict[str, ProviderSummary]


class BreakerClose(BaseModel):
    """``POST /api/breakers/{symbol}/{tf}/close``: ``closed`` is false when it was not open."""

    symbol: str
    timeframe: str
    closed: bool
    breaker_open: bool
    event: EscalationEvent | None  # montalaq.shapes: the one definition of an event


class BarOut(BaseModel):
    """A closed bar with its features (null during warm-up)."""

    start: datetime
    open: float
    high: float
    low: float
    close: float
    volume: float
    trades: int
    atr: float | None
    mom_bps: float | None
    px_vs_vwap_bps: float | None
    rvol: float | None


class OpenBarOut(BaseModel):
    """The bar still open."""

    start: datetime
    open: float
    high: float
    low: float
    close: float
    volume: float
    trades: int


class BarsOut(BaseModel):
    """``GET /api/bars``: the newest closed bars, oldest first, and the open bar."""

    symbol: str
    timeframe: str
    bars: list[BarOut]
    open_bar: OpenBarOut | None


__all__ = [
    "AgentHealth",
    "AgentInfo",
    "AnalysisOut",
    "BarOut",
    "BarsOut",
    "BreakerClose",
    "DbHealth",
    "DebugFeatures",
    "ErrorDetail",
    "EscalationEvent",
    "FindingOut",
    "FrameFeatures",
    "Health",
    "IngestionStatus",
    "OpenBarOut",
    "PairStatus",
    "ProviderSummary",
    "RunNowResult",
    "Signals",
    "SignalsTF",
    "Trend",
]
