"""Smoke test of benchmarks/bench_bars.py: it runs end to end and prints every table row.

A behaviour check only. Figures and PASS/MISS verdicts are not asserted: timings on a
shared CI machine say nothing about correctness, and budget misses are reported by the
benchmark itself, not by the test suite.
"""

from __future__ import annotations

import json
import re
import subprocess
import sys
from pathlib import Path

import pytest

# A benchmark subprocess of seconds: scheduled first in parallel runs.
pytestmark = pytest.mark.slow

REPO_ROOT = Path(__file__).resolve().parents[3]
BENCH = REPO_ROOT / "benchmarks" / "bench_bars.py"
CPP_BENCH = REPO_ROOT / "build" / "cpp" / "montalaq_bench_stream"

# Every row the table must hold, by the start of its measurement label. "<N>" stands for
# the thread count of montalaq's default (threads=None), which depends on the machine and
# the input size ("1 thread", "2 threads", ...).
EXPECTED_ROWS = (
    *(
        row
        for series in ("real", "tiled")
        for row in (
            f"1m bars vs pandas resample, montalaq default, <N> [{series} ",
            f"1m bars vs polars group_by_dynamic, montalaq default, <N> [{series} ",
            f"1m bars vs pandas resample, montalaq threads=1 [{series} ",
            f"1m bars vs polars group_by_dynamic, montalaq threads=1 [{series} ",
            f"1m bars vs polars, POLARS_MAX_THREADS=1, montalaq threads=1 [{series} ",
            f"1m bars absolute, montalaq threads=1 [{series} ",
        )
    ),
    "ATR (4 features) vs talib.ATR [1m bars",
    "ATR (4 features) vs talib.ATR [1s bars of tiled",
    "on_trade per call, Python loop, 3 tf [",
    "on_trades chunks of 10k vs batch threads=1, 3 tf+features [tiled ",
    "on_trades chunks of 10k vs batch default, <N>, 3 tf+features [tiled ",
    "on_trades chunks of 100k vs batch threads=1, 3 tf+features [tiled ",
    "on_trades chunks of 100k vs batch default, <N>, 3 tf+features [tiled ",
    "C++ on_trade, 3 tf + features, per trade [tiled ",
    "C++ on_trades chunks of 10k, 3 tf + features, per trade [tiled ",
    "C++ batch 1m bars, threads=1, no Python [tiled ",
)
THREADS = re.compile(r"default, (\d+) threads?\b.*\[(real|tiled) ")


def _prefix(label: str) -> re.Pattern[str]:
    return re.compile(re.escape(label).replace(re.escape("<N>"), r"\d+ threads?"))


STATUSES = {"PASS", "MISS", "INFO", "SKIP"}
ROW = re.compile(
    r"^\| (?P<measurement>.+?) +\| (?P<montalaq>.+?) +\| (?P<peer>.+?) +\| (?P<ratio>.+?) +\| "
    r"(?P<budget>.+?) +\| (?P<status>[A-Z]+) +\|$"
)


def test_bench_bars_quick_runs_and_prints_the_table(tmp_path: Path) -> None:
    out_json = tmp_path / "bench.json"
    cmd = [sys.executable, str(BENCH), "--quick", "--json", str(out_json)]
    # Only exercise the C++ binary when it has been built (make test builds it first);
    # building it from scratch here would dominate the test's run time.
    if not CPP_BENCH.exists():
        cmd.append("--skip-cpp")
    proc = subprocess.run(cmd, capture_output=True, text=True, timeout=300, cwd=REPO_ROOT, check=False)
    assert proc.returncode == 0, (
        f"bench_bars.py --quick exited {proc.returncode}:\n{proc.stdout}\n{proc.stderr}"
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
    for prefix in EXPECTED_ROWS:
        pattern = _prefix(prefix)
        hits = [name for name in rows if pattern.match(name)]
        assert len(hits) == 1, f"expected one table row starting {prefix!r}; rows: {sorted(rows)}"
        row = rows[hits[0]]
        assert row["status"] in STATUSES, row.group(0)
        if row["status"] != "SKIP":
            assert row["montalaq"] != "n/a", row.group(0)
    assert len(rows) >= len(EXPECTED_ROWS)
    assert "budget misses:" in proc.stdout

    doc = json.loads(out_json.read_text())
    assert doc["mode"] == "quick"
    assert [r["measurement"] for r in doc["rows"]] == list(rows), "JSON rows differ from the printed table"
    assert all(r["status"] in STATUSES for r in doc["rows"])
    for key in (
        "bars_1m_real",
        "bars_1m_tiled",
        "atr_1m_real",
        "atr_1s_tiled",
        "py_on_trade",
        "batch_3tf_features",
        "batch_3tf_features_threaded",
        "chunked_10000",
        "chunked_100000",
        "cpp",
    ):
        assert key in doc["figures"], key
    real = doc["figures"]["bars_1m_real"]
    for key in (
        "trades",
        "bars",
        "montalaq_trades_per_s",
        "montalaq_1thread_trades_per_s",
        "pandas_trades_per_s",
        "polars_trades_per_s",
    ):
        assert real[key] > 0, key
    # The thread count a label names is the one build_bars used on that series.
    for name in rows:
        m = THREADS.search(name)
        if m:
            assert int(m[1]) == doc["montalaq_threads"][m[2]] >= 1, name
