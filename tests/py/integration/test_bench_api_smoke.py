"""bench_api.py runs end to end in quick mode: a real `montalaq serve`, wrk and the peer app,
and prints each row with figures (not a timed test: the budget verdict is not asserted)."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

# Seconds per test (servers, subprocesses, migrations): scheduled first in parallel runs.
pytestmark = pytest.mark.slow

REPO_ROOT = Path(__file__).resolve().parents[3]


@pytest.mark.skipif(shutil.which("wrk") is None, reason="wrk is not installed (make bench installs it)")
def test_bench_api_quick_prints_every_row_and_its_figures(tmp_path: Path) -> None:
    out = tmp_path / "api.json"
    proc = subprocess.run(
        [sys.executable, "benchmarks/bench_api.py", "--quick", "--duration", "1", "--json", str(out)],
        capture_output=True,
        text=True,
        timeout=300,
        cwd=REPO_ROOT,
        env=os.environ.copy(),
        check=False,
    )
    assert proc.returncode == 0, proc.stderr[-2000:]
    for label in ("cached, requests/s", "cached, latency", "uncached (TTL 0)"):
        assert label in proc.stdout
    figures = json.loads(out.read_text())["figures"]
    assert figures["analysis"]["status"] == "COMPLETE"
    for run in ("cached", "uncached", "peer"):
        assert figures[run]["requests"] > 0
        assert figures[run]["non_2xx"] == 0
        assert 0 < figures[run]["p50_s"] <= figures[run]["p99_s"]
