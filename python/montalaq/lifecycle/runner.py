"""Running a check: time-boxed to ``check_timeout_s``, at most one call of each check in
flight, the outcome classified (docs/semantics.md, section Lifecycle, "Checks")."""

from __future__ import annotations

import threading

from montalaq.errors import DEFAULT_TAXONOMY, ErrorCode, ErrorTaxonomy
from montalaq.lifecycle._log import COMPONENT, log
from montalaq.lifecycle.checks import CheckResult, StartupCheck, classify_exception, normalise
from montalaq.lifecycle.seconds import positive_s
from montalaq.lifecycle.timebox import run_timeboxed


class CheckRunner:
    """Runs checks time-boxed, at most one call of each check in flight."""

    def __init__(self, timeout_s: float, taxonomy: ErrorTaxonomy) -> None:
        self.timeout_s = timeout_s
        self.taxonomy = taxonomy
        self._lock = threading.Lock()
        self._inflight: dict[str, threading.Thread] = {}
        self.abandoned = 0

    def run(self, check: StartupCheck) -> CheckResult:
        """Call ``check`` once (unless its earlier call still hangs) and classify the outcome."""
        with self._lock:
            stuck = self._inflight.get(check.name)
            if stuck is not None and stuck.is_alive():
                return CheckResult.transient(
                    f"check {check.name} is still running from an earlier call (hung)",
                    ErrorCode.INGESTION_TIMEOUT,
                )
            self._inflight.pop(check.name, None)
        outcome, value, thread = run_timeboxed(check.fn, self.timeout_s, f"montalaq-check-{check.name}")
        if outcome == "timed_out":
            with self._lock:
                self._inflight[check.name] = thread
                self.abandoned += 1
            log.warning(
                "check %s did not answer within %.3g s; counted as a transient failure",
                check.name,
                self.timeout_s,
                extra={"component": COMPONENT, "check": check.name},
            )
            return CheckResult.transient(
                f"check {check.name} timed out after {self.timeout_s:.3g} s", ErrorCode.INGESTION_TIMEOUT
            )
        if outcome == "raised":
            return classify_exception(value, self.taxonomy)
        return normalise(value, check.name)


def run_check(
    check: StartupCheck, *, timeout_s: float = 30.0, taxonomy: ErrorTaxonomy | None = None
) -> CheckResult:
    """Run one check once, time-boxed to ``timeout_s`` seconds, and classify its outcome as
    :class:`~montalaq.lifecycle.Lifecycle` does (for a ``health`` command or an endpoint)."""
    return CheckRunner(positive_s("timeout_s", timeout_s), taxonomy or DEFAULT_TAXONOMY).run(check)
