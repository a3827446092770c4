"""The health of the feeds: every pair's ingestion status and the operator close of a
pair's breaker (docs/semantics.md, "HTTP API"; docs/operations.md)."""

# No `from __future__ import annotations`: FastAPI reads the endpoints' annotations at
# runtime, and they name the router's parameter declarations (locals of the factory).
from typing import Annotated

from fastapi import APIRouter
from starlette.responses import Response

from montalaq.api import models
from montalaq.api.context import AUTH, BAD, PROTECTED, Api, Params, ServiceDep
from montalaq.api.responses import json_response


def add_routes(router: APIRouter, p: Params) -> None:
    """Add ``GET /api/ingestion/status`` and ``POST /api/breakers/{symbol}/{tf}/close`` to
    ``router``."""

    @router.get(
        "/api/ingestion/status",
        response_model=models.IngestionStatus,
        operation_id="ingestion_status",
        summary="Per pair: provider, freshness, escalation, breaker; providers summary",
    )
    def ingestion_status(service: ServiceDep) -> Response:
        return json_response(service.ingestion_status())

    @router.post(
        "/api/breakers/{symbol}/{tf}/close",
        response_model=models.BreakerClose,
        operation_id="close_breaker",
        summary="Operator close of a pair's breaker (token)",
        dependencies=PROTECTED,
        responses={**BAD, **AUTH},
    )
    def close_breaker(
        api: Api, symbol: Annotated[str, p.symbol_path], tf: Annotated[str, p.tf_path]
    ) -> Response:
        sym, label = api.check_symbol("symbol", symbol), api.check_timeframe("tf", tf)
        return json_response(api.service.close_breaker(sym, label))
