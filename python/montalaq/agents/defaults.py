"""The registry a service starts with: the built-in agents, and the flag-switched ones their
settings turn on (docs/semantics.md, "Agents")."""

from __future__ import annotations

from typing import TYPE_CHECKING

from montalaq.agents.registry import AgentRegistry
from montalaq.agents.rvol import RvolSpike
from montalaq.agents.trend_score import TrendScore

if TYPE_CHECKING:
    from montalaq.settings import Settings
    from montalaq.store import Store


def default_registry(
    settings: Settings, store: Store | None = None, *, rvol_threshold: float = 3.0, interval_s: float = 60.0
) -> AgentRegistry:
    """A registry with the built-ins (docs/semantics.md, "Agents"): ``rvol_spike``
    (``rvol_threshold``, every ``interval_s`` seconds) and ``trend_score`` (the ``TS_*``
    settings, every ``TS_INTERVAL`` seconds, postures persisted in ``store``) always; by
    their flags ``new_trend`` (``FEATURE_NEW_TREND``, scored with ``TS_MTF_WEIGHTS``),
    ``reversal`` (``FEATURE_REVERSAL``), ``liquidity`` (``FEATURE_LIQUIDITY``), each every
    ``interval_s``; ``macro`` when ``MACRO_WINDOWS`` is set (every ``MACRO_INTERVAL_SEC``);
    and ``FEATURE_BARS`` puts the latest closed bars in every finding."""
    from montalaq.market_agents import Liquidity, MacroWatcher, NewTrend, Reversal, parse_windows

    registry = AgentRegistry(bars_in_findings=settings.feature_bars)
    registry.register(
        RvolSpike.name,
        RvolSpike(rvol_threshold),
        interval_s=interval_s,
        description="5m relative volume at or above the threshold",
    )
    trend = TrendScore.from_settings(settings, store)
    registry.register(
        TrendScore.name,
        trend,
        interval_s=settings.ts_interval,
        description="logistic trend score and posture (FLAT/LONG/SHORT)",
    )
    if settings.feature_new_trend:
        registry.register(
            NewTrend.name,
            NewTrend(settings.ts_mtf_weights),
            interval_s=interval_s,
            description="1m, 5m and 15m momentum newly aligned (a fresh trend)",
        )
    if settings.feature_reversal:
        registry.register(
            Reversal.name,
            Reversal(trend),
            interval_s=interval_s,
            description="1m and 5m momentum against the trend posture, on volume",
        )
    if settings.feature_liquidity:
        registry.register(
            Liquidity.name,
            Liquidity(),
            interval_s=interval_s,
            description="quoted spread or mean trade size far above the symbol's normal",
        )
    if settings.macro_windows:
        registry.register(
            MacroWatcher.name,
            MacroWatcher(
                parse_windows(settings.macro_windows, settings.macro_window_minutes), settings.macro_rvol_min
            ),
            interval_s=settings.macro_interval_sec,
            description="relative volume inside the configured macro windows",
        )
    return registry


__all__ = ["default_registry"]
