"""The API's route class: unknown query parameters refused, every error answered as
``{"detail"}`` (400 for a parameter), HEAD answered like GET, every answer counted in the
router's metrics -- a router cannot register exception handlers or middleware on its host
app (docs/semantics.md, "HTTP API")."""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Coroutine
from typing import Any

from fastapi.exceptions import RequestValidationError
from fastapi.routing import APIRoute
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.requests import Request
from starlette.responses import Response

from montalaq.api.context import CONTEXT_KEY, ApiContext, require_token
from montalaq.api.responses import ApiError, error_response
from montalaq.store import database_unavailable

log = logging.getLogger("montalaq.api")

Handler = Callable[[Request], Coroutine[Any, Any, Response]]


def _query_names(dependant: Any) -> set[str]:
    """Query parameter names of a route, its dependencies' included."""
    names = {str(f.alias) for f in dependant.query_params}
    for sub in dependant.dependencies:
        names |= _query_names(sub)
    return names


class MontalaqRoute(APIRoute):
    """The route of one router's operations and pages; :func:`route_class` binds it to the
    router's ``api`` context, which each request carries in its scope (``CONTEXT_KEY``) to
    the endpoints' dependencies."""

    api: ApiContext

    def __init__(self, path: str, endpoint: Callable[..., Any], **kwargs: Any) -> None:
        super().__init__(path, endpoint, **kwargs)
        # HEAD answers like GET without the body (regression: 405 on every route, so a
        # `curl -I` or a load balancer's HEAD probe of /health failed). The schema
        # leaves HEAD out (montalaq.api.docs).
        if self.methods is not None and "GET" in self.methods:
            self.methods.add("HEAD")

    def get_route_handler(self) -> Handler:
        handler = super().get_route_handler()
        api = self.api
        route = self.path
        # Pages (the dashboard, its files, the docs) are not API operations: they take
        # their own query strings (the dashboard's ?refresh=) and refuse nothing.
        strict = self.include_in_schema
        allowed = frozenset(_query_names(self.dependant))
        takes = ", ".join(sorted(allowed)) if allowed else "no query parameters"
        protected = any(getattr(d, "dependency", None) is require_token for d in self.dependencies)

        async def answer(request: Request) -> Response:
            t0 = time.perf_counter()
            request.scope[CONTEXT_KEY] = api
            try:
                unknown = (
                    next((k for k in request.query_params if k not in allowed), None) if strict else None
                )
                if unknown is not None:
                    if protected:  # the token comes first, as for the other parameters
                        api.check_token(request.headers.get("authorization"))
                    raise ApiError(400, f"{unknown or repr(unknown)}: unknown parameter; accepted: {takes}")
                response = await handler(request)
            except RequestValidationError as exc:
                response = error_response(400, api.explain(exc))
            except ApiError as exc:
                response = error_response(exc.status_code, exc.detail, exc.headers)
            except StarletteHTTPException as exc:
                response = error_response(exc.status_code, str(exc.detail), exc.headers)
            except Exception as exc:
                response = _unexpected(request, route, exc)
            api.metrics.count(route, request.method, response.status_code, time.perf_counter() - t0)
            return response

        return answer


def _unexpected(request: Request, route: str, exc: Exception) -> Response:
    """503 when the database is down, unreachable or out of pooled connections, else a
    logged 500 (no traceback, no secrets)."""
    if database_unavailable(exc):
        log.warning(
            "%s %s: database unavailable: %s",
            request.method,
            route,
            type(exc).__name__,
            extra={"component": "api", "route": route},
        )
        return error_response(503, f"database unavailable ({type(exc).__name__})")
    log.exception("%s %s failed", request.method, route, extra={"component": "api", "route": route})
    return error_response(500, "internal error (logged by the server)")


def route_class(api: ApiContext) -> type[MontalaqRoute]:
    """:class:`MontalaqRoute` bound to one router's context. A class, not an instance
    attribute: a host's ``include_router`` may build its routes from the class."""
    return type("MontalaqRoute", (MontalaqRoute,), {"api": api})
