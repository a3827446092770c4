"""Helpers shared by the Python tests: where the real market data lives, independent raw
readers of each data file (plain pandas, nothing from montalaq), and plain pandas/numpy
reference implementations of docs/semantics.md, Market core: bars and features.

The readers here are deliberately written from each data folder's SOURCE.md, not from
``montalaq.io``, so that a test comparing the two checks ``read_trades`` as well.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import numpy.typing as npt
import pandas as pd

REPO_ROOT = Path(__file__).resolve().parents[2]
DATA_ENV = "MONTALAQ_SHARED_DATA"

# Every trade file in the shared data (README.md's table). A test asserts that this list
# and the files on disk agree, so a new file cannot be silently left out.
XRPETH = "binance_xrpeth_2019-10-11/trades.csv"
TARDIS = "tardis_binance_futures_btcusdt_2020-02-22/trades.csv"
BINANCE_SPOT = "binance_spot_btcusdt_ws_2024-08-09/trades.csv"
SPY_DAYS = ("20131007", "20131008", "20131009", "20131010", "20131011")
SPY_FILES = tuple(f"lean_spy_trades_2013-10/{d}_spy_Trade_Tick.csv" for d in SPY_DAYS)
TRADE_FILES = (XRPETH, TARDIS, BINANCE_SPOT, *SPY_FILES)

NS_PER_MS = 1_000_000
NS_PER_MIN = 60_000_000_000
PANDAS_FREQ = {"1m": "1min", "5m": "5min", "15m": "15min"}
TF_NS = {"1m": NS_PER_MIN, "5m": 5 * NS_PER_MIN, "15m": 15 * NS_PER_MIN}


def shared_data_dir() -> Path:
    """The shared data folder: ``$MONTALAQ_SHARED_DATA`` or ``<repo>/../shared/data``."""
    env = os.environ.get(DATA_ENV)
    return Path(env).expanduser().resolve() if env else (REPO_ROOT.parent / "shared" / "data").resolve()


def require_shared_data() -> Path:
    """The shared data folder, or a RuntimeError that says where it was looked for."""
    path = shared_data_dir()
    if not (path / "README.md").is_file():
        raise RuntimeError(
            f"montalaq tests need the shared market data, which is missing at {path}. "
            f"Set {DATA_ENV}=/path/to/shared/data (the folder holding README.md and the "
            "binance_*/tardis_*/lean_* folders)."
        )
    return path


@dataclass(frozen=True)
class RawTrades:
    """A trade file read with plain pandas: exchange time in ns, USD/quote prices."""

    ts_ns: npt.NDArray[np.int64]
    price: npt.NDArray[np.float64]
    size: npt.NDArray[np.float64]
    side: npt.NDArray[np.int8] | None
    trade_id: npt.NDArray[np.uint64] | None
    frame: pd.DataFrame  # the raw file as pandas read it


def _ny_midnight_ns(day: str) -> int:
    return int(pd.Timestamp(f"{day[:4]}-{day[4:6]}-{day[6:]}", tz="America/New_York").value)


def read_raw(data_dir: Path, rel: str) -> RawTrades:
    """Read one trade file the way its SOURCE.md describes it (no montalaq involved)."""
    path = data_dir / rel
    if rel == XRPETH:
        f = pd.read_csv(path)
        # timestamp_ms: trade time, epoch ms UTC; is_buyer_maker true -> the taker sold.
        return RawTrades(
            f["timestamp_ms"].to_numpy(np.int64) * NS_PER_MS,
            f["price"].to_numpy(np.float64),
            f["quantity"].to_numpy(np.float64),
            np.where(f["is_buyer_maker"].to_numpy(bool), -1, 1).astype(np.int8),
            f["agg_trade_id"].to_numpy(np.uint64),
            f,
        )
    if rel == TARDIS:
        f = pd.read_csv(path)
        # timestamp = exchange time (µs); local_timestamp = receive time (µs), not used.
        side = np.zeros(len(f), np.int8)
        side[(f["side"] == "buy").to_numpy()] = 1
        side[(f["side"] == "sell").to_numpy()] = -1
        return RawTrades(
            f["timestamp"].to_numpy(np.int64) * 1_000,
            f["price"].to_numpy(np.float64),
            f["amount"].to_numpy(np.float64),
            side,
            f["id"].to_numpy(np.uint64),
            f,
        )
    if rel == BINANCE_SPOT:
        f = pd.read_csv(path)
        # trade_time_ms (T) is the exchange trade time; local_ts_ns is the collector's clock,
        # about 1.2 s behind the exchange, and must not be used for bars.
        return RawTrades(
            f["trade_time_ms"].to_numpy(np.int64) * NS_PER_MS,
            f["price"].to_numpy(np.float64),
            f["quantity"].to_numpy(np.float64),
            np.where(f["is_buyer_maker"].to_numpy(bool), -1, 1).astype(np.int8),
            f["trade_id"].to_numpy(np.uint64),
            f,
        )
    if rel in SPY_FILES:
        f = read_spy_ticks(path)
        day = path.name[:8]
        return RawTrades(
            _ny_midnight_ns(day) + f["time_ms"].to_numpy(np.int64) * NS_PER_MS,
            f["price"].to_numpy(np.float64) / 10_000.0,  # deci-cents -> USD
            f["size"].to_numpy(np.float64),
            None,
            None,
            f,
        )
    raise ValueError(f"no raw reader for {rel}")


def read_spy_ticks(path: Path) -> pd.DataFrame:
    """A Lean SPY tick file: no header; time_ms since NY midnight, deci-cent prices."""
    return pd.read_csv(
        path,
        header=None,
        names=["time_ms", "price", "size", "exchange", "sale_condition", "suspicious"],
        dtype={
            "time_ms": np.int64,
            "price": np.int64,
            "size": np.int64,
            "exchange": str,
            "sale_condition": str,
            "suspicious": np.int64,
        },
    )


def spy_minute_bars(path: Path) -> pd.DataFrame:
    """QuantConnect's minute trade bars for one SPY day, indexed by bar start in UTC ns."""
    f = pd.read_csv(path, header=None, names=["start_ms", "open", "high", "low", "close", "volume"])
    day = path.name[:8]
    f.index = pd.Index(_ny_midnight_ns(day) + f["start_ms"].to_numpy(np.int64) * NS_PER_MS, name="start_ns")
    return f


# --------------------------------------------------------------------------- bars


def pandas_bars(
    ts_ns: npt.NDArray[np.int64],
    price: npt.NDArray[np.float64],
    size: npt.NDArray[np.float64],
    side: npt.NDArray[np.int8] | None,
    timeframe: str,
) -> pd.DataFrame:
    """docs/semantics.md, Market core bars the plain pandas way: resample(closed="left", label="left") on a
    UTC
    index, empty bins dropped. Input must be in time order (ties: arrival order), which is
    what pandas' first/last then follow."""
    index = pd.DatetimeIndex(pd.to_datetime(ts_ns, unit="ns", utc=True))
    buy = np.zeros_like(size) if side is None else np.where(side == 1, size, 0.0)
    frame = pd.DataFrame({"price": price, "size": size, "pv": price * size, "buy": buy}, index=index)
    # Default origin ("start_day") equals epoch alignment for any timeframe dividing a day.
    r = frame.resample(PANDAS_FREQ[timeframe], closed="left", label="left")
    out = pd.DataFrame(
        {
            "open": r["price"].first(),
            "high": r["price"].max(),
            "low": r["price"].min(),
            "close": r["price"].last(),
            "volume": r["size"].sum(),
            "pv": r["pv"].sum(),
            "trades": r["price"].count(),
            "buy_volume": r["buy"].sum(),
        }
    )
    out = out[out["trades"] > 0].copy()
    out["vwap"] = out["pv"] / out["volume"]
    assert isinstance(out.index, pd.DatetimeIndex)  # resample's bins
    out["start_ns"] = out.index.as_unit("ns").asi8
    return out


def assert_bars_match_frame(bars: object, ref: pd.DataFrame, *, rtol: float = 1e-9, label: str = "") -> None:
    """OHLC, starts and counts exactly equal; volume, vwap, buy_volume to ``rtol``."""
    from numpy.testing import assert_allclose, assert_array_equal

    n = len(ref)
    assert len(bars) == n, f"{label}: {len(bars)} bars, reference has {n}"  # type: ignore[arg-type]
    assert_array_equal(bars.start_ns, ref["start_ns"].to_numpy(np.int64), err_msg=f"{label} start_ns")  # type: ignore[attr-defined]
    for col in ("open", "high", "low", "close"):
        assert_array_equal(getattr(bars, col), ref[col].to_numpy(np.float64), err_msg=f"{label} {col}")
    assert_array_equal(bars.trades, ref["trades"].to_numpy(np.int64), err_msg=f"{label} trades")  # type: ignore[attr-defined]
    for col in ("volume", "vwap", "buy_volume"):
        assert_allclose(
            getattr(bars, col), ref[col].to_numpy(np.float64), rtol=rtol, atol=0, err_msg=f"{label} {col}"
        )


def assert_same_bars(a: object, b: object, *, volume_rtol: float = 0.0, label: str = "") -> None:
    """Two :class:`montalaq.Bars` equal bar for bar (volume-like sums to ``volume_rtol``)."""
    from numpy.testing import assert_allclose, assert_array_equal

    assert len(a) == len(b), f"{label}: {len(a)} bars vs {len(b)}"  # type: ignore[arg-type]
    for col in ("start_ns", "open", "high", "low", "close", "trades"):
        assert_array_equal(getattr(a, col), getattr(b, col), err_msg=f"{label} {col}")
    for col in ("volume", "vwap", "buy_volume"):
        if volume_rtol == 0.0:
            assert_array_equal(getattr(a, col), getattr(b, col), err_msg=f"{label} {col}")
        else:
            assert_allclose(
                getattr(a, col), getattr(b, col), rtol=volume_rtol, atol=0, err_msg=f"{label} {col}"
            )


# --------------------------------------------------------------------------- features


def reference_features(
    high: npt.NDArray[np.float64],
    low: npt.NDArray[np.float64],
    close: npt.NDArray[np.float64],
    volume: npt.NDArray[np.float64],
    vwap: npt.NDArray[np.float64],
    *,
    mom_k: int = 1,
    vwap_n: int = 20,
    rvol_n: int = 20,
) -> pd.DataFrame:
    """mom_bps, px_vs_vwap_bps and rvol written from docs/semantics.md, Market core with plain pandas.

    - ``mom_bps_i = (C_i / C_{i-k} - 1) * 1e4``, undefined for i < k;
    - ``px_vs_vwap_bps_i = (C_i / VWAP_N - 1) * 1e4`` with ``VWAP_N`` over the last N bars
      up to and including i (fewer at the start, like pandas ``rolling(N, min_periods=1)``),
      undefined when the volume in that window is 0;
    - ``rvol_i = V_i / mean(V_{i-N} .. V_{i-1})``, undefined until N previous bars exist
      (like ``shift(1).rolling(N, min_periods=N)``) and when that mean is 0.
    Whether a window's volume is zero is decided by counting non-zero volumes, not by a
    float sum, so rounding residue cannot turn "undefined" into a huge ratio.
    """
    c = pd.Series(close, dtype=np.float64)
    v = np.asarray(volume, dtype=np.float64)
    pv = np.asarray(vwap, dtype=np.float64) * v
    nonzero = (v != 0).astype(np.float64)

    mom = (c / c.shift(mom_k) - 1.0) * 1e4

    # Window sums are taken from scratch for every window (not pandas' running add/remove,
    # whose residue after a big bar leaves the window is larger than the 1e-9 we test to).
    def trailing_sum(x: npt.NDArray[np.float64], n: int) -> npt.NDArray[np.float64]:
        padded = np.concatenate([np.zeros(n - 1), x])  # "fewer at the start": zeros add nothing
        sums: npt.NDArray[np.float64] = np.lib.stride_tricks.sliding_window_view(padded, n).sum(axis=1)
        return sums

    pv_sum = trailing_sum(pv, vwap_n)
    v_sum = trailing_sum(v, vwap_n)
    with np.errstate(divide="ignore", invalid="ignore"):
        px = pd.Series((c.to_numpy() / (pv_sum / v_sum) - 1.0) * 1e4)
    px[trailing_sum(nonzero, vwap_n) == 0] = np.nan

    # Previous rvol_n bars: the window ending at i-1; undefined for i < rvol_n.
    prev_sum = np.full(v.shape, np.nan)
    prev_nonzero = np.zeros(v.shape)
    if v.size > rvol_n:
        prev_sum[rvol_n:] = trailing_sum(v, rvol_n)[rvol_n - 1 : -1]
        prev_nonzero[rvol_n:] = trailing_sum(nonzero, rvol_n)[rvol_n - 1 : -1]
    with np.errstate(divide="ignore", invalid="ignore"):
        rvol = pd.Series(v / (prev_sum / rvol_n))
    rvol[~(prev_nonzero > 0)] = np.nan
    return pd.DataFrame({"mom_bps": mom, "px_vs_vwap_bps": px, "rvol": rvol})


def assert_nan_positions_equal(
    actual: npt.NDArray[np.float64], expected: npt.NDArray[np.float64], label: str
) -> None:
    """NaN exactly where the reference is NaN, and finite everywhere else."""
    a_nan = np.isnan(actual)
    e_nan = np.isnan(expected)
    diff = np.flatnonzero(a_nan != e_nan)
    assert diff.size == 0, (
        f"{label}: NaN positions differ at {diff[:10].tolist()} "
        f"(actual {actual[diff[:5]].tolist()}, expected {expected[diff[:5]].tolist()})"
    )
    assert np.isfinite(actual[~a_nan]).all(), f"{label}: non-finite value that is not NaN"


def shuffle_within_buckets(
    ts_ns: npt.NDArray[np.int64], bucket_ns: int, rng: np.random.Generator
) -> npt.NDArray[np.int64]:
    """A permutation of row indices that keeps buckets (floor(ts / bucket)) in order but
    shuffles the rows inside each bucket. Input must be sorted by ts."""
    bucket = ts_ns // bucket_ns
    keys = rng.random(len(ts_ns))
    return np.lexsort((keys, bucket)).astype(np.int64)


class FakeClock:
    """A settable int-ns clock for code that takes ``clock=`` (rate windows, back-off,
    breakers, intervals): tests advance it instead of sleeping."""

    def __init__(self, start_ns: int = 1_767_225_600 * 1_000_000_000) -> None:  # 2026-01-01Z
        self.ns = start_ns

    def __call__(self) -> int:
        return self.ns

    def advance(self, seconds: float) -> None:
        self.ns += int(seconds * 1_000_000_000)
