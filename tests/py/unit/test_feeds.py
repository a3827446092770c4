"""Feeds: the replay of a real trade file (shifted in time, accelerated, looping) and the
seeded random walk, as the service pulls them and as an async consumer iterates them."""

from __future__ import annotations

import asyncio
from dataclasses import replace

import numpy as np
import pytest

import montalaq
from montalaq.feeds import PullProvider, ReplayProvider, SimulatedProvider, TradeBatch

NS = 1_000_000_000
START = 1_700_000_000 * NS


class WallClock:
    """A wall clock the test moves by hand (int ns)."""

    def __init__(self, t: int = 5 * NS) -> None:
        self.t = t

    def __call__(self) -> int:
        return self.t


@pytest.fixture(scope="module")
def btc() -> montalaq.Trades:
    """The bundled 5 minutes of Binance BTCUSDT trades (with trade ids)."""
    return montalaq.read_trades(montalaq.sample_path("btcusdt"))


def concat(batches: list[TradeBatch]) -> np.ndarray:
    return np.concatenate([b.ts_ns for b in batches]) if batches else np.empty(0, dtype=np.int64)


def test_a_replay_is_a_pull_provider() -> None:
    assert isinstance(ReplayProvider(montalaq.sample_path("btcusdt")), PullProvider)


def test_a_replay_delivers_the_file_shifted_to_start_ns(btc: montalaq.Trades) -> None:
    p = ReplayProvider(btc, start_ns=START)
    got = concat(p.take_until(START + 60 * NS))
    t0 = int(btc.ts_ns[0])
    expected = btc.ts_ns[btc.ts_ns <= t0 + 60 * NS] - t0 + START
    np.testing.assert_array_equal(got, expected)


def test_take_until_never_delivers_a_trade_twice(btc: montalaq.Trades) -> None:
    p = ReplayProvider(btc, start_ns=START, chunk=500)
    first = concat(p.take_until(START + 30 * NS))
    second = concat(p.take_until(START + 30 * NS))
    rest = concat(p.take_until(START + 3600 * NS))
    assert len(second) == 0
    assert len(first) + len(rest) == len(btc)
    assert p.exhausted


def test_batches_are_at_most_chunk_rows(btc: montalaq.Trades) -> None:
    batches = ReplayProvider(btc, start_ns=START, chunk=1000).take_until(START + 3600 * NS)
    assert max(len(b) for b in batches) == 1000
    assert sum(len(b) for b in batches) == len(btc)


def test_by_default_the_replay_starts_at_the_wall_clock(btc: montalaq.Trades) -> None:
    wall = WallClock(START + 123)
    p = ReplayProvider(btc, clock=wall)
    [first, *_] = p.take_until(p.clock())
    assert int(first.ts_ns[0]) == START + 123


def test_the_virtual_clock_runs_speed_times_faster_than_the_wall(btc: montalaq.Trades) -> None:
    wall = WallClock()
    p = ReplayProvider(btc, start_ns=START, speed=60, clock=wall)
    assert p.clock() == START
    wall.t += 2 * NS
    assert p.clock() == START + 120 * NS


def test_a_loop_continues_in_time_after_the_last_trade(btc: montalaq.Trades) -> None:
    p = ReplayProvider(btc, start_ns=START, loop=True, loop_gap_s=1.0)
    span = int(btc.ts_ns[-1] - btc.ts_ns[0])
    ts = concat(p.take_until(START + span + NS + 10 * NS))
    assert p.passes == 1
    assert np.all(np.diff(ts) >= 0)
    assert ts[len(btc)] == START + span + NS  # the second pass starts 1 s after the last trade


def test_a_loop_shifts_trade_ids_so_no_pass_is_a_duplicate(btc: montalaq.Trades) -> None:
    assert btc.trade_id is not None
    p = ReplayProvider(btc, start_ns=START, loop=True)
    engine = montalaq.MarketEngine(("1m",))
    for b in p.take_until(START + 3 * 3600 * NS):
        engine.on_trades(b.symbol, b.ts_ns, b.price, b.size, b.side, b.trade_id)
    assert p.passes >= 3
    assert engine.stats()["DUPLICATE_TICK"] == 0


def test_start_offset_skips_the_beginning_of_the_file(btc: montalaq.Trades) -> None:
    p = ReplayProvider(btc, start_ns=START, start_offset_s=120)
    assert len(p) == int(np.sum(btc.ts_ns >= btc.ts_ns[0] + 120 * NS))


def test_an_unsorted_file_is_replayed_in_time_order(btc: montalaq.Trades) -> None:
    rng = np.random.default_rng(1)
    order = rng.permutation(len(btc))
    shuffled = replace(
        btc, ts_ns=btc.ts_ns[order], price=btc.price[order], size=btc.size[order], side=None, trade_id=None
    )
    ts = concat(ReplayProvider(shuffled, start_ns=START).take_until(START + 3600 * NS))
    np.testing.assert_array_equal(ts, np.sort(btc.ts_ns) - btc.ts_ns.min() + START)


def test_the_symbol_can_be_renamed(btc: montalaq.Trades) -> None:
    [first, *_] = ReplayProvider(btc, symbol="XBT", start_ns=START).take_until(START)
    assert first.symbol == "XBT"


def test_the_default_replay_is_the_bundled_spy_sample() -> None:
    p = ReplayProvider()
    assert (p.symbol, len(p)) == ("SPY", 250_601)


@pytest.mark.parametrize("speed", [0, -1.0, float("nan")])
def test_a_non_positive_speed_is_refused(btc: montalaq.Trades, speed: float) -> None:
    with pytest.raises(ValueError, match="speed"):
        ReplayProvider(btc, speed=speed)


def test_async_trades_deliver_the_whole_file_in_order(btc: montalaq.Trades) -> None:
    p = ReplayProvider(btc, speed=1e6)  # 5 minutes of trades in well under a second

    async def collect() -> list[TradeBatch]:
        return [b async for b in p.trades()]

    ts = concat(asyncio.run(collect()))
    assert len(ts) == len(btc)
    assert np.all(np.diff(ts) >= 0)


# ------------------------------------------------------------------------------ simulation


def test_the_simulation_gives_the_same_trades_however_it_is_sliced() -> None:
    a = SimulatedProvider("SIM", seed=42, start_ns=START, chunk=100)
    b = SimulatedProvider("SIM", seed=42, start_ns=START, chunk=100)
    whole = a.take_until(START + 600 * NS)
    cuts = [*range(START, START + 600 * NS, 7 * NS), START + 600 * NS]
    pieces = [x for t in cuts for x in b.take_until(t)]
    np.testing.assert_array_equal(concat(whole), concat(pieces))
    np.testing.assert_array_equal(
        np.concatenate([x.price for x in whole]), np.concatenate([x.price for x in pieces])
    )


def test_different_seeds_give_different_walks() -> None:
    a = concat(SimulatedProvider(seed=1, start_ns=START).take_until(START + 60 * NS))
    b = concat(SimulatedProvider(seed=2, start_ns=START).take_until(START + 60 * NS))
    assert not np.array_equal(a, b)


def test_the_simulation_starts_at_start_ns_with_valid_trades() -> None:
    batches = SimulatedProvider(seed=0, start_ns=START, rate_per_s=10).take_until(START + 300 * NS)
    ts = concat(batches)
    assert ts[0] == START
    assert np.all(np.diff(ts) > 0)
    assert all(np.all(b.price > 0) and np.all(b.size >= 1) for b in batches)
    assert 2_000 < len(ts) < 4_000  # ~10 trades a second for 300 s


def test_the_simulation_feeds_the_engine_without_rejections() -> None:
    engine = montalaq.MarketEngine(("1m",))
    batches = SimulatedProvider("SIM", seed=5, start_ns=START).take_until(START + 30 * 60 * NS)
    for b in batches:
        engine.on_trades(b.symbol, b.ts_ns, b.price, b.size, b.side, b.trade_id)
    stats = engine.stats()
    assert stats["ACCEPTED"] == sum(len(b) for b in batches)
    assert stats["bars_closed"] >= 29  # 30 minutes of a 1m walk
