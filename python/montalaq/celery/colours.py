"""Freshness colours of many pairs at once, vectorised over numpy arrays: what the tick and
the escalation compare from one cycle to the next to find the pairs whose status rows
change (docs/semantics.md, "Celery" and "Market calendars")."""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING

import numpy as np
import numpy.typing as npt

from montalaq.calendars import ALWAYS_OPEN, session_at
from montalaq.health import Freshness

if TYPE_CHECKING:
    from montalaq.celery.board import BoardCache
    from montalaq.celery.runtime import Runtime

COLOUR_NAMES = ("GREEN", "AMBER", "RED", "CLOSED")
"""The colour of each code :func:`colour_codes` gives."""


def colour_codes(
    freshness: Freshness,
    tf_ns: npt.NDArray[np.int64],
    ticks: npt.NDArray[np.int64],
    now_ns: int,
    calendars: tuple[npt.NDArray[np.int64], Sequence[str]] | None = None,
) -> npt.NDArray[np.uint8]:
    """Freshness colour per pair (0 GREEN, 1 AMBER, 2 RED, 3 CLOSED) of pairs with
    timeframes ``tf_ns`` and last trades ``ticks`` (0: never) at ``now_ns``, vectorised with
    ``freshness``'s thresholds; ``calendars`` ``(index per pair, names)`` applies the
    board's market-calendar rule (CLOSED outside a session, age from the session's open
    inside it; docs/semantics.md, "Market calendars")."""
    amber = np.zeros(len(ticks), dtype=np.int64)
    red = np.zeros(len(ticks), dtype=np.int64)
    for tf in np.unique(tf_ns):
        if tf <= 0:
            continue
        a, r = freshness.thresholds(int(tf))
        sel = tf_ns == tf
        amber[sel], red[sel] = a, r
    closed = np.zeros(len(ticks), dtype=bool)
    if calendars is not None:
        cal_idx, names = calendars
        ticks = ticks.copy()
        for k, name in enumerate(names):
            if name == ALWAYS_OPEN:
                continue
            sel = cal_idx == k
            if not sel.any():
                continue
            is_open, open_ns = session_at(name, now_ns)
            if is_open:
                ticks[sel] = np.maximum(ticks[sel], open_ns)  # the open counts as a tick
            else:
                closed |= sel
    age = now_ns - ticks
    out = np.full(len(ticks), 2, dtype=np.uint8)
    known = (ticks > 0) & (tf_ns > 0)
    out[known & (age <= red)] = 1
    out[known & (age <= amber)] = 0
    out[closed] = 3
    return out


def colours(cache: BoardCache, ticks: npt.NDArray[np.int64], now_ns: int) -> npt.NDArray[np.uint8]:
    """:func:`colour_codes` of every board index with the board's own thresholds and the
    pairs' calendars (its rows are per-pair Python dicts: too slow to compare every cycle
    at 100,000 pairs)."""
    cals = (cache.cal_idx, cache.cal_names) if len(cache.cal_names) > 1 else None
    return colour_codes(cache.freshness, cache.tf_ns, ticks, now_ns, cals)


def board_ticks(rt: Runtime, cache: BoardCache) -> npt.NDArray[np.int64]:
    """Last trade time per board index (0: never): the tick's packed array when it was
    written for this watchlist (one read), else the per-symbol hash."""
    packed = rt.state.last_trades_packed(rt.watchlist.digest, len(cache.symbols))
    if packed is not None and cache.symbols == rt.watchlist.symbols:
        sym_ticks = np.append(packed, np.int64(0))
    else:
        last = rt.state.last_trades()
        sym_ticks = np.array([last.get(s, 0) for s in cache.symbols] + [0], dtype=np.int64)
    return sym_ticks[cache.sym_idx]


__all__ = ["COLOUR_NAMES", "board_ticks", "colour_codes", "colours"]
