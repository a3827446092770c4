"""The time domain and value bounds (issue 20, items 1, 4 and 5): each test reproduces a
fault found by probing -- times near INT64_MAX, notionals that overflow, conversions that
wrapped -- and the hypothesis tests feed timestamps from anywhere in int64."""

from __future__ import annotations

import time

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import montalaq
from montalaq import MarketEngine, TradeStatus
from montalaq._time import MAX_TS_NS, ts_array

M = 2**63 - 1
T0 = 1_704_067_200 * 10**9


def test_times_near_int64_max_return_at_once_and_are_rejected() -> None:
    engine = MarketEngine(("1s", "1m"), fill_gaps=True)
    started = time.monotonic()
    counts, closed = engine.on_trades("S", np.array([M - 10**9, M]), np.ones(2), np.ones(2))  # was: hung, OOM
    assert time.monotonic() - started < 2
    assert counts.get("REJECT_TS") == 2
    assert closed == []
    bars = montalaq.build_bars(np.array([M - 5, M - 1, M]), np.ones(3), np.ones(3), "1m")
    assert len(bars) == 0  # was: three bars with the same start
    filled = montalaq.build_bars(np.array([T0, M - 1]), np.ones(2), np.ones(2), "1s", fill_gaps=True)
    assert len(filled) == 1  # was: 5,124,097 bars past max_fill_bars


def test_the_python_bound_is_the_cores() -> None:
    engine = MarketEngine(("1m",))
    assert engine.on_trade("S", MAX_TS_NS, 1.0, 1.0)[0] == TradeStatus.ACCEPTED
    assert engine.on_trade("S", MAX_TS_NS + 1, 1.0, 1.0)[0] == TradeStatus.REJECT_TS


def test_an_overflowing_notional_is_rejected_and_features_recover() -> None:
    engine = MarketEngine(("1m",))
    for i in range(30):
        engine.on_trade("S", T0 + i * 60 * 10**9, 100.0 + i, 1.0)
    assert engine.on_trade("S", T0 + 30 * 60 * 10**9, 1e200, 1e200)[0] == TradeStatus.REJECT_SIZE
    for i in range(31, 40):
        engine.on_trade("S", T0 + i * 60 * 10**9, 100.0 + i, 1.0)
    last = engine.latest("S", "1m")
    assert last is not None
    assert np.isfinite(last.px_vs_vwap_bps)  # was: NaN for good
    assert np.isfinite(last.rvol)
    signals = engine.signals("S")
    assert signals["px_vs_vwap_bps"] is not None


def test_seconds_beyond_int64_ns_are_invalid_rows_not_wrapped_dates(tmp_path) -> None:  # type: ignore[no-untyped-def]
    path = tmp_path / "s.csv"
    path.write_text("time_s,price,size\n1704067200,100,1\n20213969674,100,1\n1704067260,101,1\n")
    trades = montalaq.read_trades(path)
    assert trades.ts_ns.tolist() == [
        1704067200 * 10**9,
        0,
        1704067260 * 10**9,
    ]  # was: 2026-01-01T00:00:00.29Z
    counts, _ = MarketEngine(("1m",)).on_trades("S", trades.ts_ns, trades.price, trades.size)
    assert counts.get("REJECT_TS") == 1


def test_datetime64_beyond_the_ns_range_is_refused_not_wrapped() -> None:
    with pytest.raises(ValueError, match="outside the int64 nanosecond range"):
        ts_array(np.array(["2610-07-01T00:00:00"], dtype="datetime64[s]"))
    with pytest.raises(ValueError, match="index 1"):
        ts_array(np.array([0, 20213969674], dtype="datetime64[s]"))
    assert ts_array(np.array(["2024-01-01"], dtype="datetime64[D]")).tolist() == [T0]
    assert ts_array(np.array(["2024"], dtype="datetime64[Y]")).tolist() == [T0]


@settings(max_examples=200, deadline=None)
@given(st.lists(st.integers(min_value=-(2**63), max_value=2**63 - 1), min_size=1, max_size=40))
def test_build_bars_takes_any_int64_time_and_keeps_starts_in_range(ts: list[int]) -> None:
    arr = np.sort(np.array(ts, dtype=np.int64))
    for fill in (False, True):
        bars = montalaq.build_bars(
            arr, np.ones(arr.size), np.ones(arr.size), "1m", fill_gaps=fill, max_fill_bars=1000
        )
        starts = bars.start_ns
        assert (starts >= 0).all()  # a trade at 1 ns is in the bar that starts at the epoch
        assert (starts <= MAX_TS_NS).all()
        assert (np.diff(starts) > 0).all()
        valid = (arr > 0) & (arr <= MAX_TS_NS)
        assert int(bars.trades.sum()) == int(valid.sum())


@settings(max_examples=200, deadline=None)
@given(
    st.lists(
        st.tuples(
            st.integers(min_value=-(2**63), max_value=2**63 - 1),
            st.sampled_from([1.0, 100.0, 1e200, 1e-200, float("nan"), float("inf"), -1.0, 0.0]),
            st.sampled_from([1.0, 1e200, 1e-300, float("nan"), 0.0]),
        ),
        min_size=1,
        max_size=40,
    ),
    st.integers(min_value=-(2**63), max_value=2**63 - 1),
)
def test_the_engine_takes_any_int64_time_and_any_float(
    rows: list[tuple[int, float, float]], now: int
) -> None:
    engine = MarketEngine(("1s", "1m"), fill_gaps=True, late_window_ns=60 * 10**9)
    ts = np.array([r[0] for r in rows], dtype=np.int64)
    px = np.array([r[1] for r in rows])
    sz = np.array([r[2] for r in rows])
    counts, _closed = engine.on_trades("S", ts, px, sz)
    assert sum(counts.values()) == len(rows)
    engine.advance_time(max(1, now))
    for tf in ("1s", "1m"):
        starts = engine.bars("S", tf).start_ns
        assert (starts >= 0).all()  # a trade at 1 ns is in the bar that starts at the epoch
        assert (starts <= MAX_TS_NS).all()
        assert (np.diff(starts) > 0).all()
