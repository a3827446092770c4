"""bench_notify.py --quick runs end to end and prints every row (a behaviour check of the
benchmark script, not a timing assertion)."""

from __future__ import annotations

from pathlib import Path

from bench_support import run_quick

ROWS = (
    "apprise notify() caller cost",
    "notify() caller cost, durable outbox on SQLite",
    "sustained delivery to a local HTTP receiver, outbox on SQLite",
    "notify() caller cost, durable outbox on PostgreSQL",
    "sustained delivery to a local HTTP receiver, outbox on PostgreSQL",
)


def test_bench_notify_quick_prints_every_row_and_its_figures(tmp_path: Path) -> None:
    run = run_quick("bench_notify.py", tmp_path)
    for prefix in ROWS:
        assert run.status(prefix) == "INFO", run.row(prefix)
    figures = run.figures
    for label in ("SQLite", "PostgreSQL"):
        assert figures[f"enqueue_{label}"]["p99_s"] >= figures[f"enqueue_{label}"]["p50_s"] > 0
        assert figures[f"delivery_{label}"]["per_s"] > 0
    assert figures["apprise_call"]["per_s"] > 0
