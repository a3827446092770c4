"""The service's counters and the report of one cycle (docs/semantics.md, "Service")."""

from __future__ import annotations

from dataclasses import dataclass, field

from montalaq.records import Analysis, Finding
from montalaq.shapes import EscalationEvent


@dataclass
class ServiceStats:
    """Counters since the service was created (this process)."""

    cycles: int = 0
    trades_ingested: int = 0
    trades_rejected: int = 0
    quotes_ingested: int = 0
    quotes_rejected: int = 0
    bars_closed: int = 0
    analyses_complete: int = 0
    analyses_failed: int = 0
    analyses_skipped_breaker: int = 0
    analyses_superseded: int = 0
    agent_runs: int = 0
    findings: int = 0
    escalation_cycles: int = 0
    escalation_events: int = 0
    notifications: int = 0
    notify_errors: int = 0
    provider_errors: int = 0
    store_errors: int = 0
    step_errors: int = 0

    def to_dict(self) -> dict[str, int]:
        """Every counter by name."""
        return dict(self.__dict__)


@dataclass
class StepReport:
    """What one :meth:`Service.step` did (``now_ns``: the cycle's time, int ns)."""

    now_ns: int
    trades: int = 0
    rejected: int = 0
    bars_closed: int = 0
    analyses: list[Analysis] = field(default_factory=list)
    skipped_breaker: list[tuple[str, str]] = field(default_factory=list)
    findings: list[Finding] = field(default_factory=list)
    evaluated: bool = False
    events: list[EscalationEvent] = field(default_factory=list)
