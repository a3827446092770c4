"""The market of a symbol: the signals tile, the features per timeframe, the engine's raw
state and computed features, and the bars of the dashboard's chart (docs/semantics.md,
"HTTP API")."""

# No `from __future__ import annotations`: FastAPI reads the endpoints' annotations at
# runtime, and they name the router's parameter declarations (locals of the factory).
from collections.abc import Callable, Mapping
from typing import Annotated, Any

from fastapi import APIRouter
from starlette.responses import Response

from montalaq.api import models
from montalaq.api.context import BAD, Api, Limit, Params
from montalaq.api.responses import json_response
from montalaq.service import Service

# The views of one symbol: (path, operation id and route name, response model, summary, view).
_SYMBOL_VIEWS: tuple[tuple[str, str, Any, str, Callable[[Service, str], Mapping[str, object]]], ...] = (
    ("/signals", "signals", models.Signals, "Signals tile", Service.signals),
    ("/signals_tf", "signals_tf", models.SignalsTF, "Features per timeframe", Service.signals_tf),
    (
        "/debug/state",
        "debug_state",
        dict[str, Any],
        "Raw engine state of a symbol (times in int ns)",
        Service.debug_state,
    ),
    (
        "/debug/features",
        "debug_features",
        models.DebugFeatures,
        "Computed features and trend score of a symbol",
        Service.debug_features,
    ),
)


def add_routes(router: APIRouter, p: Params) -> None:
    """Add ``/signals``, ``/signals_tf``, ``/debug/state``, ``/debug/features`` and
    ``/api/bars`` to ``router``."""
    symbol_q = Annotated[str, p.symbol]

    def symbol_view(view: Callable[[Service, str], Mapping[str, object]]) -> Callable[..., Response]:
        def endpoint(api: Api, symbol: symbol_q) -> Response:
            return json_response(view(api.service, api.check_symbol("symbol", symbol)))

        return endpoint

    for path, name, model, summary, view in _SYMBOL_VIEWS:
        router.add_api_route(
            path,
            symbol_view(view),
            response_model=model,
            operation_id=name,
            name=name,
            summary=summary,
            responses=BAD,
            methods=["GET"],
        )

    @router.get(
        "/api/bars",
        response_model=models.BarsOut,
        operation_id="bars",
        summary="Newest closed bars (oldest first) and the open bar",
        responses=BAD,
    )
    def bars(api: Api, symbol: symbol_q, tf: Annotated[str, p.tf], limit: Limit = 120) -> Response:
        sym, label = api.check_symbol("symbol", symbol), api.check_timeframe("tf", tf)
        return json_response(api.service.bars(sym, label, limit))
