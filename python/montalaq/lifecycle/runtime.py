"""Run-time reports: the process's own cycle says which dependency worked or failed, and a
streak of failures moves ACTIVE to WAITING (docs/semantics.md, section "Lifecycle at run
time")."""

from __future__ import annotations

from collections.abc import Callable

from montalaq.errors import ErrorKind, ErrorTaxonomy
from montalaq.health import OpState
from montalaq.lifecycle.checks import CheckResult, classify_exception
from montalaq.lifecycle.scheduler import CheckScheduler
from montalaq.lifecycle.seconds import duration_text
from montalaq.lifecycle.state import StateRecord
from montalaq.lifecycle.transitions import Transitions

# The taxonomy's catch-alls (anything unmapped, any RuntimeError): at run time they say
# nothing about whether waiting helps.
_CATCH_ALL_CODES = frozenset({"UNKNOWN", "ANALYSIS_ERR"})

_Action = Callable[[], object]


class RuntimeReports:
    """Keeps each dependency's failure streak in ``record.runtime`` and moves the state when
    a streak reaches ``cycles`` consecutive failures spanning ``min_s`` seconds."""

    def __init__(
        self,
        record: StateRecord,
        transitions: Transitions,
        scheduler: CheckScheduler,
        taxonomy: ErrorTaxonomy,
        *,
        cycles: int,
        min_s: float,
    ) -> None:
        self._record = record
        self._transitions = transitions
        self._scheduler = scheduler
        self._taxonomy = taxonomy
        self._cycles = cycles
        self._min_s = min_s

    def report(self, name: str, outcome: CheckResult | BaseException | None) -> OpState:
        """Record one observation of ``name`` and return the state after it (see
        :meth:`montalaq.lifecycle.Lifecycle.report`)."""
        result = self._as_result(outcome)
        now = self._record.clock()
        record = self._record
        with record.lock:
            state = record.op.state
            if result.ok and record.runtime.pop(name, None) is None and name not in record.failing:
                return state
            if result.ok:
                action = self._after_pass(name, state)
            else:
                action = self._after_failure(name, result, state, now)
        if action is not None:
            action()
        return record.state

    def _as_result(self, outcome: CheckResult | BaseException | None) -> CheckResult:
        if isinstance(outcome, CheckResult):
            return outcome
        if isinstance(outcome, BaseException):
            result = classify_exception(outcome, self._taxonomy)
            if result.error_code in _CATCH_ALL_CODES:
                # Something that worked before raised an unclassified error: waiting may
                # help, so it counts as transient. Only a code registered PERMANENT (rejected
                # credentials, say) stops the process at run time.
                return CheckResult.transient(result.detail, result.error_code)
            return result
        if outcome is None:
            return CheckResult.passed()
        raise TypeError(
            f"outcome: expected None, a CheckResult or an exception, got {type(outcome).__name__}"
        )

    def _after_pass(self, name: str, state: OpState) -> _Action | None:
        """``name`` works again (its streak is gone); caller holds the lock."""
        record = self._record
        if state != OpState.WAITING or name not in record.failing:
            return None
        left = {n: r for n, r in record.failing.items() if n != name}
        if not left:
            return lambda: self._transitions.recovered(f"{name} works again")
        snap = record.refail_locked(left)
        return lambda: record.persist(snap)

    def _after_failure(self, name: str, result: CheckResult, state: OpState, now: float) -> _Action | None:
        """``name`` failed once more; caller holds the lock."""
        record = self._record
        count, first, _ = record.runtime.get(name, (0, now, result))
        count += 1
        record.runtime[name] = (count, first, result)
        failing = {n: r for n, (_, _, r) in record.runtime.items()}
        if state in (OpState.ACTIVE, OpState.WAITING) and result.kind is ErrorKind.PERMANENT:
            return lambda: self._transitions.enter_error({name: result}, "run time")
        if state == OpState.ACTIVE:
            if count >= self._cycles and now - first >= self._min_s:
                reason = f"{name} failing for {count} cycles ({duration_text(now - first)}): {result.detail}"
                return lambda: self._scheduler.enter_waiting(failing, reason)
            return None
        if state == OpState.WAITING and name not in record.failing:
            snap = record.refail_locked({**record.failing, name: result})
            return lambda: record.persist(snap)
        return None
