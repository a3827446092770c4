"""The trend score's inputs and formula, shared by the ``trend_score`` agent and the rule
analyzer (docs/semantics.md, "Agents" and "Analyses")."""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence

from montalaq._validate import finite_or_none

TREND_FEATURES = ("mom_bps_1m", "mom_bps_5m", "mom_bps_15m", "px_vs_vwap_bps_1m", "rvol_1m")
"""The ``/signals_tf`` keys the trend score reads (``rvol_1m`` enters as ``rvol_1m - 1``)."""

DEFAULT_TS_WEIGHTS = (0.02, 0.03, 0.03, 0.01, 0.2)


def trend_features(signals_tf: Mapping[str, float | None]) -> tuple[float, ...] | None:
    """The trend-score inputs ``(mom_bps_1m, mom_bps_5m, mom_bps_15m, px_vs_vwap_bps_1m,
    rvol_1m - 1)`` from a ``/signals_tf`` mapping, or None if any is undefined."""
    values = [finite_or_none(signals_tf.get(k)) for k in TREND_FEATURES]
    if any(v is None for v in values):
        return None
    f = [float(v) for v in values if v is not None]
    f[4] -= 1.0
    return tuple(f)


def trend_p_up(features: Sequence[float], weights: Sequence[float], bias: float = 0.0) -> float:
    """``1 / (1 + exp(-(bias + Σ w_k·f_k)))`` (docs/semantics.md, "Agents"), computed without
    overflow."""
    if len(features) != len(weights):
        raise ValueError(f"weights: expected {len(features)} weights, got {len(weights)}")
    z = bias + math.fsum(w * f for w, f in zip(weights, features, strict=True))
    if z >= 0:
        return 1.0 / (1.0 + math.exp(-z))
    ez = math.exp(z)
    return ez / (1.0 + ez)


__all__ = ["DEFAULT_TS_WEIGHTS", "TREND_FEATURES", "trend_features", "trend_p_up"]
