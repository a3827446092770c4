"""What the lifecycle tells operators, and in which words: ERROR, WAITING, recovery, "still
waiting" (docs/semantics.md, section Lifecycle, "Notifications"). A failing notifier is
logged, never raised."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from montalaq.health import OpState
from montalaq.lifecycle._log import COMPONENT, log
from montalaq.lifecycle.checks import CheckResult, describe, failing_details, first_code, summary
from montalaq.lifecycle.protocols import NotifierLike
from montalaq.lifecycle.seconds import duration_text


class Notices:
    """The state notifications of the lifecycle called ``name`` (shown in the titles)."""

    def __init__(self, name: str, notifier: NotifierLike | None) -> None:
        self.name = name
        self.notifier = notifier

    def send(
        self, kind: str, title: str, text: str, severity: str, fields: Mapping[str, Any], code: str | None
    ) -> None:
        """Queue one event; a failure is logged (a notification never breaks the lifecycle)."""
        if self.notifier is None:
            return
        try:
            self.notifier.notify(kind, title, text, severity=severity, fields=fields, error_code=code)
        except Exception as exc:  # a notification never breaks the lifecycle
            log.error(
                "notification %r failed: %s",
                title,
                describe(exc),
                extra={"component": COMPONENT},
            )

    def error(self, previous: OpState, permanent: Mapping[str, CheckResult]) -> None:
        """ERROR entered: one CRITICAL notification."""
        self.send(
            "state",
            f"{self.name} ERROR: check {', '.join(permanent)} failed permanently",
            f"{summary(permanent)}. The process stays up and idle until an operator acts.",
            "CRITICAL",
            {"state": "ERROR", "previous": previous.name, "failing": failing_details(permanent)},
            first_code(permanent),
        )

    def waiting(self, previous: OpState, failing: Mapping[str, CheckResult], recheck_s: float) -> None:
        """WAITING entered: one WARNING notification."""
        self.send(
            "state",
            f"{self.name} WAITING: {', '.join(failing)} failing",
            f"{summary(failing)}. Re-checking every {recheck_s:g} s.",
            "WARNING",
            {"state": "WAITING", "previous": previous.name, "failing": failing_details(failing)},
            first_code(failing),
        )

    def still_waiting(self, failing: Mapping[str, CheckResult], waited_s: float, recheck_s: float) -> None:
        """Each ``status_interval_s`` in WAITING: a WARNING status."""
        self.send(
            "status",
            f"{self.name} still waiting ({duration_text(waited_s)}): {', '.join(failing)} failing",
            f"{summary(failing)}. Re-checking every {recheck_s:g} s.",
            "WARNING",
            {"state": "WAITING", "waiting_s": round(waited_s, 3), "failing": failing_details(failing)},
            first_code(failing),
        )

    def recovered(self, previous: OpState, detail: str, waited_s: float) -> None:
        """Back to ACTIVE from WAITING: one INFO notification."""
        self.send(
            "state",
            f"{self.name} ACTIVE: recovered after {duration_text(waited_s)}",
            f"{detail}.",
            "INFO",
            {"state": "ACTIVE", "previous": previous.name, "waited_s": round(waited_s, 3)},
            None,
        )
