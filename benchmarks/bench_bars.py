"""Bars, features and streaming benchmarks against README.md, Speed, in one run on the same data.

    python benchmarks/bench_bars.py [--quick] [--json PATH] [--repeats N] [--skip-cpp]

Data
    "real": every ``*_Trade_Tick.csv`` day of ``lean_spy_trades_2013-10`` (five SPY
    days, 1,887,460 trades) read with ``montalaq.read_trades`` and concatenated in time
    order. The data folder is ``$MONTALAQ_SHARED_DATA`` or ``<repo>/../shared/data``; if it
    is missing the bundled one-day sample (``montalaq.sample_path("spy")``) is used and the
    output says so. ``--quick`` reads the first day only.

    "tiled": the real series repeated k = ceil(10 M / n) times (``--quick``: 1 M), copy i
    shifted by i whole weeks (the smallest whole number of weeks longer than the real
    span). Timestamps stay sorted, time of day and weekday are kept, and every 1s/1m/5m/15m
    boundary stays a boundary, so each copy yields the same bars as the original.

Measurements (best of N after a warm-up, ``time.perf_counter``; N = 7, 3 for the long
Python loops and chunked ingest, 2 with ``--quick``; ``--repeats`` overrides)
    Threads: ``montalaq.build_bars`` defaults to ``threads=None``, i.e. every core
    (``os.cpu_count()``, printed) up to 8, and uses fewer on small inputs (one per 262,144
    rows); it splits the input at bar boundaries and its result is bit-identical to
    ``threads=1``, which is checked here before anything is timed. Row labels say which
    montalaq setting a row uses and how many threads that comes to on this input.
    1m bars from sorted trades: ``montalaq.build_bars`` vs pandas ``resample("1min")`` and
    polars ``group_by_dynamic("ts", every="1m")``, both computing open/high/low/close,
    volume, vwap = sum(price*size)/sum(size) and the trade count, empty bins dropped. The
    DataFrames are built once beforehand (construction time printed, not billed). The three
    results are checked to agree before anything is timed. The budget rows (>= 20x pandas,
    >= 3x polars) run montalaq with its default threads against pandas (one thread) and
    polars with its default thread pool (size printed). Info rows repeat both comparisons
    with montalaq ``threads=1``, and compare that with polars in a child process under
    POLARS_MAX_THREADS=1. The ">= 150 M/s" absolute row is montalaq ``threads=1``.
    ATR: ``montalaq.compute_features`` (ATR plus three other features) vs ``talib.ATR``;
    both single-threaded.
    Streaming: ``MarketEngine.on_trade`` once per trade from a Python loop; chunked
    ``on_trades`` (sequential by nature: one engine, one thread), whose budget ("within 2x
    of batch") is checked against the batch path at ``threads=1`` (``build_bars`` for
    1m/5m/15m plus ``compute_features`` on each), with an info row against the same batch
    path at its default threads; and the C++ ``montalaq_bench_stream`` binary on the same
    trades (its streaming engine and its batch 1m bars both run on one thread).

C++ timing binary
    ``build/cpp/montalaq_bench_stream`` (or ``$MONTALAQ_CPP_BUILD_DIR``), configured and
    built with cmake (Ninja, ``-DMONTALAQ_BUILD_TESTS=ON``) when missing or older than the
    C++ sources. ``--skip-cpp`` leaves it out (its rows then read SKIP).

The ratio column is always peer time / montalaq time (> 1: montalaq is faster). Budgets
are reported PASS/MISS; the script exits 0 either way (benchmarks are not tests).
"""

from __future__ import annotations

import argparse
import functools
import json
import math
import os
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))

import montalaq
from _common import (
    REPO_ROOT,
    Row,
    best_of,
    fmt_ns,
    fmt_rate,
    fmt_time,
    git_describe,
    machine_info,
    render_table,
    rows_json,
    shared_data_dir,
)

TIMEFRAMES = ("1m", "5m", "15m")
SYMBOL = "SPY"
WEEK_NS = 7 * 86_400 * 1_000_000_000
CPP_BUILD_DIR = Path(os.environ.get("MONTALAQ_CPP_BUILD_DIR", REPO_ROOT / "build" / "cpp"))
CPP_BENCH = CPP_BUILD_DIR / "montalaq_bench_stream"

# README.md, Speed budgets.
BUDGET_VS_PANDAS = 20.0
BUDGET_VS_POLARS = 3.0
BUDGET_ABS_TPS = 150e6
BUDGET_PY_CALL_NS = 1000.0
BUDGET_CHUNKED_VS_BATCH = 0.5  # "within 2x of batch"
BUDGET_CPP_NS = 50.0

# montalaq.build_bars(threads=None) uses min(os.cpu_count(), 8) threads, and fewer when
# the input has under MIN_ROWS_PER_THREAD rows per thread (cpp: min_rows_per_thread).
DEFAULT_THREADS = min(os.cpu_count() or 1, 8)
MIN_ROWS_PER_THREAD = 1 << 18


@dataclass
class Series:
    name: str
    ts: np.ndarray
    price: np.ndarray
    size: np.ndarray

    def __len__(self) -> int:
        return int(self.ts.shape[0])

    @property
    def label(self) -> str:
        n = len(self)
        return f"{self.name} {n / 1e6:.2f}M" if n >= 1e6 else f"{self.name} {n / 1e3:.0f}k"


def log(msg: str) -> None:
    print(f"[bench] {msg}", file=sys.stderr, flush=True)


def threads_used(n: int, threads: int | None = None) -> int:
    """How many threads ``build_bars(..., threads=threads)`` runs on ``n`` trades."""
    asked = DEFAULT_THREADS if threads is None else threads
    return max(1, min(asked, n // MIN_ROWS_PER_THREAD))


def threads_label(n: int, threads: int | None = None) -> str:
    """Row-label text for a montalaq setting: "threads=1" or "default, 2 threads"."""
    if threads is not None:
        return f"threads={threads}"
    k = threads_used(n)
    return f"default, {k} thread{'s' if k != 1 else ''}"


def check_identical(what: str, a: montalaq.Bars, b: montalaq.Bars) -> None:
    """Threaded and one-thread bars must agree bit for bit (the build_bars contract)."""
    ca, cb = a.columns(), b.columns()
    if ca.keys() != cb.keys() or a.stats != b.stats:
        raise AssertionError(f"{what}: threaded and threads=1 bars differ in columns or stats")
    for c in ca:
        x, y = np.asarray(ca[c]), np.asarray(cb[c])
        if x.dtype != y.dtype or x.shape != y.shape or x.tobytes() != y.tobytes():
            raise AssertionError(f"{what}: column {c} differs between threaded and threads=1")


# ---------------------------------------------------------------------------------- data


def load_real(quick: bool) -> tuple[Series, dict[str, Any]]:
    folder = shared_data_dir() / "lean_spy_trades_2013-10"
    files = sorted(folder.glob("*_Trade_Tick.csv"))
    info: dict[str, Any] = {"folder": str(folder)}
    if quick:
        files = files[:1]
    if not files:
        files = [montalaq.sample_path("spy")]
        info["fallback"] = (
            f"shared data not found at {folder} (set MONTALAQ_SHARED_DATA); "
            f"using the bundled one-day sample {files[0].name}"
        )
    parts = [montalaq.read_trades(f) for f in files]
    parts.sort(key=lambda t: int(t.ts_ns[0]) if len(t) else 0)
    ts = np.concatenate([p.ts_ns for p in parts])
    px = np.concatenate([p.price for p in parts])
    sz = np.concatenate([p.size for p in parts])
    if ts.size > 1 and bool((np.diff(ts) < 0).any()):
        order = np.argsort(ts, kind="stable")
        ts, px, sz = ts[order], px[order], sz[order]
        info["sorted"] = "re-sorted (stable) after concatenation"
    info["files"] = [f.name for f in files]
    info["trades"] = int(ts.size)
    return Series("real", ts, px, sz), info


def tile(real: Series, min_trades: int) -> tuple[Series, dict[str, Any]]:
    """Repeat ``real`` until it holds >= ``min_trades``, shifting copy i by i whole weeks."""
    n = len(real)
    k = max(1, math.ceil(min_trades / n))
    span = int(real.ts[-1] - real.ts[0])
    offset = (span // WEEK_NS + 1) * WEEK_NS  # > span, and a multiple of every bar size used
    ts = np.concatenate([real.ts + i * offset for i in range(k)])
    info = {"copies": k, "offset_days": offset // 86_400_000_000_000, "trades": int(ts.size)}
    return Series("tiled", ts, np.tile(real.price, k), np.tile(real.size, k)), info


# --------------------------------------------------------------------------- 1m bar peers


def make_pandas(s: Series) -> Any:
    import pandas as pd

    idx = pd.DatetimeIndex(s.ts.view("datetime64[ns]"), name="ts")
    return pd.DataFrame({"price": s.price, "size": s.size}, index=idx)


def pandas_1m(df: Any) -> Any:
    frame = df.assign(pv=df["price"] * df["size"])
    r = frame.resample("1min", closed="left", label="left")
    out = r["price"].ohlc()
    sums = r[["size", "pv"]].sum()
    out["volume"] = sums["size"]
    out["vwap"] = sums["pv"] / sums["size"]
    out["trades"] = r["price"].count()
    return out[out["trades"] > 0]


def make_polars(s: Series) -> Any:
    import polars as pl

    df = pl.DataFrame({"ts": s.ts, "price": s.price, "size": s.size})
    return df.with_columns(pl.col("ts").cast(pl.Datetime("ns"))).set_sorted("ts")


def polars_1m(df: Any) -> Any:
    import polars as pl

    price, size = pl.col("price"), pl.col("size")
    return df.group_by_dynamic("ts", every="1m", closed="left", label="left").agg(
        price.first().alias("open"),
        price.max().alias("high"),
        price.min().alias("low"),
        price.last().alias("close"),
        size.sum().alias("volume"),
        ((price * size).sum() / size.sum()).alias("vwap"),
        pl.len().alias("trades"),
    )


def polars_one_thread(series: list[Series], repeats: int) -> dict[str, dict[str, float]]:
    """Time ``polars_1m`` in a child process with ``POLARS_MAX_THREADS=1`` on the same arrays.

    Polars fixes its thread pool at import, so a single-threaded figure needs a fresh
    interpreter. The arrays go through .npy files; frame construction is not timed.
    """
    with tempfile.TemporaryDirectory(prefix="montalaq-bench-") as tmp:
        for s in series:
            for col in ("ts", "price", "size"):
                np.save(Path(tmp) / f"{s.name}_{col}.npy", getattr(s, col))
        cmd = [
            sys.executable,
            str(Path(__file__).resolve()),
            "--polars-worker",
            tmp,
            "--repeats",
            str(repeats),
            *(s.name for s in series),
        ]
        env = {**os.environ, "POLARS_MAX_THREADS": "1"}
        proc = subprocess.run(cmd, capture_output=True, text=True, timeout=600, env=env, check=False)
    if proc.returncode != 0:
        raise RuntimeError(f"polars single-thread worker failed: {proc.stderr.strip()[-2000:]}")
    result: dict[str, dict[str, float]] = json.loads(proc.stdout.strip().splitlines()[-1])
    return result


def polars_worker(folder: str, names: list[str], repeats: int) -> int:
    import polars as pl

    out = {}
    for name in names:
        s = Series(name, *(np.load(Path(folder) / f"{name}_{c}.npy") for c in ("ts", "price", "size")))
        df = make_polars(s)
        bars = polars_1m(df).height
        t = best_of(functools.partial(polars_1m, df), repeats)
        out[name] = {"s": t.best_s, "bars": bars, "threads": pl.thread_pool_size()}
    print(json.dumps(out))
    return 0


def montalaq_1m(s: Series, threads: int | None = None) -> montalaq.Bars:
    return montalaq.build_bars(s.ts, s.price, s.size, "1m", threads=threads)


def check_bars_agree(s: Series, m: montalaq.Bars, pd_out: Any, pl_out: Any) -> dict[str, Any]:
    """Bar count, bar starts, closes (exact) and the other columns (to rounding) must agree."""
    pd_start = pd_out.index.asi8
    pl_start = pl_out["ts"].cast(int).to_numpy()
    counts = {"montalaq": len(m), "pandas": len(pd_out), "polars": pl_out.height}
    if len(set(counts.values())) != 1:
        raise AssertionError(f"{s.label}: 1m bar counts differ: {counts}")
    if not (np.array_equal(m.start_ns, pd_start) and np.array_equal(m.start_ns, pl_start)):
        raise AssertionError(f"{s.label}: 1m bar start times differ")
    for name, other in (("pandas", pd_out["close"].to_numpy()), ("polars", pl_out["close"].to_numpy())):
        if not np.array_equal(m.close, other):
            raise AssertionError(f"{s.label}: 1m closes differ from {name}")
    cols = {
        "open": (pd_out["open"], pl_out["open"]),
        "high": (pd_out["high"], pl_out["high"]),
        "low": (pd_out["low"], pl_out["low"]),
        "volume": (pd_out["volume"], pl_out["volume"]),
        "vwap": (pd_out["vwap"], pl_out["vwap"]),
        "trades": (pd_out["trades"], pl_out["trades"]),
    }
    for c, (a, b) in cols.items():
        mine = getattr(m, c)
        if not (np.allclose(mine, a.to_numpy(), rtol=1e-9) and np.allclose(mine, b.to_numpy(), rtol=1e-9)):
            raise AssertionError(f"{s.label}: 1m {c} differs between montalaq and pandas/polars")
    return {"bars": len(m), **counts}


def bench_bars_1m(
    s: Series, repeats: int, rows: list[Row], figures: dict[str, Any], pl1: dict[str, float] | None
) -> montalaq.Bars:
    import polars as pl

    t0 = time.perf_counter()
    pdf = make_pandas(s)
    t_pd_make = time.perf_counter() - t0
    t0 = time.perf_counter()
    pldf = make_polars(s)
    t_pl_make = time.perf_counter() - t0

    mine = montalaq_1m(s, threads=1)
    check_identical(f"{s.label} 1m", montalaq_1m(s), mine)
    agree = check_bars_agree(s, mine, pandas_1m(pdf), polars_1m(pldf))
    log(
        f"{s.label}: 1m bars agree across montalaq/pandas/polars ({agree['bars']} bars); "
        f"montalaq default threads ({threads_used(len(s))}) == threads=1 bit for bit"
    )

    n = len(s)
    mt, m1 = threads_label(n), threads_label(n, 1)
    t_mt = best_of(lambda: montalaq_1m(s), repeats)
    t_m1 = best_of(lambda: montalaq_1m(s, threads=1), repeats)
    t_pd = best_of(lambda: pandas_1m(pdf), repeats)
    t_pl = best_of(lambda: polars_1m(pldf), repeats)
    tps_mt, tps_m1 = n / t_mt.best_s, n / t_m1.best_s
    tps_pd, tps_pl = n / t_pd.best_s, n / t_pl.best_s
    r_pd, r_pl = t_pd.best_s / t_mt.best_s, t_pl.best_s / t_mt.best_s
    r_pd1, r_pl1 = t_pd.best_s / t_m1.best_s, t_pl.best_s / t_m1.best_s
    figures[f"bars_1m_{s.name}"] = {
        "trades": n,
        "bars": agree["bars"],
        "montalaq_threads": threads_used(n),
        "montalaq_s": t_mt.best_s,
        "montalaq_1thread_s": t_m1.best_s,
        "pandas_s": t_pd.best_s,
        "polars_s": t_pl.best_s,
        "montalaq_runs_s": t_mt.runs_s,
        "montalaq_1thread_runs_s": t_m1.runs_s,
        "pandas_runs_s": t_pd.runs_s,
        "polars_runs_s": t_pl.runs_s,
        "montalaq_trades_per_s": tps_mt,
        "montalaq_1thread_trades_per_s": tps_m1,
        "pandas_trades_per_s": tps_pd,
        "polars_trades_per_s": tps_pl,
        "ratio_vs_pandas": r_pd,
        "ratio_vs_polars": r_pl,
        "ratio_1thread_vs_pandas": r_pd1,
        "ratio_1thread_vs_polars": r_pl1,
        "pandas_frame_build_s": t_pd_make,
        "polars_frame_build_s": t_pl_make,
        "polars_threads": pl.thread_pool_size(),
    }
    rows.append(
        Row(
            f"1m bars vs pandas resample, montalaq {mt} [{s.label}]",
            fmt_rate(tps_mt),
            f"pandas {fmt_rate(tps_pd)}",
            r_pd,
            f">= {BUDGET_VS_PANDAS:g}x",
            r_pd >= BUDGET_VS_PANDAS,
        )
    )
    rows.append(
        Row(
            f"1m bars vs polars group_by_dynamic, montalaq {mt} [{s.label}]",
            fmt_rate(tps_mt),
            f"polars {fmt_rate(tps_pl)}",
            r_pl,
            f">= {BUDGET_VS_POLARS:g}x",
            r_pl >= BUDGET_VS_POLARS,
        )
    )
    rows.append(
        Row(
            f"1m bars vs pandas resample, montalaq {m1} [{s.label}]",
            fmt_rate(tps_m1),
            f"pandas {fmt_rate(tps_pd)}",
            r_pd1,
            "- (info)",
            None,
        )
    )
    rows.append(
        Row(
            f"1m bars vs polars group_by_dynamic, montalaq {m1} [{s.label}]",
            fmt_rate(tps_m1),
            f"polars {fmt_rate(tps_pl)}",
            r_pl1,
            "- (info)",
            None,
        )
    )
    if pl1 is not None:
        if pl1["bars"] != agree["bars"]:
            raise AssertionError(f"{s.label}: single-threaded polars gave {pl1['bars']} bars")
        tps_p1, r_p1 = n / pl1["s"], pl1["s"] / t_m1.best_s
        figures[f"bars_1m_{s.name}"].update(
            {
                "polars_1thread_s": pl1["s"],
                "polars_1thread_trades_per_s": tps_p1,
                "ratio_vs_polars_1thread": r_p1,
            }
        )
        rows.append(
            Row(
                f"1m bars vs polars, POLARS_MAX_THREADS=1, montalaq {m1} [{s.label}]",
                fmt_rate(tps_m1),
                f"polars {fmt_rate(tps_p1)}",
                r_p1,
                "- (info)",
                None,
            )
        )
    rows.append(
        Row(
            f"1m bars absolute, montalaq {m1} [{s.label}]",
            fmt_rate(tps_m1),
            "-",
            None,
            f">= {BUDGET_ABS_TPS / 1e6:.0f} M/s",
            tps_m1 >= BUDGET_ABS_TPS,
        )
    )
    return mine


# ----------------------------------------------------------------------------------- ATR


def bench_atr(
    bars: montalaq.Bars, label: str, key: str, repeats: int, rows: list[Row], figures: dict[str, Any]
) -> None:
    import talib

    mine = montalaq.compute_features(bars)
    ref = talib.ATR(bars.high, bars.low, bars.close, timeperiod=14)
    if not np.allclose(mine.atr, ref, rtol=1e-9, atol=1e-12, equal_nan=True):
        raise AssertionError(f"ATR [{label}]: compute_features disagrees with talib.ATR")
    # Small inputs take microseconds: time a batch of calls and divide.
    inner = max(1, int(200_000 // max(len(bars), 1)))

    def batch(fn: Callable[[], Any]) -> Callable[[], None]:
        def run() -> None:
            for _ in range(inner):
                fn()

        return run

    t_m = best_of(batch(lambda: montalaq.compute_features(bars)), repeats)
    t_ta = best_of(batch(lambda: talib.ATR(bars.high, bars.low, bars.close, timeperiod=14)), repeats)
    m_s, ta_s = t_m.best_s / inner, t_ta.best_s / inner
    figures[key] = {
        "bars": len(bars),
        "montalaq_s": m_s,
        "talib_s": ta_s,
        "ratio": ta_s / m_s,
        "calls_per_timing": inner,
        "note": "montalaq computes ATR + mom + px_vs_vwap + rvol",
    }
    rows.append(
        Row(
            f"ATR (4 features) vs talib.ATR [{label}]",
            fmt_time(m_s),
            f"talib {fmt_time(ta_s)}",
            ta_s / m_s,
            "- (none)",
            None,
        )
    )


# ----------------------------------------------------------------------------- streaming


def _noop(symbol: str, ts: int, price: float, size: float) -> None:
    return None


def bench_on_trade(s: Series, n_calls: int, repeats: int, rows: list[Row], figures: dict[str, Any]) -> None:
    n = min(n_calls, len(s))
    tl, pl_, ql = s.ts[:n].tolist(), s.price[:n].tolist(), s.size[:n].tolist()
    holder: dict[str, montalaq.MarketEngine] = {}

    def run_engine() -> None:
        eng = montalaq.MarketEngine(TIMEFRAMES)
        on_trade = eng.on_trade
        sym = SYMBOL
        for t, p, q in zip(tl, pl_, ql, strict=True):
            on_trade(sym, t, p, q)
        holder["eng"] = eng

    def run_empty() -> None:
        fn = _noop
        sym = SYMBOL
        for t, p, q in zip(tl, pl_, ql, strict=True):
            fn(sym, t, p, q)

    t_e = best_of(run_engine, repeats)
    stats = holder["eng"].stats(SYMBOL)
    if stats["ACCEPTED"] != n:
        raise AssertionError(f"on_trade: {stats['ACCEPTED']} of {n} trades accepted")
    t_0 = best_of(run_empty, repeats)
    ns, ns0 = t_e.best_s / n * 1e9, t_0.best_s / n * 1e9
    figures["py_on_trade"] = {
        "calls": n,
        "ns_per_call": ns,
        "empty_loop_ns_per_call": ns0,
        "net_ns_per_call": ns - ns0,
        "runs_s": t_e.runs_s,
        "bars_closed": int(stats["bars_closed"]),
    }
    rows.append(
        Row(
            f"on_trade per call, Python loop, 3 tf [{n / 1e6:.2f}M calls]",
            fmt_ns(ns),
            f"empty call {fmt_ns(ns0)}",
            ns0 / ns,
            f"<= {BUDGET_PY_CALL_NS:.0f} ns",
            ns <= BUDGET_PY_CALL_NS,
        )
    )


def batch_3tf(s: Series, threads: int | None = None) -> dict[str, montalaq.Bars]:
    bars = montalaq.build_bars(s.ts, s.price, s.size, TIMEFRAMES, threads=threads)
    for b in bars.values():
        montalaq.compute_features(b)
    return bars


def bench_chunked(
    s: Series, chunks: tuple[int, ...], repeats: int, rows: list[Row], figures: dict[str, Any]
) -> None:
    n = len(s)
    batch = batch_3tf(s, threads=1)
    threaded = batch_3tf(s)
    for tf in TIMEFRAMES:
        check_identical(f"{s.label} {tf}", threaded[tf], batch[tf])
    del threaded
    expected_closed = sum(len(b) - 1 for b in batch.values())  # the last bar of each stays open
    b1, bt = threads_label(n, 1), threads_label(n)
    t_b = best_of(lambda: batch_3tf(s, threads=1), repeats)
    t_bt = best_of(lambda: batch_3tf(s), repeats)
    tps_b, tps_bt = n / t_b.best_s, n / t_bt.best_s
    figures["batch_3tf_features"] = {
        "trades": n,
        "threads": 1,
        "s": t_b.best_s,
        "trades_per_s": tps_b,
        "bars": {k: len(v) for k, v in batch.items()},
    }
    figures["batch_3tf_features_threaded"] = {
        "trades": n,
        "threads": threads_used(n),
        "s": t_bt.best_s,
        "trades_per_s": tps_bt,
    }
    for chunk in chunks:
        holder: dict[str, montalaq.MarketEngine] = {}

        def run(chunk: int = chunk, holder: dict[str, montalaq.MarketEngine] = holder) -> None:
            eng = montalaq.MarketEngine(TIMEFRAMES)
            for i in range(0, n, chunk):
                j = i + chunk
                eng.on_trades(SYMBOL, s.ts[i:j], s.price[i:j], s.size[i:j])
            holder["eng"] = eng

        t_c = best_of(run, repeats)
        stats = holder["eng"].stats(SYMBOL)
        if stats["ACCEPTED"] != n or stats["bars_closed"] != expected_closed:
            raise AssertionError(
                f"on_trades chunk={chunk}: {stats['ACCEPTED']} accepted, "
                f"{stats['bars_closed']} bars closed; expected {n}, {expected_closed}"
            )
        tps_c = n / t_c.best_s
        ratio, ratio_t = t_b.best_s / t_c.best_s, t_bt.best_s / t_c.best_s
        figures[f"chunked_{chunk}"] = {
            "trades": n,
            "chunk": chunk,
            "s": t_c.best_s,
            "trades_per_s": tps_c,
            "ns_per_trade": t_c.best_s / n * 1e9,
            "ratio_vs_batch": ratio,
            "ratio_vs_batch_threaded": ratio_t,
            "runs_s": t_c.runs_s,
        }
        rows.append(
            Row(
                f"on_trades chunks of {chunk // 1000}k vs batch {b1}, 3 tf+features [{s.label}]",
                fmt_rate(tps_c),
                f"batch {fmt_rate(tps_b)}",
                ratio,
                f">= {BUDGET_CHUNKED_VS_BATCH:.2f}x (2x)",
                ratio >= BUDGET_CHUNKED_VS_BATCH,
            )
        )
        rows.append(
            Row(
                f"on_trades chunks of {chunk // 1000}k vs batch {bt}, 3 tf+features [{s.label}]",
                fmt_rate(tps_c),
                f"batch {fmt_rate(tps_bt)}",
                ratio_t,
                "- (info)",
                None,
            )
        )


# ------------------------------------------------------------------------------------ C++


def _newest_source_mtime() -> float:
    paths = [REPO_ROOT / "CMakeLists.txt"]
    for d in ("cpp", "benchmarks/cpp"):
        paths += [p for p in (REPO_ROOT / d).rglob("*") if p.is_file()]
    return max(p.stat().st_mtime for p in paths if p.exists())


def ensure_cpp_bench() -> tuple[Path | None, str]:
    """The timing binary, (re)built when missing or older than the C++ sources."""
    if CPP_BENCH.exists() and CPP_BENCH.stat().st_mtime >= _newest_source_mtime():
        return CPP_BENCH, "up to date"
    steps = []
    if not (CPP_BUILD_DIR / "CMakeCache.txt").exists():
        steps.append(
            [
                "cmake",
                "-S",
                str(REPO_ROOT),
                "-B",
                str(CPP_BUILD_DIR),
                "-G",
                "Ninja",
                "-DMONTALAQ_BUILD_TESTS=ON",
            ]
        )
    steps.append(["cmake", "--build", str(CPP_BUILD_DIR), "--target", "montalaq_bench_stream"])
    for cmd in steps:
        log("building: " + " ".join(cmd))
        try:
            proc = subprocess.run(cmd, capture_output=True, text=True, timeout=900, check=False)
        except (OSError, subprocess.TimeoutExpired) as exc:
            return None, f"build failed: {exc}"
        if proc.returncode != 0:
            tail = (proc.stdout + proc.stderr).strip().splitlines()[-5:]
            return None, "build failed: " + " / ".join(tail)
    return (CPP_BENCH, "built") if CPP_BENCH.exists() else (None, "build produced no binary")


def bench_cpp(s: Series, repeats: int, rows: list[Row], figures: dict[str, Any], skip: bool = False) -> None:
    name = f"C++ on_trade, 3 tf + features, per trade [{s.label}]"
    batch_name = f"C++ batch 1m bars, threads=1, no Python [{s.label}]"
    chunked_name = f"C++ on_trades chunks of 10k, 3 tf + features, per trade [{s.label}]"
    binary, how = (None, "--skip-cpp") if skip else ensure_cpp_bench()
    if binary is None:
        figures["cpp"] = {"skipped": how}
        rows.append(Row(name, "n/a", "-", None, f"<= {BUDGET_CPP_NS:.0f} ns", status="SKIP"))
        rows.append(Row(chunked_name, "n/a", "-", None, "-", status="SKIP"))
        rows.append(Row(batch_name, "n/a", "-", None, "-", status="SKIP"))
        log(f"C++ benchmark skipped: {how}")
        return
    packed = np.empty(len(s), dtype=[("t", "<i8"), ("p", "<f8"), ("s", "<f8")])
    packed["t"], packed["p"], packed["s"] = s.ts, s.price, s.size
    with tempfile.TemporaryDirectory(prefix="montalaq-bench-") as tmp:
        path = Path(tmp) / "trades.bin"
        packed.tofile(path)
        del packed
        proc = subprocess.run(
            [str(binary), str(path), str(repeats)], capture_output=True, text=True, timeout=600, check=False
        )
    if proc.returncode != 0:
        raise RuntimeError(f"{binary.name} exited {proc.returncode}: {proc.stderr.strip()}")
    out = json.loads(proc.stdout.strip().splitlines()[-1])
    if out["trades"] != len(s):
        raise AssertionError(f"{binary.name} read {out['trades']} trades, wrote {len(s)}")
    ns, tps = float(out["stream_ns_per_trade"]), float(out["batch_1m_trades_per_s"])
    figures["cpp"] = {**out, "binary": str(binary), "binary_status": how, "repeats": repeats}
    rows.append(Row(name, fmt_ns(ns), "-", None, f"<= {BUDGET_CPP_NS:.0f} ns", ns <= BUDGET_CPP_NS))
    chunked_ns = float(out["chunked_ns_per_trade"])
    rows.append(Row(chunked_name, fmt_ns(chunked_ns), "-", None, "- (info)", None))
    rows.append(Row(batch_name, fmt_rate(tps), "-", None, "- (info)", None))


# ----------------------------------------------------------------------------------- main


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--quick", action="store_true", help="small sizes for a smoke run (seconds)")
    ap.add_argument("--json", metavar="PATH", help="also write every figure as JSON to PATH")
    ap.add_argument("--repeats", type=int, default=None, help="timed runs per measurement (best is kept)")
    ap.add_argument("--skip-cpp", action="store_true", help="do not build/run the C++ streaming binary")
    ap.add_argument("--polars-worker", metavar="DIR", help=argparse.SUPPRESS)
    ap.add_argument("names", nargs="*", help=argparse.SUPPRESS)
    args = ap.parse_args(argv)
    if args.polars_worker:
        return polars_worker(args.polars_worker, args.names, args.repeats or 5)

    quick = args.quick
    repeats = args.repeats or (2 if quick else 7)
    slow_repeats = args.repeats or (2 if quick else 3)  # the long Python loops
    min_tiled = 1_000_000 if quick else 10_000_000
    py_calls = 50_000 if quick else 1_000_000
    chunks = (10_000, 100_000)
    t_start = time.perf_counter()

    import pandas as pd
    import polars as pl
    import talib

    real, data_info = load_real(quick)
    tiled, tile_info = tile(real, min_tiled)
    log(
        f"data: {real.label} from {data_info['files']}; {tiled.label} = {tile_info['copies']} copies "
        f"shifted by {tile_info['offset_days']} days"
    )

    rows: list[Row] = []
    figures: dict[str, Any] = {}

    log("1m bars: polars with one thread (child process)")
    pl1 = polars_one_thread([real, tiled], repeats)
    log("1m bars: montalaq vs pandas vs polars")
    bars_real = bench_bars_1m(real, repeats, rows, figures, pl1.get("real"))
    bench_bars_1m(tiled, repeats, rows, figures, pl1.get("tiled"))

    log("ATR")
    bench_atr(bars_real, f"1m bars, {len(bars_real):,}", "atr_1m_real", repeats, rows, figures)
    bars_1s = montalaq.build_bars(tiled.ts, tiled.price, tiled.size, "1s")
    bench_atr(bars_1s, f"1s bars of tiled, {len(bars_1s):,}", "atr_1s_tiled", repeats, rows, figures)
    del bars_1s

    log("streaming through Python")
    bench_on_trade(real, py_calls, slow_repeats, rows, figures)
    bench_chunked(tiled, chunks, slow_repeats, rows, figures)

    log("C++ streaming")
    bench_cpp(tiled, repeats, rows, figures, skip=args.skip_cpp)

    elapsed = time.perf_counter() - t_start
    b_real, b_tiled = figures["bars_1m_real"], figures["bars_1m_tiled"]
    mode = "quick" if quick else "full"
    print(
        f"montalaq {montalaq.__version__} ({git_describe()}) benchmarks, {mode} mode, "
        f"best of {repeats} (Python loops / chunked: best of {slow_repeats}) after a warm-up"
    )
    if "fallback" in data_info:
        print(f"NOTE: {data_info['fallback']}")
    print(f"data: real = {len(real):,} trades from {', '.join(data_info['files'])}")
    print(
        f"      tiled = {len(tiled):,} trades: real x {tile_info['copies']}, copy i shifted by "
        f"i x {tile_info['offset_days']} days (sorted, bar boundaries kept)"
    )
    print(
        f"peers: pandas {pd.__version__}, polars {pl.__version__} ({pl.thread_pool_size()} threads), "
        f"TA-Lib {talib.__version__}"
    )
    print(
        f"threads: os.cpu_count() = {os.cpu_count()}; montalaq.build_bars default (threads=None) = "
        f"{DEFAULT_THREADS} (min(cpu_count, 8)), fewer below {MIN_ROWS_PER_THREAD:,} trades per thread: "
        f"{threads_used(len(real))} on real, {threads_used(len(tiled))} on tiled"
    )
    print(
        f"DataFrame construction, not timed: pandas {fmt_time(b_real['pandas_frame_build_s'])} / "
        f"{fmt_time(b_tiled['pandas_frame_build_s'])}, polars {fmt_time(b_real['polars_frame_build_s'])} / "
        f"{fmt_time(b_tiled['polars_frame_build_s'])} (real / tiled)"
    )
    print("ratio = peer time / montalaq time (> 1: montalaq faster)")
    print()
    print(render_table(rows))
    print()
    py = figures["py_on_trade"]
    print(
        f"on_trade: {py['ns_per_call']:.0f} ns per call, of which an empty Python call with the same "
        f"arguments costs {py['empty_loop_ns_per_call']:.0f} ns (net {py['net_ns_per_call']:.0f} ns)"
    )
    misses = [r.measurement for r in rows if r.verdict == "MISS"]
    print(f"budget misses: {len(misses)}" + ("" if not misses else " -> " + "; ".join(misses)))
    print(f"total time {elapsed:.1f} s")

    if args.json:
        doc = {
            "mode": "quick" if quick else "full",
            "repeats": repeats,
            "slow_repeats": slow_repeats,
            "montalaq": montalaq.__version__,
            "git": git_describe(),
            "module": str(Path(montalaq.__file__).resolve().parent),
            "peers": {
                "pandas": pd.__version__,
                "polars": pl.__version__,
                "talib": talib.__version__,
                "numpy": np.__version__,
                "polars_threads": pl.thread_pool_size(),
            },
            "montalaq_threads": {
                "default": DEFAULT_THREADS,
                "real": threads_used(len(real)),
                "tiled": threads_used(len(tiled)),
            },
            "machine": machine_info(),
            "data": {"real": data_info, "tiled": tile_info},
            "figures": figures,
            "rows": rows_json(rows),
            "elapsed_s": elapsed,
        }
        Path(args.json).write_text(json.dumps(doc, indent=2, default=float) + "\n")
        print(f"wrote {args.json}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
