"""Lifecycle (docs/semantics.md, Lifecycle) in real processes: lifecycle_proc.py runs a Lifecycle over a real
SQLite store and a real Notifier posting to the loopback HTTP receiver; checks are driven by
files, shutdown steps record themselves in steps.log. Also the built-in checks against a real
SQLite database, a real Redis and a real directory."""

from __future__ import annotations

import json
import os
import queue
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path
from typing import Any

import psutil
import pytest

import montalaq
from montalaq.errors import ErrorKind
from montalaq.lifecycle import builtin_checks, run_check
from montalaq.settings import Settings
from montalaq.shapes import OperationalStateRow
from montalaq.store import Store
from receivers import free_port

# Seconds per test (servers, subprocesses, migrations): scheduled first in parallel runs.
pytestmark = pytest.mark.slow

PROC = str(Path(__file__).with_name("lifecycle_proc.py"))
PYTHON_DIR = str(Path(montalaq.__file__).resolve().parent.parent)
SHUTDOWN_BUDGET_S = 9.0  # docs/semantics.md, Lifecycle, the process's default
STATUS_INTERVAL_S = 1.0  # what lifecycle_proc.py configures
HOST_STEPS = ["cancel_orders", "close_positions", "save_state", "disconnect"]


class Host:
    """One lifecycle_proc.py process; stdout lines are collected by a reader thread."""

    def __init__(self, tmp: Path, url: str, *extra: str) -> None:
        self.dir = tmp
        self.db_url = f"sqlite:///{tmp / 'x.db'}"
        env = dict(os.environ)
        env["PYTHONPATH"] = os.pathsep.join([PYTHON_DIR, env.get("PYTHONPATH", "")])
        self.proc = subprocess.Popen(
            [sys.executable, PROC, str(tmp), self.db_url, url + "/hook", *extra],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
            env=env,
            start_new_session=True,
        )
        self.lines: list[str] = []
        self._queue: queue.Queue[str] = queue.Queue()
        self._stderr: list[str] = []
        threading.Thread(target=self._read, daemon=True).start()
        threading.Thread(target=self._read_err, daemon=True).start()

    def _read(self) -> None:
        assert self.proc.stdout is not None
        for line in self.proc.stdout:
            self.lines.append(line.rstrip("\n"))
            self._queue.put(line.rstrip("\n"))

    def _read_err(self) -> None:
        assert self.proc.stderr is not None
        for line in self.proc.stderr:
            self._stderr.append(line)

    @property
    def stderr(self) -> str:
        return "".join(self._stderr)

    def wait_line(self, prefix: str, timeout_s: float = 30.0) -> str:
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            try:
                line = self._queue.get(timeout=0.05)
            except queue.Empty:
                if self.proc.poll() is not None and self._queue.empty():
                    raise AssertionError(
                        f"host exited ({self.proc.returncode}) early:\n{self.stderr}"
                    ) from None
                continue
            if line.startswith(prefix):
                return line
        raise AssertionError(f"no {prefix!r} line within {timeout_s} s; stderr:\n{self.stderr}")

    def wait_exit(self, timeout_s: float) -> int:
        rc = self.proc.wait(timeout_s)
        time.sleep(0.05)  # let the reader threads take the last lines
        return rc

    def report(self) -> dict[str, Any]:
        line = next(line for line in self.lines if line.startswith("report "))
        doc: dict[str, Any] = json.loads(line.removeprefix("report "))
        return doc

    def steps_run(self) -> list[str]:
        path = self.dir / "steps.log"
        return path.read_text().split() if path.exists() else []

    def stored_state(self) -> OperationalStateRow | None:
        with Store(self.db_url) as store:
            return store.load_operational_state()

    def close(self) -> None:
        if self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait(10)


@pytest.fixture
def host_factory(tmp_path: Path, http_receiver: Any) -> Any:
    hosts: list[Host] = []

    def make(*extra: str, upstream: str | None = None) -> Host:
        if upstream is not None:
            (tmp_path / upstream).touch()
        host = Host(tmp_path, http_receiver.url, *extra)
        hosts.append(host)
        return host

    yield make
    for host in hosts:
        host.close()


def _messages(receiver: Any, kind: str | None = None) -> list[Any]:
    out = [r for r in receiver.accepted() if isinstance(r.json, dict)]
    return [r for r in out if kind is None or r.json.get("kind") == kind]


def _wait_messages(receiver: Any, kind: str, n: int, timeout_s: float) -> list[Any]:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        got = _messages(receiver, kind)
        if len(got) >= n:
            return got
        time.sleep(0.02)
    raise AssertionError(f"{len(_messages(receiver, kind))} {kind!r} message(s), wanted {n}")


def _wait_stored(host: Host, state: str, timeout_s: float = 5.0) -> OperationalStateRow:
    deadline = time.monotonic() + timeout_s
    row = None
    while time.monotonic() < deadline:
        row = host.stored_state()
        if row is not None and row["state"] == state:
            return row
        time.sleep(0.05)
    raise AssertionError(f"operational_state row is {row}, wanted {state}")


# ---------------------------------------------------------------------------- start-up


def test_transient_failure_waits_alive_with_one_notification_and_a_status_per_interval(
    host_factory: Any, http_receiver: Any
) -> None:
    host = host_factory()
    assert host.wait_line("state ") == "state WAITING"
    waiting = _wait_messages(http_receiver, "state", 1, 10.0)[0]
    statuses = _wait_messages(http_receiver, "status", 3, 3 * STATUS_INTERVAL_S + 5.0)
    assert host.proc.poll() is None
    assert host.lines.count("starting") == 1  # one start, no restart loop
    states = _messages(http_receiver, "state")
    assert [m.json["fields"]["state"] for m in states] == ["WAITING"]
    assert waiting.json["severity"] == "WARNING"
    assert "upstream" in waiting.json["fields"]["failing"]
    gaps = [b.at - a.at for a, b in zip([waiting, *statuses[:2]], statuses[:3], strict=True)]
    assert all(0.6 * STATUS_INTERVAL_S <= g <= 1.6 * STATUS_INTERVAL_S for g in gaps), gaps


def test_waiting_recovers_to_active_with_one_recovery_notification_and_stored_state(
    host_factory: Any, http_receiver: Any, tmp_path: Path
) -> None:
    host = host_factory()
    assert host.wait_line("state ") == "state WAITING"
    _wait_messages(http_receiver, "state", 1, 10.0)
    (tmp_path / "upstream_ok").touch()
    states = _wait_messages(http_receiver, "state", 2, 10.0)
    row = _wait_stored(host, "ACTIVE")
    time.sleep(0.5)  # a second recovery message would go out within this
    states = _messages(http_receiver, "state")
    assert [m.json["fields"]["state"] for m in states] == ["WAITING", "ACTIVE"]
    assert states[1].json["fields"]["previous"] == "WAITING"
    assert row["details"] is not None
    assert row["details"]["failing"] == {}
    assert host.proc.poll() is None


def test_permanent_failure_enters_error_with_exactly_one_critical_notification(
    host_factory: Any, http_receiver: Any
) -> None:
    host = host_factory(upstream="upstream_broken")
    assert host.wait_line("state ") == "state ERROR"
    first = _wait_messages(http_receiver, "state", 1, 10.0)[0]
    row = _wait_stored(host, "ERROR")
    time.sleep(1.5)  # longer than the re-check interval (0.3 s): nothing re-checks in ERROR
    assert len(_messages(http_receiver)) == 1
    assert first.json["severity"] == "CRITICAL"
    assert "upstream" in first.json["title"]
    assert "credentials" in first.json["text"]
    assert row["details"] is not None
    assert row["details"]["failing"]["upstream"]["kind"] == "PERMANENT"


def test_error_state_process_stays_alive_and_idle(host_factory: Any) -> None:
    host = host_factory(upstream="upstream_broken")
    assert host.wait_line("state ") == "state ERROR"
    ps = psutil.Process(host.proc.pid)
    time.sleep(0.3)  # let the notifier deliver the ERROR message
    before = ps.cpu_times()
    time.sleep(2.0)
    after = ps.cpu_times()
    cpu_s = (after.user - before.user) + (after.system - before.system)
    assert cpu_s < 0.5, f"{cpu_s:.3f} s of CPU in 2 s: the ERROR state is not idle"
    assert host.proc.poll() is None
    assert host.lines.count("starting") == 1


# ---------------------------------------------------------------------------- shutdown


def test_sigterm_runs_the_steps_in_order_past_a_raising_and_a_hanging_one(
    host_factory: Any, http_receiver: Any
) -> None:
    host = host_factory("--raise", "cancel_orders", "--hang", "close_positions", upstream="upstream_ok")
    assert host.wait_line("state ") == "state ACTIVE"
    host.proc.send_signal(signal.SIGTERM)
    host.wait_exit(SHUTDOWN_BUDGET_S + 5.0)
    assert host.steps_run() == HOST_STEPS
    steps = {s["name"]: s for s in host.report()["steps"]}
    assert [s["name"] for s in host.report()["steps"]] == [
        *HOST_STEPS[:3],
        "final_notification",
        "disconnect",
    ]
    assert steps["cancel_orders"]["outcome"] == "failed"
    assert steps["close_positions"]["outcome"] == "timed_out"
    assert 2.9 <= steps["close_positions"]["elapsed_s"] <= 3.5  # cut at its 3 s budget
    assert [steps[n]["outcome"] for n in ("save_state", "final_notification", "disconnect")] == ["ok"] * 3
    assert [m.json["title"] for m in _messages(http_receiver, "state")] == ["montalaq shutting down"]


def test_sigterm_exits_0_within_the_shutdown_budget_and_stores_shutdown(host_factory: Any) -> None:
    host = host_factory("--hang", "close_positions", "--hang", "disconnect", upstream="upstream_ok")
    assert host.wait_line("state ") == "state ACTIVE"
    t0 = time.monotonic()
    host.proc.send_signal(signal.SIGTERM)
    rc = host.wait_exit(SHUTDOWN_BUDGET_S + 5.0)
    elapsed_s = time.monotonic() - t0
    assert rc == 0
    assert elapsed_s < SHUTDOWN_BUDGET_S + 1.0
    row = host.stored_state()
    assert row is not None
    assert row["state"] == "SHUTDOWN"
    assert row["reason"] == "signal SIGTERM"


def test_sigint_exits_130_after_the_graceful_shutdown(host_factory: Any) -> None:
    host = host_factory(upstream="upstream_ok")
    assert host.wait_line("state ") == "state ACTIVE"
    host.proc.send_signal(signal.SIGINT)
    rc = host.wait_exit(SHUTDOWN_BUDGET_S + 5.0)
    assert rc == 130
    assert host.steps_run() == HOST_STEPS


def test_second_sigterm_during_shutdown_does_not_restart_it(host_factory: Any) -> None:
    host = host_factory("--hang", "close_positions", upstream="upstream_ok")
    assert host.wait_line("state ") == "state ACTIVE"
    t0 = time.monotonic()
    host.proc.send_signal(signal.SIGTERM)
    deadline = time.monotonic() + 5.0
    while "close_positions" not in host.steps_run() and time.monotonic() < deadline:
        time.sleep(0.02)
    assert "close_positions" in host.steps_run(), "the first SIGTERM did not start the shutdown"
    host.proc.send_signal(signal.SIGTERM)
    rc = host.wait_exit(SHUTDOWN_BUDGET_S + 5.0)
    assert rc == 0
    assert time.monotonic() - t0 < SHUTDOWN_BUDGET_S + 1.0
    assert host.steps_run() == HOST_STEPS  # each step once
    assert "SIGTERM received while shutting down: ignored" in host.stderr


# ---------------------------------------------------------------------------- built-in checks


def _check(checks: list[Any], name: str) -> Any:
    return next(c for c in checks if c.name == name)


def test_builtin_database_check_passes_on_a_reachable_sqlite_store(tmp_path: Path) -> None:
    with Store(f"sqlite:///{tmp_path / 'db.sqlite'}") as store:
        result = run_check(
            _check(builtin_checks(Settings.from_env({}), store, base_dir=tmp_path), "database")
        )
    assert result.ok, result


def test_builtin_database_check_is_transient_when_the_database_cannot_be_opened(tmp_path: Path) -> None:
    (tmp_path / "db.sqlite").mkdir()  # a directory where the database file should be
    with Store(f"sqlite:///{tmp_path / 'db.sqlite'}") as store:
        result = run_check(
            _check(builtin_checks(Settings.from_env({}), store, base_dir=tmp_path), "database")
        )
    assert result.kind is ErrorKind.TRANSIENT, result


def test_builtin_redis_check_passes_against_a_real_redis(redis_target: Any, tmp_path: Path) -> None:
    settings = Settings.from_env({"GUARD_BACKEND": "redis", "REDIS_URL": redis_target.url})
    result = run_check(_check(builtin_checks(settings, base_dir=tmp_path), "redis"))
    assert result.ok, result


def test_builtin_redis_check_is_transient_when_nothing_listens(tmp_path: Path) -> None:
    settings = Settings.from_env(
        {"GUARD_BACKEND": "redis", "REDIS_URL": f"redis://127.0.0.1:{free_port()}/0"}
    )
    result = run_check(_check(builtin_checks(settings, base_dir=tmp_path, redis_timeout_s=0.5), "redis"))
    assert result.kind is ErrorKind.TRANSIENT, result


def test_builtin_checks_have_no_redis_check_with_the_memory_backend(tmp_path: Path) -> None:
    names = [
        c.name for c in builtin_checks(Settings.from_env({"GUARD_BACKEND": "memory"}), base_dir=tmp_path)
    ]
    assert names == ["alerts_dir"]


def test_builtin_alerts_dir_check_creates_and_writes_logs_alerts(tmp_path: Path) -> None:
    result = run_check(_check(builtin_checks(Settings.from_env({}), base_dir=tmp_path), "alerts_dir"))
    assert result.ok, result
    assert (tmp_path / "logs" / "alerts").is_dir()
    assert list((tmp_path / "logs" / "alerts").iterdir()) == []  # the probe file is gone


def test_builtin_alerts_dir_check_is_permanent_when_logs_is_a_file(tmp_path: Path) -> None:
    (tmp_path / "logs").write_text("not a directory")
    result = run_check(_check(builtin_checks(Settings.from_env({}), base_dir=tmp_path), "alerts_dir"))
    assert result.kind is ErrorKind.PERMANENT, result
