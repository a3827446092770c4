"""Fixtures and helpers for the store tests: real SQLite files, real PostgreSQL databases,
a TCP proxy that can take PostgreSQL away, and worker functions for multi-process tests.

PostgreSQL is the server on 127.0.0.1:5432 (user ``postgres``, trust auth; override with
``MONTALAQ_TEST_PG_URL``, the URL of a database the fixture may connect to in order to
create others). Each test gets a fresh database ``montalaq_test_<pid>_<n>``, dropped after.
A server that does not answer is a failure, never a skip: the test command starts it.

Import the fixtures into a test module with
``from store_fixtures import fixture_store  # noqa: F401`` (and so on): in tests they are
named ``db_url`` (an empty database; parametrised: sqlite, postgresql), ``pg_url``,
``store`` (parametrised), ``shared_store`` (module-wide, for tests that never write).
Import ``fixture_pg_migrated_template`` too wherever ``store`` or ``shared_store`` is used.
"""

from __future__ import annotations

import contextlib
import itertools
import multiprocessing as mp
import os
import selectors
import socket
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import psycopg
import pytest
from psycopg import sql

from montalaq.store import Store

PG_ADMIN_URL = os.environ.get("MONTALAQ_TEST_PG_URL", "postgresql://postgres@127.0.0.1:5432/postgres")
BACKENDS = ("sqlite", "postgresql")

_db_counter = itertools.count()


def _pg_base() -> str:
    """The admin URL without its database: ``postgresql://postgres@127.0.0.1:5432``."""
    return PG_ADMIN_URL.rsplit("/", 1)[0]


def pg_connect(dbname: str | None = None) -> psycopg.Connection[Any]:
    """An autocommit psycopg connection to ``dbname`` (default: the admin database)."""
    url = PG_ADMIN_URL if dbname is None else f"{_pg_base()}/{dbname}"
    try:
        return psycopg.connect(url, autocommit=True, connect_timeout=5)
    except psycopg.OperationalError as exc:
        pytest.fail(
            f"PostgreSQL is not answering at {PG_ADMIN_URL} ({exc}); the test command starts it "
            "(set MONTALAQ_TEST_PG_URL to use another server)",
            pytrace=False,
        )


def create_pg_database(template: str | None = None) -> str:
    """Create a database (empty, or a copy of ``template``) and return its name."""
    name = f"montalaq_test_{os.getpid()}_{next(_db_counter)}"
    with pg_connect() as conn:
        conn.execute(sql.SQL("DROP DATABASE IF EXISTS {}").format(sql.Identifier(name)))
        if template is None:
            conn.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))
        else:
            stmt = sql.SQL("CREATE DATABASE {} TEMPLATE {}")
            conn.execute(stmt.format(sql.Identifier(name), sql.Identifier(template)))
    return name


def drop_pg_database(name: str) -> None:
    """Drop ``name`` after terminating whatever is still connected to it."""
    with pg_connect() as conn:
        conn.execute(
            "SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = %s AND pid <> "
            "pg_backend_pid()",
            (name,),
        )
        conn.execute(sql.SQL("DROP DATABASE IF EXISTS {}").format(sql.Identifier(name)))


def pg_database_url(name: str) -> str:
    """The URL a Store is given for database ``name``."""
    return f"{_pg_base()}/{name}"


@pytest.fixture(scope="session", name="pg_migrated_template")
def fixture_pg_migrated_template() -> Iterator[str]:
    """The name of a database migrated to head once per session; stores of the tests are
    copies of it (CREATE DATABASE ... TEMPLATE), which is quicker than migrating each."""
    name = create_pg_database()
    try:
        with Store(pg_database_url(name)) as s:
            s.upgrade()
        yield name
    finally:
        drop_pg_database(name)


@pytest.fixture(name="pg_url")
def fixture_pg_url() -> Iterator[str]:
    """A fresh, empty PostgreSQL database's URL (dropped after the test)."""
    name = create_pg_database()
    try:
        yield pg_database_url(name)
    finally:
        drop_pg_database(name)


@pytest.fixture(name="db_url", params=BACKENDS)
def fixture_db_url(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    """An empty database's URL: a SQLite file under tmp_path, or a fresh PostgreSQL database."""
    if request.param == "sqlite":
        yield f"sqlite:///{tmp_path / 'db' / 'montalaq.db'}"
        return
    name = create_pg_database()
    try:
        yield pg_database_url(name)
    finally:
        drop_pg_database(name)


def _store_on(backend: str, sqlite_dir: Path, request: pytest.FixtureRequest) -> Iterator[Store]:
    if backend == "sqlite":
        with Store(f"sqlite:///{sqlite_dir / 'db' / 'montalaq.db'}") as s:
            yield s
        return
    name = create_pg_database(template=request.getfixturevalue("pg_migrated_template"))
    try:
        with Store(pg_database_url(name)) as s:
            yield s
    finally:
        drop_pg_database(name)


@pytest.fixture(name="store", params=BACKENDS)
def fixture_store(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Store]:
    """A Store over a fresh database of each backend (SQLite migrated on first use,
    PostgreSQL a copy of the migrated template); its pool is released after the test."""
    yield from _store_on(request.param, tmp_path, request)


@pytest.fixture(name="shared_store", params=BACKENDS, scope="module")
def fixture_shared_store(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Store]:
    """One Store per backend for a whole module: only for tests that never write (argument
    validation, reads of what is not there)."""
    yield from _store_on(request.param, tmp_path_factory.mktemp("shared"), request)


def free_port() -> int:
    """A TCP port on 127.0.0.1 that nothing listens on right now."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


class TcpProxy:
    """A loopback TCP proxy to ``target`` that can be stopped (listener closed and every
    open connection cut, as a crashed server or a network partition would) and started
    again on the same port."""

    def __init__(self, target: tuple[str, int], port: int | None = None) -> None:
        self.target = target
        self.port = port if port is not None else free_port()
        self._listener: socket.socket | None = None
        self._sockets: set[socket.socket] = set()
        self._lock = threading.Lock()
        self._threads: list[threading.Thread] = []
        self._stopping = threading.Event()

    def start(self) -> TcpProxy:
        self._stopping.clear()
        listener = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        listener.bind(("127.0.0.1", self.port))
        listener.listen(64)
        self._listener = listener
        t = threading.Thread(target=self._accept, args=(listener,), daemon=True, name="tcp-proxy-accept")
        t.start()
        self._threads = [t]
        return self

    def stop(self) -> None:
        """Refuse new connections and cut the open ones."""
        self._stopping.set()
        if self._listener is not None:
            self._listener.close()
            self._listener = None
        with self._lock:
            open_sockets = list(self._sockets)
            self._sockets.clear()
        for s in open_sockets:
            with contextlib.suppress(OSError):
                s.shutdown(socket.SHUT_RDWR)
            s.close()
        for t in self._threads:
            t.join(timeout=5)
        self._threads = []

    def __enter__(self) -> TcpProxy:
        return self.start()

    def __exit__(self, *_exc: object) -> None:
        self.stop()

    def _accept(self, listener: socket.socket) -> None:
        # A timeout, because closing a socket does not wake a thread blocked in accept().
        listener.settimeout(0.05)
        while not self._stopping.is_set():
            try:
                client, _ = listener.accept()
            except TimeoutError:
                continue
            except OSError:  # the listener was closed by stop()
                return
            try:
                upstream = socket.create_connection(self.target, timeout=5)
            except OSError:
                client.close()
                continue
            upstream.settimeout(None)
            with self._lock:
                if self._stopping.is_set():
                    client.close()
                    upstream.close()
                    return
                self._sockets.update((client, upstream))
            t = threading.Thread(target=self._pump, args=(client, upstream), daemon=True)
            t.start()
            self._threads.append(t)

    def _pump(self, a: socket.socket, b: socket.socket) -> None:
        peer = {a: b, b: a}
        with selectors.DefaultSelector() as sel:
            sel.register(a, selectors.EVENT_READ)
            sel.register(b, selectors.EVENT_READ)
            try:
                while not self._stopping.is_set():
                    for key, _ in sel.select(timeout=0.2):
                        src: socket.socket = key.fileobj  # type: ignore[assignment]
                        data = src.recv(65536)
                        if not data:
                            return
                        peer[src].sendall(data)
            except (OSError, ValueError):  # cut by stop(), or the peer went away
                return
            finally:
                for s in (a, b):
                    with self._lock:
                        self._sockets.discard(s)
                    s.close()


def run_processes(target: Any, args_each: list[tuple[Any, ...]]) -> list[Any]:
    """Run ``target(*args, barrier, queue)`` in one spawned process per ``args`` (released
    together by the barrier); what they put on the queue, in arrival order."""
    ctx = mp.get_context("spawn")
    barrier = ctx.Barrier(len(args_each))
    results = ctx.Queue()
    procs = [ctx.Process(target=target, args=(*args, barrier, results)) for args in args_each]
    for p in procs:
        p.start()
    try:
        out = [results.get(timeout=60) for _ in procs]
    finally:
        for p in procs:
            p.join(timeout=30)
            if p.is_alive():
                p.kill()
    assert [p.exitcode for p in procs] == [0] * len(procs)
    return out


# -- workers for multi-process tests (module-level so that spawn can import them) ----------


def claim_worker(url: str, bar_ts: Any, now: Any, barrier: Any, results: Any) -> None:
    """Connect, wait for every worker, then claim the same signal bar; report True/False."""
    s = Store(url)
    try:
        s.ensure_schema()
        s.health()  # the pool holds an open connection before the race starts
        barrier.wait(timeout=30)
        results.put(s.claim_signal_bar("RACE", "1m", bar_ts, now=now, window_s=900))
    finally:
        s.close()


def first_use_worker(url: str, barrier: Any, results: Any) -> None:
    """Wait for every worker, then use an empty database (auto-migration); report the revision."""
    s = Store(url)
    try:
        barrier.wait(timeout=30)
        s.latest_findings()
        results.put(s.revision())
    except Exception as exc:  # reported to the test, which shows it
        results.put(f"{type(exc).__name__}: {exc}")
    finally:
        s.close()


def writer_worker(url: str, symbol: str, n: int, barrier: Any, results: Any) -> None:
    """Wait for every worker, then write ``n`` findings and ``n`` analyses; report how many
    findings went to memory instead of the database (0 expected), or the error."""
    from datetime import UTC, datetime, timedelta

    from montalaq.records import Analysis, Finding

    s = Store(url)
    try:
        s.ensure_schema()
        barrier.wait(timeout=30)
        t0 = datetime(2026, 1, 1, tzinfo=UTC)
        for i in range(n):
            s.add_finding(Finding(ts_utc=t0 + timedelta(seconds=i), agent="a", symbol=symbol, score=i))
            s.save_analysis(Analysis(symbol=symbol, timeframe="1m", bar_ts=t0 + timedelta(minutes=i)))
        results.put(s.buffered_findings + s.findings_dropped)
    except Exception as exc:
        results.put(f"{type(exc).__name__}: {exc}")
    finally:
        s.close()
