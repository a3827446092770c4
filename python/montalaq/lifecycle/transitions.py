"""The moves between ACTIVE, WAITING and ERROR, each with its one notification, and the
times WAITING keeps (docs/semantics.md, section Lifecycle, "Start-up")."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

from montalaq.health import OpState
from montalaq.lifecycle.checks import CheckResult, summary
from montalaq.lifecycle.notices import Notices
from montalaq.lifecycle.seconds import duration_text
from montalaq.lifecycle.state import StateRecord


@dataclass
class WaitingTimes:
    """Wall seconds (the lifecycle's clock) at which WAITING was entered and its re-check
    and "still waiting" status last ran."""

    since: float = 0.0
    last_recheck: float = 0.0
    last_status: float = 0.0


class Transitions:
    """Enter a state through ``record`` and tell operators through ``notices``; a move that
    changes nothing (already there, or shutting down) notifies nobody."""

    def __init__(
        self, record: StateRecord, notices: Notices, *, retries: int, recheck_interval_s: float
    ) -> None:
        self._record = record
        self._notices = notices
        self._retries = retries
        self._recheck_interval_s = recheck_interval_s
        self.waiting = WaitingTimes()

    def enter_active(self, reason: str) -> None:
        """ACTIVE without a notification (a clean start pages nobody)."""
        self._record.transition(OpState.ACTIVE, reason, {})

    def enter_error(self, permanent: Mapping[str, CheckResult], when: str) -> None:
        """ERROR for the PERMANENT failures in ``permanent`` seen ``when`` ("start-up")."""
        reason = f"permanent failure in {when}: {summary(permanent)}"
        previous = self._record.transition(OpState.ERROR, reason, permanent)
        if previous is not None:
            self._notices.error(previous, permanent)

    def enter_waiting(self, failing: Mapping[str, CheckResult], reason: str | None = None) -> bool:
        """WAITING for ``failing``; True when the state changed (the WAITING duties start)."""
        if reason is None:
            reason = f"transient failure persisting after {self._retries} retries: {summary(failing)}"
        previous = self._record.transition(OpState.WAITING, reason, failing)
        if previous is None:
            return False
        now = self._record.clock()
        with self._record.lock:
            self.waiting.last_recheck = self.waiting.last_status = self.waiting.since = now
        self._notices.waiting(previous, failing, self._recheck_interval_s)
        return True

    def recovered(self, detail: str) -> None:
        """Back to ACTIVE from WAITING, with one recovery notification."""
        waited_s = self._record.clock() - self.waiting.since
        previous = self._record.transition(OpState.ACTIVE, f"{detail} after {duration_text(waited_s)}", {})
        if previous is not None:
            self._notices.recovered(previous, detail, waited_s)
