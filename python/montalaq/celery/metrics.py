"""Each escalation cycle's metrics to the evaluating worker's monitoring, with the alert
rules' state shared in Redis so that an alert fires once whichever worker evaluates
(docs/operations.md, "Metrics each cycle records")."""

from __future__ import annotations

import logging
import time
from typing import TYPE_CHECKING

import numpy as np
import numpy.typing as npt

from montalaq.celery.colours import COLOUR_NAMES
from montalaq.celery.state import text as text_of
from montalaq.ops import PairView, merge_sources, metrics_of, read_backlog

if TYPE_CHECKING:
    from montalaq.celery.board import BoardCache
    from montalaq.celery.runtime import Runtime

log = logging.getLogger("montalaq.celery")


def record_metrics(
    rt: Runtime,
    cache: BoardCache,
    ticks: npt.NDArray[np.int64],
    codes: npt.NDArray[np.uint8] | None,
    now_ns: int,
    cycle_s: float,
) -> None:
    """The cycle's metrics to this worker's monitoring (call with the board lock held: the
    rule state is shared in Redis, so an alert fires once whichever worker evaluates).
    Per-pair metrics up to ``status_all_pairs_max`` pairs; above, the counts only."""
    mon = rt.monitoring
    if mon is None or codes is None:
        return
    state = rt.state
    try:
        raw = state.client.get(state.key("monitoring", "rules"))
        if raw is not None:
            mon.rules.load_state_json(text_of(raw))
        breakers = state.open_breakers()
        n = sum(1 for p in cache.pairs if p is not None)
        views: list[PairView] = []
        totals: tuple[int, int, int, int, int] | None = None
        if n <= rt.options.status_all_pairs_max:
            views = [
                PairView(p[0], p[1], COLOUR_NAMES[int(codes[i])], p in breakers, int(ticks[i]) or None)
                for i, p in enumerate(cache.pairs)
                if p is not None
            ]
        else:  # counts only: no per-pair Python objects at 100,000 pairs
            counts = np.bincount(codes, minlength=4)
            totals = (int(counts[0]), int(counts[1]), int(counts[2]), int(counts[3]), len(breakers))
        counters = state.counters()
        errors = {text_of(k): int(v) for k, v in state.client.hgetall(state.key("errors_by_code")).items()}
        metrics = metrics_of(
            now_ns,
            views,
            state=rt.lifecycle.state.name,
            cycle_s=cycle_s,
            uptime_s=max(0.0, time.monotonic() - rt.started_mono_s),
            notifier=rt.notifier,
            backlog=read_backlog(rt.store, now_ns),
            counters={
                k: counters.get(k, 0) for k in ("ticks", "bars_queued", "provider_errors", "analyses_failed")
            },
            errors=errors,
            totals=totals,
        )
        mon.record_tick(merge_sources(metrics, rt.plugins.metric_sources))
        mon.flush()
        state.client.set(state.key("monitoring", "rules"), mon.rules.state_json())
    except Exception:  # monitoring never breaks the escalation
        log.exception("cycle metrics not recorded", extra={"component": "celery"})


__all__ = ["record_metrics"]
