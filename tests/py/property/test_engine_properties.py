"""Property tests: the MarketEngine against a tiny pure-Python reference model written from
docs/semantics.md, Market core (and docs/semantics.md where the spec is silent), on random streams with
invalid values, duplicate ids, out-of-order trades and clock advances."""

from __future__ import annotations

import itertools
import math
from collections import deque
from dataclasses import dataclass, field
from typing import Literal, TypeVar

import numpy as np
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from numpy.testing import assert_array_equal

import montalaq
from montalaq import MarketEngine

SEC = 1_000_000_000
TFS = ("1s", "2s", "6s")  # every timeframe a multiple of the finest, as the engine requires
TF_NS = (SEC, 2 * SEC, 6 * SEC)
SYMBOLS = ("A", "B")

PROPERTY_SETTINGS = settings(max_examples=250, deadline=None, suppress_health_check=[HealthCheck.too_slow])

# A bar as RefBar.key() and engine_bar_keys() give it: start, OHLC, volume, vwap, trades, buy.
BarKey = tuple[int, float, float, float, float, float, float, int, float]
# A closed bar as emitted: timeframe, start, OHLC, trades, revision.
Emitted = tuple[str, int, float, float, float, float, int, int]
# Events as drawn (times relative to a cursor or absolute) and as run (absolute ns).
RawTime = tuple[Literal["rel", "abs"], int]
RawTrade = tuple[Literal["trade"], str, RawTime, float, float, int, int | None]
RawAdvance = tuple[Literal["advance"], RawTime]
TradeEvent = tuple[Literal["trade"], str, int, float, float, int, int | None]
AdvanceEvent = tuple[Literal["advance"], int]
Event = TradeEvent | AdvanceEvent
SortedTrade = tuple[int, float, float, int]  # ts, price, size, side
T = TypeVar("T")
U = TypeVar("U")


# --------------------------------------------------------------------------- reference model


@dataclass
class RefBar:
    start: int
    open_ts: int
    close_ts: int
    open: float
    high: float
    low: float
    close: float
    volume: float
    pv: float
    buy: float
    trades: int
    revision: int = 0

    @classmethod
    def first(cls, start: int, ts: int, price: float, size: float, side: int) -> RefBar:
        return cls(
            start, ts, ts, price, price, price, price, size, price * size, size if side > 0 else 0.0, 1
        )

    def add(self, ts: int, price: float, size: float, side: int) -> None:
        self.high = max(self.high, price)
        self.low = min(self.low, price)
        if ts < self.open_ts:  # open: smallest ts, ties keep the first arrival
            self.open_ts, self.open = ts, price
        if ts >= self.close_ts:  # close: largest ts, ties take the last arrival
            self.close_ts, self.close = ts, price
        self.volume += size
        self.pv += price * size
        if side > 0:
            self.buy += size
        self.trades += 1

    def key(self) -> BarKey:
        return (
            self.start,
            self.open,
            self.high,
            self.low,
            self.close,
            self.volume,
            self.pv / self.volume,
            self.trades,
            self.buy,
        )


@dataclass
class RefTimeframe:
    tf: int
    bars: dict[int, RefBar] = field(default_factory=dict)  # every bar, closed or open
    open_start: int | None = None
    frontier: int | None = None  # start of the earliest interval not closed yet


@dataclass
class RefSymbol:
    tfs: list[RefTimeframe]
    cache: deque[int | None] = field(default_factory=deque)  # trade ids (or None) applied, oldest first
    counts: dict[str, int] = field(default_factory=dict)
    last_ts: int = 0
    last_price: float | None = None


class RefEngine:
    """docs/semantics.md, Market core in the plainest Python: validity, id dedupe over the cache window,
    LATE against the open finest bar, bars by floor(ts / tf), closing by later trades or by
    the clock, and (optionally) amendments inside a late window."""

    def __init__(self, max_trades: int, late_window: int = 0) -> None:
        self.max_trades = max_trades
        self.late_window = late_window
        self.syms: dict[str, RefSymbol] = {}

    def _sym(self, name: str) -> RefSymbol:
        if name not in self.syms:
            self.syms[name] = RefSymbol([RefTimeframe(tf) for tf in TF_NS])
        return self.syms[name]

    def on_trade(
        self, name: str, ts: int, price: float, size: float, side: int, tid: int | None
    ) -> tuple[str, list[Emitted]]:
        s = self._sym(name)
        status, emitted = self._ingest(s, ts, price, size, side, tid)
        s.counts[status] = s.counts.get(status, 0) + 1
        return status, emitted

    def _ingest(
        self, s: RefSymbol, ts: int, price: float, size: float, side: int, tid: int | None
    ) -> tuple[str, list[Emitted]]:
        if ts <= 0:
            return "REJECT_TS", []
        if not (math.isfinite(price) and price > 0):
            return "REJECT_PRICE", []
        if not (math.isfinite(size) and size > 0):
            return "REJECT_SIZE", []
        if tid is not None and tid in s.cache:
            return "DUPLICATE_TICK", []
        finest = s.tfs[0]
        emitted: list[Emitted] = []
        if finest.frontier is not None and ts < finest.frontier:
            if not (
                self.late_window > 0 and ts >= finest.frontier - self.late_window and self._amendable(s, ts)
            ):
                return "LATE", []
            status = "AMENDED"
            for f in s.tfs:
                emitted += self._amend(f, ts, price, size, side)
        else:
            status = "ACCEPTED"
            for f in s.tfs:
                emitted += self._apply(f, ts, price, size, side)
        s.cache.append(tid)
        if len(s.cache) > self.max_trades:
            s.cache.popleft()
        if ts >= s.last_ts:
            s.last_ts, s.last_price = ts, price
        return status, emitted

    def _apply(self, f: RefTimeframe, ts: int, price: float, size: float, side: int) -> list[Emitted]:
        start = ts - ts % f.tf
        if f.open_start is not None and start == f.open_start:
            f.bars[start].add(ts, price, size, side)
            return []
        out: list[Emitted] = []
        if f.open_start is not None:
            out.append(self._emit(f, f.open_start))
        f.bars[start] = RefBar.first(start, ts, price, size, side)
        f.open_start = start
        f.frontier = start
        return out

    def _amendable(self, s: RefSymbol, ts: int) -> bool:
        # docs/semantics.md: a late trade older than every bar kept stays LATE.
        for f in s.tfs:
            start = ts - ts % f.tf
            if f.open_start is not None and start == f.open_start:
                continue
            if f.frontier is not None and start >= f.frontier:
                continue
            closed = [b for b in f.bars if b != f.open_start]
            if not closed or start < min(closed):
                return False
        return True

    def _amend(self, f: RefTimeframe, ts: int, price: float, size: float, side: int) -> list[Emitted]:
        start = ts - ts % f.tf
        if f.open_start is not None and start == f.open_start:
            f.bars[start].add(ts, price, size, side)  # an open coarser bar just absorbs it
            return []
        if f.frontier is not None and start >= f.frontier:
            return self._apply(f, ts, price, size, side)
        if start in f.bars:
            f.bars[start].add(ts, price, size, side)
            f.bars[start].revision += 1
        else:  # the interval had no bar: the late trade creates it (revision 0)
            f.bars[start] = RefBar.first(start, ts, price, size, side)
        return [self._emit(f, start)]

    def _emit(self, f: RefTimeframe, start: int) -> Emitted:
        b = f.bars[start]
        return (TFS[TF_NS.index(f.tf)], b.start, b.open, b.high, b.low, b.close, b.trades, b.revision)

    def advance_time(self, now: int) -> list[Emitted]:
        out: list[Emitted] = []
        for s in self.syms.values():
            for f in s.tfs:
                if f.frontier is None:
                    continue
                limit = (now // f.tf) * f.tf
                if f.open_start is not None and f.open_start < limit:
                    out.append(self._emit(f, f.open_start))
                    f.open_start = None
                if f.open_start is None:
                    f.frontier = max(f.frontier, limit)
        return out

    def bars(self, name: str, tf_index: int) -> list[BarKey]:
        return [b.key() for _, b in sorted(self.syms[name].tfs[tf_index].bars.items())]


# --------------------------------------------------------------------------- strategies


def weighted(
    common: st.SearchStrategy[T], rare: st.SearchStrategy[U], tenths_common: int
) -> st.SearchStrategy[T | U]:
    """``common`` about ``tenths_common``/10 of the time, else ``rare``."""
    return st.integers(0, 9).flatmap(lambda k: common if k < tenths_common else rare)


valid_price = st.sampled_from([0.5, 1.0, 1.25, 2.0, 3.5]) | st.floats(0.01, 1e6, allow_nan=False)
bad_number = st.sampled_from([math.nan, math.inf, -math.inf, 0.0, -0.0, -1.0, -1e-300])
prices = weighted(valid_price, bad_number, 9)
sizes = weighted(valid_price, bad_number, 9)
TICK = 125_000_000  # 125 ms grid: many same-ts ties
# A trade's time is either a step from a cursor (mostly forward: a live feed, with small
# backward steps for out-of-order arrivals) or an absolute time anywhere in [-0.5 s, 30 s]
# (far-late trades, zero and negative timestamps).
trade_time = weighted(
    st.tuples(st.just("rel"), st.integers(-10, 12)),
    st.tuples(st.just("abs"), st.integers(-4, 240).map(lambda k: k * TICK) | st.integers(1, 30 * SEC)),
    8,
)
trade_ids = weighted(st.integers(0, 12), st.none(), 7)
trades = st.tuples(
    st.just("trade"),
    st.sampled_from(SYMBOLS),
    trade_time,
    prices,
    sizes,
    st.sampled_from([-1, 0, 1]),
    trade_ids,
)
advance_time = weighted(
    st.tuples(st.just("rel"), st.integers(0, 40)), st.tuples(st.just("abs"), st.integers(0, 40 * SEC)), 8
)
advances = st.tuples(st.just("advance"), advance_time)
raw_events = st.lists(weighted(trades, advances, 9), min_size=5, max_size=80)


def materialise(raw: list[RawTrade | RawAdvance]) -> list[Event]:
    """Turn cursor-relative times into absolute ns."""
    cursor = 2 * SEC
    out: list[Event] = []
    for ev in raw:
        mode, value = ev[2] if ev[0] == "trade" else ev[1]
        if mode == "rel":
            if ev[0] == "trade":
                cursor += value * TICK
                t = cursor
            else:
                t = cursor + value * TICK
        else:
            t = value
        out.append((ev[0], ev[1], t, *ev[3:]) if ev[0] == "trade" else ("advance", t))
    return out


events = raw_events.map(materialise)


def engine_bar_keys(engine: MarketEngine, sym: str, tf: str) -> list[BarKey]:
    b = engine.bars(sym, tf, include_open=True)
    return list(
        zip(
            b.start_ns.tolist(),
            b.open.tolist(),
            b.high.tolist(),
            b.low.tolist(),
            b.close.tolist(),
            b.volume.tolist(),
            b.vwap.tolist(),
            b.trades.tolist(),
            b.buy_volume.tolist(),
            strict=True,
        )
    )


def emitted_key(b: montalaq.Bar) -> Emitted:
    return (b.timeframe, b.start_ns, b.open, b.high, b.low, b.close, b.trades, b.revision)


def run_and_compare(stream: list[Event], max_trades: int, late_window: int) -> None:
    engine = MarketEngine(
        TFS, max_trades=max_trades, late_window_ns=late_window, atr_n=2, mom_k=1, vwap_n=3, rvol_n=2
    )
    ref = RefEngine(max_trades, late_window)
    for i, ev in enumerate(stream):
        if ev[0] == "trade":
            _, sym, ts, price, size, side, tid = ev
            status, closed = engine.on_trade(sym, ts, price, size, side, tid)
            want_status, want_closed = ref.on_trade(sym, ts, price, size, side, tid)
            assert status.name == want_status, (i, ev)
        else:
            closed = engine.advance_time(ev[1])
            want_closed = ref.advance_time(ev[1])
        # the same bars close (order between timeframes/symbols is not specified)
        assert sorted(emitted_key(b) for b in closed) == sorted(want_closed), (i, ev)

    for sym, rs in ref.syms.items():
        stats = engine.stats(sym)
        for kind in (
            "ACCEPTED",
            "REJECT_TS",
            "REJECT_PRICE",
            "REJECT_SIZE",
            "DUPLICATE_TICK",
            "LATE",
            "AMENDED",
        ):
            assert stats[kind] == rs.counts.get(kind, 0), (sym, kind)
        assert engine.trades_cached(sym) == len(rs.cache)
        assert engine.state(sym)["last_price"] == rs.last_price
        for k, tf in enumerate(TFS):
            assert engine_bar_keys(engine, sym, tf) == ref.bars(sym, k), (sym, tf)
            # amended or not, streaming features equal a fresh batch computation
            feats = engine.features(sym, tf)
            batch = montalaq.compute_features(engine.bars(sym, tf), atr_n=2, mom_k=1, vwap_n=3, rvol_n=2)
            for col in ("atr", "mom_bps", "px_vs_vwap_bps", "rvol"):
                assert_array_equal(getattr(feats, col), getattr(batch, col), err_msg=f"{sym} {tf} {col}")
    assert set(engine.symbols()) == set(ref.syms)


# --------------------------------------------------------------------------- properties


@PROPERTY_SETTINGS
@given(stream=events, max_trades=st.integers(1, 10))
def test_engine_matches_reference_model(stream: list[Event], max_trades: int) -> None:
    run_and_compare(stream, max_trades, late_window=0)


@PROPERTY_SETTINGS
@given(
    stream=events, max_trades=st.integers(1, 10), late_window=st.sampled_from([SEC // 2, 3 * SEC, 60 * SEC])
)
def test_engine_with_late_window_matches_reference_model(
    stream: list[Event], max_trades: int, late_window: int
) -> None:
    run_and_compare(stream, max_trades, late_window)


sorted_valid_trades = st.lists(
    st.tuples(
        st.integers(1, 200).map(lambda k: k * 250_000_000),
        valid_price,
        valid_price,
        st.sampled_from([-1, 0, 1]),
    ),
    min_size=1,
    max_size=80,
).map(lambda rows: sorted(rows, key=lambda r: r[0]))


@PROPERTY_SETTINGS
@given(rows=sorted_valid_trades, cuts=st.lists(st.integers(0, 80), max_size=6), fill_gaps=st.booleans())
def test_streaming_equals_batch_for_sorted_valid_input(
    rows: list[SortedTrade], cuts: list[int], fill_gaps: bool
) -> None:
    ts = np.array([r[0] for r in rows], np.int64)
    px = np.array([r[1] for r in rows])
    sz = np.array([r[2] for r in rows])
    sd = np.array([r[3] for r in rows], np.int8)
    one = MarketEngine(TFS, fill_gaps=fill_gaps, atr_n=2, vwap_n=3, rvol_n=2)
    for row in rows:
        status, _ = one.on_trade("A", *row)
        assert status.name == "ACCEPTED"
    chunked = MarketEngine(TFS, fill_gaps=fill_gaps, atr_n=2, vwap_n=3, rvol_n=2)
    bounds = sorted({0, len(rows), *(c for c in cuts if c < len(rows))})
    for lo, hi in itertools.pairwise(bounds):
        counts, _ = chunked.on_trades("A", ts[lo:hi], px[lo:hi], sz[lo:hi], sd[lo:hi])
        assert counts["ACCEPTED"] == hi - lo
    for tf in TFS:
        batch = montalaq.build_bars(ts, px, sz, tf, side=sd, fill_gaps=fill_gaps)
        for engine in (one, chunked):
            got = engine.bars("A", tf, include_open=True)
            for col in ("start_ns", "open", "high", "low", "close", "volume", "vwap", "trades", "buy_volume"):
                assert_array_equal(getattr(got, col), getattr(batch, col), err_msg=f"{tf} {col}")
            feats = engine.features("A", tf)
            ref = montalaq.compute_features(engine.bars("A", tf), atr_n=2, vwap_n=3, rvol_n=2)
            for col in ("atr", "mom_bps", "px_vs_vwap_bps", "rvol"):
                assert_array_equal(getattr(feats, col), getattr(ref, col))
    assert one.state("A") == chunked.state("A")
