"""API benchmark (README.md, Speed): cached ``/api/analysis/latest`` requests/s and p99 latency,
measured with a real load generator (wrk, Debian's package) against a real
``montalaq serve`` process, next to the endpoint a user would otherwise write: a FastAPI
route that reads the newest ``trade_analysis`` row with SQLAlchemy on each request, served
by the same uvicorn on the same database file.

Set-up, in one run: ``montalaq serve --replay <bundled SPY sample> --speed 300`` on a
temporary SQLite database, until the 1m pair has a COMPLETE analysis; then wrk (one thread,
``--connections`` keep-alive connections, ``--duration`` seconds) against

1. montalaq, cached (``ANALYSIS_API_CACHE_TTL`` 30 s, the default) -- the budgeted figure;
2. montalaq, uncached (``ANALYSIS_API_CACHE_TTL=0``) -- what the cache buys (info);
3. the peer (a FastAPI + SQLAlchemy route, ``benchmarks/_api_peer.py``) on a copy of the
   same database, after montalaq has stopped.

The scheduler keeps running inside ``montalaq serve`` while it is measured (bars close and
agents run, as in production). wrk takes one of the two cores, the server the other.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import shutil
import signal
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))

import montalaq
from _common import Row, fmt_rate, git_describe, machine_info, render_table, rows_json

BUDGET_RPS = 3_000.0
BUDGET_P99_S = 0.020
PATH = "/api/analysis/latest?pair=SPY&tf=1m"


def _env(db: Path, **extra: str) -> dict[str, str]:
    """The caller's environment (PYTHONPATH included) on a scratch SQLite database."""
    env = {k: v for k, v in os.environ.items() if k not in ("DATABASE_URL", "API_TOKEN")}
    env.update(MONTALAQ_DB_PATH=str(db), SYMBOL="SPY", **extra)
    return env


def _wait_url(proc: subprocess.Popen[str], timeout_s: float) -> str:
    """The base URL from the ``montalaq serve: http://...`` line (fragment dropped)."""
    assert proc.stdout is not None
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        line = proc.stdout.readline()
        if not line:
            if proc.poll() is not None:
                raise RuntimeError(f"montalaq serve exited with {proc.returncode} before printing its URL")
            continue
        m = re.search(r"montalaq serve: (http://[^/\s]+)", line)
        if m:
            return m.group(1)
    raise RuntimeError("montalaq serve printed no URL in time")


def _get(url: str) -> tuple[int, bytes]:
    try:
        with urllib.request.urlopen(url, timeout=5) as r:
            return int(r.status), bytes(r.read())
    except urllib.error.HTTPError as e:
        return int(e.code), bytes(e.read())


def _wait_analysis(base: str, timeout_s: float) -> dict[str, Any]:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        try:
            code, body = _get(base + PATH)
        except OSError:
            code, body = 0, b""
        if code == 200:
            doc = json.loads(body)
            if doc and doc.get("status") == "COMPLETE":
                return dict(doc)
        time.sleep(0.5)
    raise RuntimeError(f"no COMPLETE analysis at {PATH} within {timeout_s:.0f} s")


def _stop(proc: subprocess.Popen[str]) -> None:
    if proc.poll() is None:
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(timeout=15)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


def wrk(url: str, duration_s: int, connections: int) -> dict[str, float]:
    """Runs wrk once; returns requests/s, p50/p99 latency (s) and the non-2xx count."""
    out = subprocess.run(
        ["wrk", "-t1", f"-c{connections}", f"-d{duration_s}s", "--latency", url],
        capture_output=True,
        text=True,
        check=True,
        timeout=duration_s + 60,
    ).stdout
    units = {"us": 1e-6, "ms": 1e-3, "s": 1.0}

    def latency(pct: str) -> float:
        m = re.search(rf"^\s*{pct}%\s+([\d.]+)(us|ms|s)\s*$", out, re.M)
        if not m:
            raise RuntimeError(f"wrk printed no {pct}% latency:\n{out}")
        return float(m.group(1)) * units[m.group(2)]

    rps = re.search(r"Requests/sec:\s+([\d.]+)", out)
    total = re.search(r"(\d+) requests in", out)
    bad = re.search(r"Non-2xx or 3xx responses:\s+(\d+)", out)
    errors = re.search(r"Socket errors:.*", out)
    if not rps or not total:
        raise RuntimeError(f"unexpected wrk output:\n{out}")
    return {
        "rps": float(rps.group(1)),
        "requests": float(total.group(1)),
        "p50_s": latency("50"),
        "p99_s": latency("99"),
        "non_2xx": float(bad.group(1)) if bad else 0.0,
        "socket_errors": 1.0 if errors else 0.0,
    }


def _serve(db: Path, sample: Path, ttl_s: str) -> tuple[subprocess.Popen[str], str]:
    cmd = [sys.executable, "-m", "montalaq", "serve", "--port", "0"]
    cmd += ["--replay", str(sample), "--symbol", "SPY", "--speed", "300"]
    proc = subprocess.Popen(
        cmd,
        env=_env(db, ANALYSIS_API_CACHE_TTL=ttl_s),
        cwd=db.parent,  # its alert log and metrics snapshots go to the scratch folder
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
        text=True,
    )
    try:
        return proc, _wait_url(proc, 60)
    except Exception:
        _stop(proc)
        raise


def _peer(db: Path) -> tuple[subprocess.Popen[str], str]:
    cmd = [sys.executable, str(Path(__file__).with_name("_api_peer.py")), str(db)]
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True)
    assert proc.stdout is not None
    line = proc.stdout.readline()
    m = re.search(r"peer: (http://\S+)", line)
    if not m:
        _stop(proc)
        raise RuntimeError(f"the peer app printed no URL: {line!r}")
    deadline = time.monotonic() + 30
    while True:  # the URL is printed before uvicorn listens
        try:
            _get(m.group(1) + "/openapi.json")
            return proc, m.group(1)
        except OSError:
            if time.monotonic() > deadline or proc.poll() is not None:
                _stop(proc)
                raise
            time.sleep(0.2)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--quick", action="store_true", help="short runs for a smoke test")
    ap.add_argument("--duration", type=int, default=None, help="seconds per wrk run [10; quick 2]")
    ap.add_argument("--connections", type=int, default=16, help="keep-alive connections [16]")
    ap.add_argument("--json", metavar="PATH", help="also write every figure as JSON to PATH")
    args = ap.parse_args(argv)
    if shutil.which("wrk") is None:
        print("bench_api: wrk is not installed (apt-get install wrk; `make bench` does it)", file=sys.stderr)
        return 2
    duration = args.duration or (2 if args.quick else 10)
    rows: list[Row] = []
    figures: dict[str, Any] = {}
    started = time.perf_counter()
    sample = montalaq.sample_path("spy")
    with tempfile.TemporaryDirectory(prefix="montalaq-bench-api-") as tmp:
        db = Path(tmp) / "api.db"
        proc, base = _serve(db, sample, "30")
        try:
            analysis = _wait_analysis(base, 120)
            figures["analysis"] = {k: analysis.get(k) for k in ("symbol", "timeframe", "bar_ts", "status")}
            _get(base + PATH)  # fill the cache
            cached = wrk(base + PATH, duration, args.connections)
        finally:
            _stop(proc)
        proc, base = _serve(db, sample, "0")
        try:
            _wait_analysis(base, 60)
            uncached = wrk(base + PATH, duration, args.connections)
        finally:
            _stop(proc)
        peer_db = Path(tmp) / "peer.db"
        shutil.copy(db, peer_db)
        for suffix in ("-wal", "-shm"):
            if Path(f"{db}{suffix}").exists():
                shutil.copy(f"{db}{suffix}", f"{peer_db}{suffix}")
        proc, peer_base = _peer(peer_db)
        try:
            code, body = _get(peer_base + PATH)
            if code != 200 or json.loads(body).get("status") != "COMPLETE":
                raise RuntimeError(f"the peer does not serve the analysis: {code} {body[:200]!r}")
            peer = wrk(peer_base + PATH, duration, args.connections)
        finally:
            _stop(proc)
    figures.update(cached=cached, uncached=uncached, peer=peer)
    for name, fig in (("cached", cached), ("uncached", uncached), ("peer", peer)):
        if fig["non_2xx"] or fig["socket_errors"]:
            print(f"bench_api: {name} run had errors: {fig}", file=sys.stderr)
            return 1

    def lat(fig: dict[str, float]) -> str:
        return f"p50 {fig['p50_s'] * 1e3:.2f} ms, p99 {fig['p99_s'] * 1e3:.2f} ms"

    rows.append(
        Row(
            f"/api/analysis/latest cached, requests/s [{args.connections} conns, {duration} s]",
            fmt_rate(cached["rps"]),
            peer=fmt_rate(peer["rps"]),
            ratio=cached["rps"] / peer["rps"],
            budget=f">= {BUDGET_RPS:,.0f}/s",
            ok=cached["rps"] >= BUDGET_RPS,
        )
    )
    rows.append(
        Row(
            "/api/analysis/latest cached, latency",
            lat(cached),
            peer=lat(peer),
            ratio=peer["p99_s"] / cached["p99_s"],
            budget="p99 <= 20 ms",
            ok=cached["p99_s"] <= BUDGET_P99_S,
        )
    )
    rows.append(
        Row(
            "/api/analysis/latest uncached (TTL 0), requests/s",
            f"{fmt_rate(uncached['rps'])}, {lat(uncached)}",
            peer=fmt_rate(peer["rps"]),
            ratio=uncached["rps"] / peer["rps"],
            budget="- (info)",
        )
    )
    mode = "quick" if args.quick else "full"
    print(f"montalaq {montalaq.__version__} ({git_describe()}) API benchmark, {mode} mode")
    print("peer = FastAPI + SQLAlchemy reading the row per request, same uvicorn, same database")
    print("ratio = montalaq rate / peer rate (> 1: montalaq faster)\n")
    print(render_table(rows))
    print(f"\ntotal time {time.perf_counter() - started:.1f} s")
    if args.json:
        Path(args.json).write_text(
            json.dumps({"machine": machine_info(), "rows": rows_json(rows), "figures": figures}, indent=2)
        )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
