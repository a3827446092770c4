"""Health core benchmarks against README.md, Speed: escalation over 100,000 pairs, breaker vs pybreaker.

    python benchmarks/bench_health.py [--quick] [--json PATH] [--repeats N] [--cycles N]

Escalation (docs/semantics.md, Health core, budget: <= 10 ms per cycle over 100,000 pairs)
    20,000 symbols x 5 timeframes (1m, 5m, 15m, 1h, 4h) = 100,000 pairs (``--quick``:
    2,000 x 5 = 10,000), registered with ``EscalationBoard.add_pairs`` (not timed) on a
    board with ``auto_close_cycles=3`` and otherwise default thresholds. The cycles are
    60 s apart. A seeded workload gives every cycle the same kind of realistic mix:
    each pair has a freshness class (about 95.5% GREEN, 2.5% AMBER, 2% RED, plus 0.5%
    that never traded), and 1% of the pairs draw a new class each cycle, so some go
    stale (ERROR, then their breaker opens, then CRITICAL) and some recover (INFO again,
    breaker auto-closed after 3 clean GREEN cycles); 0.3% of the pairs are "flaky" and
    record an analysis failure with probability 0.3 per cycle (WARN/ERROR from fails_5m,
    breakers opening on persistent ERROR). Failures are recorded between cycles with
    ``record_failure`` (not timed: in production workers record them as they happen).
    The last-trade times of every pair are drawn anew each cycle from its class.

    One cycle is timed as a whole, ``perf_counter`` around the call, on consecutive
    cycles after warm-up cycles (the first cycles carry the initial burst: every stale
    pair escalates at once). No best-of here: each cycle has a different state, so the
    median and the max over the measured cycles are reported. Four implementations walk
    the same cycles in lockstep (interleaved within each cycle, so machine noise hits
    all of them alike), each on its own board:
      array   ``board.evaluate(now, last_tick_ns=<int64 array in pairs() order>)``, the
              budget row;
      dict    ``board.evaluate(now, last_tick_ns={(symbol, timeframe): ts_ns})``, the
              same ticks as a mapping (the dict is built before the clock starts);
      preset  the ticks uploaded first with the board's ``set_last_ticks`` (what
              the array path does inside; timed separately), then ``board.evaluate(now)``
              with ``last_tick_ns=None``: the cycle itself, events included;
      peer    a straightforward pure-Python implementation of the same ladder: a
              ``@dataclass(slots=True)`` per pair, thresholds precomputed per pair, one
              loop; its cycle is ingest (``ticks.tolist()`` into the pairs) + evaluate,
              timed separately. It returns the same event dicts (``at`` a datetime).
    The four event streams are checked to be identical (kind, symbol, timeframe, old,
    new, last_error_code, in order) on every cycle, warm-up included, before any figure
    is reported. The garbage collector stays on; everything built during setup is
    moved out of its way with ``gc.freeze()`` and a collection runs before each timed
    call, so no implementation pays for another's garbage.

Circuit breaker (docs/semantics.md, Health core, budget: allow/record >= 20x faster than pybreaker from
Python)
    Steady state: N = 200,000 protected calls (``--quick``: 20,000) of a trivial function
    that raises on 1 call in 50, thresholds far above what the run reaches so neither
    breaker opens (montalaq ``failure_threshold=1_000_000``, pybreaker
    ``fail_max=1_000_000``); a fresh breaker per run. montalaq three ways:
      explicit   ``if allow(): try: fn() ... record_success() / record_failure()`` with
                 ``now=None`` (the binding reads the wall clock): "allow/record from
                 Python", the variant that carries the budget;
      call       ``breaker.call(fn, arg)`` (native allow + call + record, pybreaker's API);
      decorator  ``@breaker``;
      with       ``with breaker: fn()``;
    and pybreaker 1.x two ways: ``breaker.call(fn, arg)`` and its ``@breaker`` decorator.
    Bound methods are hoisted into locals on both sides. Figures are the whole loop
    divided by N (loop, the call of the function, the raise and catch of its failures and
    the breaker); the same loop unprotected is measured too. The budget is about what
    allow/record cost, so its row compares overheads: explicit minus unprotected vs
    ``pybreaker.call`` minus unprotected. The same pair with nothing subtracted, ``call``,
    the decorators (like for like) and ``with`` (pybreaker has no context manager; its peer
    is ``call``) are INFO rows.
    Failing dependency: both breakers tripped beforehand (5 failures, cooldown 1 h), then
    N calls that are all rejected: explicit (``allow()`` is False, the call is skipped),
    decorator and ``with`` (``CircuitOpenError`` raised and caught) vs pybreaker's
    ``call`` and decorator (``CircuitBreakerError`` raised and caught). Reported as
    rejected calls per second. The explicit row carries the budget (it is ``allow``).
    Best of R runs after a warm-up (R = 5, 2 with ``--quick``; ``--repeats`` overrides).
    The breakers' own counters are checked after the runs (calls allowed, failures,
    rejections, state).

Board scale-out (issue 16; budgets: <= 10 ms per cycle with an engine as the tick source,
<= 10 ms to save and to load a 100,000-pair board snapshot): see _board_scale.py.

The ratio column is always peer time / montalaq time (> 1: montalaq is faster). Budgets
are reported PASS/MISS; the script exits 0 either way (benchmarks are not tests).
"""

from __future__ import annotations

import argparse
import contextlib
import gc
import json
import statistics
import sys
import time
from bisect import insort
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from importlib.metadata import version
from pathlib import Path
from typing import Any

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))

import montalaq
from _board_scale import bench_engine_ticks, bench_snapshot
from _common import (
    Row,
    best_of,
    fmt_ns,
    fmt_rate,
    fmt_time,
    git_describe,
    machine_info,
    render_table,
    rows_json,
)
from montalaq.health import BreakerState, CircuitBreaker, CircuitOpenError, EscalationBoard

# README.md, Speed budgets.
BUDGET_CYCLE_S = 10e-3
BUDGET_VS_PYBREAKER = 20.0

TIMEFRAMES = ("1m", "5m", "15m", "1h", "4h")
NS = 1_000_000_000
CYCLE_NS = 60 * NS
T0_NS = 1_767_225_600 * NS  # 2026-01-01T00:00:00Z
AUTO_CLOSE_CYCLES = 3
SEED = 20_260_101

# Workload mix (fractions of pairs).
GREEN, AMBER, RED, NEVER = 0, 1, 2, 3
CLASS_P = (0.955, 0.025, 0.02)  # GREEN, AMBER, RED among pairs that trade
NEVER_FRACTION = 0.005
REDRAW_FRACTION = 0.01  # pairs that draw a new class each cycle
FLAKY_FRACTION = 0.003
FLAKY_FAIL_P = 0.3
ERROR_CODES = ("ANALYSIS_ERR", "INGESTION_TIMEOUT", "PROVIDER_DISCONNECTED", "UNKNOWN")
# Age of the last trade, in timeframes, drawn uniformly per class (amber after 1.5 tf, red after 3 tf).
AGE_RANGE = {GREEN: (0.0, 1.4), AMBER: (1.6, 2.9), RED: (3.1, 20.0)}


def log(msg: str) -> None:
    print(f"[bench] {msg}", file=sys.stderr, flush=True)


# ------------------------------------------------------------------- pure-Python peer ladder

PEER_LEVELS = ("INFO", "WARN", "ERROR", "CRITICAL")
P_INFO, P_WARN, P_ERROR, P_CRITICAL = range(4)
P_GREEN, P_AMBER, P_RED = "GREEN", "AMBER", "RED"
_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)


@dataclass(slots=True)
class PeerPair:
    symbol: str
    timeframe: str
    amber_after_ns: int
    red_after_ns: int
    last_tick_ns: int = 0
    last_eval_ns: int = 0
    colour: str = P_RED
    level: int = P_INFO
    breaker_open: bool = False
    amber_streak: int = 0
    red_streak: int = 0
    error_streak: int = 0
    clean_green_streak: int = 0
    failures: deque[tuple[int, str]] = field(default_factory=deque)
    last_error_code: str | None = None
    breaker_changed_ns: int = 0
    breaker_reason: str = ""


class PeerBoard:
    """docs/semantics.md, Health core as one would write it in plain Python, same defaults as
    EscalationBoard."""

    def __init__(
        self,
        auto_close_cycles: int = 0,
        critical_red_streak: int = 3,
        error_fails: int = 3,
        warn_amber_streak: int = 2,
        warn_fails: int = 2,
        breaker_red_streak: int = 2,
        breaker_error_streak: int = 3,
        fail_window_ns: int = 300 * NS,
        max_failures_kept: int = 1_000,
        amber_mult: float = 1.5,
        red_mult: float = 3.0,
    ) -> None:
        self.auto_close_cycles = auto_close_cycles
        self.critical_red_streak = critical_red_streak
        self.error_fails = error_fails
        self.warn_amber_streak = warn_amber_streak
        self.warn_fails = warn_fails
        self.breaker_red_streak = breaker_red_streak
        self.breaker_error_streak = breaker_error_streak
        self.fail_window_ns = fail_window_ns
        self.max_failures_kept = max_failures_kept
        self.amber_mult, self.red_mult = amber_mult, red_mult
        self.pairs: list[PeerPair] = []

    def add_pair(self, symbol: str, timeframe: str, tf_ns: int) -> int:
        self.pairs.append(
            PeerPair(symbol, timeframe, round(tf_ns * self.amber_mult), round(tf_ns * self.red_mult))
        )
        return len(self.pairs) - 1

    def record_failure(self, pair: int, at_ns: int, code: str) -> None:
        p = self.pairs[pair]
        q = p.failures
        if not q or q[-1][0] <= at_ns:
            q.append((at_ns, code))
        else:  # out of order: keep the deque sorted by time
            insort(q, (at_ns, code), key=lambda f: f[0])
        while len(q) > self.max_failures_kept:
            q.popleft()
        if q[-1][0] == at_ns:
            p.last_error_code = code

    def set_last_ticks(self, ticks: list[int]) -> None:
        for p, t in zip(self.pairs, ticks, strict=True):
            p.last_tick_ns = t

    def _event(self, kind: str, p: PeerPair, old: str, new: str, reason: str, now: int) -> dict[str, Any]:
        return {
            "kind": kind,
            "symbol": p.symbol,
            "timeframe": p.timeframe,
            "old": old,
            "new": new,
            "reason": reason,
            "at": _EPOCH + timedelta(microseconds=now // 1_000),
            "at_ns": now,
            "last_error_code": p.last_error_code,
        }

    def evaluate(self, now: int) -> list[dict[str, Any]]:
        events: list[dict[str, Any]] = []
        cutoff = now - self.fail_window_ns
        for p in self.pairs:
            last = p.last_tick_ns
            if last <= 0:
                col = P_RED
            else:
                age = now - last if now > last else 0
                col = P_GREEN if age <= p.amber_after_ns else P_AMBER if age <= p.red_after_ns else P_RED
            q = p.failures
            while q and q[0][0] <= cutoff:
                q.popleft()
            fails = len(q)
            was_open = p.breaker_open
            p.amber_streak = p.amber_streak + 1 if col == P_AMBER else 0
            p.red_streak = p.red_streak + 1 if col == P_RED else 0

            if p.red_streak >= self.critical_red_streak:
                lvl, why = P_CRITICAL, "freshness RED for consecutive cycles"
            elif was_open:
                lvl, why = P_CRITICAL, "breaker open"
            elif col == P_RED:
                lvl, why = P_ERROR, "freshness RED"
            elif fails >= self.error_fails:
                lvl, why = P_ERROR, "analysis failures in the window"
            elif p.amber_streak >= self.warn_amber_streak:
                lvl, why = P_WARN, "freshness AMBER for consecutive cycles"
            elif fails >= self.warn_fails:
                lvl, why = P_WARN, "analysis failures in the window"
            else:
                lvl, why = P_INFO, "healthy"
            p.error_streak = p.error_streak + 1 if lvl >= P_ERROR else 0
            p.clean_green_streak = p.clean_green_streak + 1 if col == P_GREEN and fails == 0 else 0
            p.colour = col
            p.last_eval_ns = now

            if lvl != p.level:
                reason = (
                    f"{why} (colour {col}, red_streak {p.red_streak}, amber_streak {p.amber_streak}, "
                    f"fails_5m {fails})"
                )
                events.append(self._event("level", p, PEER_LEVELS[p.level], PEER_LEVELS[lvl], reason, now))
                p.level = lvl
            if not p.breaker_open:
                red = p.red_streak >= self.breaker_red_streak
                if red or p.error_streak >= self.breaker_error_streak:
                    p.breaker_open = True
                    p.breaker_changed_ns = now
                    p.breaker_reason = (
                        f"red_streak {p.red_streak} >= {self.breaker_red_streak}"
                        if red
                        else f"persistent ERROR: error_streak {p.error_streak} >= {self.breaker_error_streak}"
                    )
                    events.append(self._event("breaker_open", p, "CLOSED", "OPEN", p.breaker_reason, now))
            elif was_open and self.auto_close_cycles > 0 and p.clean_green_streak >= self.auto_close_cycles:
                p.breaker_open = False
                p.breaker_changed_ns = now
                p.breaker_reason = f"auto: {p.clean_green_streak} GREEN cycles without failures"
                events.append(self._event("breaker_close", p, "OPEN", "CLOSED", p.breaker_reason, now))
        return events


# ------------------------------------------------------------------------------ escalation


@dataclass
class Workload:
    """Seeded per-cycle inputs: tick arrays and failures, identical for every implementation."""

    symbols: list[str]
    tf_ns: np.ndarray  # per pair, pairs() order: symbol-major, timeframe-minor
    keys: list[tuple[str, str]]
    rng: np.random.Generator
    cls: np.ndarray
    flaky: np.ndarray

    @classmethod
    def make(cls, n_symbols: int) -> Workload:
        rng = np.random.default_rng(SEED)
        symbols = [f"SYM{i:05d}" for i in range(n_symbols)]
        tf_ns = np.array([montalaq.parse_timeframe(tf) for tf in TIMEFRAMES], dtype=np.int64)
        n = n_symbols * len(TIMEFRAMES)
        klass = rng.choice(3, size=n, p=CLASS_P).astype(np.int8)
        klass[rng.random(n) < NEVER_FRACTION] = NEVER
        flaky = np.flatnonzero(rng.random(n) < FLAKY_FRACTION)
        keys = [(s, tf) for s in symbols for tf in TIMEFRAMES]
        return cls(symbols, np.tile(tf_ns, n_symbols), keys, rng, klass, flaky)

    def __len__(self) -> int:
        return len(self.keys)

    def next_cycle(self, now: int) -> tuple[np.ndarray, list[tuple[int, int, str]]]:
        """Evolve the classes, then draw this cycle's last-tick times and failures."""
        n, rng = len(self), self.rng
        redraw = (rng.random(n) < REDRAW_FRACTION) & (self.cls != NEVER)
        self.cls[redraw] = rng.choice(3, size=int(redraw.sum()), p=CLASS_P)
        frac = np.zeros(n)
        for k, (lo, hi) in AGE_RANGE.items():
            m = self.cls == k
            frac[m] = rng.uniform(lo, hi, size=int(m.sum()))
        ticks = now - (frac * self.tf_ns).astype(np.int64)
        ticks[self.cls == NEVER] = 0
        hit = self.flaky[rng.random(self.flaky.size) < FLAKY_FAIL_P]
        offsets = rng.integers(1, CYCLE_NS, size=hit.size)
        codes = rng.integers(0, len(ERROR_CODES), size=hit.size)
        failures = [
            (int(i), now - int(o), ERROR_CODES[c]) for i, o, c in zip(hit, offsets, codes, strict=True)
        ]
        failures.sort(key=lambda f: f[1])
        return ticks, failures


def _event_keys(events: list[dict[str, Any]]) -> list[tuple[Any, ...]]:
    return [
        (e["kind"], e["symbol"], e["timeframe"], e["old"], e["new"], e["last_error_code"]) for e in events
    ]


def _timed(fn: Callable[..., Any], *args: Any, **kwargs: Any) -> tuple[float, Any]:
    """One timed call, after a collection (so earlier garbage is not billed to it)."""
    gc.collect()
    t0 = time.perf_counter()
    out = fn(*args, **kwargs)
    return time.perf_counter() - t0, out


def _summary(runs: list[float]) -> dict[str, Any]:
    return {
        "median_s": statistics.median(runs),
        "max_s": max(runs),
        "min_s": min(runs),
        "mean_s": statistics.fmean(runs),
        "runs_s": runs,
    }


def bench_escalation(
    n_symbols: int, warmup: int, cycles: int, rows: list[Row], figures: dict[str, Any]
) -> EscalationBoard:
    """The cycles above; returns the array path's board after its last cycle."""
    wl = Workload.make(n_symbols)
    n = len(wl)
    t0 = time.perf_counter()
    boards = {
        name: EscalationBoard(auto_close_cycles=AUTO_CLOSE_CYCLES) for name in ("array", "dict", "preset")
    }
    for b in boards.values():
        b.add_pairs(wl.symbols, TIMEFRAMES)
        if len(b) != n:
            raise AssertionError(f"board holds {len(b)} pairs, expected {n}")
    setup_board_s = (time.perf_counter() - t0) / len(boards)
    peer = PeerBoard(auto_close_cycles=AUTO_CLOSE_CYCLES)
    for (sym, tf), tf_ns in zip(wl.keys, wl.tf_ns.tolist(), strict=True):
        peer.add_pair(sym, tf, tf_ns)
    # The board's pairs() order is the workload's (symbol-major) order; check the ends.
    first, last = boards["array"].pair(*wl.keys[0], now=T0_NS), boards["array"].pair(*wl.keys[-1], now=T0_NS)
    ends = [(first["symbol"], first["timeframe"]), (last["symbol"], last["timeframe"])]
    if ends != [wl.keys[0], wl.keys[-1]]:
        raise AssertionError("board pair order differs from the workload order")

    gc.collect()
    gc.freeze()  # boards, peer pairs, keys: long-lived, out of the collector's way
    runs: dict[str, list[float]] = {
        k: [] for k in ("array", "dict", "preset", "upload", "peer", "peer_ingest")
    }
    warm: dict[str, list[float]] = {"array": [], "peer": []}
    events_per_cycle: list[int] = []
    kinds: dict[str, int] = {"level": 0, "breaker_open": 0, "breaker_close": 0}
    warm_events: list[int] = []
    total_failures = 0
    try:
        for c in range(warmup + cycles):
            now = T0_NS + (c + 1) * CYCLE_NS
            ticks, failures = wl.next_cycle(now)
            total_failures += len(failures)
            for idx, at, code in failures:
                sym, tf = wl.keys[idx]
                for b in boards.values():
                    b.record_failure(sym, tf, at, code)
                peer.record_failure(idx, at, code)
            mapping = dict(zip(wl.keys, ticks.tolist(), strict=True))

            s_arr, ev_arr = _timed(boards["array"].evaluate, now, last_tick_ns=ticks)
            s_dict, ev_dict = _timed(boards["dict"].evaluate, now, last_tick_ns=mapping)
            s_up, _ = _timed(boards["preset"].set_last_ticks, ticks)
            s_pre, ev_pre = _timed(boards["preset"].evaluate, now)
            s_ing, _ = _timed(lambda t: peer.set_last_ticks(t.tolist()), ticks)
            s_peer, ev_peer = _timed(peer.evaluate, now)
            del mapping

            ref = _event_keys(ev_arr)
            for name, ev in (("dict", ev_dict), ("preset", ev_pre), ("peer", ev_peer)):
                if _event_keys(ev) != ref:
                    raise AssertionError(
                        f"cycle {c}: {name} produced {len(ev)} events, array path {len(ev_arr)}; "
                        "the event streams differ"
                    )
            if c < warmup:
                warm["array"].append(s_arr)
                warm["peer"].append(s_ing + s_peer)
                warm_events.append(len(ev_arr))
                continue
            for k, v in (
                ("array", s_arr),
                ("dict", s_dict),
                ("upload", s_up),
                ("preset", s_pre),
                ("peer_ingest", s_ing),
                ("peer", s_ing + s_peer),
            ):
                runs[k].append(v)
            events_per_cycle.append(len(ev_arr))
            for e in ev_arr:
                kinds[e["kind"]] += 1
    finally:
        gc.unfreeze()

    final = boards["array"].pairs(now=now)
    levels = {lv: 0 for lv in PEER_LEVELS}
    for r in final:
        levels[r["escalation_level"]] += 1
    open_breakers = sum(1 for r in final if r["breaker_open"])

    arr, dct, pre, pr = (_summary(runs[k]) for k in ("array", "dict", "preset", "peer"))
    peer_eval = _summary([a - b for a, b in zip(runs["peer"], runs["peer_ingest"], strict=True)])
    ev_med = statistics.median(events_per_cycle)
    figures["escalation"] = {
        "pairs": n,
        "symbols": n_symbols,
        "timeframes": list(TIMEFRAMES),
        "cycle_s": CYCLE_NS / NS,
        "warmup_cycles": warmup,
        "cycles": cycles,
        "auto_close_cycles": AUTO_CLOSE_CYCLES,
        "board_setup_s": setup_board_s,
        "array": arr,
        "dict": dct,
        "preset": pre,
        "upload": _summary(runs["upload"]),
        "peer": pr,
        "peer_ingest": _summary(runs["peer_ingest"]),
        "peer_evaluate": peer_eval,
        "warmup_array_s": warm["array"],
        "warmup_peer_s": warm["peer"],
        "warmup_events": warm_events,
        "events_per_cycle": events_per_cycle,
        "events_median": ev_med,
        "events_by_kind": kinds,
        "failures_recorded": total_failures,
        "final_levels": levels,
        "final_open_breakers": open_breakers,
        "ratio_peer_over_array": pr["median_s"] / arr["median_s"],
        "ratio_dict_over_array": dct["median_s"] / arr["median_s"],
    }
    tag = f"{n / 1e3:.0f}k pairs, {cycles} cycles, {ev_med:.0f} events/cycle"
    rows.append(
        Row(
            f"escalation cycle, int64 array ticks, median [{tag}]",
            fmt_time(arr["median_s"]),
            f"pure Python {fmt_time(pr['median_s'])}",
            pr["median_s"] / arr["median_s"],
            f"<= {BUDGET_CYCLE_S * 1e3:.0f} ms",
            arr["median_s"] <= BUDGET_CYCLE_S,
        )
    )
    rows.append(
        Row(
            f"escalation cycle, int64 array ticks, max [{tag}]",
            fmt_time(arr["max_s"]),
            f"pure Python {fmt_time(pr['max_s'])}",
            pr["max_s"] / arr["max_s"],
            "- (info)",
        )
    )
    rows.append(
        Row(
            f"escalation cycle, dict ticks {{(symbol, tf): ns}}, median [{tag}]",
            fmt_time(dct["median_s"]),
            f"pure Python {fmt_time(pr['median_s'])}",
            pr["median_s"] / dct["median_s"],
            "- (info)",
        )
    )
    rows.append(
        Row(
            f"escalation cycle, ticks already set (None), median [{tag}]",
            fmt_time(pre["median_s"]),
            f"py evaluate {fmt_time(peer_eval['median_s'])}",
            peer_eval["median_s"] / pre["median_s"],
            "- (info)",
        )
    )
    return boards["array"]


# --------------------------------------------------------------------------- circuit breaker


class BoomError(Exception):
    """The protected function's failure."""


def work(fail: bool) -> int:
    if fail:
        raise BoomError
    return 1


def _mq_closed() -> CircuitBreaker:
    return CircuitBreaker("bench", failure_threshold=1_000_000, window_s=300.0, cooldown_s=60.0)


def _pb_closed() -> Any:
    import pybreaker

    return pybreaker.CircuitBreaker(fail_max=1_000_000, reset_timeout=60)


def bench_breaker_closed(n: int, repeats: int, rows: list[Row], figures: dict[str, Any]) -> None:
    import pybreaker

    flags = [i % 50 == 49 for i in range(n)]
    n_fail = sum(flags)
    held: dict[str, Any] = {}

    def bare() -> None:
        fn, failed = work, 0
        for f in flags:
            try:
                fn(f)
            except BoomError:
                failed += 1
        held["bare"] = failed

    def mq_explicit() -> None:
        b = held["mq_explicit"] = _mq_closed()
        allow, ok, bad, fn = b.allow, b.record_success, b.record_failure, work
        rejected = 0
        for f in flags:
            if allow():
                try:
                    fn(f)
                except BoomError:
                    bad()
                else:
                    ok()
            else:
                rejected += 1
        held["mq_explicit_skipped"] = rejected

    def mq_call() -> None:
        b = held["mq_call"] = _mq_closed()
        call, fn, failed = b.call, work, 0
        for f in flags:
            try:
                call(fn, f)
            except BoomError:
                failed += 1
        held["mq_call_failed"] = failed

    def mq_decorator() -> None:
        b = held["mq_decorator"] = _mq_closed()
        fn, failed = b(work), 0
        for f in flags:
            try:
                fn(f)
            except BoomError:
                failed += 1
        held["mq_decorator_failed"] = failed

    def mq_with() -> None:
        b = held["mq_with"] = _mq_closed()
        fn, failed = work, 0
        for f in flags:
            try:
                with b:
                    fn(f)
            except BoomError:
                failed += 1
        held["mq_with_failed"] = failed

    def pb_call() -> None:
        b = held["pb_call"] = _pb_closed()
        call, fn, failed = b.call, work, 0
        for f in flags:
            try:
                call(fn, f)
            except BoomError:
                failed += 1
        held["pb_call_failed"] = failed

    def pb_decorator() -> None:
        b = held["pb_decorator"] = _pb_closed()
        fn, failed = b(work), 0
        for f in flags:
            try:
                fn(f)
            except BoomError:
                failed += 1
        held["pb_decorator_failed"] = failed

    variants = {
        "bare": bare,
        "mq_explicit": mq_explicit,
        "mq_call": mq_call,
        "mq_decorator": mq_decorator,
        "mq_with": mq_with,
        "pb_call": pb_call,
        "pb_decorator": pb_decorator,
    }
    t = {k: best_of(fn, repeats) for k, fn in variants.items()}

    for k in ("mq_explicit", "mq_call", "mq_decorator", "mq_with"):
        c = held[k].counts()
        state = held[k].state()
        want = (n, 0, n - n_fail, n_fail)
        got = (c["allowed"], c["rejected"], c["successes"], c["failures"])
        if got != want or state != BreakerState.CLOSED:
            raise AssertionError(f"{k}: counts {got} state {state.name}; expected {want} CLOSED")
    for k in ("pb_call", "pb_decorator"):
        b = held[k]
        if b.current_state != pybreaker.STATE_CLOSED:
            raise AssertionError(f"{k}: pybreaker is {b.current_state}, expected closed")
    for k in (
        "bare",
        "mq_call_failed",
        "mq_decorator_failed",
        "mq_with_failed",
        "pb_call_failed",
        "pb_decorator_failed",
    ):
        if held[k] != n_fail:
            raise AssertionError(f"{k}: {held[k]} failures reached the caller, expected {n_fail}")

    ns = {k: v.best_s / n * 1e9 for k, v in t.items()}
    # What allow/record themselves cost: each protected loop minus the same loop unprotected.
    over = {k: max(ns[k] - ns["bare"], 1e-3) for k in ns if k != "bare"}
    figures["breaker_closed"] = {
        "calls": n,
        "failures": n_fail,
        "failure_every": 50,
        "ns_per_call": ns,
        "runs_s": {k: v.runs_s for k, v in t.items()},
        "overhead_ns_per_call": over,
        "ratio_overhead_pb_call_over_explicit": over["pb_call"] / over["mq_explicit"],
        "ratio_overhead_pb_call_over_call": over["pb_call"] / over["mq_call"],
        "ratio_pb_call_over_explicit": ns["pb_call"] / ns["mq_explicit"],
        "ratio_pb_call_over_call": ns["pb_call"] / ns["mq_call"],
        "ratio_pb_decorator_over_decorator": ns["pb_decorator"] / ns["mq_decorator"],
        "ratio_pb_call_over_with": ns["pb_call"] / ns["mq_with"],
    }
    tag = f"{n / 1e3:.0f}k calls, 1 in 50 fails"
    budget = f">= {BUDGET_VS_PYBREAKER:.0f}x"
    rows.append(
        Row(
            f"breaker closed, allow/record overhead (minus unprotected call) vs pybreaker.call [{tag}]",
            f"{fmt_ns(over['mq_explicit'])}/call",
            f"pybreaker {fmt_ns(over['pb_call'])}",
            over["pb_call"] / over["mq_explicit"],
            budget,
            over["pb_call"] / over["mq_explicit"] >= BUDGET_VS_PYBREAKER,
        )
    )
    rows.append(
        Row(
            f"breaker closed, breaker.call overhead vs pybreaker.call overhead [{tag}]",
            f"{fmt_ns(over['mq_call'])}/call",
            f"pybreaker {fmt_ns(over['pb_call'])}",
            over["pb_call"] / over["mq_call"],
            "- (info)",
        )
    )
    rows.append(
        Row(
            f"breaker closed, allow/record explicit vs pybreaker.call, nothing subtracted [{tag}]",
            f"{fmt_ns(ns['mq_explicit'])}/call",
            f"pybreaker {fmt_ns(ns['pb_call'])}",
            ns["pb_call"] / ns["mq_explicit"],
            "- (info)",
        )
    )
    rows.append(
        Row(
            f"breaker closed, breaker.call vs pybreaker.call, nothing subtracted [{tag}]",
            f"{fmt_ns(ns['mq_call'])}/call",
            f"pybreaker {fmt_ns(ns['pb_call'])}",
            ns["pb_call"] / ns["mq_call"],
            "- (info)",
        )
    )
    rows.append(
        Row(
            f"breaker closed, @breaker vs pybreaker @breaker [{tag}]",
            f"{fmt_ns(ns['mq_decorator'])}/call",
            f"pybreaker {fmt_ns(ns['pb_decorator'])}",
            ns["pb_decorator"] / ns["mq_decorator"],
            "- (info)",
        )
    )
    rows.append(
        Row(
            f"breaker closed, with breaker: vs pybreaker.call [{tag}]",
            f"{fmt_ns(ns['mq_with'])}/call",
            f"pybreaker {fmt_ns(ns['pb_call'])}",
            ns["pb_call"] / ns["mq_with"],
            "- (info)",
        )
    )


def bench_breaker_open(n: int, repeats: int, rows: list[Row], figures: dict[str, Any]) -> None:
    import pybreaker

    mq = CircuitBreaker("down", failure_threshold=5, window_s=300.0, cooldown_s=3600.0)
    pb = pybreaker.CircuitBreaker(fail_max=5, reset_timeout=3600)
    for _ in range(5):
        if mq.allow():
            mq.record_failure()
        with contextlib.suppress(BoomError, pybreaker.CircuitBreakerError):
            pb.call(work, True)
    if mq.state() != BreakerState.OPEN or pb.current_state != pybreaker.STATE_OPEN:
        states = f"montalaq {mq.state().name}, pybreaker {pb.current_state}"
        raise AssertionError(f"breakers did not trip: {states}")
    rejected_before = mq.counts()["rejected"]
    held: dict[str, int] = {}
    calls = range(n)

    def mq_explicit() -> None:
        allow, ok, bad, fn = mq.allow, mq.record_success, mq.record_failure, work
        skipped = 0
        for _ in calls:
            if allow():
                try:
                    fn(True)
                except BoomError:
                    bad()
                else:
                    ok()
            else:
                skipped += 1
        held["mq_explicit"] = skipped

    def mq_decorator() -> None:
        fn = mq(work)
        rejected = 0
        for _ in calls:
            try:
                fn(True)
            except CircuitOpenError:
                rejected += 1
            except BoomError:
                pass
        held["mq_decorator"] = rejected

    def mq_with() -> None:
        fn = work
        rejected = 0
        for _ in calls:
            try:
                with mq:
                    fn(True)
            except CircuitOpenError:
                rejected += 1
            except BoomError:
                pass
        held["mq_with"] = rejected

    def pb_call() -> None:
        call, fn = pb.call, work
        rejected = 0
        for _ in calls:
            try:
                call(fn, True)
            except pybreaker.CircuitBreakerError:
                rejected += 1
            except BoomError:
                pass
        held["pb_call"] = rejected

    def pb_decorator() -> None:
        fn = pb(work)
        rejected = 0
        for _ in calls:
            try:
                fn(True)
            except pybreaker.CircuitBreakerError:
                rejected += 1
            except BoomError:
                pass
        held["pb_decorator"] = rejected

    variants = {
        "mq_explicit": mq_explicit,
        "mq_decorator": mq_decorator,
        "mq_with": mq_with,
        "pb_call": pb_call,
        "pb_decorator": pb_decorator,
    }
    t = {k: best_of(fn, repeats) for k, fn in variants.items()}
    for k, v in held.items():
        if v != n:
            raise AssertionError(f"{k}: {v} of {n} calls rejected in the last run")
    runs_mq = 3 * (1 + repeats)  # warm-up + timed runs of each montalaq variant
    if mq.counts()["rejected"] - rejected_before != runs_mq * n or mq.state() != BreakerState.OPEN:
        raise AssertionError(f"montalaq breaker counts {mq.counts()}, state {mq.state().name}")

    ns = {k: v.best_s / n * 1e9 for k, v in t.items()}
    figures["breaker_open"] = {
        "calls": n,
        "ns_per_rejected_call": ns,
        "rejected_per_s": {k: 1e9 / v for k, v in ns.items()},
        "runs_s": {k: v.runs_s for k, v in t.items()},
        "ratio_pb_call_over_explicit": ns["pb_call"] / ns["mq_explicit"],
        "ratio_pb_decorator_over_decorator": ns["pb_decorator"] / ns["mq_decorator"],
        "ratio_pb_call_over_with": ns["pb_call"] / ns["mq_with"],
    }
    tag = f"{n / 1e3:.0f}k calls, all rejected"

    def cell(v: float) -> str:
        return f"{fmt_rate(1e9 / v)} ({fmt_ns(v)})"

    rows.append(
        Row(
            f"breaker open, allow() False vs pybreaker.call raising [{tag}]",
            cell(ns["mq_explicit"]),
            f"pybreaker {cell(ns['pb_call'])}",
            ns["pb_call"] / ns["mq_explicit"],
            f">= {BUDGET_VS_PYBREAKER:.0f}x",
            ns["pb_call"] / ns["mq_explicit"] >= BUDGET_VS_PYBREAKER,
        )
    )
    rows.append(
        Row(
            f"breaker open, @breaker raising vs pybreaker @breaker [{tag}]",
            cell(ns["mq_decorator"]),
            f"pybreaker {cell(ns['pb_decorator'])}",
            ns["pb_decorator"] / ns["mq_decorator"],
            "- (info)",
        )
    )
    rows.append(
        Row(
            f"breaker open, with breaker: raising vs pybreaker.call [{tag}]",
            cell(ns["mq_with"]),
            f"pybreaker {cell(ns['pb_call'])}",
            ns["pb_call"] / ns["mq_with"],
            "- (info)",
        )
    )


# ----------------------------------------------------------------------------------- main


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--quick", action="store_true", help="small sizes for a smoke run (seconds)")
    ap.add_argument("--json", metavar="PATH", help="also write every figure as JSON to PATH")
    ap.add_argument("--repeats", type=int, default=None, help="timed runs per breaker figure (best kept)")
    ap.add_argument("--cycles", type=int, default=None, help="measured escalation cycles (after the warm-up)")
    args = ap.parse_args(argv)

    quick = args.quick
    repeats = args.repeats or (2 if quick else 5)
    n_symbols = 2_000 if quick else 20_000
    warmup = 6  # > the 5-cycle failure window and the initial escalation burst
    cycles = args.cycles or (4 if quick else 20)
    n_calls = 20_000 if quick else 200_000
    t_start = time.perf_counter()

    rows: list[Row] = []
    figures: dict[str, Any] = {}
    log(f"escalation: {n_symbols * len(TIMEFRAMES):,} pairs, {warmup} warm-up + {cycles} cycles")
    board = bench_escalation(n_symbols, warmup, cycles, rows, figures)
    log(f"board snapshot: {len(board):,} pairs; engine ticks: {cycles} cycles per shape")
    bench_snapshot(board, 3 if quick else 10, rows, figures)
    del board
    bench_engine_ticks(quick, cycles, rows, figures)
    log(f"circuit breaker: {n_calls:,} calls, best of {repeats}")
    bench_breaker_closed(n_calls, repeats, rows, figures)
    bench_breaker_open(n_calls, repeats, rows, figures)
    elapsed = time.perf_counter() - t_start

    esc, closed = figures["escalation"], figures["breaker_closed"]
    mode = "quick" if quick else "full"
    pb_version = version("pybreaker")
    print(
        f"montalaq {montalaq.__version__} ({git_describe()}) health benchmarks, {mode} mode; "
        f"escalation: {cycles} consecutive cycles after {warmup} warm-up cycles; breaker: best of "
        f"{repeats} after a warm-up"
    )
    print(
        f"escalation: {esc['pairs']:,} pairs = {esc['symbols']:,} symbols x {', '.join(TIMEFRAMES)}; "
        f"cycles {esc['cycle_s']:.0f} s apart; auto_close_cycles={AUTO_CLOSE_CYCLES}; "
        f"board setup {fmt_time(esc['board_setup_s'])} (add_pairs, not timed)"
    )
    k = esc["events_by_kind"]
    ev = esc["events_per_cycle"]
    print(
        f"            events per cycle: median {esc['events_median']:.0f}, min {min(ev)}, max {max(ev)} "
        f"(over the measured cycles: {k['level']} level, {k['breaker_open']} breaker_open, "
        f"{k['breaker_close']} breaker_close); warm-up cycles {esc['warmup_events']}"
    )
    lv = esc["final_levels"]
    print(
        f"            after the last cycle: {', '.join(f'{n} {c:,}' for n, c in lv.items())}; "
        f"{esc['final_open_breakers']:,} breakers open; {esc['failures_recorded']:,} failures recorded"
    )
    print(
        f"            array path = upload {fmt_time(esc['upload']['median_s'])} + cycle "
        f"{fmt_time(esc['preset']['median_s'])} (medians); dict path costs "
        f"{esc['ratio_dict_over_array']:.0f}x the array path; pure Python = ingest "
        f"{fmt_time(esc['peer_ingest']['median_s'])} + evaluate {fmt_time(esc['peer_evaluate']['median_s'])}"
    )
    print(
        f"            first (burst) cycle: array {fmt_time(esc['warmup_array_s'][0])}, pure Python "
        f"{fmt_time(esc['warmup_peer_s'][0])}; every event stream identical across the four implementations"
    )
    snap = figures["snapshot"]
    print(
        f"snapshot: the escalation board after its last cycle, {snap['bytes']:,} bytes "
        f"(to_json {snap['json_bytes']:,}); to_bytes min {fmt_time(snap['to_bytes']['min_s'])}, "
        f"from_bytes min {fmt_time(snap['from_bytes']['min_s'])}; thread CPU time medians: to_bytes "
        f"{fmt_time(snap['to_bytes_cpu']['median_s'])}, from_bytes "
        f"{fmt_time(snap['from_bytes_cpu']['median_s'])}; round trip checked"
    )
    for shape in figures["engine_ticks"]:
        print(
            f"engine ticks: {shape['pairs']:,} pairs ({shape['symbols']:,} symbols x "
            f"{len(shape['timeframes'])}); engine min {fmt_time(shape['engine']['min_s'])}, max "
            f"{fmt_time(shape['engine']['max_s'])}; array min {fmt_time(shape['array']['min_s'])}, max "
            f"{fmt_time(shape['array']['max_s'])}; events and final boards identical"
        )
    c_ns = closed["ns_per_call"]
    print(
        f"breaker: pybreaker {pb_version}; per protected call; the same loop "
        f"unprotected costs {fmt_ns(c_ns['bare'])}/call"
    )
    print(
        "         budget rows: what montalaq allow()/record_*() (now=None) add to a call, i.e. the "
        "protected loop minus the unprotected one, vs the same for pybreaker.call; 'nothing subtracted', "
        "call, decorator and with rows are info"
    )
    print("ratio = peer time / montalaq time (> 1: montalaq faster)")
    print()
    print(render_table(rows))
    print()
    misses = [r.measurement for r in rows if r.verdict == "MISS"]
    print(f"budget misses: {len(misses)}" + ("" if not misses else " -> " + "; ".join(misses)))
    print(f"total time {elapsed:.1f} s")

    if args.json:
        doc = {
            "mode": mode,
            "repeats": repeats,
            "montalaq": montalaq.__version__,
            "git": git_describe(),
            "module": str(Path(montalaq.__file__).resolve().parent),
            "peers": {
                "pybreaker": pb_version,
                "numpy": np.__version__,
                "python_peer": "PeerBoard (this file)",
            },
            "budgets": {"cycle_s": BUDGET_CYCLE_S, "vs_pybreaker": BUDGET_VS_PYBREAKER},
            "machine": machine_info(),
            "figures": figures,
            "rows": rows_json(rows),
            "elapsed_s": elapsed,
        }
        Path(args.json).write_text(json.dumps(doc, indent=2, default=float) + "\n")
        print(f"wrote {args.json}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
