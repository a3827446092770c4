"""``montalaq serve`` as a real process on a free loopback port (SPEC §10.3, §12): the one
URL line with the real port and a per-run token, the API over real HTTP, the token on
POSTs, a clean exit 0 on SIGTERM and SIGINT, exit 2 on bad options."""

from __future__ import annotations

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

import httpx
import pytest

import montalaq

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


def test_sigterm_stops_serve_cleanly_with_exit_0(tmp_path: Path) -> None:
    s = start(tmp_path)
    with httpx.Client(base_url=s.base, timeout=10) as http:
        assert http.get("health").status_code == 200
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


def test_an_unreachable_database_exits_1_at_start_without_the_password(tmp_path: Path) -> None:
    proc = subprocess.run(
        [sys.executable, "-m", "montalaq", "serve", "--port", "0"],
        check=False,
        cwd=tmp_path,
        env=serve_env(tmp_path, DATABASE_URL="postgresql+psycopg://montalaq:s3cret-pw@127.0.0.1:1/nodb"),
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert proc.returncode == 1, proc.stderr
    assert "the database does not answer: OperationalError" in proc.stderr
    assert "s3cret-pw" not in proc.stderr
    assert proc.stdout == ""  # no URL line: it never served
