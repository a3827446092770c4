"""bench_guards.py --quick runs, prints every row with a status, and writes its figures.

A behaviour check of the benchmark script, not a timing assertion.
"""

from pathlib import Path

import pytest

from bench_support import run_quick

# A benchmark subprocess of seconds: scheduled first in parallel runs.
pytestmark = pytest.mark.slow

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
    run = run_quick("bench_guards.py", tmp_path)
    for prefix in ROWS:
        assert run.status(prefix) in {"PASS", "MISS", "INFO"}, run.row(prefix)
    assert run.figures["ratelimit_60"]["ratio"] > 0
    assert run.figures["dedupe_python"]["per_s"] > 0
    assert "redis" in run.figures
