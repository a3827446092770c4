"""Helpers of the HTTP API tests: real services over the bundled SPY day (the replay and
gap-run helpers of test_service), FastAPI apps with the montalaq router, the token."""

from __future__ import annotations

import re
import warnings
from collections.abc import Iterator
from functools import cache
from pathlib import Path
from typing import Any

from fastapi import FastAPI
from test_service import ENV, NS, T1330, drive, replay

import montalaq
from montalaq.api import MontalaqRouter, create_router
from montalaq.service import Service
from montalaq.settings import Settings
from montalaq.store import Store

with warnings.catch_warnings():
    # starlette's TestClient warns that it prefers httpx2 (not installed): still httpx.
    warnings.filterwarnings("ignore", message=".*starlette.testclient.*")
    from fastapi.testclient import TestClient

TOKEN = "test-token-1234"
AUTH = {"Authorization": f"Bearer {TOKEN}"}
Z_TIME = re.compile(r"^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(\.\d{1,6})?Z$")
LOOKS_LIKE_TIME = re.compile(r"^\d{4}-\d{2}-\d{2}T")


@cache
def spy_trades() -> montalaq.Trades:
    """The bundled SPY day (read once per process)."""
    return montalaq.read_trades(montalaq.sample_path("spy"))


def stepped_service(db: Path, minutes: int, env: dict[str, str] | None = None, **kw: Any) -> Service:
    """A service over a SQLite file at ``db``, stepped every 30 s from 13:30 for ``minutes``
    (0: not stepped at all). The caller closes ``service.store``."""
    store = Store(f"sqlite:///{db}")
    service = Service(
        Settings.from_env(env or ENV), store=store, providers={"SPY": replay(spy_trades())}, **kw
    )
    if minutes:
        drive(service, T1330 + 30 * NS, T1330 + minutes * 60 * NS)
    return service


def host_app(router: MontalaqRouter, prefix: str = "") -> FastAPI:
    """A host FastAPI app with a route of its own and the router under ``prefix``."""
    app = FastAPI()

    @app.get("/host-ping")
    def host_ping() -> dict[str, str]:
        return {"host": "yes"}

    app.include_router(router, prefix=prefix)
    return app


def client(app: FastAPI) -> TestClient:
    """A TestClient that returns 500s instead of raising (the router answers them)."""
    return TestClient(app, raise_server_exceptions=False, follow_redirects=False)


def client_for(service: Service, prefix: str = "", **router_kw: Any) -> TestClient:
    """A TestClient of a host app with ``create_router(service, **router_kw)``."""
    router_kw.setdefault("token", TOKEN)
    return client(host_app(create_router(service, **router_kw), prefix))


def walk(value: Any, path: str = "$") -> Iterator[tuple[str, Any]]:
    """Every leaf of a JSON value with its path."""
    if isinstance(value, dict):
        for k, v in value.items():
            yield from walk(v, f"{path}.{k}")
    elif isinstance(value, list):
        for i, v in enumerate(value):
            yield from walk(v, f"{path}[{i}]")
    else:
        yield path, value


class FakeClock:
    """Monotonic seconds that move only when told (the cache's clock in tests)."""

    def __init__(self) -> None:
        self.now_s = 1000.0

    def __call__(self) -> float:
        return self.now_s

    def advance(self, seconds: float) -> None:
        self.now_s += seconds
