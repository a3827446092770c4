"""montalaq's HTTP API (``montalaq[api]``; docs/semantics.md, "HTTP API"): a router to mount
in an existing FastAPI app, and the standalone app with the scheduler (``montalaq serve``)::

    host_app.include_router(create_router(service, token="s3cret"), prefix="/montalaq")
    app = create_app()          # settings from the environment, embedded SQLite, samples

:mod:`montalaq.api.router` makes the router from one module per area, :mod:`montalaq.api.app`
is the standalone app; docs/architecture.md says which module holds what.
"""

from __future__ import annotations

from montalaq._optional import needs

with needs("montalaq.api"):  # fastapi, starlette, prometheus-client: the api extra
    from montalaq.api.app import app_router, build_service, close_service, create_app
    from montalaq.api.cache import ResponseCache
    from montalaq.api.metrics import ApiMetrics
    from montalaq.api.router import MAX_LIMIT, STATIC_DIR, MontalaqRouter, create_router

__all__ = [
    "MAX_LIMIT",
    "STATIC_DIR",
    "ApiMetrics",
    "MontalaqRouter",
    "ResponseCache",
    "app_router",
    "build_service",
    "close_service",
    "create_app",
    "create_router",
]
