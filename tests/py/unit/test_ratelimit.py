"""RateLimiter (docs/semantics.md, Guards): exact sliding window per key, bounded, clear errors."""

from collections import deque
from datetime import UTC, datetime, timedelta, timezone

import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from montalaq.ratelimit import RateLimiter

T0 = 1_767_225_600_000_000_000  # 2026-01-01T00:00:00Z, int ns
T0_S = 1_767_225_600.0  # the same in seconds, for the deprecated now_s
S = 1_000_000_000
MS = 1_000_000


def test_limit_per_window_with_exact_edges() -> None:
    r = RateLimiter(limit=60, window_s=60)
    assert all(r.try_acquire("slack", T0 + i * 500 * MS) for i in range(60))
    assert not r.try_acquire("slack", T0 + 59_900 * MS)  # the 61st within a minute
    assert r.try_acquire("email", T0 + 59_900 * MS)  # keys are independent
    assert r.remaining("slack", T0 + 59_900 * MS) == 0
    assert r.retry_after_s("slack", T0 + 59_900 * MS) == pytest.approx(0.1, abs=1e-9)
    assert r.try_acquire("slack", T0 + 60 * S)  # the first one left the window
    assert r.denied == 1


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
def test_now_takes_int_ns_aware_datetimes_and_datetime64_alike(now: object) -> None:
    r = RateLimiter(limit=1, window_s=10)
    assert r.try_acquire("k", now)
    assert not r.try_acquire("k", now=now)
    assert r.remaining("k", now) == 0
    assert r.retry_after_s("k", now=now) == 10.0  # taken at T0 exactly, whatever the form
    assert r.try_acquire("k", T0 + 10 * S)
    assert r.purge(now) == 0


def test_now_s_still_works_and_warns_at_the_caller() -> None:
    r = RateLimiter(limit=1, window_s=10)
    with pytest.warns(DeprecationWarning, match=r"now_s is deprecated, pass now= \(int ns") as record:
        assert r.try_acquire("k", now_s=T0_S)
    assert record[0].filename == __file__  # the warning points at the caller
    with pytest.warns(DeprecationWarning, match="now_s is deprecated"):
        assert r.remaining("k", now_s=T0_S + 9.5) == 0
    with pytest.warns(DeprecationWarning, match="now_s is deprecated"):
        assert r.retry_after_s("k", now_s=T0_S + 9.5) == pytest.approx(0.5)
    with pytest.warns(DeprecationWarning, match="now_s is deprecated"):
        assert not r.try_acquire("k", now_s=T0_S + 9.999)  # seconds, converted as they always were
    with pytest.warns(DeprecationWarning, match="now_s is deprecated"):
        assert r.purge(now_s=T0_S + 10) == 1


@settings(max_examples=200, deadline=None)
@given(
    limit=st.integers(1, 6),
    window=st.integers(1, 20),
    gaps=st.lists(st.integers(0, 8), min_size=1, max_size=200),
)
def test_agrees_with_a_log_of_every_acquisition(limit: int, window: int, gaps: list[int]) -> None:
    r = RateLimiter(limit=limit, window_s=window)
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


def test_a_flood_of_keys_is_denied_not_stored() -> None:
    r = RateLimiter(limit=1, window_s=10, max_keys=100)
    assert all(r.try_acquire(f"k{i}", T0) for i in range(100))
    assert not r.try_acquire("k100", T0 + 1 * S)
    assert r.keys == 100
    assert r.try_acquire("k100", T0 + 11 * S)  # idle keys purged to make room
    assert r.keys == 1


@pytest.mark.parametrize(
    ("kwargs", "name"),
    [
        ({"limit": 0}, "limit"),
        ({"limit": 1.5}, "limit"),
        ({"limit": True}, "limit"),
        ({"window_s": 0}, "window_s"),
        ({"window_s": float("nan")}, "window_s"),
        ({"window_s": "60"}, "window_s"),
        ({"max_keys": 0}, "max_keys"),
    ],
)
def test_bad_settings_name_the_argument(kwargs: dict[str, object], name: str) -> None:
    with pytest.raises(ValueError, match=name):
        RateLimiter(**kwargs)  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("call", "error", "match"),
    [
        (lambda r: r.try_acquire(""), ValueError, "key"),
        (lambda r: r.try_acquire("k", T0, T0), TypeError, "at most 2 positional"),
        (lambda r: r.try_acquire("k", T0, now_s=T0_S), TypeError, "pass now= or now_s=, not both"),
        (lambda r: r.remaining("k", T0, now_s=T0_S), TypeError, "not both"),
        (lambda r: r.try_acquire("k", T0_S), TypeError, "^now: .*got float .* seconds"),
        (lambda r: r.try_acquire("k", float("inf")), TypeError, "^now: .*got float inf"),
        (lambda r: r.try_acquire("k", True), TypeError, "^now: .*bool"),
        (lambda r: r.try_acquire("k", "now"), TypeError, "^now: expected int nanoseconds"),
        (lambda r: r.try_acquire("k", datetime(2026, 1, 1)), ValueError, "^now: naive datetime"),
        (lambda r: r.try_acquire("k", np.datetime64("NaT")), ValueError, "^now: NaT"),
        (lambda r: r.try_acquire("k", -1), ValueError, "^now: expected a time from 1970 to 2116"),
        (lambda r: r.try_acquire("k", 2**62 + 1), ValueError, "^now: expected a time"),
        (lambda r: r.remaining("k", 1.5), TypeError, "^now: .*got float"),
        (lambda r: r.retry_after_s("k", datetime(2026, 1, 1)), ValueError, "^now: naive"),
        (lambda r: r.purge(-1), ValueError, "^now: expected a time"),
        (lambda r: r.try_acquire("k", now_s=float("inf")), ValueError, "^now_s"),
        (lambda r: r.remaining("k", now_s=float("nan")), ValueError, "^now_s"),
    ],
)
@pytest.mark.filterwarnings("ignore:now_s is deprecated:DeprecationWarning")
def test_bad_calls_are_clear(call: object, error: type[Exception], match: str) -> None:
    r = RateLimiter()
    with pytest.raises(error, match=match):
        call(r)  # type: ignore[operator]
    assert r.keys == 0  # a refused call takes nothing


def test_wall_clock_by_default() -> None:
    r = RateLimiter(limit=1)
    assert r.try_acquire("k")
    assert not r.try_acquire("k", None)
    assert r.remaining("k") == 0
