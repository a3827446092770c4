"""The flag-switched built-in agents (docs/semantics.md, "Agents"): a fresh trend across
timeframes (``FEATURE_NEW_TREND``), a reversal against the posture (``FEATURE_REVERSAL``),
liquidity -- spread and trade-size anomalies (``FEATURE_LIQUIDITY``) -- and the macro
window watcher (``MACRO_WINDOWS``). Each is a small callable ``(AgentContext) -> Finding |
None`` registered by :func:`montalaq.agents.default_registry`; each keeps only the per-symbol
state its rule needs, behind a lock (agents may run from the scheduler and from
``run-now`` at once).

Every rule returns no finding when an input it needs is undefined (warm-up, no quote yet):
missing data is neither a signal nor its absence.
"""

from __future__ import annotations

import math
import re
import threading
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, time, timedelta
from typing import TYPE_CHECKING, Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from montalaq._validate import finite_or_none
from montalaq.records import Finding

if TYPE_CHECKING:
    from montalaq.agents import AgentContext, TrendScore

DEFAULT_MTF_WEIGHTS = (0.2, 0.3, 0.5)
"""``TS_MTF_WEIGHTS``: the weight of the 1m, 5m and 15m momentum in the multi-timeframe score."""

_TFS = ("1m", "5m", "15m")


# ------------------------------------------------------------------------------ new trend


class NewTrend:
    """``new_trend``: the momentum of 1m, 5m and 15m all point the same way, each at least
    its threshold (``min_bps`` per timeframe), and they did not at the symbol's previous
    evaluation -- the trend is *fresh*. One finding per onset, none while it lasts. Score =
    the multi-timeframe momentum ``Σ w_tf · mom_bps_tf`` (``TS_MTF_WEIGHTS``), signed;
    label ``UP`` or ``DOWN``; details the three momenta and the score."""

    name = "new_trend"

    def __init__(
        self, weights: Sequence[float] = DEFAULT_MTF_WEIGHTS, min_bps: Sequence[float] = (3.0, 6.0, 10.0)
    ) -> None:
        if len(weights) != 3 or len(min_bps) != 3:
            raise ValueError("weights, min_bps: expected three values (1m, 5m, 15m)")
        if any(not math.isfinite(w) for w in weights) or any(
            not (m >= 0 and math.isfinite(m)) for m in min_bps
        ):
            raise ValueError("weights, min_bps: expected finite values, thresholds >= 0")
        self.weights = tuple(float(w) for w in weights)
        self.min_bps = tuple(float(m) for m in min_bps)
        self._lock = threading.Lock()
        self._aligned: dict[str, int] = {}  # symbol -> +1/-1 when aligned at the last evaluation, else 0

    def __call__(self, ctx: AgentContext) -> Finding | None:
        moms = [ctx.feature(f"mom_bps_{tf}") for tf in _TFS]
        if any(m is None for m in moms):
            return None
        m = [float(x) for x in moms if x is not None]
        direction = 0
        if all(v >= t for v, t in zip(m, self.min_bps, strict=True)):
            direction = 1
        elif all(v <= -t for v, t in zip(m, self.min_bps, strict=True)):
            direction = -1
        with self._lock:
            previous = self._aligned.get(ctx.symbol, 0)
            self._aligned[ctx.symbol] = direction
        if direction in (0, previous):
            return None
        score = sum(w * v for w, v in zip(self.weights, m, strict=True))
        details = {f"mom_bps_{tf}": v for tf, v in zip(_TFS, m, strict=True)}
        details["mtf_score_bps"] = score
        return ctx.finding(self.name, score=score, label="UP" if direction > 0 else "DOWN", details=details)


# ------------------------------------------------------------------------------ reversal


class Reversal:
    """``reversal``: the posture of ``trend_score`` is LONG (SHORT) while the 1m and 5m
    momentum both point down (up), each beyond ``min_bps``, with 1m relative volume at
    least ``min_rvol`` -- the market moving hard against the position on volume. Fires on
    the first evaluation of such a move and again only after the condition lapsed. Score =
    the 5m momentum against the posture (bps, positive); label ``AGAINST_LONG`` or
    ``AGAINST_SHORT``."""

    name = "reversal"

    def __init__(self, trend: TrendScore, *, min_bps: float = 5.0, min_rvol: float = 1.5) -> None:
        if not (min_bps >= 0 and math.isfinite(min_bps)) or not (min_rvol >= 0 and math.isfinite(min_rvol)):
            raise ValueError("min_bps, min_rvol: expected finite values >= 0")
        self.trend = trend
        self.min_bps = float(min_bps)
        self.min_rvol = float(min_rvol)
        self._lock = threading.Lock()
        self._active: dict[str, bool] = {}

    def __call__(self, ctx: AgentContext) -> Finding | None:
        posture = self.trend.posture(ctx.symbol)
        m1, m5, rvol = ctx.feature("mom_bps_1m"), ctx.feature("mom_bps_5m"), ctx.feature("rvol_1m")
        if m1 is None or m5 is None or rvol is None:
            return None
        sign = {"LONG": 1, "SHORT": -1}.get(str(getattr(posture, "value", posture)), 0)
        against = (
            sign != 0 and -sign * m1 >= self.min_bps and -sign * m5 >= self.min_bps and rvol >= self.min_rvol
        )
        with self._lock:
            was = self._active.get(ctx.symbol, False)
            self._active[ctx.symbol] = against
        if not against or was:
            return None
        label = "AGAINST_LONG" if sign > 0 else "AGAINST_SHORT"
        details = {
            "posture": "LONG" if sign > 0 else "SHORT",
            "mom_bps_1m": m1,
            "mom_bps_5m": m5,
            "rvol_1m": rvol,
        }
        return ctx.finding(self.name, score=-sign * m5, label=label, details=details)


# ------------------------------------------------------------------------------ liquidity


@dataclass
class _Ewma:
    value: float = 0.0
    n: int = 0

    def update(self, x: float, alpha: float) -> None:
        self.value = x if self.n == 0 else (1 - alpha) * self.value + alpha * x
        self.n += 1


class Liquidity:
    """``liquidity``: two anomalies against the symbol's own recent normal, each an
    exponentially weighted mean (``alpha``) over the evaluations (spread) or the closed 1m
    bars (trade size) seen so far, after ``warmup`` observations:

    - ``WIDE_SPREAD``: the quoted spread ``(ask - bid) / mid`` in bps is at least
      ``spread_ratio`` times its mean (a thinning book: quotes from the feed);
    - ``LARGE_TRADES``: the latest closed 1m bar's mean trade size (``volume / trades``) is
      at least ``size_ratio`` times its mean (block prints, a sweep).

    The larger ratio wins when both fire; score = that ratio; details ``spread_bps``,
    ``spread_mean_bps``, ``avg_trade_size``, ``avg_trade_size_mean`` (None where not
    measured). Crossed or locked quotes are not a spread and are skipped. A bar is counted
    once (its start time is remembered)."""

    name = "liquidity"

    def __init__(
        self, *, spread_ratio: float = 2.0, size_ratio: float = 5.0, alpha: float = 0.05, warmup: int = 20
    ) -> None:
        if not spread_ratio > 1 or not size_ratio > 1 or not 0 < alpha <= 1 or warmup < 1:
            raise ValueError("spread_ratio, size_ratio: expected > 1; alpha in (0, 1]; warmup >= 1")
        self.spread_ratio = float(spread_ratio)
        self.size_ratio = float(size_ratio)
        self.alpha = float(alpha)
        self.warmup = int(warmup)
        self._lock = threading.Lock()
        self._spread: dict[str, _Ewma] = {}
        self._size: dict[str, _Ewma] = {}
        self._last_bar: dict[str, float] = {}

    def __call__(self, ctx: AgentContext) -> Finding | None:
        bid, ask = finite_or_none(ctx.signals.get("best_bid")), finite_or_none(ctx.signals.get("best_ask"))
        spread = None
        if bid is not None and ask is not None and bid > 0 and ask > bid:
            spread = (ask - bid) / ((ask + bid) / 2) * 1e4
        bar = ctx.bars.get("1m")
        size = None
        if bar is not None and bar.get("trades", 0) > 0:
            size = float(bar["volume"]) / float(bar["trades"])
        hits: list[tuple[float, str]] = []
        details: dict[str, Any] = {"spread_bps": spread, "avg_trade_size": size}
        with self._lock:
            if spread is not None:
                est = self._spread.setdefault(ctx.symbol, _Ewma())
                details["spread_mean_bps"] = est.value if est.n else None
                if est.n >= self.warmup and est.value > 0 and spread >= self.spread_ratio * est.value:
                    hits.append((spread / est.value, "WIDE_SPREAD"))
                est.update(spread, self.alpha)
            if size is not None and bar is not None and self._last_bar.get(ctx.symbol) != bar["start_ns"]:
                self._last_bar[ctx.symbol] = bar["start_ns"]
                est = self._size.setdefault(ctx.symbol, _Ewma())
                details["avg_trade_size_mean"] = est.value if est.n else None
                if est.n >= self.warmup and est.value > 0 and size >= self.size_ratio * est.value:
                    hits.append((size / est.value, "LARGE_TRADES"))
                est.update(size, self.alpha)
        if not hits:
            return None
        ratio, label = max(hits)
        details["signals"] = [h[1] for h in sorted(hits, reverse=True)]
        return ctx.finding(self.name, score=ratio, label=label, details=details)


# ------------------------------------------------------------------------------ macro windows

_WINDOW = re.compile(r"^\s*(\d{1,2}):(\d{2})(?::(\d{2}))?\s+([A-Za-z0-9_+\-/]+)\s*$")


@dataclass(frozen=True)
class MacroWindow:
    """A daily window opening at ``at`` (wall time in ``zone``), ``minutes`` long."""

    at: time
    zone: str
    minutes: float

    def contains(self, now: datetime) -> bool:
        """Whether ``now`` (aware) lies in ``[open, open + minutes)`` of today's, or
        yesterday's, window in its zone (a window may run past midnight)."""
        tz = ZoneInfo(self.zone)
        local = now.astimezone(tz)
        for day in (local.date(), local.date() - timedelta(days=1)):
            start = datetime.combine(day, self.at, tzinfo=tz)
            if start <= local < start + timedelta(minutes=self.minutes):
                return True
        return False

    def label(self) -> str:
        return f"{self.at.strftime('%H:%M')} {self.zone}"


def parse_windows(raw: Sequence[str], minutes: float) -> list[MacroWindow]:
    """``MACRO_WINDOWS`` items ``HH:MM[:SS] Zone`` (an IANA zone, e.g. ``08:30
    America/New_York``) -> windows of ``minutes``; ValueError naming the item otherwise."""
    out = []
    for item in raw:
        m = _WINDOW.match(item)
        if m is None:
            raise ValueError(f"expected 'HH:MM Zone' items such as '08:30 America/New_York', got {item!r}")
        hh, mm, ss, zone = int(m[1]), int(m[2]), int(m[3] or 0), m[4]
        if hh > 23 or mm > 59 or ss > 59:
            raise ValueError(f"{item!r}: not a time of day")
        try:
            ZoneInfo(zone)
        except (ZoneInfoNotFoundError, ValueError):
            raise ValueError(
                f"{item!r}: unknown time zone {zone!r} (an IANA name such as Europe/London)"
            ) from None
        out.append(MacroWindow(time(hh, mm, ss), zone, float(minutes)))
    return out


class MacroWatcher:
    """``macro``: inside a configured window (``MACRO_WINDOWS`` for ``MACRO_WINDOW_MINUTES``;
    scheduled every ``MACRO_INTERVAL_SEC``), a finding when the 1m relative volume is at
    least ``MACRO_RVOL_MIN``: the market reacting to a scheduled release. Score = rvol;
    label ``MACRO_WINDOW``; details the window and the 1m momentum."""

    name = "macro"

    def __init__(self, windows: Sequence[MacroWindow], rvol_min: float = 2.0) -> None:
        if not (rvol_min >= 0 and math.isfinite(rvol_min)):
            raise ValueError("rvol_min: expected a finite value >= 0")
        self.windows = list(windows)
        self.rvol_min = float(rvol_min)

    def __call__(self, ctx: AgentContext) -> Finding | None:
        now = datetime.fromtimestamp(ctx.now_ns / 1e9, UTC)
        window = next((w for w in self.windows if w.contains(now)), None)
        if window is None:
            return None
        rvol = ctx.feature("rvol_1m")
        if rvol is None or rvol < self.rvol_min:
            return None
        details: Mapping[str, Any] = {
            "window": window.label(),
            "rvol_1m": rvol,
            "mom_bps_1m": ctx.feature("mom_bps_1m"),
        }
        return ctx.finding(self.name, score=rvol, label="MACRO_WINDOW", details=details)


__all__ = [
    "DEFAULT_MTF_WEIGHTS",
    "Liquidity",
    "MacroWatcher",
    "MacroWindow",
    "NewTrend",
    "Reversal",
    "parse_windows",
]
