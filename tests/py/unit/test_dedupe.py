"""Dedupe (docs/semantics.md, Guards): the key's exact format, and the in-process DedupeCache's rules."""

import hashlib
from datetime import UTC, datetime, timedelta, timezone
from decimal import Decimal

import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from montalaq import _core
from montalaq.dedupe import DedupeCache, DedupeResult, dedup_key, dedup_key_text

TS = 1_767_225_600_000_000_000  # 2026-01-01T00:00:00Z, int ns
T0 = TS
T0_S = 1_767_225_600.0  # the same in seconds, for the deprecated now_s
S = 1_000_000_000
ALLOWED = DedupeResult.ALLOWED
DEDUPED = DedupeResult.DEDUPED
BASE = {
    "symbol": "BTCUSDT",
    "side": "buy",
    "strategy": "breakout",
    "timeframe": "15m",
    "price": 64123.5,
    "ts": TS,
}


def key_text(**changes: object) -> str:
    return dedup_key_text(**{**BASE, **changes})  # type: ignore[arg-type]


def key(**changes: object) -> str:
    return dedup_key(**{**BASE, **changes})  # type: ignore[arg-type]


# --- the key -------------------------------------------------------------------------


def test_key_is_the_sha256_of_the_documented_string() -> None:
    assert key_text() == "BTCUSDT|BUY|breakout|15m|6412|1963584"
    assert key() == hashlib.sha256(b"BTCUSDT|BUY|breakout|15m|6412|1963584").hexdigest()
    assert len(key()) == 64
    assert key() == key().lower()


def test_price_bucket_keeps_four_significant_digits() -> None:
    assert key_text(price=64129.99).endswith("|6412|1963584")  # same bucket as 64123.5
    assert key(price=64129.99) == key()
    assert key(price=64130.0) != key()
    assert key_text(price=0.3).split("|")[4] == "3000"  # 0.3 is 3/10, not 0.2999...
    assert key_text(price=0.00012345678).split("|")[4] == "1234"
    assert key_text(price=1000).split("|")[4] == "1000"
    assert key_text(price=9999.99).split("|")[4] == "9999"
    assert key_text(price=10000).split("|")[4] == "1000"  # the step grows with the magnitude
    assert key_text(price=Decimal("1.23456")).split("|")[4] == "1234"
    assert key_text(price=np.float64(0.3)) == key_text(price=0.3)


def test_price_step_overrides_the_default() -> None:
    assert key_text(price=64123.5, price_step=0.5).split("|")[4] == "128247"
    assert key_text(price=0.3, price_step=0.1).split("|")[4] == "3"  # not 2 from 0.3 / 0.1
    assert key_text(price=1, price_step=Decimal("0.4")).split("|")[4] == "2"


def test_time_bucket_is_floor_of_epoch_seconds_over_bucket_s() -> None:
    assert key_text(ts=TS + 899_999_999_999).endswith("|1963584")
    assert key_text(ts=TS + 900_000_000_000).endswith("|1963585")
    assert key_text(ts=TS - 1).endswith("|1963583")
    assert key_text(ts=TS + 59 * 10**9, bucket_s=60).endswith(f"|{TS // 60_000_000_000}")
    assert key_text(ts=TS, bucket_s=0.5).endswith(f"|{TS // 500_000_000}")


def test_every_time_type_gives_the_same_key() -> None:
    aware = datetime(2026, 1, 1, 0, 7, tzinfo=UTC)
    ts = TS + 7 * 60 * 10**9
    assert key(ts=aware) == key(ts=ts)
    assert key(ts=aware.astimezone(timezone(timedelta(hours=4)))) == key(ts=ts)
    assert key(ts=np.datetime64("2026-01-01T00:07:00")) == key(ts=ts)
    assert key(ts=pd.Timestamp("2026-01-01T00:07:00Z")) == key(ts=ts)


def test_side_and_timeframe_are_normalised() -> None:
    assert key(side="BUY") == key(side="Buy") == key(side="buy")
    assert key(side="sell") != key()
    assert key_text(timeframe="900s") == key_text(timeframe="15m")
    assert key(timeframe="5m") != key()


def test_symbol_and_strategy_are_case_sensitive_and_every_field_counts() -> None:
    assert key(symbol="btcusdt") != key()
    assert key(strategy="Breakout") != key()
    keys = {key(), key(symbol="ETHUSDT"), key(strategy="mean"), key(price=1.0), key(ts=TS + 10**12)}
    assert len(keys) == 5


@pytest.mark.parametrize(
    ("field", "value", "error"),
    [
        ("symbol", None, ValueError),
        ("symbol", "", ValueError),
        ("symbol", "   ", ValueError),
        ("symbol", " BTCUSDT", ValueError),
        ("symbol", "BTC|USDT", ValueError),
        ("symbol", 42, TypeError),
        ("side", None, ValueError),
        ("side", "", ValueError),
        ("side", "HOLD", ValueError),
        ("strategy", None, ValueError),
        ("strategy", "", ValueError),
        ("strategy", "a|b", ValueError),
        ("timeframe", None, ValueError),
        ("timeframe", "", ValueError),
        ("timeframe", "1M", ValueError),
        ("price", None, ValueError),
        ("price", float("nan"), ValueError),
        ("price", float("inf"), ValueError),
        ("price", Decimal("NaN"), ValueError),
        ("price", 0, ValueError),
        ("price", -1.5, ValueError),
        ("price", "100", TypeError),
        ("price", True, TypeError),
        ("ts", None, ValueError),
        ("ts", 0, ValueError),
        ("ts", -5, ValueError),
        ("ts", datetime(2026, 1, 1), ValueError),  # naive: ambiguous
        ("ts", 1.767e9, TypeError),  # float seconds: ambiguous unit
        ("price_step", 0, ValueError),
        ("price_step", float("nan"), ValueError),
        ("bucket_s", 0, ValueError),
        ("bucket_s", -900, ValueError),
        ("bucket_s", float("nan"), ValueError),
        ("bucket_s", "900", TypeError),
    ],
)
def test_bad_fields_raise_errors_naming_the_field(field: str, value: object, error: type[Exception]) -> None:
    with pytest.raises(error, match=field):
        key(**{field: value})


@settings(max_examples=200, deadline=None)
@given(
    price=st.floats(min_value=1e-8, max_value=1e12, allow_nan=False, allow_infinity=False),
    ts=st.integers(1, 2**62),
)
def test_key_is_stable_and_the_bucket_is_within_four_digits(price: float, ts: int) -> None:
    text = key_text(price=price, ts=ts)
    assert text == key_text(price=price, ts=ts)
    bucket = int(text.split("|")[4])
    assert 1000 <= bucket <= 9999
    # The bucket's lower edge is at or below the price, the next one above it.
    exact = Decimal(repr(price))
    step = Decimal(10) ** (exact.adjusted() - 3)
    assert bucket * step <= exact < (bucket + 1) * step


# --- DedupeCache ---------------------------------------------------------------------


def test_the_result_enum_is_native_and_has_the_two_names() -> None:
    assert DedupeResult is _core.guard.DedupeResult
    assert set(DedupeResult.__members__) == {"ALLOWED", "DEDUPED"}
    c = DedupeCache()
    assert c.check_and_record("k", T0) is ALLOWED  # the members themselves, not copies
    assert c.check_and_record("k", T0) is DEDUPED


def test_ttl_expiry_then_the_key_is_recorded_anew() -> None:
    c = DedupeCache(ttl_s=900)
    assert c.check_and_record("k", T0) is ALLOWED
    assert c.check_and_record("k", T0 + 900 * S - 1) is DEDUPED
    assert c.check_and_record("k", T0 + 900 * S) is ALLOWED  # expires == now: expired
    assert c.check_and_record("k", T0 + 1800 * S - 1) is DEDUPED
    assert c.check_and_record("k", T0 + 1800 * S) is ALLOWED
    assert (c.allowed, c.deduped) == (3, 2)


def test_capacity_bounds_the_records_and_counts_evictions() -> None:
    c = DedupeCache(ttl_s=100, capacity=3)
    for i, k in enumerate("abc"):
        assert c.check_and_record(k, T0 + i * S) is ALLOWED
    assert c.check_and_record("d", T0 + 3 * S) is ALLOWED
    assert (len(c), c.evictions) == (3, 1)
    assert not c.contains("a", T0 + 3 * S)  # the one expiring soonest went
    assert c.contains("b", T0 + 3 * S)
    assert c.check_and_record("e", T0 + 101 * S) is ALLOWED  # a and b expired: no eviction
    assert c.evictions == 1
    assert c.capacity == 3


def test_purge_len_and_clear() -> None:
    c = DedupeCache(ttl_s=10)
    for i in range(5):
        c.check_and_record(f"k{i}", T0, ttl_s=i + 1)
    assert len(c) == 5
    assert c.purge(T0 + 2 * S) == 2
    assert len(c) == 3
    c.clear()
    assert (len(c), c.allowed, c.deduped) == (0, 0, 0)
    assert c.check_and_record("k0", T0) is ALLOWED


def test_arguments_by_keyword_and_number_types() -> None:
    c = DedupeCache(ttl_s=60)
    assert c.check_and_record(key="k", now=T0, ttl_s=5) is ALLOWED
    assert c.check_and_record("k", ttl_s=5, now=T0 + 4 * S) is DEDUPED
    assert c.check_and_record("k", np.int64(T0 + 5 * S)) is ALLOWED  # recorded with the 60 s default
    assert c.contains(key="k", now=T0 + 64 * S)
    assert not c.contains("k", T0 + 65 * S)
    assert c.ttl_s == 60.0


# One instant four ways: int ns, aware datetimes (two zones), numpy.datetime64, pandas.Timestamp.
T0_FORMS = [
    T0,
    datetime(2026, 1, 1, tzinfo=UTC),
    datetime(2026, 1, 1, 1, tzinfo=timezone(timedelta(hours=1))),
    np.datetime64(T0, "ns"),
    pd.Timestamp(T0, tz="UTC"),
]


@pytest.mark.parametrize("now", T0_FORMS, ids=["int", "utc", "plus1h", "datetime64", "timestamp"])
def test_now_takes_int_ns_aware_datetimes_and_datetime64_alike(now: object) -> None:
    c = DedupeCache(ttl_s=60)
    assert c.check_and_record("k", now) is ALLOWED
    assert c.contains("k", T0 + 60 * S - 1)
    assert not c.contains("k", T0 + 60 * S)  # recorded at T0 exactly, whatever the form
    assert c.contains("k", now=now)
    assert c.check_and_record("k", now=now) is DEDUPED
    assert c.purge(now=now) == 0


def test_now_s_still_works_and_warns_at_the_caller() -> None:
    c = DedupeCache(ttl_s=60)
    with pytest.warns(DeprecationWarning, match=r"now_s is deprecated, pass now= \(int ns") as record:
        assert c.check_and_record("k", now_s=T0_S) is ALLOWED
    assert record[0].filename == __file__  # the warning points at the caller
    with pytest.warns(DeprecationWarning, match="now_s is deprecated"):
        assert c.check_and_record("k", ttl_s=5, now_s=T0_S + 59.999) is DEDUPED
    with pytest.warns(DeprecationWarning, match="now_s is deprecated"):
        assert not c.contains("k", now_s=T0_S + 60)  # seconds, converted as they always were
    with pytest.warns(DeprecationWarning, match="now_s is deprecated"):
        assert c.purge(now_s=T0_S + 60) == 1
    with pytest.warns(DeprecationWarning, match="now_s is deprecated"):
        assert c.check_and_record("j", now_s=None) is ALLOWED  # None: the wall clock, as before


@pytest.mark.parametrize(
    ("call", "error", "match"),
    [
        (lambda c: c.check_and_record(), TypeError, "missing required argument 'key'"),
        (lambda c: c.check_and_record("k", T0, 1, 2), TypeError, "at most 3 positional"),
        (lambda c: c.check_and_record("k", when=T0), TypeError, "unexpected keyword argument 'when'"),
        (lambda c: c.check_and_record("k", T0, now=T0), TypeError, "multiple values for argument 'now'"),
        (lambda c: c.check_and_record("k", T0, now_s=T0_S), TypeError, "pass now= or now_s=, not both"),
        (lambda c: c.contains("k", T0, now_s=T0_S), TypeError, "not both"),
        (lambda c: c.purge(T0, now_s=T0_S), TypeError, "not both"),
        (lambda c: c.check_and_record(None), TypeError, "key"),
        (lambda c: c.check_and_record(b"k"), TypeError, "key"),
        (lambda c: c.check_and_record(""), ValueError, "key"),
        (lambda c: c.check_and_record("k", "now"), TypeError, "^now: expected int nanoseconds"),
        (lambda c: c.check_and_record("k", True), TypeError, "^now: .*bool"),
        (lambda c: c.check_and_record("k", T0_S), TypeError, "^now: .*got float .* seconds"),
        (lambda c: c.check_and_record("k", float("nan")), TypeError, "^now: .*got float nan"),
        (lambda c: c.check_and_record("k", datetime(2026, 1, 1)), ValueError, "^now: naive datetime"),
        (lambda c: c.check_and_record("k", np.datetime64("NaT")), ValueError, "^now: NaT"),
        (lambda c: c.check_and_record("k", pd.NaT), ValueError, "^now: NaT"),
        (lambda c: c.check_and_record("k", -1), ValueError, r"^now: expected a time from 1970 to 2223"),
        (lambda c: c.check_and_record("k", 8 * 10**18 + 1), ValueError, "^now: expected a time"),
        (lambda c: c.check_and_record("k", 10**400), ValueError, "^now: integer out of int64 range"),
        (lambda c: c.check_and_record("k", now_s="now"), TypeError, "^now_s"),
        (lambda c: c.check_and_record("k", now_s=float("nan")), ValueError, "^now_s"),
        (lambda c: c.check_and_record("k", now_s=-1.0), ValueError, "^now_s"),
        (lambda c: c.check_and_record("k", T0, -900), ValueError, "ttl_s"),
        (lambda c: c.check_and_record("k", T0, 0), ValueError, "ttl_s"),
        (lambda c: c.check_and_record("k", T0, 1e-12), ValueError, "ttl_s"),
        (lambda c: c.check_and_record("k", T0, float("inf")), ValueError, "ttl_s"),
        (lambda c: c.check_and_record("k", T0, "900"), TypeError, "ttl_s"),
        (lambda c: c.contains(""), ValueError, "key"),
        (lambda c: c.contains("k", 1.5), TypeError, "^now: .*got float"),
        (lambda c: c.purge(1.5), TypeError, "^now: .*got float"),
        (lambda c: c.purge(-1), ValueError, "^now: expected a time"),
    ],
)
@pytest.mark.filterwarnings("ignore:now_s is deprecated:DeprecationWarning")
def test_bad_calls_are_clear(call: object, error: type[Exception], match: str) -> None:
    c = DedupeCache()
    with pytest.raises(error, match=match):
        call(c)  # type: ignore[operator]
    assert len(c) == 0  # a refused call records nothing


@pytest.mark.parametrize(
    ("kwargs", "error", "name"),
    [
        ({"ttl_s": -1}, ValueError, "ttl_s"),
        ({"ttl_s": 0}, ValueError, "ttl_s"),
        ({"ttl_s": float("nan")}, ValueError, "ttl_s"),
        ({"ttl_s": None}, TypeError, "ttl_s"),
        ({"ttl_s": "900"}, TypeError, "ttl_s"),
        ({"capacity": 0}, ValueError, "capacity"),
        ({"capacity": 2**32 + 1}, ValueError, "capacity"),
        ({"capacity": 1.5}, TypeError, "capacity"),
        ({"capacity": True}, TypeError, "capacity"),
    ],
)
def test_bad_settings_name_the_argument(kwargs: dict[str, object], error: type[Exception], name: str) -> None:
    with pytest.raises(error, match=name):
        DedupeCache(**kwargs)  # type: ignore[arg-type]


def test_wall_clock_by_default() -> None:
    c = DedupeCache(ttl_s=60)
    assert c.check_and_record("k") is ALLOWED
    assert c.check_and_record("k") is DEDUPED
    assert c.contains("k")


@settings(max_examples=150, deadline=None)
@given(
    ops=st.lists(
        st.tuples(
            st.integers(0, 7),  # key
            st.integers(0, 30),  # seconds since the previous call
            st.one_of(st.none(), st.integers(1, 40)),  # per-call TTL
        ),
        min_size=1,
        max_size=150,
    )
)
def test_agrees_with_a_dict_of_expiries(ops: list[tuple[int, int, int | None]]) -> None:
    c = DedupeCache(ttl_s=20)
    expires: dict[str, int] = {}
    now = T0
    for k, gap, ttl in ops:
        now += gap * S
        name = f"k{k}"
        if name in expires and now < expires[name]:
            expect = DEDUPED
        else:
            expect = ALLOWED
            expires[name] = now + (20 if ttl is None else ttl) * S
        assert c.check_and_record(name, now, ttl) is expect
        assert all(c.contains(n, now) == (now < e) for n, e in expires.items())
