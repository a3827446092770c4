"""Local servers that speak each provider's protocol (WebSocket and REST on one port), run in
a thread of their own like a remote server, for the client tests (docs/feeds.md).

``BinanceServer`` replays the real capture (trades + bookTicker) message for message on a
virtual clock, serves ``/api/v3/historicalTrades`` from the trades that happened by now,
and can be killed and restarted on the same port. ``TwelveDataServer`` and
``AllTickServer`` answer subscriptions and heartbeats and push what the test queues.
"""

from __future__ import annotations

import asyncio
import csv
import json
import threading
import time
import urllib.parse
from collections.abc import Callable
from http import HTTPStatus
from pathlib import Path
from typing import Any, Self

from websockets.asyncio.server import Server, ServerConnection, serve
from websockets.http11 import Request, Response

NS = 1_000_000_000
MS = 1_000_000


class _ThreadServer:
    """A websockets server on 127.0.0.1 in a thread with its own event loop."""

    def __init__(self) -> None:
        self.loop = asyncio.new_event_loop()
        self.thread = threading.Thread(target=self.loop.run_forever, daemon=True)
        self.thread.start()
        self.server: Server | None = None
        self.port = 0
        self.connections: list[ServerConnection] = []
        self.connects = 0
        self.received: list[str] = []

    def call(self, coro: Any, timeout: float = 10.0) -> Any:
        return asyncio.run_coroutine_threadsafe(coro, self.loop).result(timeout)

    async def _start(self) -> None:
        # close_timeout: a kill or stop waits at most 2 s for each client's closing handshake
        # (the default 10 s, under load, outlasted the call's own timeout).
        self.server = await serve(
            self._handle,
            "127.0.0.1",
            self.port,
            process_request=self._process_request,
            ping_interval=None,
            close_timeout=2,
        )
        self.port = self.server.sockets[0].getsockname()[1]

    def start(self) -> Self:
        self.call(self._start())
        return self

    async def _kill(self) -> None:
        assert self.server is not None
        self.server.close(close_connections=True)
        await self.server.wait_closed()
        self.server = None

    def kill(self) -> None:
        """Stop listening and drop every connection (the port stays reserved for restart)."""
        self.call(self._kill(), timeout=30.0)

    def stop(self) -> None:
        for task in asyncio.all_tasks(self.loop) if self.loop.is_running() else ():
            self.loop.call_soon_threadsafe(task.cancel)
        if self.server is not None:
            self.kill()
        self.loop.call_soon_threadsafe(self.loop.stop)
        self.thread.join(5)

    @property
    def ws_url(self) -> str:
        return f"ws://127.0.0.1:{self.port}"

    @property
    def http_url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def _process_request(self, connection: ServerConnection, request: Request) -> Response | None:
        if request.headers.get("Upgrade", "").lower() == "websocket":
            return self.handshake(connection, request)
        url = urllib.parse.urlsplit(request.path)
        status, body = self.rest(url.path, dict(urllib.parse.parse_qsl(url.query)), request)
        resp = connection.respond(status, body)
        resp.headers["Content-Type"] = "application/json"
        return resp

    def handshake(self, connection: ServerConnection, request: Request) -> Response | None:
        return None

    def rest(self, path: str, query: dict[str, str], request: Request) -> tuple[int, str]:
        return HTTPStatus.NOT_FOUND, json.dumps({"error": "not found"})

    async def _handle(self, ws: ServerConnection) -> None:
        self.connects += 1
        self.connections.append(ws)
        try:
            await self.session(ws)
        finally:
            self.connections.remove(ws)

    async def session(self, ws: ServerConnection) -> None:
        async for msg in ws:
            self.received.append(str(msg))

    async def send_all(self, frames: list[str]) -> None:
        """``frames`` to every connected client (a client that went away is skipped)."""
        for ws in list(self.connections):
            for f in frames:
                try:
                    await ws.send(f)
                except Exception:
                    break

    def broadcast(self, frames: list[str]) -> None:
        self.call(self.send_all(frames))


# -- Binance ---------------------------------------------------------------------------------
class BinanceServer(_ThreadServer):
    """The capture in ``folder`` (trades.csv, book_ticker.csv) replayed at ``speed`` virtual
    seconds per wall second from ``lead_s`` before its first trade."""

    def __init__(
        self, folder: Path, *, speed: float = 20.0, lead_s: float = 1.0, symbol: str = "BTCUSDT"
    ) -> None:
        super().__init__()
        self.symbol = symbol
        self.trades: list[dict[str, Any]] = []
        with open(folder / "trades.csv", newline="") as fh:
            for row in csv.DictReader(fh):
                self.trades.append(row)
        offsets = sorted(int(r["trade_time_ms"]) * MS - int(r["local_ts_ns"]) for r in self.trades[:500])
        skew_ns = offsets[len(offsets) // 2]  # the collector's clock runs behind the exchange's
        events: list[tuple[int, int, str]] = []
        s = symbol.lower()
        for r in self.trades:
            data = {
                "e": "trade",
                "E": int(r["event_time_ms"]),
                "s": symbol,
                "t": int(r["trade_id"]),
                "p": r["price"],
                "q": r["quantity"],
                "T": int(r["trade_time_ms"]),
                "m": r["is_buyer_maker"] == "true",
                "M": r["is_best_match"] == "true",
            }
            events.append(
                (int(r["trade_time_ms"]) * MS, 0, json.dumps({"stream": f"{s}@trade", "data": data}))
            )
        self.quotes: list[tuple[int, float, float]] = []
        with open(folder / "book_ticker.csv", newline="") as fh:
            for q in csv.DictReader(fh):
                ts = int(q["local_ts_ns"]) + skew_ns
                data = {
                    "u": int(q["update_id"]),
                    "s": symbol,
                    "b": q["bid_price"],
                    "B": q["bid_qty"],
                    "a": q["ask_price"],
                    "A": q["ask_qty"],
                }
                events.append((ts, 1, json.dumps({"stream": f"{s}@bookTicker", "data": data})))
                self.quotes.append((ts, float(q["bid_price"]), float(q["ask_price"])))
        events.sort(key=lambda e: (e[0], e[1]))
        self.events = events
        self.first_ns = int(self.trades[0]["trade_time_ms"]) * MS
        self.last_ns = int(self.trades[-1]["trade_time_ms"]) * MS
        self.speed = speed
        self.t0 = self.first_ns - int(lead_s * NS)
        self.wall0: int | None = None
        self.sent_upto = 0  # index of the next event to send
        self.streams_asked: list[str] = []
        self.rest_calls: list[dict[str, str]] = []
        self.refuse_status: int | None = None
        self._pump: asyncio.Task[None] | None = None

    def clock(self) -> int:
        """Virtual exchange time, int ns: it starts running when the first client connects
        (before that it reads ``t0``), so however slowly a loaded machine brings the client
        up, the capture's first trades are not sent to nobody."""
        if self.wall0 is None:
            return self.t0
        return self.t0 + int((time.monotonic_ns() - self.wall0) * self.speed)

    def start(self) -> BinanceServer:
        super().start()
        self._pump = asyncio.run_coroutine_threadsafe(self._pump_events(), self.loop)  # type: ignore[assignment]
        return self

    def restart(self) -> None:
        self.call(self._start())

    @property
    def done(self) -> bool:
        return self.sent_upto >= len(self.events)

    async def _pump_events(self) -> None:
        """Every event whose time has come goes to the connected clients; while the server is
        down, events happen without anyone hearing them (a live market does not wait)."""
        while self.sent_upto < len(self.events):
            now = self.clock()
            frames: list[str] = []
            while self.sent_upto < len(self.events) and self.events[self.sent_upto][0] <= now:
                frames.append(self.events[self.sent_upto][2])
                self.sent_upto += 1
            await self.send_all(frames)
            await asyncio.sleep(0.005)

    def handshake(self, connection: ServerConnection, request: Request) -> Response | None:
        if self.refuse_status is not None:
            return connection.respond(self.refuse_status, "refused\n")
        url = urllib.parse.urlsplit(request.path)
        if url.path != "/stream":
            return connection.respond(HTTPStatus.NOT_FOUND, "no such path\n")
        self.streams_asked.append(dict(urllib.parse.parse_qsl(url.query)).get("streams", ""))
        return None

    async def session(self, ws: ServerConnection) -> None:
        if self.wall0 is None:
            self.wall0 = time.monotonic_ns()  # the market opens for the first client
        async for msg in ws:
            self.received.append(str(msg))

    def rest(self, path: str, query: dict[str, str], request: Request) -> tuple[int, str]:
        if path != "/api/v3/historicalTrades":
            return HTTPStatus.NOT_FOUND, json.dumps({"code": -1, "msg": "not found"})
        self.rest_calls.append(query)
        if query.get("symbol") != self.symbol:
            return HTTPStatus.BAD_REQUEST, json.dumps({"code": -1121, "msg": "Invalid symbol."})
        from_id = int(query["fromId"])
        limit = min(int(query.get("limit", "500")), 1000)
        now_ms = self.clock() // MS
        first_id = int(self.trades[0]["trade_id"])
        i = max(0, from_id - first_id)
        rows = []
        for r in self.trades[i : i + limit]:
            if int(r["trade_time_ms"]) > now_ms:
                break
            rows.append(
                {
                    "id": int(r["trade_id"]),
                    "price": r["price"],
                    "qty": r["quantity"],
                    "quoteQty": f"{float(r['price']) * float(r['quantity']):.8f}",
                    "time": int(r["trade_time_ms"]),
                    "isBuyerMaker": r["is_buyer_maker"] == "true",
                    "isBestMatch": r["is_best_match"] == "true",
                }
            )
        return HTTPStatus.OK, json.dumps(rows)


class RefusingServer(_ThreadServer):
    """Refuses every WebSocket handshake with ``status`` (e.g. 401), counting attempts."""

    def __init__(self, status: int) -> None:
        super().__init__()
        self.status = status
        self.attempts = 0

    def handshake(self, connection: ServerConnection, request: Request) -> Response | None:
        self.attempts += 1
        return connection.respond(self.status, "invalid API key\n")


class ScriptedServer(_ThreadServer):
    """Sends ``script(ws)``'s frames to each connection (for malformed, silent and fast
    servers), then idles."""

    def __init__(self, script: Callable[[ServerConnection], Any]) -> None:
        super().__init__()
        self.script = script

    async def session(self, ws: ServerConnection) -> None:
        await self.script(ws)
        async for msg in ws:
            self.received.append(str(msg))


# -- Twelve Data ------------------------------------------------------------------------------
class TwelveDataServer(_ThreadServer):
    """``/v1/quotes/price?apikey=``: subscribe-status, heartbeat replies, pushed prices;
    REST ``/time_series`` from ``bars`` (symbol -> list of value dicts)."""

    def __init__(self, api_key: str = "td-secret-key") -> None:
        super().__init__()
        self.api_key = api_key
        self.subscribed: list[str] = []
        self.heartbeats = 0
        self.bars: dict[str, list[dict[str, str]]] = {}
        self.series_calls: list[dict[str, str]] = []

    def handshake(self, connection: ServerConnection, request: Request) -> Response | None:
        url = urllib.parse.urlsplit(request.path)
        if url.path != "/v1/quotes/price":
            return connection.respond(HTTPStatus.NOT_FOUND, "no such path\n")
        return None

    async def session(self, ws: ServerConnection) -> None:
        url = urllib.parse.urlsplit(ws.request.path if ws.request else "")
        key = dict(urllib.parse.parse_qsl(url.query)).get("apikey")
        async for raw in ws:
            self.received.append(str(raw))
            msg = json.loads(raw)
            if msg.get("action") == "subscribe":
                if key != self.api_key:
                    await ws.send(
                        json.dumps(
                            {
                                "event": "subscribe-status",
                                "status": "error",
                                "code": 401,
                                "message": "Invalid API key. Please check your apikey.",
                            }
                        )
                    )
                    continue
                syms = msg["params"]["symbols"].split(",")
                self.subscribed.extend(syms)
                await ws.send(
                    json.dumps(
                        {
                            "event": "subscribe-status",
                            "status": "ok",
                            "success": [
                                {"symbol": s, "exchange": "NASDAQ", "type": "Common Stock"} for s in syms
                            ],
                            "fails": None,
                        }
                    )
                )
            elif msg.get("action") == "heartbeat":
                self.heartbeats += 1
                await ws.send(json.dumps({"event": "heartbeat", "status": "ok"}))

    def rest(self, path: str, query: dict[str, str], request: Request) -> tuple[int, str]:
        if path != "/time_series":
            return HTTPStatus.NOT_FOUND, json.dumps({"code": 404, "message": "not found", "status": "error"})
        self.series_calls.append(query)
        if query.get("apikey") != self.api_key:
            return HTTPStatus.OK, json.dumps({"code": 401, "message": "Invalid API key", "status": "error"})
        start, end = query["start_date"], query["end_date"]
        values = [v for v in self.bars.get(query["symbol"], []) if start <= v["datetime"] <= end]
        if not values:
            return HTTPStatus.OK, json.dumps(
                {"code": 400, "message": "No data is available", "status": "error"}
            )
        return HTTPStatus.OK, json.dumps(
            {"meta": {"symbol": query["symbol"], "interval": "1min"}, "values": values, "status": "ok"}
        )


def td_price(symbol: str, ts_s: float, price: float, **extra: Any) -> str:
    return json.dumps(
        {
            "event": "price",
            "symbol": symbol,
            "currency": "USD",
            "exchange": "NASDAQ",
            "type": "Common Stock",
            "timestamp": ts_s,
            "price": price,
            **extra,
        }
    )


# -- AllTick ---------------------------------------------------------------------------------
class AllTickServer(_ThreadServer):
    """``/quote-stock-b-ws-api?token=``: 22004/22002 subscriptions (22005/22003 replies),
    22000 heartbeats (22001), pushes queued by the test."""

    def __init__(self, token: str = "at-secret-token") -> None:
        super().__init__()
        self.token = token
        self.trade_codes: list[str] = []
        self.depth_codes: list[str] = []
        self.heartbeats = 0

    async def session(self, ws: ServerConnection) -> None:
        url = urllib.parse.urlsplit(ws.request.path if ws.request else "")
        token = dict(urllib.parse.parse_qsl(url.query)).get("token")
        async for raw in ws:
            self.received.append(str(raw))
            msg = json.loads(raw)
            cmd = msg.get("cmd_id")
            reply = {
                "ret": 200,
                "msg": "ok",
                "cmd_id": cmd + 1,
                "seq_id": msg.get("seq_id"),
                "trace": msg.get("trace"),
                "data": {},
            }
            if token != self.token:
                reply.update(ret=401, msg="token invalid")
            elif cmd == 22004:
                self.trade_codes = [s["code"] for s in msg["data"]["symbol_list"]]
            elif cmd == 22002:
                self.depth_codes = [s["code"] for s in msg["data"]["symbol_list"]]
            elif cmd == 22000:
                self.heartbeats += 1
            await ws.send(json.dumps(reply))


def at_tick(code: str, tick_ms: int, price: float, volume: float, direction: int, seq: int) -> str:
    return json.dumps(
        {
            "cmd_id": 22998,
            "data": {
                "code": code,
                "seq": str(seq),
                "tick_time": str(tick_ms),
                "price": f"{price}",
                "volume": f"{volume}",
                "turnover": f"{price * volume}",
                "trade_direction": direction,
            },
        }
    )


def at_depth(code: str, tick_ms: int, bid: float, ask: float) -> str:
    return json.dumps(
        {
            "cmd_id": 22999,
            "data": {
                "code": code,
                "seq": "1",
                "tick_time": str(tick_ms),
                "bids": [{"price": f"{bid}", "volume": "100"}],
                "asks": [{"price": f"{ask}", "volume": "120"}],
            },
        }
    )
