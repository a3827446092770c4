"""Guards benchmarks against the peers a user would otherwise pick (README.md, Speed), one run.

    python benchmarks/bench_guards.py [--quick] [--json PATH] [--repeats N]

Rate limiter (budget: >= 20x faster than ``limits``' memory backend)
    N calls of ``RateLimiter(limit=60, window_s=60).try_acquire("slack")`` (the native
    fast path, wall clock) vs ``limits.strategies.MovingWindowRateLimiter`` on
    ``MemoryStorage`` with ``RateLimitItemPerMinute(60)`` ``hit(item, "slack")`` — the same
    exact sliding window, the same answers (checked: both grant exactly 60 of the N).
    Also with a limit that never denies (10^6 per minute) as an INFO row.
Dedupe (budget: >= 10 M check_and_record/s from C++; the Python call is reported)
    The C++ figures come from ``build/cpp/montalaq_bench_dedupe`` (10 M calls of 64-hex
    keys, TTL 900 s, capacity 1 M) for several numbers of live keys; the budget row is the
    ~100k-live stream (a busy backend's keys within one TTL), the others are INFO (past
    ~400k live keys each new key is a cache miss and the rate drops below 10 M/s). The
    Python figure is N ``DedupeCache.check_and_record(key, now)`` calls (int ns) over pre-built
    keys (half repeats).
Retry (no budget): building the schedule of a 10-attempt policy, montalaq
    ``RetryPolicy.delays()`` vs tenacity's ``wait_exponential(multiplier=1, max=60) +
    wait_random`` evaluated for the same attempts; and a call that fails 9 times with no
    real sleeping, ``RetryPolicy.call`` vs ``tenacity.Retrying`` with ``sleep`` replaced.
Redis twins (no budget): ``RedisRateLimiter.try_acquire`` and
    ``RedisDedupe.check_and_record`` one call per round trip vs their ``*_many`` forms
    pipelined in batches of 100, against the local Redis server.

Ratios are peer time / montalaq time (> 1: montalaq faster). Exit status 0 either way.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import time
import uuid
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))

import montalaq
from _common import (
    REPO_ROOT,
    Row,
    best_of,
    fmt_ns,
    fmt_rate,
    git_describe,
    machine_info,
    render_table,
    rows_json,
)
from montalaq.ratelimit import RateLimiter, RedisRateLimiter
from montalaq.retry import RetryPolicy

BUDGET_VS_LIMITS = 20.0
BUDGET_DEDUPE_PER_S = 10e6
REDIS_URL = "redis://127.0.0.1:6379/15"


def bench_ratelimit(n: int, repeats: int, rows: list[Row], figures: dict[str, Any]) -> None:
    from limits import RateLimitItemPerMinute, storage, strategies

    for limit, budgeted in ((60, True), (1_000_000, False)):
        granted: dict[str, int] = {}

        def mq(limit: int = limit, granted: dict[str, int] = granted) -> None:
            acquire = RateLimiter(limit=limit, window_s=60).try_acquire
            granted["mq"] = sum(1 for _ in range(n) if acquire("slack"))

        def peer(limit: int = limit, granted: dict[str, int] = granted) -> None:
            hit = strategies.MovingWindowRateLimiter(storage.MemoryStorage()).hit
            item = RateLimitItemPerMinute(limit)
            granted["peer"] = sum(1 for _ in range(n) if hit(item, "slack"))

        t_mq = best_of(mq, repeats)
        t_peer = best_of(peer, repeats)
        want = min(limit, n)
        if granted != {"mq": want, "peer": want}:
            raise AssertionError(f"limit {limit}: granted {granted}, expected {want} each")
        ns_mq, ns_peer = t_mq.best_s / n * 1e9, t_peer.best_s / n * 1e9
        ratio = ns_peer / ns_mq
        figures[f"ratelimit_{limit}"] = {"ns_mq": ns_mq, "ns_limits": ns_peer, "ratio": ratio, "calls": n}
        rows.append(
            Row(
                f"rate limiter try_acquire vs limits MovingWindow (memory), {limit}/min [{n:,} calls]",
                fmt_ns(ns_mq),
                f"limits {fmt_ns(ns_peer)}",
                ratio,
                f">= {BUDGET_VS_LIMITS:.0f}x" if budgeted else "- (info)",
                ratio >= BUDGET_VS_LIMITS if budgeted else None,
            )
        )


def bench_dedupe(n: int, repeats: int, rows: list[Row], figures: dict[str, Any]) -> None:
    try:
        from montalaq.dedupe import DedupeCache, DedupeResult
    except ImportError as exc:  # the module lands with the dedupe work
        rows.append(Row("dedupe check_and_record from Python", "n/a", status="SKIP"))
        figures["dedupe"] = {"skipped": str(exc)}
        return
    keys = [uuid.uuid4().hex * 2 for _ in range(n // 2)]
    keys = keys + keys  # the second half are repeats: DEDUPED
    answers: dict[str, int] = {}

    def mq() -> None:
        check = DedupeCache(ttl_s=900, capacity=2 * n).check_and_record
        allowed = DedupeResult.ALLOWED
        answers["allowed"] = sum(1 for k in keys if check(k, 1_767_225_600_000_000_000) is allowed)

    t = best_of(mq, repeats)
    if answers["allowed"] != n // 2:
        raise AssertionError(f"dedupe allowed {answers['allowed']}, expected {n // 2}")
    per_s = n / t.best_s
    figures["dedupe_python"] = {"calls": n, "per_s": per_s}
    rows.append(
        Row(
            f"dedupe check_and_record from Python [{n:,} calls, half repeats]",
            fmt_rate(per_s),
            budget="- (info)",
        )
    )
    binary = Path(REPO_ROOT) / "build" / "cpp" / "montalaq_bench_dedupe"
    if not binary.exists():
        rows.append(
            Row(
                "dedupe check_and_record in C++",
                "n/a",
                budget=f">= {BUDGET_DEDUPE_PER_S / 1e6:.0f} M/s",
                status="SKIP",
            )
        )
        figures["dedupe_cpp"] = {"skipped": f"{binary} not built (make test builds it)"}
        return
    cpp_calls, cpp_repeats = (1_000_000, 1) if n < 100_000 else (10_000_000, 3)
    proc = subprocess.run(
        [str(binary), str(cpp_calls), str(cpp_repeats)],
        capture_output=True,
        text=True,
        timeout=600,
        check=True,
    )
    out = json.loads(proc.stdout.strip().splitlines()[-1])
    figures["dedupe_cpp"] = out
    scenarios = {
        "mixed_10k_live": "half new / half repeats, ~10k keys recorded",
        "mixed_100k_live": "half new / half repeats, ~100k keys recorded",
        "mixed_450k_live": "half new / half repeats, ~450k keys recorded",
        "new_at_capacity": "every key new at capacity (one eviction per call)",
        "repeat": "repeats only (DEDUPED)",
    }
    for key, label in scenarios.items():
        per_s = float(out[key]["calls_per_s"])
        budgeted = key == "mixed_100k_live"  # the budget row: a busy backend's TTL worth of keys
        rows.append(
            Row(
                f"dedupe check_and_record in C++, {label} [{out['calls']:,} calls]",
                fmt_rate(per_s),
                budget=f">= {BUDGET_DEDUPE_PER_S / 1e6:.0f} M/s" if budgeted else "- (info)",
                ok=per_s >= BUDGET_DEDUPE_PER_S if budgeted else None,
            )
        )


def bench_retry(n: int, repeats: int, rows: list[Row], figures: dict[str, Any]) -> None:
    import tenacity

    attempts = 10
    policy = RetryPolicy(max_attempts=attempts, base_s=1.0, jitter=0.2, max_delay_s=60.0, seed=1)
    wait = tenacity.wait_exponential(multiplier=1, max=60) + tenacity.wait_random(0, 0.4)

    class _State:
        def __init__(self, number: int) -> None:
            self.attempt_number = number

    states = [_State(k) for k in range(1, attempts)]
    m = max(1, n // 50)

    def mq_sched() -> None:
        for _ in range(m):
            policy.delays()

    def peer_sched() -> None:
        for _ in range(m):
            [wait(s) for s in states]  # type: ignore[arg-type]

    t_mq, t_peer = best_of(mq_sched, repeats), best_of(peer_sched, repeats)
    us_mq, us_peer = t_mq.best_s / m * 1e6, t_peer.best_s / m * 1e6
    rows.append(
        Row(
            f"retry schedule of a {attempts}-attempt policy vs tenacity waits [{m:,} schedules]",
            f"{us_mq:.2f} us",
            f"tenacity {us_peer:.2f} us",
            us_peer / us_mq,
            "- (info)",
        )
    )
    no_sleep = RetryPolicy(max_attempts=attempts, seed=1, sleep=lambda s: None)

    def failing_then_ok() -> int:
        failing_then_ok.calls += 1  # type: ignore[attr-defined]
        if failing_then_ok.calls % attempts:  # type: ignore[attr-defined]
            raise TimeoutError
        return 1

    failing_then_ok.calls = 0  # type: ignore[attr-defined]
    k = max(1, n // 200)

    def mq_call() -> None:
        for _ in range(k):
            no_sleep.call(failing_then_ok)

    retrying = tenacity.Retrying(
        stop=tenacity.stop_after_attempt(attempts),
        wait=wait,
        retry=tenacity.retry_if_exception_type((TimeoutError, ConnectionError)),
        sleep=lambda s: None,
        reraise=True,
    )

    def peer_call() -> None:
        for _ in range(k):
            retrying(failing_then_ok)

    t_mq, t_peer = best_of(mq_call, repeats), best_of(peer_call, repeats)
    us_mq, us_peer = t_mq.best_s / k * 1e6, t_peer.best_s / k * 1e6
    figures["retry"] = {"schedule_us": us_mq, "call_us": us_mq}
    rows.append(
        Row(
            f"call failing {attempts - 1}x then succeeding, no real sleep, vs tenacity [{k:,} calls]",
            f"{us_mq:.1f} us",
            f"tenacity {us_peer:.1f} us",
            us_peer / us_mq,
            "- (info)",
        )
    )


def bench_redis(n: int, repeats: int, rows: list[Row], figures: dict[str, Any]) -> None:
    import redis

    client = redis.Redis.from_url(REDIS_URL)
    try:
        client.ping()
    except redis.exceptions.ConnectionError as exc:
        rows.append(Row("RedisRateLimiter", "n/a", status="SKIP"))
        figures["redis"] = {"skipped": str(exc)}
        return
    prefix = f"montalaq-bench:{uuid.uuid4().hex}:"
    limiter = RedisRateLimiter(REDIS_URL, limit=10**7, window_s=60, prefix=prefix)
    m = max(100, n // 20)
    keys = [f"k{i % 50}" for i in range(m)]

    def single() -> None:
        for key in keys:
            limiter.try_acquire(key)

    def piped() -> None:
        for i in range(0, m, 100):
            limiter.try_acquire_many(keys[i : i + 100])

    try:
        t1, t2 = best_of(single, repeats), best_of(piped, repeats)
    finally:
        stale = list(client.scan_iter(match=prefix + "*"))
        if stale:
            client.delete(*stale)
        limiter.close()
        client.close()
    from montalaq.dedupe import RedisDedupe

    dedupe = RedisDedupe(REDIS_URL, ttl_s=60, prefix=prefix + "d:")
    dkeys = [uuid.uuid4().hex for _ in range(m)]

    def d_single() -> None:
        for key in dkeys:
            dedupe.check_and_record(key)

    def d_piped() -> None:
        for i in range(0, m, 100):
            dedupe.check_and_record_many(dkeys[i : i + 100])

    try:
        t3, t4 = best_of(d_single, repeats), best_of(d_piped, repeats)
    finally:
        dedupe.clear()
        dedupe.close()
    figures["redis"] = {
        "single_per_s": m / t1.best_s,
        "pipelined_per_s": m / t2.best_s,
        "dedupe_single_per_s": m / t3.best_s,
        "dedupe_pipelined_per_s": m / t4.best_s,
    }
    rows.append(
        Row(
            f"RedisRateLimiter.try_acquire, one round trip each [{m:,}]",
            fmt_rate(m / t1.best_s),
            budget="- (info)",
        )
    )
    rows.append(
        Row(
            f"RedisRateLimiter.try_acquire_many, pipelined by 100 [{m:,}]",
            fmt_rate(m / t2.best_s),
            budget="- (info)",
        )
    )
    for label, t in (
        ("check_and_record, one round trip each", t3),
        ("check_and_record_many, pipelined by 100", t4),
    ):
        rows.append(Row(f"RedisDedupe.{label} [{m:,}]", fmt_rate(m / t.best_s), budget="- (info)"))


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--quick", action="store_true", help="small sizes for a smoke run")
    ap.add_argument("--json", metavar="PATH", help="also write every figure as JSON to PATH")
    ap.add_argument("--repeats", type=int, default=None, help="timed runs per measurement (best is kept)")
    args = ap.parse_args(argv)
    n = 20_000 if args.quick else 300_000
    repeats = args.repeats or (2 if args.quick else 5)
    rows: list[Row] = []
    figures: dict[str, Any] = {}
    started = time.perf_counter()
    bench_ratelimit(n, repeats, rows, figures)
    bench_dedupe(n, repeats, rows, figures)
    bench_retry(n, repeats, rows, figures)
    bench_redis(n, repeats, rows, figures)
    mode = "quick" if args.quick else "full"
    print(f"montalaq {montalaq.__version__} ({git_describe()}) guards benchmarks, {mode} mode")
    print("ratio = peer time / montalaq time (> 1: montalaq faster)\n")
    print(render_table(rows))
    misses = [r.measurement for r in rows if r.verdict == "MISS"]
    print(f"\nbudget misses: {len(misses)}" + ("" if not misses else " -> " + "; ".join(misses)))
    print(f"total time {time.perf_counter() - started:.1f} s")
    if args.json:
        Path(args.json).write_text(
            json.dumps(
                {"machine": machine_info(), "rows": rows_json(rows), "figures": figures},
                indent=2,
                default=str,
            )
        )
    return 0


if __name__ == "__main__":
    sys.exit(main())
