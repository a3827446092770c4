"""The montalaq HTTP API as a mountable FastAPI router (SPEC §10.1, §12).

::

    from fastapi import FastAPI
    from montalaq.api import create_router

    app = FastAPI()                                   # the host application
    app.include_router(create_router(service, token="s3cret"), prefix="/montalaq")

Every endpoint of SPEC §10.1 plus ``GET /api/bars`` (the dashboard's chart). Bodies are
built by :mod:`montalaq.api.responses` (``Z`` times, finite floats or null) and documented
by :mod:`montalaq.api.models`. Decisions:

- **Errors.** Every parameter error answers **400** ``{"detail": "<parameter>: <what was
  wrong>; expected <what is accepted>"}``: missing, malformed (``limit=abc``), out of range
  (``limit`` is 1..1000 everywhere; a huge limit never reaches the store), unknown symbol
  or timeframe, malformed or unknown agent names. FastAPI's 422 is never answered (its
  validation errors are turned into these 400s) and is left out of ``/api/schema``.
  An unknown *query parameter* is a 400 too, listing the endpoint's parameters: a typo
  (``?limt=5``) must not silently fall back to a default (send ``Cache-Control`` or
  ``fetch(..., {cache: "no-store"})``, not cache-busting parameters). Pages (the
  dashboard, its files, the docs) are not operations and take any query string (the
  dashboard reads ``?refresh=``). Symbols
  match exactly (case-sensitive, as configured in ``SYMBOL``); a timeframe may be any
  spelling of a configured one (``60s`` is ``1m``). ``GET /api/analysis/latest`` answers
  404 while the pair has no analysis yet; ``GET /db-health`` answers 503 when the database
  does not answer, and so does any endpoint that needs it then (``/findings`` still
  answers from the store's in-memory buffer). An unexpected exception is logged and
  answered 500 ``{"detail"}`` (no traceback, no secrets).
- **Token.** POST endpoints need ``Authorization: Bearer <token>`` (compared with
  ``hmac.compare_digest``): 401 with ``WWW-Authenticate: Bearer`` when it is missing or
  wrong; 403 when no token is configured at all (a mounted router without a token refuses
  every mutation). ``token`` defaults to ``service.settings.api_token`` (``API_TOKEN``; an
  empty value counts as unset). The token is checked before the parameters (a request
  without it learns nothing about them). GETs are open:
  bind to loopback (SPEC §12) or put the API behind your own auth.
- **Cache.** ``/api/analysis/latest`` and ``/api/analysis/history`` keep their serialised
  answers for ``ANALYSIS_API_CACHE_TTL`` seconds (see :mod:`montalaq.api.cache`;
  ``X-Cache: hit|miss``). A hit runs in the event loop with no thread hop, query or
  serialisation; everything that reads the store runs in the thread pool.
- **Schema and docs.** ``GET /api/schema`` is the OpenAPI 3.1 document of this router's
  operations, with paths as the client sees them (a mount prefix included); symbols and
  timeframes are listed as ``enum`` s, agent names as a pattern of the agents registered
  when the schema is generated (again when one is added). ``GET /api/docs`` is Swagger UI served from this
  process -- its JavaScript and CSS come from the ``fastapi-offline`` package's bundled
  copy (no CDN: the machine may be offline); without that package the page is a plain
  HTML list of the operations rendered from the schema. Either way the page references
  no other host.
- **Dashboard.** ``GET /`` is ``static/index.html``, ``GET /static/<file>`` the files next
  to it (no directory listing, nothing outside the folder, no dotfiles). Every URL in the
  page is relative, so it works under a prefix (``/montalaq`` redirects to ``/montalaq/``).
  The page is sent with a Content-Security-Policy allowing only same-origin scripts.
- **Metrics.** ``GET /metrics`` (see :mod:`montalaq.api.metrics`) from the router's own
  registry; each answer of a route of this router is counted by route template, method
  and status, and timed.
- **Probes and operator views** (docs/operations.md): ``/health`` is readiness (503 with
  the same body unless ACTIVE), ``/livez`` liveness (never touches the database);
  ``/api/alerts``, ``/api/errors/summary`` and ``/api/health/snapshot`` are computed by
  :mod:`montalaq.ops`.
"""

# No `from __future__ import annotations` here: FastAPI reads the endpoints' parameter
# annotations at runtime, and they name aliases local to create_router.
import asyncio
import hmac
import html
import importlib.util
import json
import logging
import re
import time
import warnings
from collections.abc import Callable, Coroutine, Hashable, Sequence
from enum import Enum
from pathlib import Path
from typing import Annotated, Any

from fastapi import APIRouter, Query, Request, Security
from fastapi import Path as PathParam
from fastapi.exceptions import RequestValidationError
from fastapi.openapi.docs import get_swagger_ui_html
from fastapi.openapi.utils import get_openapi
from fastapi.routing import APIRoute
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer
from pydantic import SecretStr
from starlette.concurrency import run_in_threadpool
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.responses import FileResponse, HTMLResponse, Response

from montalaq import ops
from montalaq.api import models
from montalaq.api.cache import ResponseCache
from montalaq.api.metrics import ApiMetrics
from montalaq.api.responses import (
    JSON_MEDIA_TYPE,
    ApiError,
    bad_parameter,
    error_response,
    json_bytes,
    json_response,
    shown,
)
from montalaq.service import Service
from montalaq.store import database_unavailable
from montalaq.timeframes import parse_timeframe, timeframe_label

log = logging.getLogger("montalaq.api")

MAX_LIMIT = 1000
STATIC_DIR = Path(__file__).resolve().parent / "static"
_TF_ALIASES_MAX = 256
_SCHEMA_PATH = "/api/schema"
_DOCS_ASSETS = {
    "swagger-ui-bundle.js": "text/javascript; charset=utf-8",
    "swagger-ui.css": "text/css; charset=utf-8",
    "favicon.png": "image/png",
}
_DASHBOARD_HEADERS = {
    "Cache-Control": "no-cache",
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "no-referrer",
    "Content-Security-Policy": (
        "default-src 'self'; script-src 'self'; style-src 'self' 'unsafe-inline'; "
        "img-src 'self' data:; object-src 'none'; base-uri 'none'; frame-ancestors 'none'"
    ),
}
# pydantic error types -> words of the 400 message
_PROBLEMS = {
    "int_parsing": "not an integer:",
    "int_from_float": "not an integer:",
    "bool_parsing": "not a boolean:",
    "greater_than_equal": "out of range:",
    "less_than_equal": "out of range:",
    "string_pattern_mismatch": "malformed value",
    "string_too_long": "too long:",
}
_STATIC_HEADERS = {"Cache-Control": "no-cache", "X-Content-Type-Options": "nosniff"}
_HIT = {"X-Cache": "hit"}
_MISS = {"X-Cache": "miss"}
_ERR: dict[str, Any] = {"model": models.ErrorDetail}
_X_CACHE_HEADER = {
    "X-Cache": {"description": "hit or miss of the analysis cache", "schema": {"type": "string"}}
}

Handler = Callable[[Request], Coroutine[Any, Any, Response]]


class MontalaqRouter(APIRouter):
    """The API router (a :class:`fastapi.APIRouter`); see :func:`create_router`.

    ``service``, ``cache`` (the analysis :class:`ResponseCache`), ``metrics``
    (:class:`ApiMetrics`), ``static_dir`` and ``token_configured`` are exposed for hosts
    and tests.
    """

    service: Service
    cache: ResponseCache
    metrics: ApiMetrics
    static_dir: Path
    token_configured: bool


def _swagger_static() -> Path | None:
    """The folder of fastapi-offline's Swagger UI files, when that package is installed."""
    spec = importlib.util.find_spec("fastapi_offline")
    if spec is None or spec.origin is None:
        return None
    folder = Path(spec.origin).resolve().parent / "static"
    return folder if all((folder / name).is_file() for name in _DOCS_ASSETS) else None


def _token_bytes(token: str | SecretStr | None, fallback: SecretStr | None) -> bytes | None:
    if token is None:
        value = None if fallback is None else fallback.get_secret_value()
        return value.encode() if value else None
    value = token.get_secret_value() if isinstance(token, SecretStr) else token
    if not isinstance(value, str) or not value:
        raise ValueError("token: expected a non-empty string (or None to use API_TOKEN)")
    return value.encode()


def _query_names(dependant: Any) -> set[str]:
    """Query parameter names of a route, its dependencies' included."""
    names = {str(f.alias) for f in dependant.query_params}
    for sub in dependant.dependencies:
        names |= _query_names(sub)
    return names


def _route_class(
    metrics: ApiMetrics,
    explain: Callable[[RequestValidationError], str],
    require_token: Callable[..., Any],
    check_token: Callable[[str | None], None],
) -> type[APIRoute]:
    """An APIRoute that refuses unknown query parameters, answers errors as
    ``{"detail"}`` (400 for parameter errors) and counts every answer (a router cannot
    register exception handlers or middleware on its host app)."""

    class MontalaqRoute(APIRoute):
        def __init__(self, path: str, endpoint: Callable[..., Any], **kwargs: Any) -> None:
            super().__init__(path, endpoint, **kwargs)
            # HEAD answers like GET without the body (regression: 405 on every route, so a
            # `curl -I` or a load balancer's HEAD probe of /health failed). The schema
            # leaves HEAD out (_finish_schema).
            if self.methods is not None and "GET" in self.methods:
                self.methods.add("HEAD")

        def get_route_handler(self) -> Handler:
            handler = super().get_route_handler()
            route = self.path
            # Pages (the dashboard, its files, the docs) are not API operations: they take
            # their own query strings (the dashboard's ?refresh=) and refuse nothing.
            strict = self.include_in_schema
            allowed = frozenset(_query_names(self.dependant))
            takes = ", ".join(sorted(allowed)) if allowed else "no query parameters"
            protected = any(getattr(d, "dependency", None) is require_token for d in self.dependencies)

            async def answer(request: Request) -> Response:
                t0 = time.perf_counter()
                try:
                    unknown = (
                        next((k for k in request.query_params if k not in allowed), None) if strict else None
                    )
                    if unknown is not None:
                        if protected:  # the token comes first, as for the other parameters
                            check_token(request.headers.get("authorization"))
                        raise ApiError(
                            400, f"{unknown or repr(unknown)}: unknown parameter; accepted: {takes}"
                        )
                    response = await handler(request)
                except RequestValidationError as exc:
                    response = error_response(400, explain(exc))
                except ApiError as exc:
                    response = error_response(exc.status_code, exc.detail, exc.headers)
                except StarletteHTTPException as exc:
                    response = error_response(exc.status_code, str(exc.detail), exc.headers)
                except Exception as exc:
                    if database_unavailable(exc):  # down, unreachable, or no pooled connection
                        log.warning(
                            "%s %s: database unavailable: %s",
                            request.method,
                            route,
                            type(exc).__name__,
                            extra={"component": "api", "route": route},
                        )
                        response = error_response(503, f"database unavailable ({type(exc).__name__})")
                    else:
                        log.exception(
                            "%s %s failed", request.method, route, extra={"component": "api", "route": route}
                        )
                        response = error_response(500, "internal error (logged by the server)")
                metrics.count(route, request.method, response.status_code, time.perf_counter() - t0)
                return response

            return answer

    return MontalaqRoute


def _finish_schema(doc: dict[str, Any], prefix: str, root_path: str) -> dict[str, Any]:
    """Prefix the paths, drop FastAPI's 422 (never answered: parameter errors are 400)."""
    paths: dict[str, Any] = {}
    for path, raw_item in doc.get("paths", {}).items():
        item = {m: op for m, op in raw_item.items() if m != "head"}
        for operation in item.values():
            if isinstance(operation, dict):
                operation.get("responses", {}).pop("422", None)
        paths[prefix + path] = item
    doc["paths"] = paths
    schemas = doc.get("components", {}).get("schemas", {})
    text = json.dumps(paths)
    for name in ("HTTPValidationError", "ValidationError"):
        if f"#/components/schemas/{name}" not in text:
            schemas.pop(name, None)
    if root_path:
        doc["servers"] = [{"url": root_path}]
    return doc


def _operations_page(doc: dict[str, Any]) -> str:
    """A plain HTML list of the operations (the docs page without Swagger UI's files)."""
    rows = []
    for path, item in doc.get("paths", {}).items():
        for method, op in item.items():
            if not isinstance(op, dict):
                continue
            params = ", ".join(
                f"{p.get('name')}{'' if p.get('required') else '?'}" for p in op.get("parameters", [])
            )
            codes = ", ".join(op.get("responses", {}))
            rows.append(
                "<tr><td><code>{}</code></td><td><code>{}</code></td><td>{}</td><td>{}</td><td>{}</td></tr>".format(
                    html.escape(method.upper()),
                    html.escape(path),
                    html.escape(str(op.get("summary", ""))),
                    html.escape(params),
                    html.escape(codes),
                )
            )
    title = html.escape(str(doc.get("info", {}).get("title", "API")))
    return (
        "<!doctype html><html lang='en'><head><meta charset='utf-8'>"
        f"<title>{title} - API</title></head><body><h1>{title} API</h1>"
        "<p>OpenAPI document: <a href='schema'>schema</a> (Swagger UI needs the "
        "<code>fastapi-offline</code> package).</p>"
        "<table><thead><tr><th>method</th><th>path</th><th>summary</th><th>parameters</th>"
        f"<th>responses</th></tr></thead><tbody>{''.join(rows)}</tbody></table></body></html>"
    )


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
    expected = _token_bytes(token, service.settings.api_token)
    ttl_s = service.settings.analysis_api_cache_ttl if cache_ttl_s is None else cache_ttl_s
    cache = ResponseCache(ttl_s, max_entries=cache_max_entries, clock=cache_clock)
    metrics = ApiMetrics(service, cache)
    static_root = (STATIC_DIR if static_dir is None else Path(static_dir)).resolve()
    swagger_dir = _swagger_static()

    symbols = list(service.symbols)
    symbol_set = frozenset(symbols)
    timeframes = list(service.timeframes)
    tf_aliases: dict[str, str] = {tf: tf for tf in timeframes}

    def accepted(name: str) -> str:
        if name in ("pair", "symbol"):
            return "a configured symbol: " + ", ".join(symbols)
        if name in ("tf", "timeframe"):
            return "a configured timeframe: " + ", ".join(timeframes)
        if name == "limit":
            return f"an integer in [1, {MAX_LIMIT}]"
        if name == "names":
            return "comma-separated agent names: " + ", ".join(service.agents.names())
        if name == "insert":
            return "true or false"
        return "see /api/schema"

    def explain(exc: RequestValidationError) -> str:
        errors = list(exc.errors())
        if not errors:
            return "request: invalid"
        err = errors[0]
        loc = [str(x) for x in err.get("loc", ())]
        name = loc[-1] if loc else "request"
        kind = str(err.get("type", ""))
        if kind == "missing":
            return f"{name}: required; expected {accepted(name)}"
        problem = _PROBLEMS.get(kind, "invalid value")
        return f"{name}: {problem} {shown(err.get('input'))}; expected {accepted(name)}"

    def check_symbol(name: str, value: str) -> str:
        if value in symbol_set:
            return value
        raise bad_parameter(name, f"unknown symbol {shown(value)}; expected {accepted(name)}")

    def check_timeframe(name: str, value: str) -> str:
        label = tf_aliases.get(value)
        if label is not None:
            return label
        try:
            label = timeframe_label(parse_timeframe(value))
        except (ValueError, TypeError, OverflowError):
            raise bad_parameter(
                name, f"malformed timeframe {shown(value)}; expected {accepted(name)}"
            ) from None
        if label not in timeframes:
            raise bad_parameter(name, f"unknown timeframe {shown(value)}; expected {accepted(name)}")
        if len(tf_aliases) < _TF_ALIASES_MAX:
            tf_aliases[value] = label
        return label

    bearer = HTTPBearer(
        auto_error=False,
        scheme_name="bearerToken",
        description="the API token (API_TOKEN; `montalaq serve` makes one per run and prints it)",
    )

    def check_token(authorization: str | None) -> None:
        if expected is None:
            raise ApiError(
                403,
                "Authorization: mutations are disabled because no API token is configured "
                "(set API_TOKEN, or pass token= to create_router/create_app)",
            )
        scheme, _, value = (authorization or "").strip().partition(" ")
        value = value.strip()
        if scheme.lower() != "bearer" or not value:
            raise ApiError(
                401,
                "Authorization: missing bearer token; send 'Authorization: Bearer <API_TOKEN>'",
                {"WWW-Authenticate": 'Bearer realm="montalaq"'},
            )
        # Starlette decodes header bytes as latin-1: encode back the same way to compare the
        # bytes the client sent (a UTF-8 token then matches its UTF-8 bytes).
        if not hmac.compare_digest(value.encode("latin-1"), expected):
            raise ApiError(
                401,
                "Authorization: wrong bearer token",
                {"WWW-Authenticate": 'Bearer realm="montalaq", error="invalid_token"'},
            )

    async def require_token(
        request: Request,
        _credentials: Annotated[HTTPAuthorizationCredentials | None, Security(bearer)],
    ) -> None:
        # HTTPBearer documents the scheme in the OpenAPI schema; the check reads the header
        # itself so that the wrapper (unknown parameters) and this dependency agree.
        check_token(request.headers.get("authorization"))

    tag_list: list[str | Enum] = list(tags)
    router = MontalaqRouter(
        route_class=_route_class(metrics, explain, require_token, check_token), tags=tag_list
    )
    router.service = service
    router.cache = cache
    router.metrics = metrics
    router.static_dir = static_root
    router.token_configured = expected is not None

    # -- parameters (documented with their accepted values) --------------------------
    symbol_enum = {"enum": symbols}
    tf_enum = {"enum": timeframes}
    symbol_q = Annotated[
        str, Query(description="a configured symbol (SYMBOL)", json_schema_extra=symbol_enum)
    ]
    opt_symbol_q = Annotated[
        str | None, Query(description="a configured symbol (default: all)", json_schema_extra=symbol_enum)
    ]
    pair_q = Annotated[str, Query(description="a configured symbol (SYMBOL)", json_schema_extra=symbol_enum)]
    tf_q = Annotated[str, Query(description="a configured timeframe (TIMEFRAMES)", json_schema_extra=tf_enum)]

    def limit_q() -> Any:
        return Query(ge=1, le=MAX_LIMIT, description=f"how many, 1..{MAX_LIMIT}")

    def names_schema(field_schema: dict[str, Any]) -> None:
        names = "|".join(re.escape(n) for n in service.agents.names())
        field_schema["pattern"] = f"^({names})(,({names}))*$"

    bad: dict[int | str, dict[str, Any]] = {
        400: {**_ERR, "description": "a parameter is missing, malformed or unknown"}
    }
    auth: dict[int | str, dict[str, Any]] = {
        401: {**_ERR, "description": "missing or wrong bearer token"},
        403: {**_ERR, "description": "no API token is configured: mutations are disabled"},
    }
    protected = [Security(require_token)]

    db_probe: asyncio.Future[dict[str, Any]] | None = None
    db_probe_timeout_s = float(service.settings.db_connect_timeout_sec) + 1.0

    # -- liveness and readiness -------------------------------------------------------
    @router.get(
        "/health",
        response_model=models.Health,
        operation_id="health",
        summary="Readiness: 200 while ACTIVE, 503 otherwise (same body)",
        responses={503: {"model": models.Health, "description": "not ACTIVE (STARTING, WAITING, ERROR)"}},
    )
    async def health() -> Response:
        # In the event loop, never the thread pool: probes must answer while every pool
        # thread waits on a stalled database (regression: /health hung behind /db-health).
        body = service.health()
        return json_response(body, 200 if body["state"] == "ACTIVE" else 503)

    @router.get("/livez", response_model=models.Livez, operation_id="livez", summary="Liveness")
    async def livez() -> Response:
        # Never touches the database or the engine: answers while the process runs.
        return json_response({"alive": True, "state": service.state.name})

    # -- operator views (docs/operations.md, "Operator views") ------------------------
    @router.get(
        "/api/alerts", response_model=models.Alerts, operation_id="alerts", summary="Alerts", responses=bad
    )
    def alerts(limit: Annotated[int, limit_q()] = 50) -> Response:
        return json_response(ops.alerts_view(service, limit))

    @router.post(
        "/api/alerts/{alert_id}/ack",
        response_model=models.AlertAck,
        operation_id="ack_alert",
        summary="Acknowledge a firing alert (token)",
        dependencies=protected,
        responses={**bad, **auth, 404: {**_ERR, "description": "no firing alert has this id or rule"}},
    )
    def ack_alert(
        alert_id: Annotated[
            str, PathParam(description="an alert id, or a firing rule's name", max_length=128)
        ],
    ) -> Response:
        mon = service.monitoring
        if mon is None or not mon.acknowledge(alert_id):
            raise ApiError(404, f"alert_id: no firing alert has the id or rule {shown(alert_id)}")
        return json_response({"id": alert_id, "acknowledged": True})

    @router.get(
        "/api/errors/summary",
        response_model=models.ErrorSummary,
        operation_id="errors_summary",
        summary="Error summary: per error type, counts, first/last, resolved",
        responses={503: {**_ERR, "description": "the database does not answer"}},
    )
    def errors_summary() -> Response:
        return json_response(ops.error_summary(service))

    @router.get(
        "/api/health/snapshot",
        response_model=models.HealthSnapshot,
        operation_id="health_snapshot",
        summary="State, last decisions, dedupe count, every breaker, outbox, alerts",
    )
    def health_snapshot() -> Response:
        return json_response(ops.health_snapshot(service))

    @router.get(
        "/db-health",
        response_model=models.DbHealth,
        operation_id="db_health",
        summary="Database reachability",
        responses={503: {"model": models.DbHealth, "description": "the database does not answer"}},
    )
    async def db_health() -> Response:
        # One probe at a time, shared by every caller and bounded by DB_CONNECT_TIMEOUT_SEC:
        # a stalled database is a 503, never a hang, and concurrent callers never fill the
        # thread pool with stuck probes (regression: 60 calls starved every other route).
        nonlocal db_probe
        if db_probe is None or db_probe.done():
            db_probe = asyncio.ensure_future(asyncio.to_thread(service.store.health))
        try:
            result = await asyncio.wait_for(asyncio.shield(db_probe), db_probe_timeout_s)
        except TimeoutError:
            result = {"ok": False, "error": f"no answer within {db_probe_timeout_s:g} s"}
        return json_response(result, 200 if result.get("ok") else 503)

    # -- agents ---------------------------------------------------------------------
    @router.get("/agents", response_model=models.Agents, operation_id="agents", summary="Agent registry")
    def agents() -> Response:
        return json_response({"agents": [{"agent": a["name"], **a} for a in service.agent_specs()]})

    @router.post(
        "/agents/run-now",
        response_model=models.RunNowResult,
        operation_id="run_agents_now",
        summary="Run agents now (token)",
        dependencies=protected,
        responses={**bad, **auth},
    )
    def run_now(
        names: Annotated[
            str | None,
            Query(
                description="comma-separated agent names (default: all)",
                pattern=r"^[A-Za-z0-9_]{1,64}(,[A-Za-z0-9_]{1,64})*$",
                max_length=2000,
                # The schema lists the agents registered when it is generated; validation
                # accepts any well-formed list and the registry names an unknown agent.
                json_schema_extra=names_schema,
            ),
        ] = None,
        symbol: opt_symbol_q = None,
        insert: Annotated[bool, Query(description="store the findings")] = True,
    ) -> Response:
        sym = None if symbol is None else check_symbol("symbol", symbol)
        try:
            agent_names = service.agents.validate(None if names is None else names.split(","))
            errors_before = {n: st["errors"] for n, st in service.agents.status().items()}
            findings = service.run_agents(agent_names, sym, insert)
        except ValueError as exc:
            message = str(exc)
            raise ApiError(400, message if message.startswith("names:") else f"names: {message}") from None
        after = service.agents.status()
        results: list[dict[str, Any]] = []
        for name in agent_names:
            result: dict[str, Any] = {"agent": name, "findings": sum(1 for f in findings if f.agent == name)}
            if after[name]["errors"] > errors_before.get(name, 0):
                result["error"] = after[name]["last_error"]
            results.append(result)
        return json_response(
            {
                "ok": all("error" not in r for r in results),
                "ran": agent_names,
                "results": results,
                "agents": agent_names,
                "symbols": list(symbols) if sym is None else [sym],
                "insert": insert,
                "findings": findings,
            }
        )

    @router.get(
        "/findings",
        response_model=models.Findings,
        operation_id="findings",
        summary="Latest findings, newest first",
        responses=bad,
    )
    def findings(symbol: opt_symbol_q = None, limit: Annotated[int, limit_q()] = 50) -> Response:
        sym = None if symbol is None else check_symbol("symbol", symbol)
        return json_response({"findings": service.latest_findings(sym, limit)})

    # -- market -----------------------------------------------------------------------
    @router.get(
        "/signals",
        response_model=models.Signals,
        operation_id="signals",
        summary="Signals tile",
        responses=bad,
    )
    def signals(symbol: symbol_q) -> Response:
        return json_response(service.signals(check_symbol("symbol", symbol)))

    @router.get(
        "/signals_tf",
        response_model=models.SignalsTF,
        operation_id="signals_tf",
        summary="Features per timeframe",
        responses=bad,
    )
    def signals_tf(symbol: symbol_q) -> Response:
        return json_response(service.signals_tf(check_symbol("symbol", symbol)))

    @router.get(
        "/debug/state",
        response_model=dict[str, Any],
        operation_id="debug_state",
        summary="Raw engine state of a symbol (times in int ns)",
        responses=bad,
    )
    def debug_state(symbol: symbol_q) -> Response:
        return json_response(service.debug_state(check_symbol("symbol", symbol)))

    @router.get(
        "/debug/features",
        response_model=models.DebugFeatures,
        operation_id="debug_features",
        summary="Computed features and trend score of a symbol",
        responses=bad,
    )
    def debug_features(symbol: symbol_q) -> Response:
        return json_response(service.debug_features(check_symbol("symbol", symbol)))

    @router.get(
        "/api/bars",
        response_model=models.BarsOut,
        operation_id="bars",
        summary="Newest closed bars (oldest first) and the open bar",
        responses=bad,
    )
    def bars(symbol: symbol_q, tf: tf_q, limit: Annotated[int, limit_q()] = 120) -> Response:
        sym, label = check_symbol("symbol", symbol), check_timeframe("tf", tf)
        return json_response(service.bars(sym, label, limit))

    # -- analyses (cached) ---------------------------------------------------------------
    def cached(key: Hashable, entry_status: int, body: bytes) -> Response:
        cache.put(key, entry_status, body)
        return Response(body, entry_status, media_type=JSON_MEDIA_TYPE, headers=_MISS)

    @router.get(
        "/api/analysis/latest",
        response_model=models.AnalysisOut,
        operation_id="analysis_latest",
        summary="Latest analysis of a pair (cached)",
        responses={
            200: {"headers": _X_CACHE_HEADER},
            **bad,
            404: {**_ERR, "description": "the pair has no analysis yet"},
        },
    )
    async def analysis_latest(pair: pair_q, tf: tf_q) -> Response:
        sym, label = check_symbol("pair", pair), check_timeframe("tf", tf)
        key = ("latest", sym, label)
        hit = cache.get(key)
        if hit is not None:
            return Response(hit.body, hit.status_code, media_type=JSON_MEDIA_TYPE, headers=_HIT)
        analysis = await run_in_threadpool(service.latest_analysis, sym, label)
        if analysis is None:
            return cached(key, 404, json_bytes({"detail": f"pair: no analysis yet for {sym} {label}"}))
        return cached(key, 200, json_bytes(analysis))

    @router.get(
        "/api/analysis/history",
        response_model=list[models.AnalysisOut],
        operation_id="analysis_history",
        summary="Analyses of a pair, newest bar first (cached)",
        responses={200: {"headers": _X_CACHE_HEADER}, **bad},
    )
    async def analysis_history(pair: pair_q, tf: tf_q, limit: Annotated[int, limit_q()] = 100) -> Response:
        sym, label = check_symbol("pair", pair), check_timeframe("tf", tf)
        key = ("history", sym, label, limit)
        hit = cache.get(key)
        if hit is not None:
            return Response(hit.body, hit.status_code, media_type=JSON_MEDIA_TYPE, headers=_HIT)
        history = await run_in_threadpool(service.analysis_history, sym, label, limit)
        return cached(key, 200, json_bytes(history))

    # -- health of the feeds --------------------------------------------------------------
    @router.get(
        "/api/ingestion/status",
        response_model=models.IngestionStatus,
        operation_id="ingestion_status",
        summary="Per pair: provider, freshness, escalation, breaker; providers summary",
    )
    def ingestion_status() -> Response:
        return json_response(service.ingestion_status())

    @router.post(
        "/api/breakers/{symbol}/{tf}/close",
        response_model=models.BreakerClose,
        operation_id="close_breaker",
        summary="Operator close of a pair's breaker (token)",
        dependencies=protected,
        responses={**bad, **auth},
    )
    def close_breaker(
        symbol: Annotated[str, PathParam(description="a configured symbol", json_schema_extra=symbol_enum)],
        tf: Annotated[str, PathParam(description="a configured timeframe", json_schema_extra=tf_enum)],
    ) -> Response:
        sym, label = check_symbol("symbol", symbol), check_timeframe("tf", tf)
        return json_response(service.close_breaker(sym, label))

    # -- metrics, schema, docs, dashboard --------------------------------------------------
    @router.get(
        "/metrics",
        operation_id="metrics",
        summary="Prometheus exposition",
        response_class=Response,
        responses={200: {"content": {"text/plain": {"schema": {"type": "string"}}}}},
    )
    def prometheus() -> Response:
        return Response(metrics.render(), media_type=metrics.content_type)

    schemas: dict[tuple[str, str, tuple[str, ...]], bytes] = {}

    def schema_bytes(request: Request) -> bytes:
        root_path = str(request.scope.get("root_path", "")).rstrip("/")
        path = str(request.scope["path"])
        if root_path and path.startswith(root_path):
            path = path[len(root_path) :]
        base = path.rsplit("/api/", 1)[0]  # the mount prefix ("" standalone)
        key = (base, root_path, tuple(service.agents.names()))
        if key not in schemas:
            from montalaq import __version__

            with warnings.catch_warnings():
                # GET routes answer HEAD too: FastAPI sees each operation id twice (the HEAD
                # operations are dropped from the document by _finish_schema).
                warnings.filterwarnings("ignore", message="Duplicate Operation ID")
                doc = get_openapi(
                    title="montalaq",
                    version=__version__,
                    description="montalaq HTTP API: market signals, analyses, feed health, breakers.",
                    routes=router.routes,
                )
            schemas[key] = json.dumps(_finish_schema(doc, base, root_path)).encode()
        return schemas[key]

    @router.get(_SCHEMA_PATH, include_in_schema=False)
    def openapi_schema(request: Request) -> Response:
        return Response(
            schema_bytes(request), media_type=JSON_MEDIA_TYPE, headers={"Cache-Control": "no-cache"}
        )

    @router.get("/api/docs", include_in_schema=False)
    def docs(request: Request) -> Response:
        if swagger_dir is None:
            return HTMLResponse(_operations_page(json.loads(schema_bytes(request))))
        return get_swagger_ui_html(
            openapi_url="schema",
            title="montalaq API",
            swagger_js_url="docs/assets/swagger-ui-bundle.js",
            swagger_css_url="docs/assets/swagger-ui.css",
            swagger_favicon_url="docs/assets/favicon.png",
            oauth2_redirect_url=None,
            # validatorUrl None: Swagger UI would otherwise ask validator.swagger.io
            swagger_ui_parameters={"validatorUrl": None, "persistAuthorization": False},
        )

    @router.get("/api/docs/assets/{name}", include_in_schema=False)
    def docs_asset(name: str) -> Response:
        if swagger_dir is None or name not in _DOCS_ASSETS:
            raise ApiError(404, f"name: no such docs asset {shown(name)}")
        return FileResponse(
            swagger_dir / name, media_type=_DOCS_ASSETS[name], headers={"Cache-Control": "max-age=86400"}
        )

    @router.get("/", include_in_schema=False)
    def dashboard() -> Response:
        index = static_root / "index.html"
        if not index.is_file():
            raise ApiError(
                404, f"the dashboard is not installed: {index.name} is missing from the static folder"
            )
        return FileResponse(index, media_type="text/html; charset=utf-8", headers=_DASHBOARD_HEADERS)

    @router.get("/static/{path:path}", include_in_schema=False)
    def static(path: str) -> Response:
        if "\x00" in path:  # regression: Path.resolve raised on the NUL byte (a 500 with a traceback)
            raise ApiError(404, f"path: no such file {shown(path)}")
        target = (static_root / path).resolve()
        if (
            not target.is_relative_to(static_root)
            or any(part.startswith(".") for part in Path(path).parts)
            or not target.is_file()
        ):
            raise ApiError(404, f"path: no such file {shown(path)}")
        return FileResponse(target, headers=_STATIC_HEADERS)

    return router


__all__ = ["MAX_LIMIT", "STATIC_DIR", "MontalaqRouter", "create_router"]
