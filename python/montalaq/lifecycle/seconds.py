"""Seconds as the lifecycle takes them (finite numbers, checked once at the boundary) and
as it writes them for people (notification titles, state reasons)."""

from __future__ import annotations

from montalaq._validate import non_negative, positive


def positive_s(name: str, value: object) -> float:
    """``value`` as float seconds; ValueError unless it is a finite number > 0 (not a bool)."""
    return positive(name, value, what="number of seconds")


def non_negative_s(name: str, value: object) -> float:
    """``value`` as float seconds; ValueError unless it is a finite number >= 0 (not a bool)."""
    return non_negative(name, value, what="number of seconds")


def duration_text(seconds: float) -> str:
    """Seconds for a notification title: "0.25 s", "42 s", "5 min 03 s", "2 h 05 min"."""
    s = max(0.0, seconds)
    if s < 60:
        return f"{s:.2g} s" if s < 10 else f"{s:.0f} s"
    if s < 3600:
        return f"{int(s // 60)} min {int(s % 60):02d} s"
    return f"{int(s // 3600)} h {int(s % 3600 // 60):02d} min"
