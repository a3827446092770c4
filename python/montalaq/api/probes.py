"""Liveness and readiness: ``/health`` (503 with the same body unless ACTIVE) and ``/livez``
(docs/semantics.md, "Lifecycle at run time")."""

from __future__ import annotations

from fastapi import APIRouter
from starlette.responses import Response

from montalaq.api import models
from montalaq.api.context import Params, ServiceDep
from montalaq.api.responses import json_response


def add_routes(router: APIRouter, p: Params) -> None:
    """Add ``GET /health`` and ``GET /livez`` to ``router``."""

    @router.get(
        "/health",
        response_model=models.Health,
        operation_id="health",
        summary="Readiness: 200 while ACTIVE, 503 otherwise (same body)",
        responses={503: {"model": models.Health, "description": "not ACTIVE (STARTING, WAITING, ERROR)"}},
    )
    async def health(service: ServiceDep) -> Response:
        # In the event loop, never the thread pool: probes must answer while every pool
        # thread waits on a stalled database (regression: /health hung behind /db-health).
        body = service.health()
        return json_response(body, 200 if body["state"] == "ACTIVE" else 503)

    @router.get("/livez", response_model=models.Livez, operation_id="livez", summary="Liveness")
    async def livez(service: ServiceDep) -> Response:
        # Never touches the database or the engine: answers while the process runs.
        return json_response({"alive": True, "state": service.state.name})
