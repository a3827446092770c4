"""Batch bars and features over numpy arrays (docs/semantics.md, "Market core")."""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, overload

import numpy as np
import numpy.typing as npt

from montalaq._native import market as _m
from montalaq._optional import needs
from montalaq._time import float_array, side_array, ts_array
from montalaq.timeframes import parse_timeframe

if TYPE_CHECKING:
    import pandas as pd

F64 = npt.NDArray[np.float64]
I64 = npt.NDArray[np.int64]

BAR_COLUMNS = ("start_ns", "open", "high", "low", "close", "volume", "vwap", "trades", "buy_volume")
FEATURE_COLUMNS = ("atr", "mom_bps", "px_vs_vwap_bps", "rvol")


def _utc_index(start_ns: I64) -> pd.DatetimeIndex:
    import pandas as pd

    return pd.DatetimeIndex(start_ns.view("datetime64[ns]"), name="start").tz_localize("UTC")


def _polars_frame(columns: Mapping[str, npt.NDArray[Any]], feature: str) -> Any:
    """``columns`` (``start_ns`` among them) as a polars DataFrame, with the ``start``
    column (Datetime[ns, UTC]) appended; polars is imported here, on first use."""
    with needs(feature):
        import polars as pl

    frame = pl.DataFrame(dict(columns))
    return frame.with_columns(
        pl.col("start_ns").cast(pl.Datetime("ns")).dt.replace_time_zone("UTC").alias("start")
    )


@dataclass(frozen=True, eq=False)
class Bars:
    """Bars of one timeframe as numpy columns, one row per bar, ordered by ``start_ns``.

    ``start_ns`` is the bar start (ns since epoch, UTC); the bar covers
    ``[start_ns, start_ns + timeframe)``. ``stats`` counts accepted and rejected trades
    when the bars come from :func:`build_bars`.
    """

    timeframe: str
    start_ns: I64
    open: F64
    high: F64
    low: F64
    close: F64
    volume: F64
    vwap: F64
    trades: I64
    buy_volume: F64
    stats: dict[str, int] = field(default_factory=dict)

    @classmethod
    def _from_columns(
        cls, timeframe: str, cols: Mapping[str, Any], stats: dict[str, int] | None = None
    ) -> Bars:
        return cls(
            timeframe=timeframe,
            start_ns=cols["start_ns"],
            open=cols["open"],
            high=cols["high"],
            low=cols["low"],
            close=cols["close"],
            volume=cols["volume"],
            vwap=cols["vwap"],
            trades=cols["trades"],
            buy_volume=cols["buy_volume"],
            stats=dict(stats or {}),
        )

    def __len__(self) -> int:
        return int(self.start_ns.shape[0])

    def columns(self) -> dict[str, npt.NDArray[Any]]:
        """The columns by name (the arrays themselves, not copies)."""
        return {c: getattr(self, c) for c in BAR_COLUMNS}

    def to_pandas(self) -> pd.DataFrame:
        """A DataFrame indexed by a UTC ``DatetimeIndex`` named ``start``."""
        import pandas as pd

        data = {c: getattr(self, c) for c in BAR_COLUMNS if c != "start_ns"}
        return pd.DataFrame(data, index=_utc_index(self.start_ns))

    def to_polars(self) -> Any:
        """A polars DataFrame with a ``start`` column (Datetime[ns, UTC]) after the
        columns (``start_ns`` included). Needs polars (``montalaq[polars]``)."""
        return _polars_frame({c: getattr(self, c) for c in BAR_COLUMNS}, "Bars.to_polars")

    def __repr__(self) -> str:
        return f"Bars(timeframe={self.timeframe!r}, n={len(self)})"


@dataclass(frozen=True, eq=False)
class Features:
    """Features aligned row for row with a :class:`Bars`; NaN where undefined."""

    timeframe: str
    start_ns: I64
    atr: F64
    mom_bps: F64
    px_vs_vwap_bps: F64
    rvol: F64

    def __len__(self) -> int:
        return int(self.start_ns.shape[0])

    def to_pandas(self) -> pd.DataFrame:
        """A DataFrame indexed by a UTC ``DatetimeIndex`` named ``start``."""
        import pandas as pd

        return pd.DataFrame({c: getattr(self, c) for c in FEATURE_COLUMNS}, index=_utc_index(self.start_ns))

    def to_polars(self) -> Any:
        """A polars DataFrame laid out as :meth:`Bars.to_polars`: ``start_ns``, the feature
        columns (NaN where undefined, as in :meth:`to_pandas`), then ``start``
        (Datetime[ns, UTC]); joins a ``Bars.to_polars()`` frame on ``start``. Needs polars
        (``montalaq[polars]``)."""
        cols = {"start_ns": self.start_ns, **{c: getattr(self, c) for c in FEATURE_COLUMNS}}
        return _polars_frame(cols, "Features.to_polars")

    def __repr__(self) -> str:
        return f"Features(timeframe={self.timeframe!r}, n={len(self)})"


def _check_int(name: str, value: object) -> int:
    if isinstance(value, bool) or not isinstance(value, int | np.integer):
        raise TypeError(f"{name}: expected an integer, got {type(value).__name__}")
    return int(value)


@overload
def build_bars(
    ts_ns: Any,
    price: Any,
    size: Any,
    timeframe: str = "1m",
    *,
    side: Any = None,
    fill_gaps: bool = False,
    sort: bool = False,
    max_fill_bars: int = 100_000,
    threads: int | None = None,
) -> Bars: ...
@overload
def build_bars(
    ts_ns: Any,
    price: Any,
    size: Any,
    timeframe: tuple[str, ...] | list[str],
    *,
    side: Any = None,
    fill_gaps: bool = False,
    sort: bool = False,
    max_fill_bars: int = 100_000,
    threads: int | None = None,
) -> dict[str, Bars]: ...
def build_bars(
    ts_ns: Any,
    price: Any,
    size: Any,
    timeframe: str | tuple[str, ...] | list[str] = "1m",
    *,
    side: Any = None,
    fill_gaps: bool = False,
    sort: bool = False,
    max_fill_bars: int = 100_000,
    threads: int | None = None,
) -> Bars | dict[str, Bars]:
    """Build bars from trade arrays in one native pass per timeframe (GIL released).

    ``ts_ns``: int64 ns since the epoch (or datetime64 / tz-aware pandas); ``price``,
    ``size``: real numbers; ``side``: optional +1/-1/0 aggressor per trade. Invalid rows
    (ts <= 0, non-finite or non-positive price or size) are skipped and counted in
    ``Bars.stats``. Input must be sorted by time unless ``sort=True`` (stable: equal
    timestamps keep their order). ``fill_gaps=True`` emits flat bars for empty intervals,
    except across a gap of more than ``max_fill_bars`` intervals. A tuple of timeframes
    returns a dict keyed by timeframe.

    ``threads`` (default: every core, at most 8) splits large inputs at bar boundaries;
    each bar is still built by one thread in trade order, so the result does not depend
    on it. Inputs under 262,144 rows per thread use fewer threads.
    """
    n_threads = min(os.cpu_count() or 1, 8) if threads is None else _check_int("threads", threads)
    if n_threads < 1:
        raise ValueError(f"threads: must be >= 1, got {n_threads}")
    ts = ts_array(ts_ns, "ts_ns")
    px = float_array(price, "price")
    sz = float_array(size, "size")
    if not (ts.shape[0] == px.shape[0] == sz.shape[0]):
        lengths = f"{ts.shape[0]}, {px.shape[0]}, {sz.shape[0]}"
        raise ValueError(f"ts_ns, price and size must have the same length; got {lengths}")
    sd = None if side is None else side_array(side, ts.shape[0])
    max_fill = _check_int("max_fill_bars", max_fill_bars)
    if max_fill < 0:
        raise ValueError(f"max_fill_bars: must be >= 0, got {max_fill}")
    frames: list[str]
    if isinstance(timeframe, str):
        many, frames = False, [timeframe]
    elif isinstance(timeframe, list | tuple):
        many, frames = True, list(timeframe)
        if not frames:
            raise ValueError("timeframe: at least one timeframe is required")
    else:
        raise TypeError(
            "timeframe: expected a string such as '1m' or a tuple/list of them such as "
            f"('1m', '5m', '15m'); got {type(timeframe).__name__}"
        )
    out: dict[str, Bars] = {}
    for tf in frames:
        tf_ns = parse_timeframe(tf)
        cols = _m.build_bars(ts, px, sz, sd, tf_ns, bool(fill_gaps), max_fill, bool(sort), n_threads)
        stats = {k: int(v) for k, v in cols.pop("stats").items()}
        out[tf] = Bars._from_columns(tf, cols, stats)
    return out if many else out[frames[0]]


def _column(source: Any, name: str) -> F64:
    try:
        values = source[name]
    except (KeyError, IndexError, TypeError):
        values = getattr(source, name, None)
    if values is None:
        raise ValueError(f"bars: missing column '{name}' (need high, low, close, volume, vwap)")
    return float_array(values, name)


def compute_features(
    bars: Bars | Mapping[str, Any] | Any,
    *,
    atr_n: int = 14,
    mom_k: int = 1,
    vwap_n: int = 20,
    rvol_n: int = 20,
) -> Features:
    """Features over closed bars, aligned with the bars, NaN where undefined
    (docs/semantics.md, "Market core").

    ``atr``: Wilder ATR identical to TA-Lib ``ATR(high, low, close, atr_n)``;
    ``mom_bps``: ``(C_i / C_{i-k} - 1) * 1e4``; ``px_vs_vwap_bps``: close vs the
    volume-weighted VWAP of the last ``vwap_n`` bars, in bps; ``rvol``: volume over the
    mean volume of the previous ``rvol_n`` bars. ``bars`` is a :class:`Bars`, or any
    mapping / DataFrame with ``high, low, close, volume, vwap`` columns.
    """
    given = {"atr_n": atr_n, "mom_k": mom_k, "vwap_n": vwap_n, "rvol_n": rvol_n}
    params = {k: _check_int(k, v) for k, v in given.items()}
    cols = {c: _column(bars, c) for c in ("high", "low", "close", "volume", "vwap")}
    res = _m.compute_features(**cols, **params)
    if isinstance(bars, Bars):
        start, tf = bars.start_ns, bars.timeframe
    else:
        tf = ""
        index = getattr(bars, "index", None)
        if (index is not None and getattr(index, "dtype", None) is not None and index.dtype.kind == "M") or (
            index is not None and getattr(getattr(index, "dtype", None), "tz", None) is not None
        ):
            start = ts_array(index, "index")
        else:
            try:
                start = ts_array(bars["start_ns"], "start_ns")
            except (KeyError, IndexError, TypeError):
                # No bar times given: label rows by position so the result still aligns.
                start = np.arange(cols["close"].shape[0], dtype=np.int64)
    return Features(tf, start, res["atr"], res["mom_bps"], res["px_vs_vwap_bps"], res["rvol"])
