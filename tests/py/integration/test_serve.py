"""``montalaq serve`` as a real process on a free loopback port (docs/semantics.md, Operator CLI;
docs/semantics.md, HTTP API): the one
URL line with the real port and a per-run token, the API over real HTTP, the token on
POSTs, a clean exit 0 on SIGTERM and SIGINT, exit 2 on bad options."""

from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest

import montalaq

# Seconds per test (servers, subprocesses, migrations): scheduled first in parallel runs.
pytestmark = pytest.mark.slow

URL_LINE = re.compile(r"^montalaq serve: (http://127\.0\.0\.1:(\d+)/)(#token=([A-Za-z0-9_-]+))?$")
START_TIMEOUT_S = 60.0


def serve_env(tmp_path: Path, **extra: str) -> dict[str, str]:
    """The test's environment with the package importable, the database in ``tmp_path``
    and no API token or montalaq settings inherited from the caller."""
    env = {
        k: v for k, v in os.environ.items() if k not in ("API_TOKEN", "API_PORT", "SYMBOL", "DATABASE_URL")
    }
    package_root = str(Path(montalaq.__file__).resolve().parent.parent)
    env["PYTHONPATH"] = os.pathsep.join([package_root, *filter(None, [os.environ.get("PYTHONPATH")])])
    env["MONTALAQ_DB_PATH"] = str(tmp_path / "db" / "montalaq.db")  # the folder does not exist yet
    env.update(extra)
    return env


@dataclass
class Served:
    proc: subprocess.Popen[str]
    base: str
    token: str | None
    line: str
    stdout_rest: list[str]


def start(tmp_path: Path, *args: str, **env: str) -> Served:
    """``montalaq serve --port 0 ARGS`` in ``tmp_path``; waits for the URL line."""
    proc = subprocess.Popen(
        [sys.executable, "-m", "montalaq", "serve", "--port", "0", *args],
        cwd=tmp_path,
        env=serve_env(tmp_path, **env),
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    out = proc.stdout
    assert out is not None
    lines: list[str] = []
    threading.Thread(target=lambda: lines.extend(iter(out.readline, "")), daemon=True).start()
    deadline = time.monotonic() + START_TIMEOUT_S
    while not lines and time.monotonic() < deadline and proc.poll() is None:
        time.sleep(0.05)
    if not lines:
        proc.kill()
        _, err = proc.communicate(timeout=10)
        pytest.fail(f"montalaq serve printed no URL line (exit {proc.returncode}); stderr:\n{err}")
    line = lines[0].rstrip("\n")
    m = URL_LINE.match(line)
    assert m, line
    return Served(proc, m.group(1), m.group(4), line, lines)


def stop(served: Served, sig: int = signal.SIGTERM, timeout_s: float = 10.0) -> tuple[int, float, str]:
    """Send ``sig``; ``(exit code, seconds to exit, stderr)``."""
    t0 = time.monotonic()
    served.proc.send_signal(sig)
    try:
        _, err = served.proc.communicate(timeout=timeout_s)
    except subprocess.TimeoutExpired:
        served.proc.kill()
        served.proc.communicate(timeout=10)
        pytest.fail(f"montalaq serve did not stop within {timeout_s} s of signal {sig}")
    return served.proc.returncode, time.monotonic() - t0, err


@pytest.fixture(scope="module")
def served(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Served]:
    s = start(tmp_path_factory.mktemp("serve"))
    yield s
    if s.proc.poll() is None:
        stop(s)


def test_serve_prints_one_url_line_with_the_real_port_and_a_token(served: Served) -> None:
    port = int(served.base.rsplit(":", 1)[1].rstrip("/"))
    assert port > 0
    assert served.token is not None
    assert len(served.token) >= 32
    assert served.line == f"montalaq serve: {served.base}#token={served.token}"


def test_serve_answers_health_and_ingestion_status_over_http(served: Served) -> None:
    wait_for_state(served.base, "ACTIVE")
    with httpx.Client(base_url=served.base, timeout=10) as http:
        health = http.get("health")
        status = http.get("api/ingestion/status")
    assert health.status_code == 200
    assert health.json()["symbols"] == ["SPY"]
    assert status.status_code == 200
    pairs = status.json()["pairs"]
    assert [(p["symbol"], p["timeframe"]) for p in pairs] == [("SPY", "1m"), ("SPY", "5m"), ("SPY", "15m")]
    assert {p["provider"] for p in pairs} == {"Replay"}


def test_serve_posts_need_the_printed_token(served: Served) -> None:
    with httpx.Client(base_url=served.base, timeout=10) as http:
        without = http.post("agents/run-now?insert=false")
        wrong = http.post("agents/run-now?insert=false", headers={"Authorization": "Bearer nope"})
        right = http.post("agents/run-now?insert=false", headers={"Authorization": f"Bearer {served.token}"})
    assert (without.status_code, wrong.status_code, right.status_code) == (401, 401, 200)
    assert right.json()["agents"] == ["rvol_spike", "trend_score"]


def test_serve_serves_the_dashboard_and_offline_docs(served: Served) -> None:
    with httpx.Client(base_url=served.base, timeout=10) as http:
        page = http.get("")
        docs = http.get("api/docs")
    assert page.status_code == 200
    assert page.headers["content-type"].startswith("text/html")
    assert docs.status_code == 200
    assert "https://" not in docs.text


def wait_for_state(base: str, state: str, timeout_s: float = 30.0) -> dict[str, Any]:
    """Poll ``/health`` until it reports ``state``; its last body."""
    deadline = time.monotonic() + timeout_s
    body: dict[str, Any] = {}
    with httpx.Client(base_url=base, timeout=10) as http:
        while time.monotonic() < deadline:
            r = http.get("health")
            body = r.json()
            assert r.status_code == (200 if body["state"] == "ACTIVE" else 503), body
            if body["state"] == state:
                return body
            time.sleep(0.1)
    raise AssertionError(f"/health never said {state}; last: {body}")


def test_sigterm_stops_serve_cleanly_with_exit_0(tmp_path: Path) -> None:
    s = start(tmp_path)
    assert wait_for_state(s.base, "ACTIVE")["status"] == "ok"
    with httpx.Client(base_url=s.base, timeout=10) as http:
        assert http.get("livez").json() == {"alive": True, "state": "ACTIVE"}
    code, seconds, err = stop(s, signal.SIGTERM)
    assert code == 0, err
    assert seconds < 10
    assert (tmp_path / "db" / "montalaq.db").is_file()
    assert "Traceback" not in err
    assert s.stdout_rest == [s.line + "\n"]  # exactly one line on stdout


def test_sigint_stops_serve_cleanly_with_exit_0(tmp_path: Path) -> None:
    s = start(tmp_path)
    code, seconds, err = stop(s, signal.SIGINT)
    assert code == 0, err
    assert seconds < 10
    assert "Traceback" not in err


def test_a_token_from_the_environment_is_used_and_never_printed(tmp_path: Path) -> None:
    s = start(tmp_path, API_TOKEN="env-token-123")
    try:
        assert s.token is None
        assert "env-token-123" not in s.line
        with httpx.Client(base_url=s.base, timeout=10) as http:
            ok = http.post("agents/run-now?insert=false", headers={"Authorization": "Bearer env-token-123"})
        assert ok.status_code == 200
    finally:
        code, _, err = stop(s)
    assert code == 0
    assert "env-token-123" not in err


def test_serve_replays_a_file_faster_on_its_clock(tmp_path: Path) -> None:
    sample = montalaq.sample_path("btcusdt")
    s = start(tmp_path, "--replay", str(sample), "--symbol", "BTCUSDT", "--speed", "30")
    try:
        with httpx.Client(base_url=s.base, timeout=10) as http:
            deadline = time.monotonic() + 30
            bars: list[object] = []
            while not bars and time.monotonic() < deadline:
                bars = http.get("api/bars?symbol=BTCUSDT&tf=1m").json()["bars"]
                time.sleep(0.2)
            health = http.get("health").json()
    finally:
        code, _, err = stop(s)
    assert health["symbols"] == ["BTCUSDT"]
    assert health["replay"]["speed"] == 30.0
    assert "BTCUSDT" in health["replay"]["source"]
    assert bars, "no 1m bar closed within 30 s at 30x (2 s of wall time per bar)"
    assert code == 0, err


def test_no_loop_plays_the_file_once_and_its_pairs_escalate(tmp_path: Path) -> None:
    sample = montalaq.sample_path("btcusdt")  # 5 minutes of trades: 3 s of wall time at 100x
    s = start(tmp_path, "--replay", str(sample), "--speed", "100", "--no-loop")
    try:
        with httpx.Client(base_url=s.base, timeout=10) as http:
            deadline = time.monotonic() + 30
            one: dict[str, object] = {}
            while time.monotonic() < deadline and not one.get("breaker_open"):
                one = http.get("api/ingestion/status").json()["pairs"][0]
                time.sleep(0.3)
    finally:
        code, _, err = stop(s)
    assert (one["symbol"], one["timeframe"], one["freshness"], one["breaker_open"]) == (
        "BTCUSDT",
        "1m",
        "RED",
        True,
    )
    assert code == 0, err


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--port", "70000"], "--port: expected 0..65535"),
        (["--port", "eighty"], "invalid int value"),
        (["--speed", "0"], "--speed: expected a factor > 0"),
        (["--speed", "nan"], "--speed: expected a factor > 0"),
        (["--symbol", "SPY"], "--symbol: only with --replay FILE"),
        (["--replay", "no-such-file.csv"], "no such file"),
        (["--bogus"], "unrecognized arguments: --bogus"),
        (["--provider", "polygon"], "invalid choice: 'polygon'"),
        (["--provider", "binance", "--replay", "x.csv"], "--provider: a live provider and --replay FILE"),
        (["--provider", "binance", "--speed", "10"], "--speed/--no-loop: only for replays"),
        (["--provider", "twelvedata"], "TWELVEDATA_API_KEY: required with PROVIDER=twelvedata"),
        (["--symbols", " , "], "--symbols: expected a comma list"),
    ],
)
def test_a_bad_option_exits_2_with_a_message(tmp_path: Path, args: list[str], message: str) -> None:
    proc = subprocess.run(
        [sys.executable, "-m", "montalaq", "serve", *args],
        check=False,
        cwd=tmp_path,
        env=serve_env(tmp_path),
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert proc.returncode == 2, proc.stderr
    assert message in proc.stderr
    assert proc.stdout == ""


def test_a_bad_setting_exits_2_naming_the_variable(tmp_path: Path) -> None:
    proc = subprocess.run(
        [sys.executable, "-m", "montalaq", "serve"],
        check=False,
        cwd=tmp_path,
        env=serve_env(tmp_path, API_PORT="eighty"),
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert proc.returncode == 2
    assert "API_PORT" in proc.stderr


@pytest.mark.postgres
def test_a_database_that_does_not_exist_yet_is_waited_for_never_exited(tmp_path: Path) -> None:
    """Under a restart policy an exit would be a crash loop: serve answers at once, says
    WAITING (503) while the database is missing, and becomes ACTIVE once it exists."""
    import psycopg

    name = f"mtq_wait_{os.getpid()}_{int(time.time())}"
    admin = "postgresql://postgres@127.0.0.1:5432/postgres"
    s = start(
        tmp_path,
        DATABASE_URL=f"postgresql+psycopg://postgres:s3cret-pw@127.0.0.1:5432/{name}",
        STARTUP_CHECK_RETRIES="0",
        WAITING_RECHECK_SEC="0.5",
    )
    try:
        body = wait_for_state(s.base, "WAITING")
        assert "database" in body["reason"]
        assert "s3cret-pw" not in body["reason"]
        with httpx.Client(base_url=s.base, timeout=10) as http:
            assert http.get("livez").status_code == 200  # alive: an orchestrator must not restart it
            snap = http.get("api/health/snapshot").json()
            assert snap["state"] == "WAITING"
            assert "database" in snap["failing"]
        time.sleep(1.5)
        assert s.proc.poll() is None, "serve exited while the database was missing"
        with psycopg.connect(admin, autocommit=True) as conn:
            conn.execute(f'CREATE DATABASE "{name}"')
        wait_for_state(s.base, "ACTIVE", timeout_s=20)
    finally:
        code, _, err = stop(s)
        with psycopg.connect(admin, autocommit=True) as conn:
            conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
    assert code == 0, err
    assert "s3cret-pw" not in err


def test_the_cli_sees_what_a_running_serve_records(tmp_path: Path) -> None:
    """status, metrics and tail, run beside serve in the same folder with the same
    environment, read the state, snapshots and alerts that serve writes."""
    s = start(
        tmp_path,
        "--replay",
        str(montalaq.sample_path("btcusdt")),
        "--speed",
        "60",
        "--no-loop",
        MONITOR_SNAPSHOT_INTERVAL_SEC="1",
    )
    env = serve_env(tmp_path, MONITOR_SNAPSHOT_INTERVAL_SEC="1")
    try:
        wait_for_state(s.base, "ACTIVE")

        def cli(*args: str) -> subprocess.CompletedProcess[str]:
            return subprocess.run(
                [sys.executable, "-m", "montalaq", *args],
                cwd=tmp_path,
                env=env,
                capture_output=True,
                text=True,
                timeout=60,
                check=False,
            )

        status = cli("status", "--json")
        assert status.returncode == 0, status.stdout + status.stderr
        doc = json.loads(status.stdout)
        assert doc["operational_state"]["state"] == "ACTIVE"
        assert {p["symbol"] for p in doc["pairs"]} == {"BTCUSDT"}
        deadline = time.monotonic() + 30
        windows: list[Any] = []
        while not windows and time.monotonic() < deadline:
            metrics = cli("metrics", "--since", "1h", "--window", "1m", "--json")
            windows = json.loads(metrics.stdout)["windows"]
            time.sleep(0.5)
        assert windows, "montalaq metrics found no snapshot of the running serve"
        assert "montalaq.cycle_seconds" in windows[-1]["metrics"]
        # The 5-minute file played once at 60x goes stale: feed_stale fires and tail shows it.
        deadline = time.monotonic() + 40
        rules: list[str] = []
        while "feed_stale" not in rules and time.monotonic() < deadline:
            tail = cli("tail", "--once", "--json", "--lines", "50")
            rules = [json.loads(line)["rule"] for line in tail.stdout.splitlines()]
            time.sleep(0.5)
        assert "feed_stale" in rules
    finally:
        code, _, err = stop(s)
    assert code == 0, err
    # serve's log lines carry UTC timestamps.
    records = [
        line for line in err.splitlines() if re.search(r" (INFO|WARNING|ERROR|CRITICAL) montalaq", line)
    ]
    assert records, err
    stamped = re.compile(r"^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}\.\d{3}Z (INFO|WARNING|ERROR|CRITICAL) ")
    assert all(stamped.match(line) for line in records), records[:5]


def _gap_file(path: Path) -> Path:
    """13:30-17:30 of the bundled SPY day with 13:35-13:45 cut out (the 1m pair goes RED)."""
    import pandas as pd

    spy = montalaq.read_trades(montalaq.sample_path("spy"))
    t1330 = 1_381_152_600 * 10**9
    ts = spy.ts_ns
    keep = (ts >= t1330) & (ts < t1330 + 4 * 3600 * 10**9)
    keep &= ~((ts >= t1330 + 300 * 10**9) & (ts < t1330 + 900 * 10**9))
    pd.DataFrame({"ts_ns": ts[keep], "price": spy.price[keep], "size": spy.size[keep]}).to_csv(
        path, index=False
    )
    return path


def test_kill_9_and_a_restart_keep_open_breakers_and_the_throttle(tmp_path: Path) -> None:
    """A serve whose webhook answers 500 (its breaker opens: an error notified once on
    Slack) and whose 1m pair's breaker opens in a feed gap is killed with SIGKILL; the
    restarted serve still has the pair's breaker open with its level, and the webhook's
    error, seen again inside its throttle window, is not notified a second time."""
    from receivers import HttpReceiver

    gap = _gap_file(tmp_path / "gap.csv")
    with HttpReceiver() as bad, HttpReceiver() as slack:
        bad.set_response(500)
        env = {
            "NOTIFY_WEBHOOK_ENABLED": "true",
            "NOTIFY_WEBHOOK_URL": bad.url + "/hook",
            "NOTIFY_SLACK_ENABLED": "true",
            "NOTIFY_SLACK_WEBHOOK_URL": slack.url + "/slack",
            "NOTIFY_BREAKER_FAILURES": "1",
            "THROTTLE_AGGREGATION_SEC": "0",
            "ESCALATION_EVAL_INTERVAL_SEC": "1",
            "STATE_SNAPSHOT_INTERVAL_SEC": "1",
        }
        args = ("--replay", str(gap), "--symbol", "SPY", "--speed", "300", "--no-loop")

        def webhook_errors() -> int:
            return sum(1 for r in slack.accepted() if "CHANNEL_WEBHOOK" in r.body.decode())

        first = start(tmp_path, *args, **env)
        try:
            deadline = time.monotonic() + 30
            pair: dict[str, Any] = {}
            with httpx.Client(base_url=first.base, timeout=10) as http:
                while time.monotonic() < deadline:
                    rows = http.get("api/ingestion/status").json()["pairs"]
                    pair = next(p for p in rows if p["timeframe"] == "1m")
                    if pair["breaker_open"] and webhook_errors() == 1:
                        break
                    time.sleep(0.2)
            assert pair["breaker_open"], pair
            assert webhook_errors() == 1
            time.sleep(2.5)  # a board snapshot after the breaker opened (every 1 s)
        finally:
            first.proc.kill()
            first.proc.wait(timeout=10)

        second = start(tmp_path, *args, **env)
        try:
            wait_for_state(second.base, "ACTIVE")
            with httpx.Client(base_url=second.base, timeout=10) as http:
                deadline = time.monotonic() + 10
                rows = []
                while time.monotonic() < deadline:
                    rows = http.get("api/ingestion/status").json()["pairs"]
                    if next(p for p in rows if p["timeframe"] == "1m")["breaker_open"]:
                        break
                    time.sleep(0.1)
                restored = next(p for p in rows if p["timeframe"] == "1m")
                assert restored["breaker_open"] is True
                order = ["INFO", "WARN", "ERROR", "CRITICAL"]  # the level went on rising before the kill
                assert order.index(restored["escalation_level"]) >= order.index(pair["escalation_level"]) >= 2
                snap = http.get("api/health/snapshot").json()
                # The webhook fails again in the new process: its breaker opens again ...
                deadline = time.monotonic() + 15
                while time.monotonic() < deadline:
                    snap = http.get("api/health/snapshot").json()
                    if any(
                        c["state"] != "CLOSED"
                        for c in snap["circuits"]["channels"]
                        if c["channel"] == "webhook"
                    ):
                        break
                    time.sleep(0.2)
                assert any(
                    c["state"] != "CLOSED" for c in snap["circuits"]["channels"] if c["channel"] == "webhook"
                )
                time.sleep(2.0)
                summary = {e["error_type"]: e for e in http.get("api/errors/summary").json()["errors"]}
            # ... counted on the same episode, but not notified again inside the window.
            assert summary["CHANNEL_WEBHOOK"]["occurrence_count"] >= 2
            assert webhook_errors() == 1
        finally:
            code, _, err = stop(second)
        assert code == 0, err


def test_the_demo_fills_bars_features_findings_and_analyses_within_a_minute(tmp_path: Path) -> None:
    """`make run`'s first minutes: the bundled SPY session is replayed from a warm start (its
    first hour at once, then in real time), so the page is full at once, and the replay
    says what it is."""
    s = start(tmp_path)
    try:
        health = wait_for_state(s.base, "ACTIVE")
        assert health["replay"]["source"].startswith(
            "SPY from 20131007_spy_Trade_Tick.csv.gz recorded 2013-10-07"
        )
        assert (health["replay"]["speed"], health["replay"]["loop"]) == (1.0, True)
        deadline = time.monotonic() + 60
        with httpx.Client(base_url=s.base, timeout=10) as http:
            while time.monotonic() < deadline:
                bars15 = http.get("api/bars?symbol=SPY&tf=15m").json()["bars"]
                features = http.get("debug/features?symbol=SPY").json()
                findings = http.get("findings?symbol=SPY").json()["findings"]
                latest = http.get("api/analysis/latest?pair=SPY&tf=1m")
                if (
                    bars15
                    and findings
                    and latest.status_code == 200
                    and features["trend"]["p_up"] is not None
                ):
                    break
                time.sleep(0.5)
        assert len(bars15) >= 3, "an hour of 15m bars from the warm start"
        assert features["timeframes"]["15m"]["mom_bps"] is not None
        assert features["trend"]["p_up"] is not None
        assert findings, "the agents found nothing in the first minute"
        assert latest.status_code == 200
        assert time.monotonic() < deadline
    finally:
        code, _, err = stop(s)
    assert code == 0, err


def test_serve_streams_a_live_binance_feed_by_provider_and_symbols(tmp_path: Path, data_dir: Path) -> None:
    """``--provider binance --symbols BTCUSDT`` against a local server speaking Binance's
    protocol (BINANCE_WS_URL/BINANCE_REST_URL point at it, as at a private gateway): trades
    build bars, quotes reach /signals, the feed's numbers reach /metrics and the snapshot."""
    from provider_servers import BinanceServer

    srv = BinanceServer(data_dir / "binance_spot_btcusdt_ws_2024-08-09", speed=1.0).start()
    served = start(
        tmp_path,
        "--provider",
        "binance",
        "--symbols",
        "BTCUSDT",
        BINANCE_WS_URL=srv.ws_url,
        BINANCE_REST_URL=srv.http_url,
        TIMEFRAMES="1m,5m,15m",
    )
    try:
        deadline = time.monotonic() + 30
        sig: dict[str, Any] = {}
        while time.monotonic() < deadline:
            sig = httpx.get(f"{served.base}signals", params={"symbol": "BTCUSDT"}, timeout=5).json()
            if sig.get("best_bid") is not None and sig.get("last_price") is not None:
                break
            time.sleep(0.2)
        bids = {b for _, b, _ in srv.quotes}
        assert sig["best_bid"] in bids
        assert sig["best_ask"] > sig["best_bid"]
        status = httpx.get(f"{served.base}api/ingestion/status", timeout=5).json()
        assert {p["provider"] for p in status["pairs"]} == {"Binance"}
        metrics = httpx.get(f"{served.base}metrics", timeout=5).text
        assert 'montalaq_provider_connected{provider="Binance"} 1.0' in metrics
        assert re.search(r'montalaq_provider_messages_total\{provider="Binance"\} [1-9]', metrics)
        snap = httpx.get(f"{served.base}api/health/snapshot", timeout=5).json()
        [feed] = snap["providers"]
        assert (feed["provider"], feed["connected"], feed["symbols"]) == ("Binance", True, ["BTCUSDT"])
        assert srv.streams_asked == ["btcusdt@trade/btcusdt@bookTicker"]
    finally:
        code, _, err = stop(served)
        srv.stop()
    assert code == 0, err
    assert "replaying the bundled samples" not in err
