"""Shared helpers for the montalaq benchmarks: data location, timing, the result table.

Benchmarks are not tests: they print figures next to the README.md, Speed budgets and never
fail on a miss. Timing is best-of-N wall time (``time.perf_counter``) after a warm-up.
"""

from __future__ import annotations

import gc
import math
import os
import platform
import subprocess
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

REPO_ROOT = Path(__file__).resolve().parent.parent


def shared_data_dir() -> Path:
    """``$MONTALAQ_SHARED_DATA`` if set, else ``<repo>/../shared/data``."""
    env = os.environ.get("MONTALAQ_SHARED_DATA")
    return Path(env) if env else REPO_ROOT.parent / "shared" / "data"


@dataclass
class Timing:
    best_s: float
    runs_s: list[float]

    @property
    def median_s(self) -> float:
        s = sorted(self.runs_s)
        return s[len(s) // 2]


def best_of(fn: Callable[[], Any], repeats: int, warmup: int = 1) -> Timing:
    """Run ``fn`` ``warmup`` times untimed, then ``repeats`` times; keep every run.

    A full collection runs before each timed run so garbage from the previous run is not
    billed to the next; the collector stays on (it is part of what a caller pays).
    """
    for _ in range(warmup):
        fn()
    runs = []
    for _ in range(max(1, repeats)):
        gc.collect()
        t0 = time.perf_counter()
        fn()
        runs.append(time.perf_counter() - t0)
    return Timing(min(runs), runs)


# ---------------------------------------------------------------------------- formatting


def fmt_rate(per_s: float | None) -> str:
    """Trades (or rows) per second, human scale."""
    if per_s is None or not math.isfinite(per_s):
        return "n/a"
    if per_s >= 1e9:
        return f"{per_s / 1e9:.2f} G/s"
    if per_s >= 1e6:
        return f"{per_s / 1e6:.1f} M/s"
    if per_s >= 1e3:
        return f"{per_s / 1e3:.1f} k/s"
    return f"{per_s:.0f} /s"


def fmt_ns(ns: float | None) -> str:
    if ns is None or not math.isfinite(ns):
        return "n/a"
    return f"{ns:.1f} ns" if ns < 100 else f"{ns:.0f} ns"


def fmt_time(seconds: float | None) -> str:
    if seconds is None or not math.isfinite(seconds):
        return "n/a"
    if seconds < 1e-3:
        return f"{seconds * 1e6:.0f} us"
    if seconds < 1:
        return f"{seconds * 1e3:.2f} ms"
    return f"{seconds:.2f} s"


def fmt_ratio(r: float | None) -> str:
    if r is None or not math.isfinite(r):
        return "-"
    return f"{r:.2f}x" if r < 10 else f"{r:.1f}x"


@dataclass
class Row:
    """One line of the result table.

    ``ratio`` is always "montalaq is this many times faster than the peer" (peer time /
    montalaq time); ``value`` is what the budget is checked against, ``ok`` the verdict
    (None: informational, or skipped when ``status`` says so).
    """

    measurement: str
    montalaq: str
    peer: str = "-"
    ratio: float | None = None
    budget: str = "-"
    ok: bool | None = None
    status: str | None = None
    figures: dict[str, Any] = field(default_factory=dict)

    @property
    def verdict(self) -> str:
        if self.status is not None:
            return self.status
        if self.ok is None:
            return "INFO"
        return "PASS" if self.ok else "MISS"


def render_table(rows: list[Row]) -> str:
    head = ("measurement", "montalaq", "peer", "ratio", "budget", "status")
    body = [(r.measurement, r.montalaq, r.peer, fmt_ratio(r.ratio), r.budget, r.verdict) for r in rows]
    widths = [max(len(h), *(len(b[i]) for b in body)) for i, h in enumerate(head)]

    def line(cells: tuple[str, ...]) -> str:
        return "| " + " | ".join(c.ljust(w) for c, w in zip(cells, widths, strict=True)) + " |"

    sep = "|" + "|".join("-" * (w + 2) for w in widths) + "|"
    return "\n".join([line(head), sep, *(line(b) for b in body)])


def rows_json(rows: list[Row]) -> list[dict[str, Any]]:
    out = []
    for r in rows:
        d = asdict(r)
        d["status"] = r.verdict
        out.append(d)
    return out


def machine_info() -> dict[str, Any]:
    cpu = platform.processor() or ""
    try:
        for ln in Path("/proc/cpuinfo").read_text().splitlines():
            if ln.startswith("model name"):
                cpu = ln.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    return {
        "python": platform.python_version(),
        "platform": platform.platform(),
        "cpu": cpu,
        "cpu_count": os.cpu_count(),
    }


def git_describe() -> str:
    """Commit of the checkout (+dirty), for the record; the installed module may lag it."""
    try:
        head = subprocess.run(
            ["git", "-C", str(REPO_ROOT), "rev-parse", "--short", "HEAD"],
            capture_output=True,
            text=True,
            timeout=10,
            check=True,
        ).stdout.strip()
        dirty = subprocess.run(
            ["git", "-C", str(REPO_ROOT), "status", "--porcelain", "--", "cpp", "python"],
            capture_output=True,
            text=True,
            timeout=10,
            check=True,
        ).stdout.strip()
    except (OSError, subprocess.SubprocessError):
        return "git unknown"
    return f"git {head}{'+dirty' if dirty else ''}"


def report(rows: list[Row], figures: dict[str, Any], json_path: str | None, started_s: float) -> None:
    """The table, the budget misses and the run time on stdout; every figure as JSON to
    ``json_path`` when given. (New benchmarks use this; the older ones still print their
    own copy of it, to be moved here.)"""
    import json
    import time as _time

    print("ratio = peer time / montalaq time (> 1: montalaq faster)\n")
    print(render_table(rows))
    misses = [r.measurement for r in rows if r.verdict == "MISS"]
    print(f"\nbudget misses: {len(misses)}" + ("" if not misses else " -> " + "; ".join(misses)))
    print(f"total time {_time.perf_counter() - started_s:.1f} s")
    if json_path:
        Path(json_path).write_text(
            json.dumps(
                {"machine": machine_info(), "rows": rows_json(rows), "figures": figures},
                indent=2,
                default=str,
            )
        )


def standard_args(doc: str | None, argv: list[str] | None) -> Any:
    """``--quick``, ``--json PATH`` and ``--repeats N``, as every benchmark takes them."""
    import argparse

    ap = argparse.ArgumentParser(description=(doc or "").split("\n\n")[0])
    ap.add_argument("--quick", action="store_true", help="small sizes for a smoke run")
    ap.add_argument("--json", metavar="PATH", help="also write every figure as JSON to PATH")
    ap.add_argument("--repeats", type=int, default=None, help="timed runs per measurement (best is kept)")
    return ap.parse_args(argv)
