"""montalaq's HTTP API (``montalaq[api]``; docs/semantics.md, "HTTP API"): a router to mount in an existing
FastAPI app, and a standalone app with the scheduler (what ``montalaq serve`` runs).

::

    from montalaq.api import create_app, create_router

    host_app.include_router(create_router(service, token="s3cret"), prefix="/montalaq")
    app = create_app()          # settings from the environment, embedded SQLite, samples

See :mod:`montalaq.api.router` (endpoints, errors, token, cache, docs, dashboard),
:mod:`montalaq.api.app` (lifespan), :mod:`montalaq.api.cache` and
:mod:`montalaq.api.metrics` for the decisions.
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
