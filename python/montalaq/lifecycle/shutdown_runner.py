"""Running the shutdown once: SHUTDOWN entered and persisted alongside the steps, each step
in its own thread given ``min(its budget, what is left)``, the whole within the budget
(docs/semantics.md, section Lifecycle, "Shutdown")."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable

from montalaq._time import datetime_utc
from montalaq.health import OpState
from montalaq.lifecycle._log import COMPONENT, log
from montalaq.lifecycle.checks import describe
from montalaq.lifecycle.protocols import NotifierLike
from montalaq.lifecycle.shutdown import ShutdownReport, ShutdownStep, StepReport
from montalaq.lifecycle.state import Snapshot, StateRecord
from montalaq.lifecycle.timebox import Outcome, run_timeboxed


class ShutdownRunner:
    """Runs ``steps`` once within ``budget_s`` seconds (monotonic time) and keeps the report.
    Setting ``stop`` at the start ends re-checks and cuts start-up back-off waits short."""

    def __init__(
        self,
        record: StateRecord,
        notifier: NotifierLike | None,
        steps: tuple[ShutdownStep, ...],
        *,
        budget_s: float,
        stop: threading.Event,
        name: str,
    ) -> None:
        self._record = record
        self._notifier = notifier
        self._steps = steps
        self.budget_s = budget_s
        self._stop = stop
        self._name = name
        self.done = threading.Event()
        """Set once the shutdown finished."""
        self._owner: int | None = None
        self._reason = ""
        self._started_at = datetime_utc(0)
        self._t0 = 0.0
        self._step_reports: list[StepReport] = []
        self._step_deadline = 0.0
        self._report: ShutdownReport | None = None

    @property
    def report(self) -> ShutdownReport | None:
        """The shutdown's report once it finished, else None."""
        with self._record.lock:
            return self._report

    def running_here(self) -> bool:
        """Whether the shutdown is running on this thread (the caller holds the lock)."""
        return self._owner == threading.get_ident() and not self.done.is_set()

    def run(self, reason: str) -> tuple[ShutdownReport, bool]:
        """Run the steps once: (the report, True) for the call that ran them. A later call
        gets the first report, a concurrent one waits for it (at most the budget + 1 s), a
        re-entrant one (from the running shutdown's thread) a snapshot; those get False."""
        with self._record.lock:
            owner = self._owner
            begun = self._begin_locked(reason) if owner is None else None
        if begun is None:
            if owner != threading.get_ident():
                self.done.wait(self.budget_s + 1.0)
            return self._report_now(), False
        previous, snap = begun
        log.warning(
            "operational state %s -> SHUTDOWN: %s",
            previous.name,
            self._reason,
            extra={"component": COMPONENT, "op_state": "SHUTDOWN", "previous_state": previous.name},
        )
        deadline = self._t0 + self.budget_s
        # Persist alongside the steps: a hung database must not eat a step's budget.
        persist_thread = threading.Thread(
            target=self._record.persist, args=(snap, self.budget_s), name="montalaq-persist", daemon=True
        )
        persist_thread.start()
        for step in self._steps:
            self._run_step(step, deadline)
        persist_thread.join(max(0.0, deadline - time.monotonic()))
        return self._finish(previous, snap, persist_thread, deadline), True

    def _begin_locked(self, reason: str) -> tuple[OpState, Snapshot]:
        self._owner = threading.get_ident()
        self._reason = str(reason)
        self._t0 = time.monotonic()
        self._started_at = datetime_utc(self._record.now_ns())
        self._stop.set()
        return self._record.close_locked(self._reason, [s.name for s in self._steps])

    def _finish(
        self, previous: OpState, snap: Snapshot, persist_thread: threading.Thread, deadline: float
    ) -> ShutdownReport:
        record = self._record
        persisted = record.persisted(snap)
        with record.lock:
            report = self._build_report(complete=True, persisted=persisted)
            final = record.snapshot_locked(
                {"previous": previous.name, "failing": {}, "shutdown": report.to_dict()}
            )
        left_s = deadline - time.monotonic()
        # The SHUTDOWN write failed already (the database is down): the report would fail
        # too, and trying again would only spend the budget an orchestrator is counting.
        write_failed = not persisted and not persist_thread.is_alive()
        if record.store is not None and left_s > 0 and not write_failed:
            outcome, value, _ = run_timeboxed(
                lambda: record.persist(final, left_s), left_s, "montalaq-persist"
            )
            persisted = persisted or (outcome == "returned" and value is True)
        with record.lock:
            report = self._build_report(complete=True, persisted=persisted)
            self._report = report
        log.warning(
            "shutdown done in %.3f s (%d step(s) timed out, %d failed)",
            report.elapsed_s,
            report.timed_out,
            report.failed,
            extra={"component": COMPONENT, "op_state": "SHUTDOWN", "shutdown": report.to_dict()},
        )
        self.done.set()
        return report

    def _run_step(self, step: ShutdownStep, deadline: float) -> None:
        fn: Callable[[], object] | None = step.fn
        if fn is None and step.name == "final_notification" and self._notifier is not None:
            fn = self._final_notification
        left_s = deadline - time.monotonic()
        if fn is None:
            self._add_step(StepReport(step.name, "skipped", 0.0, 0.0, "no callable supplied"))
            return
        if left_s <= 0:
            self._add_step(StepReport(step.name, "skipped", 0.0, 0.0, "no shutdown budget left"))
            log.warning("shutdown step %s skipped: no budget left", step.name, extra={"component": COMPONENT})
            return
        granted_s = min(step.budget_s, left_s)
        t0 = time.monotonic()
        self._step_deadline = t0 + granted_s
        outcome, value, _ = run_timeboxed(fn, granted_s, f"montalaq-shutdown-{step.name}")
        self._add_step(_step_report(step.name, outcome, value, time.monotonic() - t0, granted_s))

    def _add_step(self, report: StepReport) -> None:
        with self._record.lock:
            self._step_reports.append(report)

    def _build_report(self, *, complete: bool, persisted: bool) -> ShutdownReport:
        return ShutdownReport(
            reason=self._reason,
            steps=tuple(self._step_reports),
            elapsed_s=time.monotonic() - self._t0,
            budget_s=self.budget_s,
            started_at=self._started_at,
            complete=complete,
            persisted=persisted,
        )

    def _report_now(self) -> ShutdownReport:
        with self._record.lock:
            if self._report is not None:
                return self._report
            return self._build_report(complete=False, persisted=False)

    def _final_notification(self) -> None:
        assert self._notifier is not None
        with self._record.lock:
            steps = {s.name: s.outcome for s in self._step_reports}
        self._notifier.notify(
            "state",
            f"{self._name} shutting down",
            f"Reason: {self._reason}.",
            severity="INFO",
            fields={"state": "SHUTDOWN", "reason": self._reason, "steps": steps},
            error_code=None,
        )
        # The event is durable in the outbox already; give the worker what is left of
        # this step's budget to deliver it before the process goes.
        wait_idle = getattr(self._notifier, "wait_idle", None)
        if callable(wait_idle) and not wait_idle(
            timeout_s=max(0.0, self._step_deadline - time.monotonic() - 0.05)
        ):
            log.warning(
                "final notification queued in the outbox but not delivered before the step's budget",
                extra={"component": COMPONENT},
            )


def _step_report(
    name: str, outcome: Outcome, value: object, elapsed_s: float, granted_s: float
) -> StepReport:
    """The report of a step that ran ``elapsed_s`` of its ``granted_s`` seconds, logged."""
    if outcome == "timed_out":
        log.error(
            "shutdown step %s did not finish within %.3g s; abandoned",
            name,
            granted_s,
            extra={"component": COMPONENT, "step": name},
        )
        return StepReport(name, "timed_out", elapsed_s, granted_s, f"abandoned after {granted_s:.3g} s")
    if outcome == "raised":
        assert isinstance(value, BaseException)
        log.error(
            "shutdown step %s failed: %s",
            name,
            describe(value),
            exc_info=value,
            extra={"component": COMPONENT, "step": name},
        )
        return StepReport(name, "failed", elapsed_s, granted_s, describe(value))
    log.info(
        "shutdown step %s done in %.3f s",
        name,
        elapsed_s,
        extra={"component": COMPONENT, "step": name},
    )
    return StepReport(name, "ok", elapsed_s, granted_s)
