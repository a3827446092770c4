"""The montalaq service behind the Django views: built once per process, lazily, thread-safe::

    from montalaq.django import get_service, install_service

    get_service().run_agents(["trend_score"])        # the service the views serve
    install_service(my_service, token="s3cret")       # serve your own service instead

Laziness, ownership, where the scheduler runs and which answers need it: docs/semantics.md,
"Django" (The service, Scheduler); docs/operations.md, "Django".
"""

# mypy: disable-error-code="import-untyped"
from __future__ import annotations

import asyncio
import atexit
import contextlib
import logging
import threading
from dataclasses import dataclass
from typing import Any

from fastapi import FastAPI
from pydantic import SecretStr

from montalaq.api import MontalaqRouter, build_service, close_service, create_router
from montalaq.django.conf import DEFAULT_TICK_S, DjangoConf, load
from montalaq.service import Service

log = logging.getLogger("montalaq.django")

SHUTDOWN_TIMEOUT_S = 5.0


async def run_scheduler(service: Service, stop: asyncio.Event, *, tick_s: float = DEFAULT_TICK_S) -> None:
    """The service's scheduler and its notifier's delivery worker until ``stop`` is set;
    the notifier worker is stopped (``SHUTDOWN_TIMEOUT_S`` at most) after the scheduler's
    current cycle."""
    notifier = service.notifier
    if notifier is not None:
        notifier.start()
    try:
        await service.run(stop, tick_s=tick_s)
    finally:
        if notifier is not None:
            # Called directly, not through asyncio.to_thread: at interpreter exit (the atexit
            # stop of RUN_SCHEDULER) the default executor refuses new work, and nothing else
            # runs on this loop once the scheduler has stopped.
            notifier.stop(SHUTDOWN_TIMEOUT_S)


class SchedulerThread:
    """:func:`run_scheduler` in a daemon thread with its own event loop (``RUN_SCHEDULER``).

    ``start()`` returns once the loop runs; ``stop(timeout_s)`` asks the scheduler to stop
    after its current cycle and waits up to ``timeout_s`` seconds for the thread.
    """

    def __init__(self, service: Service, tick_s: float) -> None:
        self.service = service
        self.tick_s = tick_s
        self._loop: asyncio.AbstractEventLoop | None = None
        self._stop: asyncio.Event | None = None
        self._ready = threading.Event()
        self._thread = threading.Thread(target=self._main, name="montalaq-django-scheduler", daemon=True)

    def _main(self) -> None:
        async def main() -> None:
            self._loop = asyncio.get_running_loop()
            self._stop = asyncio.Event()
            self._ready.set()
            await run_scheduler(self.service, self._stop, tick_s=self.tick_s)

        try:
            asyncio.run(main())
        except Exception:
            log.exception("the montalaq scheduler thread stopped", extra={"component": "django"})
        finally:
            self._ready.set()

    def start(self) -> None:
        """Start the thread; returns once its event loop runs."""
        self._thread.start()
        self._ready.wait()

    @property
    def alive(self) -> bool:
        """Whether the thread still runs."""
        return self._thread.is_alive()

    def stop(self, timeout_s: float = SHUTDOWN_TIMEOUT_S) -> bool:
        """Stop the scheduler; True when the thread ended within ``timeout_s`` seconds."""
        if self._thread.ident is None:  # never started
            return True
        loop, stop = self._loop, self._stop
        if loop is not None and stop is not None and not loop.is_closed():
            with contextlib.suppress(RuntimeError):  # the loop closed in between
                loop.call_soon_threadsafe(stop.set)
        self._thread.join(timeout_s)
        if self._thread.is_alive():
            log.warning(
                "the montalaq scheduler did not stop within %s s", timeout_s, extra={"component": "django"}
            )
            return False
        return True


@dataclass
class _Runtime:
    service: Service
    app: FastAPI
    router: MontalaqRouter
    owned: bool
    scheduler: SchedulerThread | None = None


class _State:
    """The one runtime of this process (``current``), guarded by ``lock``."""

    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.current: _Runtime | None = None
        self.atexit_registered = False


_state = _State()


def _asgi_app(router: MontalaqRouter) -> FastAPI:
    """The app the views hand requests to: the router at the root, FastAPI's own docs off
    (the router serves ``/api/schema`` and ``/api/docs``), no lifespan (nothing to start)."""
    app = FastAPI(title="montalaq", openapi_url=None, docs_url=None, redoc_url=None)
    app.include_router(router)
    app.state.montalaq = router
    return app


def service_from_conf(conf: DjangoConf) -> Service:
    """A new service from ``conf``: ``SERVICE_FACTORY(settings)``, else
    :func:`montalaq.api.build_service`; the caller closes it with
    :func:`montalaq.api.close_service`. ImproperlyConfigured when the factory returns
    something else than a Service."""
    from django.core.exceptions import ImproperlyConfigured

    if conf.service_factory is None:
        return build_service(conf.settings)
    made = conf.service_factory(conf.settings)
    if not isinstance(made, Service):
        raise ImproperlyConfigured(
            "settings.MONTALAQ['SERVICE_FACTORY']: expected it to return a montalaq.service.Service, "
            f"got {type(made).__name__}"
        )
    return made


def _build() -> _Runtime:
    conf = load()
    service = service_from_conf(conf)
    try:
        router = create_router(service, token=conf.settings.api_token)
        runtime = _Runtime(service=service, app=_asgi_app(router), router=router, owned=True)
        if conf.run_scheduler:
            runtime.scheduler = SchedulerThread(service, conf.tick_s)
            runtime.scheduler.start()
        else:
            # Readiness from the database's checks; /health and the dashboard say why the
            # pairs are UNKNOWN here.
            service.serve_without_scheduler("settings.MONTALAQ['RUN_SCHEDULER'] is false")
    except BaseException:
        close_service(service)
        raise
    log.info(
        "montalaq service built: symbols %s, database %s (from %s), scheduler %s",
        ",".join(service.symbols),
        conf.database_url_masked,
        conf.database_source,
        f"in this process every {conf.tick_s:g} s" if conf.run_scheduler else "not in this process",
        extra={"component": "django"},
    )
    return runtime


def _shutdown(runtime: _Runtime, timeout_s: float) -> None:
    if runtime.scheduler is not None:
        runtime.scheduler.stop(timeout_s)
    if runtime.owned:
        close_service(runtime.service)


def _at_exit() -> None:
    reset_service()


def _register_atexit() -> None:
    """Once per process (under ``_state.lock``): stop and close at interpreter exit."""
    if not _state.atexit_registered:
        atexit.register(_at_exit)
        _state.atexit_registered = True


def _runtime() -> _Runtime:
    current = _state.current
    if current is not None:
        return current
    with _state.lock:
        if _state.current is None:
            _state.current = _build()
            _register_atexit()
        return _state.current


def get_service() -> Service:
    """The service the montalaq views serve (built on first use; docs/semantics.md, "Django").
    ImproperlyConfigured when the settings are wrong."""
    return _runtime().service


def get_router() -> MontalaqRouter:
    """The montalaq router behind the views (its ``cache``, ``metrics``, ...)."""
    return _runtime().router


def get_app() -> FastAPI:
    """The ASGI app the views hand each request to."""
    return _runtime().app


def current_app() -> FastAPI | None:
    """The ASGI app if it is built already (no building, no lock)."""
    current = _state.current
    return None if current is None else current.app


def install_service(
    service: Service,
    *,
    token: str | SecretStr | None = None,
    run_scheduler: bool = False,
    tick_s: float = DEFAULT_TICK_S,
    **router_options: Any,
) -> MontalaqRouter:
    """Serve ``service`` (yours: you close it) instead of one built from the settings; the
    previous one is dropped (closed if it was owned). ``token`` defaults to
    ``service.settings.api_token``; ``router_options`` go to
    :func:`montalaq.api.create_router`. With ``run_scheduler`` its scheduler runs in a
    thread of this process (stopped by :func:`reset_service`). Returns the router."""
    if not isinstance(service, Service):
        raise TypeError(f"service: expected a montalaq.service.Service, got {type(service).__name__}")
    router = create_router(service, token=token, **router_options)
    runtime = _Runtime(service=service, app=_asgi_app(router), router=router, owned=False)
    if run_scheduler:
        runtime.scheduler = SchedulerThread(service, tick_s)
    with _state.lock:
        previous, _state.current = _state.current, runtime
        _register_atexit()
    if previous is not None:
        _shutdown(previous, SHUTDOWN_TIMEOUT_S)
    if runtime.scheduler is not None:
        runtime.scheduler.start()
    return router


def reset_service(timeout_s: float = SHUTDOWN_TIMEOUT_S) -> None:
    """Drop the current service: stop its scheduler thread (``timeout_s`` seconds at most)
    and close it if it was built from the settings. The next request builds a new one."""
    with _state.lock:
        previous, _state.current = _state.current, None
    if previous is not None:
        _shutdown(previous, timeout_s)


def on_setting_changed(*, setting: str, **_kwargs: Any) -> None:
    """Django ``setting_changed`` receiver: an owned service is rebuilt from new settings."""
    if setting not in ("MONTALAQ", "DATABASES"):
        return
    with _state.lock:
        previous = _state.current
        if previous is None or not previous.owned:
            return
        _state.current = None
    _shutdown(previous, SHUTDOWN_TIMEOUT_S)


async def aget_app() -> FastAPI:
    """:func:`get_app` for async code: the first build runs in a worker thread."""
    app = current_app()
    if app is not None:
        return app
    return await asyncio.to_thread(get_app)


__all__ = [
    "SHUTDOWN_TIMEOUT_S",
    "SchedulerThread",
    "aget_app",
    "current_app",
    "get_app",
    "get_router",
    "get_service",
    "install_service",
    "reset_service",
    "run_scheduler",
    "service_from_conf",
]
