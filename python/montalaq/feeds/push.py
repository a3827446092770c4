"""A feed host code pushes trades and quotes into, from any thread; the service takes them
each cycle (docs/feeds.md, "Your own feed")."""

from __future__ import annotations

import threading
from collections.abc import Iterator, Sequence

import numpy as np

from montalaq.feeds.batches import Batch, QuoteBatch, TradeBatch


class PushFeed:
    """Your own feed: host code pushes trades and quotes, the service takes them each cycle.

    ::

        feed = PushFeed(["AAPL"], name="my-broker")
        svc = Service(settings, providers={"AAPL": feed})
        feed.push_trades("AAPL", ts_ns, price, size)       # from any thread
        feed.push_quote("AAPL", ts_ns, bid=189.1, ask=189.2)

    Arrays (or scalars) as ``MarketEngine.on_trades`` takes them; they are checked for
    shape when pushed (a ValueError names the field) and for values by the engine, which
    counts the rows it rejects. The feed is bounded: beyond ``max_pending`` trades not yet
    taken, the oldest are dropped and counted in :meth:`stats` (``dropped``), so a host
    that pushes faster than the service runs cannot exhaust memory. Quotes are coalesced
    to the latest per symbol between two cycles (the engine keeps only the best quote).
    """

    def __init__(self, symbols: Sequence[str], *, name: str = "push", max_pending: int = 1_000_000) -> None:
        syms = [str(s) for s in symbols]
        if not syms or any(not s for s in syms):
            raise ValueError(f"symbols: expected at least one non-empty symbol, got {symbols!r}")
        if isinstance(max_pending, bool) or not isinstance(max_pending, int) or max_pending < 1:
            raise ValueError(f"max_pending: expected an integer >= 1, got {max_pending!r}")
        self.name = name
        self._symbols = tuple(syms)
        self._max = max_pending
        self._lock = threading.Lock()
        self._trades: dict[str, list[TradeBatch]] = {}
        self._pending = 0
        self._quotes: dict[str, tuple[int, float, float]] = {}
        self._pushed = 0
        self._dropped = 0

    @property
    def symbols(self) -> Sequence[str]:
        return self._symbols

    def _check_symbol(self, symbol: str) -> None:
        if symbol not in self._symbols:
            raise ValueError(f"symbol: {symbol!r} is not one of this feed's symbols {list(self._symbols)}")

    def push_trades(
        self,
        symbol: str,
        ts_ns: object,
        price: object,
        size: object,
        side: object = None,
        trade_id: object = None,
    ) -> None:
        """Queue trades of ``symbol`` (int ns times, prices, sizes; optional side +1/-1/0 and
        ids) for the next cycle."""
        self._check_symbol(symbol)
        ts = np.atleast_1d(np.asarray(ts_ns, dtype=np.int64))
        px = np.atleast_1d(np.asarray(price, dtype=np.float64))
        sz = np.atleast_1d(np.asarray(size, dtype=np.float64))
        n = ts.shape[0]
        if ts.ndim != 1 or px.shape != (n,) or sz.shape != (n,):
            raise ValueError(
                f"ts_ns, price and size: expected equal one-dimensional lengths, got {n}, "
                f"{px.shape}, {sz.shape}"
            )
        sd = None if side is None else np.atleast_1d(np.asarray(side, dtype=np.int8))
        ids = None if trade_id is None else np.atleast_1d(np.asarray(trade_id, dtype=np.uint64))
        for label, arr in (("side", sd), ("trade_id", ids)):
            if arr is not None and arr.shape != (n,):
                raise ValueError(f"{label}: expected length {n}, got {arr.shape}")
        batch = TradeBatch(symbol, ts, px, sz, sd, ids)
        with self._lock:
            self._trades.setdefault(symbol, []).append(batch)
            self._pending += n
            self._pushed += n
            while self._pending > self._max:  # drop the oldest batch of the fullest symbol
                fullest = max(self._trades, key=lambda s: sum(len(b) for b in self._trades[s]))
                old = self._trades[fullest].pop(0)
                self._pending -= len(old)
                self._dropped += len(old)

    def push_quote(self, symbol: str, ts_ns: int, bid: float, ask: float) -> None:
        """The best bid and ask of ``symbol`` at ``ts_ns``; the latest per cycle is kept."""
        self._check_symbol(symbol)
        with self._lock:
            self._quotes[symbol] = (int(ts_ns), float(bid), float(ask))

    def take_until(self, until_ns: int) -> list[Batch]:
        """Everything pushed so far (a push feed has no schedule: ``until_ns`` is ignored)."""
        with self._lock:
            trades, self._trades, self._pending = self._trades, {}, 0
            quotes, self._quotes = self._quotes, {}
        out: list[Batch] = []
        for batches in trades.values():
            out.extend(batches)
        for symbol, (ts, bid, ask) in quotes.items():
            out.append(QuoteBatch(symbol, np.array([ts], np.int64), np.array([bid]), np.array([ask])))
        return out

    def trades(self) -> Iterator[Batch]:
        """A push feed is pulled (``take_until``), never iterated; this yields nothing."""
        return iter(())

    def stats(self) -> dict[str, int]:
        """``pushed`` trades, ``dropped`` by the bound, ``pending`` not yet taken."""
        with self._lock:
            return {"pushed": self._pushed, "dropped": self._dropped, "pending": self._pending}


__all__ = ["PushFeed"]
