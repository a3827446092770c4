"""Regressions of faults found by probing montalaq as a hostile or careless user would
(issue 20, item 7): each test reproduces the fault it names."""

from __future__ import annotations

import concurrent.futures
import contextlib
import json
import os
import socket
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import pytest
from api_fixtures import TOKEN, client, client_for, stepped_service
from test_serve import serve_env, start, stop, wait_for_state

import montalaq
from montalaq.api.app import LOOPBACK_HOSTS, create_app, host_name
from montalaq.throttle import ThrottleDecision

# Seconds per test (servers, subprocesses, migrations): scheduled first in parallel runs.
pytestmark = pytest.mark.slow


def test_a_nul_byte_in_a_static_path_is_a_404_not_a_500(tmp_path: Path) -> None:
    service = stepped_service(tmp_path / "nul.db", 0)
    try:
        r = client_for(service).get("/static/app%00.js")
        assert r.status_code == 404
        assert "Traceback" not in r.text
    finally:
        service.store.close()


def test_head_answers_like_get_without_a_body(tmp_path: Path) -> None:
    service = stepped_service(tmp_path / "head.db", 2)
    try:
        api = client_for(service)
        for path in ("/health", "/livez", "/api/ingestion/status", "/metrics"):
            r = api.head(path)
            assert r.status_code == 200, (path, r.status_code)
            assert r.content == b""
        assert "head" not in str(api.get("/api/schema").json()["paths"]["/health"])  # not documented twice
        assert api.post("/health").status_code == 405  # other methods are still refused
    finally:
        service.store.close()


def test_a_loopback_server_refuses_foreign_host_headers(tmp_path: Path) -> None:
    service = stepped_service(tmp_path / "host.db", 2)
    try:
        app = create_app(service=service, token=TOKEN, run_scheduler=False, allowed_hosts=LOOPBACK_HOSTS)
        api = client(app)
        rebinding = api.get("/api/ingestion/status", headers={"Host": "attacker.example:8000"})
        assert rebinding.status_code == 400
        assert "attacker.example" in rebinding.json()["detail"]
        for host in ("127.0.0.1:8000", "localhost", "LOCALHOST:1", "[::1]:8000"):
            assert api.get("/livez", headers={"Host": host}).status_code == 200, host
    finally:
        service.store.close()
    assert [host_name(h) for h in ("[::1]:80", "Example.COM:443", "::1", "a")] == [
        "::1",
        "example.com",
        "::1",
        "a",
    ]


def serve_once(tmp_path: Path, port: int = 0) -> subprocess.CompletedProcess[str]:
    """``montalaq serve --port PORT`` run to its end (one that cannot start)."""
    return subprocess.run(
        [sys.executable, "-m", "montalaq", "serve", "--port", str(port)],
        cwd=tmp_path,
        env=serve_env(tmp_path),
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )


def test_a_taken_port_exits_1_as_documented(tmp_path: Path) -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        proc = serve_once(tmp_path, port)
    assert proc.returncode == 1, proc.stderr
    assert f"could not serve on 127.0.0.1:{port}" in proc.stderr


def test_a_second_serve_on_the_same_sqlite_file_is_refused(tmp_path: Path) -> None:
    first = start(tmp_path)
    try:
        wait_for_state(first.base, "ACTIVE")
        second = serve_once(tmp_path)
        assert second.returncode == 1, second.stderr
        assert f"another montalaq serve (pid {first.proc.pid}) is using" in second.stderr
        assert second.stdout == ""
    finally:
        code, _, err = stop(first)
    assert code == 0, err


def test_a_lone_surrogate_in_an_error_message_is_replaced_not_a_type_error() -> None:
    throttle = montalaq.ErrorThrottle()
    assert throttle.report("BROKER", "bad \udc80 byte") == ThrottleDecision.NOTIFY
    assert throttle.report("BROKER", ValueError("also \udcff")) == ThrottleDecision.SUPPRESSED


def test_replay_of_a_file_with_times_near_int64_max_counts_them_and_ends(tmp_path: Path) -> None:
    """Was: a traceback and exit 1 (without --fill-gaps), a hang eating memory (with it)."""
    crafted = tmp_path / "crafted.csv"
    crafted.write_text(
        "ts_ns,price,size\n9223372035854775807,1,1\n9223372036854775807,1,1\n1704067200000000000,1,1\n"
    )
    for extra in ([], ["--fill-gaps"]):
        proc = subprocess.run(
            [sys.executable, "-m", "montalaq", "replay", str(crafted), "--json", *extra],
            capture_output=True,
            text=True,
            timeout=60,
            check=False,
        )
        assert proc.returncode == 0, proc.stderr
        assert "Traceback" not in proc.stderr
        report = json.loads(proc.stdout)
        assert (report["stats"]["REJECT_TS"], report["stats"]["ACCEPTED"]) == (2, 1)
        assert report["symbols"]["CRAFTED"]["timeframes"]["1m"]["bars"] >= 1  # 15 with the gap filled


# ------------------------------------------------------------------------------ poison notifications


def test_notify_refuses_payloads_no_channel_could_send(tmp_path: Path) -> None:
    from montalaq.notify import Notifier, WebhookChannel
    from montalaq.store import Store

    with Store(f"sqlite:///{tmp_path / 'refuse.db'}") as store:
        n = Notifier(store, [WebhookChannel("http://127.0.0.1:9/hook")])
        deep: dict[str, object] = {}
        node = deep
        for _ in range(900):
            node["x"] = {}
            node = node["x"]  # type: ignore[assignment]
        with pytest.raises(ValueError, match="nested deeper than 32"):
            n.notify("alert", "deep", fields={"deep": deep})
        with pytest.raises(ValueError, match="lone surrogate"):
            n.notify("alert", "bad \udc80 title")
        with pytest.raises(ValueError, match="bytes, more than"):
            n.notify("alert", "huge", text="x" * 300_000)
        with pytest.raises(ValueError, match="not a JSON number"):
            n.notify("alert", "nan", fields={"v": float("nan")})
        assert store.outbox.counts()["PENDING"] == 0  # nothing half-stored


def test_unsendable_rows_go_dead_at_once_and_do_not_black_out_the_channel(
    tmp_path: Path, http_receiver: Any
) -> None:
    from datetime import UTC, datetime

    from montalaq.health import BreakerState
    from montalaq.notify import Notifier, WebhookChannel
    from montalaq.store import Store
    from montalaq.store.outbox import NewOutboxRow

    db = f"sqlite:///{tmp_path / 'poison.db'}"
    with Store(db) as store:
        n = Notifier(store, [WebhookChannel(http_receiver.url + "/hook")], breaker_failures=3)
        # Six rows no channel can send (a producer that bypassed notify, an older version):
        # the payload lacks the message's fields.
        store.enqueue(
            [
                NewOutboxRow(
                    "webhook", f"poison-{i}", "alert", "INFO", {"kind": "alert"}, None, None, "PENDING"
                )
                for i in range(6)
            ],
            datetime.now(UTC),
        )
        for i in range(10):
            n.notify("alert", f"normal {i}")
        n.deliver_once()
        titles = sorted(r.json["title"] for r in http_receiver.accepted())
        assert titles == sorted(f"normal {i}" for i in range(10))  # all ten, in one pass
        counts = store.outbox.counts()
        assert (counts["DEAD"], counts["SENT"], counts["PENDING"]) == (6, 10, 0)
        assert n.breakers["webhook"].state() == BreakerState.CLOSED
        assert n.breakers["webhook"].counts()["failures"] == 0
    listed = subprocess.run(
        [sys.executable, "-m", "montalaq", "outbox", "--url", db, "--json"],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert listed.returncode == 0, listed.stderr
    doc = json.loads(listed.stdout)
    assert doc["counts"]["DEAD"] == 6
    assert len(doc["rows"]) == 6
    assert all("KeyError" in (r["last_error"] or "") for r in doc["rows"])


# ------------------------------------------------------------------------------ stalled databases


class StallingProxy:
    """A TCP proxy on loopback to PostgreSQL that can stop relaying (``stall()``): the
    database then accepts and never answers, as a hung server or a dead network path does."""

    def __init__(self, target_port: int = 5432) -> None:
        import threading

        self.target_port = target_port
        self.flowing = threading.Event()
        self.flowing.set()
        self.listener = socket.socket()
        self.listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self.listener.bind(("127.0.0.1", 0))
        self.listener.listen(64)
        self.port = self.listener.getsockname()[1]
        self.closed = False
        threading.Thread(target=self._accept, daemon=True).start()

    def stall(self) -> None:
        self.flowing.clear()

    def resume(self) -> None:
        self.flowing.set()

    def close(self) -> None:
        self.closed = True
        self.flowing.set()
        self.listener.close()

    def _accept(self) -> None:
        import threading

        while not self.closed:
            try:
                client, _ = self.listener.accept()
            except OSError:
                return
            if not self.flowing.is_set():
                threading.Thread(target=self._hold, args=(client,), daemon=True).start()
                continue
            upstream = socket.create_connection(("127.0.0.1", self.target_port))
            for a, b in ((client, upstream), (upstream, client)):
                threading.Thread(target=self._pipe, args=(a, b), daemon=True).start()

    def _hold(self, client: socket.socket) -> None:
        self.flowing.wait()  # accepted, never answered while stalled
        client.close()

    def _pipe(self, src: socket.socket, dst: socket.socket) -> None:
        try:
            while True:
                data = src.recv(65536)
                if not data:
                    break
                self.flowing.wait()
                dst.sendall(data)
        except OSError:
            pass
        finally:
            for s in (src, dst):
                with contextlib.suppress(OSError):
                    s.close()


def test_a_database_that_accepts_and_never_answers_is_waiting_not_a_hang(tmp_path: Path) -> None:
    import httpx

    proxy = StallingProxy()
    proxy.stall()
    s = start(
        tmp_path,
        DATABASE_URL=f"postgresql+psycopg://postgres@127.0.0.1:{proxy.port}/postgres",
        DB_CONNECT_TIMEOUT_SEC="1",
        STARTUP_CHECK_RETRIES="0",
        WAITING_RECHECK_SEC="600",
    )
    try:
        body = wait_for_state(s.base, "WAITING", timeout_s=20)  # was: hung at start, no log line
        assert "database" in body["reason"]
        with httpx.Client(base_url=s.base, timeout=10) as http:
            t0 = time.monotonic()
            r = http.get("db-health")
            assert r.status_code == 503
            assert time.monotonic() - t0 < 5
        # 60 concurrent /db-health calls do not starve the probes (was: /health hung too).
        with concurrent.futures.ThreadPoolExecutor(60) as pool:
            futures = [pool.submit(httpx.get, s.base + "db-health", timeout=30) for _ in range(60)]
            with httpx.Client(base_url=s.base, timeout=5) as http:
                assert http.get("livez").status_code == 200
                assert http.get("health").json()["state"] == "WAITING"
            assert {f.result().status_code for f in futures} == {503}
    finally:
        code, _, err = stop(s)
        proxy.close()
    assert code == 0, err


@pytest.mark.postgres
def test_a_database_that_stalls_at_run_time_moves_to_waiting_and_back(tmp_path: Path) -> None:
    import httpx

    proxy = StallingProxy()
    env = {
        "DATABASE_URL": f"postgresql+psycopg://postgres@127.0.0.1:{proxy.port}/postgres",
        "DB_CONNECT_TIMEOUT_SEC": "1",
        "DB_STATEMENT_TIMEOUT_SEC": "1",  # a cycle running 2 s is stalled
        "ESCALATION_EVAL_INTERVAL_SEC": "1",
        "STATE_SNAPSHOT_INTERVAL_SEC": "1",
        "RUNTIME_FAILURE_CYCLES": "2",
        "RUNTIME_FAILURE_MIN_SEC": "0",
    }
    name = f"mtq_stall_{os.getpid()}"
    import psycopg

    with psycopg.connect("postgresql://postgres@127.0.0.1:5432/postgres", autocommit=True) as conn:
        conn.execute(f'CREATE DATABASE "{name}"')
    env["DATABASE_URL"] = f"postgresql+psycopg://postgres@127.0.0.1:{proxy.port}/{name}"
    s = start(tmp_path, **env)
    try:
        wait_for_state(s.base, "ACTIVE")
        proxy.stall()
        with httpx.Client(base_url=s.base, timeout=5) as http:
            deadline = time.monotonic() + 30
            state = "ACTIVE"
            while state != "WAITING" and time.monotonic() < deadline:
                assert http.get("livez").status_code == 200  # answers throughout the stall
                state = http.get("health").json()["state"]
                time.sleep(0.2)
            assert state == "WAITING"
            assert "cycle" in http.get("health").json()["reason"]
        proxy.resume()
        wait_for_state(s.base, "ACTIVE", timeout_s=30)
    finally:
        code, _, err = stop(s)
        proxy.close()
        with psycopg.connect("postgresql://postgres@127.0.0.1:5432/postgres", autocommit=True) as conn:
            conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
    assert code == 0, err
