"""Binance spot: the combined ``<symbol>@trade`` and ``<symbol>@bookTicker`` streams, and the
REST ``historicalTrades`` endpoint to fetch, after a reconnect, every trade id the previous
session missed (Binance trade ids are contiguous per symbol), so no trade is lost.

Frames (Binance's public WebSocket documentation):

- trade: ``{"stream": "btcusdt@trade", "data": {"e": "trade", "E": event_ms, "s": "BTCUSDT",
  "t": trade_id, "p": "price", "q": "qty", "T": trade_ms, "m": buyer_is_maker, ...}}``;
  ``m`` true means the seller hit the bid: side -1, else +1.
- bookTicker: ``{"stream": "btcusdt@bookTicker", "data": {"u": update_id, "s": "BTCUSDT",
  "b": bid, "B": bid_qty, "a": ask, "A": ask_qty}}`` -- it carries no time, so the quote is
  stamped with the client's clock.
- REST ``GET /api/v3/historicalTrades?symbol=BTCUSDT&fromId=N&limit=1000`` ->
  ``[{"id", "price", "qty", "quoteQty", "time", "isBuyerMaker", "isBestMatch"}]``.

Raw (single-stream) frames without the ``stream``/``data`` envelope are accepted too, and
control replies (``{"result": null, "id": 1}``) are ignored.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Callable, Sequence
from typing import Any

import numpy as np

from montalaq.feeds import Batch, TradeBatch
from montalaq.providers.base import MalformedFrameError, ProviderAuthError, StreamClient, redact
from montalaq.retry import RetryPolicy

log = logging.getLogger("montalaq.providers")

DEFAULT_WS_URL = "wss://stream.binance.com:9443"
DEFAULT_REST_URL = "https://api.binance.com"
_PAGE = 1000
_MAX_PAGES = 200  # 200k trades: a longer outage is recorded as a gap rather than fetched for minutes
_MS = 1_000_000


class BinanceClient(StreamClient):
    """Live trades and best quotes of Binance spot symbols (e.g. ``BTCUSDT``).

    ``api_key`` (optional) is sent as ``X-MBX-APIKEY`` to the REST backfill only; it never
    appears in logs, errors or stats. ``rest_url``/``ws_url`` point at a private gateway or
    a test server."""

    name = "Binance"
    backfills = True

    def __init__(
        self,
        symbols: Sequence[str],
        *,
        ws_url: str = DEFAULT_WS_URL,
        rest_url: str = DEFAULT_REST_URL,
        api_key: str | None = None,
        idle_timeout_s: float = 60.0,
        max_pending: int = 1_000_000,
        rest_timeout_s: float = 10.0,
        clock: Callable[[], int] | None = None,
        retry: RetryPolicy | None = None,
    ) -> None:
        super().__init__(
            [s.upper() for s in symbols],
            ws_url=ws_url.rstrip("/"),
            idle_timeout_s=idle_timeout_s,
            max_pending=max_pending,
            clock=clock,
            rest_url=rest_url,
            rest_timeout_s=rest_timeout_s,
            retry=retry,
        )
        if self.ws_url.endswith("/stream"):
            self.ws_url = self.ws_url[: -len("/stream")]
        self._api_key = api_key or None
        self._secret = self._api_key
        self._last_id: dict[str, int] = {}  # the last trade id delivered, per symbol
        self._upper = {s.lower(): s for s in self.symbols}

    def connect_url(self) -> str:
        streams = "/".join(f"{s.lower()}@trade/{s.lower()}@bookTicker" for s in self.symbols)
        return f"{self.ws_url}/stream?streams={streams}"

    def subscribe_messages(self) -> list[str]:
        return []  # the combined-stream URL subscribes

    def on_frame(self, frame: str | bytes) -> None:
        msg = json.loads(frame)
        if not isinstance(msg, dict):
            raise MalformedFrameError("expected a JSON object")
        data = msg.get("data", msg)
        if not isinstance(data, dict):
            raise MalformedFrameError("data: expected a JSON object")
        kind = data.get("e")
        if kind == "trade":
            sym = self._symbol(data["s"])
            ts_ns = int(data["T"]) * _MS
            price, size = float(data["p"]), float(data["q"])
            maker = data["m"]
            if not isinstance(maker, bool):
                raise MalformedFrameError("m: expected true or false")
            self.add_trade(sym, ts_ns, price, size, -1 if maker else 1, int(data["t"]))
        elif "b" in data and "a" in data and "u" in data:
            self.add_quote(self._symbol(data["s"]), self.now_ns(), float(data["b"]), float(data["a"]))
        elif "result" in msg or "id" in msg:
            return  # a reply to a control request
        elif "error" in msg or "code" in msg:
            raise MalformedFrameError(f"server error: {str(msg)[:200]}")
        else:
            raise MalformedFrameError(f"unknown event {kind!r}")

    def _symbol(self, raw: object) -> str:
        if not isinstance(raw, str):
            raise MalformedFrameError("s: expected a symbol")
        sym = self._upper.get(raw.lower())
        if sym is None:
            raise MalformedFrameError(f"s: {raw!r} was not subscribed")
        return sym

    # -- no trade lost ------------------------------------------------------------------------
    def _filter(self, batch: TradeBatch) -> TradeBatch | None:
        """Drop ids already delivered (the overlap of a backfill and the live stream) and
        record a gap the ids reveal."""
        assert batch.trade_id is not None
        last = self._last_id.get(batch.symbol)
        ids = batch.trade_id.astype(np.int64)
        if last is not None:
            keep = ids > last
            if not keep.all():
                idx = np.flatnonzero(keep)
                if idx.size == 0:
                    return None
                batch = TradeBatch(
                    batch.symbol,
                    batch.ts_ns[idx],
                    batch.price[idx],
                    batch.size[idx],
                    None if batch.side is None else batch.side[idx],
                    batch.trade_id[idx],
                )
                ids = ids[idx]
            if int(ids[0]) > last + 1:
                self.record_gap(
                    symbols=(batch.symbol,),
                    from_ns=int(batch.ts_ns[0]),
                    to_ns=int(batch.ts_ns[0]),
                    missing=int(ids[0]) - last - 1,
                    filled="",
                    reason="trade ids skipped",
                )
        self._last_id[batch.symbol] = int(ids[-1])
        return batch

    def _take(self) -> list[Batch]:
        out: list[Batch] = []
        for batch in super()._take():
            if isinstance(batch, TradeBatch):
                kept = self._filter(batch)
                if kept is not None:
                    out.append(kept)
            else:
                out.append(batch)
        return out

    async def backfill(self, gap_from_ns: int) -> list[Batch]:
        """Every id after the last delivered one, from REST, up to what the new session
        already streams (or the end of the book)."""
        import httpx

        out: list[Batch] = []
        headers = {"X-MBX-APIKEY": self._api_key} if self._api_key else {}
        async with httpx.AsyncClient(
            base_url=self.rest_url, timeout=self.rest_timeout_s, headers=headers
        ) as http:
            for sym in self.symbols:
                last = self._last_id.get(sym)
                if last is None:
                    continue  # nothing delivered yet: there is no gap to speak of
                fetched = 0
                from_id = last + 1
                try:
                    for _ in range(_MAX_PAGES):
                        live = self._pending.get(sym)  # the reader fills it meanwhile
                        first_live = live.ids[0] if live is not None and len(live) else None
                        if first_live is not None and first_live <= from_id:
                            break  # caught up with the new session's stream
                        rows = await self._retry.acall(self._page, http, sym, from_id)
                        if not rows:
                            break
                        batch = _rest_batch(sym, rows)
                        kept = self._filter(batch)
                        if kept is not None:
                            out.append(kept)
                            fetched += len(kept)
                        from_id = self._last_id[sym] + 1
                        if len(rows) < _PAGE:
                            break
                except ProviderAuthError:
                    raise
                except Exception as exc:
                    detail = redact(f"{type(exc).__name__}: {exc}", self._api_key)
                    self.last_error = f"backfill: {detail}"
                    log.warning(
                        "Binance: backfill of %s failed: %s",
                        sym,
                        detail,
                        extra={"component": "provider", "provider": self.name},
                    )
                self.backfilled += fetched
                self.record_gap(
                    symbols=(sym,),
                    from_ns=gap_from_ns,
                    to_ns=self.now_ns(),
                    missing=fetched,
                    filled="trades" if fetched else "",
                    reason="reconnect",
                )
        return out

    async def _page(self, http: Any, symbol: str, from_id: int) -> list[dict[str, Any]]:
        resp = await http.get(
            "/api/v3/historicalTrades", params={"symbol": symbol, "fromId": from_id, "limit": _PAGE}
        )
        if resp.status_code in (401, 403):
            raise ProviderAuthError(f"Binance: REST refused the API key (HTTP {resp.status_code})")
        resp.raise_for_status()
        rows = resp.json()
        if not isinstance(rows, list):
            raise MalformedFrameError("historicalTrades: expected a JSON list")
        return rows


def _rest_batch(symbol: str, rows: list[dict[str, Any]]) -> TradeBatch:
    try:
        ids = np.array([int(r["id"]) for r in rows], dtype=np.uint64)
        ts = np.array([int(r["time"]) * _MS for r in rows], dtype=np.int64)
        px = np.array([float(r["price"]) for r in rows], dtype=np.float64)
        sz = np.array([float(r["qty"]) for r in rows], dtype=np.float64)
        sd = np.array([-1 if r["isBuyerMaker"] else 1 for r in rows], dtype=np.int8)
    except (KeyError, TypeError, ValueError) as exc:
        raise MalformedFrameError(f"historicalTrades: {exc}") from None
    order = np.argsort(ids, kind="stable")
    return TradeBatch(symbol, ts[order], px[order], sz[order], sd[order], ids[order])


__all__ = ["DEFAULT_REST_URL", "DEFAULT_WS_URL", "BinanceClient"]
