"""The generic CircuitBreaker (docs/semantics.md, Health core): count mode and rate mode with their edges, the
cooldown, HALF_OPEN probes, the probe timeout, operator states, history and counts, the
sync/async decorator and context managers, CircuitOpenError, exclusions, JSON snapshots.
Time is passed explicitly (``now``) except where the wall clock is the point."""

from __future__ import annotations

import asyncio
import json
import time

import pytest

import montalaq
from montalaq import BreakerState, CircuitBreaker, CircuitOpenError, ErrorCode

SEC = 1_000_000_000
T0 = 1_723_161_600 * SEC
CLOSED, OPEN, HALF_OPEN = BreakerState.CLOSED, BreakerState.OPEN, BreakerState.HALF_OPEN
FORCED_OPEN, DISABLED = BreakerState.FORCED_OPEN, BreakerState.DISABLED


def opened(cb: CircuitBreaker, at: int = T0) -> CircuitBreaker:
    """Trip a count-mode breaker at ``at`` with failure_threshold failures."""
    n = json.loads(cb.to_json())["config"]["failure_threshold"]
    for _ in range(n):
        cb.record_failure(at)
    assert cb.state(at) == OPEN
    return cb


# --------------------------------------------------------------------------- count mode


def test_defaults() -> None:
    cfg = json.loads(CircuitBreaker().to_json())["config"]
    assert cfg["mode"] == "count"
    assert cfg["failure_threshold"] == 5
    assert cfg["window_ns"] == 300 * SEC
    assert cfg["cooldown_ns"] == 120 * SEC
    assert cfg["half_open_calls"] == 1
    assert CircuitBreaker().state(T0) == CLOSED


def test_count_mode_opens_on_the_fifth_failure() -> None:
    cb = CircuitBreaker()
    for i in range(4):
        assert cb.allow(T0 + i)
        cb.record_failure(T0 + i)
        assert cb.state(T0 + i) == CLOSED
    assert cb.counts(T0 + 4)["window_failures"] == 4
    cb.record_failure(T0 + 4)
    assert cb.state(T0 + 4) == OPEN
    assert not cb.allow(T0 + 5)


def test_successes_do_not_reset_the_failure_count() -> None:
    cb = CircuitBreaker(failure_threshold=3)
    for i in range(3):
        cb.record_failure(T0 + i * SEC)
        cb.record_success(T0 + i * SEC + 1)
    assert cb.state(T0 + 3 * SEC) == OPEN


def test_count_window_edge() -> None:
    # five failures spanning exactly window - 1 ns: open
    cb = CircuitBreaker(failure_threshold=5, window_s=300)
    for t in (0, 1, 2, 3):
        cb.record_failure(T0 + t * SEC)
    cb.record_failure(T0 + 300 * SEC - 1)
    assert cb.state(T0 + 300 * SEC) == OPEN
    # five failures spanning exactly the window: the first one is no longer "within" it
    cb = CircuitBreaker(failure_threshold=5, window_s=300)
    for t in (0, 1, 2, 3):
        cb.record_failure(T0 + t * SEC)
    cb.record_failure(T0 + 300 * SEC)
    assert cb.state(T0 + 300 * SEC) == CLOSED
    assert cb.counts(T0 + 300 * SEC)["window_failures"] == 4
    # ... and the next one inside the window of the last five opens it
    cb.record_failure(T0 + 300 * SEC + 1)
    assert cb.state(T0 + 300 * SEC + 1) == OPEN


def test_count_window_slides() -> None:
    cb = CircuitBreaker(failure_threshold=3, window_s=10)
    for t in (0, 6, 12, 18, 24):  # never three within 10 s
        cb.record_failure(T0 + t * SEC)
        assert cb.state(T0 + t * SEC) == CLOSED
    cb.record_failure(T0 + 25 * SEC)  # 18, 24, 25
    assert cb.state(T0 + 25 * SEC) == OPEN


def test_threshold_one() -> None:
    cb = CircuitBreaker(failure_threshold=1)
    cb.record_failure(T0)
    assert cb.state(T0) == OPEN


# --------------------------------------------------------------------------- cooldown, half open


def test_cooldown_edge_exactly_120s() -> None:
    cb = opened(CircuitBreaker())
    assert cb.retry_after_ns(T0) == 120 * SEC
    assert cb.retry_after_ns(T0 + 100 * SEC) == 20 * SEC
    assert not cb.allow(T0 + 120 * SEC - 1)
    assert cb.state(T0 + 120 * SEC - 1) == OPEN
    assert cb.retry_after_ns(T0 + 120 * SEC - 1) == 1
    assert cb.state(T0 + 120 * SEC) == HALF_OPEN
    assert cb.retry_after_ns(T0 + 120 * SEC) is None
    assert cb.allow(T0 + 120 * SEC)  # the probe
    assert not cb.allow(T0 + 120 * SEC + 1)  # only one
    cb.record_success(T0 + 121 * SEC)
    assert cb.state(T0 + 121 * SEC) == CLOSED
    assert cb.allow(T0 + 121 * SEC)


def test_allow_alone_moves_open_to_half_open() -> None:
    cb = opened(CircuitBreaker())
    assert cb.allow(T0 + 120 * SEC)
    assert cb.state(T0 + 120 * SEC) == HALF_OPEN


def test_failed_probe_reopens_with_a_fresh_cooldown() -> None:
    cb = opened(CircuitBreaker())
    t = T0 + 130 * SEC
    assert cb.allow(t)
    cb.record_failure(t + SEC)
    assert cb.state(t + SEC) == OPEN
    assert cb.retry_after_ns(t + SEC) == 120 * SEC
    assert not cb.allow(t + SEC + 120 * SEC - 1)
    assert cb.state(t + SEC + 120 * SEC) == HALF_OPEN


def test_counts_are_reset_after_closing() -> None:
    cb = opened(CircuitBreaker(failure_threshold=3))
    assert cb.allow(T0 + 120 * SEC)
    cb.record_success(T0 + 120 * SEC)
    assert cb.state(T0 + 120 * SEC) == CLOSED
    assert cb.counts(T0 + 120 * SEC)["window_failures"] == 0
    # it takes a full threshold again
    cb.record_failure(T0 + 121 * SEC)
    cb.record_failure(T0 + 121 * SEC)
    assert cb.state(T0 + 121 * SEC) == CLOSED
    cb.record_failure(T0 + 121 * SEC)
    assert cb.state(T0 + 121 * SEC) == OPEN


def test_several_half_open_calls() -> None:
    cb = opened(CircuitBreaker(half_open_calls=3))
    t = T0 + 120 * SEC
    assert [cb.allow(t) for _ in range(4)] == [True, True, True, False]
    cb.record_success(t)
    cb.record_success(t)
    assert cb.state(t) == HALF_OPEN  # all three must succeed
    cb.record_success(t)
    assert cb.state(t) == CLOSED


def test_several_half_open_calls_one_failure_reopens() -> None:
    cb = opened(CircuitBreaker(half_open_calls=3))
    t = T0 + 120 * SEC
    for _ in range(3):
        cb.allow(t)
    cb.record_success(t)
    cb.record_failure(t + 1)
    assert cb.state(t + 1) == OPEN
    assert cb.retry_after_ns(t + 1) == 120 * SEC


def test_probe_timeout_reopens() -> None:
    cb = opened(CircuitBreaker())  # half_open_max_wait defaults to the cooldown
    t = T0 + 120 * SEC
    assert cb.allow(t)
    assert cb.state(t + 120 * SEC - 1) == HALF_OPEN
    assert cb.state(t + 120 * SEC) == OPEN
    hist = cb.history()
    assert hist[-1]["from"] == "HALF_OPEN"
    assert hist[-1]["to"] == "OPEN"
    assert hist[-1]["reason"] == "half-open probes did not report in time"
    assert hist[-1]["at_ns"] == t + 120 * SEC
    assert cb.retry_after_ns(t + 120 * SEC) == 120 * SEC  # a fresh cooldown


def test_probe_timeout_setting_and_no_timeout_without_probes() -> None:
    cb = opened(CircuitBreaker(half_open_max_wait_s=5))
    t = T0 + 3600 * SEC  # nobody called for an hour after the cooldown
    assert cb.allow(t)  # OPEN -> HALF_OPEN, probe handed out
    assert cb.state(t + 5 * SEC - 1) == HALF_OPEN
    assert not cb.allow(t + 5 * SEC)  # the probe timed out: OPEN again, rejected
    assert cb.state(t + 5 * SEC) == OPEN
    assert cb.retry_after_ns(t + 5 * SEC) == 120 * SEC


def test_half_open_without_probes_never_times_out() -> None:
    cb = opened(CircuitBreaker(half_open_max_wait_s=5))
    assert cb.state(T0 + 120 * SEC) == HALF_OPEN
    assert cb.state(T0 + 10**6 * SEC) == HALF_OPEN  # no probe handed out: nothing to wait for


def test_bug_probe_timeout_counts_from_half_open_entry_not_from_the_probe() -> None:
    """The probe deadline is measured from the moment the breaker became HALF_OPEN, not
    from the moment the probe was handed out. A monitor polling state() after the cooldown
    sets that moment; a probe handed out later than max_wait after it is declared timed
    out on the very next check, a nanosecond after it started. Repro (max wait 5 s):
    open at T0; state(T0+120s) -> HALF_OPEN; allow(T0+1h) -> True (probe);
    state(T0+1h+1ns) -> OPEN "half-open probes did not report in time"."""
    cb = opened(CircuitBreaker(half_open_max_wait_s=5))
    assert cb.state(T0 + 120 * SEC) == HALF_OPEN  # e.g. a status page polling
    t = T0 + 3600 * SEC
    assert cb.allow(t)
    assert cb.state(t + 1) == HALF_OPEN
    cb.record_success(t + SEC)
    assert cb.state(t + SEC) == CLOSED


def test_bug_probe_timeout_depends_on_whether_someone_polled() -> None:
    """record_success/record_failure do not apply the clock first, so a probe that reports
    after half_open_max_wait_s closes the breaker if nobody looked at it in between, but
    is ignored (breaker stays OPEN) if anybody called state() in between: a read changes
    the outcome. Repro (max wait 5 s): allow(t) probe; record_success(t+10s) -> CLOSED;
    versus allow(t); state(t+6s) -> OPEN; record_success(t+10s) -> stays OPEN."""
    polled = opened(CircuitBreaker(half_open_max_wait_s=5))
    quiet = opened(CircuitBreaker(half_open_max_wait_s=5))
    t = T0 + 120 * SEC
    assert polled.allow(t)
    assert quiet.allow(t)
    assert polled.state(t + 6 * SEC) == OPEN
    polled.record_success(t + 10 * SEC)
    quiet.record_success(t + 10 * SEC)
    assert quiet.state(t + 10 * SEC) == polled.state(t + 10 * SEC)


def test_results_while_open_are_ignored() -> None:
    cb = opened(CircuitBreaker(failure_threshold=2))
    cb.record_success(T0 + SEC)  # a late result from before the breaker opened
    assert cb.state(T0 + SEC) == OPEN
    cb.record_failure(T0 + 60 * SEC)
    assert cb.retry_after_ns(T0 + 60 * SEC) == 60 * SEC  # the cooldown was not restarted


# --------------------------------------------------------------------------- rate mode


def rate(pct: float = 50.0, n: int = 10, minimum: int = 4, **kw: object) -> CircuitBreaker:
    return CircuitBreaker(mode="rate", failure_rate_pct=pct, rate_window_calls=n, min_calls=minimum, **kw)  # type: ignore[arg-type]


def test_rate_mode_threshold_edge() -> None:
    # 50 %: 2 failures in 4 calls opens; 1 in 4 does not
    cb = rate()
    cb.record_success(T0)
    cb.record_success(T0)
    cb.record_failure(T0)
    assert cb.state(T0) == CLOSED  # 3 calls < min_calls
    cb.record_failure(T0)  # 2 / 4 = 50 % >= 50 %
    assert cb.state(T0) == OPEN
    assert cb.history()[-1]["reason"] == "failure rate 50% over 4 calls"

    cb = rate(pct=50.1)
    for _ in range(2):
        cb.record_success(T0)
    cb.record_failure(T0)
    cb.record_failure(T0)  # 50 % < 50.1 %
    assert cb.state(T0) == CLOSED


def test_rate_mode_min_calls() -> None:
    cb = rate(minimum=4)
    for _ in range(3):
        cb.record_failure(T0)
    assert cb.state(T0) == CLOSED  # 100 % of 3 calls, but fewer than min_calls
    cb.record_failure(T0)
    assert cb.state(T0) == OPEN


def test_rate_mode_window_is_the_last_n_calls() -> None:
    cb = rate(pct=30, n=10, minimum=10)
    for _ in range(2):
        cb.record_failure(T0)
    for _ in range(8):
        cb.record_success(T0)
    assert cb.counts(T0)["window_calls"] == 10
    assert cb.counts(T0)["window_failures"] == 2
    for _ in range(10):  # the two failures leave the window
        cb.record_success(T0)
    assert cb.counts(T0)["window_failures"] == 0
    assert cb.counts(T0)["window_calls"] == 10
    cb.record_failure(T0)
    cb.record_failure(T0)
    assert cb.state(T0) == CLOSED  # 20 %
    cb.record_failure(T0)  # 30 %
    assert cb.state(T0) == OPEN


def test_rate_mode_ignores_time_windows() -> None:
    cb = rate(pct=50, n=4, minimum=4)
    cb.record_failure(T0)
    cb.record_failure(T0 + 10**6 * SEC)  # far apart in time: still counted by calls
    cb.record_success(T0 + 2 * 10**6 * SEC)
    cb.record_failure(T0 + 3 * 10**6 * SEC)
    assert cb.state(T0 + 3 * 10**6 * SEC) == OPEN


def test_rate_mode_recovers_through_half_open() -> None:
    cb = rate(pct=50, n=4, minimum=2)
    cb.record_failure(T0)
    cb.record_failure(T0)
    assert cb.state(T0) == OPEN
    t = T0 + 120 * SEC
    assert cb.allow(t)
    cb.record_success(t)
    assert cb.state(t) == CLOSED
    assert cb.counts(t)["window_calls"] == 0
    cb.record_failure(t)
    assert cb.state(t) == CLOSED  # 1 call < min_calls after the reset


def test_bug_rate_mode_not_checked_when_a_success_completes_min_calls() -> None:
    """docs/semantics.md, Health core: open when "failure rate >= x% over the last N calls, minimum calls, as
    in
    the best JVM libraries" (resilience4j evaluates the rate after every recorded call).
    The core evaluates it only when a failure is recorded. Repro (50 %, N=10, min 10):
    nine failures then one success -> 90 % of 10 calls, yet the breaker stays CLOSED (and
    stays CLOSED after another success at 80 %)."""
    cb = rate(pct=50, n=10, minimum=10)
    for _ in range(9):
        cb.record_failure(T0)
    cb.record_success(T0)
    assert cb.counts(T0)["window_calls"] == 10
    assert cb.counts(T0)["window_failures"] == 9
    assert cb.state(T0) == OPEN


# --------------------------------------------------------------------------- operator states


def test_forced_open_rejects_until_reset() -> None:
    cb = CircuitBreaker()
    cb.force_open(T0, reason="maintenance")
    assert cb.state(T0) == FORCED_OPEN
    assert not cb.allow(T0 + 10**6 * SEC)  # no cooldown ends a forced open
    assert cb.state(T0 + 10**6 * SEC) == FORCED_OPEN
    assert cb.retry_after_ns(T0) is None
    cb.record_success(T0)
    assert cb.state(T0) == FORCED_OPEN
    cb.reset(T0 + SEC, reason="done")
    assert cb.state(T0 + SEC) == CLOSED
    assert cb.allow(T0 + SEC)
    assert [(h["from"], h["to"], h["reason"]) for h in cb.history()] == [
        ("CLOSED", "FORCED_OPEN", "operator: maintenance"),
        ("FORCED_OPEN", "CLOSED", "operator: done"),
    ]


def test_disabled_lets_everything_through_and_counts_nothing() -> None:
    cb = CircuitBreaker(failure_threshold=1)
    cb.disable(T0)
    for i in range(20):
        assert cb.allow(T0 + i)
        cb.record_failure(T0 + i)
    assert cb.state(T0 + 20) == DISABLED
    c = cb.counts(T0 + 20)
    assert c["allowed"] == 20
    assert c["failures"] == 20
    assert c["window_failures"] == 0
    cb.reset(T0 + 21)
    assert cb.state(T0 + 21) == CLOSED
    cb.record_failure(T0 + 22)
    assert cb.state(T0 + 22) == OPEN


def test_reset_clears_the_window_and_closes_an_open_breaker() -> None:
    cb = CircuitBreaker(failure_threshold=3)
    cb.record_failure(T0)
    cb.record_failure(T0)
    cb.reset(T0)
    cb.record_failure(T0)
    cb.record_failure(T0)
    assert cb.state(T0) == CLOSED
    opened(cb, T0 + SEC)
    cb.reset(T0 + 2 * SEC)
    assert cb.state(T0 + 2 * SEC) == CLOSED
    assert cb.allow(T0 + 2 * SEC)


def test_history_and_counts() -> None:
    cb = CircuitBreaker(failure_threshold=2, history=3)
    assert cb.history() == []
    cb.allow(T0)
    cb.record_failure(T0)
    cb.allow(T0 + 1)
    cb.record_failure(T0 + 1)  # OPEN
    assert not cb.allow(T0 + 2)
    assert not cb.allow(T0 + 3)
    assert cb.allow(T0 + 120 * SEC + 1)  # HALF_OPEN probe
    cb.record_success(T0 + 120 * SEC + 2)  # CLOSED
    h = cb.history()
    assert [(e["from"], e["to"]) for e in h] == [
        ("CLOSED", "OPEN"),
        ("OPEN", "HALF_OPEN"),
        ("HALF_OPEN", "CLOSED"),
    ]
    assert [e["at_ns"] for e in h] == [T0 + 1, T0 + 120 * SEC + 1, T0 + 120 * SEC + 2]
    assert h[0]["reason"] == "2 failures within 300 s"
    assert h[1]["reason"] == "cooldown elapsed"
    assert h[2]["reason"] == "half-open probes succeeded"
    c = cb.counts(T0 + 120 * SEC + 2)
    assert c == {
        "allowed": 3,
        "rejected": 2,
        "successes": 1,
        "failures": 2,
        "window_failures": 0,
        "window_calls": 0,
    }
    cb.force_open(T0 + 200 * SEC)  # history is bounded (3): the oldest entry goes
    h = cb.history()
    assert len(h) == 3
    assert (h[0]["from"], h[0]["to"]) == ("OPEN", "HALF_OPEN")
    assert (h[-1]["to"], h[-1]["reason"]) == ("FORCED_OPEN", "operator: operator")


def test_time_values_accepted() -> None:
    from datetime import UTC, datetime, timedelta

    cb = CircuitBreaker(failure_threshold=1)
    t = datetime(2024, 8, 9, tzinfo=UTC)
    cb.record_failure(t)
    assert cb.state(t + timedelta(seconds=119)) == OPEN
    assert cb.state(t + timedelta(seconds=120)) == HALF_OPEN
    with pytest.raises(ValueError, match="naive"):
        cb.state(datetime(2024, 8, 9))


# --------------------------------------------------------------------------- bad arguments


@pytest.mark.parametrize(
    ("kw", "exc", "name"),
    [
        ({"mode": "counting"}, ValueError, "mode"),
        ({"failure_threshold": 0}, ValueError, "failure_threshold"),
        ({"failure_threshold": 2.0}, TypeError, "failure_threshold"),
        ({"failure_threshold": True}, TypeError, "failure_threshold"),
        ({"window_s": 0}, ValueError, "window_s"),
        ({"window_s": "300"}, TypeError, "window_s"),
        ({"cooldown_s": -1}, ValueError, "cooldown_s"),
        ({"cooldown_s": float("inf")}, ValueError, "cooldown_s"),
        ({"half_open_calls": 0}, ValueError, "half_open_calls"),
        ({"failure_rate_pct": 0}, ValueError, "failure_rate_pct"),
        ({"failure_rate_pct": 100.5}, ValueError, "failure_rate_pct"),
        ({"failure_rate_pct": "50"}, TypeError, "failure_rate_pct"),
        ({"rate_window_calls": 0}, ValueError, "rate_window_calls"),
        ({"min_calls": 0}, ValueError, "min_calls"),
        ({"min_calls": 101}, ValueError, "min_calls"),
        ({"half_open_max_wait_s": 0}, ValueError, "half_open_max_wait_s"),
        ({"history": 0}, ValueError, "history"),
    ],
)
def test_bad_settings(kw: dict[str, object], exc: type, name: str) -> None:
    with pytest.raises(exc, match=name):
        CircuitBreaker(**kw)  # type: ignore[arg-type]


def test_failure_rate_100_is_allowed() -> None:
    cb = rate(pct=100, n=3, minimum=3)
    cb.record_failure(T0)
    cb.record_failure(T0)
    cb.record_success(T0)
    cb.record_failure(T0)  # F, S, F: 2 of the last 3
    assert cb.state(T0) == CLOSED
    cb.record_failure(T0)  # S, F, F
    assert cb.state(T0) == CLOSED
    cb.record_failure(T0)  # 3 of 3
    assert cb.state(T0) == OPEN


# --------------------------------------------------------------------------- wrappers (wall clock)


def test_decorator_sync() -> None:
    cb = CircuitBreaker("broker", failure_threshold=2, cooldown_s=0.2)
    calls = []

    @cb
    def place(x: int) -> int:
        """Docstring kept."""
        calls.append(x)
        if x < 0:
            raise ConnectionError("down")
        return x * 2

    assert place.__name__ == "place"
    assert place.__doc__ == "Docstring kept."
    assert place(2) == 4
    for _ in range(2):
        with pytest.raises(ConnectionError):
            place(-1)
    assert cb.state() == OPEN
    with pytest.raises(CircuitOpenError) as info:
        place(3)
    assert calls == [2, -1, -1]  # not called while open
    err = info.value
    assert err.code == ErrorCode.CIRCUIT_OPEN
    assert err.code == montalaq.ErrorCode.CIRCUIT_OPEN
    assert err.breaker == "broker"
    assert err.retry_after_s is not None
    assert 0 < err.retry_after_s <= 0.2
    assert "broker" in str(err)
    assert isinstance(err, RuntimeError)
    time.sleep(0.25)
    assert place(5) == 10  # the probe succeeds
    assert cb.state() == CLOSED


def test_decorator_async() -> None:
    cb = CircuitBreaker("exchange", failure_threshold=2, cooldown_s=0.2)
    calls = []

    @cb
    async def fetch(x: int) -> int:
        calls.append(x)
        await asyncio.sleep(0)
        if x < 0:
            raise TimeoutError("slow")
        return x + 1

    async def scenario() -> None:
        assert await fetch(1) == 2
        for _ in range(2):
            with pytest.raises(TimeoutError):
                await fetch(-1)
        assert cb.state() == OPEN
        with pytest.raises(CircuitOpenError) as info:
            await fetch(7)
        assert info.value.code == ErrorCode.CIRCUIT_OPEN
        assert calls == [1, -1, -1]
        await asyncio.sleep(0.25)
        with pytest.raises(TimeoutError):  # the probe fails: OPEN again
            await fetch(-2)
        assert cb.state() == OPEN

    assert asyncio.iscoroutinefunction(fetch)
    asyncio.run(scenario())


def test_with_and_async_with() -> None:
    cb = CircuitBreaker("notify", failure_threshold=2)
    with cb:
        pass
    for _ in range(2):
        with pytest.raises(KeyError), cb:
            raise KeyError("x")
    ran = []
    with pytest.raises(CircuitOpenError), cb:
        ran.append(1)
    assert ran == []
    assert cb.counts()["successes"] == 1
    assert cb.counts()["failures"] == 2
    assert cb.counts()["rejected"] == 1

    cb2 = CircuitBreaker("notify-async", failure_threshold=1)

    async def scenario() -> None:
        async with cb2:
            await asyncio.sleep(0)
        with pytest.raises(OSError, match="boom"):
            async with cb2:
                raise OSError("boom")
        with pytest.raises(CircuitOpenError):
            async with cb2:
                ran.append(2)

    asyncio.run(scenario())
    assert ran == []
    assert cb2.state() == OPEN


def test_excluded_exceptions_do_not_count() -> None:
    cb = CircuitBreaker(failure_threshold=2, exclude=(ValueError,))

    @cb
    def call(exc: type[BaseException] | None) -> str:
        if exc is not None:
            raise exc("x")
        return "ok"

    for _ in range(10):
        with pytest.raises(ValueError, match="x"):
            call(ValueError)
    with pytest.raises(UnicodeDecodeError):  # a ValueError subclass is excluded too
        call(lambda _m: UnicodeDecodeError("utf-8", b"", 0, 1, "x"))  # type: ignore[arg-type]
    assert cb.state() == CLOSED
    assert cb.counts()["failures"] == 0
    with pytest.raises(RuntimeError):
        call(RuntimeError)
    with pytest.raises(RuntimeError):
        call(RuntimeError)
    assert cb.state() == OPEN

    cb2 = CircuitBreaker(failure_threshold=1, exclude=(ValueError,))
    with pytest.raises(ValueError, match="not an outage"), cb2:
        raise ValueError("bad input, not an outage")
    assert cb2.state() == CLOSED


def test_call_method() -> None:
    cb = CircuitBreaker("svc", failure_threshold=2, exclude=(KeyError,))

    def f(a: int, *, b: int = 0) -> int:
        if a < 0:
            raise ConnectionError("down")
        if a == 0:
            raise KeyError("missing")
        return a + b

    assert cb.call(f, 1, b=2) == 3
    with pytest.raises(KeyError):
        cb.call(f, 0)  # excluded: not a failure
    with pytest.raises(ConnectionError, match="down"):
        cb.call(f, -1)
    assert cb.state() == CLOSED
    with pytest.raises(ConnectionError, match="down"):
        cb.call(f, -1)
    assert cb.state() == OPEN
    with pytest.raises(CircuitOpenError) as info:
        cb.call(f, 5)
    assert info.value.code == ErrorCode.CIRCUIT_OPEN
    assert info.value.retry_after_s is not None
    assert 119 < info.value.retry_after_s <= 120
    c = cb.counts()
    assert (c["allowed"], c["rejected"], c["successes"], c["failures"]) == (4, 1, 2, 2)
    with pytest.raises(TypeError, match="callable"):
        cb.call()  # type: ignore[call-arg]  # no function, on purpose


def test_interrupts_and_cancellation_are_not_outcomes() -> None:
    """KeyboardInterrupt / CancelledError say nothing about the guarded service."""
    cb = CircuitBreaker(failure_threshold=1)
    with pytest.raises(KeyboardInterrupt), cb:
        raise KeyboardInterrupt

    @cb
    def interrupted() -> None:
        raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        interrupted()

    @cb
    async def slow() -> None:
        await asyncio.sleep(10)

    async def scenario() -> None:
        with pytest.raises(TimeoutError):
            await asyncio.wait_for(slow(), 0.01)

    asyncio.run(scenario())
    c = cb.counts()
    assert (c["allowed"], c["successes"], c["failures"]) == (3, 0, 0)
    assert cb.state() == CLOSED


def test_unreported_probe_times_out_by_itself() -> None:
    cb = CircuitBreaker(failure_threshold=1, cooldown_s=0.05, half_open_max_wait_s=0.4)
    cb.record_failure()
    time.sleep(0.07)
    with pytest.raises(KeyboardInterrupt), cb:  # the probe goes through but reports nothing
        raise KeyboardInterrupt
    assert cb.state() == HALF_OPEN
    time.sleep(0.45)
    assert cb.state() == OPEN
    assert cb.history()[-1]["reason"] == "half-open probes did not report in time"


def test_exclude_must_be_exception_classes() -> None:
    with pytest.raises(TypeError, match="exclude"):
        CircuitBreaker(exclude=("ValueError",))  # type: ignore[arg-type]
    with pytest.raises(TypeError, match="exclude"):
        CircuitBreaker(exclude=(int,))  # type: ignore[arg-type]


def test_async_excluded_exception_is_not_a_failure() -> None:
    cb = CircuitBreaker(failure_threshold=1, exclude=(LookupError,))

    @cb
    async def lookup() -> None:
        raise KeyError("k")

    async def scenario() -> None:
        for _ in range(3):
            with pytest.raises(KeyError):
                await lookup()
        async with cb:
            pass

    asyncio.run(scenario())
    assert cb.state() == CLOSED
    assert cb.counts()["failures"] == 0
    assert cb.counts()["successes"] == 4


# --------------------------------------------------------------------------- JSON


def busy_breaker() -> CircuitBreaker:
    cb = CircuitBreaker(
        failure_threshold=3,
        window_s=50,
        cooldown_s=30,
        half_open_calls=2,
        half_open_max_wait_s=10,
        history=5,
    )
    for i in range(3):
        cb.allow(T0 + i * SEC)
        cb.record_failure(T0 + i * SEC)
    cb.allow(T0 + 5 * SEC)  # rejected
    assert cb.allow(T0 + 40 * SEC)  # HALF_OPEN, probe 1
    cb.record_success(T0 + 41 * SEC)
    assert cb.allow(T0 + 42 * SEC)  # probe 2 in flight
    return cb


def test_json_round_trip_and_identical_behaviour() -> None:
    cb = busy_breaker()
    text = cb.to_json()
    doc = json.loads(text)
    assert doc["format"] == "montalaq.circuit_breaker"
    assert doc["state"] == "HALF_OPEN"
    assert doc["probes_issued"] == 2
    assert doc["probes_ok"] == 1
    other = CircuitBreaker(mode="rate")
    other.load_json(text)
    assert other.to_json() == text
    assert other.history() == cb.history()
    assert other.counts(T0 + 42 * SEC) == cb.counts(T0 + 42 * SEC)

    def future(b: CircuitBreaker) -> list[object]:
        out: list[object] = [b.state(T0 + 45 * SEC)]
        out.append(b.state(T0 + 52 * SEC))  # probe 2 timed out (10 s)
        out.append(b.retry_after_ns(T0 + 60 * SEC))
        out.append(b.allow(T0 + 82 * SEC))
        b.record_success(T0 + 82 * SEC)
        out.append(b.allow(T0 + 83 * SEC))
        b.record_success(T0 + 83 * SEC)
        out.append(b.state(T0 + 83 * SEC))
        for i in range(3):
            b.record_failure(T0 + 90 * SEC + i)
        out.append(b.state(T0 + 91 * SEC))
        out.append(b.history())
        out.append(b.counts(T0 + 91 * SEC))
        out.append(b.to_json())
        return out

    assert future(cb) == future(other)


def test_json_round_trip_rate_mode() -> None:
    cb = rate(pct=40, n=6, minimum=5)
    for ok in (True, False, True, True, False):
        (cb.record_success if ok else cb.record_failure)(T0)
    text = cb.to_json()
    other = CircuitBreaker()
    other.load_json(text)
    assert other.to_json() == text
    for b in (cb, other):
        b.record_success(T0)  # 2 / 6
        b.record_failure(T0)  # window drops the first success: 3 / 6 = 50 % >= 40 %
    assert cb.state(T0) == other.state(T0) == OPEN
    assert cb.to_json() == other.to_json()


@pytest.mark.parametrize(
    "mutate",
    [
        lambda d: d.update(format="montalaq.escalation_board"),
        lambda d: d.update(version=2),
        lambda d: d.update(state="AJAR"),
        lambda d: d["config"].update(mode="fast"),
        lambda d: d["config"].update(failure_threshold=0),
        lambda d: d["config"].update(min_calls=1000),
        lambda d: d["config"].update(failure_rate_pct=0),
        lambda d: d.update(probes_issued=3),  # > half_open_calls
        lambda d: d.update(probes_ok=3),
        lambda d: d.update(fail_times_ns=[1, 2, 3, 4]),  # > failure_threshold
        lambda d: d.update(outcomes=[1, 0]),
        lambda d: d["counts"].update(allowed=-1),
        lambda d: d.update(history=[{"at_ns": 1, "from": "CLOSED", "to": "NOWHERE", "reason": ""}]),
        lambda d: d.pop("counts"),
    ],
)
def test_json_bad_document_leaves_breaker_unchanged(mutate: object) -> None:
    cb = busy_breaker()
    before = cb.to_json()
    doc = json.loads(before)
    mutate(doc)  # type: ignore[operator]
    with pytest.raises(ValueError, match="circuit breaker document"):
        cb.load_json(json.dumps(doc))
    assert cb.to_json() == before
    for text in ("", "{", "[]", "null"):
        with pytest.raises(ValueError, match="circuit breaker document"):
            cb.load_json(text)
    assert cb.to_json() == before
