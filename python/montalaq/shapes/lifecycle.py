"""The lifecycle's records: check results, state changes, the shutdown's report and the
stored operational state (docs/semantics.md, "Lifecycle")."""

from datetime import datetime
from typing import Any, Literal

from typing_extensions import TypedDict

from montalaq.shapes.common import IsoTime


class FailingCheck(TypedDict):
    """A failing check as ``details["failing"]`` keeps it (``failing_details``)."""

    kind: str | None  # TRANSIENT or PERMANENT; None for a passing check
    detail: str
    error_code: str | None


class CheckResultDoc(FailingCheck):
    """A check's result as JSON (``CheckResult.to_dict``; persisted in ``operational_state``)."""

    ok: bool


# "from" is a keyword: the functional form.
Transition = TypedDict("Transition", {"at_ns": int, "from": str, "to": str, "reason": str})
"""One state change of the native state machines (``OperationalState.history``,
``CircuitBreaker.history``): when (int ns), from which state to which, and why."""


class StateChange(Transition):
    """One state change of the lifecycle (``Lifecycle.history``), ``at`` an aware UTC datetime."""

    at: datetime


StepOutcome = Literal["ok", "failed", "timed_out", "skipped"]


class StepReportDoc(TypedDict):
    """One shutdown step (``StepReport.to_dict``): seconds it ran and was given."""

    name: str
    outcome: StepOutcome
    elapsed_s: float
    budget_s: float
    error: str | None


class ShutdownReportDoc(TypedDict):
    """The shutdown (``ShutdownReport.to_dict``; persisted in ``details["shutdown"]``)."""

    reason: str
    steps: list[StepReportDoc]
    elapsed_s: float
    budget_s: float
    started_at: IsoTime
    complete: bool
    persisted: bool
    timed_out: int
    failed: int


class OperationalStateRow(TypedDict):
    """The ``operational_state`` row (``Store.load_operational_state``)."""

    state: str
    reason: str
    entered_at: datetime
    updated_at: datetime
    details: dict[str, Any] | None  # failing checks, shutdown report, the host's own


class WorkerEntry(TypedDict):
    """A Celery worker's operational state as it last wrote it (``MontalaqCelery.workers``;
    times as ISO-8601 text, None when not given)."""

    state: str
    reason: str
    entered_at: str | None
    updated_at: str | None
    details: dict[str, Any]  # failing checks, shutdown report, the host's own


__all__ = [
    "CheckResultDoc",
    "FailingCheck",
    "OperationalStateRow",
    "ShutdownReportDoc",
    "StateChange",
    "StepOutcome",
    "StepReportDoc",
    "Transition",
    "WorkerEntry",
]
