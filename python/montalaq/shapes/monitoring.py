"""The monitoring's records: alert lines, the rule engine's transitions and firing rules,
the worker's status, snapshot files and their aggregates (docs/semantics.md, "Monitoring";
docs/operations.md, "Alerts")."""

from datetime import datetime
from typing import Any, Literal

from typing_extensions import TypedDict

from montalaq.shapes.common import IsoTime


class AlertDoc(TypedDict):
    """One alert line (docs/operations.md, "Alerts")."""

    id: str
    timestamp: IsoTime
    severity: str  # INFO, WARNING or CRITICAL
    rule: str
    message: str
    context: dict[str, Any]  # the rule's state, value, threshold, metric; a host's own keys
    acknowledged: bool


class AlertsView(TypedDict):
    """``GET /api/alerts``: firing now, and the newest alert lines (FIRING and RESOLVED)."""

    enabled: bool
    active: list[AlertDoc]
    recent: list[AlertDoc]


class RuleTransition(TypedDict):
    """A rule that fired or resolved in one evaluation (``RuleSet.evaluate``; times in int
    ns, ``value`` and ``threshold`` None where not finite)."""

    rule: str
    severity: str
    state: Literal["FIRING", "RESOLVED"]
    value: float | None
    threshold: float | None
    since_ns: int
    at_ns: int
    message: str
    metric: str


class FiringRule(TypedDict):
    """A rule firing now (``RuleSet.active``): since when, when it fired, its latest value."""

    rule: str
    severity: str
    since_ns: int
    fired_at_ns: int
    value: float | None
    acknowledged: bool
    message: str


class MonitoringStatus(TypedDict):
    """The monitoring worker (``MonitoringService.status``): counters, queue depth, rules."""

    stats: dict[str, int]  # MonitoringStats' counters by name
    queue: int
    rules: int
    firing: list[FiringRule]
    last_tick: datetime | None
    unknown_metrics: list[str]
    started: datetime


class MetricStats(TypedDict):
    """One metric over one window."""

    min: float
    max: float
    mean: float
    count: int


class AggregateWindow(TypedDict):
    """One window of ``aggregate``: its bounds and each metric's statistics."""

    window_start: datetime
    window_end: datetime
    metrics: dict[str, MetricStats]


class SnapshotFile(TypedDict):
    """A metrics snapshot file (``MetricsHistory.latest``)."""

    timestamp: IsoTime
    metrics: dict[str, Any]  # the tick's sections: montalaq's and the host's own
    flat: dict[str, float]


__all__ = [
    "AggregateWindow",
    "AlertDoc",
    "AlertsView",
    "FiringRule",
    "MetricStats",
    "MonitoringStatus",
    "RuleTransition",
    "SnapshotFile",
]
