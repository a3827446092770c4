"""bench_monitoring.py --quick runs end to end and prints every row (a behaviour check of
the benchmark script, not a timing assertion)."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

BENCH = Path(__file__).resolve().parents[3] / "benchmarks" / "bench_monitoring.py"


def test_bench_monitoring_quick_prints_every_row_and_its_figures(tmp_path: Path) -> None:
    out = tmp_path / "monitoring.json"
    proc = subprocess.run(
        [sys.executable, str(BENCH), "--quick", "--json", str(out)],
        capture_output=True,
        text=True,
        timeout=600,
        check=False,
    )
    assert proc.returncode == 0, proc.stderr[-2000:]
    lines = [ln for ln in proc.stdout.splitlines() if ln.startswith("| ")]
    tick = [ln for ln in lines if ln.startswith("| record_tick caller cost p99")]
    assert len(tick) == 1, lines
    assert tick[0].rstrip(" |").split("|")[-1].strip() in {"PASS", "MISS"}
    assert len([ln for ln in lines if ln.startswith("| rule evaluation, 108 rules")]) == 1
    figures = json.loads(out.read_text())["figures"]
    assert figures["record_tick"]["ticks"] == 2000
    assert figures["record_tick"]["p99_s"] >= figures["record_tick"]["p50_s"] > 0
    assert figures["rules"]["native_per_s"] > 0
