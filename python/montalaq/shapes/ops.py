"""The operator views' records: readiness, the agents' status, every breaker, the outbox
backlog, the error summary and the health snapshot (docs/operations.md, "Operator views")."""

from datetime import datetime
from typing import Any, Literal, NotRequired

from typing_extensions import TypedDict

from montalaq.shapes.lifecycle import CheckResultDoc
from montalaq.shapes.notify import ErrorEpisodeFields

AgentStatusName = Literal["never_run", "ok", "error"]
OpStateName = Literal["STARTING", "ACTIVE", "WAITING", "ERROR", "SHUTDOWN"]
ReadinessName = Literal["ok", "starting", "waiting", "error", "shutdown"]
"""``/health``'s status: "ok" when ACTIVE, else the state in lower case."""


class AgentHealth(TypedDict):
    """An agent in ``/health``."""

    status: AgentStatusName
    last_run: datetime | None


class AgentStatusDoc(AgentHealth):
    """An agent's run status (``AgentRegistry.status``): its last error and its counts."""

    last_error: str | None
    runs: int
    errors: int


class AgentSpecRow(AgentStatusDoc):
    """A registered agent (``Service.agent_specs``): its declaration and its run status."""

    name: str
    interval_s: float
    description: str


class AgentInfo(AgentSpecRow):
    """A registered agent (``GET /agents``): ``agent`` is its name (the contract's key;
    ``name`` is kept beside it)."""

    agent: str


class ReplayInfo(TypedDict):
    """What the service replays instead of a live feed: the file or sample, its speed
    (virtual seconds per wall second), and whether it loops."""

    source: str
    speed: float
    loop: bool
    shifted_to_today: bool


class SchedulerInfo(TypedDict):
    """Whether this process runs the scheduler and has market data of its own; ``reason``
    (only without market data) says why the pairs are UNKNOWN and where to look."""

    running: bool
    market_data: bool
    reason: str | None


class Health(TypedDict):
    """``GET /health`` (readiness: 200 only while ``state`` is ACTIVE, else 503 with the
    same body). ``status`` is "ok" when ACTIVE, else the state in lower case."""

    status: ReadinessName
    state: OpStateName
    reason: str
    symbols: list[str]
    trades_cached: dict[str, int]
    agents: dict[str, AgentHealth]
    replay: ReplayInfo | None
    scheduler: SchedulerInfo


class BreakerCounts(TypedDict):
    """A circuit breaker's counts (``CircuitBreaker.counts``): calls allowed and rejected,
    their successes and failures, and what counts towards opening now (its window)."""

    allowed: int
    rejected: int
    successes: int
    failures: int
    window_failures: int
    window_calls: int


class PairCircuit(TypedDict):
    """A pair's breaker in the health snapshot."""

    symbol: str
    timeframe: str
    state: Literal["OPEN", "CLOSED"]
    reason: str | None
    changed_at: datetime | None


class ChannelCircuit(TypedDict):
    """A channel's breaker in the health snapshot (``counts`` null when unreadable)."""

    channel: str
    state: str  # CLOSED, OPEN, HALF_OPEN, FORCED_OPEN or DISABLED
    counts: BreakerCounts | None


class Circuits(TypedDict):
    """Every breaker with its state (``montalaq.ops.circuits``)."""

    pairs: list[PairCircuit]
    channels: list[ChannelCircuit]


class OutboxBacklog(TypedDict):
    """What waits in the outbox and what gave up (``Outbox.backlog``): PENDING, FOLDED and
    DEAD rows, and when the oldest waiting row was created (None when nothing waits)."""

    pending: int
    folded: int
    dead: int
    oldest_waiting_at: datetime | None


class Backlog(TypedDict):
    """The outbox backlog as the operator views show it (``montalaq.ops.read_backlog``):
    None values when the store cannot be read; the oldest waiting row's age in seconds."""

    pending: int | None
    folded: int | None
    dead: int | None
    oldest_age_s: float | None


class SnapshotOutbox(TypedDict):
    """The outbox in the health snapshot."""

    pending: int | None
    oldest_age_s: float | None
    dead: int | None


class DecisionRow(TypedDict):
    """One of the last analyses in the health snapshot."""

    symbol: str
    timeframe: str
    bar_ts: datetime
    status: str
    final_decision: str | None
    composite_score: float | None
    error_code: str | None
    updated_at: datetime | None


class MonitoringSummary(TypedDict):
    """The monitoring worker in the health snapshot: its counters and the metric names it
    did not recognise."""

    stats: dict[str, int]
    queue: int
    rules: int
    unknown_metrics: list[str]
    last_tick: datetime | None


class LLMCounters(TypedDict):
    """What the LLM analyst did in this process, and what is queued (docs/llm.md, "Metrics")."""

    submitted: int
    queued: int
    calls: int
    requests: int
    ok: int
    errors: dict[str, int]  # by error kind
    skipped_interval: int
    skipped_score: int
    skipped_breaker: int
    dropped: int
    superseded: int
    findings: int
    alerts: int
    callback_errors: int
    notify_errors: int
    prompt_tokens: int
    completion_tokens: int
    latency_ms_sum: float
    latency_ms_count: int
    latency_ms_last: float | None


class LLMStats(LLMCounters):
    """The LLM analyst's numbers (``LLMAnalyst.stats``; docs/llm.md, "Metrics"): its
    counters, whether it is enabled, its model and its breaker's state."""

    enabled: bool
    model: str
    breaker: str


class HealthSnapshot(TypedDict):
    """``GET /api/health/snapshot`` (docs/operations.md, "Operator views")."""

    state: str
    reason: str
    entered_at: datetime
    failing: dict[str, CheckResultDoc]
    last_decisions: list[DecisionRow] | None
    dedup_events_last_60min: int | None
    circuits: Circuits
    outbox: SnapshotOutbox
    alerts_active: int
    monitoring: MonitoringSummary | None
    providers: list[dict[str, Any]]  # each feed's own stats() (docs/feeds.md): open
    llm: LLMStats | None  # the LLM analyst's numbers when LLM_ENABLE (docs/llm.md)


class DbHealth(TypedDict):
    """``GET /db-health``: ``error`` (type and message, no secrets) only when not ok."""

    ok: bool
    error: NotRequired[str]


class ErrorTypeSummary(ErrorEpisodeFields):
    """One error type of the error summary (counts over every episode; the rest of the
    newest episode)."""

    episodes: int
    open_since: datetime | None


class ErrorSummary(TypedDict):
    """``GET /api/errors/summary``."""

    errors: list[ErrorTypeSummary]
    open: int


__all__ = [
    "AgentHealth",
    "AgentInfo",
    "AgentSpecRow",
    "AgentStatusDoc",
    "AgentStatusName",
    "Backlog",
    "BreakerCounts",
    "ChannelCircuit",
    "Circuits",
    "DbHealth",
    "DecisionRow",
    "ErrorSummary",
    "ErrorTypeSummary",
    "Health",
    "HealthSnapshot",
    "LLMCounters",
    "LLMStats",
    "MonitoringSummary",
    "OpStateName",
    "OutboxBacklog",
    "PairCircuit",
    "ReadinessName",
    "ReplayInfo",
    "SchedulerInfo",
    "SnapshotOutbox",
]
