"""Host code pushing its own trades and quotes into a running service (docs/feeds.md, "Your
own feed"): ``PushFeed`` from another thread, ``Service.feed``, the bound and its count,
bad input named; and what ``Service(settings)`` feeds without ``providers=``."""

from __future__ import annotations

import asyncio
import logging
import threading
from pathlib import Path

import numpy as np
import pytest

from montalaq.feeds import PushFeed, QuoteBatch, ReplayProvider, SimulatedProvider, TradeBatch
from montalaq.service import Service
from montalaq.settings import Settings
from montalaq.store import Store

NS = 1_000_000_000
T0 = 1_723_161_600 * NS  # 2024-08-09 00:00 UTC


def settings(tmp_path: Path, **env: str) -> Settings:
    return Settings.from_env(
        {"SYMBOL": "AAPL", "ALERTS_DIR": str(tmp_path / "a"), "METRICS_DIR": str(tmp_path / "m"), **env}
    )


def test_a_push_feed_delivers_trades_and_quotes_pushed_from_another_thread(tmp_path: Path) -> None:
    feed = PushFeed(["AAPL"], name="my-broker")
    with Store(f"sqlite:///{tmp_path / 'push.db'}") as store:
        now = [T0 + 30 * NS]
        svc = Service(settings(tmp_path), store=store, providers={"AAPL": feed}, clock=lambda: now[0])
        ts = T0 + np.arange(60, dtype=np.int64) * NS  # one trade a second for a minute

        def host() -> None:
            for i in range(60):
                feed.push_trades("AAPL", int(ts[i]), 189.0 + i * 0.01, 10.0)
            feed.push_quote("AAPL", int(ts[-1]), bid=189.55, ask=189.6)

        t = threading.Thread(target=host)
        t.start()
        t.join()

        async def main() -> None:
            stop = asyncio.Event()
            task = asyncio.create_task(svc.run(stop, tick_s=0.05))
            await asyncio.sleep(0.5)
            now[0] = T0 + 63 * NS  # past the minute and its 2 s grace: the bar closes
            await asyncio.sleep(0.5)
            stop.set()
            await asyncio.wait_for(task, 10)

        asyncio.run(main())
        assert svc.stats.trades_ingested == 60
        sig = svc.signals("AAPL")
        assert (sig["best_bid"], sig["best_ask"]) == (189.55, 189.6)
        assert sig["last_price"] == pytest.approx(189.59)
        bars = svc.engine.bars("AAPL", "1m")
        assert (len(bars), float(bars.volume[0]), int(bars.trades[0])) == (1, 600.0, 60)
        assert svc.ingestion_status()["pairs"][0]["provider"] == "my-broker"
        assert feed.stats() == {"pushed": 60, "dropped": 0, "pending": 0}


def test_the_push_feed_is_bounded_and_counts_what_it_dropped() -> None:
    feed = PushFeed(["AAPL"], max_pending=100)
    for k in range(5):
        feed.push_trades("AAPL", T0 + np.arange(40) * NS + k * 40 * NS, np.full(40, 10.0), np.ones(40))
    assert feed.stats() == {"pushed": 200, "dropped": 120, "pending": 80}
    [batch, *rest] = feed.take_until(0)
    assert int(batch.ts_ns[0]) == T0 + 120 * NS  # the oldest went first
    assert sum(len(b) for b in (batch, *rest)) == 80


def test_bad_pushes_are_errors_naming_the_field_and_lose_nothing_queued() -> None:
    feed = PushFeed(["AAPL"])
    feed.push_trades("AAPL", [T0, T0 + NS], [1.0, 2.0], [1.0, 1.0])
    with pytest.raises(ValueError, match="is not one of this feed's symbols"):
        feed.push_trades("MSFT", T0, 1.0, 1.0)
    with pytest.raises(ValueError, match="expected equal one-dimensional lengths"):
        feed.push_trades("AAPL", [T0, T0 + NS], [1.0], [1.0, 1.0])
    with pytest.raises(ValueError, match="side: expected length 2"):
        feed.push_trades("AAPL", [T0, T0 + NS], [1.0, 2.0], [1.0, 1.0], side=[1])
    with pytest.raises(ValueError, match="symbols: expected at least one"):
        PushFeed([])
    assert feed.stats()["pending"] == 2


def test_service_feed_takes_trade_and_quote_batches_and_refuses_anything_else(tmp_path: Path) -> None:
    with Store(f"sqlite:///{tmp_path / 'feed.db'}") as store:
        svc = Service(settings(tmp_path), store=store, providers={"AAPL": PushFeed(["AAPL"])})
        svc.feed(TradeBatch("AAPL", np.array([T0], np.int64), np.array([10.0]), np.array([2.0])))
        svc.feed(QuoteBatch("AAPL", np.array([T0], np.int64), np.array([9.9]), np.array([10.1])))
        svc.feed(QuoteBatch("AAPL", np.array([T0], np.int64), np.array([np.nan]), np.array([10.1])))  # no bid
        assert (svc.stats.trades_ingested, svc.stats.quotes_ingested, svc.stats.quotes_rejected) == (1, 1, 1)
        assert svc.signals("AAPL")["best_bid"] == 9.9
        with pytest.raises(TypeError, match="expected a TradeBatch or a QuoteBatch"):
            svc.feed({"symbol": "AAPL"})  # type: ignore[arg-type]


def test_without_providers_the_service_says_it_replays_the_samples(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    with Store(f"sqlite:///{tmp_path / 'demo.db'}") as store, caplog.at_level(logging.WARNING):
        svc = Service(Settings.from_env({"SYMBOL": "SPY,AAPL"}), store=store)
        assert isinstance(svc.providers["SPY"], ReplayProvider)
        assert isinstance(svc.providers["AAPL"], SimulatedProvider)
        assert "PROVIDER is not set: replaying the bundled samples" in caplog.text
        caplog.clear()
        sim = Service(Settings.from_env({"SYMBOL": "SPY", "PROVIDER": "simulated"}), store=store)
        assert isinstance(sim.providers["SPY"], SimulatedProvider)
        assert "PROVIDER is not set" not in caplog.text


def test_a_live_provider_without_its_key_fails_at_construction_naming_the_setting(tmp_path: Path) -> None:
    with (
        Store(f"sqlite:///{tmp_path / 'key.db'}") as store,
        pytest.raises(ValueError, match="ALLTICK_API_KEY"),
    ):
        Service(Settings.from_env({"SYMBOL": "AAPL.US", "PROVIDER": "alltick"}), store=store)


def test_findings_carry_the_quotes_the_feed_delivered(tmp_path: Path) -> None:
    """An hour of the SPY session (15m features need it), then a pushed quote: the
    trend_score finding records the book it was judged on."""
    import montalaq

    t1330 = 1_381_152_600 * NS  # 2013-10-07 13:30 UTC
    spy = montalaq.read_trades(montalaq.sample_path("spy"))
    feed = ReplayProvider(spy, name="AllTick", start_offset_s=5.5 * 3600, start_ns=t1330)
    with Store(f"sqlite:///{tmp_path / 'quotes.db'}") as store:
        svc = Service(Settings.from_env({"SYMBOL": "SPY"}), store=store, providers={"SPY": feed})
        for t in range(t1330 + 60 * NS, t1330 + 61 * 60 * NS, 60 * NS):
            svc.step(t)
        last = int(svc.engine.last_trades()[1][0])
        svc.feed(QuoteBatch("SPY", np.array([last], np.int64), np.array([168.11]), np.array([168.13])))
        [finding] = svc.run_agents(["trend_score"], symbol="SPY")
        assert (finding.details["best_bid"], finding.details["best_ask"]) == (168.11, 168.13)
