"""Binance spot: the combined ``<symbol>@trade`` and ``<symbol>@bookTicker`` streams, and the
REST ``historicalTrades`` backfill of every trade id a reconnect missed, so no trade is lost.

Frames, fields and decisions: docs/feeds.md, "The protocols, as the clients speak them"
(Binance spot) and "When the connection fails" (No trade lost).
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Sequence
from typing import Any

import numpy as np

from montalaq._native import market as _m
from montalaq.feeds import Batch, TradeBatch
from montalaq.providers.base import MalformedFrameError, ProviderAuthError, StreamClient, redact
from montalaq.retry import RetryPolicy

log = logging.getLogger("montalaq.providers")

DEFAULT_WS_URL = "wss://stream.binance.com:9443"
DEFAULT_REST_URL = "https://api.binance.com"
_PAGE = 1000
_MAX_PAGES = 200  # 200k trades: a longer outage is recorded as a gap rather than fetched for minutes
_MS = 1_000_000
_PARSE_EVERY = 2048  # frames per native parse while the consumer is busy (bounds the raw queue)


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
        self._symbol_list = list(self.symbols)
        self._raw: list[str | bytes] = []  # frames not parsed yet
        self._chunks: dict[str, list[TradeBatch]] = {}  # parsed, not yet drained
        self._n_pending: dict[str, int] = {}

    def connect_url(self) -> str:
        streams = "/".join(f"{s.lower()}@trade/{s.lower()}@bookTicker" for s in self.symbols)
        return f"{self.ws_url}/stream?streams={streams}"

    def subscribe_messages(self) -> list[str]:
        return []  # the combined-stream URL subscribes

    def on_frame(self, frame: str | bytes) -> None:
        """Queue a frame; frames are parsed natively in batches (``montalaq._core.market.
        parse_binance``), at the latest when the session drains."""
        self._raw.append(frame)
        if len(self._raw) >= _PARSE_EVERY:
            self._parse_raw()

    def has_pending(self) -> bool:
        return bool(self._raw or self._chunks or super().has_pending())

    def _parse_raw(self) -> None:
        if not self._raw:
            return
        raw, self._raw = self._raw, []
        trades, quotes, counts = _m.parse_binance(raw, self._symbol_list)
        bad = int(counts["malformed"]) + int(counts["unsubscribed"])
        if bad:
            with self._lock:
                self.parse_errors += bad
            log.warning(
                "Binance: %d malformed or unsubscribed frame(s) skipped (%d so far)",
                bad,
                self.parse_errors,
                extra={"component": "provider", "provider": self.name},
            )
        for sym, ts, px, sz, sd, ids in trades:
            chunks = self._chunks.setdefault(sym, [])
            chunks.append(TradeBatch(sym, ts, px, sz, sd, ids))
            self.trades_parsed += len(ts)
            pending = self._n_pending[sym] = self._n_pending.get(sym, 0) + len(ts)
            while pending > self.max_pending and chunks:  # the oldest chunk goes: one gap per stall
                old = chunks.pop(0)
                pending -= len(old)
                self.dropped += len(old)
                self._overflow(sym, int(old.ts_ns[0]), int(old.ts_ns[-1]), len(old))
                assert old.trade_id is not None
                # The ids dropped are accounted for by the overflow gap, not again as "skipped".
                self._last_id[sym] = max(self._last_id.get(sym, 0), int(old.trade_id[-1]))
            self._n_pending[sym] = pending
        now = self.now_ns()
        for sym, bid, ask in quotes:
            self.quotes_parsed += len(bid) - 1
            self.add_quote(sym, now, float(bid[-1]), float(ask[-1]))  # the newest supersedes the rest

    def _first_live_id(self, symbol: str) -> int | None:
        self._parse_raw()
        chunks = self._chunks.get(symbol)
        if not chunks:
            return None
        ids = chunks[0].trade_id
        assert ids is not None
        return int(ids[0])

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
            if int(ids[0]) > last + 1 and batch.symbol not in self._stalled:  # an overflow recorded its own
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

    def drain(self) -> list[Batch]:
        self._parse_raw()
        chunks, self._chunks, self._n_pending = self._chunks, {}, {}
        out: list[Batch] = []
        for sym, parts in chunks.items():
            if not parts:
                continue  # an overflow dropped every chunk of the symbol
            batch = parts[0] if len(parts) == 1 else _concat(sym, parts)
            kept = self._filter(batch)
            if kept is not None:
                out.append(kept)
        out.extend(super().drain())  # the quotes
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
                        first_live = self._first_live_id(sym)  # the reader fills it meanwhile
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


def _concat(symbol: str, parts: list[TradeBatch]) -> TradeBatch:
    def col(name: str) -> Any:
        return np.concatenate([getattr(p, name) for p in parts])

    return TradeBatch(symbol, col("ts_ns"), col("price"), col("size"), col("side"), col("trade_id"))


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
