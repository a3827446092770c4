"""One run of one agent: in its own correlation scope, an exception or a wrong return value
recorded as the agent's error instead of raised, and each agent's run status
(docs/semantics.md, "Agents")."""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import datetime

from montalaq._time import datetime_utc
from montalaq.agents.context import AgentContext
from montalaq.agents.spec import AgentSpec
from montalaq.correlation import correlation_scope
from montalaq.records import Finding
from montalaq.shapes import AgentStatusDoc, AgentStatusName

log = logging.getLogger("montalaq.agents")


@dataclass
class AgentStatus:
    """Run status of one agent. ``last_run_ns`` is int ns (the clock of the last context)."""

    status: AgentStatusName = "never_run"
    last_run_ns: int | None = None
    last_error: str | None = None
    runs: int = 0
    errors: int = 0

    @property
    def last_run(self) -> datetime | None:
        """``last_run_ns`` as an aware UTC datetime (None before the first run)."""
        return None if self.last_run_ns is None else datetime_utc(self.last_run_ns)

    def to_dict(self) -> AgentStatusDoc:
        """``{status, last_run, last_error, runs, errors}`` (``last_run`` an aware datetime)."""
        return {
            "status": self.status,
            "last_run": self.last_run,
            "last_error": self.last_error,
            "runs": self.runs,
            "errors": self.errors,
        }

    def record(self, now_ns: int, error: str | None) -> None:
        """Count one run at ``now_ns`` (int ns): ``ok``, or ``error`` with its message."""
        self.runs += 1
        self.last_run_ns = now_ns
        if error is None:
            self.status = "ok"
        else:
            self.status = "error"
            self.errors += 1
            self.last_error = error


def run_agent(
    spec: AgentSpec, ctx: AgentContext, *, bars_in_findings: bool = False
) -> tuple[Finding | None, str | None]:
    """Evaluate ``spec`` on ``ctx`` in a fresh correlation scope: ``(finding, None)``, or
    ``(None, "<Type>: <message>")`` when the agent raised or returned something else than a
    Finding or None (logged here). The finding carries the scope's id unless it set one,
    and with ``bars_in_findings`` the context's latest closed bars (FEATURE_BARS)."""
    with correlation_scope() as cid:
        try:
            out = spec.fn(ctx)
            if out is not None and not isinstance(out, Finding):
                raise TypeError(
                    f"agent {spec.name!r} returned {type(out).__name__}, expected a Finding or None"
                )
        except Exception as exc:
            message = f"{type(exc).__name__}: {exc}"[:500]
            log.exception(
                "agent %s failed on %s: %s",
                spec.name,
                ctx.symbol,
                message,
                extra={"component": "agents", "agent": spec.name, "symbol": ctx.symbol},
            )
            return None, message
        if out is not None and out.correlation_id is None:
            out.correlation_id = cid
        if out is not None and bars_in_findings and "bars" not in out.details:
            out.details["bars"] = {tf: dict(bar) for tf, bar in ctx.bars.items()}
    return out, None


__all__ = ["AgentStatus", "AgentStatusName", "run_agent"]
