"""bench_guards.py --quick runs, prints every row with a status, and writes its figures.

A behaviour check of the benchmark script, not a timing assertion.
"""

import json
import subprocess
import sys
from pathlib import Path

BENCH = Path(__file__).resolve().parents[3] / "benchmarks" / "bench_guards.py"
ROWS = (
    "rate limiter try_acquire vs limits MovingWindow (memory), 60/min",
    "rate limiter try_acquire vs limits MovingWindow (memory), 1000000/min",
    "dedupe check_and_record from Python",
    "retry schedule of a 10-attempt policy vs tenacity waits",
    "call failing 9x then succeeding, no real sleep, vs tenacity",
    "RedisRateLimiter.try_acquire, one round trip each",
    "RedisRateLimiter.try_acquire_many, pipelined by 100",
    "RedisDedupe.check_and_record, one round trip each",
    "RedisDedupe.check_and_record_many, pipelined by 100",
)


def test_bench_guards_quick_prints_every_row(tmp_path: Path) -> None:
    out = tmp_path / "guards.json"
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
        assert hits[0].rstrip(" |").split("|")[-1].strip() in {"PASS", "MISS", "INFO"}, hits[0]
    figures = json.loads(out.read_text())["figures"]
    assert figures["ratelimit_60"]["ratio"] > 0
    assert figures["dedupe_python"]["per_s"] > 0
    assert "redis" in figures
