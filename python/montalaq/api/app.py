"""The standalone montalaq API application: the router, the scheduler and the notifier
worker in one FastAPI app; what ``montalaq serve`` runs (docs/semantics.md, "HTTP API";
docs/operations.md, "The server (`montalaq serve`)")::

    app = create_app()                       # Settings.from_env(), SQLite, bundled replay
    # uvicorn.run(app)  -- or `montalaq serve`
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import AsyncIterator, Callable, Mapping, Sequence
from pathlib import Path
from typing import Any

from fastapi import FastAPI
from pydantic import SecretStr

from montalaq.api.router import MontalaqRouter, create_router
from montalaq.feeds import Provider
from montalaq.monitoring import MonitoringService
from montalaq.ops import SERVICE_RULES
from montalaq.service import Service
from montalaq.settings import Settings
from montalaq.store import Store

log = logging.getLogger("montalaq.api")


def build_service(
    settings: Settings,
    *,
    providers: Mapping[str, Provider] | None = None,
    clock: Callable[[], int] | None = None,
) -> Service:
    """A service on the embedded defaults (docs/semantics.md, "HTTP API"); the caller closes
    it with :func:`close_service`. ``providers``/``clock`` as :class:`Service` takes them."""
    from montalaq.notify import channels_from_settings, notifier_from_settings

    if settings.database_url is None:
        Path(settings.montalaq_db_path).expanduser().parent.mkdir(parents=True, exist_ok=True)
    store = Store.from_settings(settings)
    try:
        notifier = notifier_from_settings(settings, store) if channels_from_settings(settings) else None
        # Monitoring runs on the wall clock even for a replay at speed: the heartbeat (is
        # the process cycling?) and the alert times are about the process, not the tape.
        monitoring = (
            MonitoringService.from_settings(settings, notifier=notifier, extra_rules=SERVICE_RULES)
            if settings.monitor_enabled
            else None
        )
        kwargs: dict[str, Any] = {
            "store": store,
            "notifier": notifier,
            "providers": providers,
            "monitoring": monitoring,
            "restore_state": True,
        }
        if clock is not None:
            kwargs["clock"] = clock
        return Service(settings, **kwargs)
    except BaseException:
        store.close()
        raise


def close_service(service: Service) -> None:
    """Close a service made by :func:`build_service` (its store too)."""
    service.close()
    service.store.close()


def _report_failure(task: asyncio.Task[None]) -> None:
    if not task.cancelled() and task.exception() is not None:
        log.error(
            "the scheduler stopped: %r",
            task.exception(),
            extra={"component": "api"},
            exc_info=task.exception(),
        )


def create_app(
    settings: Settings | None = None,
    *,
    service: Service | None = None,
    token: str | SecretStr | None = None,
    run_scheduler: bool = True,
    tick_s: float = 0.25,
    shutdown_timeout_s: float = 5.0,
    allowed_hosts: Sequence[str] | None = None,
    **router_options: Any,
) -> FastAPI:
    """The standalone app: :func:`~montalaq.api.router.create_router` over ``service``
    (default: built from ``settings``, default ``Settings.from_env()``) at the root, with
    the lifespan of docs/semantics.md, "HTTP API". ``token`` defaults to
    ``settings.api_token``. ``tick_s``: the scheduler's cycle period, wall seconds.
    ``router_options`` go to ``create_router`` (``cache_ttl_s``, ``static_dir``, ...). The
    router is ``app.state.montalaq``. ``allowed_hosts``: answer only requests whose ``Host``
    header names one of these (any port; 400 otherwise): what a server bound to loopback
    needs against DNS rebinding (``montalaq serve`` passes the loopback names then)."""
    owns = service is None
    if settings is None:
        settings = service.settings if service is not None else Settings.from_env()
    if not isinstance(settings, Settings):
        raise TypeError(f"settings: expected montalaq.settings.Settings, got {type(settings).__name__}")
    if token is None:
        token = settings.api_token
    if service is None:
        service = build_service(settings)
    try:
        router = create_router(service, token=token, **router_options)
    except BaseException:
        if owns:
            close_service(service)
        raise
    from montalaq import __version__

    app = FastAPI(
        title="montalaq",
        version=__version__,
        lifespan=_lifespan(
            service,
            owns=owns,
            run_scheduler=run_scheduler,
            tick_s=tick_s,
            shutdown_timeout_s=shutdown_timeout_s,
        ),
        openapi_url=None,
        docs_url=None,
        redoc_url=None,
    )
    app.include_router(router)
    app.state.montalaq = router
    if allowed_hosts is not None:
        app.add_middleware(HostCheck, hosts=allowed_hosts)
    return app


def _lifespan(
    service: Service, *, owns: bool, run_scheduler: bool, tick_s: float, shutdown_timeout_s: float
) -> Callable[[FastAPI], contextlib.AbstractAsyncContextManager[None]]:
    """The app's lifespan: the notifier's worker and the scheduler task while the server
    runs; at shutdown the lifecycle's SHUTDOWN, and ``service`` closed when the app ``owns``
    it (docs/semantics.md, "HTTP API")."""

    @contextlib.asynccontextmanager
    async def lifespan(_app: FastAPI) -> AsyncIterator[None]:
        stop = asyncio.Event()
        notifier = service.notifier
        if notifier is not None:
            notifier.start()
        task: asyncio.Task[None] | None = None
        if run_scheduler and not service.running:
            task = asyncio.create_task(service.run(stop, tick_s=tick_s), name="montalaq-scheduler")
            task.add_done_callback(_report_failure)
        elif not service.running:
            # Readiness from the database's checks; /health and the dashboard say why the
            # pairs are UNKNOWN here.
            service.serve_without_scheduler("create_app(run_scheduler=False)")
        log.info("montalaq API started", extra={"component": "api"})
        try:
            yield
        finally:
            stop.set()
            if task is not None:
                await _await_scheduler(task, shutdown_timeout_s)
            # SHUTDOWN: start-up retries still waiting are cut short, the state is recorded.
            await asyncio.to_thread(service.lifecycle.shutdown, "the server stops")
            if notifier is not None:
                await asyncio.to_thread(notifier.stop, shutdown_timeout_s)
            if owns:
                close_service(service)
            log.info("montalaq API stopped", extra={"component": "api"})

    return lifespan


async def _await_scheduler(task: asyncio.Task[None], timeout_s: float) -> None:
    """Wait up to ``timeout_s`` for the scheduler's cycle in progress, then cancel it."""
    try:
        await asyncio.wait_for(task, timeout_s)
    except TimeoutError:
        log.warning(
            "the scheduler did not stop within %s s; cancelled",
            timeout_s,
            extra={"component": "api"},
        )
    except Exception:
        pass  # already logged by _report_failure


LOOPBACK_HOSTS = ("127.0.0.1", "localhost", "::1")
"""The ``Host`` names a server bound to loopback answers (any port)."""


def host_name(header: str) -> str:
    """The host of a ``Host`` header without its port, lower case (``[::1]:8000`` ->
    ``::1``)."""
    h = header.strip().lower()
    if h.startswith("["):
        return h[1 : h.find("]")] if "]" in h else h
    return h.rsplit(":", 1)[0] if h.count(":") == 1 else h


class HostCheck:
    """ASGI middleware: a request whose ``Host`` is not one of ``hosts`` gets 400 (a page
    of another origin reaching a loopback server through a DNS name it controls)."""

    def __init__(self, app: Any, hosts: Sequence[str]) -> None:
        self.app = app
        self.hosts = frozenset(host_name(h) for h in hosts)

    async def __call__(self, scope: Any, receive: Any, send: Any) -> None:
        if scope["type"] in ("http", "websocket"):
            raw = dict(scope.get("headers") or []).get(b"host", b"").decode("latin-1")
            if host_name(raw) not in self.hosts:
                from montalaq.api.responses import error_response

                response = error_response(
                    400, f"Host: {raw[:64]!r} is not served here; expected one of {sorted(self.hosts)}"
                )
                await response(scope, receive, send)
                return
        await self.app(scope, receive, send)


def app_router(app: FastAPI) -> MontalaqRouter:
    """The montalaq router of an app made by :func:`create_app`."""
    router = getattr(app.state, "montalaq", None)
    if not isinstance(router, MontalaqRouter):
        raise ValueError("app: not made by montalaq.api.create_app")
    return router


__all__ = [
    "LOOPBACK_HOSTS",
    "HostCheck",
    "app_router",
    "build_service",
    "close_service",
    "create_app",
    "host_name",
]
