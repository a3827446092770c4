"""Agents: small callables ``(ctx: AgentContext) -> Finding | None`` run on an interval, each
returning at most one finding per symbol (docs/semantics.md, "Agents")::

    registry = default_registry(settings, store)      # rvol_spike + trend_score (+ flags)

    @registry.agent("wide_range", interval_s=300)
    def wide_range(ctx: AgentContext) -> Finding | None:
        bar = ctx.bars.get("5m")
        return None if bar is None else ctx.finding("wide_range", score=bar["high"] - bar["low"])
"""

from __future__ import annotations

from montalaq.agents.context import Agent, AgentContext, AgentFn
from montalaq.agents.defaults import default_registry
from montalaq.agents.registry import AgentRegistry
from montalaq.agents.runner import AgentStatus
from montalaq.agents.runner import AgentStatusName as AgentStatusName
from montalaq.agents.rvol import RvolSpike
from montalaq.agents.spec import AgentSpec, agent
from montalaq.agents.trend import DEFAULT_TS_WEIGHTS, TREND_FEATURES, trend_features, trend_p_up
from montalaq.agents.trend_score import POSTURES, TrendScore
from montalaq.agents.trend_score import Posture as Posture

__all__ = [
    "DEFAULT_TS_WEIGHTS",
    "POSTURES",
    "TREND_FEATURES",
    "Agent",
    "AgentContext",
    "AgentFn",
    "AgentRegistry",
    "AgentSpec",
    "AgentStatus",
    "RvolSpike",
    "TrendScore",
    "agent",
    "default_registry",
    "trend_features",
    "trend_p_up",
]
