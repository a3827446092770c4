"""The streaming clients against local servers that speak each provider's protocol
(tests/py/provider_servers.py): the real Binance capture replayed message for message
through the service with a 60 s outage, quotes, malformed frames, silent servers, auth
refusals, a slow consumer, Twelve Data and AllTick subscriptions, heartbeats and backfill.
"""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import pytest

import montalaq
from montalaq.feeds import QuoteBatch, TradeBatch
from montalaq.health import OpState
from montalaq.notify import notifier_from_settings
from montalaq.providers import (
    AllTickClient,
    BinanceClient,
    ProviderAuthError,
    StreamClient,
    TwelveDataClient,
    providers_from_settings,
)
from montalaq.service import Service
from montalaq.settings import Settings
from montalaq.store import Store
from provider_servers import (
    AllTickServer,
    BinanceServer,
    RefusingServer,
    ScriptedServer,
    TwelveDataServer,
    at_depth,
    at_tick,
    td_price,
)

NS = 1_000_000_000
MS = 1_000_000
CAPTURE = "binance_spot_btcusdt_ws_2024-08-09"


def collect(client: StreamClient, until: Callable[[list[Any]], bool], timeout_s: float = 10.0) -> list[Any]:
    """Batches of one session until ``until(batches)`` or the timeout."""
    out: list[Any] = []

    async def main() -> None:
        async def run() -> None:
            async for b in client.trades():
                out.append(b)
                if until(out):
                    return

        await asyncio.wait_for(run(), timeout_s)

    asyncio.run(main())
    return out


def n_trades(batches: list[Any]) -> int:
    return sum(len(b) for b in batches if isinstance(b, TradeBatch))


# -- Binance: the real capture through the service, with a 60 s outage ------------------------
@pytest.fixture(scope="module")
def outage_run(data_dir: Path, tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    """The 5-minute capture at 20x; the server is killed 100 s in and back 60 s later."""
    folder = data_dir / CAPTURE
    srv = BinanceServer(folder, speed=20.0).start()
    tmp = tmp_path_factory.mktemp("binance")
    settings = Settings.from_env(
        {
            "SYMBOL": "BTCUSDT",
            "TIMEFRAMES": "10s,1m,5m,15m",
            "ESCALATION_EVAL_INTERVAL_SEC": "5",
            "BREAKER_AUTO_CLOSE_CYCLES": "2",
            "NOTIFY_DRY_RUN": "true",
            "ALERTS_DIR": str(tmp / "alerts"),
            "METRICS_DIR": str(tmp / "metrics"),
            "MONITOR_ENABLED": "false",
        }
    )
    client = BinanceClient(["BTCUSDT"], ws_url=srv.ws_url, rest_url=srv.http_url, idle_timeout_s=30.0)
    store = Store(f"sqlite:///{tmp / 'live.db'}")
    notifier = notifier_from_settings(settings, store)
    service = Service(
        settings, store=store, notifier=notifier, providers={"BTCUSDT": client}, clock=srv.clock
    )
    colours: list[str] = []
    kill_at = srv.first_ns + 100 * NS
    back_at = kill_at + 60 * NS

    async def main() -> None:
        stop = asyncio.Event()
        task = asyncio.create_task(service.run(stop, tick_s=0.05))
        killed = False
        while not srv.done or not service.engine.last_trades()[1][0] >= srv.last_ns:
            await asyncio.sleep(0.05)
            now = srv.clock()
            if not killed and now >= kill_at:
                await asyncio.to_thread(srv.kill)
                killed = True
            if killed and srv.server is None and now >= back_at:
                await asyncio.to_thread(srv.restart)
            colours.extend(
                p["freshness"] for p in service.ingestion_status()["pairs"] if p["timeframe"] == "10s"
            )
            if now > srv.last_ns + 120 * NS:
                break
        await asyncio.sleep(0.3)
        stop.set()
        await asyncio.wait_for(task, 15)

    asyncio.run(main())
    srv.stop()
    return {
        "service": service,
        "client": client,
        "server": srv,
        "colours": colours,
        "episodes": store.error_episodes(error_type="PROVIDER_DISCONNECTED"),
    }


@pytest.fixture(scope="module")
def capture_trades(data_dir: Path) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """The capture's trades as the exchange timed them: ts (ns), price, quantity."""
    raw = np.genfromtxt(
        data_dir / CAPTURE / "trades.csv", delimiter=",", skip_header=1, usecols=(2, 4, 5), dtype=np.float64
    )
    return raw[:, 0].astype(np.int64) * MS, raw[:, 1], raw[:, 2]


def test_bars_after_a_60s_outage_equal_the_uninterrupted_stream(
    outage_run: dict[str, Any], capture_trades: tuple[np.ndarray, np.ndarray, np.ndarray]
) -> None:
    service: Service = outage_run["service"]
    ts, px, sz = capture_trades
    for tf in ("10s", "1m"):
        want = montalaq.build_bars(ts, px, sz, tf)
        got = service.engine.bars("BTCUSDT", tf)
        n = len(got)
        assert n >= len(want) - 1  # the last bar may still be open
        assert n > 0
        np.testing.assert_array_equal(got.start_ns, want.start_ns[:n])
        for col in ("open", "high", "low", "close", "volume"):
            np.testing.assert_allclose(getattr(got, col), getattr(want, col)[:n], rtol=0, atol=1e-9)
        np.testing.assert_array_equal(got.trades, want.trades[:n])


def test_the_outage_turned_the_pair_red_and_it_recovered(outage_run: dict[str, Any]) -> None:
    colours = outage_run["colours"]  # 10s pair, sampled every 50 ms of wall time (1 virtual second)
    streaming = colours.index("GREEN")  # RED before the first trade, then GREEN
    assert "RED" in colours[streaming:]  # the outage
    assert colours[-1] == "GREEN"  # after the reconnect and the backfill


def test_the_client_reconnected_with_backoff_and_backfilled_the_missing_ids(
    outage_run: dict[str, Any],
) -> None:
    client: BinanceClient = outage_run["client"]
    srv: BinanceServer = outage_run["server"]
    stats = client.stats()
    assert stats["reconnects"] >= 1
    assert stats["backfilled"] > 100  # 60+ s of BTCUSDT trades
    assert stats["parse_errors"] == 0
    assert stats["dropped"] == 0
    filled = [g for g in stats["recent_gaps"] if g["filled"] == "trades"]
    assert filled
    assert filled[0]["missing"] == stats["backfilled"]
    assert srv.rest_calls
    assert all(c["symbol"] == "BTCUSDT" and int(c["limit"]) == 1000 for c in srv.rest_calls)
    assert srv.streams_asked[0] == "btcusdt@trade/btcusdt@bookTicker"
    # Every trade of the capture reached the engine exactly once.
    assert service_trades(outage_run) == len(srv.trades)


def service_trades(run: dict[str, Any]) -> int:
    return int(run["service"].stats.trades_ingested)


def test_the_disconnect_was_one_episode_resolved_once(outage_run: dict[str, Any]) -> None:
    [episode] = outage_run["episodes"]
    assert episode["is_resolved"] is True
    assert episode["occurrence_count"] >= 1


def test_quotes_reach_signals_and_the_metrics(outage_run: dict[str, Any]) -> None:
    service: Service = outage_run["service"]
    srv: BinanceServer = outage_run["server"]
    sig = service.signals("BTCUSDT")
    bids = {b for _, b, _ in srv.quotes}
    asks = {a for _, _, a in srv.quotes}
    assert sig["best_bid"] in bids
    assert sig["best_ask"] in asks
    assert sig["best_bid"] < sig["best_ask"]
    assert service.stats.quotes_ingested > 1000
    [row] = service.provider_stats()
    assert row["provider"] == "Binance"
    assert row["symbols"] == ["BTCUSDT"]
    assert row["quotes"] > 1000
    assert row["messages"] > 10_000


# -- Binance: bad frames, silence, refusals, overload -----------------------------------------
def _trade(i: int, t_ms: int = 1_723_161_601_000) -> str:
    return json.dumps(
        {
            "stream": "btcusdt@trade",
            "data": {
                "e": "trade",
                "E": t_ms + i,
                "s": "BTCUSDT",
                "t": 1000 + i,
                "p": "60000.5",
                "q": "0.01",
                "T": t_ms + i,
                "m": i % 2 == 0,
                "M": True,
            },
        }
    )


def test_malformed_frames_are_counted_and_skipped() -> None:
    async def script(ws: Any) -> None:
        await ws.send(_trade(0))
        for bad in (
            "not json",
            "[1, 2]",
            '{"stream": "x", "data": 5}',
            json.dumps({"stream": "btcusdt@trade", "data": {"e": "trade", "s": "BTCUSDT"}}),
            json.dumps(
                {
                    "stream": "btcusdt@trade",
                    "data": {"e": "trade", "s": "ETHUSDT", "t": 1, "p": "1", "q": "1", "T": 1, "m": True},
                }
            ),
            json.dumps(
                {
                    "stream": "btcusdt@trade",
                    "data": {"e": "trade", "s": "BTCUSDT", "t": 2, "p": "x", "q": "1", "T": 1, "m": True},
                }
            ),
            b"\xff\xfe",
        ):
            await ws.send(bad)
        await ws.send(_trade(1))

    srv = ScriptedServer(script).start()
    try:
        client = BinanceClient(["BTCUSDT"], ws_url=srv.ws_url, rest_url=srv.http_url)
        batches = collect(client, lambda b: n_trades(b) >= 2)
        ids = np.concatenate([b.trade_id for b in batches if isinstance(b, TradeBatch)])
        assert ids.tolist() == [1000, 1001]
        assert client.stats()["parse_errors"] == 7
    finally:
        srv.stop()


def test_a_server_that_accepts_and_never_sends_is_an_ingestion_timeout() -> None:
    async def script(ws: Any) -> None:
        return None

    srv = ScriptedServer(script).start()
    try:
        client = BinanceClient(["BTCUSDT"], ws_url=srv.ws_url, rest_url=srv.http_url, idle_timeout_s=0.5)
        t0 = time.monotonic()
        with pytest.raises(TimeoutError, match="no message"):
            collect(client, lambda b: False)
        assert 0.5 <= time.monotonic() - t0 < 5
        assert montalaq.errors.error_code_for(TimeoutError()) == montalaq.ErrorCode.INGESTION_TIMEOUT
    finally:
        srv.stop()


def test_an_auth_refusal_is_permanent_and_stops_the_feed(tmp_path: Path) -> None:
    refusing = RefusingServer(401).start()
    try:
        client = BinanceClient(
            ["BTCUSDT"], ws_url=refusing.ws_url, rest_url=refusing.http_url, api_key="bn-key-123"
        )
        settings = Settings.from_env(
            {
                "SYMBOL": "BTCUSDT",
                "ALERTS_DIR": str(tmp_path / "a"),
                "METRICS_DIR": str(tmp_path / "m"),
                "MONITOR_ENABLED": "false",
            }
        )
        with Store(f"sqlite:///{tmp_path / 'auth.db'}") as store:
            svc = Service(settings, store=store, providers={"BTCUSDT": client})

            async def main() -> None:
                stop = asyncio.Event()
                task = asyncio.create_task(svc.run(stop, tick_s=0.05))
                await asyncio.sleep(3.0)  # a retry loop would have tried 2-3 times by now
                stop.set()
                await asyncio.wait_for(task, 10)

            asyncio.run(main())
            assert refusing.attempts == 1
            assert svc.state == OpState.ERROR
            [row] = svc.provider_stats()
            assert row["stopped"]
            assert "ProviderAuthError" in row["stopped"]
            assert "HTTP 401" in row["last_error"]
            assert "bn-key-123" not in json.dumps(svc.provider_stats())
            assert {p["last_error_code"] for p in svc.ingestion_status()["pairs"]} == {"PROVIDER_AUTH"}
    finally:
        refusing.stop()


def test_a_fast_stream_with_a_slow_consumer_drops_the_oldest_and_counts_them() -> None:
    frames = [_trade(i) for i in range(20_000)]

    async def script(ws: Any) -> None:
        for f in frames:
            await ws.send(f)
        await asyncio.sleep(1.5)  # then one more trade, once the consumer has caught up
        await ws.send(_trade(20_000))

    srv = ScriptedServer(script).start()
    try:
        client = BinanceClient(["BTCUSDT"], ws_url=srv.ws_url, rest_url=srv.http_url, max_pending=1000)
        got: list[int] = []

        async def main() -> None:
            async def run() -> None:
                async for b in client.trades():
                    if isinstance(b, TradeBatch):
                        assert b.trade_id is not None
                        got.extend(b.trade_id.tolist())
                        if got[-1] == 1000 + 20_000:
                            return
                        await asyncio.sleep(0.2)  # a slow consumer

            await asyncio.wait_for(run(), 30)

        asyncio.run(main())
        stats = client.stats()
        assert stats["messages"] == 20_001
        assert stats["dropped"] > 0
        assert len(got) + stats["dropped"] == 20_001
        assert got == sorted(got)
        assert len(set(got)) == len(got)
        overflow = [g for g in stats["recent_gaps"] if g["reason"].startswith("overflow")]
        assert overflow
        assert sum(g["missing"] for g in overflow) == stats["dropped"]
        assert [g for g in stats["recent_gaps"] if g["reason"] == "trade ids skipped"] == []
    finally:
        srv.stop()


# -- Twelve Data ------------------------------------------------------------------------------
def test_twelvedata_subscribes_heartbeats_and_delivers_prices_and_quotes(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    srv = TwelveDataServer().start()
    try:
        monkeypatch.setattr(TwelveDataClient, "heartbeat_s", 0.2)
        client = TwelveDataClient(
            ["AAPL", "EUR/USD"],
            api_key=srv.api_key,
            ws_url=srv.ws_url + "/v1/quotes/price",
            rest_url=srv.http_url,
        )

        async def push_later() -> None:
            deadline = time.monotonic() + 30  # frames before the subscription reach nobody
            while len(srv.subscribed) < 2:
                assert time.monotonic() < deadline, "the client never subscribed"
                await asyncio.sleep(0.05)
            await asyncio.sleep(0.5)
            srv.broadcast(
                [
                    # The malformed frame first: frames are read in order, so it is counted
                    # before the valid ones end the session (last, it raced the exit).
                    '{"event": "price", "symbol": "AAPL"}',
                    td_price("AAPL", 1_723_161_601, 189.5, day_volume=1000),
                    td_price("EUR/USD", 1_723_161_602.5, 1.0912, bid=1.0911, ask=1.0913),
                ]
            )

        batches: list[Any] = []

        async def main() -> None:
            async def run() -> None:
                async for b in client.trades():
                    batches.append(b)
                    if n_trades(batches) >= 2 and any(isinstance(x, QuoteBatch) for x in batches):
                        return

            await asyncio.gather(
                asyncio.wait_for(run(), 45), asyncio.to_thread(lambda: asyncio.run(push_later()))
            )

        asyncio.run(main())
        assert sorted(srv.subscribed) == ["AAPL", "EUR/USD"]
        assert srv.heartbeats >= 1
        trades = {b.symbol: b for b in batches if isinstance(b, TradeBatch)}
        assert trades["AAPL"].ts_ns.tolist() == [1_723_161_601 * NS]
        assert trades["AAPL"].price.tolist() == [189.5]
        assert trades["AAPL"].size.tolist() == [1.0]
        [quote] = [b for b in batches if isinstance(b, QuoteBatch)]
        assert (quote.symbol, quote.bid.tolist(), quote.ask.tolist()) == ("EUR/USD", [1.0911], [1.0913])
        assert client.stats()["parse_errors"] == 1
    finally:
        srv.stop()


def test_twelvedata_backfills_missed_minutes_from_time_series() -> None:
    srv = TwelveDataServer().start()
    try:
        t0 = 1_723_161_600  # 2024-08-09 00:00:00 UTC
        now_s = [t0 + 30.0]
        srv.bars["AAPL"] = [
            {
                "datetime": f"2024-08-09 00:0{m}:00",
                "open": "10",
                "high": "12",
                "low": "9",
                "close": "11",
                "volume": "500",
            }
            for m in range(1, 5)
        ]
        client = TwelveDataClient(
            ["AAPL"],
            api_key=srv.api_key,
            ws_url=srv.ws_url + "/v1/quotes/price",
            rest_url=srv.http_url,
            clock=lambda: int(now_s[0] * NS),
        )
        client._last_ts["AAPL"] = (t0 + 30) * NS  # a price was delivered at 00:00:30, then the line dropped
        client.disconnected_at_ns = (t0 + 31) * NS
        now_s[0] = t0 + 4 * 60 + 20  # back at 00:04:20: minutes 1, 2, 3 are complete
        batches = asyncio.run(client.backfill(client.disconnected_at_ns))
        [batch] = batches
        assert isinstance(batch, TradeBatch)
        bars = montalaq.build_bars(batch.ts_ns, batch.price, batch.size, "1m")
        assert bars.start_ns.tolist() == [(t0 + 60 * m) * NS for m in (1, 2, 3)]
        assert bars.open.tolist() == [10.0] * 3
        assert bars.high.tolist() == [12.0] * 3
        assert bars.low.tolist() == [9.0] * 3
        assert bars.close.tolist() == [11.0] * 3
        [call] = srv.series_calls
        assert (call["interval"], call["start_date"], call["end_date"]) == (
            "1min",
            "2024-08-09 00:01:00",
            "2024-08-09 00:03:59",
        )
        gap = client.stats()["recent_gaps"][-1]
        assert gap["filled"] == "bars"
        assert client.stats()["backfilled"] == 3
    finally:
        srv.stop()


def test_twelvedata_rejects_a_bad_key_permanently_without_leaking_it() -> None:
    srv = TwelveDataServer(api_key="the-right-key").start()
    try:
        client = TwelveDataClient(
            ["AAPL"], api_key="wrong-key-42", ws_url=srv.ws_url + "/v1/quotes/price", rest_url=srv.http_url
        )
        with pytest.raises(ProviderAuthError) as info:
            collect(client, lambda b: False)
        assert "wrong-key-42" not in str(info.value)
        assert "wrong-key-42" not in json.dumps(client.stats())
    finally:
        srv.stop()


# -- AllTick ----------------------------------------------------------------------------------
def test_alltick_subscribes_trades_and_depth_and_answers_heartbeats(monkeypatch: pytest.MonkeyPatch) -> None:
    srv = AllTickServer().start()
    try:
        monkeypatch.setattr(AllTickClient, "heartbeat_s", 0.2)
        client = AllTickClient(
            ["AAPL.US", "EURUSD"], token=srv.token, ws_url=srv.ws_url + "/quote-stock-b-ws-api"
        )
        batches: list[Any] = []

        async def main() -> None:
            async def push() -> None:
                # Send only once the client subscribed both and beat once: frames sent
                # before would reach nobody (a loaded machine can take seconds).
                deadline = time.monotonic() + 30
                while not (srv.trade_codes and srv.depth_codes and srv.heartbeats):
                    assert time.monotonic() < deadline, "the client never subscribed and beat"
                    await asyncio.sleep(0.05)
                srv.broadcast(
                    [
                        '{"cmd_id": 22998, "data": {"code": "AAPL.US"}}',  # first: counted before the exit
                        at_tick("AAPL.US", 1_723_161_601_250, 189.5, 300, 1, 11),
                        at_tick("EURUSD", 1_723_161_602, 1.0912, 0, 2, 12),  # seconds, no volume
                        at_depth("AAPL.US", 1_723_161_601_300, 189.49, 189.51),
                    ]
                )

            async def run() -> None:
                async for b in client.trades():
                    batches.append(b)
                    if n_trades(batches) >= 2 and any(isinstance(x, QuoteBatch) for x in batches):
                        return

            await asyncio.gather(asyncio.wait_for(run(), 45), asyncio.to_thread(lambda: asyncio.run(push())))

        asyncio.run(main())
        assert srv.trade_codes == ["AAPL.US", "EURUSD"]
        assert srv.depth_codes == ["AAPL.US", "EURUSD"]
        assert srv.heartbeats >= 1
        trades = {b.symbol: b for b in batches if isinstance(b, TradeBatch)}
        a, e = trades["AAPL.US"], trades["EURUSD"]
        assert a.side is not None
        assert e.side is not None
        assert (a.ts_ns.tolist(), a.price.tolist(), a.size.tolist(), a.side.tolist()) == (
            [1_723_161_601_250 * MS],
            [189.5],
            [300.0],
            [1],
        )
        assert (e.ts_ns.tolist(), e.size.tolist(), e.side.tolist()) == ([1_723_161_602 * NS], [1.0], [-1])
        [q] = [b for b in batches if isinstance(b, QuoteBatch)]
        assert (q.symbol, q.bid.tolist(), q.ask.tolist()) == ("AAPL.US", [189.49], [189.51])
        assert client.stats()["parse_errors"] == 1
    finally:
        srv.stop()


def test_alltick_token_invalid_is_permanent() -> None:
    srv = AllTickServer(token="right").start()
    try:
        client = AllTickClient(
            ["AAPL.US"], token="wrong-token-7", ws_url=srv.ws_url + "/quote-stock-b-ws-api"
        )
        with pytest.raises(ProviderAuthError, match="401"):
            collect(client, lambda b: False)
        assert "wrong-token-7" not in json.dumps(client.stats())
    finally:
        srv.stop()


# -- settings ---------------------------------------------------------------------------------
def test_provider_setting_builds_the_live_client_with_overridden_urls() -> None:
    s = Settings.from_env(
        {
            "PROVIDER": "Binance",
            "SYMBOL": "BTCUSDT,ETHUSDT",
            "BINANCE_WS_URL": "ws://gw:9/",
            "BINANCE_REST_URL": "http://gw:8",
        }
    )
    feeds = providers_from_settings(s)
    client = feeds["BTCUSDT"]
    assert feeds["ETHUSDT"] is client
    assert isinstance(client, BinanceClient)
    assert (
        client.connect_url()
        == "ws://gw:9/stream?streams=btcusdt@trade/btcusdt@bookTicker/ethusdt@trade/ethusdt@bookTicker"
    )
    assert client.rest_url == "http://gw:8"
    with pytest.raises(ValueError, match="TWELVEDATA_API_KEY"):
        providers_from_settings(Settings.from_env({"PROVIDER": "twelvedata"}))
    with pytest.raises(ValueError, match="ALLTICK_API_KEY"):
        providers_from_settings(Settings.from_env({"PROVIDER": "alltick"}))
    with pytest.raises(ValueError, match="PROVIDER"):
        Settings.from_env({"PROVIDER": "polygon"})
    with pytest.raises(ValueError, match="BINANCE_WS_URL"):
        Settings.from_env({"BINANCE_WS_URL": "http://x"})
    key = Settings.from_env({"PROVIDER": "alltick", "ALLTICK_API_KEY": "tok-secret"})
    assert "tok-secret" not in repr(key)
