"""Shared pieces of the dashboard's browser tests: where things are, the replayed file,
a running server and an open page (fixtures in browser/conftest.py)."""

from __future__ import annotations

import json
import queue
import re
import subprocess
import threading
import time
import urllib.error
import urllib.request
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeVar
from urllib.parse import urlsplit, urlunsplit

from mtq_support import REPO_ROOT

if TYPE_CHECKING:
    from playwright.sync_api import Page

    from montalaq.service import Service

CHROMIUM = Path("/usr/bin/chromium")
ARTIFACTS = REPO_ROOT / "test-artifacts"

NS = 1_000_000_000
T1330 = 1_381_152_600_000_000_000  # 2013-10-07 13:30 UTC, the regular session's open
SESSION_S = 240 * 60  # 13:30-17:30 of the sample, 48 s of wall time at REPLAY_SPEED
HOLE_START_S = 5 * 60  # the feed is silent 13:35-13:45: the 1m pair goes RED, 5m only AMBER
HOLE_END_S = 15 * 60
REPLAY_SPEED = 300  # virtual seconds per wall second: a 1m bar closes every 0.2 s
SERVE_START_TIMEOUT_S = 60.0
_SERVE_LINE = re.compile(r"montalaq serve: (http://\S+)")
T = TypeVar("T")


@dataclass(frozen=True)
class GapFile:
    """The replayed trade file and the price range it holds (USD)."""

    path: Path
    trades: int
    price_min: float
    price_max: float


@dataclass
class Served:
    """A running dashboard server: its base URL (ends with "/"), the API token and how to
    ask the API directly (to check what the page shows against the source)."""

    base_url: str
    token: str
    log_path: Path | None = None

    def page_url(self, *, refresh_s: float | None = 1, with_token: bool = True) -> str:
        """The dashboard's URL: ``?refresh=`` and the ``#token=`` fragment as asked."""
        parts = urlsplit(self.base_url)
        query = "" if refresh_s is None else f"refresh={refresh_s:g}"
        fragment = f"token={self.token}" if with_token else ""
        return urlunsplit((parts.scheme, parts.netloc, parts.path, query, fragment))

    def request(self, method: str, path: str) -> tuple[int, Any]:
        """``(status, JSON body)`` of a request to ``path`` (relative to the base URL)."""
        req = urllib.request.Request(
            self.base_url + path,
            method=method,
            headers={"Authorization": f"Bearer {self.token}", "Accept": "application/json"},
        )
        try:
            with urllib.request.urlopen(req, timeout=10) as resp:
                return resp.status, json.loads(resp.read() or b"null")
        except urllib.error.HTTPError as exc:
            return exc.code, json.loads(exc.read() or b"null")

    def get(self, path: str) -> Any:
        """JSON of a GET that must succeed."""
        status, body = self.request("GET", path)
        assert status == 200, f"GET {path}: HTTP {status}: {body}"
        return body


@dataclass
class Dashboard:
    """One open dashboard page, every console error / uncaught exception it produced and
    every URL it requested."""

    page: Page
    errors: list[str] = field(default_factory=list)
    requests: list[str] = field(default_factory=list)  # every URL the page asked for

    def screenshot(self, name: str) -> Path:
        """Full-page PNG at ``test-artifacts/dashboard-<name>.png``."""
        ARTIFACTS.mkdir(exist_ok=True)
        path = ARTIFACTS / f"dashboard-{name}.png"
        self.page.screenshot(path=str(path), full_page=True)
        return path


def drain_lines(stream: Any, lines: queue.Queue[str]) -> None:
    for line in iter(stream.readline, ""):
        lines.put(line)


def wait_for_url(proc: subprocess.Popen[str], lines: queue.Queue[str], log_path: Path) -> str:
    deadline = time.monotonic() + SERVE_START_TIMEOUT_S
    while time.monotonic() < deadline:
        try:
            line = lines.get(timeout=0.2)
        except queue.Empty:
            if proc.poll() is not None:
                break
            continue
        m = _SERVE_LINE.search(line)
        if m:
            return m.group(1)
    raise AssertionError(
        f"montalaq serve did not print its URL (exit code {proc.poll()}); stderr:\n"
        + log_path.read_text()[-3000:]
    )


@dataclass
class Hosted:
    """The router mounted at a prefix in a host FastAPI app over a service that replayed
    13:30-14:10 of the gap file (stepped, then left still: no scheduler runs)."""

    app: Any
    service: Service


class ThreadedServer:
    """An ASGI app under uvicorn in a daemon thread on 127.0.0.1; ``stop()`` then
    ``start()`` again serves on the same port (to take the API away and bring it back)."""

    def __init__(self, app: Any, port: int = 0) -> None:
        self.app = app
        self.port = port
        self._server: Any = None
        self._thread: threading.Thread | None = None

    def start(self) -> int:
        """Serve; returns the port once the socket listens."""
        import uvicorn

        config = uvicorn.Config(self.app, host="127.0.0.1", port=self.port, log_level="warning")
        self._server = uvicorn.Server(config)
        self._thread = threading.Thread(target=self._server.run, name="dashboard-test-server", daemon=True)
        self._thread.start()
        deadline = time.monotonic() + 15
        while not self._server.started:
            assert self._thread.is_alive(), "uvicorn stopped while starting"
            assert time.monotonic() < deadline, "uvicorn did not start within 15 s"
            time.sleep(0.02)
        self.port = int(self._server.servers[0].sockets[0].getsockname()[1])
        return self.port

    def stop(self) -> None:
        """Stop serving and wait for the thread (at most 15 s)."""
        if self._server is not None and self._thread is not None:
            self._server.should_exit = True
            self._thread.join(15)
            assert not self._thread.is_alive(), "uvicorn did not stop within 15 s"
        self._server = self._thread = None


def wait_until(check: Callable[[], T | None], what: str, timeout_s: float = 15.0) -> T:
    """Poll ``check`` every 50 ms until it returns something other than None/False.

    Polls from Python on purpose: ``page.wait_for_function`` polls by evaluating a string
    in the page, which the dashboard's Content-Security-Policy (no 'unsafe-eval') refuses
    -- and the CSP stays on in these tests, since it is part of what they check."""
    deadline = time.monotonic() + timeout_s
    while True:
        value = check()
        if value is not None and value is not False:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout_s} s waiting for {what}")
        time.sleep(0.05)
