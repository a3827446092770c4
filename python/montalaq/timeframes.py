"""Timeframe strings ("1m", "5m", "15m", "1h", "1d") and their nanosecond spans."""

from __future__ import annotations

from collections.abc import Iterable

from montalaq._native import market as _m


def parse_timeframe(timeframe: str) -> int:
    """Return the span of ``timeframe`` in nanoseconds.

    Accepted: ``"<n><unit>"`` with ``n`` a positive integer and ``unit`` one of s, m, h, d.
    Anything else raises ``ValueError`` naming the accepted forms.
    """
    if not isinstance(timeframe, str):
        raise TypeError(f"timeframe: expected a string such as '1m', got {type(timeframe).__name__}")
    return int(_m.parse_timeframe(timeframe))


def timeframe_label(tf_ns: int) -> str:
    """Canonical label for a span in ns (``60_000_000_000`` -> ``"1m"``)."""
    return str(_m.timeframe_label(tf_ns))


def parse_timeframes(timeframes: str | Iterable[str]) -> list[int]:
    """Parse one timeframe or several (a tuple/list, or a comma-separated string)."""
    if isinstance(timeframes, str):
        items = [t.strip() for t in timeframes.split(",")]
    elif isinstance(timeframes, list | tuple):
        items = list(timeframes)
    else:
        raise TypeError(
            "timeframes: expected a string such as '1m' or a tuple/list of them such as "
            f"('1m', '5m', '15m'); got {type(timeframes).__name__}"
        )
    if not items:
        raise ValueError("timeframes: at least one timeframe is required")
    return [parse_timeframe(t) for t in items]
