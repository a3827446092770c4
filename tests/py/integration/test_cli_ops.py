"""`montalaq tail | status | metrics` as real subprocesses; `tail` under a real terminal
following a file that is being appended to."""

from __future__ import annotations

import json
import os
import re
import select
import signal
import subprocess
import sys
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

from montalaq.monitoring.alerts import Alert, AlertLog
from montalaq.monitoring.history import MetricsHistory
from montalaq.store import Store

PY_M = [sys.executable, "-m", "montalaq"]
ANSI = re.compile(r"\x1b\[[0-?]*[ -/]*[@-~]|\x1b[=>]|\r")


def _run(*args: str, cwd: Path | None = None) -> subprocess.CompletedProcess[str]:
    env = dict(os.environ, COLUMNS="200")
    return subprocess.run(
        [*PY_M, *args], capture_output=True, text=True, timeout=60, cwd=cwd, env=env, check=False
    )


def test_tail_follows_alerts_appended_while_it_runs_in_a_terminal(tmp_path: Path) -> None:
    import fcntl
    import pty
    import struct
    import termios

    log = AlertLog(tmp_path / "alerts")
    now = datetime.now(UTC)
    log.append(Alert(now, "INFO", "old_rule", "written before tail started", {"state": "FIRING"}))
    master, slave = pty.openpty()
    fcntl.ioctl(slave, termios.TIOCSWINSZ, struct.pack("HHHH", 40, 160, 0, 0))
    env = dict(os.environ, TERM="xterm-256color")
    env.pop("NO_COLOR", None)
    proc = subprocess.Popen(
        [*PY_M, "tail", "--alerts-dir", str(tmp_path / "alerts"), "--lines", "0", "--poll", "0.05"],
        stdin=slave,
        stdout=slave,
        stderr=slave,
        env=env,
        close_fds=True,
    )
    os.close(slave)
    out = b""

    def read_until(needle: str, timeout: float) -> str:
        nonlocal out
        deadline = time.monotonic() + timeout
        while needle not in ANSI.sub("", out.decode(errors="replace")):
            left = deadline - time.monotonic()
            assert left > 0, f"{needle!r} not shown; got {out!r}"
            ready, _, _ = select.select([master], [], [], left)
            if ready:
                out += os.read(master, 65536)
        return out.decode(errors="replace")

    try:
        read_until("(Ctrl-C to stop)", 60)  # it took the end of the file: nothing after is missed
        log.append(Alert(datetime.now(UTC), "CRITICAL", "broker_down", "broker [gone]", {"state": "FIRING"}))
        raw = read_until("broker_down: broker [gone]", 20)
        assert "\x1b[" in raw  # coloured on a terminal
        log.append(
            Alert(datetime.now(UTC), "CRITICAL", "broker_down", "RESOLVED: back", {"state": "RESOLVED"})
        )
        read_until("RESOLVED: back", 20)
        assert "old_rule" not in ANSI.sub("", out.decode(errors="replace"))  # --lines 0
        proc.send_signal(signal.SIGINT)
        assert proc.wait(10) == 0
    finally:
        if proc.poll() is None:
            proc.kill()
        os.close(master)


def test_tail_once_filters_by_severity_and_prints_json(tmp_path: Path) -> None:
    log = AlertLog(tmp_path)
    now = datetime.now(UTC)
    log.append(Alert(now, "INFO", "a", "quiet", {"state": "FIRING"}))
    log.append(Alert(now, "CRITICAL", "b", "loud", {"state": "FIRING"}))
    proc = _run("tail", "--alerts-dir", str(tmp_path), "--once", "--json", "--severity", "warning")
    assert proc.returncode == 0, proc.stderr
    assert [json.loads(line)["rule"] for line in proc.stdout.splitlines()] == ["b"]


def test_tail_rejects_an_unknown_severity(tmp_path: Path) -> None:
    proc = _run("tail", "--alerts-dir", str(tmp_path), "--once", "--severity", "loud")
    assert proc.returncode == 2
    assert "--severity" in proc.stderr


def test_status_reports_state_alerts_and_pairs_and_fails_on_error_state(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'm.db'}"
    with Store(url) as store:
        store.save_operational_state("ERROR", "broker credentials rejected")
        store.upsert_ingestion_status(
            "SPY", "1m", provider="AllTick", breaker_open=True, escalation_level="RED"
        )
    AlertLog(tmp_path / "alerts").append(
        Alert(datetime.now(UTC), "WARNING", "stale_teacher_model", "teacher 30 h old", {"state": "FIRING"})
    )
    proc = _run("status", "--alerts-dir", str(tmp_path / "alerts"), "--url", url, "--json")
    assert proc.returncode == 1, proc.stderr
    doc = json.loads(proc.stdout)
    assert doc["operational_state"]["state"] == "ERROR"
    assert [a["rule"] for a in doc["active_alerts"]] == ["stale_teacher_model"]
    assert [(p["symbol"], p["breaker_open"]) for p in doc["pairs"]] == [("SPY", True)]
    table = _run("status", "--alerts-dir", str(tmp_path / "alerts"), "--url", url)
    assert "ERROR" in table.stdout
    assert "stale_teacher_model" in table.stdout
    assert "OPEN" in table.stdout


def test_status_fails_when_the_database_does_not_answer(tmp_path: Path) -> None:
    url = "postgresql+psycopg://montalaq:s3cret-pw@127.0.0.1:1/nodb"
    proc = _run("status", "--alerts-dir", str(tmp_path / "alerts"), "--url", url)
    assert proc.returncode == 1, proc.stdout
    assert "state: unknown (database: OperationalError" in proc.stdout
    assert "s3cret-pw" not in proc.stdout + proc.stderr


def test_status_lists_open_errors_and_the_outbox(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'e.db'}"
    with Store(url) as store:
        store.save_operational_state("ACTIVE", "all start-up checks passed")
        store.record_error("PROVIDER_DISCONNECTED", "feed reset by peer")
        store.record_error("DATABASE", "gone")
        store.resolve_error_episode("DATABASE")
    proc = _run("status", "--alerts-dir", str(tmp_path / "alerts"), "--url", url, "--json")
    assert proc.returncode == 0, proc.stderr
    doc = json.loads(proc.stdout)
    assert {e["error_type"]: e["is_resolved"] for e in doc["errors"]} == {
        "DATABASE": True,
        "PROVIDER_DISCONNECTED": False,
    }
    assert doc["outbox"]["pending"] == 0
    table = _run("status", "--alerts-dir", str(tmp_path / "alerts"), "--url", url).stdout
    assert "open errors (1 of 2 types)" in table
    assert "feed reset by peer" in table


def test_the_folders_come_from_the_settings_when_not_given(tmp_path: Path) -> None:
    AlertLog(tmp_path / "elsewhere").append(
        Alert(datetime.now(UTC), "WARNING", "from_settings", "found through ALERTS_DIR", {"state": "FIRING"})
    )
    env = dict(os.environ, COLUMNS="200", ALERTS_DIR=str(tmp_path / "elsewhere"))
    proc = subprocess.run(
        [*PY_M, "tail", "--once", "--json"], capture_output=True, text=True, timeout=60, env=env, check=False
    )
    assert proc.returncode == 0, proc.stderr
    assert [json.loads(line)["rule"] for line in proc.stdout.splitlines()] == ["from_settings"]


def test_status_without_a_database_says_unknown_and_creates_nothing(tmp_path: Path) -> None:
    db = tmp_path / "none.db"
    proc = _run("status", "--alerts-dir", str(tmp_path / "alerts"), "--url", f"sqlite:///{db}")
    assert proc.returncode == 0, proc.stderr
    assert "state: unknown" in proc.stdout
    assert not db.exists()


def test_metrics_aggregates_the_snapshots_over_the_period(tmp_path: Path) -> None:
    h = MetricsHistory(tmp_path)
    now = datetime.now(UTC).replace(minute=0, second=0, microsecond=0) - timedelta(hours=2)
    for i in range(12):
        h.write(now + timedelta(minutes=10 * i), {}, {"pnl.daily": float(i), "risk.daily_loss_pct": 0.5})
    proc = _run("metrics", "--metrics-dir", str(tmp_path), "--since", "3h", "--window", "1h", "--json")
    assert proc.returncode == 0, proc.stderr
    doc = json.loads(proc.stdout)
    assert doc["samples"] == 12
    first, second = doc["windows"]
    assert first["metrics"]["pnl.daily"] == {"min": 0.0, "max": 5.0, "mean": 2.5, "count": 6}
    assert second["metrics"]["pnl.daily"]["mean"] == 8.5
    table = _run("metrics", "--metrics-dir", str(tmp_path), "--since", "3h", "--metric", "pnl.daily")
    assert "pnl.daily" in table.stdout
    assert "risk.daily_loss_pct" not in table.stdout


def test_metrics_rejects_a_bad_period(tmp_path: Path) -> None:
    proc = _run("metrics", "--metrics-dir", str(tmp_path), "--since", "yesterday")
    assert proc.returncode == 2
    assert "--since" in proc.stderr


def _run_in(cwd: Path, *args: str, extra_path: Path | None = None) -> subprocess.CompletedProcess[str]:
    env = dict(os.environ, COLUMNS="200")
    env.pop("DATABASE_URL", None)
    if extra_path is not None:
        env["PYTHONPATH"] = os.pathsep.join(p for p in (str(extra_path), env.get("PYTHONPATH")) if p)
    return subprocess.run(
        [*PY_M, *args], capture_output=True, text=True, timeout=60, cwd=cwd, env=env, check=False
    )


def test_health_fails_without_a_database_and_passes_after_db_upgrade(tmp_path: Path) -> None:
    proc = _run_in(tmp_path, "health", "--json")
    assert proc.returncode == 1, proc.stderr
    doc = json.loads(proc.stdout)
    assert doc["checks"]["database"]["ok"] is False
    assert "montalaq db upgrade" in doc["checks"]["database"]["detail"]
    assert not (tmp_path / "data" / "montalaq.db").exists()  # asking does not create it
    assert _run_in(tmp_path, "db", "upgrade").returncode == 0
    proc = _run_in(tmp_path, "health")
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert "database reachable" in proc.stdout


def test_health_runs_the_hosts_own_checks(tmp_path: Path) -> None:
    (tmp_path / "mychecks.py").write_text(
        "from montalaq.lifecycle import CheckResult\n"
        "def broker():\n"
        "    raise ConnectionError('broker gateway refused the connection')\n"
        "CHECKS = {'broker': broker, 'feeds': lambda: True}\n"
    )
    _run_in(tmp_path, "db", "upgrade")
    proc = _run_in(tmp_path, "health", "--checks", "mychecks:CHECKS", "--json", extra_path=tmp_path)
    assert proc.returncode == 1, proc.stderr
    checks = json.loads(proc.stdout)["checks"]
    assert checks["feeds"]["ok"] is True
    assert (checks["broker"]["ok"], checks["broker"]["kind"]) == (False, "TRANSIENT")


def test_health_rejects_a_bad_checks_spec(tmp_path: Path) -> None:
    proc = _run_in(tmp_path, "health", "--checks", "no_such_module:X")
    assert proc.returncode == 2
    assert "--checks" in proc.stderr
