"""Argument checks the health wrappers share, so each rule has one wording before a value
reaches the native core (docs/semantics.md, "Health core")."""

from __future__ import annotations

import math

MAX_INT32 = 2**31 - 1


def finite_number(value: object, name: str) -> float:
    """``value`` as a float, else TypeError (not a number) or ValueError (not finite)."""
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise TypeError(f"{name}: expected a number, got {type(value).__name__}")
    if not math.isfinite(value):
        raise ValueError(f"{name}: must be finite, got {value}")
    return float(value)


def int_setting(name: str, value: object, minimum: int, maximum: int = MAX_INT32) -> int:
    """``value`` as an int in ``[minimum, maximum]``, else TypeError or ValueError naming ``name``."""
    if isinstance(value, bool) or not isinstance(value, int):
        raise TypeError(f"{name}: expected an integer, got {type(value).__name__}")
    if not minimum <= value <= maximum:
        raise ValueError(f"{name}: must be in [{minimum}, {maximum}], got {value}")
    return value
