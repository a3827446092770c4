"""Small value checks shared by the Python modules, so one rule has one wording.

Non-finite numbers never leave montalaq as numbers (docs/semantics.md, "Time values in
Python" and "HTTP API": JSON has no NaN or Infinity): they become None.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import Any


def finite_or_none(value: object) -> float | None:
    """``value`` as a finite float, or None (None, NaN, infinities, bools, non-numbers)."""
    if value is None or isinstance(value, bool | str | bytes):
        return None
    try:
        v = float(value)  # type: ignore[arg-type]  # ints, floats and numpy scalars
    except (TypeError, ValueError):
        return None
    return v if math.isfinite(v) else None


def json_safe(value: Any) -> Any:
    """``value`` with every non-finite float (also inside mappings and sequences) as None."""
    if isinstance(value, float):
        return value if math.isfinite(value) else None
    if isinstance(value, Mapping):
        return {str(k): json_safe(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [json_safe(v) for v in value]
    return value


def positive(name: str, value: object, *, what: str = "number") -> float:
    """``value`` as a finite float > 0, else ValueError naming ``name`` (``what``: the noun
    in the message, e.g. "number of seconds")."""
    v = finite_or_none(value)
    if v is None or v <= 0:
        raise ValueError(f"{name}: expected a finite {what} > 0, got {value!r}")
    return v


def non_negative(name: str, value: object, *, what: str = "number") -> float:
    """``value`` as a finite float >= 0, else ValueError naming ``name``."""
    v = finite_or_none(value)
    if v is None or v < 0:
        raise ValueError(f"{name}: expected a finite {what} >= 0, got {value!r}")
    return v
