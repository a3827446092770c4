"""When checks run: the start-up rounds with their back-off, then in WAITING the re-check
every ``recheck_interval_s`` and the "still waiting" status every ``status_interval_s``, in a
background thread or from the host's own :meth:`CheckScheduler.tick` (docs/semantics.md,
section Lifecycle, "Start-up")."""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterable, Mapping

from montalaq.errors import ErrorKind
from montalaq.health import OpState
from montalaq.lifecycle._log import COMPONENT, log
from montalaq.lifecycle.checks import CheckResult, StartupCheck, describe, summary
from montalaq.lifecycle.notices import Notices
from montalaq.lifecycle.runner import CheckRunner
from montalaq.lifecycle.seconds import duration_text
from montalaq.lifecycle.state import StateRecord
from montalaq.lifecycle.transitions import Transitions
from montalaq.retry import RetryPolicy


def _due(last: float, interval_s: float, now: float) -> bool:
    return now - last >= interval_s or now < last  # a clock stepping back: due at once


def _permanent(results: Mapping[str, CheckResult]) -> dict[str, CheckResult]:
    return {n: r for n, r in results.items() if r.kind is ErrorKind.PERMANENT}


def _failing(results: Mapping[str, CheckResult]) -> dict[str, CheckResult]:
    return {n: r for n, r in results.items() if not r.ok}


class CheckScheduler:
    """Runs ``checks`` at start-up and in WAITING and moves the state on what they say.
    ``stop`` (set by the shutdown) ends every round and wait; ``sleep`` is the wait between
    retries and ticks (seconds)."""

    def __init__(
        self,
        checks: tuple[StartupCheck, ...],
        runner: CheckRunner,
        record: StateRecord,
        transitions: Transitions,
        notices: Notices,
        *,
        stop: threading.Event,
        sleep: Callable[[float], object],
        retries: int,
        backoff_base_s: float,
        recheck_interval_s: float,
        status_interval_s: float,
    ) -> None:
        self._checks = checks
        self._runner = runner
        self._record = record
        self._transitions = transitions
        self._notices = notices
        self._stop = stop
        self._sleep = sleep
        self._retries = retries
        self._recheck_interval_s = recheck_interval_s
        self._status_interval_s = status_interval_s
        # Jitter 0: one process waits for its own dependencies, nothing to de-synchronise.
        self._policy = RetryPolicy(
            max_attempts=retries + 1,
            base_s=backoff_base_s,
            jitter=0.0,
            max_delay_s=backoff_base_s * 2.0 ** max(retries - 1, 0),
        )
        self.background = True
        """Whether WAITING starts a thread that ticks (False: the host calls :meth:`tick`)."""
        self._thread: threading.Thread | None = None
        self._tick_lock = threading.Lock()

    def run_checks(self, checks: Iterable[StartupCheck]) -> dict[str, CheckResult]:
        """Run ``checks`` in order (until a shutdown stops them) and record their results."""
        results: dict[str, CheckResult] = {}
        for check in checks:
            if self._stop.is_set():
                break
            result = self._runner.run(check)
            results[check.name] = result
            if not result.ok:
                log.info(
                    "check %s failed (%s): %s",
                    check.name,
                    result.kind.value if result.kind else "?",
                    result.detail,
                    extra={"component": COMPONENT, "check": check.name, "error_code": result.error_code},
                )
        with self._record.lock:
            self._record.results.update(results)
        return results

    # -- start-up ---------------------------------------------------------------------------
    def startup(self) -> None:
        """The start-up checks with their retries, then ACTIVE, WAITING or ERROR (nothing when
        a shutdown cut them short). Never raises: a bug here idles in ERROR instead."""
        try:
            results = self._rounds()
            if results is not None:
                self._conclude(results)
        except Exception as exc:  # a bug here must not kill the host: idle in ERROR instead
            log.exception("start-up failed unexpectedly", extra={"component": COMPONENT})
            self._transitions.enter_error({"lifecycle": CheckResult.permanent(describe(exc))}, "start-up")

    def _rounds(self) -> dict[str, CheckResult] | None:
        """Every check once, then up to ``retries`` rounds of the ones failing TRANSIENT, round
        n after ``backoff_s(n)``; the last results, or None when a shutdown cut them short."""
        results = self.run_checks(self._checks)
        for attempt in range(1, self._retries + 1):
            if self._stop.is_set():
                return None
            failing = _failing(results)
            if not failing or _permanent(results):
                return results
            wait_s = self._policy.backoff_s(attempt)
            log.info(
                "start-up checks failing (%s); retry %d/%d in %.3g s",
                ", ".join(failing),
                attempt,
                self._retries,
                wait_s,
                extra={"component": COMPONENT},
            )
            self._sleep(wait_s)
            if self._stop.is_set():
                return None
            results.update(self.run_checks([c for c in self._checks if c.name in failing]))
        return None if self._stop.is_set() else results

    def _conclude(self, results: Mapping[str, CheckResult]) -> None:
        permanent = _permanent(results)
        if permanent:
            self._transitions.enter_error(permanent, "start-up")
            return
        failing = _failing(results)
        if not failing:
            self._transitions.enter_active("all start-up checks passed")
            return
        self.enter_waiting(failing)

    def enter_waiting(self, failing: Mapping[str, CheckResult], reason: str | None = None) -> None:
        """WAITING for ``failing`` and, when :attr:`background`, the thread that ticks."""
        if not self._transitions.enter_waiting(failing, reason) or not self.background:
            return
        with self._record.lock:
            running = self._thread is not None and self._thread.is_alive()
            if not running:
                thread = threading.Thread(target=self._loop, name="montalaq-lifecycle", daemon=True)
                self._thread = thread
        if not running:
            thread.start()

    # -- WAITING ----------------------------------------------------------------------------
    def tick(self) -> float | None:
        """One pass of the WAITING duties (re-check, status, a retry of a failed write);
        seconds until the next one is due, or None when not WAITING."""
        with self._tick_lock:
            if self._record.state != OpState.WAITING or self._stop.is_set():
                return None
            self._record.retry_persist()
            times = self._transitions.waiting
            clock = self._record.clock
            if _due(times.last_recheck, self._recheck_interval_s, clock()):
                self._recheck()
                times.last_recheck = clock()
                if self._record.state != OpState.WAITING:
                    return None
            now = clock()
            if _due(times.last_status, self._status_interval_s, now):
                times.last_status = now
                self._status(now)
            now = clock()
            next_recheck = times.last_recheck + self._recheck_interval_s - now
            next_status = times.last_status + self._status_interval_s - now
            return max(0.0, min(next_recheck, next_status))

    def _recheck(self) -> None:
        results = self.run_checks(self._checks)
        if self._stop.is_set():
            return
        permanent = _permanent(results)
        if permanent:
            self._transitions.enter_error(permanent, "WAITING re-check")
            return
        failing = _failing(results)
        record = self._record
        with record.lock:
            # A passing check clears what the cycle saw of the same dependency ("database");
            # a dependency no check covers (a provider) stays failing until the cycle sees
            # it work.
            for n, r in results.items():
                if r.ok:
                    record.runtime.pop(n, None)
        failing.update(record.runtime_failing())
        if not failing:
            self._transitions.recovered("every start-up check passes again")
            return
        with record.lock:
            if record.op.state != OpState.WAITING or set(failing) == set(record.failing):
                record.failing = dict(failing)
                return
            snap = record.refail_locked(failing)
        log.info(
            "still WAITING; failing checks now: %s",
            ", ".join(failing),
            extra={"component": COMPONENT, "op_state": "WAITING"},
        )
        record.persist(snap)

    def _status(self, now: float) -> None:
        failing = self._record.failing_now()
        waited_s = now - self._transitions.waiting.since
        log.warning(
            "still WAITING after %s: %s",
            duration_text(waited_s),
            summary(failing),
            extra={"component": COMPONENT, "op_state": "WAITING"},
        )
        self._notices.still_waiting(failing, waited_s, self._recheck_interval_s)

    def _loop(self) -> None:
        while not self._stop.is_set():
            try:
                delay_s = self.tick()
            except Exception:  # never let the re-check thread die silently
                log.exception("WAITING tick failed", extra={"component": COMPONENT})
                delay_s = self._recheck_interval_s
            if delay_s is None:
                return
            self._sleep(max(delay_s, 0.001))
