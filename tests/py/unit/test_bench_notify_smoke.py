"""bench_notify.py --quick runs end to end and prints every row (a behaviour check of the
benchmark script, not a timing assertion)."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

BENCH = Path(__file__).resolve().parents[3] / "benchmarks" / "bench_notify.py"
ROWS = (
    "apprise notify() caller cost",
    "notify() caller cost, durable outbox on SQLite",
    "sustained delivery to a local HTTP receiver, outbox on SQLite",
    "notify() caller cost, durable outbox on PostgreSQL",
    "sustained delivery to a local HTTP receiver, outbox on PostgreSQL",
)


def test_bench_notify_quick_prints_every_row_and_its_figures(tmp_path: Path) -> None:
    out = tmp_path / "notify.json"
    proc = subprocess.run(
        [sys.executable, str(BENCH), "--quick", "--json", str(out)],
        capture_output=True,
        text=True,
        timeout=600,
        check=False,
    )
    assert proc.returncode == 0, proc.stderr[-2000:]
    lines = [ln for ln in proc.stdout.splitlines() if ln.startswith("| ")]
    for prefix in ROWS:
        hits = [ln for ln in lines if ln.startswith(f"| {prefix}")]
        assert len(hits) == 1, (prefix, lines)
        assert hits[0].rstrip(" |").split("|")[-1].strip() == "INFO", hits[0]
    figures = json.loads(out.read_text())["figures"]
    for label in ("SQLite", "PostgreSQL"):
        assert figures[f"enqueue_{label}"]["p99_s"] >= figures[f"enqueue_{label}"]["p50_s"] > 0
        assert figures[f"delivery_{label}"]["per_s"] > 0
    assert figures["apprise_call"]["per_s"] > 0
