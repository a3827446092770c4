"""Lifecycle (docs/semantics.md, section Lifecycle) in process: retries and back-off with a
fake sleep, WAITING duties with a fake clock, check classification and time-boxing, shutdown
budgets and idempotency, signal handling in this (main) thread."""

from __future__ import annotations

import os
import signal
import threading
import time
from collections.abc import Callable, Iterator, Mapping
from pathlib import Path
from typing import Any

import pytest

from montalaq.errors import ErrorKind, ErrorTaxonomy
from montalaq.health import OpState
from montalaq.lifecycle import (
    CheckResult,
    Lifecycle,
    ShutdownStep,
    StartupCheck,
    classify_exception,
    run_check,
)
from montalaq.store import Store


class Clock:
    """Wall seconds that only move when told to (or when the fake sleep sleeps)."""

    def __init__(self, t: float = 1_800_000_000.0) -> None:
        self.t = t
        self.sleeps: list[float] = []

    def __call__(self) -> float:
        return self.t

    def sleep(self, seconds: float) -> None:
        self.sleeps.append(seconds)
        self.t += seconds


class Recorder:
    """A NotifierLike that keeps what it was given."""

    def __init__(self) -> None:
        self.sent: list[dict[str, Any]] = []

    def notify(self, kind: str, title: str, text: str = "", **kw: Any) -> None:
        self.sent.append({"kind": kind, "title": title, "text": text, **kw})

    def states(self) -> list[str]:
        return [m["fields"]["state"] for m in self.sent if m["kind"] == "state"]


class Scripted:
    """A check returning the scripted results in turn (the last one repeats), counting calls."""

    def __init__(self, *results: Any) -> None:
        self.results = list(results)
        self.calls = 0

    def __call__(self) -> Any:
        self.calls += 1
        value = self.results[min(self.calls, len(self.results)) - 1]
        if isinstance(value, BaseException):
            raise value
        return value


@pytest.fixture
def clock() -> Clock:
    return Clock()


def make(
    checks: Mapping[str, Callable[[], Any]], clock: Clock, notifier: Recorder | None = None, **kw: Any
) -> Lifecycle:
    return Lifecycle(checks, notifier=notifier, clock=clock, sleep=clock.sleep, **kw)


# ---------------------------------------------------------------------------- retries


def test_transient_failure_is_retried_retries_times_with_doubling_waits(clock: Clock) -> None:
    check = Scripted(False)
    lc = make({"db": check}, clock, retries=3, backoff_base_s=30.0)
    assert lc.start(background=False) == OpState.WAITING
    assert check.calls == 4  # the first call and 3 retries
    assert clock.sleeps == [30.0, 60.0, 120.0]


def test_check_passing_on_a_retry_reaches_active_without_further_waits(clock: Clock) -> None:
    check = Scripted(False, False, True)
    lc = make({"db": check}, clock, retries=3, backoff_base_s=30.0)
    assert lc.start(background=False) == OpState.ACTIVE
    assert clock.sleeps == [30.0, 60.0]


def test_retry_rounds_call_only_the_checks_still_failing(clock: Clock) -> None:
    good, bad = Scripted(True), Scripted(False, True)
    lc = make({"good": good, "bad": bad}, clock, retries=3)
    assert lc.start(background=False) == OpState.ACTIVE
    assert (good.calls, bad.calls) == (1, 2)


def test_permanent_failure_is_not_retried_and_notifies_once_critical(clock: Clock) -> None:
    check = Scripted(CheckResult.permanent("bad credentials"))
    notifier = Recorder()
    lc = make({"broker": check}, clock, notifier)
    assert lc.start(background=False) == OpState.ERROR
    assert (check.calls, clock.sleeps) == (1, [])
    assert [(m["kind"], m["severity"]) for m in notifier.sent] == [("state", "CRITICAL")]
    assert "broker" in notifier.sent[0]["title"]
    assert "bad credentials" in notifier.sent[0]["text"]


def test_permanent_failure_on_a_retry_ends_the_retries_in_error(clock: Clock) -> None:
    check = Scripted(False, CheckResult.permanent("gone"))
    lc = make({"db": check}, clock, retries=3, backoff_base_s=1.0)
    assert lc.start(background=False) == OpState.ERROR
    assert clock.sleeps == [1.0]


def test_waiting_on_entry_notifies_once_with_the_failing_checks(clock: Clock) -> None:
    notifier = Recorder()
    lc = make({"db": Scripted(CheckResult.transient("refused", "PROVIDER_DISCONNECTED"))}, clock, notifier)
    lc.start(background=False)
    assert [(m["kind"], m["severity"]) for m in notifier.sent] == [("state", "WARNING")]
    assert notifier.sent[0]["fields"]["failing"]["db"]["detail"] == "refused"
    assert notifier.sent[0]["error_code"] == "PROVIDER_DISCONNECTED"


def test_second_start_runs_nothing(clock: Clock) -> None:
    check = Scripted(True)
    lc = make({"db": check}, clock)
    lc.start(background=False)
    assert lc.start(background=False) == OpState.ACTIVE
    assert check.calls == 1


# ---------------------------------------------------------------------------- WAITING duties


def waiting(clock: Clock, check: Scripted, notifier: Recorder | None = None) -> Lifecycle:
    lc = make({"db": check}, clock, notifier, retries=0, recheck_interval_s=300.0, status_interval_s=3600.0)
    assert lc.start(background=False) == OpState.WAITING
    return lc


def test_waiting_rechecks_only_once_the_recheck_interval_passed(clock: Clock) -> None:
    check = Scripted(False)
    lc = waiting(clock, check)
    clock.t += 299.0
    lc.tick()
    assert check.calls == 1
    clock.t += 1.0
    lc.tick()
    assert check.calls == 2


def test_tick_returns_the_seconds_until_the_next_duty(clock: Clock) -> None:
    lc = waiting(clock, Scripted(False))
    clock.t += 100.0
    assert lc.tick() == pytest.approx(200.0)


def test_waiting_sends_a_still_waiting_status_each_status_interval(clock: Clock) -> None:
    notifier = Recorder()
    lc = waiting(clock, Scripted(False), notifier)
    for _ in range(24):  # 7,200 s in re-check steps
        clock.t += 300.0
        lc.tick()
    statuses = [m for m in notifier.sent if m["kind"] == "status"]
    assert len(statuses) == 2
    assert [m["fields"]["waiting_s"] for m in statuses] == [3600.0, 7200.0]


def test_waiting_recovers_to_active_with_one_recovery_notification(clock: Clock) -> None:
    notifier = Recorder()
    lc = waiting(clock, Scripted(False, True), notifier)
    clock.t += 300.0
    assert lc.tick() is None  # not WAITING any more
    assert lc.state == OpState.ACTIVE
    clock.t += 3600.0
    lc.tick()
    assert notifier.states() == ["WAITING", "ACTIVE"]
    assert notifier.sent[-1]["severity"] == "INFO"


def test_permanent_failure_found_while_waiting_moves_to_error(clock: Clock) -> None:
    notifier = Recorder()
    lc = waiting(clock, Scripted(False, CheckResult.permanent("revoked")), notifier)
    clock.t += 300.0
    lc.tick()
    assert lc.state == OpState.ERROR
    assert notifier.states() == ["WAITING", "ERROR"]


def test_background_thread_rechecks_and_reaches_active() -> None:
    check = Scripted(False, False, True)
    lc = Lifecycle({"db": check}, retries=0, recheck_interval_s=0.02, status_interval_s=60.0)
    try:
        assert lc.start() == OpState.WAITING
        assert lc.wait_until_active(5.0)
    finally:
        lc.shutdown("test over")


def test_wait_until_active_returns_false_at_once_in_error(clock: Clock) -> None:
    lc = make({"db": Scripted(CheckResult.permanent("no"))}, clock)
    lc.start(background=False)
    t0 = time.monotonic()
    assert lc.wait_until_active(5.0) is False
    assert time.monotonic() - t0 < 1.0


def test_restart_from_error_runs_the_checks_again(clock: Clock) -> None:
    check = Scripted(CheckResult.permanent("config"), True)
    lc = make({"db": check}, clock)
    lc.start(background=False)
    assert lc.restart("fixed the config") == OpState.ACTIVE
    assert [(h["from"], h["to"]) for h in lc.history()] == [
        ("STARTING", "ERROR"),
        ("ERROR", "STARTING"),
        ("STARTING", "ACTIVE"),
    ]


def test_restart_outside_error_raises_value_error(clock: Clock) -> None:
    lc = make({"db": Scripted(True)}, clock)
    lc.start(background=False)
    with pytest.raises(ValueError, match="only from ERROR"):
        lc.restart()


# ---------------------------------------------------------------------------- classification


@pytest.mark.parametrize(
    ("exc", "kind", "code"),
    [
        (TimeoutError("slow"), ErrorKind.TRANSIENT, "INGESTION_TIMEOUT"),
        (ConnectionRefusedError("refused"), ErrorKind.TRANSIENT, "PROVIDER_DISCONNECTED"),
        (RuntimeError("bug"), ErrorKind.PERMANENT, "ANALYSIS_ERR"),
        (KeyError("missing"), ErrorKind.PERMANENT, "UNKNOWN"),
    ],
)
def test_exceptions_are_classified_by_their_taxonomy_code(exc: Exception, kind: ErrorKind, code: str) -> None:
    result = run_check(StartupCheck("c", Scripted(exc)))
    assert (result.ok, result.kind, result.error_code) == (False, kind, code)


def test_registered_exception_follows_its_registered_kind() -> None:
    class BrokerBusyError(Exception):
        pass

    taxonomy = ErrorTaxonomy()
    taxonomy.register_code("BROKER_BUSY", ErrorKind.TRANSIENT)
    taxonomy.register_exception(BrokerBusyError, "BROKER_BUSY")
    result = classify_exception(BrokerBusyError("try later"), taxonomy)
    assert (result.kind, result.error_code) == (ErrorKind.TRANSIENT, "BROKER_BUSY")


@pytest.mark.parametrize(
    ("value", "ok", "kind"),
    [
        (True, True, None),
        (None, True, None),
        (False, False, ErrorKind.TRANSIENT),
        (42, False, ErrorKind.PERMANENT),
    ],
)
def test_plain_return_values_map_to_results(value: Any, ok: bool, kind: ErrorKind | None) -> None:
    result = run_check(StartupCheck("c", lambda: value))
    assert (result.ok, result.kind) == (ok, kind)


def test_failing_result_without_a_kind_is_rejected() -> None:
    with pytest.raises(ValueError, match="kind"):
        CheckResult(False)


@pytest.fixture
def release() -> Iterator[threading.Event]:
    event = threading.Event()
    yield event
    event.set()  # let the abandoned check threads end


def test_hung_check_is_a_transient_failure_after_check_timeout(release: threading.Event) -> None:
    t0 = time.monotonic()
    result = run_check(StartupCheck("hangs", release.wait), timeout_s=0.1)
    assert time.monotonic() - t0 < 1.0
    assert (result.kind, result.error_code) == (ErrorKind.TRANSIENT, "INGESTION_TIMEOUT")
    assert "timed out" in result.detail


def test_hung_check_is_not_called_again_while_its_first_call_still_runs(
    release: threading.Event, clock: Clock
) -> None:
    calls: list[int] = []

    def hangs() -> bool:
        calls.append(1)
        return release.wait()

    lc = make({"hangs": hangs}, clock, retries=2, check_timeout_s=0.05)
    assert lc.start(background=False) == OpState.WAITING
    assert len(calls) == 1
    assert lc.abandoned_checks == 1
    assert "still running" in lc.failing()["hangs"].detail


# ---------------------------------------------------------------------------- persistence


def test_state_changes_are_persisted_with_the_failing_checks(tmp_path: Path, clock: Clock) -> None:
    with Store(f"sqlite:///{tmp_path / 'x.db'}") as store:
        lc = make({"db": Scripted(CheckResult.transient("refused"))}, clock, store=store, retries=0)
        lc.start(background=False)
        row = store.load_operational_state()
    assert row is not None
    assert row["state"] == "WAITING"
    assert row["details"] is not None
    assert row["details"]["failing"]["db"] == {"kind": "TRANSIENT", "detail": "refused", "error_code": None}
    assert row["entered_at"].timestamp() == pytest.approx(clock.t, abs=1e-3)


def test_failing_store_does_not_stop_the_start(clock: Clock) -> None:
    class BrokenStore:
        def save_operational_state(self, *args: Any, **kwargs: Any) -> None:
            raise ConnectionError("database down")

    lc = make({"db": Scripted(True)}, clock, store=BrokenStore())
    assert lc.start(background=False) == OpState.ACTIVE


# ---------------------------------------------------------------------------- shutdown


def test_step_never_gets_more_than_what_is_left_of_the_budget(release: threading.Event) -> None:
    steps = [
        ShutdownStep("first", release.wait, 0.3),
        ShutdownStep("second", release.wait, 5.0),
        ShutdownStep("third", lambda: None, 1.0),
    ]
    report = Lifecycle(shutdown_steps=steps, shutdown_budget_s=0.5).shutdown()
    first, second, third = report.steps
    assert (first.outcome, second.outcome, third.outcome) == ("timed_out", "timed_out", "skipped")
    assert first.budget_s == pytest.approx(0.3, abs=0.01)
    assert second.budget_s <= 0.5 - first.elapsed_s + 0.01
    assert third.error == "no shutdown budget left"
    assert report.elapsed_s < 0.5 + 0.2


def test_raising_step_is_isolated_and_the_next_step_runs() -> None:
    ran: list[str] = []

    def boom() -> None:
        raise OSError("broker socket closed")

    steps = {"cancel_orders": boom, "close_positions": lambda: ran.append("close_positions")}
    report = Lifecycle(shutdown_steps=steps).shutdown()
    assert [s.outcome for s in report.steps[:2]] == ["failed", "ok"]
    assert "broker socket closed" in (report.steps[0].error or "")
    assert ran == ["close_positions"]


def test_steps_run_in_spec_order_and_missing_ones_are_skipped() -> None:
    ran: list[str] = []
    steps = {name: (lambda n=name: ran.append(n)) for name in ("disconnect", "cancel_orders", "save_state")}
    report = Lifecycle(shutdown_steps=steps).shutdown()
    assert ran == ["cancel_orders", "save_state", "disconnect"]
    assert [(s.name, s.outcome) for s in report.steps] == [
        ("cancel_orders", "ok"),
        ("close_positions", "skipped"),
        ("save_state", "ok"),
        ("final_notification", "skipped"),
        ("disconnect", "ok"),
    ]


def test_unknown_step_name_in_a_mapping_raises_value_error() -> None:
    with pytest.raises(ValueError, match="cancel_order"):
        Lifecycle(shutdown_steps={"cancel_order": lambda: None})


def test_default_final_notification_sends_shutting_down() -> None:
    notifier = Recorder()
    report = Lifecycle(notifier=notifier).shutdown("deploy")
    assert [m["title"] for m in notifier.sent] == ["montalaq shutting down"]
    assert notifier.sent[0]["fields"]["reason"] == "deploy"
    assert report.steps[3].outcome == "ok"


def test_shutdown_twice_returns_the_first_report_and_runs_steps_once() -> None:
    ran: list[str] = []
    lc = Lifecycle(shutdown_steps={"save_state": lambda: ran.append("save_state")})
    first = lc.shutdown("one")
    assert lc.shutdown("two") is first
    assert ran == ["save_state"]
    assert lc.state == OpState.SHUTDOWN


def test_concurrent_shutdown_waits_for_and_returns_the_first_report(release: threading.Event) -> None:
    lc = Lifecycle(shutdown_steps={"cancel_orders": lambda: release.wait(0.3)})
    reports: list[Any] = []
    thread = threading.Thread(target=lambda: reports.append(lc.shutdown("first")))
    thread.start()
    time.sleep(0.05)
    second = lc.shutdown("second")
    thread.join(5)
    assert second is reports[0]
    assert second.reason == "first"


def test_shutdown_cuts_the_startup_backoff_wait_short() -> None:
    lc = Lifecycle({"db": lambda: False}, retries=3, backoff_base_s=30.0)
    result: list[OpState] = []
    thread = threading.Thread(target=lambda: result.append(lc.start()))
    thread.start()
    time.sleep(0.1)
    lc.shutdown("stop")
    thread.join(2.0)
    assert result == [OpState.SHUTDOWN]


def test_shutdown_report_persists_as_shutdown(tmp_path: Path) -> None:
    with Store(f"sqlite:///{tmp_path / 'x.db'}") as store:
        Lifecycle(store=store).shutdown("maintenance")
        row = store.load_operational_state()
    assert row is not None
    assert (row["state"], row["reason"]) == ("SHUTDOWN", "maintenance")
    assert row["details"] is not None
    assert row["details"]["shutdown"]["persisted"] is True


# ---------------------------------------------------------------------------- signals


def test_install_signal_handlers_off_the_main_thread_raises_value_error() -> None:
    errors: list[BaseException] = []

    def install() -> None:
        try:
            Lifecycle().install_signal_handlers()
        except BaseException as exc:
            errors.append(exc)

    thread = threading.Thread(target=install)
    thread.start()
    thread.join(5)
    assert len(errors) == 1
    assert isinstance(errors[0], ValueError)


def _deliver(signum: int, until: Callable[[], bool], timeout_s: float = 5.0) -> None:
    os.kill(os.getpid(), signum)
    deadline = time.monotonic() + timeout_s
    while not until() and time.monotonic() < deadline:
        time.sleep(0.01)  # the handler runs in this (main) thread between bytecodes


@pytest.mark.parametrize(("signum", "code"), [(signal.SIGTERM, 0), (signal.SIGINT, 130)])
def test_signal_runs_the_shutdown_then_on_exit_with_its_code(signum: int, code: int) -> None:
    exits: list[int] = []
    lc = Lifecycle()
    lc.install_signal_handlers(on_exit=exits.append)
    try:
        _deliver(signum, lambda: bool(exits))
    finally:
        lc.restore_signal_handlers()
    assert exits == [code]
    assert lc.state == OpState.SHUTDOWN


def test_default_on_exit_raises_system_exit_with_the_code() -> None:
    lc = Lifecycle()
    lc.install_signal_handlers()
    try:
        with pytest.raises(SystemExit) as info:
            _deliver(signal.SIGINT, lambda: False)
    finally:
        lc.restore_signal_handlers()
    assert info.value.code == 130


def test_signal_after_the_first_is_ignored() -> None:
    exits: list[int] = []
    lc = Lifecycle()
    lc.install_signal_handlers(on_exit=exits.append)
    try:
        _deliver(signal.SIGTERM, lambda: bool(exits))
        _deliver(signal.SIGINT, lambda: len(exits) > 1, timeout_s=0.3)
    finally:
        lc.restore_signal_handlers()
    assert exits == [0]


# ------------------------------------------------------------------------------ run time


def active(clock: Clock, notifier: Recorder, **kw: Any) -> Lifecycle:
    lc = make({"database": lambda: True}, clock, notifier, **kw)
    assert lc.start(background=False) == OpState.ACTIVE
    return lc


def test_a_dependency_failing_for_n_cycles_moves_active_to_waiting_once(clock: Clock) -> None:
    rec = Recorder()
    lc = active(clock, rec, runtime_failure_cycles=3, runtime_failure_min_s=10)
    for _ in range(2):
        clock.t += 6
        assert lc.report("provider:feed", ConnectionError("reset")) == OpState.ACTIVE
    clock.t += 6
    assert lc.report("provider:feed", ConnectionError("reset")) == OpState.WAITING
    assert "provider:feed failing for 3 cycles" in lc.reason
    lc.report("provider:feed", ConnectionError("reset"))  # still failing: no second message
    assert rec.states() == ["WAITING"]
    assert set(lc.failing()) == {"provider:feed"}


def test_n_cycles_inside_the_minimum_time_do_not_move_the_state(clock: Clock) -> None:
    lc = active(clock, Recorder(), runtime_failure_cycles=2, runtime_failure_min_s=10)
    for _ in range(5):
        clock.t += 1
        lc.report("database", TimeoutError("slow"))
    assert lc.state == OpState.ACTIVE
    clock.t += 10
    assert lc.report("database", TimeoutError("slow")) == OpState.WAITING


def test_a_pass_resets_the_streak(clock: Clock) -> None:
    lc = active(clock, Recorder(), runtime_failure_cycles=2, runtime_failure_min_s=0)
    lc.report("database", TimeoutError("slow"))
    lc.report("database", None)
    lc.report("database", TimeoutError("slow"))
    assert lc.state == OpState.ACTIVE
    assert lc.report("database", TimeoutError("slow")) == OpState.WAITING


def test_recovery_moves_back_to_active_with_one_recovery_message(clock: Clock) -> None:
    rec = Recorder()
    lc = active(clock, rec, runtime_failure_cycles=1, runtime_failure_min_s=0)
    lc.report("provider:a", ConnectionError("down"))
    lc.report("provider:b", ConnectionError("down"))
    assert lc.state == OpState.WAITING
    assert lc.report("provider:a", None) == OpState.WAITING  # b still fails
    clock.t += 30
    assert lc.report("provider:b", None) == OpState.ACTIVE
    assert lc.report("provider:b", None) == OpState.ACTIVE
    assert rec.states() == ["WAITING", "ACTIVE"]
    assert "recovered" in rec.sent[-1]["title"]


def test_a_permanent_failure_at_run_time_is_error_at_once(clock: Clock) -> None:
    rec = Recorder()
    lc = active(clock, rec, runtime_failure_cycles=5)
    result = CheckResult.permanent("credentials rejected", "UNKNOWN")
    assert lc.report("provider:broker", result) == OpState.ERROR
    assert rec.states() == ["ERROR"]


def test_an_unclassified_exception_at_run_time_counts_as_transient(clock: Clock) -> None:
    lc = active(clock, Recorder(), runtime_failure_cycles=1, runtime_failure_min_s=0)
    # ValueError and RuntimeError map to UNKNOWN / ANALYSIS_ERR (PERMANENT at start-up), but
    # something that worked and then raised may work again: WAITING, not ERROR.
    assert lc.report("provider:x", ValueError("bad frame")) == OpState.WAITING
    assert lc.failing()["provider:x"].kind is ErrorKind.TRANSIENT


def test_a_recheck_that_passes_clears_the_same_dependency_seen_by_the_cycle(clock: Clock) -> None:
    rec = Recorder()
    db = Scripted(True, False, True)
    lc = make(
        {"database": db}, clock, rec, recheck_interval_s=5, runtime_failure_cycles=1, runtime_failure_min_s=0
    )
    assert lc.start(background=False) == OpState.ACTIVE
    assert lc.report("database", ConnectionError("gone")) == OpState.WAITING
    clock.t += 5
    lc.tick()  # the check still fails
    assert lc.state == OpState.WAITING
    clock.t += 5
    lc.tick()  # it passes: the cycle's failure of the same dependency is cleared with it
    assert lc.state == OpState.ACTIVE
    assert rec.states() == ["WAITING", "ACTIVE"]


def test_a_recheck_does_not_clear_a_dependency_no_check_covers(clock: Clock) -> None:
    lc = make(
        {"database": lambda: True},
        clock,
        Recorder(),
        recheck_interval_s=5,
        runtime_failure_cycles=1,
        runtime_failure_min_s=0,
    )
    lc.start(background=False)
    lc.report("provider:feed", ConnectionError("down"))
    clock.t += 5
    lc.tick()
    assert lc.state == OpState.WAITING
    assert lc.report("provider:feed", None) == OpState.ACTIVE


def test_assume_active_marks_an_unstarted_lifecycle_active_without_checks(clock: Clock) -> None:
    calls = Scripted(False)
    lc = make({"database": calls}, clock, Recorder())
    assert lc.assume_active() == OpState.ACTIVE
    assert calls.calls == 0
    assert lc.start() == OpState.ACTIVE  # started already: nothing runs
    assert calls.calls == 0


def test_report_refuses_what_is_not_an_outcome(clock: Clock) -> None:
    lc = active(clock, Recorder())
    with pytest.raises(TypeError, match="outcome"):
        lc.report("database", "broken")  # type: ignore[arg-type]


# ------------------------------------------------------------------------------ the package


def test_the_package_exports_every_name_of_the_former_single_module() -> None:
    """Issue 17 turned montalaq/lifecycle.py into a package: its import paths keep working."""
    import montalaq.lifecycle as package

    # A pinned copy on purpose: it must not follow __all__ when a name is dropped there.
    former = {
        "DEFAULT_SHUTDOWN_STEPS",
        "EXIT_CODES",
        "CheckFn",
        "CheckResult",
        "Lifecycle",
        "NotifierLike",
        "ShutdownReport",
        "ShutdownStep",
        "StartupCheck",
        "StateStore",
        "StepOutcome",
        "StepReport",
        "builtin_checks",
        "classify_exception",
        "lifecycle_from_settings",
        "run_check",
    }
    assert set(package.__all__) == former
    assert all(getattr(package, name, None) is not None for name in former)
