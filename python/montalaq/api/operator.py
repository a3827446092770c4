"""The operator views (docs/operations.md, "Operator views"): alerts and their
acknowledgement, the error summary, the health snapshot (computed by :mod:`montalaq.ops`)
and the database probe ``/db-health``."""

from __future__ import annotations

import asyncio
from typing import Annotated

from fastapi import APIRouter
from fastapi import Path as PathParam
from starlette.responses import Response

from montalaq import ops
from montalaq.api import models
from montalaq.api.context import AUTH, BAD, ERR, PROTECTED, Api, Limit, Params, ServiceDep
from montalaq.api.responses import ApiError, json_response, shown
from montalaq.shapes import DbHealth


def add_routes(router: APIRouter, p: Params) -> None:
    """Add ``/api/alerts``, ``POST /api/alerts/{alert_id}/ack``, ``/api/errors/summary``,
    ``/api/health/snapshot`` and ``/db-health`` to ``router``."""

    @router.get(
        "/api/alerts", response_model=models.Alerts, operation_id="alerts", summary="Alerts", responses=BAD
    )
    def alerts(service: ServiceDep, limit: Limit = 50) -> Response:
        return json_response(ops.alerts_view(service, limit))

    @router.post(
        "/api/alerts/{alert_id}/ack",
        response_model=models.AlertAck,
        operation_id="ack_alert",
        summary="Acknowledge a firing alert (token)",
        dependencies=PROTECTED,
        responses={**BAD, **AUTH, 404: {**ERR, "description": "no firing alert has this id or rule"}},
    )
    def ack_alert(
        service: ServiceDep,
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
        responses={503: {**ERR, "description": "the database does not answer"}},
    )
    def errors_summary(service: ServiceDep) -> Response:
        return json_response(ops.error_summary(service))

    @router.get(
        "/api/health/snapshot",
        response_model=models.HealthSnapshot,
        operation_id="health_snapshot",
        summary="State, last decisions, dedupe count, every breaker, outbox, alerts",
    )
    def health_snapshot(service: ServiceDep) -> Response:
        return json_response(ops.health_snapshot(service))

    @router.get(
        "/db-health",
        response_model=models.DbHealth,
        operation_id="db_health",
        summary="Database reachability",
        responses={503: {"model": models.DbHealth, "description": "the database does not answer"}},
    )
    async def db_health(api: Api) -> Response:
        # One probe at a time, shared by every caller and bounded by DB_CONNECT_TIMEOUT_SEC:
        # a stalled database is a 503, never a hang, and concurrent callers never fill the
        # thread pool with stuck probes (regression: 60 calls starved every other route).
        if api.db_probe is None or api.db_probe.done():
            api.db_probe = asyncio.ensure_future(asyncio.to_thread(api.service.store.health))
        try:
            result: DbHealth = await asyncio.wait_for(asyncio.shield(api.db_probe), api.db_probe_timeout_s)
        except TimeoutError:
            result = {"ok": False, "error": f"no answer within {api.db_probe_timeout_s:g} s"}
        return json_response(result, 200 if result["ok"] else 503)
