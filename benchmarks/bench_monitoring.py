"""Monitoring benchmarks: what ``record_tick`` costs the engine that calls it (README.md, Speed:
p99 <= 20 us seen by the caller) under a steady tick rate with the worker evaluating every
rule, and how fast the rules evaluate in the core next to the same rules in plain Python
(what a user would otherwise write).

The peer for ``record_tick`` is the obvious alternative: evaluating the same rules inline
in the caller (flatten + Python comparisons) -- what the hand-off saves the tick.
"""

from __future__ import annotations

import argparse
import json
import operator
import statistics
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))

import montalaq
from _common import Row, best_of, fmt_rate, fmt_time, git_describe, machine_info, render_table, rows_json
from montalaq.monitoring import MonitoringService, RuleSet, flatten

BUDGET_P99_S = 20e-6
OPS: dict[str, Callable[[float, float], bool]] = {
    ">": operator.gt,
    ">=": operator.ge,
    "<": operator.lt,
    "<=": operator.le,
    "==": operator.eq,
    "!=": operator.ne,
}


def _metrics(i: int) -> dict[str, Any]:
    return {
        "heartbeat": {"uptime_seconds": float(i)},
        "positions": {"count": 3, "total_value": 50_000.0 + i % 100, "symbols": ["SPY", "QQQ", "IWM"]},
        "pnl": {"daily": -120.0 + i % 7, "unrealized": 35.5, "realized": -155.5},
        "risk": {"circuit_breaker_active": False, "daily_loss_pct": 0.4, "max_position_value": 100_000.0},
        "sentiment": {"last_score": 0.1, "provider_errors_1h": 2, "cache_hit_rate": 0.93},
        "connectivity": {"broker_authenticated": True, "last_api_call": time.time()},
        "artifacts": {"teacher_model_age_hours": 3.0, "student_model_age_hours": 1.0},
    }


def _user_rules(n: int) -> list[dict[str, Any]]:
    paths = [
        "pnl.daily",
        "pnl.unrealized",
        "positions.count",
        "sentiment.cache_hit_rate",
        "sentiment.last_score",
    ]
    return [
        {
            "name": f"user_{i}",
            "metric": paths[i % len(paths)],
            "op": "<" if i % 2 else ">",
            "threshold": 1e9 if i % 2 == 0 else -1e9,
        }
        for i in range(n)
    ]


class PythonRules:
    """The same rules as plain Python: fire once, resolve once, no ``for``."""

    def __init__(self, rules: list[dict[str, Any]]) -> None:
        self.rules = [
            (r["name"], r["metric"], OPS[r["op"]], r.get("threshold"), r.get("threshold_metric"))
            for r in rules
        ]
        self.firing: set[str] = set()

    def evaluate(self, flat: dict[str, float]) -> list[tuple[str, str]]:
        events = []
        for name, metric, op, threshold, other in self.rules:
            v = flat.get(metric)
            t = flat.get(other) if other else threshold
            if v is None or t is None:
                continue
            hit = op(v, t)
            if hit and name not in self.firing:
                self.firing.add(name)
                events.append((name, "FIRING"))
            elif not hit and name in self.firing:
                self.firing.discard(name)
                events.append((name, "RESOLVED"))
        return events


def bench_record_tick(n: int, rate_hz: float, rows: list[Row], figures: dict[str, Any]) -> None:
    with tempfile.TemporaryDirectory(prefix="montalaq-bench-") as tmp:
        svc = MonitoringService(
            alerts_dir=Path(tmp) / "alerts",
            metrics_dir=Path(tmp) / "m",
            rules=_user_rules(100),
            snapshot_interval_s=1.0,
        ).start()
        payloads = [_metrics(i) for i in range(n)]
        samples = []
        period = 1.0 / rate_hz
        next_at = time.perf_counter()
        for m in payloads:
            while time.perf_counter() < next_at:
                pass
            t0 = time.perf_counter()
            svc.record_tick(m)
            samples.append(time.perf_counter() - t0)
            next_at += period
        drained = svc.flush(60)
        svc.stop()
        if not drained or svc.stats.processed != n:
            raise AssertionError(f"worker processed {svc.stats.processed}/{n} ticks")
    # The peer: the caller flattens and evaluates the same rules itself, every tick.
    py_rules = PythonRules(json.loads(json.dumps(RuleSet(_user_rules(100)).rules())))
    peer = []
    for m in payloads:
        t0 = time.perf_counter()
        py_rules.evaluate(flatten(m, time.time_ns()))
        peer.append(time.perf_counter() - t0)
    p50, p99 = statistics.median(samples), sorted(samples)[int(0.99 * len(samples))]
    q50, q99 = statistics.median(peer), sorted(peer)[int(0.99 * len(peer))]
    figures["record_tick"] = {
        "ticks": n,
        "rate_hz": rate_hz,
        "p50_s": p50,
        "p99_s": p99,
        "max_s": max(samples),
    }
    figures["inline_python"] = {"p50_s": q50, "p99_s": q99}
    rows.append(
        Row(
            f"record_tick caller cost p99 at {rate_hz:,.0f} ticks/s, 108 rules [{n:,} ticks]",
            f"{fmt_time(p99)} (p50 {fmt_time(p50)})",
            peer=f"{fmt_time(q99)} (p50 {fmt_time(q50)})",
            ratio=q99 / p99,
            budget="p99 <= 20 us",
            ok=p99 <= BUDGET_P99_S,
        )
    )


def bench_rules(n: int, repeats: int, rows: list[Row], figures: dict[str, Any]) -> None:
    rules = RuleSet(_user_rules(100))
    flat = flatten(_metrics(1), time.time_ns())
    py_rules = PythonRules(rules.rules())
    now = time.time_ns()

    def native() -> None:
        for i in range(n):
            rules.evaluate(now + i, flat)

    def python() -> None:
        for _ in range(n):
            py_rules.evaluate(flat)

    tn = best_of(native, repeats)
    tp = best_of(python, repeats)
    figures["rules"] = {
        "evaluations": n,
        "rules": rules.rule_count,
        "native_per_s": n / tn.best_s,
        "python_per_s": n / tp.best_s,
    }
    rows.append(
        Row(
            f"rule evaluation, {rules.rule_count} rules, from a flat dict [{n:,} evaluations]",
            fmt_rate(n / tn.best_s),
            peer=fmt_rate(n / tp.best_s),
            ratio=tp.best_s / tn.best_s,
            budget="- (info)",
        )
    )


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--quick", action="store_true", help="small sizes for a smoke run")
    ap.add_argument("--json", metavar="PATH", help="also write every figure as JSON to PATH")
    args = ap.parse_args(argv)
    ticks = 2_000 if args.quick else 20_000
    rows: list[Row] = []
    figures: dict[str, Any] = {}
    started = time.perf_counter()
    bench_record_tick(ticks, 1000.0, rows, figures)
    bench_rules(2_000 if args.quick else 50_000, 2 if args.quick else 5, rows, figures)
    mode = "quick" if args.quick else "full"
    print(f"montalaq {montalaq.__version__} ({git_describe()}) monitoring benchmarks, {mode} mode")
    print("ratio = peer time / montalaq time (> 1: montalaq faster)\n")
    print(render_table(rows))
    print(f"\ntotal time {time.perf_counter() - started:.1f} s")
    if args.json:
        Path(args.json).write_text(
            json.dumps(
                {"machine": machine_info(), "rows": rows_json(rows), "figures": figures},
                indent=2,
                default=str,
            )
        )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
