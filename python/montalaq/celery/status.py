"""The ``ingestion_status`` rows the Celery tasks write: the board's rows of the pairs an
evaluation touched, and the write that, when the database fails, forgets the colours the
rows were computed against so the next cycle rewrites them all (docs/semantics.md,
"Celery")."""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterable
from typing import TYPE_CHECKING

import numpy as np
import numpy.typing as npt

from montalaq.cycle import ErrorMap, StatusRow, status_rows

if TYPE_CHECKING:
    from montalaq.celery.board import BoardCache
    from montalaq.celery.runtime import Runtime

log = logging.getLogger("montalaq.celery")


def provider_of(rt: Runtime, symbol: str) -> str | None:
    """The provider of ``symbol`` in the watchlist; None for a symbol it no longer has."""
    try:
        return rt.watchlist.provider_of(symbol)
    except ValueError:
        return None


def board_status_rows(
    rt: Runtime,
    cache: BoardCache,
    which: Iterable[int] | None,
    now_ns: int,
    ticks: npt.NDArray[np.int64],
    errors: ErrorMap,
) -> list[StatusRow]:
    """The status rows of the board indices ``which`` (None: every watched pair)."""
    indices = range(len(cache.pairs)) if which is None else sorted(set(which))
    pairs = [p for i in indices if i < len(cache.pairs) and (p := cache.pairs[i]) is not None]
    tick_of = {p: int(ticks[cache.index[p]]) for p in pairs}
    rows = status_rows(
        cache.board,
        now_ns,
        pairs,
        last_tick=lambda s: None,
        errors=errors,
        provider_of=lambda s: provider_of(rt, s),
    )
    for r in rows:
        r.last_tick_ns = tick_of.get((r.symbol, r.timeframe)) or None
    return rows


def write_rows(rt: Runtime, write: Callable[[], int], forget: str) -> int:
    """Run ``write`` (an upsert of status rows returning how many) and report the database
    to the lifecycle; returns the rows written. On failure (logged, 0 rows) the colours
    under the shared key ``forget`` are deleted, so that the next cycle rewrites every row
    instead of only the ones that change again."""
    try:
        n = write()
        if n:
            rt.lifecycle.report("database", None)
    except Exception as exc:
        rt.lifecycle.report("database", exc)
        log.exception("ingestion_status not written", extra={"component": "celery"})
        rt.state.client.delete(rt.state.key(forget))
        return 0
    return n


__all__ = ["board_status_rows", "provider_of", "write_rows"]
