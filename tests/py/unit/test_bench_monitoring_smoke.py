"""bench_monitoring.py --quick runs end to end and prints every row (a behaviour check of
the benchmark script, not a timing assertion)."""

from __future__ import annotations

from pathlib import Path

from bench_support import run_quick


def test_bench_monitoring_quick_prints_every_row_and_its_figures(tmp_path: Path) -> None:
    run = run_quick("bench_monitoring.py", tmp_path)
    assert run.status("record_tick caller cost p99") in {"PASS", "MISS"}
    run.row("rule evaluation, 108 rules")
    figures = run.figures
    assert figures["record_tick"]["ticks"] == 2000
    assert figures["record_tick"]["p99_s"] >= figures["record_tick"]["p50_s"] > 0
    assert figures["rules"]["native_per_s"] > 0
