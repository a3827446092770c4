"""The streaming market engine (docs/semantics.md, Market core)."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import Any

import numpy as np

from montalaq._native import market as _m
from montalaq._time import duration_ns, float_array, side_array, ts_array
from montalaq._validate import finite_or_none
from montalaq.bars import BAR_COLUMNS, Bars, Features
from montalaq.shapes import Signals
from montalaq.timeframes import parse_timeframe, parse_timeframes

Bar = _m.Bar
TradeStatus = _m.TradeStatus
QuoteStatus = _m.QuoteStatus

_SIGNAL_TIMEFRAMES = ("1m", "5m", "15m")


class MarketEngine(_m.MarketEngine):
    """Streams trades and quotes per symbol into bars at several timeframes and features.

    ``on_trade`` is native (one call per trade, no Python in between) and returns
    ``(TradeStatus, closed_bars)``. Invalid, duplicate (by ``trade_id`` within the last
    ``max_trades`` trades, or by content when ``dedupe_content``) and late trades are
    counted, never applied; with ``late_window_ns > 0`` a trade up to that much older than
    the open 1m (finest) bar amends its closed bar, which is re-emitted with
    ``revision + 1``. ``advance_time(now)`` closes bars on time when a market goes quiet.

    Thread safety: every method may be called from any thread; calls are serialised by
    an internal lock, and chunked ingest (``on_trades``) releases the GIL while it runs.
    """

    def __init__(
        self,
        timeframes: str | Sequence[str] = ("1m", "5m", "15m"),
        max_trades: int = 50_000,
        max_bars: int = 10_000,
        *,
        late_window_ns: Any = 0,
        close_grace_ns: Any = 0,
        fill_gaps: bool = False,
        max_fill_bars: int = 100_000,
        dedupe_content: bool = False,
        atr_n: int = 14,
        mom_k: int = 1,
        vwap_n: int = 20,
        rvol_n: int = 20,
        symbols: Iterable[str] | None = None,
    ) -> None:
        for name, value in (
            ("max_trades", max_trades),
            ("max_bars", max_bars),
            ("max_fill_bars", max_fill_bars),
        ):
            if isinstance(value, bool) or not isinstance(value, int):
                raise TypeError(f"{name}: expected an integer, got {type(value).__name__}")
            if value < (0 if name == "max_fill_bars" else 1):
                raise ValueError(f"{name}: must be >= {0 if name == 'max_fill_bars' else 1}, got {value}")
        for name, value in (("atr_n", atr_n), ("mom_k", mom_k), ("vwap_n", vwap_n), ("rvol_n", rvol_n)):
            if isinstance(value, bool) or not isinstance(value, int):
                raise TypeError(f"{name}: expected an integer, got {type(value).__name__}")
        allow = [] if symbols is None else list(symbols)
        if any(not isinstance(s, str) or not s for s in allow):
            raise ValueError("symbols: every symbol must be a non-empty string")
        super().__init__(
            parse_timeframes(timeframes),
            max_trades,
            max_bars,
            duration_ns(late_window_ns, "late_window_ns"),
            duration_ns(close_grace_ns, "close_grace_ns"),
            bool(fill_gaps),
            max_fill_bars,
            bool(dedupe_content),
            atr_n,
            mom_k,
            vwap_n,
            rvol_n,
            allow,
        )

    def on_trades(
        self,
        symbol: str,
        ts_ns: Any,
        price: Any,
        size: Any,
        side: Any = None,
        trade_id: Any = None,
    ) -> tuple[dict[str, int], list[Bar]]:
        """Ingest a chunk of one symbol's trades; equal to ``on_trade`` row by row.

        Returns the counts by status for the chunk and every bar the chunk closed.
        """
        ts = ts_array(ts_ns, "ts_ns")
        px = float_array(price, "price")
        sz = float_array(size, "size")
        n = ts.shape[0]
        if px.shape[0] != n or sz.shape[0] != n:
            raise ValueError(
                f"ts_ns, price and size must have the same length; got {n}, {px.shape[0]}, {sz.shape[0]}"
            )
        sd = None if side is None else side_array(side, n)
        ids = None
        if trade_id is not None:
            arr = np.asarray(trade_id)
            if arr.ndim != 1 or arr.shape[0] != n:
                raise ValueError(f"trade_id: expected a one-dimensional array of length {n}")
            if arr.dtype.kind not in "iu":
                raise TypeError(f"trade_id: expected integer ids, got dtype {arr.dtype}")
            if arr.dtype.kind == "i" and arr.size and int(arr.min()) < 0:
                raise ValueError("trade_id: ids must be >= 0")
            ids = np.ascontiguousarray(arr, dtype=np.uint64)
        counts, closed = super().on_trades(symbol, ts, px, sz, sd, ids)
        return dict(counts), list(closed)

    def bars(self, symbol: str, timeframe: str = "1m", include_open: bool = False) -> Bars:
        """Closed bars kept for ``symbol`` at ``timeframe`` (plus the open one if asked)."""
        cols = self._bars(symbol, parse_timeframe(timeframe), include_open)
        return Bars._from_columns(timeframe, {c: cols[c] for c in BAR_COLUMNS})

    def features(self, symbol: str, timeframe: str = "1m") -> Features:
        """Features of the closed bars kept for ``symbol`` at ``timeframe``."""
        tf_ns = parse_timeframe(timeframe)
        f = self._features(symbol, tf_ns)
        start = self._bars(symbol, tf_ns, False)["start_ns"]
        return Features(timeframe, start, f["atr"], f["mom_bps"], f["px_vs_vwap_bps"], f["rvol"])

    def latest(self, symbol: str, timeframe: str = "1m") -> Bar | None:
        """The latest closed bar (with its features), or None."""
        return self._latest(symbol, parse_timeframe(timeframe))

    def open_bar(self, symbol: str, timeframe: str = "1m") -> Bar | None:
        """The bar still open at ``timeframe``, or None."""
        return self._open_bar(symbol, parse_timeframe(timeframe))

    def _feature(self, symbol: str, timeframe: str, name: str) -> float | None:
        tf_ns = parse_timeframe(timeframe)
        if tf_ns not in self.timeframes_ns:
            return None
        bar = self._latest(symbol, tf_ns)
        return None if bar is None else finite_or_none(getattr(bar, name))

    def signals(self, symbol: str) -> Signals:
        """The ``/signals`` tile (docs/semantics.md, Agents); undefined values are None."""
        st = self.state(symbol)
        return {
            "mom1_bps": self._feature(symbol, "1m", "mom_bps"),
            "mom5_bps": self._feature(symbol, "5m", "mom_bps"),
            "rvol_vs_recent": self._feature(symbol, "1m", "rvol"),
            "px_vs_vwap_bps": self._feature(symbol, "1m", "px_vs_vwap_bps"),
            "best_bid": st["best_bid"],
            "best_ask": st["best_ask"],
            "last_price": st["last_price"],
            "trades_cached": int(st["trades_cached"]),
        }

    def signals_tf(self, symbol: str) -> dict[str, float | None]:
        """The ``/signals_tf`` payload (docs/semantics.md, Agents): per-timeframe features, None if undefined.

        Keys cover 1m, 5m and 15m (None when the engine lacks that timeframe) and every
        other configured timeframe.
        """
        if not self.has_symbol(symbol):
            raise ValueError(f"unknown symbol '{symbol}'")
        labels = list(_SIGNAL_TIMEFRAMES) + [t for t in self.timeframes if t not in _SIGNAL_TIMEFRAMES]
        out: dict[str, float | None] = {}
        for name, field in (
            ("mom_bps", "mom_bps"),
            ("px_vs_vwap_bps", "px_vs_vwap_bps"),
            ("rvol", "rvol"),
            ("atr", "atr"),
        ):
            for tf in labels:
                out[f"{name}_{tf}"] = self._feature(symbol, tf, field)
        return out
