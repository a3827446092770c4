"""
Bars, features and the streaming market engine
"""

from __future__ import annotations

import collections.abc
import typing

import numpy
import numpy.typing

__all__: list[str] = [
    "Bar",
    "MarketEngine",
    "QuoteStatus",
    "TradeStatus",
    "build_bars",
    "compute_features",
    "parse_binance",
    "parse_timeframe",
    "timeframe_label",
]

class TradeStatus:
    """
    What the engine did with one trade.

    Members:

      ACCEPTED

      REJECT_TS

      REJECT_PRICE

      REJECT_SIZE

      DUPLICATE_TICK

      LATE

      AMENDED

      REJECT_SYMBOL
    """

    ACCEPTED: typing.ClassVar[TradeStatus]
    AMENDED: typing.ClassVar[TradeStatus]
    DUPLICATE_TICK: typing.ClassVar[TradeStatus]
    LATE: typing.ClassVar[TradeStatus]
    REJECT_PRICE: typing.ClassVar[TradeStatus]
    REJECT_SIZE: typing.ClassVar[TradeStatus]
    REJECT_SYMBOL: typing.ClassVar[TradeStatus]
    REJECT_TS: typing.ClassVar[TradeStatus]
    __members__: typing.ClassVar[dict[str, TradeStatus]]
    @typing.overload
    def __eq__(self, other: TradeStatus) -> bool: ...
    @typing.overload
    def __eq__(self, other: typing.Any) -> bool: ...
    @typing.overload
    def __ge__(self, other: TradeStatus) -> bool: ...
    @typing.overload
    def __ge__(self, other: typing.Any) -> None: ...
    def __getstate__(self) -> int: ...
    @typing.overload
    def __gt__(self, other: TradeStatus) -> bool: ...
    @typing.overload
    def __gt__(self, other: typing.Any) -> None: ...
    def __hash__(self) -> int: ...
    def __index__(self) -> int: ...
    def __init__(self, value: typing.SupportsInt | typing.SupportsIndex) -> None: ...
    def __int__(self) -> int: ...
    @typing.overload
    def __le__(self, other: TradeStatus) -> bool: ...
    @typing.overload
    def __le__(self, other: typing.Any) -> None: ...
    @typing.overload
    def __lt__(self, other: TradeStatus) -> bool: ...
    @typing.overload
    def __lt__(self, other: typing.Any) -> None: ...
    @typing.overload
    def __ne__(self, other: TradeStatus) -> bool: ...
    @typing.overload
    def __ne__(self, other: typing.Any) -> bool: ...
    def __repr__(self) -> str: ...
    def __setstate__(self, state: typing.SupportsInt | typing.SupportsIndex) -> None: ...
    def __str__(self) -> str: ...
    @property
    def name(self) -> str: ...
    @property
    def value(self) -> int: ...

class QuoteStatus:
    """
    What the engine did with one quote.

    Members:

      ACCEPTED

      REJECTED

      STALE
    """

    ACCEPTED: typing.ClassVar[QuoteStatus]
    REJECTED: typing.ClassVar[QuoteStatus]
    STALE: typing.ClassVar[QuoteStatus]
    __members__: typing.ClassVar[dict[str, QuoteStatus]]
    @typing.overload
    def __eq__(self, other: QuoteStatus) -> bool: ...
    @typing.overload
    def __eq__(self, other: typing.Any) -> bool: ...
    @typing.overload
    def __ge__(self, other: QuoteStatus) -> bool: ...
    @typing.overload
    def __ge__(self, other: typing.Any) -> None: ...
    def __getstate__(self) -> int: ...
    @typing.overload
    def __gt__(self, other: QuoteStatus) -> bool: ...
    @typing.overload
    def __gt__(self, other: typing.Any) -> None: ...
    def __hash__(self) -> int: ...
    def __index__(self) -> int: ...
    def __init__(self, value: typing.SupportsInt | typing.SupportsIndex) -> None: ...
    def __int__(self) -> int: ...
    @typing.overload
    def __le__(self, other: QuoteStatus) -> bool: ...
    @typing.overload
    def __le__(self, other: typing.Any) -> None: ...
    @typing.overload
    def __lt__(self, other: QuoteStatus) -> bool: ...
    @typing.overload
    def __lt__(self, other: typing.Any) -> None: ...
    @typing.overload
    def __ne__(self, other: QuoteStatus) -> bool: ...
    @typing.overload
    def __ne__(self, other: typing.Any) -> bool: ...
    def __repr__(self) -> str: ...
    def __setstate__(self, state: typing.SupportsInt | typing.SupportsIndex) -> None: ...
    def __str__(self) -> str: ...
    @property
    def name(self) -> str: ...
    @property
    def value(self) -> int: ...

class Bar:
    """
    One bar: OHLCV, VWAP, counts, and its features once closed (NaN while open).
    """
    def __repr__(self) -> str: ...
    @property
    def atr(self) -> float: ...
    @property
    def buy_volume(self) -> float: ...
    @property
    def close(self) -> float: ...
    @property
    def high(self) -> float: ...
    @property
    def low(self) -> float: ...
    @property
    def mom_bps(self) -> float: ...
    @property
    def open(self) -> float: ...
    @property
    def px_vs_vwap_bps(self) -> float: ...
    @property
    def revision(self) -> int: ...
    @property
    def rvol(self) -> float: ...
    @property
    def start_ns(self) -> int: ...
    @property
    def symbol(self) -> str: ...
    @property
    def timeframe(self) -> str: ...
    @property
    def trades(self) -> int: ...
    @property
    def volume(self) -> float: ...
    @property
    def vwap(self) -> float: ...

class MarketEngine:
    """
    Native streaming engine; use montalaq.MarketEngine.
    """
    def __init__(
        self,
        timeframes_ns: collections.abc.Sequence[typing.SupportsInt | typing.SupportsIndex],
        max_trades: typing.SupportsInt | typing.SupportsIndex,
        max_bars: typing.SupportsInt | typing.SupportsIndex,
        late_window_ns: typing.SupportsInt | typing.SupportsIndex,
        close_grace_ns: typing.SupportsInt | typing.SupportsIndex,
        fill_gaps: bool,
        max_fill_bars: typing.SupportsInt | typing.SupportsIndex,
        dedupe_content: bool,
        atr_n: typing.SupportsInt | typing.SupportsIndex,
        mom_k: typing.SupportsInt | typing.SupportsIndex,
        vwap_n: typing.SupportsInt | typing.SupportsIndex,
        rvol_n: typing.SupportsInt | typing.SupportsIndex,
        symbols: collections.abc.Sequence[str],
    ) -> None: ...
    def _bars(
        self, symbol: str, tf_ns: typing.SupportsInt | typing.SupportsIndex, include_open: bool
    ) -> dict[str, typing.Any]: ...
    def _features(
        self, symbol: str, tf_ns: typing.SupportsInt | typing.SupportsIndex
    ) -> dict[str, typing.Any]: ...
    def _last_trade_ns(self) -> numpy.typing.NDArray[numpy.int64]:
        """
        Last accepted trade time per symbol (int64 ns, 0: none yet), in symbols() order.
        """
    def _latest(self, symbol: str, tf_ns: typing.SupportsInt | typing.SupportsIndex) -> Bar | None: ...
    def _open_bar(self, symbol: str, tf_ns: typing.SupportsInt | typing.SupportsIndex) -> Bar | None: ...
    def _symbols_since(self, start: typing.SupportsInt | typing.SupportsIndex) -> list[str]:
        """
        symbols()[start:].
        """
    def advance_time(self, now: typing.Any = None, *, now_ns: typing.Any = ...) -> list[Bar]:
        """
        Close every bar whose end + close_grace <= now (None: the wall clock); returns the bars closed.
        """
    def has_symbol(self, symbol: str) -> bool: ...
    def held(self, symbol: str) -> bool:
        """
        Whether the symbol is on hold.
        """
    def last_trades(self) -> tuple[list[str], list[int]]:
        """
        (symbols, last accepted trade time in ns per symbol; 0 when none yet).
        """
    def on_quote(
        self,
        symbol: str,
        ts_ns: typing.Any,
        bid: typing.SupportsFloat | typing.SupportsIndex,
        ask: typing.SupportsFloat | typing.SupportsIndex,
    ) -> QuoteStatus:
        """
        Update the best bid/ask.
        """
    def on_trade(
        self,
        symbol: str,
        ts_ns: typing.Any,
        price: typing.SupportsFloat | typing.SupportsIndex,
        size: typing.SupportsFloat | typing.SupportsIndex,
        side: typing.SupportsInt | typing.SupportsIndex = 0,
        trade_id: typing.SupportsInt | typing.SupportsIndex | None = None,
    ) -> tuple[TradeStatus, list[Bar]]:
        """
        Ingest one trade. Returns (TradeStatus, list of bars it closed).
        """
    def on_trades(
        self,
        symbol: str,
        ts_ns: typing.Annotated[numpy.typing.ArrayLike, numpy.int64],
        price: typing.Annotated[numpy.typing.ArrayLike, numpy.float64],
        size: typing.Annotated[numpy.typing.ArrayLike, numpy.float64],
        side: typing.Annotated[numpy.typing.ArrayLike, numpy.int8] | None = None,
        trade_id: typing.Annotated[numpy.typing.ArrayLike, numpy.uint64] | None = None,
    ) -> tuple[dict[str, int], list[Bar]]:
        """
        Ingest a chunk (GIL released). Returns (counts by status, list of bars closed).
        """
    def set_hold(self, symbol: str, held: bool) -> None:
        """
        Hold (True) or release a symbol's bars from closing by the clock (a feed backfilling).
        """
    def state(self, symbol: str) -> dict[str, typing.Any]:
        """
        Raw per-symbol state as a JSON-ready dict.
        """
    def stats(self, symbol: str | None = None) -> dict[str, int]:
        """
        Counts by trade status (and quotes, bars closed), for one symbol or all.
        """
    def symbols(self) -> list[str]:
        """
        Symbols seen (or allowed), in order of first sight.
        """
    def trades_cached(self, symbol: str) -> int:
        """
        Trades in the symbol's cache.
        """
    @property
    def timeframes(self) -> list[str]:
        """
        Configured timeframes, as labels.
        """
    @property
    def timeframes_ns(self) -> list[int]:
        """
        Configured timeframes in ns.
        """

def build_bars(
    ts_ns: typing.Annotated[numpy.typing.ArrayLike, numpy.int64],
    price: typing.Annotated[numpy.typing.ArrayLike, numpy.float64],
    size: typing.Annotated[numpy.typing.ArrayLike, numpy.float64],
    side: typing.Annotated[numpy.typing.ArrayLike, numpy.int8] | None,
    tf_ns: typing.SupportsInt | typing.SupportsIndex,
    fill_gaps: bool,
    max_fill_bars: typing.SupportsInt | typing.SupportsIndex,
    sort: bool,
    threads: typing.SupportsInt | typing.SupportsIndex,
) -> dict[str, typing.Any]:
    """
    Batch bars from trade arrays (GIL released; split over up to `threads` threads at bar boundaries). Returns numpy columns and a 'stats' dict.
    """

def compute_features(
    high: typing.Annotated[numpy.typing.ArrayLike, numpy.float64],
    low: typing.Annotated[numpy.typing.ArrayLike, numpy.float64],
    close: typing.Annotated[numpy.typing.ArrayLike, numpy.float64],
    volume: typing.Annotated[numpy.typing.ArrayLike, numpy.float64],
    vwap: typing.Annotated[numpy.typing.ArrayLike, numpy.float64],
    atr_n: typing.SupportsInt | typing.SupportsIndex,
    mom_k: typing.SupportsInt | typing.SupportsIndex,
    vwap_n: typing.SupportsInt | typing.SupportsIndex,
    rvol_n: typing.SupportsInt | typing.SupportsIndex,
) -> dict[str, typing.Any]:
    """
    Features over bar columns (GIL released).
    """

def parse_binance(
    frames: list[str | bytes], symbols: collections.abc.Sequence[str]
) -> tuple[
    list[
        tuple[
            str,
            numpy.typing.NDArray[numpy.int64],
            numpy.typing.NDArray[numpy.float64],
            numpy.typing.NDArray[numpy.float64],
            numpy.typing.NDArray[numpy.int8],
            numpy.typing.NDArray[numpy.uint64],
        ]
    ],
    list[tuple[str, numpy.typing.NDArray[numpy.float64], numpy.typing.NDArray[numpy.float64]]],
    dict[str, int],
]:
    """
    Parse Binance spot frames (trade, bookTicker, control replies). Returns (trades, quotes, counts): trades [(symbol, ts_ns int64, price, size, side int8, trade_id uint64)], quotes [(symbol, bid, ask)] per subscribed symbol in frame order, and counts {trades, quotes, control, malformed, unsubscribed}.
    """

def parse_timeframe(timeframe: str) -> int:
    """
    Parse '<n><unit>' (unit s, m, h, d) into nanoseconds; ValueError otherwise.
    """

def timeframe_label(tf_ns: typing.SupportsInt | typing.SupportsIndex) -> str:
    """
    Canonical label of a timeframe in ns.
    """
