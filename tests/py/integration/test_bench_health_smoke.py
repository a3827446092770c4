"""Smoke test of benchmarks/bench_health.py: it runs end to end and prints every table row.

A behaviour check only. Figures and PASS/MISS verdicts are not asserted: timings on a
shared CI machine say nothing about correctness, and budget misses are reported by the
benchmark itself, not by the test suite. (The benchmark does check, and fails on, what
is correctness: identical escalation events from its four implementations, and the
breakers' own counters after the runs.)
"""

from __future__ import annotations

import json
import re
import subprocess
import sys
from pathlib import Path

import pytest

pytest.importorskip("pybreaker")

# A benchmark subprocess of seconds: scheduled first in parallel runs.
pytestmark = pytest.mark.slow

REPO_ROOT = Path(__file__).resolve().parents[3]
BENCH = REPO_ROOT / "benchmarks" / "bench_health.py"

# Every row the table must hold, by the start of its measurement label, and whether it
# carries a README.md, Speed budget (then its verdict is PASS or MISS, never INFO).
EXPECTED_ROWS = {
    "escalation cycle, int64 array ticks, median [": True,
    "escalation cycle, int64 array ticks, max [": False,
    "escalation cycle, dict ticks {(symbol, tf): ns}, median [": False,
    "escalation cycle, ticks already set (None), median [": False,
    "board snapshot save: to_bytes, median of 3 [": True,
    "board snapshot load: from_bytes, median of 3 [": True,
    "escalation cycle, evaluate(now, engine), median [2,000 symbols": True,
    "first evaluate(now, engine): registers the pairs, builds the map [2,000 symbols": False,
    "escalation cycle, evaluate(now, engine), median [10,000 symbols": True,
    "first evaluate(now, engine): registers the pairs, builds the map [10,000 symbols": False,
    "breaker closed, allow/record overhead (minus unprotected call) vs pybreaker.call [": True,
    "breaker closed, breaker.call overhead vs pybreaker.call overhead [": False,
    "breaker closed, allow/record explicit vs pybreaker.call, nothing subtracted [": False,
    "breaker closed, breaker.call vs pybreaker.call, nothing subtracted [": False,
    "breaker closed, @breaker vs pybreaker @breaker [": False,
    "breaker closed, with breaker: vs pybreaker.call [": False,
    "breaker open, allow() False vs pybreaker.call raising [": True,
    "breaker open, @breaker raising vs pybreaker @breaker [": False,
    "breaker open, with breaker: raising vs pybreaker.call [": False,
}
STATUSES = {"PASS", "MISS", "INFO", "SKIP"}
ROW = re.compile(
    r"^\| (?P<measurement>.+?) +\| (?P<montalaq>.+?) +\| (?P<peer>.+?) +\| (?P<ratio>.+?) +\| "
    r"(?P<budget>.+?) +\| (?P<status>[A-Z]+) +\|$"
)
QUICK_PAIRS = 10_000  # 2,000 symbols x 5 timeframes in --quick mode


def test_bench_health_quick_runs_and_prints_the_table(tmp_path: Path) -> None:
    out_json = tmp_path / "bench_health.json"
    cmd = [sys.executable, str(BENCH), "--quick", "--json", str(out_json)]
    proc = subprocess.run(cmd, capture_output=True, text=True, timeout=300, cwd=REPO_ROOT, check=False)
    assert proc.returncode == 0, (
        f"bench_health.py --quick exited {proc.returncode}:\n{proc.stdout}\n{proc.stderr}"
    )

    lines = proc.stdout.splitlines()
    assert any(ln.startswith("| measurement ") and ln.rstrip().endswith("| status |") for ln in lines), (
        proc.stdout
    )
    rows = {
        m["measurement"]: m
        for m in (ROW.match(ln) for ln in lines)
        if m and m["measurement"] != "measurement"
    }
    for prefix, budgeted in EXPECTED_ROWS.items():
        hits = [name for name in rows if name.startswith(prefix)]
        assert len(hits) == 1, f"expected one table row starting {prefix!r}; rows: {sorted(rows)}"
        row = rows[hits[0]]
        assert row["status"] in STATUSES, row.group(0)
        assert row["montalaq"] != "n/a", row.group(0)
        if budgeted:
            assert row["status"] in {"PASS", "MISS"}, row.group(0)
            assert row["budget"].startswith(("<=", ">=")), row.group(0)
        else:
            assert row["status"] == "INFO", row.group(0)
    assert len(rows) == len(EXPECTED_ROWS), sorted(rows)
    assert "budget misses:" in proc.stdout
    assert "every event stream identical across the four implementations" in proc.stdout

    doc = json.loads(out_json.read_text())
    assert doc["mode"] == "quick"
    assert [r["measurement"] for r in doc["rows"]] == list(rows), "JSON rows differ from the printed table"
    assert all(r["status"] in STATUSES for r in doc["rows"])
    assert doc["peers"]["pybreaker"]
    figures = doc["figures"]

    esc = figures["escalation"]
    assert esc["pairs"] == QUICK_PAIRS
    assert esc["cycles"] >= 1
    assert len(esc["events_per_cycle"]) == esc["cycles"]
    assert esc["events_median"] > 0, "the workload must produce events every cycle"
    assert sum(esc["events_by_kind"].values()) == sum(esc["events_per_cycle"])
    assert esc["failures_recorded"] > 0
    assert esc["final_open_breakers"] > 0
    assert sum(esc["final_levels"].values()) == QUICK_PAIRS
    for key in ("array", "dict", "preset", "upload", "peer", "peer_ingest", "peer_evaluate"):
        s = esc[key]
        assert len(s["runs_s"]) == esc["cycles"], key
        assert 0 < s["min_s"] <= s["median_s"] <= s["max_s"], key

    closed = figures["breaker_closed"]
    assert closed["failures"] == closed["calls"] // 50
    assert set(closed["ns_per_call"]) == {
        "bare",
        "mq_explicit",
        "mq_call",
        "mq_decorator",
        "mq_with",
        "pb_call",
        "pb_decorator",
    }
    assert all(v > 0 for v in closed["ns_per_call"].values())
    assert closed["ratio_pb_call_over_explicit"] > 0
    assert set(closed["overhead_ns_per_call"]) == set(closed["ns_per_call"]) - {"bare"}
    assert closed["ratio_overhead_pb_call_over_explicit"] > 0

    opened = figures["breaker_open"]
    assert set(opened["ns_per_rejected_call"]) == {
        "mq_explicit",
        "mq_decorator",
        "mq_with",
        "pb_call",
        "pb_decorator",
    }
    assert all(v > 0 for v in opened["ns_per_rejected_call"].values())
    assert all(v > 0 for v in opened["rejected_per_s"].values())
