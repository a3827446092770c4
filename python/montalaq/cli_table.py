"""The tables the ``montalaq`` command prints, built to fit 80 columns at typical data
(docs/semantics.md, "Operator CLI"): long text is cut with an ellipsis or wrapped in
its column, numbers are shortened (never cut), and ``--json`` has every field in full.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING, Any, Literal

if TYPE_CHECKING:
    from rich.console import Console
    from rich.table import Table

WIDTH = 80
"""The width every table is designed for (a terminal's default)."""


@dataclass(frozen=True)
class Col:
    """A column: ``width`` is the most its cells take (None: their natural width); a longer
    cell is cut with an ellipsis, or wrapped onto more lines when ``wrap``."""

    name: str
    width: int | None = None
    wrap: bool = False
    justify: Literal["left", "right"] = "left"


def table(title: str, *columns: Col | str) -> Table:
    """A rich table of ``columns`` (a plain name is a column of short cells, never cut)."""
    from rich.table import Table

    t = Table(title=title)
    for c in columns:
        col = Col(c) if isinstance(c, str) else c
        t.add_column(
            col.name,
            justify=col.justify,
            max_width=col.width,
            no_wrap=not col.wrap,
            overflow="fold" if col.wrap else "ellipsis",
        )
    return t


def console() -> Console:
    """The standard output console: the terminal's width, else ``COLUMNS``, else 80."""
    from rich.console import Console

    return Console(highlight=False)


def num(value: Any, digits: int = 6) -> str:
    """A number in at most ``digits`` significant digits with thousands separators; ``-``
    for None or a non-finite value."""
    if value is None or (isinstance(value, float) and not math.isfinite(value)):
        return "-"
    if isinstance(value, bool) or not isinstance(value, int | float):
        return str(value)
    return f"{value:,.{digits}g}"


def compact(value: Any) -> str:
    """A magnitude in at most 4 significant digits with a k/M/B/T suffix: ``1.235M``."""
    if value is None or (isinstance(value, float) and not math.isfinite(value)):
        return "-"
    v = float(value)
    for floor, div, suffix in ((1e12, 1e12, "T"), (1e9, 1e9, "B"), (1e6, 1e6, "M"), (1e4, 1e3, "k")):
        if abs(v) >= floor:  # 1,234 stays whole; from 12,345 on: 12.35k
            return f"{v / div:.4g}{suffix}"
    return f"{v:.4g}"


def minute(when: datetime | None) -> str:
    """``MM-DD HH:MM`` of an aware UTC datetime (the year and seconds are in ``--json``)."""
    return "-" if when is None else f"{when:%m-%d %H:%M}"


def middle(text: str, width: int) -> str:
    """``text`` cut to ``width`` characters in the middle (``provider…_message_age_s``):
    for dotted names, whose tail says most (so it keeps more of it) and whose head says
    where they come from."""
    if len(text) <= width:
        return text
    head = (width - 1) * 2 // 5
    return f"{text[:head]}…{text[len(text) - (width - 1 - head) :]}"


__all__ = ["WIDTH", "Col", "compact", "console", "middle", "minute", "num", "table"]
