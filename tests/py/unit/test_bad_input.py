"""Bad data is counted, never raised (docs/semantics.md, Time values in Python; docs/semantics.md, HTTP API);
bad arguments raise ValueError/TypeError
naming the argument and what is accepted (docs/semantics.md, Time values in Python)."""

from __future__ import annotations

import gzip
import json
import math
from collections.abc import Callable
from datetime import UTC, datetime, timedelta, timezone
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest
from numpy.testing import assert_array_equal

import montalaq
from montalaq import MarketEngine, TradeStatus
from mtq_support import TARDIS, assert_same_bars

TFS = ("1m", "5m", "15m")
SYM = "BTCUSDT"
T0 = int(pd.Timestamp("2020-02-22 00:00:00", tz="UTC").value)
NAN, INF = float("nan"), float("inf")


@pytest.fixture(scope="module")
def clean(load_trades: Callable[[str], montalaq.Trades]) -> montalaq.Trades:
    t = load_trades(TARDIS)
    assert t.side is not None
    assert t.trade_id is not None
    n = 3_000
    return montalaq.Trades(
        t.symbol,
        t.ts_ns[:n].copy(),
        t.price[:n].copy(),
        t.size[:n].copy(),
        t.side[:n].copy(),
        t.trade_id[:n].copy(),
    )


BAD_ROWS = [
    # (ts, price, size, expected reason); ts is checked first, then price, then size
    (0, 9_700.0, 1.0, "REJECT_TS"),
    (-1, 9_700.0, 1.0, "REJECT_TS"),
    (np.iinfo(np.int64).min, 9_700.0, 1.0, "REJECT_TS"),
    (-5, NAN, NAN, "REJECT_TS"),
    (None, NAN, 1.0, "REJECT_PRICE"),  # None: a valid ts taken from the neighbouring row
    (None, INF, 1.0, "REJECT_PRICE"),
    (None, -INF, 1.0, "REJECT_PRICE"),
    (None, 0.0, 1.0, "REJECT_PRICE"),
    (None, -0.0, 1.0, "REJECT_PRICE"),
    (None, -9_700.0, 1.0, "REJECT_PRICE"),
    (None, NAN, 0.0, "REJECT_PRICE"),
    (None, 9_700.0, NAN, "REJECT_SIZE"),
    (None, 9_700.0, INF, "REJECT_SIZE"),
    (None, 9_700.0, -INF, "REJECT_SIZE"),
    (None, 9_700.0, 0.0, "REJECT_SIZE"),
    (None, 9_700.0, -0.5, "REJECT_SIZE"),
    (10**18 * 9, NAN, 1.0, "REJECT_TS"),  # past 2^62 ns (year 2116): the time is checked first
    (T0, 9_700.0, -1.0, "REJECT_SIZE"),  # an out-of-order ts on an invalid row: not "unsorted"
]


def inject_bad_rows(
    t: montalaq.Trades, rng: np.random.Generator, copies: int = 6
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray, np.ndarray, np.ndarray, dict[str, int]]:
    """The clean trades with every BAD_ROWS row inserted `copies` times at random places.
    Bad rows reuse ids of later valid trades: a rejected trade must not block that id."""
    assert t.side is not None
    assert t.trade_id is not None
    ts, px, sz, sd, ids = (list(a.tolist()) for a in (t.ts_ns, t.price, t.size, t.side, t.trade_id))
    is_bad = [False] * len(ts)
    expected: dict[str, int] = {"REJECT_TS": 0, "REJECT_PRICE": 0, "REJECT_SIZE": 0}
    for _ in range(copies):
        for bts, bpx, bsz, reason in BAD_ROWS:
            pos = int(rng.integers(1, len(ts)))
            prev_valid = next(ts[k] for k in range(pos - 1, -1, -1) if not is_bad[k])
            row_ts = prev_valid if bts is None else bts
            later_id = ids[min(len(ids) - 1, pos + int(rng.integers(0, 50)))]
            for arr, v in ((ts, row_ts), (px, bpx), (sz, bsz), (sd, 1), (ids, later_id)):
                arr.insert(pos, v)
            is_bad.insert(pos, True)
            expected[reason] += 1
    return (
        np.array(ts, np.int64),
        np.array(px),
        np.array(sz),
        np.array(sd, np.int8),
        np.array(ids, np.uint64),
        np.array(is_bad),
        expected,
    )


# --------------------------------------------------------------------------- bad data: batch


def test_build_bars_skips_and_counts_bad_rows(clean: montalaq.Trades) -> None:
    ts, px, sz, sd, _, _is_bad, expected = inject_bad_rows(clean, np.random.default_rng(1))
    for tf in TFS:
        bars = montalaq.build_bars(ts, px, sz, tf, side=sd)
        assert bars.stats == {"accepted": len(clean), **expected, "gaps_unfilled": 0}
        assert_same_bars(
            bars, montalaq.build_bars(clean.ts_ns, clean.price, clean.size, tf, side=clean.side), label=tf
        )
        for col in ("open", "high", "low", "close", "volume", "vwap", "buy_volume"):
            assert np.isfinite(getattr(bars, col)).all(), col


def test_build_bars_with_only_bad_rows_gives_no_bars() -> None:
    bars = montalaq.build_bars(
        np.array([0, -1, T0, T0]),
        np.array([1.0, 1.0, NAN, 1.0]),
        np.array([1.0, 1.0, 1.0, 0.0]),
        "1m",
        fill_gaps=True,
    )
    assert len(bars) == 0
    assert bars.stats == {
        "accepted": 0,
        "REJECT_TS": 2,
        "REJECT_PRICE": 1,
        "REJECT_SIZE": 1,
        "gaps_unfilled": 0,
    }
    empty = montalaq.build_bars(np.array([], np.int64), np.array([]), np.array([]), "1m")
    assert len(empty) == 0
    assert empty.stats["accepted"] == 0
    assert len(montalaq.compute_features(empty)) == 0


# --------------------------------------------------------------------------- bad data: streaming


def test_engine_on_trade_rejects_bad_rows_by_reason(clean: montalaq.Trades) -> None:
    ts, px, sz, sd, ids, is_bad, expected = inject_bad_rows(clean, np.random.default_rng(2))
    engine = MarketEngine(TFS)
    statuses = []
    for row in zip(ts.tolist(), px.tolist(), sz.tolist(), sd.tolist(), ids.tolist(), strict=True):
        st, _ = engine.on_trade(SYM, *row)
        statuses.append(st)
    assert all(s == TradeStatus.ACCEPTED for s, bad in zip(statuses, is_bad, strict=True) if not bad)
    assert {s.name for s, bad in zip(statuses, is_bad, strict=True) if bad} == set(expected)
    stats = engine.stats(SYM)
    assert stats["ACCEPTED"] == len(clean)
    for reason, n in expected.items():
        assert stats[reason] == n, reason
    for tf in TFS:
        assert_same_bars(
            engine.bars(SYM, tf, include_open=True),
            montalaq.build_bars(clean.ts_ns, clean.price, clean.size, tf, side=clean.side),
            label=tf,
        )
    json.dumps(engine.state(SYM), allow_nan=False)
    assert engine.state(SYM)["last_price"] == float(clean.price[-1])


def test_engine_on_trades_counts_bad_rows_and_keeps_state_clean(clean: montalaq.Trades) -> None:
    ts, px, sz, sd, ids, _, expected = inject_bad_rows(clean, np.random.default_rng(3))
    engine = MarketEngine(TFS)
    counts, _ = engine.on_trades(SYM, ts, px, sz, sd, ids)
    assert counts == {
        "ACCEPTED": len(clean),
        **expected,
        "DUPLICATE_TICK": 0,
        "LATE": 0,
        "AMENDED": 0,
        "REJECT_SYMBOL": 0,
    }
    for tf in TFS:
        assert_same_bars(
            engine.bars(SYM, tf, include_open=True),
            montalaq.build_bars(clean.ts_ns, clean.price, clean.size, tf, side=clean.side),
            label=tf,
        )
        feats = engine.features(SYM, tf)
        for col in ("atr", "mom_bps", "px_vs_vwap_bps", "rvol"):
            assert not np.isinf(getattr(feats, col)).any()
    assert engine.trades_cached(SYM) == len(clean)


def test_rejected_symbols_are_counted_by_on_trade() -> None:
    engine = MarketEngine(TFS, symbols=["A"])
    st, closed = engine.on_trade("B", T0 + 1, 1.0, 1.0)
    assert st == TradeStatus.REJECT_SYMBOL
    assert closed == []
    assert engine.stats()["REJECT_SYMBOL"] == 1
    assert engine.symbols() == ["A"]
    assert not engine.has_symbol("B")
    with pytest.raises(ValueError, match="unknown symbol 'B'"):
        engine.stats("B")


def test_bug_on_trades_rejected_symbol_is_not_counted_in_stats() -> None:
    """Regression pin. on_trades must equal on_trade row by row (docs/semantics.md, Market core 'must agree'):
    on_trade("B", ...) for a symbol outside the allow-list adds to stats()['REJECT_SYMBOL'],
    but on_trades("B", ...) returns REJECT_SYMBOL counts and leaves stats() at 0 (the
    binding short-cuts before the engine's counter)."""
    engine = MarketEngine(TFS, symbols=["A"])
    counts, _ = engine.on_trades("B", np.array([T0 + 1, T0 + 2, T0 + 3]), np.ones(3), np.ones(3))
    assert counts["REJECT_SYMBOL"] == 3
    assert engine.stats()["REJECT_SYMBOL"] == 3


def test_bug_huge_finite_price_times_size_gives_infinite_vwap() -> None:
    """Regression pin. docs/semantics.md, Time values in Python: every float that leaves the package is
    finite (NaN when
    undefined, never Infinity). A trade with price 1e200 and size 1e200 has a notional that
    overflows: it gave vwap inf, then (issue 20) NaN features for good. Such a trade is now
    REJECT_SIZE, in build_bars and the engine alike."""
    ts = np.array([T0 + 1, T0 + 2, T0 + 3], np.int64)
    bars = montalaq.build_bars(ts, np.array([1e200, 1e200, 100.0]), np.array([1e200, 1e200, 1.0]), "1m")
    assert (bars.stats["accepted"], bars.stats["REJECT_SIZE"]) == (1, 2)
    assert np.isfinite(bars.volume).all()
    assert np.isfinite(bars.vwap).all(), f"vwap = {bars.vwap}"


# --------------------------------------------------------------------------- timeframes


BAD_TIMEFRAMES = ["1M", "0m", "5x", "", "01m", "1.5m", "-1m", " 1m", "1mm", "m", "1w", "1m,5m"]


@pytest.mark.parametrize("tf", BAD_TIMEFRAMES)
def test_unknown_timeframe_strings_raise_value_error_naming_accepted_forms(tf: str) -> None:
    for call in (
        lambda: montalaq.parse_timeframe(tf),
        lambda: montalaq.build_bars(np.array([T0 + 1]), np.array([1.0]), np.array([1.0]), tf),
        lambda: MarketEngine(("1m", tf) if tf != "1m,5m" else (tf,)),
    ):
        with pytest.raises(ValueError, match=r"timeframe.*'<n><unit>'.*s, m, h or d") as info:
            call()
        assert repr(tf)[1:-1] in str(info.value)


def test_timeframe_of_wrong_type_raises_type_error_naming_it() -> None:
    with pytest.raises(TypeError, match="timeframe: expected a string"):
        montalaq.parse_timeframe(5)  # type: ignore[arg-type]
    with pytest.raises(TypeError, match="timeframe"):
        montalaq.build_bars(np.array([T0 + 1]), np.array([1.0]), np.array([1.0]), ["1m", 5])  # type: ignore[list-item]
    engine = MarketEngine(TFS)
    engine.on_trade(SYM, T0 + 1, 1.0, 1.0)
    with pytest.raises(TypeError, match="timeframe"):
        engine.bars(SYM, 5)  # type: ignore[arg-type]


@pytest.mark.parametrize("value", [5, None, 1.5])
def test_bug_non_string_timeframe_error_does_not_name_the_argument(value: object) -> None:
    """Regression pin. docs/semantics.md, Time values in Python: bad arguments raise with a message naming
    the argument and
    the accepted values. build_bars(..., 5) and MarketEngine(5) raise TypeError("'int'
    object is not iterable"): the non-string is taken for a sequence of timeframes."""
    with pytest.raises(TypeError, match="timeframe"):
        montalaq.build_bars(np.array([T0 + 1]), np.array([1.0]), np.array([1.0]), value)  # type: ignore[call-overload]
    with pytest.raises(TypeError, match="timeframe"):
        MarketEngine(value)  # type: ignore[arg-type]


def test_timeframe_sets_the_engine_refuses() -> None:
    with pytest.raises(ValueError, match="not a multiple of the finest"):
        MarketEngine(("1m", "90s"))
    with pytest.raises(ValueError, match="given twice"):
        MarketEngine(("1m", "60s"))
    with pytest.raises(ValueError, match="at least one timeframe"):
        MarketEngine(())
    with pytest.raises(ValueError, match="at least one timeframe"):
        montalaq.build_bars(np.array([T0 + 1]), np.array([1.0]), np.array([1.0]), [])


def test_equivalent_timeframe_spellings_are_the_same_timeframe() -> None:
    assert montalaq.parse_timeframe("60s") == montalaq.parse_timeframe("1m") == 60_000_000_000
    assert montalaq.timeframe_label(3_600_000_000_000) == "1h"
    engine = MarketEngine(("1m", "5m"))
    assert engine.timeframes == ["1m", "5m"]
    engine.on_trade(SYM, T0 + 1, 1.0, 1.0)
    assert len(engine.bars(SYM, "60s", include_open=True)) == 1


# --------------------------------------------------------------------------- arrays


def arrays(n: int = 3) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    return T0 + np.arange(1, n + 1, dtype=np.int64) * 1_000_000_000, np.linspace(1.0, 2.0, n), np.ones(n)


def test_mismatched_lengths_raise_value_error() -> None:
    ts, px, sz = arrays()
    with pytest.raises(ValueError, match="same length; got 3, 2, 3"):
        montalaq.build_bars(ts, px[:2], sz)
    with pytest.raises(ValueError, match="same length; got 3, 3, 4"):
        montalaq.build_bars(ts, px, np.ones(4))
    with pytest.raises(ValueError, match=r"side: .*length 3"):
        montalaq.build_bars(ts, px, sz, side=np.array([1, 1]))
    engine = MarketEngine(TFS)
    with pytest.raises(ValueError, match="same length"):
        engine.on_trades(SYM, ts, px[:2], sz)
    with pytest.raises(ValueError, match=r"side: .*length 3"):
        engine.on_trades(SYM, ts, px, sz, side=np.array([1]))
    with pytest.raises(ValueError, match=r"trade_id: .*length 3"):
        engine.on_trades(SYM, ts, px, sz, trade_id=np.array([1, 2]))
    with pytest.raises(ValueError, match="same length"):
        montalaq.compute_features({"high": px, "low": px, "close": px[:2], "volume": sz, "vwap": px})
    # nothing was applied by the refused calls
    assert not engine.has_symbol(SYM) or engine.stats(SYM)["ACCEPTED"] == 0


@pytest.mark.parametrize(
    ("which", "bad", "match"),
    [
        ("ts_ns", lambda ts: ts.astype(np.float64), r"ts_ns: .*float64.*\(ts \* 1e9\)"),
        ("ts_ns", lambda ts: ts.astype(str), "ts_ns: "),
        ("ts_ns", lambda ts: np.ones(ts.shape, bool), "ts_ns: .*bool"),
        ("price", lambda px: px.astype(str), "price: expected a real numeric array"),
        (
            "price",
            lambda px: np.array([str(x) for x in px], dtype=object),
            "price: expected a real numeric array",
        ),
        ("price", lambda px: np.ones(px.shape, bool), "price: .*bool"),
        ("size", lambda sz: np.ones(sz.shape, bool), "size: .*bool"),
        ("size", lambda sz: sz.astype(np.complex128), "size: .*complex"),
        ("side", lambda _: np.array([True, False, True]), "side: .*bool"),
        ("side", lambda _: np.array([1.0, -1.0, 0.0]), "side: .*float64"),
    ],
)
def test_wrong_dtypes_raise_type_error_naming_the_argument(
    which: str, bad: Callable[[np.ndarray], np.ndarray], match: str
) -> None:
    ts, px, sz = arrays()
    args = {"ts_ns": ts, "price": px, "size": sz, "side": np.array([1, -1, 0], np.int8)}
    args[which] = bad(args[which])
    with pytest.raises(TypeError, match=match):
        montalaq.build_bars(args["ts_ns"], args["price"], args["size"], "1m", side=args["side"])
    engine = MarketEngine(TFS)
    with pytest.raises(TypeError, match=match):
        engine.on_trades(SYM, args["ts_ns"], args["price"], args["size"], args["side"])


def test_two_dimensional_arrays_are_refused() -> None:
    ts, px, sz = arrays(4)
    with pytest.raises(ValueError, match=r"ts_ns: expected a one-dimensional array, got shape \(2, 2\)"):
        montalaq.build_bars(ts.reshape(2, 2), px, sz)
    with pytest.raises(ValueError, match=r"price: expected a one-dimensional"):
        montalaq.build_bars(ts, px.reshape(2, 2), sz)


def test_trade_id_dtype_and_sign_are_checked() -> None:
    ts, px, sz = arrays()
    engine = MarketEngine(TFS)
    with pytest.raises(TypeError, match="trade_id: expected integer ids"):
        engine.on_trades(SYM, ts, px, sz, trade_id=np.array([1.0, 2.0, 3.0]))
    with pytest.raises(ValueError, match="trade_id: ids must be >= 0"):
        engine.on_trades(SYM, ts, px, sz, trade_id=np.array([1, -2, 3]))
    with pytest.raises(TypeError):
        engine.on_trade(SYM, T0 + 1, 1.0, 1.0, 0, -1)


@pytest.mark.parametrize("side", [2, -2, 127])
def test_side_outside_minus_one_zero_one_is_refused(side: int) -> None:
    ts, px, sz = arrays()
    sides = np.array([1, side, 0])
    with pytest.raises(ValueError, match=f"side: values must be \\+1, -1 or 0; index 1 holds {side}"):
        montalaq.build_bars(ts, px, sz, side=sides)
    engine = MarketEngine(TFS)
    with pytest.raises(ValueError, match="side"):
        engine.on_trades(SYM, ts, px, sz, side=sides)
    with pytest.raises(ValueError, match=r"side must be \+1 .*-1 .* or 0"):
        engine.on_trade(SYM, T0 + 1, 1.0, 1.0, side)
    assert not engine.has_symbol(SYM) or engine.stats(SYM)["ACCEPTED"] == 0


def test_unsorted_batch_input_needs_sort_true(clean: montalaq.Trades) -> None:
    rng = np.random.default_rng(4)
    order = rng.permutation(len(clean))
    assert clean.side is not None
    ts, px, sz, sd = clean.ts_ns[order], clean.price[order], clean.size[order], clean.side[order]
    first_bad = int(np.flatnonzero(np.diff(ts) < 0)[0]) + 1
    with pytest.raises(ValueError, match=f"not sorted \\(row {first_bad} .*sort=True"):
        montalaq.build_bars(ts, px, sz, "1m", side=sd)
    # sort=True is a stable sort: the result is the batch of the sorted trades, ties in
    # the order they were given (so open/close among equal timestamps follow that order)
    stable = np.argsort(ts, kind="stable")
    for tf in TFS:
        got = montalaq.build_bars(ts, px, sz, tf, side=sd, sort=True)
        assert_same_bars(
            got, montalaq.build_bars(ts[stable], px[stable], sz[stable], tf, side=sd[stable]), label=tf
        )
        orig = montalaq.build_bars(clean.ts_ns, clean.price, clean.size, tf, side=clean.side)
        for col in ("start_ns", "high", "low", "trades"):
            assert_array_equal(getattr(got, col), getattr(orig, col), err_msg=col)
        np.testing.assert_allclose(got.volume, orig.volume, rtol=1e-12)


def test_bool_and_float_arguments_are_not_integers() -> None:
    ts, px, sz = arrays()
    with pytest.raises(TypeError, match="max_fill_bars"):
        montalaq.build_bars(ts, px, sz, max_fill_bars=1.5)  # type: ignore[call-overload]  # a float on purpose
    with pytest.raises(ValueError, match="max_fill_bars: must be >= 0"):
        montalaq.build_bars(ts, px, sz, max_fill_bars=-1)
    for name in ("atr_n", "mom_k", "vwap_n", "rvol_n"):
        with pytest.raises(TypeError, match=name):
            montalaq.compute_features(
                {"high": px, "low": px, "close": px, "volume": sz, "vwap": px}, **{name: True}
            )
        with pytest.raises(ValueError, match=f"{name} must be an integer in \\[1, 100000\\]"):
            montalaq.compute_features(
                {"high": px, "low": px, "close": px, "volume": sz, "vwap": px}, **{name: 0}
            )
        zero: dict[str, Any] = {name: 0}  # the keyword is picked at run time
        with pytest.raises(ValueError, match=name):
            MarketEngine(TFS, **zero)
    with pytest.raises(ValueError, match="bars: missing column 'vwap'"):
        montalaq.compute_features({"high": px, "low": px, "close": px, "volume": sz})
    for name in ("max_trades", "max_bars"):
        zero = {name: 0}
        true: dict[str, Any] = {name: True}
        with pytest.raises(ValueError, match=f"{name}: must be >= 1"):
            MarketEngine(TFS, **zero)
        with pytest.raises(TypeError, match=name):
            MarketEngine(TFS, **true)
    with pytest.raises(ValueError, match="late_window_ns: must be >= 0"):
        MarketEngine(TFS, late_window_ns=-1)
    with pytest.raises(TypeError, match="close_grace_ns"):
        MarketEngine(TFS, close_grace_ns=1.5)
    with pytest.raises(ValueError, match="symbols"):
        MarketEngine(TFS, symbols=["A", ""])


# --------------------------------------------------------------------------- time values


def test_naive_datetimes_are_refused_everywhere() -> None:
    engine = MarketEngine(TFS)
    naive = datetime(2020, 2, 22, 0, 0, 1)
    with pytest.raises(ValueError, match=r"ts_ns: naive datetime .* aware datetime"):
        engine.on_trade(SYM, naive, 1.0, 1.0)
    with pytest.raises(ValueError, match="now: naive datetime"):
        engine.advance_time(naive)
    with pytest.raises(ValueError, match="ts_ns: naive datetime"):
        engine.on_quote(SYM, naive, 1.0, 2.0)
    with pytest.raises(ValueError, match="ts_ns: naive datetime"):
        engine.on_trade(SYM, pd.Timestamp("2020-02-22 00:00:01"), 1.0, 1.0)
    with pytest.raises(ValueError, match="ts_ns: naive datetime"):
        montalaq.build_bars(np.array([naive], dtype=object), np.array([1.0]), np.array([1.0]))
    with pytest.raises(ValueError, match="NaT"):
        engine.on_trade(SYM, np.datetime64("NaT"), 1.0, 1.0)
    with pytest.raises(TypeError, match="ts_ns: expected int nanoseconds"):
        engine.on_trade(SYM, 1.58e18, 1.0, 1.0)
    with pytest.raises(TypeError, match="ts_ns: expected int nanoseconds"):
        engine.on_trade(SYM, "2020-02-22T00:00:01Z", 1.0, 1.0)
    with pytest.raises(TypeError, match=r"ts_ns: .*bool"):
        engine.on_trade(SYM, True, 1.0, 1.0)
    with pytest.raises(ValueError, match=r"ts_ns: .*int64"):
        engine.on_trade(SYM, 2**63, 1.0, 1.0)
    assert not engine.has_symbol(SYM) or engine.stats(SYM)["ACCEPTED"] == 0


def test_aware_datetime_datetime64_and_timestamp_equal_int_ns() -> None:
    ns = int(pd.Timestamp("2020-02-22 00:00:01.123456789", tz="UTC").value)
    micro = ns - ns % 1_000  # datetime carries microseconds only
    values = {
        "int": (ns, ns),
        "np.int64": (np.int64(ns), ns),
        "Timestamp": (pd.Timestamp(ns, tz="UTC"), ns),
        "Timestamp Tokyo": (pd.Timestamp(ns, tz="UTC").tz_convert("Asia/Tokyo"), ns),
        "datetime64[ns]": (np.datetime64(ns, "ns"), ns),
        "datetime64[ms]": (np.datetime64(ns // 1_000_000, "ms"), ns - ns % 1_000_000),
        "datetime utc": (datetime(2020, 2, 22, 0, 0, 1, 123456, tzinfo=UTC), micro),
        "datetime +05:00": (
            datetime(2020, 2, 22, 5, 0, 1, 123456, tzinfo=timezone(timedelta(hours=5))),
            micro,
        ),
    }
    for label, (value, expect_ns) in values.items():
        engine = MarketEngine(TFS)
        st, _ = engine.on_trade(SYM, value, 1.0, 1.0)
        assert st == TradeStatus.ACCEPTED, label
        assert engine.state(SYM)["last_trade_ns"] == expect_ns, label
        assert engine.on_quote(SYM, value, 1.0, 2.0) == montalaq.QuoteStatus.ACCEPTED
        assert engine.state(SYM)["quote_ns"] == expect_ns, label
    # arrays: datetime64 (taken as UTC), tz-aware pandas, and aware datetime objects
    ts = np.array([ns, ns + 60_000_000_000], np.int64)
    ref = montalaq.build_bars(ts, np.ones(2), np.ones(2))
    for arr in (
        ts.view("datetime64[ns]"),
        pd.DatetimeIndex(pd.to_datetime(ts, utc=True)),
        pd.Series(pd.to_datetime(ts, utc=True)).dt.tz_convert("America/New_York"),
    ):
        assert_array_equal(montalaq.build_bars(arr, np.ones(2), np.ones(2)).start_ns, ref.start_ns)


# --------------------------------------------------------------------------- unknown symbols / timeframes


def test_queries_about_unknown_symbols_and_timeframes_raise_value_error(clean: montalaq.Trades) -> None:
    engine = MarketEngine(("1m", "5m"))
    engine.on_trades(SYM, clean.ts_ns, clean.price, clean.size)
    for call in (
        lambda: engine.bars("NOPE"),
        lambda: engine.features("NOPE"),
        lambda: engine.latest("NOPE"),
        lambda: engine.open_bar("NOPE"),
        lambda: engine.state("NOPE"),
        lambda: engine.stats("NOPE"),
        lambda: engine.trades_cached("NOPE"),
        lambda: engine.signals("NOPE"),
        lambda: engine.signals_tf("NOPE"),
    ):
        with pytest.raises(ValueError, match="unknown symbol 'NOPE'"):
            call()
    for call in (
        lambda: engine.bars(SYM, "15m"),
        lambda: engine.features(SYM, "1h"),
        lambda: engine.latest(SYM, "2m"),
        lambda: engine.open_bar(SYM, "1d"),
    ):
        with pytest.raises(ValueError, match="is not configured; this engine has 1m, 5m"):
            call()
    with pytest.raises(ValueError, match="'1M' is not a timeframe"):
        engine.bars(SYM, "1M")
    # the refused queries changed nothing
    assert engine.symbols() == [SYM]
    assert engine.stats(SYM)["ACCEPTED"] == len(clean)


# --------------------------------------------------------------------------- read_trades


def test_read_trades_unknown_layout_lists_columns_and_accepted_names(data_dir: Path) -> None:
    path = data_dir / "truefx_usdjpy_2013-01-01/usdjpy-ticks.csv"  # quotes: no price/size columns
    with pytest.raises(ValueError, match="cannot find the trade columns") as info:
        montalaq.read_trades(path)
    msg = str(info.value)
    assert "usdjpy-ticks.csv" in msg
    assert "Columns found: ['timestamp', 'bid', 'ask']" in msg
    for accepted in ("'price'", "'size'", "'quantity'", "'timestamp'", "_ms"):
        assert accepted in msg


def test_read_trades_missing_file(tmp_path: Path) -> None:
    with pytest.raises(FileNotFoundError, match="no such file"):
        montalaq.read_trades(tmp_path / "nope.csv")


@pytest.mark.parametrize("keep", [0.5, 0.99, 30])
def test_read_trades_truncated_gzip_is_a_clear_value_error(
    tmp_path: Path, data_dir: Path, keep: float
) -> None:
    data = gzip.compress((data_dir / TARDIS).read_bytes())
    cut = int(len(data) * keep) if keep < 1 else int(keep)
    path = tmp_path / "trades.csv.gz"
    path.write_bytes(data[:cut])
    with pytest.raises(ValueError, match=r"trades\.csv\.gz is not a readable CSV file"):
        montalaq.read_trades(path)
    # the complete file reads fine
    path.write_bytes(data)
    assert len(montalaq.read_trades(path)) == 9_999


def test_read_trades_text_times_need_an_offset_or_tz(tmp_path: Path) -> None:
    path = tmp_path / "ticks.csv"
    path.write_text("timestamp,price,size\n2013-01-01 22:00:00.295,86.6,1\n2013-01-01 22:00:01.295,86.7,2\n")
    with pytest.raises(ValueError, match="carry no UTC offset; pass tz="):
        montalaq.read_trades(path)
    utc = montalaq.read_trades(path, tz="UTC")
    assert utc.ts_ns[0] == int(pd.Timestamp("2013-01-01 22:00:00.295", tz="UTC").value)
    ny = montalaq.read_trades(path, tz="America/New_York")
    assert int(ny.ts_ns[0] - utc.ts_ns[0]) == 5 * 3_600_000_000_000  # EST = UTC-5 in January
    aware = tmp_path / "aware.csv"
    aware.write_text(
        "timestamp,price,size\n2013-01-01 22:00:00.295+00:00,86.6,1\n2013-01-01T22:00:01.295Z,86.7,2\n"
    )
    assert_array_equal(montalaq.read_trades(aware).ts_ns, utc.ts_ns)


def test_bug_read_trades_refuses_text_times_with_different_offsets(tmp_path: Path) -> None:
    """Regression pin. Times that carry their UTC offset are unambiguous, but when the
    offset changes within a file (a New York feed across the end of DST, or any feed
    mixing +00:00 and +01:00) read_trades lets pandas' "Mixed timezones detected. Pass
    utc=True" ValueError escape (it parses with utc=False), so the file cannot be read."""
    path = tmp_path / "ny_dst.csv"
    path.write_text(
        "timestamp,price,size\n"
        "2013-11-03T01:59:59.000-04:00,176.1,100\n"  # EDT
        "2013-11-03T01:00:00.000-05:00,176.2,100\n"  # EST: one second later in UTC
    )
    t = montalaq.read_trades(path)
    assert t.ts_ns.tolist() == [
        int(pd.Timestamp("2013-11-03 05:59:59", tz="UTC").value),
        int(pd.Timestamp("2013-11-03 06:00:00", tz="UTC").value),
    ]


def test_read_trades_keeps_bad_rows_for_the_engine_to_count(tmp_path: Path) -> None:
    path = tmp_path / "trades.csv"
    path.write_text("timestamp_ms,price,qty\n1600000000000,abc,1\n1600000001000,1.5,\n1600000002000,1.5,2\n")
    t = montalaq.read_trades(path)
    assert len(t) == 3
    bars = montalaq.build_bars(t.ts_ns, t.price, t.size, "1m")
    assert bars.stats["accepted"] == 1
    assert bars.stats["REJECT_PRICE"] == 1
    assert bars.stats["REJECT_SIZE"] == 1


def test_state_after_bad_input_is_still_json_and_finite(clean: montalaq.Trades) -> None:
    engine = MarketEngine(TFS)
    for ts, px, sz in ((0, NAN, NAN), (T0, INF, 1.0), (T0, 1.0, -INF), (-1, -1.0, 0.0)):
        engine.on_trade(SYM, ts, px, sz)
        engine.on_quote(SYM, ts, px, sz)
    state = engine.state(SYM)
    json.dumps(state, allow_nan=False)
    assert state["last_price"] is None
    assert state["best_bid"] is None
    assert state["quotes"]["rejected"] == 4
    engine.on_trades(SYM, clean.ts_ns, clean.price, clean.size, clean.side)
    json.dumps(engine.state(SYM), allow_nan=False)
    json.dumps(engine.signals(SYM), allow_nan=False)
    json.dumps(engine.signals_tf(SYM), allow_nan=False)
    assert all(v is None or math.isfinite(v) for v in engine.signals_tf(SYM).values())
