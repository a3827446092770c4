"""Freshness: GREEN/AMBER/RED from the age of a pair's last trade (docs/semantics.md,
"Health core": freshness)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from montalaq._native import health as _h
from montalaq._time import seconds_to_ns, to_ns, wall_ns
from montalaq.health.arguments import finite_number
from montalaq.timeframes import parse_timeframe

Colour = _h.Colour


class Freshness(_h.Freshness):
    """GREEN/AMBER/RED from the age of the last trade (docs/semantics.md, "Health core": freshness).

    Defaults ``amber_after = 1.5 * tf`` and ``red_after = 3 * tf``; ``overrides`` maps a
    timeframe string to ``(amber_after_s, red_after_s)``.
    """

    def __init__(
        self,
        amber_mult: float = 1.5,
        red_mult: float = 3.0,
        overrides: Mapping[str, tuple[float, float]] | None = None,
    ) -> None:
        amber = finite_number(amber_mult, "amber_mult")
        red = finite_number(red_mult, "red_mult")
        if amber <= 0 or red <= 0:
            raise ValueError(f"amber_mult and red_mult must be > 0; got {amber_mult}, {red_mult}")
        if amber > red:
            raise ValueError(f"amber_mult ({amber_mult}) must be <= red_mult ({red_mult})")
        super().__init__(amber, red)
        if overrides is not None and not isinstance(overrides, Mapping):
            raise TypeError(
                "overrides: expected a mapping {timeframe: (amber_after_s, red_after_s)}, "
                f"got {type(overrides).__name__}"
            )
        for tf, pair in (overrides or {}).items():
            if not isinstance(pair, tuple | list) or len(pair) != 2:
                raise TypeError(f"overrides[{tf!r}]: expected (amber_after_s, red_after_s), got {pair!r}")
            amber_ns = seconds_to_ns(pair[0], f"overrides[{tf!r}].amber_after_s")
            red_ns = seconds_to_ns(pair[1], f"overrides[{tf!r}].red_after_s")
            if amber_ns > red_ns:
                raise ValueError(f"overrides[{tf!r}]: amber_after_s must be <= red_after_s, got {pair!r}")
            self.set_override(parse_timeframe(tf), amber_ns, red_ns)

    def colour(self, timeframe: str, now: Any, last_tick: Any | None) -> Colour:
        """Colour at ``now`` (None: the wall clock) of a pair whose last trade was at
        ``last_tick`` (None: never)."""
        last = 0 if last_tick is None else to_ns(last_tick, "last_tick")
        return self.classify(parse_timeframe(timeframe), wall_ns(now), last)


__all__ = ["Colour", "Freshness"]
