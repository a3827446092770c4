"""The market's records: bars, the signals tile, features per timeframe, the trend score,
and the feeds' numbers (docs/semantics.md, "Market core", "HTTP API"; docs/feeds.md)."""

from datetime import datetime
from typing import Any

from typing_extensions import TypedDict


class Bar(TypedDict):
    """The bar still open."""

    start: datetime  # the bar's open time
    open: float
    high: float
    low: float
    close: float
    volume: float
    trades: int


class ClosedBar(Bar):
    """A closed bar with its features (null during warm-up)."""

    atr: float | None
    mom_bps: float | None
    px_vs_vwap_bps: float | None
    rvol: float | None


class Bars(TypedDict):
    """``GET /api/bars``: the newest closed bars, oldest first, and the open bar."""

    symbol: str
    timeframe: str
    bars: list[ClosedBar]
    open_bar: Bar | None


class Signals(TypedDict):
    """``GET /signals`` tile (docs/semantics.md, Agents)."""

    mom1_bps: float | None
    mom5_bps: float | None
    rvol_vs_recent: float | None
    px_vs_vwap_bps: float | None
    best_bid: float | None
    best_ask: float | None
    last_price: float | None
    trades_cached: int


class FrameFeatures(TypedDict):
    """Latest closed bar of one timeframe and its features."""

    bar_start: datetime
    close: float
    atr: float | None
    mom_bps: float | None
    px_vs_vwap_bps: float | None
    rvol: float | None


class Trend(TypedDict):
    """Trend-score inputs, ``p_up`` and posture (null until defined)."""

    features: dict[str, float] | None
    p_up: float | None
    posture: str | None


class FeaturesView(TypedDict):
    """``GET /debug/features``: the latest closed bar per timeframe (``bars``), flat
    ``<feature>_<tf>`` keys (``mom_bps_1m``, ``px_vs_vwap_bps_1m``, ``atr_1m``, ``rvol_1m``,
    ... for every configured timeframe), per timeframe (null before its first bar) and the
    trend."""

    symbol: str
    bars: dict[str, Bar | None]
    timeframes: dict[str, FrameFeatures | None]
    trend: Trend


class GapDoc(TypedDict):
    """A gap a feed knows it has (``Gap.to_dict``; times in int ns, ``missing`` -1 when unknown)."""

    symbol: str
    from_ns: int
    to_ns: int
    missing: int
    filled: str  # "trades", "bars" or "" when nothing could be fetched
    reason: str


class StreamStats(TypedDict):
    """A streaming client's numbers (``StreamClient.stats``; docs/feeds.md)."""

    provider: str
    connected: bool
    sessions: int
    reconnects: int
    messages: int
    messages_per_s: float
    trades: int
    quotes: int
    parse_errors: int
    dropped: int
    backfilled: int
    gaps: int
    recent_gaps: list[GapDoc]
    last_message_age_s: float | None
    last_error: str | None


class SourceSpecDoc(TypedDict):
    """A watchlist entry's source as plain values (``SourceSpec.to_dict``)."""

    kind: str
    name: str | None
    path: str | None
    start_offset_s: float | None
    loop: bool
    seed: int | None
    start_price: float | None
    rate_per_s: float | None
    vol_bps: float | None
    options: dict[str, Any]  # the source kind's own options, as the watchlist gives them


__all__ = [
    "Bar",
    "Bars",
    "ClosedBar",
    "FeaturesView",
    "FrameFeatures",
    "GapDoc",
    "Signals",
    "SourceSpecDoc",
    "StreamStats",
    "Trend",
]
