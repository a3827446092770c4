"""The montalaq HTTP API as one mountable FastAPI router, its routes added by one module per
area::

    app.include_router(create_router(service, token="s3cret"), prefix="/montalaq")

Endpoints, errors (400 ``{"detail"}``, never 422), the token, the cache, the schema and
docs, the dashboard and ``/metrics``: docs/semantics.md, "HTTP API" and "Dashboard";
probes and operator views: docs/operations.md. The endpoints get the router's
:class:`~montalaq.api.context.ApiContext` as a FastAPI dependency.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from enum import Enum
from pathlib import Path

from fastapi import APIRouter
from pydantic import SecretStr

from montalaq.api import agents, analyses, docs, ingestion, market, metrics, operator, pages, probes
from montalaq.api.cache import ResponseCache
from montalaq.api.context import MAX_LIMIT, ApiContext, Params, token_bytes
from montalaq.api.metrics import ApiMetrics
from montalaq.api.pages import STATIC_DIR
from montalaq.api.routing import route_class
from montalaq.service import Service

# In this order: the schema lists the operations as they are added. The areas add their
# routes to the one router rather than being included as routers of their own: FastAPI
# matches an included router as one more layer on every request (about 15 % more Python
# calls per request, the cached analysis path's included).
_AREAS = (
    probes.add_routes,
    operator.add_routes,
    agents.add_routes,
    market.add_routes,
    analyses.add_routes,
    ingestion.add_routes,
    metrics.add_routes,
    docs.add_routes,
    pages.add_routes,
)


class MontalaqRouter(APIRouter):
    """The API router (a :class:`fastapi.APIRouter`); see :func:`create_router`.

    ``service``, ``cache`` (the analysis :class:`ResponseCache`), ``metrics``
    (:class:`ApiMetrics`), ``static_dir`` and ``token_configured`` are exposed for hosts
    and tests; ``context`` is what its endpoints receive as a dependency.
    """

    service: Service
    cache: ResponseCache
    metrics: ApiMetrics
    static_dir: Path
    token_configured: bool
    context: ApiContext


def create_router(
    service: Service,
    *,
    token: str | SecretStr | None = None,
    cache_ttl_s: float | None = None,
    cache_max_entries: int = 1024,
    cache_clock: Callable[[], float] = time.monotonic,
    static_dir: str | Path | None = None,
    tags: Sequence[str] = ("montalaq",),
) -> MontalaqRouter:
    """The API router over ``service`` (see the module docstring).

    ``token``: bearer token of the POST endpoints (default ``service.settings.api_token``;
    None there too: POSTs answer 403). ``cache_ttl_s``: seconds the analysis endpoints
    cache (default ``ANALYSIS_API_CACHE_TTL``; 0 disables), at most ``cache_max_entries``
    entries, on ``cache_clock`` (monotonic s). ``static_dir``: the dashboard's folder
    (default the bundled ``montalaq/api/static``). ``tags``: OpenAPI tags of the operations.
    """
    if not isinstance(service, Service):
        raise TypeError(f"service: expected a montalaq.service.Service, got {type(service).__name__}")
    expected = token_bytes(token, service.settings.api_token)
    ttl_s = service.settings.analysis_api_cache_ttl if cache_ttl_s is None else cache_ttl_s
    cache = ResponseCache(ttl_s, max_entries=cache_max_entries, clock=cache_clock)
    context = ApiContext(
        service,
        token=expected,
        cache=cache,
        metrics=ApiMetrics(service, cache),
        static_root=(STATIC_DIR if static_dir is None else Path(static_dir)).resolve(),
        swagger_dir=docs.swagger_static(),
    )
    tag_list: list[str | Enum] = list(tags)
    router = MontalaqRouter(route_class=route_class(context), tags=tag_list)
    params = Params.of(service)
    for add_routes in _AREAS:
        add_routes(router, params)
    context.routes = router.routes
    router.service = service
    router.cache = cache
    router.metrics = context.metrics
    router.static_dir = context.static_root
    router.token_configured = expected is not None
    router.context = context
    return router


__all__ = ["MAX_LIMIT", "STATIC_DIR", "MontalaqRouter", "create_router"]
