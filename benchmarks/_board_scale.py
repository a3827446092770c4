"""Board scale-out figures for bench_health.py (issue 16; docs/semantics.md, "Health core":
pairs, "Binary snapshots"): an engine as the tick source against a prepared int64 array,
and the board's binary snapshot against its JSON document.

Engine ticks: for each shape (20,000 symbols x 5 timeframes and 100,000 symbols x 1m;
``--quick``: 2,000 x 5 and 10,000 x 1) a real MarketEngine gets one trade per symbol, 0-60 s
before the first cycle (seeded), and two boards with the same pairs walk the same cycles,
1 s apart: ``engine`` is ``board.evaluate(now, engine)`` (the README's tour), ``array`` is
``board.evaluate(now, ticks)`` with the int64 array of the same times in ``pairs()`` order,
built before the clock starts. Between cycles 1% of the symbols trade again (not timed).
The two boards' events are checked equal every cycle and their snapshots at the end. The
first engine cycle, which registers the pairs and builds the board's index map, is
reported apart.

Snapshot: the escalation benchmark's board after its last cycle (realistic state: failures,
open breakers, every level). ``to_bytes`` / ``from_bytes`` R times (10, 3 with ``--quick``),
``to_json`` / ``from_json`` 2 times (they take seconds); median and min. The loaded board
is kept alive until the clock stops, so its predecessor's destruction is not billed to it.
The thread's CPU time of the same calls is reported beside the wall clock.
The round trip is checked: ``from_bytes(b.to_bytes()).to_json() == b.to_json()``.
"""

from __future__ import annotations

import gc
import statistics
import time
from typing import Any

import numpy as np

from _common import Row, fmt_time
from montalaq import MarketEngine
from montalaq.health import EscalationBoard

BUDGET_S = 10e-3  # issue 16: engine-tick cycle, snapshot save, snapshot load at 100k pairs
NS = 1_000_000_000
T0_NS = 1_767_225_600 * NS
SEED = 20_260_116


def _med_min(runs: list[float]) -> dict[str, float]:
    return {"median_s": statistics.median(runs), "min_s": min(runs), "max_s": max(runs)}


def _engine_shape(n_symbols: int, timeframes: tuple[str, ...], cycles: int) -> dict[str, Any]:
    rng = np.random.default_rng(SEED)
    symbols = [f"SYM{i:06d}" for i in range(n_symbols)]
    engine = MarketEngine(timeframes)
    for sym, age in zip(symbols, rng.integers(0, 60 * NS, size=n_symbols).tolist(), strict=True):
        engine.on_trade(sym, T0_NS - age, 100.0, 1.0)
    by_engine, by_array = EscalationBoard(), EscalationBoard()
    now = T0_NS
    gc.collect()
    t0 = time.perf_counter()
    first = by_engine.evaluate(now, engine)
    first_s = time.perf_counter() - t0
    by_array.add_pairs(symbols, timeframes)
    by_array.evaluate(now, np.repeat(engine._last_trade_ns(), len(timeframes)))
    runs: dict[str, list[float]] = {"engine": [], "array": []}
    for _ in range(cycles):
        now += NS
        for i in rng.choice(n_symbols, size=max(1, n_symbols // 100), replace=False).tolist():
            engine.on_trade(symbols[i], now - NS // 2, 100.0, 1.0)
        ticks = np.repeat(engine._last_trade_ns(), len(timeframes))
        gc.collect()
        t0 = time.perf_counter()
        ev_engine = by_engine.evaluate(now, engine)
        t1 = time.perf_counter()
        gc.collect()
        t2 = time.perf_counter()
        ev_array = by_array.evaluate(now, ticks)
        t3 = time.perf_counter()
        if ev_engine != ev_array:
            raise AssertionError(f"engine and array paths differ: {len(ev_engine)} vs {len(ev_array)} events")
        runs["engine"].append(t1 - t0)
        runs["array"].append(t3 - t2)
    if by_engine.to_bytes() != by_array.to_bytes():
        raise AssertionError("engine and array boards differ after the cycles")
    return {
        "symbols": n_symbols,
        "timeframes": list(timeframes),
        "pairs": len(by_engine),
        "first_cycle_s": first_s,
        "first_cycle_events": len(first),
        "engine": _med_min(runs["engine"]),
        "array": _med_min(runs["array"]),
        "engine_runs_s": runs["engine"],
        "array_runs_s": runs["array"],
    }


def bench_engine_ticks(quick: bool, cycles: int, rows: list[Row], figures: dict[str, Any]) -> None:
    scale = 10 if quick else 1
    out = []
    for n_symbols, tfs in ((20_000 // scale, ("1m", "5m", "15m", "1h", "4h")), (100_000 // scale, ("1m",))):
        fig = _engine_shape(n_symbols, tfs, cycles)
        out.append(fig)
        eng, arr = fig["engine"], fig["array"]
        tag = f"{fig['symbols']:,} symbols x {len(tfs)} tf = {fig['pairs'] / 1e3:.0f}k pairs, {cycles} cycles"
        rows.append(
            Row(
                f"escalation cycle, evaluate(now, engine), median [{tag}]",
                fmt_time(eng["median_s"]),
                f"int64 array {fmt_time(arr['median_s'])}",
                arr["median_s"] / eng["median_s"],
                f"<= {BUDGET_S * 1e3:.0f} ms",
                eng["median_s"] <= BUDGET_S,
            )
        )
        rows.append(
            Row(
                f"first evaluate(now, engine): registers the pairs, builds the map [{tag}]",
                fmt_time(fig["first_cycle_s"]),
                budget="- (info)",
            )
        )
    figures["engine_ticks"] = out


def _timed_runs(fn: Any, repeats: int, cpu: list[float] | None = None) -> tuple[list[float], Any]:
    """Wall times of ``repeats`` calls (and the thread's CPU times into ``cpu``: on a shared
    machine the wall clock also counts the time other processes had the core)."""
    runs, out = [], None
    for _ in range(repeats):
        out = None  # the previous result is freed before the clock starts
        gc.collect()
        c0, t0 = time.thread_time(), time.perf_counter()
        out = fn()
        runs.append(time.perf_counter() - t0)
        if cpu is not None:
            cpu.append(time.thread_time() - c0)
    return runs, out


def bench_snapshot(board: EscalationBoard, repeats: int, rows: list[Row], figures: dict[str, Any]) -> None:
    save_cpu: list[float] = []
    load_cpu: list[float] = []
    save, data = _timed_runs(board.to_bytes, repeats, save_cpu)
    load, loaded = _timed_runs(lambda: EscalationBoard.from_bytes(data), repeats, load_cpu)
    jsave, text = _timed_runs(board.to_json, 2)
    jload, _ = _timed_runs(lambda: EscalationBoard.from_json(text), 2)
    if loaded.to_json() != text or loaded.to_bytes() != data:
        raise AssertionError("from_bytes(to_bytes(board)) differs from the board")
    fig: dict[str, Any] = {
        "pairs": len(board),
        "bytes": len(data),
        "json_bytes": len(text.encode()),
        "to_bytes": _med_min(save),
        "from_bytes": _med_min(load),
        "to_json": _med_min(jsave),
        "from_json": _med_min(jload),
        "to_bytes_cpu": _med_min(save_cpu),
        "from_bytes_cpu": _med_min(load_cpu),
        "runs_s": {"to_bytes": save, "from_bytes": load, "to_json": jsave, "from_json": jload},
    }
    figures["snapshot"] = fig
    tag = f"{len(board) / 1e3:.0f}k pairs, {len(data) / 1e6:.1f} MB (JSON {fig['json_bytes'] / 1e6:.0f} MB)"
    for name, peer, budget_row in (("to_bytes", "to_json", "save"), ("from_bytes", "from_json", "load")):
        mine, theirs = fig[name]["median_s"], fig[peer]["median_s"]
        rows.append(
            Row(
                f"board snapshot {budget_row}: {name}, median of {repeats} [{tag}]",
                fmt_time(mine),
                f"{peer} {fmt_time(theirs)}",
                theirs / mine,
                f"<= {BUDGET_S * 1e3:.0f} ms",
                mine <= BUDGET_S,
            )
        )
