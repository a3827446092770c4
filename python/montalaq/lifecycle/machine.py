"""The :class:`Lifecycle`: one object a host holds, wiring the state record, the check
scheduler, the run-time reports, the shutdown runner and the signal handlers
(docs/semantics.md, sections Lifecycle and "Lifecycle at run time")."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterable, Mapping, Sequence
from datetime import datetime

from montalaq._time import datetime_utc
from montalaq.errors import DEFAULT_TAXONOMY, ErrorTaxonomy
from montalaq.health import OpState
from montalaq.lifecycle.checks import CheckFn, CheckResult, StartupCheck, as_checks
from montalaq.lifecycle.notices import Notices
from montalaq.lifecycle.protocols import NotifierLike, StateStore
from montalaq.lifecycle.runner import CheckRunner
from montalaq.lifecycle.runtime import RuntimeReports
from montalaq.lifecycle.scheduler import CheckScheduler
from montalaq.lifecycle.seconds import non_negative_s, positive_s
from montalaq.lifecycle.shutdown import ShutdownReport, ShutdownStep, as_steps
from montalaq.lifecycle.shutdown_runner import ShutdownRunner
from montalaq.lifecycle.signals import SignalHandlers
from montalaq.lifecycle.state import StateRecord
from montalaq.lifecycle.transitions import Transitions
from montalaq.shapes import StateChange


def _count(name: str, value: object, low: int, high: int | None = None) -> int:
    """``value`` as an int in [low, high] (no upper bound when None); ValueError otherwise."""
    if (
        isinstance(value, bool)
        or not isinstance(value, int)
        or value < low
        or (high is not None and value > high)
    ):
        bounds = f"in [{low}, {high}]" if high is not None else f">= {low}"
        raise ValueError(f"{name}: expected an integer {bounds}, got {value!r}")
    return value


class Lifecycle:
    """Start-up checks, the operational state, and the graceful shutdown (docs/semantics.md,
    section Lifecycle).

    Arguments (times in seconds): ``checks`` (StartupCheck items or a mapping name ->
    callable), ``store`` (persists the state), ``notifier``, ``retries`` [3] extra rounds for
    transient start-up failures, ``backoff_base_s`` [30] (round n waits ``base * 2**(n-1)``),
    ``recheck_interval_s`` [300], ``status_interval_s`` [3600], ``check_timeout_s`` [30],
    ``shutdown_steps`` (mapping or ShutdownStep sequence), ``shutdown_budget_s`` [9],
    ``taxonomy`` (classifies exceptions; default the process-wide one), ``clock`` (wall
    seconds), ``sleep`` (the wait between retries and ticks; default: a wait that shutdown
    interrupts), ``name`` (shown in notification titles), ``runtime_failure_cycles`` [3] and
    ``runtime_failure_min_s`` [10] (when run-time failures move ACTIVE to WAITING).
    """

    def __init__(
        self,
        checks: Iterable[StartupCheck] | Mapping[str, CheckFn] = (),
        *,
        store: StateStore | None = None,
        notifier: NotifierLike | None = None,
        retries: int = 3,
        backoff_base_s: float = 30.0,
        recheck_interval_s: float = 300.0,
        status_interval_s: float = 3600.0,
        check_timeout_s: float = 30.0,
        shutdown_steps: Mapping[str, Callable[[], object] | None] | Sequence[ShutdownStep] | None = None,
        shutdown_budget_s: float = 9.0,
        taxonomy: ErrorTaxonomy | None = None,
        clock: Callable[[], float] = time.time,
        sleep: Callable[[float], object] | None = None,
        name: str = "montalaq",
        runtime_failure_cycles: int = 3,
        runtime_failure_min_s: float = 10.0,
    ) -> None:
        self.retries = _count("retries", retries, 0, 100)
        self.backoff_base_s = non_negative_s("backoff_base_s", backoff_base_s)
        if not isinstance(name, str) or not name.strip():
            raise ValueError(f"name: expected a non-empty string, got {name!r}")
        self.name = name
        self.runtime_failure_cycles = _count("runtime_failure_cycles", runtime_failure_cycles, 1)
        self.runtime_failure_min_s = non_negative_s("runtime_failure_min_s", runtime_failure_min_s)
        self.checks = as_checks(checks)
        self.recheck_interval_s = positive_s("recheck_interval_s", recheck_interval_s)
        self.status_interval_s = positive_s("status_interval_s", status_interval_s)
        self.check_timeout_s = positive_s("check_timeout_s", check_timeout_s)
        self.shutdown_budget_s = positive_s("shutdown_budget_s", shutdown_budget_s)
        self.steps = as_steps(shutdown_steps)
        self._wire(store, notifier, taxonomy or DEFAULT_TAXONOMY, clock, sleep)

    def _wire(
        self,
        store: StateStore | None,
        notifier: NotifierLike | None,
        taxonomy: ErrorTaxonomy,
        clock: Callable[[], float],
        sleep: Callable[[float], object] | None,
    ) -> None:
        """The collaborators, sharing one state record and one stop event."""
        stop = threading.Event()
        self._record = record = StateRecord(store, clock)
        notices = Notices(self.name, notifier)
        self._runner = CheckRunner(self.check_timeout_s, taxonomy)
        self._transitions = Transitions(
            record, notices, retries=self.retries, recheck_interval_s=self.recheck_interval_s
        )
        self._scheduler = CheckScheduler(
            self.checks,
            self._runner,
            record,
            self._transitions,
            notices,
            stop=stop,
            sleep=sleep if sleep is not None else stop.wait,
            retries=self.retries,
            backoff_base_s=self.backoff_base_s,
            recheck_interval_s=self.recheck_interval_s,
            status_interval_s=self.status_interval_s,
        )
        self._runtime = RuntimeReports(
            record,
            self._transitions,
            self._scheduler,
            taxonomy,
            cycles=self.runtime_failure_cycles,
            min_s=self.runtime_failure_min_s,
        )
        self._shutdown = ShutdownRunner(
            record, notifier, self.steps, budget_s=self.shutdown_budget_s, stop=stop, name=self.name
        )
        self._signals = SignalHandlers(record.lock, self.shutdown, self._shutdown.running_here)
        self._start_lock = threading.Lock()
        self._started = False

    def __repr__(self) -> str:
        return (
            f"Lifecycle(name={self.name!r}, state={self.state.name}, checks={[c.name for c in self.checks]})"
        )

    # -- reading ---------------------------------------------------------------------------
    @property
    def state(self) -> OpState:
        """The current operational state."""
        return self._record.state

    @property
    def reason(self) -> str:
        """Why the current state was entered."""
        with self._record.lock:
            return self._record.op.reason

    @property
    def entered_at(self) -> datetime:
        """Aware UTC datetime at which the current state was entered."""
        with self._record.lock:
            return datetime_utc(self._record.op.entered_at_ns)

    def history(self) -> list[StateChange]:
        """The state changes so far (oldest first, at most the last 100): ``{at (aware UTC
        datetime), at_ns, from, to, reason}``."""
        with self._record.lock:
            raw = self._record.op.history()
        return [{"at": datetime_utc(h["at_ns"]), **h} for h in raw]

    def results(self) -> dict[str, CheckResult]:
        """The last result of each check that has run."""
        with self._record.lock:
            return dict(self._record.results)

    def failing(self) -> dict[str, CheckResult]:
        """The checks that made the current state (empty when ACTIVE)."""
        return self._record.failing_now()

    @property
    def abandoned_checks(self) -> int:
        """How many check calls were abandoned at ``check_timeout_s``."""
        return self._runner.abandoned

    @property
    def shutdown_report(self) -> ShutdownReport | None:
        """The shutdown's report once it finished, else None."""
        return self._shutdown.report

    def wait_until_active(self, timeout_s: float | None = None) -> bool:
        """Block until ACTIVE (True) or ``timeout_s`` seconds passed (False; None: no limit).
        Returns False at once in ERROR or SHUTDOWN: neither becomes ACTIVE by itself."""
        return self._record.wait_until_active(timeout_s)

    def wait_for_shutdown(self, timeout_s: float | None = None) -> bool:
        """Block until the shutdown finished (True) or ``timeout_s`` seconds passed (False;
        None: no limit). Signal handlers still run while the main thread waits here."""
        return self._shutdown.done.wait(timeout_s)

    # -- start-up --------------------------------------------------------------------------
    def start(self, *, background: bool = True) -> OpState:
        """Run the start-up checks (with retries) and return the state reached: ACTIVE,
        WAITING or ERROR (SHUTDOWN if a shutdown cut it short). Never raises, never exits.

        ``background=False``: no re-check thread is started for WAITING; call :meth:`tick`
        yourself (a host with its own scheduler, or a test). A second call returns the
        current state without running anything.
        """
        with self._start_lock:
            if self._started:
                return self.state
            self._started = True
            self._scheduler.background = background
        self._scheduler.startup()
        return self.state

    def restart(self, reason: str = "operator restart") -> OpState:
        """Operator action: ERROR -> STARTING, then the start-up checks again (as
        :meth:`start`). ValueError from any other state."""
        record = self._record
        with record.lock:
            if record.op.state != OpState.ERROR:
                raise ValueError(f"restart: only from ERROR, the state is {record.op.state.name}")
        if record.transition(OpState.STARTING, reason, {}) is None:
            return self.state
        with record.lock:
            record.runtime.clear()
        self._scheduler.startup()
        return self.state

    def assume_active(self, reason: str = "driven by its host, no start-up checks") -> OpState:
        """Mark a lifecycle that nobody started as ACTIVE without running checks (a service
        its host steps itself); a started one is left alone. Returns the state."""
        with self._start_lock:
            if self._started:
                return self.state
            self._started = True
            self._scheduler.background = False
        self._transitions.enter_active(reason)
        return self.state

    # -- run time --------------------------------------------------------------------------
    def report(self, name: str, outcome: CheckResult | BaseException | None = None) -> OpState:
        """A run-time observation of dependency ``name`` (``database``, ``provider:<name>``,
        ``channel:<name>``) by the process's own cycle: None or a passing result means it
        worked; an exception (classified as a check's would be) or a failing result means
        it failed. ACTIVE moves to ERROR at once on a PERMANENT failure, and to WAITING when
        the dependency failed in ``runtime_failure_cycles`` consecutive reports spanning at
        least ``runtime_failure_min_s`` seconds (one notification). In WAITING, a pass that
        leaves nothing failing moves back to ACTIVE (one recovery notification). Reports in
        other states only keep the streaks. Never raises for an observation; returns the
        state after it."""
        return self._runtime.report(name, outcome)

    def runtime_failing(self) -> dict[str, CheckResult]:
        """Dependencies whose latest run-time report was a failure (last result each)."""
        return self._record.runtime_failing()

    # -- WAITING: re-checks and status ----------------------------------------------------
    def tick(self) -> float | None:
        """One pass of the WAITING duties: the re-check when ``recheck_interval_s`` passed,
        the "still waiting" status when ``status_interval_s`` passed, a retry of a failed
        persistence. Returns seconds until the next duty is due, or None when not WAITING.
        The background thread calls this; hosts that drive it themselves may too."""
        return self._scheduler.tick()

    # -- shutdown and signals --------------------------------------------------------------
    def shutdown(self, reason: str = "shutdown requested") -> ShutdownReport:
        """Run the shutdown steps once (docs/semantics.md, section Lifecycle, "Shutdown") and
        return the report. A later call returns the first report; a concurrent one waits for
        it (at most the budget + 1 s); a re-entrant one (from inside the running shutdown's
        thread) gets a snapshot."""
        report, ran_here = self._shutdown.run(reason)
        if ran_here:
            self._signals.exit_if_pending()
        return report

    def install_signal_handlers(self, *, on_exit: Callable[[int], object] | None = None) -> None:
        """Make SIGTERM and SIGINT run :meth:`shutdown` once, then ``on_exit(code)`` (0 for
        SIGTERM, 130 for SIGINT; default: raise ``SystemExit(code)`` in the main thread).
        ValueError off the main thread (Python delivers signals only there)."""
        self._signals.install(on_exit)

    def restore_signal_handlers(self) -> None:
        """Put back the handlers that :meth:`install_signal_handlers` replaced (main thread)."""
        self._signals.restore()
