"""Fixtures for the dashboard's browser tests (docs/semantics.md, HTTP API and Dashboard).

Real parts only: Debian's Chromium (``/usr/bin/chromium``, installed by
``scripts/ensure_system.sh``) driven by Playwright without any browser download, a real
``montalaq serve`` subprocess replaying a real SPY trade file with a hole cut into it
(so the 1m pair goes RED and its breaker opens), and, for the tests that need to put
something in the store first or to stop and restart the server, the package's app under
uvicorn in a thread. Screenshots go to ``<repo>/test-artifacts/`` (gitignored).
"""

from __future__ import annotations

import os
import queue
import signal
import subprocess
import sys
import threading
from collections.abc import Callable, Iterator
from typing import TYPE_CHECKING
from urllib.parse import urlsplit, urlunsplit

import pytest

import montalaq
from dashboard_support import (
    CHROMIUM,
    HOLE_END_S,
    HOLE_START_S,
    NS,
    REPLAY_SPEED,
    SESSION_S,
    T1330,
    Dashboard,
    GapFile,
    Hosted,
    Served,
    ThreadedServer,
    drain_lines,
    wait_for_url,
)
from montalaq.feeds import ReplayProvider
from montalaq.service import Service
from montalaq.settings import Settings
from montalaq.store import Store

if TYPE_CHECKING:
    from playwright.sync_api import Browser, ConsoleMessage

# ------------------------------------------------------------------------------ browser


@pytest.fixture(scope="module")
def browser() -> Iterator[Browser]:
    """Headless Debian Chromium (never a downloaded browser).

    Module-scoped on purpose: Playwright's sync API keeps an asyncio loop marked as running
    on the main thread while it is open, so a session-scoped browser would make every later
    test that calls ``asyncio.run`` fail ("cannot be called from a running event loop")."""
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        b = p.chromium.launch(executable_path=str(CHROMIUM), headless=True)
        try:
            yield b
        finally:
            b.close()


@pytest.fixture
def open_dashboard(browser: Browser) -> Iterator[Callable[[str], Dashboard]]:
    """``open_dashboard(url)``: a fresh browser context (own sessionStorage) on ``url``,
    recording console errors, page errors and requests; closed after the test."""
    contexts = []

    def open_(url: str) -> Dashboard:
        context = browser.new_context(viewport={"width": 1360, "height": 900})
        contexts.append(context)
        page = context.new_page()
        page.set_default_timeout(15_000)
        dash = Dashboard(page)

        def on_console(msg: ConsoleMessage) -> None:
            if msg.type == "error":
                dash.errors.append(f"console: {msg.text} at {msg.location.get('url')}")

        page.on("console", on_console)
        page.on("pageerror", lambda exc: dash.errors.append(f"pageerror: {exc}"))
        page.on("request", lambda req: dash.requests.append(req.url))
        page.goto(url)
        return dash

    yield open_
    for context in contexts:
        context.close()


# ------------------------------------------------------------------------------ data


@pytest.fixture(scope="session")
def gap_file(tmp_path_factory: pytest.TempPathFactory) -> GapFile:
    """13:30-17:30 of the bundled SPY day with 13:35-13:45 cut out, as a CSV that
    ``montalaq.read_trades`` reads back unchanged (checked)."""
    import pandas as pd

    spy = montalaq.read_trades(montalaq.sample_path("spy"))
    ts = spy.ts_ns
    in_session = (ts >= T1330) & (ts < T1330 + SESSION_S * NS)
    in_hole = (ts >= T1330 + HOLE_START_S * NS) & (ts < T1330 + HOLE_END_S * NS)
    keep = in_session & ~in_hole
    path = tmp_path_factory.mktemp("browser") / "spy_gap.csv"
    pd.DataFrame({"ts_ns": ts[keep], "price": spy.price[keep], "size": spy.size[keep]}).to_csv(
        path, index=False
    )
    back = montalaq.read_trades(path)
    assert (back.ts_ns == ts[keep]).all(), "the gap file does not read back to the same times"
    assert int(in_hole.sum()) > 1000, "the hole should remove a busy stretch of the session"
    return GapFile(path, int(keep.sum()), float(spy.price[keep].min()), float(spy.price[keep].max()))


# ------------------------------------------------------------------------------ servers


@pytest.fixture(scope="module")
def served(gap_file: GapFile, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Served]:
    """``montalaq serve`` replaying the gap file at REPLAY_SPEED (no loop) with escalation
    evaluated every cycle, on a free loopback port, a fresh SQLite file and a generated
    token (read from the printed URL); stopped with SIGTERM. The file lasts 48 s of wall
    time (then every pair would go stale); the tests using it take about 10 s."""
    tmp = tmp_path_factory.mktemp("serve")
    env = {
        **os.environ,
        "MONTALAQ_DB_PATH": str(tmp / "montalaq.db"),
        "ESCALATION_EVAL_INTERVAL_SEC": "1",
        "PYTHONUNBUFFERED": "1",
    }
    for name in ("API_TOKEN", "API_HOST", "DATABASE_URL", "SYMBOL", "TIMEFRAMES"):
        env.pop(name, None)
    cmd = [
        sys.executable,
        "-m",
        "montalaq",
        "serve",
        "--port",
        "0",
        "--replay",
        str(gap_file.path),
        "--symbol",
        "SPY",
        "--speed",
        str(REPLAY_SPEED),
        "--no-loop",
    ]
    log_path = tmp / "serve.stderr"
    with log_path.open("w") as stderr:
        proc = subprocess.Popen(cmd, env=env, cwd=tmp, stdout=subprocess.PIPE, stderr=stderr, text=True)
        try:
            assert proc.stdout is not None
            lines: queue.Queue[str] = queue.Queue()
            threading.Thread(target=drain_lines, args=(proc.stdout, lines), daemon=True).start()
            url = wait_for_url(proc, lines, log_path)
            parts = urlsplit(url)
            token = dict(p.split("=", 1) for p in parts.fragment.split("&") if "=" in p).get("token", "")
            assert token, f"montalaq serve printed no #token= fragment: {url}"
            base = urlunsplit((parts.scheme, parts.netloc, parts.path or "/", "", ""))
            yield Served(base, token, log_path)
        finally:
            proc.send_signal(signal.SIGTERM)
            try:
                proc.wait(timeout=15)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()


# ------------------------------------------------------------------------------ in-process app

HOST_TOKEN = "browser-test-token"
HOST_PREFIX = "/montalaq"


@pytest.fixture(scope="module")
def hosted(gap_file: GapFile, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Hosted]:
    from fastapi import FastAPI

    from montalaq.api import create_router

    store = Store(f"sqlite:///{tmp_path_factory.mktemp('hosted') / 'montalaq.db'}")
    settings = Settings.from_env({"SYMBOL": "SPY", "ESCALATION_EVAL_INTERVAL_SEC": "30"})
    feed = ReplayProvider(gap_file.path, symbol="SPY", name="Replay", start_ns=T1330)
    service = Service(settings, store=store, providers={"SPY": feed})
    try:
        for t in range(T1330 + 30 * NS, T1330 + 40 * 60 * NS + 1, 30 * NS):
            service.step(t)
        app = FastAPI()
        app.include_router(create_router(service, token=HOST_TOKEN), prefix=HOST_PREFIX)
        yield Hosted(app, service)
    finally:
        service.close()
        store.close()


@pytest.fixture
def host_server(hosted: Hosted) -> Iterator[tuple[ThreadedServer, Served]]:
    """The hosted app served on a free loopback port for one test; ``Served`` points at the
    prefix (``http://127.0.0.1:<port>/montalaq/``)."""
    server = ThreadedServer(hosted.app)
    port = server.start()
    try:
        yield server, Served(f"http://127.0.0.1:{port}{HOST_PREFIX}/", HOST_TOKEN)
    finally:
        server.stop()
