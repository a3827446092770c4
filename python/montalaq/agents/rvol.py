"""The built-in ``rvol_spike`` agent: the latest closed 5m bar's relative volume at or above
a threshold (docs/semantics.md, "Agents")."""

from __future__ import annotations

import math

from montalaq._validate import finite_or_none
from montalaq.agents.context import AgentContext
from montalaq.records import Finding


class RvolSpike:
    """The built-in ``rvol_spike`` agent: fires when 5m ``rvol >= threshold`` (inclusive).

    ``threshold`` is a ratio to the mean volume of the previous ``rvol_n`` 5m bars
    (default 3.0). Score = rvol; details ``rvol``, ``volume_5m`` (volume of the latest
    closed 5m bar), ``best_bid``, ``best_ask`` (None until a quote arrived).
    """

    name = "rvol_spike"

    def __init__(self, threshold: float = 3.0) -> None:
        if (
            isinstance(threshold, bool)
            or not isinstance(threshold, int | float)
            or not math.isfinite(threshold)
        ):
            raise ValueError(f"threshold: expected a finite number, got {threshold!r}")
        self.threshold = float(threshold)

    def __call__(self, ctx: AgentContext) -> Finding | None:
        """A finding when the latest 5m rvol reaches the threshold; None otherwise or when
        rvol is undefined."""
        rvol = ctx.feature("rvol_5m")
        if rvol is None or rvol < self.threshold:
            return None
        bar = ctx.bars.get("5m")
        details = {
            "rvol": rvol,
            "volume_5m": None if bar is None else finite_or_none(bar.get("volume")),
            "best_bid": finite_or_none(ctx.signals.get("best_bid")),
            "best_ask": finite_or_none(ctx.signals.get("best_ask")),
            "threshold": self.threshold,
        }
        return ctx.finding(self.name, score=rvol, label="spike", details=details)


__all__ = ["RvolSpike"]
