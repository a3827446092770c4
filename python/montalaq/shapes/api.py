"""The bodies only the HTTP API builds: errors, liveness, acknowledgements, the agents'
registry and forced runs, the findings and the features per timeframe (docs/semantics.md,
"HTTP API"). The API's models are derived from these as from every other record."""

from typing import Literal, NotRequired

from typing_extensions import TypedDict

from montalaq.shapes.ops import AgentInfo
from montalaq.shapes.records import FindingDoc


class ErrorDetail(TypedDict):
    """Every error answer: ``detail`` names the parameter and what is accepted."""

    detail: str


class Livez(TypedDict):
    """``GET /livez``: the process runs (whatever its operational state)."""

    alive: Literal[True]
    state: str


class AlertAck(TypedDict):
    """``POST /api/alerts/{id}/ack``."""

    id: str
    acknowledged: bool


class Agents(TypedDict):
    """``GET /agents``."""

    agents: list[AgentInfo]


class RunResult(TypedDict):
    """One agent of a forced run: its findings, and its error when it raised."""

    agent: str
    findings: int
    error: NotRequired[str | None]


class RunNowResult(TypedDict):
    """``POST /agents/run-now``: ``ok`` (no agent raised), ``ran`` (the agents), ``results``
    (per agent), and beside them the symbols, whether stored, the findings."""

    ok: bool
    ran: list[str]
    results: list[RunResult]
    agents: list[str]
    symbols: list[str]
    insert: bool
    findings: list[FindingDoc]


class Findings(TypedDict):
    """``GET /findings``: newest first."""

    findings: list[FindingDoc]


class SignalsTF(TypedDict):
    """``GET /signals_tf`` (docs/semantics.md, Agents); other configured timeframes add ``<feature>_<tf>``
    keys."""

    mom_bps_1m: float | None
    mom_bps_5m: float | None
    mom_bps_15m: float | None
    px_vs_vwap_bps_1m: float | None
    px_vs_vwap_bps_5m: float | None
    px_vs_vwap_bps_15m: float | None
    rvol_1m: float | None
    rvol_5m: float | None
    rvol_15m: float | None
    atr_1m: float | None
    atr_5m: float | None
    atr_15m: float | None


__all__ = ["Agents", "AlertAck", "ErrorDetail", "Findings", "Livez", "RunNowResult", "RunResult", "SignalsTF"]
