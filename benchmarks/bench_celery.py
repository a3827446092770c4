"""Celery benchmarks (docs/semantics.md, Celery; README.md, Speed): the escalation task over 100,000 pairs,
and
analyses per second with one and two real Celery workers on the same queue.

    python benchmarks/bench_celery.py [--quick] [--json PATH] [--pairs N] [--escalation-only]

Escalation task (what a worker runs for ``montalaq.escalation``)
    25,000 symbols x 1m, 5m, 15m, 1h = 100,000 pairs (``--quick``: 2,500 x 4 = 10,000) in a
    watchlist; Redis on 127.0.0.1 (``MONTALAQ_BENCH_REDIS``, db 15, a fresh key prefix,
    deleted after); the status rows on the local PostgreSQL (``MONTALAQ_BENCH_PG``; a
    scratch database) or, when it does not answer, a temporary SQLite file. Each cycle the
    last-trade times of every symbol are rewritten (99% fresh, 1% stale, the stale 1% moving)
    and 100 analysis failures are queued, as workers would between two beats (about 1% of the
    pairs change level each cycle: events to notify, status rows to write). One cycle is
    ``montalaq.celery.escalation.evaluate`` end to end: the board lock, the board loaded,
    the failures applied, the native evaluation, the new board document saved with its
    events in one Redis transaction, the events queued as notifications, the status rows of
    the pairs that changed upserted. Two cases:
      cold  another worker evaluated last: the board's binary snapshot is read from Redis
            (``EscalationBoard.from_bytes``) before the evaluation;
      warm  this worker evaluated last: its cached board is current (a version check).
      quiet every pair fresh and no failure: no event, no status row -- what keeping the
            board shared costs when nothing happens, warm and cold.
    Median and max over the measured cycles, after two warm-up cycles (the first cycle
    writes every status row: not measured). A breakdown of a cold cycle (Redis GET,
    ``from_bytes``, native evaluate, ``to_bytes``, Redis SET) follows, with the JSON
    document's ``from_json``/``to_json`` of the same board as the peer (what the task used
    before the snapshots). Budgets at 100,000 pairs (docs/operations.md, "Scale-out on
    Celery"): a quiet warm cycle <= 100 ms, a quiet cold one <= 250 ms, the snapshot <= 10 ms
    each way; the native evaluation <= 10 ms (README.md, Speed).

Analyses per second (``montalaq.analyse`` on real workers)
    N = 2,000 analysis requests (``--quick``: 200) for 200 symbols, queued on a Redis broker
    before the workers start, then drained by 1, and in a second run by 2, ``celery worker
    -P solo`` processes (one task at a time each); three rounds alternating 1 and 2 workers,
    the best of each kept (``--quick``: one round). Each analysis: its Redis claim, the
    analysis saved three times (PENDING, RUNNING, COMPLETE) on PostgreSQL, the signal hook,
    the claim marked done. The rate is N over the time from the first analysis created to
    the last one finished (the rows' own timestamps), so worker start-up is not counted.
    The machine has 2 cores shared with PostgreSQL, Redis and this script: the ratio says
    how much a second worker adds here, not on a bigger machine.
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))

import numpy as np

import montalaq
from _common import Row, fmt_rate, fmt_time, git_describe, machine_info, render_table, rows_json

HERE = Path(__file__).resolve().parent
REDIS_URL = os.environ.get("MONTALAQ_BENCH_REDIS", "redis://127.0.0.1:6379/15")
PG_URL = os.environ.get("MONTALAQ_BENCH_PG", "postgresql://postgres@127.0.0.1:5432/postgres")
TIMEFRAMES = ("1m", "5m", "15m", "1h")
NS = 1_000_000_000


def log(msg: str) -> None:
    print(f"[bench_celery] {msg}", file=sys.stderr, flush=True)


# ------------------------------------------------------------------------------ databases


def _pg_database() -> str | None:
    """A scratch PostgreSQL database's URL, or None if the server does not answer."""
    try:
        import psycopg

        name = f"montalaq_bench_celery_{os.getpid()}_{uuid.uuid4().hex[:6]}"
        with psycopg.connect(PG_URL, autocommit=True, connect_timeout=3) as conn:
            conn.execute(f'CREATE DATABASE "{name}"')
        return f"{PG_URL.rsplit('/', 1)[0]}/{name}"
    except Exception:
        return None


def _drop_pg(url: str) -> None:
    import psycopg

    name = url.rsplit("/", 1)[1]
    with psycopg.connect(PG_URL, autocommit=True) as conn:
        conn.execute(
            "SELECT pg_terminate_backend(pid) FROM pg_stat_activity"
            " WHERE datname = %s AND pid <> pg_backend_pid()",
            (name,),
        )
        conn.execute(f'DROP DATABASE IF EXISTS "{name}"')


def _clear_prefix(prefix: str) -> None:
    import redis

    client = redis.Redis.from_url(REDIS_URL)
    keys = list(client.scan_iter(match=prefix + "*", count=5000))
    for i in range(0, len(keys), 5000):
        client.delete(*keys[i : i + 5000])
    client.close()


# ------------------------------------------------------------------------------ the escalation task


def bench_escalation(
    n_symbols: int, cycles: int, db_url: str, db_label: str, rows: list[Row], figures: dict[str, Any]
) -> None:
    from celery import Celery  # type: ignore[import-untyped]

    import montalaq.celery as mc
    from montalaq.celery import escalation
    from montalaq.health import EscalationBoard
    from montalaq.settings import Settings
    from montalaq.watchlist import Watchlist, WatchlistEntry

    symbols = [f"S{i:05d}" for i in range(n_symbols)]
    wl = Watchlist(tuple(WatchlistEntry(s, "AllTick", TIMEFRAMES) for s in symbols))
    prefix = f"montalaq-bench:{uuid.uuid4().hex}:"
    settings = Settings.from_env({"DATABASE_URL": db_url, "REDIS_URL": REDIS_URL})
    handle = mc.install(
        Celery("bench"), settings, watchlist=wl, options=mc.CeleryOptions(prefix=prefix), agents=None
    )
    try:
        rt = handle.runtime()
        state = rt.state
        rng = np.random.default_rng(7)
        n_pairs = n_symbols * len(TIMEFRAMES)

        def workload(cycle: int, *, churn: bool = True) -> None:
            now = rt.now_ns()
            ages_s = rng.uniform(0, 30, n_symbols)
            if churn:
                stale = (np.arange(n_symbols) + cycle * (n_symbols // 100)) % 100 == 0  # 1%, moving
                ages_s[stale] = rng.uniform(200, 4000, int(stale.sum()))
            last = now - (ages_s * NS).astype(np.int64)
            # What the tick writes: the per-symbol hash and the packed array.
            state.save_last_trades(
                dict(zip(symbols, last.tolist(), strict=True)), order=symbols, digest=wl.digest
            )
            for k in range(100 if churn else 0):
                sym = symbols[(cycle * 100 + k) % n_symbols]
                state.push_failure(sym, "1m", now, "ANALYSIS_ERR")

        t0 = time.perf_counter()
        workload(0)
        first = escalation.evaluate(rt)  # every status row written: setup, not measured
        setup_s = time.perf_counter() - t0
        log(
            f"escalation: {n_pairs:,} pairs; first cycle ({first['status_rows']:,} status rows) "
            f"{setup_s:.2f} s"
        )
        workload(1)
        escalation.evaluate(rt)  # warm-up
        cold: list[float] = []
        warm: list[float] = []
        events: list[int] = []
        status_rows: list[int] = []
        for c in range(cycles):
            for case, out in (("cold", cold), ("warm", warm)):
                workload(2 + 2 * c + (case == "warm"))
                if case == "cold":
                    rt.board_cache = None  # as if another worker had evaluated last
                t = time.perf_counter()
                report = escalation.evaluate(rt)
                out.append(time.perf_counter() - t)
                assert report["evaluated"], report
                events.append(int(report["events"]))
                status_rows.append(int(report["status_rows"]))
        # Quiet cycles: every pair fresh, no failure -- the cost of keeping the board shared
        # when nothing happens (the first one, as pairs recover, is a warm-up).
        quiet: list[float] = []
        quiet_cold: list[float] = []
        quiet_events: list[int] = []
        for c in range(cycles + 1):
            for case, out in (("warm", quiet), ("cold", quiet_cold)):
                workload(100 + 2 * c + (case == "cold"), churn=False)
                if case == "cold":
                    rt.board_cache = None  # as if another worker had evaluated last
                t = time.perf_counter()
                report = escalation.evaluate(rt)
                if c:
                    out.append(time.perf_counter() - t)
                    quiet_events.append(int(report["events"]))
        # Breakdown of a cold cycle's parts, on the board as it is now: the snapshot the task
        # uses, and the JSON document it used before (the peer: same board, same run).
        t = time.perf_counter()
        raw = state.client.get(state.key("board"))
        get_s = time.perf_counter() - t
        assert isinstance(raw, bytes)
        t = time.perf_counter()
        board = EscalationBoard.from_bytes(raw)
        load_s = time.perf_counter() - t
        ticks = np.full(len(board), rt.now_ns() - 5 * NS, dtype=np.int64)
        t = time.perf_counter()
        board.evaluate(rt.now_ns() + 60 * NS, ticks)
        eval_s = time.perf_counter() - t
        t = time.perf_counter()
        snapshot = board.to_bytes()
        save_s = time.perf_counter() - t
        t = time.perf_counter()
        state.client.set(state.key("bench-copy"), snapshot)
        set_s = time.perf_counter() - t
        t = time.perf_counter()
        doc = board.to_json()
        dump_s = time.perf_counter() - t
        t = time.perf_counter()
        EscalationBoard.from_json(doc)
        parse_s = time.perf_counter() - t
        snapshot_mb, doc_mb = len(snapshot) / 1e6, len(doc) / 1e6
    finally:
        handle.close()
        _clear_prefix(prefix)
    cold_med, warm_med = statistics.median(cold), statistics.median(warm)
    figures["escalation"] = {
        "pairs": n_pairs,
        "symbols": n_symbols,
        "cycles": cycles,
        "database": db_label,
        "cold_s": cold,
        "warm_s": warm,
        "quiet_s": quiet,
        "quiet_median_s": statistics.median(quiet),
        "quiet_cold_s": quiet_cold,
        "quiet_cold_median_s": statistics.median(quiet_cold),
        "quiet_events_per_cycle": quiet_events,
        "cold_median_s": cold_med,
        "warm_median_s": warm_med,
        "cold_pairs_per_s": n_pairs / cold_med,
        "warm_pairs_per_s": n_pairs / warm_med,
        "events_per_cycle": events,
        "status_rows_per_cycle": status_rows,
        "first_cycle_s": setup_s,
        "breakdown_s": {
            "get": get_s,
            "from_bytes": load_s,
            "evaluate": eval_s,
            "to_bytes": save_s,
            "set": set_s,
            "from_json": parse_s,
            "to_json": dump_s,
        },
        "snapshot_mb": snapshot_mb,
        "document_mb": doc_mb,
    }
    label = f"{n_pairs:,} pairs"
    budgeted = n_pairs >= 100_000  # issue 16's budgets are for 100,000 pairs
    quiet_med = statistics.median(quiet)
    rows.append(
        Row(
            f"escalation task, cold (board loaded from Redis) [{label}] median / max per cycle",
            f"{fmt_time(cold_med)} / {fmt_time(max(cold))} = {fmt_rate(n_pairs / cold_med)} pairs",
            budget="- (info)",
        )
    )
    rows.append(
        Row(
            f"escalation task, warm (this worker's cached board) [{label}] median / max per cycle",
            f"{fmt_time(warm_med)} / {fmt_time(max(warm))} = {fmt_rate(n_pairs / warm_med)} pairs",
            budget="- (info)",
        )
    )
    rows.append(
        Row(
            f"escalation task, warm, quiet cycle (no event, no failure) [{label}] median / max",
            f"{fmt_time(quiet_med)} / {fmt_time(max(quiet))} = {fmt_rate(n_pairs / quiet_med)} pairs",
            budget="<= 100 ms (docs/operations.md)" if budgeted else "- (info)",
            ok=quiet_med <= 0.100 if budgeted else None,
        )
    )
    quiet_cold_med = statistics.median(quiet_cold)
    rows.append(
        Row(
            f"escalation task, cold, quiet cycle (board loaded from Redis) [{label}] median / max",
            f"{fmt_time(quiet_cold_med)} / {fmt_time(max(quiet_cold))} = "
            f"{fmt_rate(n_pairs / quiet_cold_med)} pairs",
            budget="<= 250 ms (docs/operations.md)" if budgeted else "- (info)",
            ok=quiet_cold_med <= 0.250 if budgeted else None,
        )
    )
    rows.append(
        Row(
            f"  of which: native evaluate [{label}]",
            fmt_time(eval_s),
            budget="<= 10 ms (README.md, Speed)",
            ok=eval_s <= 0.010 if n_pairs >= 100_000 else None,
        )
    )
    rows.append(
        Row(
            f"  of which: from_bytes / to_bytes / Redis GET / SET of the {snapshot_mb:.1f} MB snapshot",
            f"{fmt_time(load_s)} / {fmt_time(save_s)} / {fmt_time(get_s)} / {fmt_time(set_s)}",
            peer=f"from_json / to_json of the {doc_mb:.0f} MB JSON: {fmt_time(parse_s)} / {fmt_time(dump_s)}",
            ratio=(parse_s + dump_s) / (load_s + save_s),
            budget="<= 10 ms each (docs/semantics.md, Binary snapshots)" if budgeted else "- (info)",
            ok=max(load_s, save_s) <= 0.010 if budgeted else None,
        )
    )


# ------------------------------------------------------------------------------ analyses per second


def _make_app(config: dict[str, Any]) -> tuple[Any, Any]:
    """The benchmark's Celery app (also what ``celery -A bench_celery`` loads in a worker)."""
    from celery import Celery

    import montalaq.celery as mc
    from montalaq.settings import Settings

    app = Celery("montalaq_bench", broker=config["broker_url"])
    app.conf.broker_transport_options = {"global_keyprefix": f"{config['prefix']}kombu:"}
    app.conf.task_default_queue = config["queue"]
    app.conf.broker_connection_retry_on_startup = True
    app.conf.worker_hijack_root_logger = False
    handle = mc.install(
        app,
        Settings.from_env(config["env"]),
        watchlist=config["watchlist_path"],
        options=mc.CeleryOptions(prefix=config["prefix"], queue=config["queue"]),
        agents=None,
    )
    return app, handle


def _features() -> dict[str, float | None]:
    """Real ``/signals_tf`` features: one hour of the SPY sample's session through an engine."""
    from montalaq.engine import MarketEngine
    from montalaq.feeds import ReplayProvider

    p = ReplayProvider(montalaq.sample_path("spy"), start_offset_s=5.5 * 3600, start_ns=1_700_000_000 * NS)
    engine = MarketEngine(["1m", "5m", "15m"], symbols=["SPY"])
    for b in p.take_until(1_700_000_000 * NS + 3600 * NS):
        engine.on_trades(b.symbol, b.ts_ns, b.price, b.size, b.side, b.trade_id)
    return dict(engine.signals_tf("SPY"))


def _run_workers(n_workers: int, n: int, features: dict[str, Any], tmp: Path) -> dict[str, Any]:
    db_url = _pg_database()
    if db_url is None:
        raise RuntimeError("no PostgreSQL")
    prefix = f"montalaq-bench:{uuid.uuid4().hex}:"
    wl_path = tmp / "watchlist.yaml"
    wl_path.write_text("pairs: [{symbol: B000, provider: AllTick, timeframes: [1m]}]\n")
    config: dict[str, Any] = {
        "broker_url": REDIS_URL,
        "prefix": prefix,
        "queue": f"{prefix}q",
        "watchlist_path": str(wl_path),
        "env": {
            "DATABASE_URL": db_url,
            "REDIS_URL": REDIS_URL,
            "NOTIFY_DRY_RUN": "true",
            "ANALYSIS_NOTIFY_THRESHOLD": "100",
        },
    }
    app, handle = _make_app(config)
    procs: list[subprocess.Popen[bytes]] = []
    try:
        rt = handle.runtime()
        rt.store.ensure_schema()  # migrated before the workers race for it
        base = (time.time_ns() // (60 * NS) - n) * 60 * NS
        for i in range(n):
            handle.tasks["analyse"].apply_async(
                args=[
                    {
                        "symbol": f"B{i % 200:03d}",
                        "timeframe": "1m",
                        "start_ns": base + (i // 200) * 60 * NS,
                        "close": 420.0 + (i % 7) * 0.01,
                        "atr": 0.12,
                        "features": features,
                        "prev_start_ns": None,
                        "queued_wall_ns": time.time_ns(),
                    }
                ],
                queue=config["queue"],
            )
        env = dict(os.environ)
        pkg_root = str(Path(montalaq.__file__).resolve().parent.parent)
        paths = [pkg_root, str(HERE), env.get("PYTHONPATH", "")]
        env["PYTHONPATH"] = os.pathsep.join(p for p in paths if p)
        env["MONTALAQ_BENCH_CELERY"] = json.dumps(config)
        for k in range(n_workers):
            procs.append(
                subprocess.Popen(
                    [
                        sys.executable,
                        "-m",
                        "celery",
                        "-A",
                        "bench_celery",
                        "worker",
                        "-P",
                        "solo",
                        "-n",
                        f"bench{k}@%h",
                        "-Q",
                        config["queue"],
                        "-l",
                        "WARNING",
                        "--without-gossip",
                        "--without-mingle",
                        "--without-heartbeat",
                    ],
                    cwd=str(HERE),
                    env=env,
                    stdout=subprocess.DEVNULL,
                    stderr=subprocess.DEVNULL,
                )
            )
        deadline = time.monotonic() + 600
        while handle.counters().get("analyses_complete", 0) < n:
            if time.monotonic() > deadline or any(p.poll() is not None for p in procs):
                raise RuntimeError(f"workers stalled at {handle.counters().get('analyses_complete', 0)}/{n}")
            time.sleep(0.2)
        from sqlalchemy import func, select

        from montalaq.store import schema

        t = schema.trade_analysis
        with rt.store.engine.connect() as conn:
            first, last, count = conn.execute(
                select(func.min(t.c.created_at), func.max(t.c.updated_at), func.count())
            ).one()
        span_s = (last - first).total_seconds()
        return {"workers": n_workers, "analyses": int(count), "seconds": span_s, "per_s": count / span_s}
    finally:
        for p in procs:
            p.terminate()
        for p in procs:
            try:
                p.wait(20)
            except subprocess.TimeoutExpired:
                p.kill()
        handle.close()
        app.close()
        _clear_prefix(prefix)
        _drop_pg(db_url)


def bench_workers(n: int, rounds: int, rows: list[Row], figures: dict[str, Any]) -> None:
    features = _features()
    runs: dict[int, list[dict[str, Any]]] = {1: [], 2: []}
    with tempfile.TemporaryDirectory(prefix="montalaq-bench-celery-") as tmp:
        for _ in range(rounds):  # alternated, so machine noise hits both alike
            for k in (1, 2):
                runs[k].append(_run_workers(k, n, features, Path(tmp)))
                log(f"{k} worker(s): {runs[k][-1]['per_s']:.0f} analyses/s")
    one = max(runs[1], key=lambda r: float(r["per_s"]))
    two = max(runs[2], key=lambda r: float(r["per_s"]))
    ratio = two["per_s"] / one["per_s"]
    figures["workers"] = {"one": one, "two": two, "ratio": ratio, "runs": runs}
    rows.append(
        Row(
            f"analyses/s, 1 worker (solo pool) [{n:,} analyses, PostgreSQL]",
            fmt_rate(one["per_s"]),
            budget="- (info)",
        )
    )
    rows.append(
        Row(
            f"analyses/s, 2 workers on the same queue [{n:,} analyses, PostgreSQL]",
            fmt_rate(two["per_s"]),
            peer=fmt_rate(one["per_s"]) + " (1 worker)",
            ratio=ratio,
            budget="- (info; ratio = 2 workers / 1)",
        )
    )


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--quick", action="store_true", help="small sizes for a smoke run")
    ap.add_argument("--json", metavar="PATH", help="also write every figure as JSON to PATH")
    ap.add_argument("--pairs", type=int, help="escalation pairs (a multiple of 4; default 100,000)")
    ap.add_argument("--escalation-only", action="store_true", help="skip the analyses/s runs")
    args = ap.parse_args(argv)
    # Level changes are logged at WARNING: hundreds a cycle here, not what is measured.
    logging.getLogger("montalaq").setLevel(logging.ERROR)
    n_symbols = args.pairs // len(TIMEFRAMES) if args.pairs else 2_500 if args.quick else 25_000
    cycles = 2 if args.quick else 5
    n_analyses = 200 if args.quick else 2_000
    rows: list[Row] = []
    figures: dict[str, Any] = {}
    started = time.perf_counter()
    pg = _pg_database()
    with tempfile.TemporaryDirectory(prefix="montalaq-bench-celery-") as tmp:
        if pg is not None:
            try:
                bench_escalation(n_symbols, cycles, pg, "PostgreSQL", rows, figures)
            finally:
                _drop_pg(pg)
        else:
            bench_escalation(n_symbols, cycles, f"sqlite:///{tmp}/status.db", "SQLite", rows, figures)
    try:
        if not args.escalation_only:
            bench_workers(n_analyses, 1 if args.quick else 3, rows, figures)
    except RuntimeError as exc:
        rows.append(Row("analyses/s with 1 and 2 workers", "n/a", status="SKIP"))
        figures["workers"] = {"skipped": str(exc)}
    mode = "quick" if args.quick else "full"
    print(f"montalaq {montalaq.__version__} ({git_describe()}) Celery benchmarks, {mode} mode")
    esc = figures["escalation"]
    print(
        f"escalation: {esc['pairs']:,} pairs ({esc['symbols']:,} symbols x {', '.join(TIMEFRAMES)}), "
        f"{esc['cycles']} cycles per case after 2 warm-up cycles; status rows on {esc['database']}; "
        f"events per cycle {min(esc['events_per_cycle'])}-{max(esc['events_per_cycle'])}, status rows per "
        f"cycle {min(esc['status_rows_per_cycle'])}-{max(esc['status_rows_per_cycle'])}\n"
    )
    print(render_table(rows))
    w = figures.get("workers", {})
    if "ratio" in w:
        print(f"\n2 workers / 1 worker: {w['ratio']:.2f}x analyses/s")
    print(f"\ntotal time {time.perf_counter() - started:.1f} s")
    if args.json:
        Path(args.json).write_text(
            json.dumps(
                {"machine": machine_info(), "rows": rows_json(rows), "figures": figures},
                indent=2,
                default=str,
            )
        )
    return 0


# A worker started by bench_workers imports this module (celery -A bench_celery): its app.
if os.environ.get("MONTALAQ_BENCH_CELERY"):
    app, montalaq_handle = _make_app(json.loads(os.environ["MONTALAQ_BENCH_CELERY"]))

if __name__ == "__main__":
    raise SystemExit(main())
