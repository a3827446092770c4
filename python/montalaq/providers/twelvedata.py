"""Twelve Data: the WebSocket price stream (each price a tick of volume 1), and REST
``time_series`` to fill the minutes a reconnect missed (as four ticks per 1m bar).

Messages, the REST call and the decisions: docs/feeds.md, "The protocols, as the clients
speak them" (Twelve Data) and "When the connection fails" (Bars instead of trades).
"""

from __future__ import annotations

import json
import logging
from collections.abc import Callable, Sequence
from datetime import UTC, datetime
from typing import Any

import numpy as np

from montalaq.feeds import Batch, TradeBatch
from montalaq.providers.base import MalformedFrameError, ProviderAuthError, StreamClient, redact
from montalaq.retry import RetryPolicy

log = logging.getLogger("montalaq.providers")

DEFAULT_WS_URL = "wss://ws.twelvedata.com/v1/quotes/price"
DEFAULT_REST_URL = "https://api.twelvedata.com"
_NS = 1_000_000_000
_MIN_NS = 60 * _NS
_MAX_BARS = 5000  # one time_series call's maximum outputsize


class TwelveDataClient(StreamClient):
    """Prices of Twelve Data symbols (``AAPL``, ``EUR/USD``, ``BTC/USD``) with the API key
    ``api_key`` (required by Twelve Data; never logged)."""

    name = "TwelveData"
    backfills = True
    heartbeat_s = 10.0

    def __init__(
        self,
        symbols: Sequence[str],
        *,
        api_key: str,
        ws_url: str = DEFAULT_WS_URL,
        rest_url: str = DEFAULT_REST_URL,
        idle_timeout_s: float = 30.0,
        max_pending: int = 1_000_000,
        rest_timeout_s: float = 10.0,
        clock: Callable[[], int] | None = None,
        retry: RetryPolicy | None = None,
    ) -> None:
        super().__init__(
            symbols,
            ws_url=ws_url,
            idle_timeout_s=idle_timeout_s,
            max_pending=max_pending,
            clock=clock,
            rest_url=rest_url,
            rest_timeout_s=rest_timeout_s,
            retry=retry,
        )
        if not api_key:
            raise ValueError("api_key: Twelve Data needs an API key (TWELVEDATA_API_KEY)")
        self._api_key = api_key
        self._secret = api_key
        self._last_ts: dict[str, int] = {}
        self.rejected_symbols: list[str] = []

    def connect_url(self) -> str:
        sep = "&" if "?" in self.ws_url else "?"
        return f"{self.ws_url}{sep}apikey={self._api_key}"

    def subscribe_messages(self) -> list[str]:
        return [json.dumps({"action": "subscribe", "params": {"symbols": ",".join(self.symbols)}})]

    def heartbeat_message(self) -> str | None:
        return json.dumps({"action": "heartbeat"})

    def on_frame(self, frame: str | bytes) -> None:
        msg = json.loads(frame)
        if not isinstance(msg, dict):
            raise MalformedFrameError("expected a JSON object")
        event = msg.get("event")
        if event == "price":
            sym = msg["symbol"]
            if sym not in self.symbols:
                raise MalformedFrameError(f"symbol: {sym!r} was not subscribed")
            ts = msg["timestamp"]
            if isinstance(ts, bool) or not isinstance(ts, int | float):
                raise MalformedFrameError("timestamp: expected unix seconds")
            ts_ns = int(ts * _NS)
            price = msg["price"]
            if isinstance(price, bool) or not isinstance(price, int | float | str):
                raise MalformedFrameError("price: expected a number")
            self.add_trade(sym, ts_ns, float(price), 1.0, 0, -1)
            bid, ask = msg.get("bid"), msg.get("ask")
            if isinstance(bid, int | float) and isinstance(ask, int | float) and not isinstance(bid, bool):
                self.add_quote(sym, ts_ns, float(bid), float(ask))
        elif event == "heartbeat":
            if msg.get("status") not in (None, "ok"):
                raise MalformedFrameError(f"heartbeat: status {msg.get('status')!r}")
        elif event == "subscribe-status":
            fails = msg.get("fails") or []
            if msg.get("status") == "error" or fails:
                self._refused(msg)
        elif msg.get("status") == "error" or event == "error":
            self._refused(msg)
        else:
            raise MalformedFrameError(f"unknown event {event!r}")

    def _refused(self, msg: dict[str, Any]) -> None:
        code = msg.get("code")
        text = redact(str(msg.get("message") or msg.get("messages") or msg.get("fails"))[:300], self._api_key)
        if code in (401, 403) or "api key" in text.lower() or "apikey" in text.lower():
            raise ProviderAuthError(f"TwelveData: {text}")
        fails = msg.get("fails") or []
        self.rejected_symbols = [str(f.get("symbol")) for f in fails if isinstance(f, dict)]
        self.last_error = f"subscription refused: {text}"
        log.warning("TwelveData: %s", self.last_error, extra={"component": "provider", "provider": self.name})

    def drain(self) -> list[Batch]:
        out = super().drain()
        for b in out:
            if isinstance(b, TradeBatch) and len(b):
                self._last_ts[b.symbol] = max(self._last_ts.get(b.symbol, 0), int(b.ts_ns[-1]))
        return out

    async def backfill(self, gap_from_ns: int) -> list[Batch]:
        """The complete minutes after each symbol's last delivered price, from
        ``time_series``, as four ticks per bar, before the new session's first price."""
        import httpx

        out: list[Batch] = []
        now = self.now_ns()
        async with httpx.AsyncClient(base_url=self.rest_url, timeout=self.rest_timeout_s) as http:
            for sym in self.symbols:
                last = self._last_ts.get(sym)
                if last is None:
                    continue
                first_min = (last // _MIN_NS + 1) * _MIN_NS  # the minute after the last price's
                end_min = now // _MIN_NS * _MIN_NS  # the current minute is not complete
                if end_min <= first_min:
                    continue
                try:
                    values = await self._retry.acall(self._series, http, sym, first_min, end_min)
                    batch = _bars_to_ticks(sym, values, first_min, end_min)
                except ProviderAuthError:
                    raise
                except Exception as exc:
                    detail = redact(f"{type(exc).__name__}: {exc}", self._api_key)
                    self.last_error = f"backfill: {detail}"
                    self.record_gap(
                        symbols=(sym,),
                        from_ns=first_min,
                        to_ns=end_min,
                        missing=-1,
                        filled="",
                        reason=f"reconnect; time_series failed: {detail}",
                    )
                    continue
                live = self._pending.get(sym)
                if batch is not None and live is not None and len(live):
                    keep = np.flatnonzero(batch.ts_ns < live.ts[0])  # the live stream wins its minutes
                    batch = (
                        None
                        if not keep.size
                        else TradeBatch(sym, batch.ts_ns[keep], batch.price[keep], batch.size[keep])
                    )
                n_bars = 0 if batch is None else len(batch) // 4
                if batch is not None and len(batch):
                    out.append(batch)
                    self._last_ts[sym] = int(batch.ts_ns[-1])
                self.backfilled += n_bars
                self.record_gap(
                    symbols=(sym,),
                    from_ns=first_min,
                    to_ns=end_min,
                    missing=-1,
                    filled="bars" if n_bars else "",
                    reason="reconnect",
                )
        return out

    async def _series(self, http: Any, symbol: str, start_ns: int, end_ns: int) -> list[dict[str, Any]]:
        fmt = "%Y-%m-%d %H:%M:%S"
        params = {
            "symbol": symbol,
            "interval": "1min",
            "start_date": datetime.fromtimestamp(start_ns // _NS, UTC).strftime(fmt),
            "end_date": datetime.fromtimestamp((end_ns - 1) // _NS, UTC).strftime(fmt),
            "timezone": "UTC",
            "order": "asc",
            "outputsize": _MAX_BARS,
            "apikey": self._api_key,
        }
        resp = await http.get("/time_series", params=params)
        if resp.status_code in (401, 403):
            raise ProviderAuthError(f"TwelveData: REST refused the API key (HTTP {resp.status_code})")
        resp.raise_for_status()
        doc = resp.json()
        if not isinstance(doc, dict):
            raise MalformedFrameError("time_series: expected a JSON object")
        if doc.get("status") == "error":
            if doc.get("code") in (401, 403):
                raise ProviderAuthError(f"TwelveData: {redact(str(doc.get('message')), self._api_key)}")
            if doc.get("code") == 400 and "no data" in str(doc.get("message", "")).lower():
                return []  # a market that was closed: nothing to fill
            raise MalformedFrameError(f"time_series: {redact(str(doc.get('message')), self._api_key)[:200]}")
        values = doc.get("values")
        if not isinstance(values, list):
            raise MalformedFrameError("time_series: values: expected a list")
        return values


def _bars_to_ticks(symbol: str, values: list[dict[str, Any]], from_ns: int, to_ns: int) -> TradeBatch | None:
    ts: list[int] = []
    px: list[float] = []
    for v in values:
        try:
            start = (
                int(datetime.strptime(v["datetime"], "%Y-%m-%d %H:%M:%S").replace(tzinfo=UTC).timestamp())
                * _NS
            )
            o, h, lo, c = (float(v[k]) for k in ("open", "high", "low", "close"))
        except (KeyError, TypeError, ValueError) as exc:
            raise MalformedFrameError(f"time_series: {exc}") from None
        if not from_ns <= start < to_ns:
            continue
        first, second = (lo, h) if c >= o else (h, lo)  # the extreme against the move comes first
        for offset_s, p in ((0, o), (15, first), (30, second), (59, c)):
            ts.append(start + offset_s * _NS)
            px.append(p)
    if not ts:
        return None
    order = np.argsort(np.array(ts, dtype=np.int64), kind="stable")
    return TradeBatch(
        symbol,
        np.array(ts, dtype=np.int64)[order],
        np.array(px, dtype=np.float64)[order],
        np.ones(len(ts), dtype=np.float64),
    )


__all__ = ["DEFAULT_REST_URL", "DEFAULT_WS_URL", "TwelveDataClient"]
