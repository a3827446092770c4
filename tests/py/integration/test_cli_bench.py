"""``montalaq bench`` (docs/semantics.md, Operator CLI): the built-in benchmarks of the installed package on
the
bundled sample, each beside the installed peer, and a line when a peer is missing."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from montalaq import bench


def test_bench_quick_prints_every_measurement_with_its_peer_as_json(tmp_path: Path) -> None:
    proc = subprocess.run(
        [sys.executable, "-m", "montalaq", "bench", "--quick", "--json"],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    assert proc.returncode == 0, proc.stderr
    rows = json.loads(proc.stdout)
    names = {r["name"] for r in rows}
    assert {"1m bars from trades", "escalation cycle, 10,000 pairs", "rate limiter, 60/min"} <= names
    peers = {r["peer"] for r in rows if r["peer"]}
    assert {
        "pandas resample",
        "polars group_by_dynamic",
        "pybreaker",
        "limits (memory)",
        "json.loads only",
    } <= peers
    for r in rows:
        assert r["montalaq"] > 0, r
        if r["peer"]:
            assert r["ratio"] > 0, r


def test_a_missing_peer_is_a_line_not_a_failure(monkeypatch: pytest.MonkeyPatch) -> None:
    real = bench._have
    monkeypatch.setattr(bench, "_have", lambda m: False if m in ("pybreaker", "limits") else real(m))
    results = bench.bench_guards(1, 1000)
    notes = {r.name: r.note for r in results}
    assert notes["breaker allow + record"] == "pybreaker not installed: skipped"
    assert notes["rate limiter, 60/min"] == "limits not installed: skipped"
    assert all(r.peer is None for r in results)
    table = bench.render(results)
    assert "pybreaker not installed: skipped" in table
