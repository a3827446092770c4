"""Shutdown steps and what they did: the default steps with their budgets, each step's
report and the shutdown's (docs/semantics.md, section Lifecycle, "Shutdown")."""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Literal

from montalaq.lifecycle.seconds import positive_s
from montalaq.shapes import IsoTime, ShutdownReportDoc, StepReportDoc

DEFAULT_SHUTDOWN_STEPS: tuple[tuple[str, float], ...] = (
    ("cancel_orders", 2.0),
    ("close_positions", 3.0),
    ("save_state", 1.0),
    ("final_notification", 2.0),
    ("disconnect", 1.0),
)
"""The default shutdown steps in order, with their budgets in seconds (docs/semantics.md,
section Lifecycle, "Shutdown")."""

StepOutcome = Literal["ok", "failed", "timed_out", "skipped"]


@dataclass(frozen=True)
class ShutdownStep:
    """One shutdown step: ``fn()`` (None: skipped, except the built-in final_notification)
    given at most ``budget_s`` seconds."""

    name: str
    fn: Callable[[], object] | None
    budget_s: float

    def __post_init__(self) -> None:
        if not isinstance(self.name, str) or not self.name.strip():
            raise ValueError(f"name: expected a non-empty string, got {self.name!r}")
        if self.fn is not None and not callable(self.fn):
            raise TypeError(f"fn: step {self.name!r} needs a callable or None, got {type(self.fn).__name__}")
        object.__setattr__(self, "budget_s", positive_s(f"budget_s of step {self.name!r}", self.budget_s))


@dataclass(frozen=True)
class StepReport:
    """What one shutdown step did: ``outcome`` ok/failed/timed_out/skipped, ``elapsed_s``
    (seconds it ran, 0 when skipped), ``budget_s`` (seconds it was given: its budget or what
    was left, 0 when skipped) and ``error`` (why it failed, timed out or was skipped)."""

    name: str
    outcome: StepOutcome
    elapsed_s: float
    budget_s: float
    error: str | None = None

    def to_dict(self) -> StepReportDoc:
        """JSON-ready form."""
        return {
            "name": self.name,
            "outcome": self.outcome,
            "elapsed_s": round(self.elapsed_s, 6),
            "budget_s": round(self.budget_s, 6),
            "error": self.error,
        }


@dataclass(frozen=True)
class ShutdownReport:
    """The shutdown: ``reason``, each step's :class:`StepReport` in order, ``elapsed_s`` and
    ``budget_s`` (seconds), ``complete`` (False only for a snapshot taken while it ran) and
    ``persisted`` (whether the SHUTDOWN state reached the store; True without a store)."""

    reason: str
    steps: tuple[StepReport, ...]
    elapsed_s: float
    budget_s: float
    started_at: datetime
    complete: bool = True
    persisted: bool = True

    @property
    def timed_out(self) -> int:
        """How many steps were abandoned at their budget."""
        return sum(1 for s in self.steps if s.outcome == "timed_out")

    @property
    def failed(self) -> int:
        """How many steps raised."""
        return sum(1 for s in self.steps if s.outcome == "failed")

    def to_dict(self) -> ShutdownReportDoc:
        """JSON-ready form (persisted in ``operational_state.details["shutdown"]``)."""
        return {
            "reason": self.reason,
            "steps": [s.to_dict() for s in self.steps],
            "elapsed_s": round(self.elapsed_s, 6),
            "budget_s": self.budget_s,
            "started_at": IsoTime(self.started_at.isoformat().replace("+00:00", "Z")),
            "complete": self.complete,
            "persisted": self.persisted,
            "timed_out": self.timed_out,
            "failed": self.failed,
        }


def as_steps(
    spec: Mapping[str, Callable[[], object] | None] | Sequence[ShutdownStep] | None,
) -> tuple[ShutdownStep, ...]:
    """The steps to run: the defaults (None), the defaults with the host's callables (a
    mapping name -> callable), or the host's own ShutdownStep sequence."""
    if spec is None:
        return tuple(ShutdownStep(name, None, budget) for name, budget in DEFAULT_SHUTDOWN_STEPS)
    if isinstance(spec, Mapping):
        known = [name for name, _ in DEFAULT_SHUTDOWN_STEPS]
        unknown = [k for k in spec if k not in known]
        if unknown:
            raise ValueError(
                f"shutdown_steps: unknown step(s) {unknown}; the default steps are {known} "
                "(pass a sequence of ShutdownStep for other steps or budgets)"
            )
        return tuple(ShutdownStep(name, spec.get(name), budget) for name, budget in DEFAULT_SHUTDOWN_STEPS)
    steps = tuple(spec)
    for s in steps:
        if not isinstance(s, ShutdownStep):
            raise TypeError(
                "shutdown_steps: expected a mapping name -> callable or a sequence of ShutdownStep, "
                f"got an item of type {type(s).__name__}"
            )
    names = [s.name for s in steps]
    if len(set(names)) != len(names):
        raise ValueError(f"shutdown_steps: names must be unique, got {names}")
    return steps
