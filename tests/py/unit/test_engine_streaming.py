"""The streaming MarketEngine on real trade files: streaming equals batch (docs/semantics.md, Market core),
closed
bars add up, duplicates, late trades and amendments, closing on time, gap filling, the
signal payloads (docs/semantics.md, Agents), state snapshots and quotes."""

from __future__ import annotations

import json
import math
from collections import defaultdict
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from numpy.testing import assert_array_equal

import montalaq
from montalaq import MarketEngine, QuoteStatus, TradeStatus
from mtq_support import (
    BINANCE_SPOT,
    NS_PER_MIN,
    TARDIS,
    XRPETH,
    RawTrades,
    assert_same_bars,
    shuffle_within_buckets,
)

TFS = ("1m", "5m", "15m")
SYM = "BTCUSDT"

SIGNAL_KEYS = {
    "mom1_bps",
    "mom5_bps",
    "rvol_vs_recent",
    "px_vs_vwap_bps",
    "best_bid",
    "best_ask",
    "last_price",
    "trades_cached",
}
SIGNAL_TF_KEYS = {f"{name}_{tf}" for name in ("mom_bps", "px_vs_vwap_bps", "rvol", "atr") for tf in TFS}


# --------------------------------------------------------------------------- helpers


def feed_one_by_one(
    engine: MarketEngine,
    symbol: str,
    ts: np.ndarray,
    price: np.ndarray,
    size: np.ndarray,
    side: np.ndarray | None = None,
    trade_id: np.ndarray | None = None,
) -> tuple[list[TradeStatus], list[montalaq.Bar]]:
    statuses, closed = [], []
    ts_l, px_l, sz_l = ts.tolist(), price.tolist(), size.tolist()
    sd_l = [0] * len(ts_l) if side is None else side.tolist()
    id_l = [None] * len(ts_l) if trade_id is None else trade_id.tolist()
    for i in range(len(ts_l)):
        st, bars = engine.on_trade(symbol, ts_l[i], px_l[i], sz_l[i], sd_l[i], id_l[i])
        statuses.append(st)
        closed.extend(bars)
    return statuses, closed


def feed_chunks(
    engine: MarketEngine,
    symbol: str,
    ts: np.ndarray,
    price: np.ndarray,
    size: np.ndarray,
    side: np.ndarray | None,
    trade_id: np.ndarray | None,
    rng: np.random.Generator,
    max_chunk: int = 1500,
) -> tuple[dict[str, int], list[montalaq.Bar]]:
    totals: dict[str, int] = defaultdict(int)
    closed: list[montalaq.Bar] = []
    i, n = 0, len(ts)
    while i < n:
        j = min(n, i + int(rng.integers(1, max_chunk)))
        counts, bars = engine.on_trades(
            symbol,
            ts[i:j],
            price[i:j],
            size[i:j],
            None if side is None else side[i:j],
            None if trade_id is None else trade_id[i:j],
        )
        assert sum(counts.values()) == j - i
        for k, v in counts.items():
            totals[k] += v
        closed.extend(bars)
        i = j
    return dict(totals), closed


def by_timeframe(bars: list[montalaq.Bar]) -> dict[str, list[montalaq.Bar]]:
    out: dict[str, list[montalaq.Bar]] = defaultdict(list)
    for b in bars:
        out[b.timeframe].append(b)
    return out


def assert_emitted_equal_engine(emitted: list[montalaq.Bar], engine_bars: montalaq.Bars, label: str) -> None:
    """Bars returned by the calls, in order, are exactly the engine's closed bars."""
    assert len(emitted) == len(engine_bars), (
        f"{label}: emitted {len(emitted)}, engine keeps {len(engine_bars)}"
    )
    for col in ("start_ns", "open", "high", "low", "close", "volume", "vwap", "trades", "buy_volume"):
        assert_array_equal(
            np.array([getattr(b, col) for b in emitted]), getattr(engine_bars, col), err_msg=f"{label} {col}"
        )


def assert_features_equal_batch(engine: MarketEngine, symbol: str, tf: str) -> None:
    bars = engine.bars(symbol, tf)
    streamed = engine.features(symbol, tf)
    batch = montalaq.compute_features(bars)
    assert_array_equal(streamed.start_ns, bars.start_ns)
    for col in ("atr", "mom_bps", "px_vs_vwap_bps", "rvol"):
        # one incremental state object serves both: equal to the bit, NaN at the same places
        assert_array_equal(getattr(streamed, col), getattr(batch, col), err_msg=f"{tf} {col}")


def closed_part(bars: montalaq.Bars) -> montalaq.Bars:
    """All bars but the last (the one a stream would still hold open)."""
    cols = {
        c: getattr(bars, c)[:-1]
        for c in ("start_ns", "open", "high", "low", "close", "volume", "vwap", "trades", "buy_volume")
    }
    return montalaq.Bars(bars.timeframe, **cols)


@pytest.fixture(scope="module")
def tardis(load_trades: Callable[[str], montalaq.Trades]) -> montalaq.Trades:
    t = load_trades(TARDIS)
    assert t.side is not None
    assert t.trade_id is not None
    return t


@pytest.fixture(scope="module")
def spot(load_trades: Callable[[str], montalaq.Trades]) -> montalaq.Trades:
    t = load_trades(BINANCE_SPOT)
    assert t.side is not None
    assert t.trade_id is not None
    return t


# --------------------------------------------------------------------------- streaming == batch


@pytest.mark.parametrize("rel", [TARDIS, BINANCE_SPOT])
def test_on_trade_one_by_one_equals_batch(rel: str, load_trades: Callable[[str], montalaq.Trades]) -> None:
    t = load_trades(rel)
    engine = MarketEngine(TFS)
    statuses, closed = feed_one_by_one(engine, SYM, t.ts_ns, t.price, t.size, t.side, t.trade_id)
    assert set(statuses) == {TradeStatus.ACCEPTED}
    emitted = by_timeframe(closed)
    for tf in TFS:
        batch = montalaq.build_bars(t.ts_ns, t.price, t.size, tf, side=t.side)
        assert_same_bars(engine.bars(SYM, tf, include_open=True), batch, label=f"{rel} {tf}")
        assert_same_bars(engine.bars(SYM, tf), closed_part(batch), label=f"{rel} {tf} closed")
        assert_emitted_equal_engine(emitted[tf], engine.bars(SYM, tf), f"{rel} {tf}")
        open_bar = engine.open_bar(SYM, tf)
        assert open_bar is not None
        assert open_bar.start_ns == batch.start_ns[-1]
        assert open_bar.close == batch.close[-1]
        assert open_bar.trades == batch.trades[-1]
        assert math.isnan(open_bar.atr)
        assert math.isnan(open_bar.rvol)
        assert_features_equal_batch(engine, SYM, tf)
    stats = engine.stats(SYM)
    assert stats["ACCEPTED"] == len(t)
    assert stats["bars_closed"] == len(closed)
    assert engine.stats() == stats  # one symbol: totals are its counts
    assert engine.trades_cached(SYM) == len(t)


def test_on_trades_in_random_chunks_equals_batch(tardis: montalaq.Trades) -> None:
    t = tardis
    rng = np.random.default_rng(20200222)
    engine = MarketEngine(TFS)
    counts, closed = feed_chunks(engine, SYM, t.ts_ns, t.price, t.size, t.side, t.trade_id, rng)
    assert counts["ACCEPTED"] == len(t)
    assert sum(counts.values()) == len(t)
    emitted = by_timeframe(closed)
    for tf in TFS:
        batch = montalaq.build_bars(t.ts_ns, t.price, t.size, tf, side=t.side)
        assert_same_bars(engine.bars(SYM, tf, include_open=True), batch, label=tf)
        assert_emitted_equal_engine(emitted[tf], engine.bars(SYM, tf), tf)
        assert_features_equal_batch(engine, SYM, tf)
        latest = engine.latest(SYM, tf)
        feats = engine.features(SYM, tf)
        assert latest is not None
        assert latest.start_ns == batch.start_ns[-2]
        for col in ("atr", "mom_bps", "px_vs_vwap_bps", "rvol"):
            a, b = getattr(latest, col), float(getattr(feats, col)[-1])
            assert (math.isnan(a) and math.isnan(b)) or a == b, col
    # emitted bars carry the same features as engine.features
    f1 = engine.features(SYM, "1m")
    assert_array_equal(np.array([b.atr for b in emitted["1m"]]), f1.atr)
    assert_array_equal(np.array([b.rvol for b in emitted["1m"]]), f1.rvol)


def test_one_by_one_and_chunks_give_identical_engines(spot: montalaq.Trades) -> None:
    a, b = MarketEngine(TFS), MarketEngine(TFS)
    feed_one_by_one(a, SYM, spot.ts_ns, spot.price, spot.size, spot.side, spot.trade_id)
    feed_chunks(
        b, SYM, spot.ts_ns, spot.price, spot.size, spot.side, spot.trade_id, np.random.default_rng(7), 700
    )
    assert a.state(SYM) == b.state(SYM)
    assert a.stats() == b.stats()


def test_two_symbols_in_one_engine_are_independent(load_trades: Callable[[str], montalaq.Trades]) -> None:
    btc, xrp = load_trades(TARDIS), load_trades(XRPETH)
    assert btc.side is not None
    assert xrp.side is not None
    engine = MarketEngine(TFS)
    # interleave chunks of the two files: each symbol keeps its own bars and counts
    rng = np.random.default_rng(3)
    ib = ix = 0
    while ib < len(btc) or ix < len(xrp):
        k = int(rng.integers(1, 800))
        if ib < len(btc):
            engine.on_trades(
                "BTC",
                btc.ts_ns[ib : ib + k],
                btc.price[ib : ib + k],
                btc.size[ib : ib + k],
                btc.side[ib : ib + k],
            )
            ib += k
        if ix < len(xrp):
            engine.on_trades(
                "XRP",
                xrp.ts_ns[ix : ix + k],
                xrp.price[ix : ix + k],
                xrp.size[ix : ix + k],
                xrp.side[ix : ix + k],
            )
            ix += k
    assert engine.symbols() == ["BTC", "XRP"]
    for sym, t in (("BTC", btc), ("XRP", xrp)):
        assert engine.stats(sym)["ACCEPTED"] == len(t)
        for tf in TFS:
            assert_same_bars(
                engine.bars(sym, tf, include_open=True),
                montalaq.build_bars(t.ts_ns, t.price, t.size, tf, side=t.side),
                label=f"{sym} {tf}",
            )
    assert engine.stats()["ACCEPTED"] == len(btc) + len(xrp)


# --------------------------------------------------------------------------- arrival order inside a bar


def test_shuffled_arrivals_inside_the_open_bar_equal_sorted_bars(tardis: montalaq.Trades) -> None:
    """Distinct timestamps: a shuffle inside each 1m bar gives exactly the sorted bars."""
    t = tardis
    assert t.side is not None
    keep = np.r_[True, np.diff(t.ts_ns) > 0]  # first trade of each timestamp: all ts distinct
    ts, px, sz, sd = t.ts_ns[keep], t.price[keep], t.size[keep], t.side[keep]
    assert len(ts) > 5_000
    order = shuffle_within_buckets(ts, NS_PER_MIN, np.random.default_rng(11))
    assert not np.array_equal(order, np.arange(len(ts)))
    engine = MarketEngine(TFS)
    statuses, _ = feed_one_by_one(engine, SYM, ts[order], px[order], sz[order], sd[order])
    assert set(statuses) == {TradeStatus.ACCEPTED}, "a shuffle inside the open 1m bar is never late"
    for tf in TFS:
        # volume sums in a different order: equal to rounding
        assert_same_bars(
            engine.bars(SYM, tf, include_open=True),
            montalaq.build_bars(ts, px, sz, tf, side=sd),
            volume_rtol=1e-12,
            label=tf,
        )
    # last_price follows the largest timestamp, not the last call
    assert engine.state(SYM)["last_price"] == px[-1]


def test_shuffled_arrivals_with_timestamp_ties_follow_arrival_order(spot: montalaq.Trades) -> None:
    """With equal timestamps, open is the first arrival among the smallest ts and close the
    last arrival among the largest: the stable sort of the arrival order (sort=True)."""
    t = spot
    assert t.side is not None
    assert int((np.diff(t.ts_ns) == 0).sum()) > 1_000  # this file has many same-ms trades
    order = shuffle_within_buckets(t.ts_ns, NS_PER_MIN, np.random.default_rng(5))
    ts, px, sz, sd = t.ts_ns[order], t.price[order], t.size[order], t.side[order]
    engine = MarketEngine(TFS)
    counts, _ = feed_chunks(engine, SYM, ts, px, sz, sd, None, np.random.default_rng(6))
    assert counts["ACCEPTED"] == len(t)
    for tf in TFS:
        assert_same_bars(
            engine.bars(SYM, tf, include_open=True),
            montalaq.build_bars(ts, px, sz, tf, side=sd, sort=True),
            volume_rtol=1e-12,
            label=tf,
        )


# --------------------------------------------------------------------------- duplicates


def test_replaying_a_file_twice_makes_every_second_pass_trade_a_duplicate(spot: montalaq.Trades) -> None:
    t = spot
    engine = MarketEngine(TFS)  # max_trades 50,000 >= 10,147 trades
    first, _ = feed_chunks(
        engine, SYM, t.ts_ns, t.price, t.size, t.side, t.trade_id, np.random.default_rng(1)
    )
    assert first["ACCEPTED"] == len(t)
    before = {tf: engine.bars(SYM, tf, include_open=True) for tf in TFS}
    statuses, closed = feed_one_by_one(engine, SYM, t.ts_ns, t.price, t.size, t.side, t.trade_id)
    assert set(statuses) == {TradeStatus.DUPLICATE_TICK}
    assert closed == []
    stats = engine.stats(SYM)
    assert stats["DUPLICATE_TICK"] == len(t)
    assert stats["ACCEPTED"] == len(t)
    for tf in TFS:
        assert_same_bars(engine.bars(SYM, tf, include_open=True), before[tf], label=tf)


def test_duplicate_window_is_the_trade_cache(spot: montalaq.Trades) -> None:
    t = spot
    cache = 1_000
    engine = MarketEngine(TFS, max_trades=cache)
    feed_chunks(engine, SYM, t.ts_ns, t.price, t.size, t.side, t.trade_id, np.random.default_rng(2))
    assert engine.trades_cached(SYM) == cache
    statuses, _ = feed_one_by_one(engine, SYM, t.ts_ns, t.price, t.size, t.side, t.trade_id)
    # ids that left the cache are forgotten: those trades are judged on time, and are late;
    # late trades are not remembered, so the last `cache` trades stay in the window.
    n = len(t)
    assert statuses[: n - cache] == [TradeStatus.LATE] * (n - cache)
    assert statuses[n - cache :] == [TradeStatus.DUPLICATE_TICK] * cache
    assert engine.trades_cached(SYM) == cache


def test_without_ids_equal_trades_are_not_deduplicated_by_default(tardis: montalaq.Trades) -> None:
    t = tardis  # 216 rows repeat (ts, price, amount, side) with another id: real trades
    engine = MarketEngine(TFS)
    counts, _ = engine.on_trades(SYM, t.ts_ns, t.price, t.size, t.side)
    assert counts["ACCEPTED"] == len(t)
    assert counts["DUPLICATE_TICK"] == 0


def test_dedupe_content_drops_repeated_prints(
    tardis: montalaq.Trades, load_raw: Callable[[str], RawTrades]
) -> None:
    t = tardis
    assert t.side is not None
    frame = load_raw(TARDIS).frame
    repeated = frame.duplicated(subset=["timestamp", "price", "amount", "side"]).to_numpy()
    assert int(repeated.sum()) == 216  # SOURCE.md
    engine = MarketEngine(TFS, dedupe_content=True)
    counts, _ = engine.on_trades(SYM, t.ts_ns, t.price, t.size, t.side)
    assert counts["DUPLICATE_TICK"] == 216
    assert counts["ACCEPTED"] == len(t) - 216
    keep = ~repeated
    for tf in TFS:
        assert_same_bars(
            engine.bars(SYM, tf, include_open=True),
            montalaq.build_bars(t.ts_ns[keep], t.price[keep], t.size[keep], tf, side=t.side[keep]),
            label=tf,
        )


# --------------------------------------------------------------------------- late trades


def delayed_arrivals(t: montalaq.Trades, seed: int, max_delay_s: float = 90.0) -> np.ndarray:
    """Arrival order of a feed that delivers 3% of the trades up to ``max_delay_s`` late
    (a slow path next to the fast one). Bars stay keyed by exchange time. The first 200
    trades are on time so the first bars exist before anything arrives late."""
    rng = np.random.default_rng(seed)
    delay = np.where(rng.random(len(t)) < 0.03, rng.uniform(0, max_delay_s * 1e9, len(t)), 0).astype(np.int64)
    delay[:200] = 0
    return np.argsort(t.ts_ns + delay, kind="stable")


def expected_late(ts_arrival: np.ndarray, finest_ns: int) -> np.ndarray:
    """docs/semantics.md, Market core: late iff older than the start of the open finest bar at arrival."""
    late = np.zeros(len(ts_arrival), bool)
    frontier = np.iinfo(np.int64).min
    for i, ts in enumerate(ts_arrival.tolist()):
        if ts < frontier:
            late[i] = True
        else:
            frontier = max(frontier, ts - ts % finest_ns)
    return late


def test_late_trades_are_counted_and_closed_bars_never_change(tardis: montalaq.Trades) -> None:
    t = tardis
    assert t.side is not None
    assert t.trade_id is not None
    order = delayed_arrivals(t, seed=42)
    ts, px, sz, sd, ids = t.ts_ns[order], t.price[order], t.size[order], t.side[order], t.trade_id[order]
    late = expected_late(ts, NS_PER_MIN)
    assert 50 < int(late.sum()) < 400
    engine = MarketEngine(TFS)
    statuses, closed = feed_one_by_one(engine, SYM, ts, px, sz, sd, ids)
    assert_array_equal(np.array([s == TradeStatus.LATE for s in statuses]), late)
    assert all(s in (TradeStatus.ACCEPTED, TradeStatus.LATE) for s in statuses)
    stats = engine.stats(SYM)
    assert stats["LATE"] == int(late.sum())
    assert stats["ACCEPTED"] == len(t) - int(late.sum())
    assert stats["AMENDED"] == 0
    emitted = by_timeframe(closed)
    for tf in TFS:
        # every bar was emitted once, and what was emitted is what the engine still holds
        assert_emitted_equal_engine(emitted[tf], engine.bars(SYM, tf), tf)
        assert all(b.revision == 0 for b in emitted[tf])
        # the bars are those of the trades that were applied (which may still be out of
        # order inside the open bar: sort stably, ties keep arrival order)
        ok = ~late
        assert_same_bars(
            engine.bars(SYM, tf, include_open=True),
            montalaq.build_bars(ts[ok], px[ok], sz[ok], tf, side=sd[ok], sort=True),
            volume_rtol=1e-12,
            label=tf,
        )
        assert_features_equal_batch(engine, SYM, tf)


def test_late_window_amends_and_reemits_and_ends_equal_to_the_sorted_batch(tardis: montalaq.Trades) -> None:
    t = tardis
    assert t.side is not None
    assert t.trade_id is not None
    order = delayed_arrivals(t, seed=42)
    ts, px, sz, sd, ids = t.ts_ns[order], t.price[order], t.size[order], t.side[order], t.trade_id[order]
    late = expected_late(ts, NS_PER_MIN)
    # a trade is at most 90 s late, so at most 90 s older than the open 1m bar's start
    engine = MarketEngine(TFS, late_window_ns=2 * NS_PER_MIN)
    statuses, closed = feed_one_by_one(engine, SYM, ts, px, sz, sd, ids)
    assert_array_equal(np.array([s == TradeStatus.AMENDED for s in statuses]), late)
    assert TradeStatus.LATE not in statuses
    assert engine.stats(SYM)["AMENDED"] == int(late.sum())

    emitted = by_timeframe(closed)
    for tf in TFS:
        seen: dict[int, int] = {}
        for b in emitted[tf]:
            if b.start_ns in seen:  # a re-emission: an amendment of an already closed bar
                assert b.revision > seen[b.start_ns], (tf, b)
            seen[b.start_ns] = b.revision
        final = engine.bars(SYM, tf)
        # the last emission of every bar is the bar the engine holds
        last_emitted = {b.start_ns: b for b in emitted[tf]}
        assert sorted(last_emitted) == final.start_ns.tolist()
        for i, start in enumerate(final.start_ns.tolist()):
            b = last_emitted[start]
            assert (b.open, b.high, b.low, b.close, b.trades) == (
                final.open[i],
                final.high[i],
                final.low[i],
                final.close[i],
                final.trades[i],
            )
        # ...and the final bars are the batch bars of every trade (ties: arrival order)
        assert_same_bars(
            engine.bars(SYM, tf, include_open=True),
            montalaq.build_bars(ts, px, sz, tf, side=sd, sort=True),
            volume_rtol=1e-9,
            label=tf,
        )
        # amended history gives the features a fresh computation over it would
        assert_features_equal_batch(engine, SYM, tf)
    revised_1m = [b for b in emitted["1m"] if b.revision > 0]
    assert len(revised_1m) > 20


def test_late_window_too_short_leaves_older_trades_late(tardis: montalaq.Trades) -> None:
    t = tardis
    assert t.side is not None
    assert t.trade_id is not None
    order = delayed_arrivals(t, seed=42)
    ts = t.ts_ns[order]
    window = 10_000_000_000  # 10 s
    engine = MarketEngine(TFS, late_window_ns=window)
    statuses, _ = feed_one_by_one(
        engine, SYM, ts, t.price[order], t.size[order], t.side[order], t.trade_id[order]
    )
    # replay the frontier to know by how much each late trade was late
    frontier = np.iinfo(np.int64).min
    expect = []
    for x in ts.tolist():
        if x >= frontier:
            frontier = x - x % NS_PER_MIN
            expect.append(TradeStatus.ACCEPTED)
        else:
            expect.append(TradeStatus.AMENDED if x >= frontier - window else TradeStatus.LATE)
    assert statuses == expect
    assert TradeStatus.LATE in statuses
    assert TradeStatus.AMENDED in statuses


# --------------------------------------------------------------------------- closing on time


def test_advance_time_closes_bars_when_the_market_goes_quiet(tardis: montalaq.Trades) -> None:
    t = tardis
    engine = MarketEngine(TFS)
    _, emitted = engine.on_trades(SYM, t.ts_ns, t.price, t.size, t.side, t.trade_id)
    last = int(t.ts_ns[-1])  # 02:05:47.728
    assert last == int(pd.Timestamp("2020-02-22 02:05:47.728", tz="UTC").value)
    assert engine.advance_time(last) == []
    assert engine.advance_time(int(pd.Timestamp("2020-02-22 02:05:59.999999999", tz="UTC").value)) == []
    closed = engine.advance_time(pd.Timestamp("2020-02-22 02:06", tz="UTC"))
    assert [(b.timeframe, b.start_ns) for b in closed] == [
        ("1m", int(pd.Timestamp("2020-02-22 02:05", tz="UTC").value))
    ]
    emitted += closed
    closed = engine.advance_time(datetime(2020, 2, 22, 2, 10, tzinfo=UTC))
    assert [b.timeframe for b in closed] == ["5m"]
    emitted += closed
    closed = engine.advance_time(np.datetime64("2020-02-22T02:15:00"))
    assert [b.timeframe for b in closed] == ["15m"]
    emitted += closed
    # nothing left to close, and no gap filling
    assert engine.advance_time(int(pd.Timestamp("2020-02-23", tz="UTC").value)) == []
    by_tf = by_timeframe(emitted)
    for tf in TFS:
        assert engine.open_bar(SYM, tf) is None
        batch = montalaq.build_bars(t.ts_ns, t.price, t.size, tf, side=t.side)
        assert_same_bars(engine.bars(SYM, tf), batch, label=tf)
        # the bars returned by on_trades and advance_time add up to all of them
        assert_emitted_equal_engine(by_tf[tf], engine.bars(SYM, tf), tf)
        assert_features_equal_batch(engine, SYM, tf)
    assert engine.stats(SYM)["bars_closed"] == len(emitted)
    # a trade inside an interval the clock has closed is late, even though no bar is open
    st, _ = engine.on_trade(SYM, int(t.ts_ns[-1]) + 1, 9_700.0, 0.1, 1, 10**12)
    assert st == TradeStatus.LATE


def test_advance_time_respects_close_grace(tardis: montalaq.Trades) -> None:
    t = tardis
    grace = 5_000_000_000
    engine = MarketEngine(TFS, close_grace_ns=grace)
    engine.on_trades(SYM, t.ts_ns, t.price, t.size, t.side, t.trade_id)
    end_1m = int(pd.Timestamp("2020-02-22 02:06", tz="UTC").value)
    assert engine.advance_time(end_1m + grace - 1) == []
    # during the grace a trade of the still-open bar is on time
    st, closed = engine.on_trade(SYM, end_1m - 1, 9_700.0, 0.1, 1, None)
    assert st == TradeStatus.ACCEPTED
    assert closed == []
    closed = engine.advance_time(end_1m + grace)
    assert [b.timeframe for b in closed] == ["1m"]
    assert closed[0].trades == int((t.ts_ns >= end_1m - NS_PER_MIN).sum()) + 1


def test_advance_time_time_types_are_equivalent(tardis: montalaq.Trades) -> None:
    t = tardis
    now = pd.Timestamp("2020-02-22 02:20", tz="UTC")
    results = []
    for value in (
        int(now.value),
        now,
        now.to_pydatetime(),
        np.datetime64(now.tz_localize(None).to_datetime64()),
        now.tz_convert("Asia/Tokyo"),
    ):
        engine = MarketEngine(TFS)
        engine.on_trades(SYM, t.ts_ns[:3000], t.price[:3000], t.size[:3000])
        results.append([(b.timeframe, b.start_ns, b.close) for b in engine.advance_time(value)])
    assert all(r == results[0] for r in results)
    assert len(results[0]) == 3


def test_advance_time_never_moves_backwards(tardis: montalaq.Trades) -> None:
    t = tardis
    engine = MarketEngine(TFS)
    engine.on_trades(SYM, t.ts_ns[:2000], t.price[:2000], t.size[:2000])
    before = engine.state(SYM)
    assert engine.advance_time(int(t.ts_ns[0])) == []
    assert engine.advance_time(1) == []
    assert engine.state(SYM) == before
    st, _ = engine.on_trade(SYM, int(t.ts_ns[1999]), 9_700.0, 0.1)
    assert st == TradeStatus.ACCEPTED


# --------------------------------------------------------------------------- gap filling


def test_fill_gaps_streaming_equals_batch(load_trades: Callable[[str], montalaq.Trades]) -> None:
    t = load_trades(XRPETH)
    engine = MarketEngine(TFS, fill_gaps=True)
    counts, closed = feed_chunks(
        engine, "XRPETH", t.ts_ns, t.price, t.size, t.side, t.trade_id, np.random.default_rng(9)
    )
    assert counts["ACCEPTED"] == len(t)
    emitted = by_timeframe(closed)
    for tf in TFS:
        batch = montalaq.build_bars(t.ts_ns, t.price, t.size, tf, side=t.side, fill_gaps=True)
        assert_same_bars(engine.bars("XRPETH", tf, include_open=True), batch, label=tf)
        assert_emitted_equal_engine(emitted[tf], engine.bars("XRPETH", tf), tf)
        assert_features_equal_batch(engine, "XRPETH", tf)
    assert int((engine.bars("XRPETH", "1m", include_open=True).trades == 0).sum()) == 1_091


def test_fill_gaps_with_advance_time_emits_flat_bars_up_to_now(tardis: montalaq.Trades) -> None:
    t = tardis
    engine = MarketEngine(TFS, fill_gaps=True)
    engine.on_trades(SYM, t.ts_ns, t.price, t.size, t.side)
    last_close = float(t.price[-1])
    closed = engine.advance_time(pd.Timestamp("2020-02-22 03:00", tz="UTC"))
    ones = [b for b in closed if b.timeframe == "1m"]
    # 02:05 closes with its trades, then 02:06 .. 02:59 are flat
    assert [b.start_ns for b in ones] == list(
        range(
            int(pd.Timestamp("2020-02-22 02:05", tz="UTC").value),
            int(pd.Timestamp("2020-02-22 03:00", tz="UTC").value),
            NS_PER_MIN,
        )
    )
    for b in ones[1:]:
        assert (b.open, b.high, b.low, b.close, b.vwap, b.volume, b.trades) == (
            last_close,
            last_close,
            last_close,
            last_close,
            last_close,
            0.0,
            0,
        )
    assert len([b for b in closed if b.timeframe == "15m"]) == 4  # 02:00, 02:15, 02:30, 02:45


def test_gap_longer_than_max_fill_bars_is_counted_not_filled(tardis: montalaq.Trades) -> None:
    t = tardis
    engine = MarketEngine(("1m",), fill_gaps=True, max_fill_bars=10)
    engine.on_trades(SYM, t.ts_ns[:100], t.price[:100], t.size[:100])
    far = int(t.ts_ns[99]) + 365 * 24 * 60 * NS_PER_MIN
    st, closed = engine.on_trade(SYM, far, 9_700.0, 1.0)
    assert st == TradeStatus.ACCEPTED
    assert len(closed) == 1
    assert closed[0].trades > 0
    assert engine.stats(SYM)["gaps_unfilled"] == 1
    batch = montalaq.build_bars(
        np.r_[t.ts_ns[:100], far],
        np.r_[t.price[:100], 9_700.0],
        np.r_[t.size[:100], 1.0],
        "1m",
        fill_gaps=True,
        max_fill_bars=10,
    )
    assert batch.stats["gaps_unfilled"] == 1
    assert_same_bars(engine.bars(SYM, "1m", include_open=True), batch)


# --------------------------------------------------------------------------- signals and state


def assert_json_clean(payload: object) -> None:
    text = json.dumps(payload, allow_nan=False)  # raises on NaN/Infinity
    assert "NaN" not in text
    assert "Infinity" not in text


def test_signals_before_and_after_trades(tardis: montalaq.Trades) -> None:
    t = tardis
    assert t.side is not None
    engine = MarketEngine(TFS)
    with pytest.raises(ValueError, match="unknown symbol"):
        engine.signals(SYM)
    engine.on_trade(SYM, int(t.ts_ns[0]), float(t.price[0]), float(t.size[0]))
    sig = engine.signals(SYM)
    assert set(sig) == SIGNAL_KEYS
    assert sig["last_price"] == float(t.price[0])
    assert sig["trades_cached"] == 1
    assert all(v is None for k, v in sig.items() if k not in {"last_price", "trades_cached"})
    sig_tf = engine.signals_tf(SYM)
    assert set(sig_tf) == SIGNAL_TF_KEYS
    assert all(v is None for v in sig_tf.values())
    assert_json_clean(sig)
    assert_json_clean(sig_tf)

    engine.on_trades(SYM, t.ts_ns[1:], t.price[1:], t.size[1:], t.side[1:])
    sig = engine.signals(SYM)
    latest_1m, latest_5m = engine.latest(SYM, "1m"), engine.latest(SYM, "5m")
    assert latest_1m is not None
    assert latest_5m is not None
    assert sig["mom1_bps"] == latest_1m.mom_bps
    assert sig["mom5_bps"] == latest_5m.mom_bps
    assert sig["rvol_vs_recent"] == latest_1m.rvol
    assert sig["px_vs_vwap_bps"] == latest_1m.px_vs_vwap_bps
    assert sig["last_price"] == float(t.price[-1])
    assert sig["trades_cached"] == len(t)
    assert sig["best_bid"] is None
    assert sig["best_ask"] is None
    assert_json_clean(sig)

    sig_tf = engine.signals_tf(SYM)
    assert set(sig_tf) == SIGNAL_TF_KEYS
    for tf in TFS:
        latest = engine.latest(SYM, tf)
        assert latest is not None
        for name in ("mom_bps", "px_vs_vwap_bps", "rvol", "atr"):
            value = getattr(latest, name)
            expected = None if math.isnan(value) else value
            assert sig_tf[f"{name}_{tf}"] == expected, (name, tf)
    # 126 1m bars: everything defined at 1m; 8 closed 15m bars: ATR(14) and rvol(20) not yet
    assert all(sig_tf[f"{n}_1m"] is not None for n in ("mom_bps", "px_vs_vwap_bps", "rvol", "atr"))
    assert sig_tf["atr_15m"] is None
    assert sig_tf["rvol_15m"] is None
    assert isinstance(sig_tf["mom_bps_15m"], float)
    assert_json_clean(sig_tf)


def test_signals_tf_has_the_spec_keys_when_a_timeframe_is_missing(tardis: montalaq.Trades) -> None:
    t = tardis
    engine = MarketEngine(("1m", "5m", "1h"))
    engine.on_trades(SYM, t.ts_ns, t.price, t.size)
    sig_tf = engine.signals_tf(SYM)
    assert set(sig_tf) >= SIGNAL_TF_KEYS
    assert all(sig_tf[f"{n}_15m"] is None for n in ("mom_bps", "px_vs_vwap_bps", "rvol", "atr"))
    assert {k for k in sig_tf if k.endswith("_1h")} == {
        "mom_bps_1h",
        "px_vs_vwap_bps_1h",
        "rvol_1h",
        "atr_1h",
    }
    assert sig_tf["mom_bps_1m"] is not None
    sig = engine.signals(SYM)
    assert set(sig) == SIGNAL_KEYS


def test_state_is_json_serialisable_and_consistent(tardis: montalaq.Trades, data_dir: Path) -> None:
    t = tardis
    engine = MarketEngine(TFS)
    engine.on_trade(SYM, int(t.ts_ns[0]), float(t.price[0]), float(t.size[0]))
    assert_json_clean(engine.state(SYM))  # NaN features and no quotes: null, not NaN
    engine.on_trades(SYM, t.ts_ns, t.price, t.size, t.side, t.trade_id)  # first one again: no id there
    engine.on_quote(SYM, int(t.ts_ns[-1]), 9_690.0, 9_691.0)
    engine.on_trade(SYM, 0, float("nan"), -1.0)
    state = engine.state(SYM)
    assert_json_clean(state)
    assert state["symbol"] == SYM
    assert state["best_bid"] == 9_690.0
    assert state["best_ask"] == 9_691.0
    assert state["last_price"] == float(t.price[-1])
    assert state["last_trade_ns"] == int(t.ts_ns[-1])
    assert state["trades_cached"] == len(t) + 1
    stats = engine.stats(SYM)
    assert state["trade_counts"] == {k: stats[k] for k in state["trade_counts"]}
    assert state["trade_counts"]["REJECT_TS"] == 1
    assert set(state["timeframes"]) == set(TFS)
    for tf in TFS:
        s = state["timeframes"][tf]
        assert s["bars_kept"] == len(engine.bars(SYM, tf))
        open_bar, latest = engine.open_bar(SYM, tf), engine.latest(SYM, tf)
        assert open_bar is not None
        assert latest is not None
        assert s["open_bar"]["start_ns"] == open_bar.start_ns
        assert s["last_bar"]["start_ns"] == latest.start_ns
        assert s["frontier_ns"] == s["open_bar"]["start_ns"]
    # a fresh symbol's state (allow-listed, never traded) is clean too
    fresh = MarketEngine(TFS, symbols=["ETHUSDT"])
    assert_json_clean(fresh.state("ETHUSDT"))
    assert fresh.state("ETHUSDT")["last_price"] is None


# --------------------------------------------------------------------------- quotes


def test_quotes_from_binance_book_ticker(data_dir: Path) -> None:
    book = pd.read_csv(data_dir / "binance_spot_btcusdt_ws_2024-08-09/book_ticker.csv", nrows=5_000)
    ts = book["local_ts_ns"].to_numpy(np.int64).tolist()
    bid = book["bid_price"].to_numpy(np.float64).tolist()
    ask = book["ask_price"].to_numpy(np.float64).tolist()
    engine = MarketEngine(TFS)
    for i in range(len(ts)):
        assert engine.on_quote(SYM, ts[i], bid[i], ask[i]) == QuoteStatus.ACCEPTED
        if i % 997 == 0:
            state = engine.state(SYM)
            assert (state["best_bid"], state["best_ask"], state["quote_ns"]) == (bid[i], ask[i], ts[i])
    sig = engine.signals(SYM)
    assert (sig["best_bid"], sig["best_ask"]) == (bid[-1], ask[-1])
    assert sig["last_price"] is None  # quotes are not trades
    stats = engine.stats(SYM)
    assert stats["quotes_accepted"] == len(ts)
    assert stats["quotes_crossed"] == 0
    # an older quote is stale and ignored; an invalid one is rejected
    assert engine.on_quote(SYM, ts[0], 1.0, 2.0) == QuoteStatus.STALE
    assert engine.on_quote(SYM, ts[-1] + 1, float("nan"), ask[-1]) == QuoteStatus.REJECTED
    assert engine.on_quote(SYM, ts[-1] + 1, bid[-1], float("inf")) == QuoteStatus.REJECTED
    assert engine.on_quote(SYM, 0, bid[-1], ask[-1]) == QuoteStatus.REJECTED
    assert engine.on_quote(SYM, ts[-1] + 1, -1.0, ask[-1]) == QuoteStatus.REJECTED
    state = engine.state(SYM)
    assert (state["best_bid"], state["best_ask"]) == (bid[-1], ask[-1])
    assert state["quotes"] == {"accepted": len(ts), "rejected": 4, "stale": 1, "crossed": 0}


def test_crossed_and_locked_fx_quotes_are_accepted_and_counted(data_dir: Path) -> None:
    path = data_dir / "lean_eurusd_quotes_2014-05/fxcm/20140504_eurusd_tick_quote.csv"
    q = pd.read_csv(path, header=None, names=["ms", "bid", "ask"])
    # FXCM time zone: UTC-05 fixed (no DST), ms since that local midnight
    ts = (
        int(pd.Timestamp("2014-05-04", tz="UTC").value)
        + 5 * 3_600_000_000_000
        + q["ms"].to_numpy(np.int64) * 1_000_000
    )
    bid, ask = q["bid"].to_numpy(np.float64), q["ask"].to_numpy(np.float64)
    crossed, locked = int((bid > ask).sum()), int((bid == ask).sum())
    assert (crossed, locked) == (174, 259)  # SOURCE.md
    engine = MarketEngine(TFS)
    statuses = [
        engine.on_quote("EURUSD", a, b, c)
        for a, b, c in zip(ts.tolist(), bid.tolist(), ask.tolist(), strict=True)
    ]
    assert set(statuses) == {QuoteStatus.ACCEPTED}
    stats = engine.stats("EURUSD")
    assert stats["quotes_accepted"] == len(q)
    # docs/semantics.md: crossed *and* locked (bid >= ask) are kept and counted as crossed
    assert stats["quotes_crossed"] == crossed + locked
    last = engine.state("EURUSD")
    assert (last["best_bid"], last["best_ask"]) == (bid[-1], ask[-1])


def test_last_trades_reports_each_symbols_latest_accepted_trade() -> None:
    """Feeds freshness (EscalationBoard.evaluate(last_tick_ns=engine)) without state() per symbol."""
    engine = montalaq.MarketEngine(("1m",))
    engine.on_trade("A", 1_700_000_000_000_000_000, 1.0, 1.0)
    engine.on_trade("A", 1_700_000_000_500_000_000, 1.0, 1.0)
    engine.on_trade("A", 1_699_999_000_000_000_000, 1.0, 1.0)  # late: not accepted
    engine.on_trade("B", 1_700_000_000_100_000_000, float("nan"), 1.0)  # rejected, symbol seen
    symbols, last = engine.last_trades()
    assert dict(zip(symbols, last, strict=True)) == {"A": 1_700_000_000_500_000_000, "B": 0}
