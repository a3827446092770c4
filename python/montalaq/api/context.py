"""What the API's endpoints share, handed to them as FastAPI dependencies: the router's
:class:`ApiContext` (its service, analysis cache, metrics, token and the checks of symbols
and timeframes), the bearer-token dependency, and the parameters and error answers as the
schema documents them (docs/semantics.md, "HTTP API")."""

from __future__ import annotations

import asyncio
import hmac
import re
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

from fastapi import Depends, Query, Request, Security
from fastapi import Path as PathParam
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer
from pydantic import SecretStr

from montalaq.api import models
from montalaq.api.responses import ApiError, bad_parameter, shown
from montalaq.service import Service
from montalaq.shapes import DbHealth
from montalaq.timeframes import parse_timeframe, timeframe_label

if TYPE_CHECKING:
    from fastapi.exceptions import RequestValidationError
    from starlette.routing import BaseRoute

    from montalaq.agents import AgentRegistry
    from montalaq.api.cache import ResponseCache
    from montalaq.api.metrics import ApiMetrics

MAX_LIMIT = 1000
CONTEXT_KEY = "montalaq.api"
"""The request scope's key of the answering router's :class:`ApiContext`."""
_TF_ALIASES_MAX = 256
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


class ApiContext:
    """One router's state: the ``service`` it serves, the analysis ``cache``, the
    ``metrics``, the bearer ``token`` (bytes; None: mutations refused), the dashboard's
    ``static_root`` and Swagger UI's files (``swagger_dir``, None without them), and what its
    endpoints remember between requests (timeframe spellings, schemas, the database probe).
    """

    def __init__(
        self,
        service: Service,
        *,
        token: bytes | None,
        cache: ResponseCache,
        metrics: ApiMetrics,
        static_root: Path,
        swagger_dir: Path | None,
    ) -> None:
        self.service = service
        self.token = token
        self.cache = cache
        self.metrics = metrics
        self.static_root = static_root
        self.swagger_dir = swagger_dir
        self.symbols = list(service.symbols)
        self.timeframes = list(service.timeframes)
        self.routes: list[BaseRoute] = []  # the router's, for its schema
        self.schemas: dict[tuple[str, str, tuple[str, ...]], bytes] = {}  # (prefix, root path, agents)
        # One database probe at a time, shared by every caller of /db-health.
        self.db_probe: asyncio.Future[DbHealth] | None = None
        self.db_probe_timeout_s = float(service.settings.db_connect_timeout_sec) + 1.0
        self._symbol_set = frozenset(self.symbols)
        self._tf_aliases: dict[str, str] = {tf: tf for tf in self.timeframes}

    # -- parameters -----------------------------------------------------------------------
    def accepted(self, name: str) -> str:
        """What parameter ``name`` accepts, for its 400 message."""
        if name in ("pair", "symbol"):
            return "a configured symbol: " + ", ".join(self.symbols)
        if name in ("tf", "timeframe"):
            return "a configured timeframe: " + ", ".join(self.timeframes)
        if name == "limit":
            return f"an integer in [1, {MAX_LIMIT}]"
        if name == "names":
            return "comma-separated agent names: " + ", ".join(self.service.agents.names())
        if name == "insert":
            return "true or false"
        return "see /api/schema"

    def explain(self, exc: RequestValidationError) -> str:
        """The 400 message of FastAPI's validation error: its first parameter."""
        errors = list(exc.errors())
        if not errors:
            return "request: invalid"
        err = errors[0]
        loc = [str(x) for x in err.get("loc", ())]
        name = loc[-1] if loc else "request"
        kind = str(err.get("type", ""))
        if kind == "missing":
            return f"{name}: required; expected {self.accepted(name)}"
        problem = _PROBLEMS.get(kind, "invalid value")
        return f"{name}: {problem} {shown(err.get('input'))}; expected {self.accepted(name)}"

    def check_symbol(self, name: str, value: str) -> str:
        """``value`` when it is a configured symbol (exactly), else a 400 naming ``name``."""
        if value in self._symbol_set:
            return value
        raise bad_parameter(name, f"unknown symbol {shown(value)}; expected {self.accepted(name)}")

    def check_timeframe(self, name: str, value: str) -> str:
        """The label of the configured timeframe ``value`` spells (``60s`` is ``1m``), else a
        400 naming ``name``."""
        label = self._tf_aliases.get(value)
        if label is not None:
            return label
        try:
            label = timeframe_label(parse_timeframe(value))
        except (ValueError, TypeError, OverflowError):
            raise bad_parameter(
                name, f"malformed timeframe {shown(value)}; expected {self.accepted(name)}"
            ) from None
        if label not in self.timeframes:
            raise bad_parameter(name, f"unknown timeframe {shown(value)}; expected {self.accepted(name)}")
        if len(self._tf_aliases) < _TF_ALIASES_MAX:
            self._tf_aliases[value] = label
        return label

    # -- the token --------------------------------------------------------------------------
    def check_token(self, authorization: str | None) -> None:
        """403 when no token is configured, 401 when ``authorization`` does not carry it."""
        if self.token is None:
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
        if not hmac.compare_digest(value.encode("latin-1"), self.token):
            raise ApiError(
                401,
                "Authorization: wrong bearer token",
                {"WWW-Authenticate": 'Bearer realm="montalaq", error="invalid_token"'},
            )


def token_bytes(token: str | SecretStr | None, fallback: SecretStr | None) -> bytes | None:
    """The bearer token: ``token``, else ``fallback`` (API_TOKEN; empty counts as unset)."""
    if token is None:
        value = None if fallback is None else fallback.get_secret_value()
        return value.encode() if value else None
    value = token.get_secret_value() if isinstance(token, SecretStr) else token
    if not isinstance(value, str) or not value:
        raise ValueError("token: expected a non-empty string (or None to use API_TOKEN)")
    return value.encode()


# -- dependencies (FastAPI resolves their annotations in this module's globals) -------------
# Async: they run in the event loop, so probes and cache hits never wait for the thread pool.
async def api_context(request: Request) -> ApiContext:
    """The context of the router whose route answers (its route class put it in the scope)."""
    context: ApiContext = request.scope[CONTEXT_KEY]
    return context


Api = Annotated[ApiContext, Depends(api_context)]


async def api_service(request: Request) -> Service:
    """The service of the router whose route answers (not a sub-dependency of
    :func:`api_context`: one dependency per request is cheaper to solve)."""
    return (await api_context(request)).service


ServiceDep = Annotated[Service, Depends(api_service)]

_bearer = HTTPBearer(
    auto_error=False,
    scheme_name="bearerToken",
    description="the API token (API_TOKEN; `montalaq serve` makes one per run and prints it)",
)


async def require_token(
    request: Request,
    _credentials: Annotated[HTTPAuthorizationCredentials | None, Security(_bearer)],
) -> None:
    """The POST endpoints' guard. HTTPBearer documents the scheme in the OpenAPI schema; the
    check reads the header itself so that the route class (unknown parameters) and this
    dependency agree."""
    (await api_context(request)).check_token(request.headers.get("authorization"))


PROTECTED = [Security(require_token)]

# -- parameters and answers as the schema documents them ------------------------------------
Limit = Annotated[int, Query(ge=1, le=MAX_LIMIT, description=f"how many, 1..{MAX_LIMIT}")]
ERR: dict[str, Any] = {"model": models.ErrorDetail}
BAD: dict[int | str, dict[str, Any]] = {
    400: {**ERR, "description": "a parameter is missing, malformed or unknown"}
}
AUTH: dict[int | str, dict[str, Any]] = {
    401: {**ERR, "description": "missing or wrong bearer token"},
    403: {**ERR, "description": "no API token is configured: mutations are disabled"},
}


@dataclass(frozen=True)
class Params:
    """One router's parameter declarations (``Query``/``Path`` infos for ``Annotated``):
    symbols and timeframes as the ``enum`` s of its service, agent names as a pattern of the
    agents registered when the schema is generated."""

    symbol: Any
    opt_symbol: Any
    tf: Any
    symbol_path: Any
    tf_path: Any
    names: Any

    @classmethod
    def of(cls, service: Service) -> Params:
        """The declarations over ``service``'s symbols, timeframes and agents."""
        symbol_enum = {"enum": list(service.symbols)}
        tf_enum = {"enum": list(service.timeframes)}
        return cls(
            symbol=Query(description="a configured symbol (SYMBOL)", json_schema_extra=symbol_enum),
            opt_symbol=Query(description="a configured symbol (default: all)", json_schema_extra=symbol_enum),
            tf=Query(description="a configured timeframe (TIMEFRAMES)", json_schema_extra=tf_enum),
            symbol_path=PathParam(description="a configured symbol", json_schema_extra=symbol_enum),
            tf_path=PathParam(description="a configured timeframe", json_schema_extra=tf_enum),
            names=Query(
                description="comma-separated agent names (default: all)",
                pattern=r"^[A-Za-z0-9_]{1,64}(,[A-Za-z0-9_]{1,64})*$",
                max_length=2000,
                # The schema lists the agents registered when it is generated; validation
                # accepts any well-formed list and the registry names an unknown agent.
                json_schema_extra=_names_pattern(service.agents),
            ),
        )


def _names_pattern(agents: AgentRegistry) -> Callable[[dict[str, Any]], None]:
    def names_schema(field_schema: dict[str, Any]) -> None:
        names = "|".join(re.escape(n) for n in agents.names())
        field_schema["pattern"] = f"^({names})(,({names}))*$"

    return names_schema
