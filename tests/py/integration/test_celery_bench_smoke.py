"""bench_celery.py --quick runs end to end (real Redis, PostgreSQL and Celery workers) and
prints every row with its figures (a behaviour check of the benchmark script, not a timing
assertion)."""

from __future__ import annotations

from pathlib import Path

import pytest

from bench_support import run_quick

# A benchmark subprocess of seconds: scheduled first in parallel runs.
pytestmark = pytest.mark.slow

ROWS = (
    "escalation task, cold (board loaded from Redis)",
    "escalation task, warm (this worker's cached board)",
    "escalation task, warm, quiet cycle (no event, no failure)",
    "of which: native evaluate",
    "of which: from_bytes / to_bytes / Redis GET / SET",
    "analyses/s, 1 worker (solo pool)",
    "analyses/s, 2 workers on the same queue",
)


def test_bench_celery_quick_prints_every_row_and_its_figures(tmp_path: Path) -> None:
    run = run_quick("bench_celery.py", tmp_path)
    for prefix in ROWS:
        assert run.status(prefix) == "INFO", run.row(prefix)
    esc = run.figures["escalation"]
    assert esc["pairs"] == 10_000
    assert esc["cold_median_s"] > 0
    assert esc["warm_median_s"] > 0
    assert esc["quiet_median_s"] > 0
    assert esc["document_mb"] > 0
    workers = run.figures["workers"]
    assert workers["one"]["analyses"] == workers["two"]["analyses"] == 200
    assert workers["ratio"] > 0
    assert "2 workers / 1 worker:" in run.stdout
