"""KPI rollup (SPEC §10.2): every ``KPI_ROLLUP_INTERVAL_SEC`` one window of counts, kept in
Redis where any process can read it (``MontalaqCelery.kpis()``), and logged.

A window document::

    {"window_start": iso, "window_end": iso,              # the feed's clock
     "wall_start": iso, "wall_end": iso,                  # the wall clock
     "analyses": {"COMPLETE": n, "FAILED": n},            # trade_analysis rows finished in the window
     "findings": n,                                       # findings stamped in the window
     "notifications": {"queued": {kind: n}, "sent": n},   # outbox rows queued / sent in the window
     "counters": {name: delta},                           # the workers' shared counters, this window
     "breakers_open": n, "pairs": n}

Decisions: counts come from the database (authoritative, whichever worker did the work),
except what only the workers know (bars queued or skipped, duplicates, redeliveries,
order waits), which comes from the shared counters as deltas since the previous window.
Analyses and findings are stamped with the feed's clock and the outbox with the wall clock,
so each is counted in its own clock's window (the same window unless a replay is
accelerated). One rollup runs at a time (a lock); the last ``kpi_keep`` windows are kept.
"""

from __future__ import annotations

import json
import logging
import time
from typing import TYPE_CHECKING, Any

from sqlalchemy import and_, func, select

from montalaq._time import datetime_utc
from montalaq.celery.state import release, text
from montalaq.store import schema

if TYPE_CHECKING:
    from montalaq.celery.runtime import Runtime

log = logging.getLogger("montalaq.celery")

_NS = 1_000_000_000


def _iso(ns: int) -> str:
    return datetime_utc(ns).isoformat().replace("+00:00", "Z")


def kpi_rollup(rt: Runtime) -> dict[str, Any]:
    """Roll up the window since the previous rollup; returns the window document (or
    ``{"rolled": False}`` when another rollup holds the lock)."""
    state = rt.state
    lock = state.lock("kpi", rt.options.lock_timeout_s)
    if not lock.acquire(blocking=False):
        return {"rolled": False, "reason": "another rollup holds the KPI lock"}
    try:
        end_v, end_w = rt.now_ns(), time.time_ns()
        last_key = state.key("kpi", "last")
        last = {text(k): text(v) for k, v in state.client.hgetall(last_key).items()}
        interval_ns = int(rt.settings.kpi_rollup_interval_sec * _NS)
        start_v = int(last.get("virtual_end", end_v - int(interval_ns * rt.speed)))
        start_w = int(last.get("wall_end", end_w - interval_ns))
        before = json.loads(last.get("counters", "{}"))
        counters = state.counters()
        delta = {k: v - int(before.get(k, 0)) for k, v in counters.items() if v - int(before.get(k, 0))}
        t_a, t_f, t_o = schema.trade_analysis, schema.findings, schema.notification_outbox
        vs, ve, ws, we = (
            datetime_utc(start_v),
            datetime_utc(end_v),
            datetime_utc(start_w),
            datetime_utc(end_w),
        )
        rt.store.ensure_schema()
        with rt.store.engine.connect() as conn:
            analyses = {
                str(status): int(n)
                for status, n in conn.execute(
                    select(t_a.c.status, func.count())
                    .where(
                        and_(
                            t_a.c.updated_at >= vs,
                            t_a.c.updated_at < ve,
                            t_a.c.status.in_(("COMPLETE", "FAILED")),
                        )
                    )
                    .group_by(t_a.c.status)
                )
            }
            findings = int(
                conn.execute(
                    select(func.count()).select_from(t_f).where(and_(t_f.c.ts_utc >= vs, t_f.c.ts_utc < ve))
                ).scalar_one()
            )
            queued = {
                str(kind): int(n)
                for kind, n in conn.execute(
                    select(t_o.c.kind, func.count())
                    .where(and_(t_o.c.created_at >= ws, t_o.c.created_at < we))
                    .group_by(t_o.c.kind)
                )
            }
            sent = int(
                conn.execute(
                    select(func.count()).select_from(t_o).where(and_(t_o.c.sent_at >= ws, t_o.c.sent_at < we))
                ).scalar_one()
            )
        doc: dict[str, Any] = {
            "window_start": _iso(start_v),
            "window_end": _iso(end_v),
            "wall_start": _iso(start_w),
            "wall_end": _iso(end_w),
            "analyses": {"COMPLETE": analyses.get("COMPLETE", 0), "FAILED": analyses.get("FAILED", 0)},
            "findings": findings,
            "notifications": {"queued": queued, "sent": sent},
            "counters": delta,
            "breakers_open": int(state.client.scard(state.key("breakers"))),
            "pairs": len(rt.watchlist.pairs()),
        }
        state.add_kpi(end_w, doc, rt.options.kpi_keep)
        state.client.hset(
            last_key,
            mapping={"virtual_end": str(end_v), "wall_end": str(end_w), "counters": json.dumps(counters)},
        )
        state.incr("kpi_rollups")
    finally:
        release(lock, "kpi")
    log.info(
        "kpi %s..%s: %d analyses (%d failed), %d findings, %d notifications sent",
        doc["window_start"],
        doc["window_end"],
        doc["analyses"]["COMPLETE"] + doc["analyses"]["FAILED"],
        doc["analyses"]["FAILED"],
        findings,
        sent,
        extra={"component": "celery", "kpi": doc},
    )
    return {"rolled": True, **doc}


__all__ = ["kpi_rollup"]
