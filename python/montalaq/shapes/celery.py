"""What the Celery tasks return (their results, JSON-ready), the KPI windows and the beat
entries (docs/semantics.md, "Celery"; docs/operations.md, "Scale-out on Celery")."""

from typing import Literal, NotRequired

from typing_extensions import TypedDict

from montalaq.shapes.common import IsoTime


class TickReport(TypedDict):
    """What one scheduler tick did (``tick``); only ``ticked`` and ``reason`` when it did
    not run, and what it had done so far when it lost its lock mid-tick."""

    ticked: bool
    reason: NotRequired[str]
    queued: NotRequired[int]
    skipped_breaker: NotRequired[int]
    skipped_not_green: NotRequired[int]
    not_green: NotRequired[list[str]]  # SYMBOL|TF of the pairs not GREEN
    now_ns: NotRequired[int]
    steps: NotRequired[int]
    rebuilt: NotRequired[bool]
    findings: NotRequired[int]
    seconds: NotRequired[float]


class EvaluationReport(TypedDict):
    """What one escalation cycle did (``evaluate``); only ``evaluated`` and ``reason`` when
    it did not run."""

    evaluated: bool
    reason: NotRequired[str]
    now_ns: NotRequired[int]
    pairs: NotRequired[int]
    failures: NotRequired[int]
    events: NotRequired[int]
    notified: NotRequired[int]
    breakers_open: NotRequired[int]
    status_rows: NotRequired[int]
    seconds: NotRequired[float]


class BreakerTickReport(TypedDict):
    """What the breaker task did (``breaker_tick``): the open breakers (``SYMBOL|TF``) and
    what it reconciled; only ``checked`` and ``reason`` when the board was locked."""

    checked: bool
    reason: NotRequired[str]
    open: NotRequired[list[str]]
    set_fixed: NotRequired[int]
    rows_fixed: NotRequired[int]


class AnalyseResult(TypedDict):
    """What the analysis task did with one bar (``analyse``): ``status`` done/busy/wait/
    store_error/skipped_breaker or the analysis' COMPLETE/FAILED, and what goes with it."""

    status: str
    symbol: NotRequired[str]
    timeframe: NotRequired[str]
    bar_ts: NotRequired[str]  # ISO-8601
    composite_score: NotRequired[float | None]
    signal: NotRequired[str | None]
    redelivered: NotRequired[bool]
    error_code: NotRequired[str]
    error: NotRequired[str]


class DeliverReport(TypedDict):
    """One delivery pass (``deliver``): how many rows went out."""

    delivered: int


class KpiAnalyses(TypedDict):
    """Analyses finished in a KPI window, by status."""

    COMPLETE: int
    FAILED: int


class KpiNotifications(TypedDict):
    """Notifications of a KPI window: queued by kind, and sent."""

    queued: dict[str, int]
    sent: int


class KpiWindow(TypedDict):
    """One KPI window (docs/operations.md, "Scale-out on Celery"): its bounds on the feed's
    clock and the wall clock, the counts of the database, the shared counters that grew."""

    window_start: IsoTime
    window_end: IsoTime
    wall_start: IsoTime
    wall_end: IsoTime
    analyses: KpiAnalyses
    findings: int
    notifications: KpiNotifications
    counters: dict[str, int]  # the shared counters that changed, by name
    breakers_open: int
    pairs: int


class KpiRolled(KpiWindow):
    """``kpi_rollup`` when it rolled a window up."""

    rolled: Literal[True]


class KpiSkipped(TypedDict):
    """``kpi_rollup`` when another rollup held the lock."""

    rolled: Literal[False]
    reason: str


class BeatOptions(TypedDict):
    """A beat entry's message options: it expires after its period, on its queue."""

    expires: float
    queue: NotRequired[str]


class BeatEntry(TypedDict):
    """One entry of ``app.conf.beat_schedule`` (``MontalaqCelery.beat_schedule``)."""

    task: str
    schedule: float  # seconds
    options: BeatOptions


__all__ = [
    "AnalyseResult",
    "BeatEntry",
    "BeatOptions",
    "BreakerTickReport",
    "DeliverReport",
    "EvaluationReport",
    "KpiAnalyses",
    "KpiNotifications",
    "KpiRolled",
    "KpiSkipped",
    "KpiWindow",
    "TickReport",
]
