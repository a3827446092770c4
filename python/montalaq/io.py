"""Reading trades: CSV (plain or .gz), Parquet and Lean files, or pandas/polars DataFrames, with
the usual column names (docs/semantics.md, "Reading trade files")."""

from __future__ import annotations

import os
import re
import sys
from collections.abc import Iterator
from dataclasses import dataclass, field, replace
from datetime import date, datetime, time
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import numpy as np
import numpy.typing as npt

from montalaq._optional import missing_dependency

# Accepted column names, in order of preference. Exchange time beats receive time: a
# collector clock can be seconds off (see the Binance capture's SOURCE.md).
TIME_STEMS = ("ts", "timestamp", "time", "trade_time", "transact_time", "datetime", "date_time")
TIME_UNITS = {"ns": 1, "us": 1_000, "ms": 1_000_000, "s": 1_000_000_000}
_INT64_MAX = 2**63 - 1
PRICE_NAMES = ("price", "px", "trade_price")
SIZE_NAMES = ("size", "qty", "quantity", "amount", "volume", "trade_size")
SIDE_NAMES = ("side", "taker_side", "aggressor_side")
BUYER_MAKER_NAMES = ("is_buyer_maker", "buyer_maker", "m")
ID_NAMES = ("trade_id", "id", "agg_trade_id", "tid")
SYMBOL_NAMES = ("symbol", "ticker", "instrument")

# QuantConnect/Lean equity ticks: "YYYYMMDD_<sym>_Trade_Tick.csv", no header, ms since
# midnight New York time, prices in deci-cents.
_LEAN_NAME = re.compile(r"^(\d{8})_([A-Za-z0-9.]+)_trade_tick\.csv(\.gz)?$", re.IGNORECASE)


@dataclass(frozen=True, eq=False)
class Trades:
    """Trades as arrays ready for :func:`montalaq.build_bars` and ``MarketEngine.on_trades``.

    ``side`` is +1/-1/0 (None when the file has no aggressor information), ``trade_id``
    uint64 (None without ids). ``symbols`` holds one symbol per row when the file mixes
    symbols; otherwise it is None and ``symbol`` names them all. ``columns`` records which
    file column fed each field, and the time unit used.
    """

    symbol: str
    ts_ns: npt.NDArray[np.int64]
    price: npt.NDArray[np.float64]
    size: npt.NDArray[np.float64]
    side: npt.NDArray[np.int8] | None = None
    trade_id: npt.NDArray[np.uint64] | None = None
    symbols: npt.NDArray[Any] | None = None
    columns: dict[str, str] = field(default_factory=dict)

    def __len__(self) -> int:
        return int(self.ts_ns.shape[0])

    def by_symbol(self) -> Iterator[Trades]:
        """One :class:`Trades` per symbol, each in file order."""
        if self.symbols is None:
            yield self
            return
        for sym in dict.fromkeys(self.symbols.tolist()):
            mask = self.symbols == sym
            yield replace(
                self,
                symbol=str(sym),
                ts_ns=self.ts_ns[mask],
                price=self.price[mask],
                size=self.size[mask],
                side=None if self.side is None else self.side[mask],
                trade_id=None if self.trade_id is None else self.trade_id[mask],
                symbols=None,
            )


def _pick(columns: list[str], names: tuple[str, ...]) -> str | None:
    lower = {c.lower(): c for c in columns}
    for n in names:
        if n in lower:
            return lower[n]
    return None


def _pick_time(columns: list[str]) -> tuple[str, str | None] | None:
    lower = {c.lower(): c for c in columns}
    for stem in TIME_STEMS:
        if stem in lower:
            return lower[stem], None
        for unit in TIME_UNITS:
            if f"{stem}_{unit}" in lower:
                return lower[f"{stem}_{unit}"], unit
    return None


def _layout_error(where: str, columns: list[str], missing: list[str]) -> ValueError:
    names = " and ".join([", ".join(missing[:-1]), missing[-1]] if len(missing) > 1 else missing)
    return ValueError(
        f"read_trades: cannot find the trade columns in {where}: no {names} column. "
        f"Columns found: {columns}. "
        f"Accepted names: time {list(TIME_STEMS)} (optionally suffixed _s/_ms/_us/_ns), "
        f"price {list(PRICE_NAMES)}, size {list(SIZE_NAMES)}; optional side {list(SIDE_NAMES)} "
        f"or {list(BUYER_MAKER_NAMES)}, trade id {list(ID_NAMES)}, symbol {list(SYMBOL_NAMES)}."
    )


def _numeric_time_to_ns(
    values: npt.NDArray[Any], unit: str | None, column: str
) -> tuple[npt.NDArray[np.int64], str]:
    if unit is None:
        finite = values[np.isfinite(values)] if values.dtype.kind == "f" else values
        if finite.size == 0:
            raise ValueError(f"read_trades: time column '{column}' holds no numbers")
        # Epoch magnitudes today: s ~1.7e9, ms ~1.7e12, us ~1.7e15, ns ~1.7e18.
        mag = float(np.median(np.abs(finite)))
        unit = "s" if mag < 1e11 else "ms" if mag < 1e14 else "us" if mag < 1e17 else "ns"
    scale = TIME_UNITS[unit]
    # A time beyond int64 nanoseconds (year 2262) becomes 0, an invalid time the engine
    # rejects and counts -- never a value wrapped into another date (regression: 20213969674 s,
    # year 2610, became 2026-01-01T00:00:00.29Z).
    limit = _INT64_MAX // scale
    if values.dtype.kind == "f":
        ok = np.isfinite(values) & (np.abs(values) <= limit)
        out = np.where(ok, np.round(np.where(ok, values, 0) * scale), 0).astype(np.int64)
    else:
        wide = values.astype(np.int64) if values.dtype != np.uint64 else values
        ok = (wide <= limit) & ((wide >= -limit) if values.dtype.kind == "i" else True)
        out = np.where(ok, wide, 0).astype(np.int64) * scale
    return out, unit


_OFFSET = r"(?:Z|[+-]\d\d:?\d\d)$"


def _text_times_to_ns(raw: Any, column: str, tz: str | None) -> npt.NDArray[np.int64]:
    """ISO-8601 text to ns. Times with offsets may mix offsets (a feed across a DST change);
    times without one need ``tz``; a column mixing both is refused."""
    import pandas as pd

    text = raw.astype(str).str.strip()
    has_offset = text.str.contains(_OFFSET, regex=True)
    if has_offset.all():
        parsed = pd.to_datetime(text, utc=True, errors="coerce", format="ISO8601")
    elif not has_offset.any():
        if tz is None:
            raise ValueError(
                f"read_trades: times in column '{column}' carry no UTC offset; pass tz='UTC' "
                "(or the zone they are in) to read them"
            )
        naive = pd.to_datetime(text, errors="coerce", format="ISO8601")
        parsed = naive.dt.tz_localize(tz, ambiguous="NaT", nonexistent="NaT").dt.tz_convert("UTC")
    else:
        first = int(np.flatnonzero(~has_offset.to_numpy())[0])
        raise ValueError(
            f"read_trades: column '{column}' mixes times with and without a UTC offset "
            f"(row {first} has none: {text.iloc[first]!r})"
        )
    ts: npt.NDArray[np.int64] = parsed.dt.tz_localize(None).to_numpy(dtype="datetime64[ns]").astype(np.int64)
    ts[parsed.isna().to_numpy()] = 0  # unparseable: kept, and rejected as REJECT_TS
    return ts


def _datetimes_to_ns(raw: Any, column: str, tz: str | None) -> npt.NDArray[np.int64]:
    """A datetime column to ns, by the rule of text times: zoned values are exact; naive
    ones need ``tz`` (the zone they are in)."""
    import pandas as pd

    values = pd.Series(raw)
    if values.dt.tz is None:
        if tz is None:
            raise ValueError(
                f"read_trades: times in column '{column}' carry no time zone; pass tz='UTC' "
                "(or the zone they are in) to read them"
            )
        values = values.dt.tz_localize(tz, ambiguous="NaT", nonexistent="NaT")
    utc = values.dt.tz_convert("UTC").dt.tz_localize(None)
    ts: npt.NDArray[np.int64] = utc.to_numpy(dtype="datetime64[ns]").astype(np.int64)
    ts[utc.isna().to_numpy()] = 0  # missing: kept, and rejected as REJECT_TS
    return ts


def _side_from(frame: Any, columns: list[str], used: dict[str, str]) -> npt.NDArray[np.int8] | None:
    col = _pick(columns, SIDE_NAMES)
    if col is not None:
        raw = frame[col]
        if raw.dtype.kind in "iuf":
            vals = np.nan_to_num(raw.to_numpy(dtype=np.float64), nan=0.0)
            side: npt.NDArray[np.int8] = np.sign(vals).astype(np.int8)
        else:
            text = raw.astype(str).str.strip().str.lower()
            side = np.zeros(len(text), dtype=np.int8)
            side[text.isin(["buy", "b", "bid", "1", "+1"]).to_numpy()] = 1
            side[text.isin(["sell", "s", "ask", "-1"]).to_numpy()] = -1
        used["side"] = col
        return side
    col = _pick(columns, BUYER_MAKER_NAMES)
    if col is not None:
        raw = frame[col]
        maker = (
            raw.to_numpy()
            if raw.dtype == bool
            else raw.astype(str).str.strip().str.lower().isin(["true", "1"]).to_numpy()
        )
        used["side"] = col
        # Buyer is the maker -> the aggressor sold.
        return np.where(maker, -1, 1).astype(np.int8)
    return None


def _read_lean(path: Path, day: str, sym: str) -> Trades:
    import pandas as pd

    try:
        frame = pd.read_csv(path, header=None, usecols=[0, 1, 2], names=["time_ms", "price", "size"])
    except (pd.errors.ParserError, pd.errors.EmptyDataError, UnicodeDecodeError, EOFError, OSError) as exc:
        raise ValueError(f"read_trades: {path.name} is not a readable Lean tick file: {exc}") from exc
    if frame.empty:
        raise ValueError(f"read_trades: {path.name} holds no trades")
    # Unreadable cells become NaN/0 and are rejected (and counted) by the engine, as in CSVs.
    for col in ("time_ms", "price", "size"):
        frame[col] = pd.to_numeric(frame[col], errors="coerce")
    frame["time_ms"] = frame["time_ms"].fillna(-1)
    midnight = datetime.combine(
        date(int(day[:4]), int(day[4:6]), int(day[6:])), time(0), ZoneInfo("America/New_York")
    )
    base_ns = int(midnight.timestamp()) * 1_000_000_000
    ts = base_ns + frame["time_ms"].to_numpy(dtype=np.int64) * 1_000_000
    price = frame["price"].to_numpy(dtype=np.float64) / 10_000.0  # deci-cents -> USD
    size = frame["size"].to_numpy(dtype=np.float64)
    return Trades(
        symbol=sym.upper(),
        ts_ns=ts,
        price=price,
        size=size,
        columns={
            "layout": "lean-equity-tick",
            "ts": "time_ms (America/New_York)",
            "price": "price/10000",
            "size": "size",
        },
    )


def read_trades(
    source: str | os.PathLike[str] | Any, *, symbol: str | None = None, tz: str | None = None
) -> Trades:
    """Read a trade file, or a pandas or polars DataFrame, into arrays.

    Formats: CSV (``.csv``, ``.csv.gz``, ``.txt``) with a header row, Parquet
    (``.parquet``, needs pyarrow), and QuantConnect/Lean equity tick files
    (``YYYYMMDD_<sym>_Trade_Tick.csv``). A DataFrame (pandas, or polars) holds the columns
    a CSV file would; a pandas index of datetimes, or named as a time column, stands for a
    missing time column. Columns are
    found by name (see :data:`TIME_STEMS`, :data:`PRICE_NAMES`, :data:`SIZE_NAMES`, ...).
    Numeric times in s, ms, µs or ns are told apart by a ``_s/_ms/_us/_ns`` suffix or else by
    magnitude; text and datetime times must carry a UTC offset (a time zone) unless ``tz``
    names the zone they are in. Rows are returned in source order; bad rows are kept so the
    engine can count them. The symbol is ``symbol``, else the symbol column, else the file's
    name (``UNKNOWN`` for a DataFrame). A layout without time, price or size columns raises
    ``ValueError`` naming the missing ones, the columns found and the names accepted.
    """
    import pandas as pd

    frame = _as_pandas(source)
    if frame is not None:
        return _from_frame(frame, "the DataFrame", symbol, tz, default_symbol="UNKNOWN")
    if not isinstance(source, str | os.PathLike):
        raise TypeError(
            "read_trades: expected a file path or a pandas/polars DataFrame, got "
            f"{type(source).__module__}.{type(source).__name__}"
        )
    p = Path(source)
    if not p.exists():
        raise FileNotFoundError(f"read_trades: no such file: {p}")
    lean = _LEAN_NAME.match(p.name)
    if lean:
        trades = _read_lean(p, lean.group(1), lean.group(2))
        return replace(trades, symbol=symbol) if symbol else trades

    name = p.name.lower()
    if name.endswith(".parquet") or name.endswith(".pq"):
        try:
            frame = pd.read_parquet(p)
        except ImportError:
            # pandas says "Unable to find a usable engine"; the extra is what to install.
            raise missing_dependency("pyarrow", "read_trades (Parquet)") from None
    else:
        try:
            frame = pd.read_csv(p, low_memory=False)
        except pd.errors.EmptyDataError as exc:
            raise ValueError(f"read_trades: {p.name} is empty (no header, no rows)") from exc
        except (pd.errors.ParserError, UnicodeDecodeError, EOFError, OSError) as exc:
            raise ValueError(f"read_trades: {p.name} is not a readable CSV file: {exc}") from exc
    stem = name
    for ext in (".gz", ".csv", ".txt", ".parquet", ".pq"):
        stem = stem.removesuffix(ext)
    default = stem.upper() if stem not in ("trades", "trade", "data") else p.parent.name.upper() or "UNKNOWN"
    return _from_frame(frame, p.name, symbol, tz, default_symbol=default)


def _as_pandas(source: Any) -> Any:
    """``source`` as a pandas DataFrame when it is one, or a polars DataFrame/LazyFrame
    (converted column by column: no pyarrow needed); None for anything else."""
    import pandas as pd

    if isinstance(source, pd.DataFrame):
        # The times may be the index (df.set_index("ts"), a resample's output): used when no
        # column holds them and the index is datetimes or carries a time column's name.
        name = str(source.index.name)
        named = _pick_time([name]) is not None
        if _pick_time([str(c) for c in source.columns]) is None and (
            named or isinstance(source.index, pd.DatetimeIndex)
        ):
            return source.reset_index(names=name if named else "ts")
        return source
    pl = sys.modules.get("polars")  # a polars frame implies polars is imported: never import it here
    if pl is None or not isinstance(source, pl.DataFrame | pl.LazyFrame):
        return None
    frame = source.collect() if isinstance(source, pl.LazyFrame) else source
    data: dict[str, Any] = {}
    for col in frame.get_columns():
        if isinstance(col.dtype, pl.Datetime) and col.dtype.time_zone is not None:
            utc = col.dt.convert_time_zone("UTC").dt.replace_time_zone(None).to_numpy()
            data[col.name] = pd.Series(utc).dt.tz_localize("UTC")
        else:
            data[col.name] = col.to_numpy()
    return pd.DataFrame(data)


def _from_frame(frame: Any, where: str, symbol: str | None, tz: str | None, *, default_symbol: str) -> Trades:
    """The trades of a pandas DataFrame whose columns are named as in a CSV file."""
    import pandas as pd

    columns = [str(c) for c in frame.columns]
    frame = frame.set_axis(columns, axis=1)  # a new frame: the caller's keeps its labels
    tcol = _pick_time(columns)
    pcol = _pick(columns, PRICE_NAMES)
    scol = _pick(columns, SIZE_NAMES)
    if tcol is None or pcol is None or scol is None:
        missing = [n for n, c in (("time", tcol), ("price", pcol), ("size", scol)) if c is None]
        raise _layout_error(where, columns, missing)
    used: dict[str, str] = {"ts": tcol[0], "price": pcol, "size": scol}

    traw = frame[tcol[0]]
    if frame.empty:
        ts = np.zeros(0, dtype=np.int64)
        used["ts_unit"] = tcol[1] or "none"
    elif traw.dtype.kind in "iuf":
        ts, unit = _numeric_time_to_ns(traw.to_numpy(), tcol[1], tcol[0])
        used["ts_unit"] = unit
    elif traw.dtype.kind == "M":
        ts = _datetimes_to_ns(traw, tcol[0], tz)
        used["ts_unit"] = "datetime"
    else:
        ts = _text_times_to_ns(traw, tcol[0], tz)
        used["ts_unit"] = "iso8601"

    price = pd.to_numeric(frame[pcol], errors="coerce").to_numpy(dtype=np.float64)
    size = pd.to_numeric(frame[scol], errors="coerce").to_numpy(dtype=np.float64)
    side = _side_from(frame, columns, used)
    trade_id = None
    icol = _pick(columns, ID_NAMES)
    if icol is not None and frame[icol].dtype.kind in "iu":
        trade_id = frame[icol].to_numpy().astype(np.uint64)
        used["trade_id"] = icol
    symbols = None
    sym = symbol
    scol_sym = _pick(columns, SYMBOL_NAMES)
    if sym is None and scol_sym is not None:
        values = frame[scol_sym].astype(str).to_numpy()
        uniq = list(dict.fromkeys(values.tolist()))
        used["symbol"] = scol_sym
        if len(uniq) == 1:
            sym = uniq[0]
        else:
            symbols = values
            sym = uniq[0] if uniq else "UNKNOWN"
    return Trades(sym if sym is not None else default_symbol, ts, price, size, side, trade_id, symbols, used)
