"""RateLimiter (docs/semantics.md, Guards): exact sliding window per key, bounded, clear errors."""

from collections import deque

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from montalaq.ratelimit import RateLimiter

T0 = 1_767_225_600.0


def test_limit_per_window_with_exact_edges() -> None:
    r = RateLimiter(limit=60, window_s=60)
    assert all(r.try_acquire("slack", T0 + i * 0.5) for i in range(60))
    assert not r.try_acquire("slack", T0 + 59.9)  # the 61st within a minute
    assert r.try_acquire("email", T0 + 59.9)  # keys are independent
    assert r.remaining("slack", T0 + 59.9) == 0
    assert r.retry_after_s("slack", T0 + 59.9) == pytest.approx(0.1, abs=1e-6)
    assert r.try_acquire("slack", T0 + 60.0)  # the first one left the window
    assert r.denied == 1


@settings(max_examples=200, deadline=None)
@given(
    limit=st.integers(1, 6),
    window=st.integers(1, 20),
    gaps=st.lists(st.integers(0, 8), min_size=1, max_size=200),
)
def test_agrees_with_a_log_of_every_acquisition(limit: int, window: int, gaps: list[int]) -> None:
    r = RateLimiter(limit=limit, window_s=window)
    log: deque[float] = deque()
    now = T0
    for gap in gaps:
        now += gap
        while log and now - log[0] >= window:
            log.popleft()
        expect = len(log) < limit
        assert r.try_acquire("k", now) is expect
        if expect:
            log.append(now)


def test_a_flood_of_keys_is_denied_not_stored() -> None:
    r = RateLimiter(limit=1, window_s=10, max_keys=100)
    assert all(r.try_acquire(f"k{i}", T0) for i in range(100))
    assert not r.try_acquire("k100", T0 + 1)
    assert r.keys == 100
    assert r.try_acquire("k100", T0 + 11)  # idle keys purged to make room
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


def test_bad_calls_are_clear() -> None:
    r = RateLimiter()
    with pytest.raises(ValueError, match="key"):
        r.try_acquire("")
    with pytest.raises(ValueError, match="now_s"):
        r.try_acquire("k", float("inf"))
    assert r.try_acquire("k")  # wall clock by default
