"""The in-process and Redis rate limiters pass the same suite; Redis holds across processes."""

import multiprocessing as mp
import os
import signal
import time
from collections import deque
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta, timezone

import numpy as np
import pandas as pd
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from montalaq._time import TimeLike
from montalaq.ratelimit import RateLimiter, RedisRateLimiter

S = 1_000_000_000
T0 = 1_767_225_600 * S  # 2026-01-01T00:00:00Z, int ns
T0_S = 1_767_225_600.0  # the same in seconds, for the deprecated now_s

Factory = Callable[[int, float], RateLimiter | RedisRateLimiter]


@pytest.fixture(params=["memory", "redis"])
def make(request: pytest.FixtureRequest) -> Iterator[Factory]:
    if request.param == "memory":
        yield lambda limit, window_s: RateLimiter(limit=limit, window_s=window_s)
        return
    target = request.getfixturevalue("redis_target")
    made: list[RedisRateLimiter] = []

    def factory(limit: int, window_s: float) -> RedisRateLimiter:
        # A fresh prefix per limiter: hypothesis reuses the fixture across examples.
        r = RedisRateLimiter(
            target.url, limit=limit, window_s=window_s, prefix=f"{target.prefix}{len(made)}:"
        )
        made.append(r)
        return r

    yield factory
    for r in made:
        r.close()


def test_window_edges_and_independent_keys(make: Factory) -> None:
    r = make(3, 60)
    assert [r.try_acquire("slack", T0 + dt * S) for dt in (0, 1, 2, 59)] == [True, True, True, False]
    assert r.try_acquire("email", T0 + 59 * S)
    assert not r.try_acquire("slack", T0 + 60 * S - 1_000)  # Redis keeps microseconds
    assert r.try_acquire("slack", T0 + 60 * S)  # the first left the window
    assert not r.try_acquire("slack", T0 + 60 * S)


@pytest.mark.parametrize(
    "now",
    [
        T0,
        datetime(2026, 1, 1, tzinfo=UTC),
        datetime(2026, 1, 1, 1, tzinfo=timezone(timedelta(hours=1))),
        np.datetime64(T0, "ns"),
        pd.Timestamp(T0, tz="UTC"),
    ],
    ids=["int", "utc", "plus1h", "datetime64", "timestamp"],
)
def test_now_takes_int_ns_aware_datetimes_and_datetime64_alike(make: Factory, now: TimeLike) -> None:
    r = make(1, 10)
    assert r.try_acquire("k", now)
    assert not r.try_acquire("k", now=now)
    assert not r.try_acquire("k", T0 + 10 * S - 1_000)
    assert r.try_acquire("k", T0 + 10 * S)  # taken at T0 exactly, whatever the form


def test_now_s_still_works_and_warns_at_the_caller(make: Factory) -> None:
    r = make(1, 10)
    with pytest.warns(DeprecationWarning, match=r"now_s is deprecated, pass now= \(int ns") as record:
        assert r.try_acquire("k", now_s=T0_S)
    assert [w.filename for w in record] == [__file__]
    with pytest.warns(DeprecationWarning, match="now_s is deprecated"):
        assert not r.try_acquire("k", now_s=T0_S + 9.999)  # seconds, converted as they always were
    with pytest.warns(DeprecationWarning, match="now_s is deprecated"):
        assert r.try_acquire("k", now_s=T0_S + 10)
    with pytest.raises(TypeError, match="pass now= or now_s=, not both"):
        r.try_acquire("k", T0, now_s=T0_S)


@pytest.mark.parametrize(
    ("now", "error", "match"),
    [
        (T0_S, TypeError, "^now: .*got float .* seconds"),
        (float("nan"), TypeError, "^now: .*got float"),
        (True, TypeError, "^now: .*bool"),
        ("2026-01-01", TypeError, "^now: expected int nanoseconds"),
        (datetime(2026, 1, 1), ValueError, "^now: naive"),
        (np.datetime64("NaT"), ValueError, "^now: NaT"),
        (-1, ValueError, "^now: expected a time from 1970 to 2116"),
        (2**62 + 1, ValueError, "^now: expected a time"),
    ],
)
def test_a_bad_now_is_refused_the_same_way(
    make: Factory, now: object, error: type[Exception], match: str
) -> None:
    r = make(1, 10)
    with pytest.raises(error, match=match):
        r.try_acquire("k", now)  # type: ignore[arg-type]
    assert r.try_acquire("k", T0)  # nothing was taken


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(
    limit=st.integers(1, 5),
    window=st.integers(1, 10),
    gaps=st.lists(st.integers(0, 6), min_size=1, max_size=60),
)
def test_both_agree_with_a_log_of_every_acquisition(
    make: Factory, limit: int, window: int, gaps: list[int]
) -> None:
    r = make(limit, window)
    log: deque[int] = deque()
    now = T0
    for gap in gaps:
        now += gap * S
        while log and now - log[0] >= window * S:
            log.popleft()
        expect = len(log) < limit
        assert r.try_acquire("k", now) is expect
        if expect:
            log.append(now)


def _hammer(url: str, prefix: str, attempts: int, start: float, out: "mp.Queue[int]") -> None:
    limiter = RedisRateLimiter(url, limit=100, window_s=3600, prefix=prefix)
    while time.time() < start:  # start together
        time.sleep(0.001)
    out.put(sum(limiter.try_acquire("channel") for _ in range(attempts)))


def test_the_limit_holds_across_eight_processes(redis_target) -> None:  # type: ignore[no-untyped-def]
    ctx = mp.get_context("spawn")
    out: mp.Queue[int] = ctx.Queue()
    start = time.time() + 2.0
    procs = [
        ctx.Process(target=_hammer, args=(redis_target.url, redis_target.prefix, 60, start, out))
        for _ in range(8)
    ]
    for p in procs:
        p.start()
    granted = [out.get(timeout=60) for _ in procs]
    for p in procs:
        p.join(timeout=30)
    assert sum(granted) == 100  # 480 attempts, one shared window of 100
    assert all(p.exitcode == 0 for p in procs)


def _spin(url: str, prefix: str) -> None:
    limiter = RedisRateLimiter(url, limit=1_000_000, window_s=5, prefix=prefix)
    while True:
        limiter.try_acquire("spin")


def test_a_killed_process_leaves_no_stuck_state(redis_target) -> None:  # type: ignore[no-untyped-def]
    ctx = mp.get_context("spawn")
    p = ctx.Process(target=_spin, args=(redis_target.url, redis_target.prefix))
    p.start()
    key = f"{redis_target.prefix}spin"
    deadline = time.time() + 30
    while redis_target.client.zcard(key) < 100 and time.time() < deadline:
        time.sleep(0.05)
    assert p.pid is not None
    os.kill(p.pid, signal.SIGKILL)
    p.join(timeout=10)
    assert p.exitcode == -signal.SIGKILL
    ttl_ms = redis_target.client.pttl(key)
    assert 0 < ttl_ms <= 6_000  # expires on its own: window + 1 s at most
    # And the next process is not blocked by the dead one's entries beyond the window.
    fresh = RedisRateLimiter(redis_target.url, limit=1, window_s=5, prefix=redis_target.prefix)
    assert fresh.try_acquire("other")
    fresh.close()


def test_pipelined_acquisitions_answer_like_single_ones(redis_target) -> None:  # type: ignore[no-untyped-def]
    r = RedisRateLimiter(redis_target.url, limit=3, window_s=60, prefix=redis_target.prefix)
    assert r.try_acquire_many(["a", "a", "b", "a", "a"], T0) == [True, True, True, True, False]
    assert r.try_acquire("a", T0 + S) is False
    with pytest.warns(DeprecationWarning, match="now_s is deprecated"):
        assert r.try_acquire_many(["a"], now_s=T0_S + 59) == [False]
    assert r.try_acquire_many(["a"], now=datetime(2026, 1, 1, 0, 1, tzinfo=UTC)) == [True]  # +60 s
    with pytest.raises(ValueError, match="keys"):
        r.try_acquire_many(["ok", ""])
    r.close()
