"""The agents and their findings: the registry, ``POST /agents/run-now`` and the latest
findings (docs/semantics.md, "HTTP API" and "Agents")."""

# No `from __future__ import annotations`: FastAPI reads the endpoints' annotations at
# runtime, and they name the router's parameter declarations (locals of the factory).
from typing import Annotated

from fastapi import APIRouter, Query
from starlette.responses import Response

from montalaq.api import models
from montalaq.api.context import AUTH, BAD, PROTECTED, Api, ApiContext, Limit, Params, ServiceDep
from montalaq.api.responses import ApiError, json_response
from montalaq.shapes import RunNowResult, RunResult


def add_routes(router: APIRouter, p: Params) -> None:
    """Add ``GET /agents``, ``POST /agents/run-now`` and ``GET /findings`` to ``router``."""

    @router.get("/agents", response_model=models.Agents, operation_id="agents", summary="Agent registry")
    def agents(service: ServiceDep) -> Response:
        return json_response({"agents": [{"agent": a["name"], **a} for a in service.agent_specs()]})

    @router.post(
        "/agents/run-now",
        response_model=models.RunNowResult,
        operation_id="run_agents_now",
        summary="Run agents now (token)",
        dependencies=PROTECTED,
        responses={**BAD, **AUTH},
    )
    def run_now(
        api: Api,
        names: Annotated[str | None, p.names] = None,
        symbol: Annotated[str | None, p.opt_symbol] = None,
        insert: Annotated[bool, Query(description="store the findings")] = True,
    ) -> Response:
        return json_response(_run_now(api, names, symbol, insert))

    @router.get(
        "/findings",
        response_model=models.Findings,
        operation_id="findings",
        summary="Latest findings, newest first",
        responses=BAD,
    )
    def findings(api: Api, symbol: Annotated[str | None, p.opt_symbol] = None, limit: Limit = 50) -> Response:
        sym = None if symbol is None else api.check_symbol("symbol", symbol)
        return json_response({"findings": api.service.latest_findings(sym, limit)})


def _run_now(api: ApiContext, names: str | None, symbol: str | None, insert: bool) -> RunNowResult:
    """The body of ``POST /agents/run-now``: each agent's findings, and its error when it
    raised (its error count grew)."""
    service = api.service
    sym = None if symbol is None else api.check_symbol("symbol", symbol)
    try:
        agent_names = service.agents.validate(None if names is None else names.split(","))
        errors_before = {n: st["errors"] for n, st in service.agents.status().items()}
        findings = service.run_agents(agent_names, sym, insert)
    except ValueError as exc:
        message = str(exc)
        raise ApiError(400, message if message.startswith("names:") else f"names: {message}") from None
    after = service.agents.status()
    results: list[RunResult] = []
    for name in agent_names:
        result: RunResult = {"agent": name, "findings": sum(1 for f in findings if f.agent == name)}
        if after[name]["errors"] > errors_before.get(name, 0):
            result["error"] = after[name]["last_error"]
        results.append(result)
    return {
        "ok": all("error" not in r for r in results),
        "ran": agent_names,
        "results": results,
        "agents": agent_names,
        "symbols": list(api.symbols) if sym is None else [sym],
        "insert": insert,
        "findings": [f.to_dict() for f in findings],
    }
