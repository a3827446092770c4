"""DedupeCache and RedisDedupe pass the same suite; Redis holds across processes.

Redis tests talk to a real server (the ``redis_target`` fixture: db 15, a fresh key prefix
per test, deleted afterwards).
"""

import multiprocessing as mp
import os
import random
import signal
import time
from collections import Counter
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta, timezone
from decimal import ROUND_HALF_UP, Decimal
from typing import Any

import numpy as np
import pandas as pd
import pytest
import redis
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from montalaq._time import TimeLike
from montalaq.dedupe import DedupeCache, DedupeResult, RedisDedupe, dedup_key

S = 1_000_000_000
T0 = 1_767_225_600 * S  # 2026-01-01T00:00:00Z, int ns
T0_S = 1_767_225_600.0  # the same in seconds, for the deprecated now_s
ALLOWED = DedupeResult.ALLOWED
DEDUPED = DedupeResult.DEDUPED

Factory = Callable[[float], DedupeCache | RedisDedupe]


def to_ns(seconds: float) -> int:
    """Seconds to ns as both backends convert them (C's llround of seconds * 1e9)."""
    return int(Decimal(seconds * 1e9).to_integral_value(ROUND_HALF_UP))


@pytest.fixture(params=["memory", "redis"])
def make(request: pytest.FixtureRequest) -> Iterator[Factory]:
    if request.param == "memory":
        yield lambda ttl_s: DedupeCache(ttl_s=ttl_s)
        return
    target = request.getfixturevalue("redis_target")
    made: list[RedisDedupe] = []

    def factory(ttl_s: float) -> RedisDedupe:
        # A fresh prefix per store: hypothesis reuses the fixture across examples.
        store = RedisDedupe(target.url, ttl_s=ttl_s, prefix=f"{target.prefix}{len(made)}:")
        made.append(store)
        return store

    yield factory
    for store in made:
        store.close()


# --- the shared suite ----------------------------------------------------------------


def test_first_call_is_allowed_and_repeats_are_deduped(make: Factory) -> None:
    d = make(900)
    assert d.check_and_record("k", T0) is ALLOWED
    assert d.check_and_record("k", T0) is DEDUPED
    assert d.check_and_record("k", T0 + 300 * S) is DEDUPED
    assert d.ttl_s == 900.0


def test_ttl_expiry_at_the_exact_edge_then_recorded_anew(make: Factory) -> None:
    d = make(900)
    assert d.check_and_record("k", T0) is ALLOWED
    assert d.check_and_record("k", T0 + 900 * S - 1) is DEDUPED
    assert d.check_and_record("k", T0 + 900 * S) is ALLOWED  # expiry == now: expired
    assert d.check_and_record("k", T0 + 1800 * S - 1) is DEDUPED  # the new record's TTL
    assert d.check_and_record("k", T0 + 1800 * S) is ALLOWED


def test_nanosecond_edges_are_exact(make: Factory) -> None:
    # A TTL of 1 s, not 1 us: Redis also expires the record after the TTL of real time
    # (rounded up to 1 ms), and on a loaded machine the next call can come later than that.
    d = make(1.0)
    assert d.check_and_record("k", S) is ALLOWED
    assert d.check_and_record("k", 2 * S - 1) is DEDUPED
    assert d.check_and_record("k", 2 * S) is ALLOWED
    assert d.check_and_record("early", 0) is ALLOWED  # the epoch itself
    assert d.check_and_record("late", 8 * 10**18 - S // 2, ttl_s=1e9) is ALLOWED  # the largest times
    assert d.check_and_record("late", 8 * 10**18) is DEDUPED


def test_a_deduped_call_never_extends_the_record(make: Factory) -> None:
    d = make(10)
    assert d.check_and_record("k", T0) is ALLOWED
    for dt in range(1, 10):
        assert d.check_and_record("k", T0 + dt * S) is DEDUPED
    assert d.check_and_record("k", T0 + 10 * S) is ALLOWED  # not T0 + 19 s


def test_a_per_call_ttl_applies_to_that_record(make: Factory) -> None:
    d = make(900)
    assert d.check_and_record("short", T0, ttl_s=5) is ALLOWED
    assert d.check_and_record("short", T0 + 4_900_000_000) is DEDUPED
    assert d.check_and_record("short", T0 + 5 * S) is ALLOWED  # recorded again, 900 s this time
    assert d.check_and_record("short", T0 + 800 * S) is DEDUPED
    assert d.check_and_record("long", T0, ttl_s=3600) is ALLOWED
    assert d.check_and_record("long", T0 + 3599 * S) is DEDUPED


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
    d = make(60)
    assert d.check_and_record("k", now) is ALLOWED
    assert d.check_and_record("k", now=now) is DEDUPED
    assert d.contains("k", T0 + 60 * S - 1)
    assert not d.contains("k", now=T0 + 60 * S)  # recorded at T0 exactly, whatever the form
    assert d.contains("k", now)


def test_now_s_still_works_and_warns_at_the_caller(make: Factory) -> None:
    d = make(60)
    with pytest.warns(DeprecationWarning, match=r"now_s is deprecated, pass now= \(int ns") as record:
        assert d.check_and_record("k", now_s=T0_S) is ALLOWED
    assert [w.filename for w in record] == [__file__]
    with pytest.warns(DeprecationWarning, match="now_s is deprecated"):
        assert d.contains("k", now_s=T0_S + 59.999999)  # seconds, converted as they always were
    with pytest.warns(DeprecationWarning, match="now_s is deprecated"):
        assert d.check_and_record("k", ttl_s=5, now_s=T0_S + 60) is ALLOWED
    with pytest.raises(TypeError, match="pass now= or now_s=, not both"):
        d.check_and_record("k", T0, now_s=T0_S)


def test_keys_are_independent_and_contains_records_nothing(make: Factory) -> None:
    d = make(60)
    k1 = dedup_key("BTCUSDT", "buy", "breakout", "15m", 64123.5, 1_767_225_600_000_000_000)
    k2 = dedup_key("BTCUSDT", "sell", "breakout", "15m", 64123.5, 1_767_225_600_000_000_000)
    assert not d.contains(k1, T0)
    assert d.check_and_record(k1, T0) is ALLOWED
    assert d.contains(k1, T0 + 59 * S)
    assert not d.contains(k1, T0 + 60 * S)
    assert not d.contains(k2, T0)
    assert d.check_and_record(k2, T0) is ALLOWED
    assert d.check_and_record("ключ ✓", T0) is ALLOWED  # any text
    assert d.check_and_record("ключ ✓", T0) is DEDUPED


def test_a_clock_that_steps_back_still_sees_the_record(make: Factory) -> None:
    d = make(10)
    assert d.check_and_record("k", T0) is ALLOWED
    assert d.check_and_record("k", T0 - 3600 * S) is DEDUPED  # now < expiry


def test_the_backend_clock_by_default(make: Factory) -> None:
    d = make(60)
    assert d.check_and_record("k") is ALLOWED
    assert d.check_and_record("k") is DEDUPED
    assert d.contains("k")
    assert not d.contains("k", time.time_ns() + 61 * S)


@pytest.mark.parametrize(
    ("call", "error", "match"),
    [
        (lambda d: d.check_and_record(None), TypeError, "key"),
        (lambda d: d.check_and_record(42), TypeError, "key"),
        (lambda d: d.check_and_record(""), ValueError, "key"),
        (lambda d: d.check_and_record("k", "now"), TypeError, "^now: expected int nanoseconds"),
        (lambda d: d.check_and_record("k", True), TypeError, "^now: .*bool"),
        (lambda d: d.check_and_record("k", T0_S), TypeError, "^now: .*got float .* seconds"),
        (lambda d: d.check_and_record("k", float("nan")), TypeError, "^now: .*got float"),
        (lambda d: d.check_and_record("k", datetime(2026, 1, 1)), ValueError, "^now: naive"),
        (lambda d: d.check_and_record("k", np.datetime64("NaT")), ValueError, "^now: NaT"),
        (lambda d: d.check_and_record("k", -1), ValueError, "^now: expected a time from 1970 to 2223"),
        (lambda d: d.check_and_record("k", 8 * 10**18 + 1), ValueError, "^now: expected a time"),
        (lambda d: d.contains("k", -1), ValueError, "^now: expected a time"),
        (lambda d: d.check_and_record("k", now_s="now"), TypeError, "^now_s"),
        (lambda d: d.check_and_record("k", now_s=-1), ValueError, "^now_s"),
        (lambda d: d.check_and_record("k", now_s=9e9), ValueError, "^now_s"),
        (lambda d: d.check_and_record("k", T0, -900), ValueError, "ttl_s"),
        (lambda d: d.check_and_record("k", T0, 0), ValueError, "ttl_s"),
        (lambda d: d.check_and_record("k", T0, float("nan")), ValueError, "ttl_s"),
        (lambda d: d.check_and_record("k", T0, 2e9), ValueError, "ttl_s"),
        (lambda d: d.check_and_record("k", T0, "9"), TypeError, "ttl_s"),
        (lambda d: d.contains(""), ValueError, "key"),
        (lambda d: d.contains("k", float("inf")), TypeError, "^now: .*got float"),
        (lambda d: d.contains("k", now_s=float("inf")), ValueError, "^now_s"),
    ],
)
@pytest.mark.filterwarnings("ignore:now_s is deprecated:DeprecationWarning")
def test_bad_input_is_refused_the_same_way(
    make: Factory, call: Callable[[Any], object], error: type[Exception], match: str
) -> None:
    d = make(60)
    with pytest.raises(error, match=match):
        call(d)
    assert d.check_and_record("k", T0) is ALLOWED  # nothing was recorded


@pytest.mark.parametrize("ttl_s", [-1, 0, float("nan"), float("inf")])
def test_bad_ttl_settings_are_refused(make: Factory, ttl_s: float) -> None:
    with pytest.raises(ValueError, match="ttl_s"):
        make(ttl_s)


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(
    ops=st.lists(
        st.tuples(
            st.integers(0, 5),  # key
            st.integers(0, 30 * S),  # ns since the previous call
            st.one_of(st.none(), st.floats(1.0, 40, allow_nan=False)),  # TTL >= 1 s: Redis also expires it
        ),
        min_size=1,
        max_size=60,
    )
)
def test_both_agree_with_a_dict_of_expiries(make: Factory, ops: list[tuple[int, int, float | None]]) -> None:
    d = make(20)
    expires: dict[str, int] = {}  # in ns, TTLs converted as the backends do
    now = T0
    for k, gap, ttl in ops:
        now += gap
        name = f"k{k}"
        if name in expires and now < expires[name]:
            expect = DEDUPED
        else:
            expect = ALLOWED
            expires[name] = now + to_ns(20 if ttl is None else ttl)
        assert d.check_and_record(name, now, ttl) is expect


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(
    ops=st.lists(
        st.tuples(st.integers(0, 5), st.floats(0, 30, allow_nan=False)),  # key, seconds since the last
        min_size=1,
        max_size=60,
    )
)
@pytest.mark.filterwarnings("ignore:now_s is deprecated:DeprecationWarning")
def test_both_round_the_deprecated_now_s_alike(make: Factory, ops: list[tuple[int, float]]) -> None:
    d = make(20)
    expires: dict[str, int] = {}  # in ns, converted as the backends do
    now = T0_S
    for k, gap in ops:
        now += gap
        now_ns = to_ns(now)
        name = f"k{k}"
        expect = DEDUPED if name in expires and now_ns < expires[name] else ALLOWED
        if expect is ALLOWED:
            expires[name] = now_ns + 20 * S
        assert d.check_and_record(name, now_s=now) is expect


def test_memory_and_redis_give_identical_answers(redis_target: Any) -> None:
    rng = random.Random(3)
    mem = DedupeCache(ttl_s=30)
    with RedisDedupe(redis_target.url, ttl_s=30, prefix=redis_target.prefix) as red:
        now = T0
        for _ in range(3000):
            now += rng.choice([0, 1, 1_000, 500_000_000, 3 * S, 11 * S])
            k = f"k{rng.randrange(40)}"
            ttl = rng.choice([None, None, 0.25, 7.5, 45])
            assert mem.check_and_record(k, now, ttl) is red.check_and_record(k, now, ttl)
            assert mem.contains(k, now + S) == red.contains(k, now + S)


# --- Redis only ------------------------------------------------------------------------


def test_a_record_is_its_expiry_in_ns_with_a_server_side_expiry(redis_target: Any) -> None:
    with RedisDedupe(redis_target.url, ttl_s=90, prefix=redis_target.prefix) as d:
        d.check_and_record("k", T0 + S // 2)
        d.check_and_record("short", T0, ttl_s=0.0015)
        assert redis_target.client.get(redis_target.prefix + "k") == b"1767225690500000000"
        assert 89_000 < redis_target.client.pttl(redis_target.prefix + "k") <= 90_000
        assert 0 < redis_target.client.pttl(redis_target.prefix + "short") <= 2  # 1.5 ms rounds up
        assert d.clear() >= 1
        assert redis_target.client.exists(redis_target.prefix + "k") == 0


def test_a_foreign_value_under_the_prefix_is_an_error_not_a_guess(redis_target: Any) -> None:
    redis_target.client.set(redis_target.prefix + "k", "hello")
    with (
        RedisDedupe(redis_target.url, prefix=redis_target.prefix) as d,
        pytest.raises(redis.ResponseError, match="expiry in ns"),
    ):
        d.check_and_record("k", T0)


def test_bad_redis_settings_are_refused(redis_target: Any) -> None:
    with pytest.raises(ValueError, match="prefix"):
        RedisDedupe(redis_target.url, prefix="")
    with pytest.raises(ValueError, match="url"):
        RedisDedupe("")


def _race(url: str, prefix: str, n_keys: int, seed: int, barrier: Any, out: "mp.Queue[list[int]]") -> None:
    d = RedisDedupe(url, prefix=prefix)
    order = list(range(n_keys))
    random.Random(seed).shuffle(order)
    d.contains("warm-up")  # connect and load the script before the start line
    barrier.wait(timeout=120)
    out.put([i for i in order if d.check_and_record(f"key{i}") is ALLOWED])
    d.close()


def test_eight_processes_racing_on_the_same_keys_get_one_allowed_each(redis_target: Any) -> None:
    n_keys, n_procs = 2_000, 8  # a race on every key; more keys only cost time
    ctx = mp.get_context("spawn")
    out: mp.Queue[list[int]] = ctx.Queue()
    barrier = ctx.Barrier(n_procs)
    procs = [
        ctx.Process(target=_race, args=(redis_target.url, redis_target.prefix, n_keys, seed, barrier, out))
        for seed in range(n_procs)
    ]
    for p in procs:
        p.start()
    results = [out.get(timeout=300) for _ in procs]
    for p in procs:
        p.join(timeout=60)
    assert all(p.exitcode == 0 for p in procs)
    counts = Counter(i for allowed in results for i in allowed)
    assert sorted(counts) == list(range(n_keys))
    assert set(counts.values()) == {1}  # exactly one ALLOWED per key
    assert sum(len(r) for r in results) == n_keys
    assert sum(1 for r in results if r) > 1  # the work really was shared


def _spin(url: str, prefix: str, ttl_s: float) -> None:
    d = RedisDedupe(url, ttl_s=ttl_s, prefix=prefix)
    for i in range(10_000_000):
        d.check_and_record(f"spin{i}")


def test_a_killed_process_leaves_no_stuck_keys(redis_target: Any) -> None:
    ttl_s = 3.0
    ctx = mp.get_context("spawn")
    p = ctx.Process(target=_spin, args=(redis_target.url, redis_target.prefix, ttl_s))
    p.start()
    pattern = redis_target.prefix + "*"
    deadline = time.time() + 60
    while time.time() < deadline:
        if sum(1 for _ in redis_target.client.scan_iter(match=pattern, count=1000)) >= 500:
            break
        time.sleep(0.05)
    assert p.pid is not None
    os.kill(p.pid, signal.SIGKILL)  # mid-run, between or inside calls
    p.join(timeout=10)
    assert p.exitcode == -signal.SIGKILL
    names = list(redis_target.client.scan_iter(match=pattern, count=1000))
    assert len(names) >= 500
    pipe = redis_target.client.pipeline(transaction=False)
    for name in names:
        pipe.pttl(name)
    ttls = pipe.execute()
    assert all(0 < t <= ttl_s * 1000 for t in ttls)  # every record carries its expiry
    # Once the TTL has passed, Redis has removed them and the same keys are allowed again.
    time.sleep(ttl_s + 0.2)
    assert not list(redis_target.client.scan_iter(match=pattern, count=1000))
    with RedisDedupe(redis_target.url, ttl_s=ttl_s, prefix=redis_target.prefix) as fresh:
        keys = [n.decode()[len(redis_target.prefix) :] for n in names]
        assert all(fresh.check_and_record(k) is ALLOWED for k in keys)


def test_pipelined_checks_answer_like_single_ones(redis_target) -> None:  # type: ignore[no-untyped-def]
    from montalaq.dedupe import DedupeResult, RedisDedupe

    d = RedisDedupe(redis_target.url, ttl_s=60, prefix=redis_target.prefix)
    got = d.check_and_record_many(["a", "b", "a", "c"], T0)
    assert got == [DedupeResult.ALLOWED, DedupeResult.ALLOWED, DedupeResult.DEDUPED, DedupeResult.ALLOWED]
    assert d.check_and_record("b", now=datetime(2026, 1, 1, 0, 0, 1, tzinfo=UTC)) is DedupeResult.DEDUPED
    assert d.check_and_record_many(["b"], now=T0 + 60 * S) == [DedupeResult.ALLOWED]  # expired at +60 s
    with pytest.warns(DeprecationWarning, match="now_s is deprecated"):
        assert d.check_and_record_many(["c"], now_s=T0_S + 59.5) == [DedupeResult.DEDUPED]
    d.close()
