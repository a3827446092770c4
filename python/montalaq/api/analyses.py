"""The analyses of a pair, latest and history, answered from the router's cache when it
holds them (docs/semantics.md, "HTTP API"; :mod:`montalaq.api.cache`)."""

# No `from __future__ import annotations`: FastAPI reads the endpoints' annotations at
# runtime, and they name the router's parameter declarations (locals of the factory).
from collections.abc import Hashable
from typing import Annotated

from fastapi import APIRouter
from starlette.concurrency import run_in_threadpool
from starlette.responses import Response

from montalaq.api import models
from montalaq.api.cache import ResponseCache
from montalaq.api.context import BAD, ERR, Api, Limit, Params
from montalaq.api.responses import JSON_MEDIA_TYPE, json_bytes

_HIT = {"X-Cache": "hit"}
_MISS = {"X-Cache": "miss"}
_X_CACHE_HEADER = {
    "X-Cache": {"description": "hit or miss of the analysis cache", "schema": {"type": "string"}}
}


def add_routes(router: APIRouter, p: Params) -> None:
    """Add ``/api/analysis/latest`` and ``/api/analysis/history`` to ``router``. A cache hit
    runs in the event
    loop with no thread hop, query or serialisation; the store is read in the thread pool."""
    pair_q = Annotated[str, p.symbol]
    tf_q = Annotated[str, p.tf]

    @router.get(
        "/api/analysis/latest",
        response_model=models.AnalysisOut,
        operation_id="analysis_latest",
        summary="Latest analysis of a pair (cached)",
        responses={
            200: {"headers": _X_CACHE_HEADER},
            **BAD,
            404: {**ERR, "description": "the pair has no analysis yet"},
        },
    )
    async def analysis_latest(api: Api, pair: pair_q, tf: tf_q) -> Response:
        sym, label = api.check_symbol("pair", pair), api.check_timeframe("tf", tf)
        key = ("latest", sym, label)
        hit = _hit(api.cache, key)
        if hit is not None:
            return hit
        analysis = await run_in_threadpool(api.service.latest_analysis, sym, label)
        if analysis is None:
            return _cached(
                api.cache, key, 404, json_bytes({"detail": f"pair: no analysis yet for {sym} {label}"})
            )
        return _cached(api.cache, key, 200, json_bytes(analysis))

    @router.get(
        "/api/analysis/history",
        response_model=models.AnalysisHistory,
        operation_id="analysis_history",
        summary="Analyses of a pair, newest bar first (cached)",
        responses={200: {"headers": _X_CACHE_HEADER}, **BAD},
    )
    async def analysis_history(api: Api, pair: pair_q, tf: tf_q, limit: Limit = 100) -> Response:
        sym, label = api.check_symbol("pair", pair), api.check_timeframe("tf", tf)
        key = ("history", sym, label, limit)
        hit = _hit(api.cache, key)
        if hit is not None:
            return hit
        history = await run_in_threadpool(api.service.analysis_history, sym, label, limit)
        return _cached(api.cache, key, 200, json_bytes(history))


def _hit(cache: ResponseCache, key: Hashable) -> Response | None:
    hit = cache.get(key)
    return (
        None if hit is None else Response(hit.body, hit.status_code, media_type=JSON_MEDIA_TYPE, headers=_HIT)
    )


def _cached(cache: ResponseCache, key: Hashable, status_code: int, body: bytes) -> Response:
    cache.put(key, status_code, body)
    return Response(body, status_code, media_type=JSON_MEDIA_TYPE, headers=_MISS)
