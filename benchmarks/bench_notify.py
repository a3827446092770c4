"""Notification benchmarks: what ``Notifier.notify`` costs the caller, and how fast the
worker drains the outbox to a local HTTP receiver, next to apprise (the library a user
would otherwise pick) posting the same events to the same receiver.

The caller's cost is the durable outbox write (one transaction per event, one row per
channel): p50/p99 over single calls, on SQLite (WAL, synchronous=NORMAL) and on the local
PostgreSQL when it answers. apprise has no outbox: its ``notify`` blocks on the HTTP post,
so its caller cost is one HTTP round trip and nothing survives a crash. Delivery rate is
end to end: from the first claim until the receiver has every event and the outbox holds
no PENDING row.
"""

from __future__ import annotations

import argparse
import json
import os
import socket
import statistics
import sys
import tempfile
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))

import montalaq
from _common import Row, fmt_rate, fmt_time, git_describe, machine_info, render_table, rows_json
from montalaq.notify import Notifier, WebhookChannel
from montalaq.store import Store

PG_URL = os.environ.get("MONTALAQ_BENCH_PG", "postgresql://postgres@127.0.0.1:5432/postgres")


class _Sink(BaseHTTPRequestHandler):
    """Counts POSTs and answers 200 in one write with Nagle off: a reply split in two
    writes meets the client's delayed ACK and costs 40 ms a request, measuring the
    kernel rather than the notifier."""

    protocol_version = "HTTP/1.1"
    count = 0
    lock = threading.Lock()

    def setup(self) -> None:
        super().setup()
        self.connection.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)

    def do_POST(self) -> None:
        n = int(self.headers.get("Content-Length") or 0)
        self.rfile.read(n)
        with _Sink.lock:
            _Sink.count += 1
        self.wfile.write(b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\nContent-Type: text/plain\r\n\r\nok")
        self.wfile.flush()

    def log_message(self, *_args: Any) -> None:
        pass


def _receiver() -> tuple[ThreadingHTTPServer, str]:
    server = ThreadingHTTPServer(("127.0.0.1", 0), _Sink)
    server.daemon_threads = True
    threading.Thread(target=server.serve_forever, daemon=True).start()
    return server, f"http://127.0.0.1:{server.server_address[1]}/hook"


def _pct(samples: list[float], q: float) -> float:
    s = sorted(samples)
    return s[min(len(s) - 1, int(q * len(s)))]


def _pg_database() -> str | None:
    """A scratch PostgreSQL database for the run, or None if the server does not answer."""
    try:
        import psycopg

        name = f"montalaq_bench_{os.getpid()}"
        with psycopg.connect(PG_URL, autocommit=True, connect_timeout=3) as conn:
            conn.execute(f'CREATE DATABASE "{name}"')
        return name
    except Exception:
        return None


def _drop_pg(name: str) -> None:
    import psycopg

    with psycopg.connect(PG_URL, autocommit=True) as conn:
        conn.execute(
            "SELECT pg_terminate_backend(pid) FROM pg_stat_activity"
            " WHERE datname = %s AND pid <> pg_backend_pid()",
            (name,),
        )
        conn.execute(f'DROP DATABASE IF EXISTS "{name}"')


def bench_enqueue(label: str, url: str, n: int, rows: list[Row], figures: dict[str, Any]) -> None:
    store = Store(url)
    notifier = Notifier(store, [WebhookChannel("http://127.0.0.1:9/unused")])
    for i in range(50):  # warm-up: schema, pool, statement cache
        notifier.notify("bench", f"warm {i}")
    samples = []
    for i in range(n):
        t0 = time.perf_counter()
        notifier.notify("bench", f"event {i}", fields={"i": i})
        samples.append(time.perf_counter() - t0)
    store.close()
    p50, p99 = statistics.median(samples), _pct(samples, 0.99)
    figures[f"enqueue_{label}"] = {"calls": n, "p50_s": p50, "p99_s": p99}
    rows.append(
        Row(
            f"notify() caller cost, durable outbox on {label} [{n:,} calls] p50 / p99",
            f"{fmt_time(p50)} / {fmt_time(p99)}",
            budget="- (info)",
        )
    )


def bench_apprise_call(url: str, n: int, rows: list[Row], figures: dict[str, Any]) -> float | None:
    try:
        import apprise
    except ImportError:
        rows.append(Row("apprise notify() caller cost", "n/a", status="SKIP"))
        return None
    ap = apprise.Apprise()
    ap.add(url.replace("http://", "json://"))
    samples = []
    for i in range(n):
        t0 = time.perf_counter()
        ok = ap.notify(title=f"event {i}", body="bench")
        samples.append(time.perf_counter() - t0)
        if not ok:
            raise AssertionError("apprise failed to post to the local receiver")
    p50, p99 = statistics.median(samples), _pct(samples, 0.99)
    figures["apprise_call"] = {"calls": n, "p50_s": p50, "p99_s": p99, "per_s": n / sum(samples)}
    rows.append(
        Row(
            f"apprise notify() caller cost, blocking HTTP post, no outbox [{n:,}] p50 / p99",
            f"{fmt_time(p50)} / {fmt_time(p99)}",
            budget="- (info)",
        )
    )
    return n / sum(samples)


def bench_delivery(
    label: str, url: str, n: int, apprise_rate: float | None, rows: list[Row], figures: dict[str, Any]
) -> None:
    server, hook = _receiver()
    store = Store(url)
    notifier = Notifier(
        store,
        [WebhookChannel(hook)],
        rate_limit_per_min=10_000_000,
        poll_interval_s=0.01,
        batch_size=500,
        mark_every=50,
    )
    for i in range(n):
        notifier.notify("bench", f"event {i}")
    _Sink.count = 0
    t0 = time.perf_counter()
    notifier.start()
    while _Sink.count < n:
        time.sleep(0.002)
        if time.perf_counter() - t0 > 600:
            raise AssertionError(f"delivery stalled at {_Sink.count}/{n}")
    notifier.wait_idle(60)
    elapsed = time.perf_counter() - t0
    notifier.stop()
    store.close()
    server.shutdown()
    rate = n / elapsed
    figures[f"delivery_{label}"] = {"events": n, "seconds": elapsed, "per_s": rate}
    rows.append(
        Row(
            f"sustained delivery to a local HTTP receiver, outbox on {label} [{n:,} events]",
            fmt_rate(rate),
            peer=fmt_rate(apprise_rate) if apprise_rate else "-",
            ratio=(rate / apprise_rate) if apprise_rate else None,
            budget="- (info; peer: apprise json://)",
        )
    )


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--quick", action="store_true", help="small sizes for a smoke run")
    ap.add_argument("--json", metavar="PATH", help="also write every figure as JSON to PATH")
    args = ap.parse_args(argv)
    n_enqueue = 300 if args.quick else 5_000
    n_deliver = 300 if args.quick else 5_000
    rows: list[Row] = []
    figures: dict[str, Any] = {}
    started = time.perf_counter()
    with tempfile.TemporaryDirectory(prefix="montalaq-bench-") as tmp:
        server, hook = _receiver()
        apprise_rate = bench_apprise_call(hook, n_enqueue // 2, rows, figures)
        server.shutdown()
        bench_enqueue("SQLite", f"sqlite:///{tmp}/enqueue.db", n_enqueue, rows, figures)
        bench_delivery("SQLite", f"sqlite:///{tmp}/deliver.db", n_deliver, apprise_rate, rows, figures)
        pg = _pg_database()
        if pg is None:
            rows.append(Row("PostgreSQL outbox", "n/a", status="SKIP"))
            figures["postgresql"] = {"skipped": f"no server at {PG_URL}"}
        else:
            try:
                base = PG_URL.rsplit("/", 1)[0]
                bench_enqueue("PostgreSQL", f"{base}/{pg}", n_enqueue, rows, figures)
                _drop_pg(pg)
                pg = _pg_database() or pg
                bench_delivery("PostgreSQL", f"{base}/{pg}", n_deliver, apprise_rate, rows, figures)
            finally:
                _drop_pg(pg)
    mode = "quick" if args.quick else "full"
    print(f"montalaq {montalaq.__version__} ({git_describe()}) notification benchmarks, {mode} mode")
    print("ratio = montalaq rate / apprise rate (> 1: montalaq faster)\n")
    print(render_table(rows))
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


if __name__ == "__main__":
    raise SystemExit(main())
