"""KPI rollup: every ``KPI_ROLLUP_INTERVAL_SEC`` one window of counts, kept in Redis where
any process can read it (``MontalaqCelery.kpis()``), and logged. The window document and
where each count comes from: docs/operations.md, "Scale-out on Celery" (KPI windows);
docs/semantics.md, "Celery" (KPI rollup).
"""

from __future__ import annotations

import json
import logging
import time
from typing import TYPE_CHECKING

from sqlalchemy import and_, func, select

from montalaq._time import datetime_utc
from montalaq.celery.state import release, text
from montalaq.shapes import IsoTime, KpiAnalyses, KpiNotifications, KpiRolled, KpiSkipped, KpiWindow
from montalaq.store import schema

if TYPE_CHECKING:
    from montalaq.celery.runtime import Runtime
    from montalaq.store import Store

log = logging.getLogger("montalaq.celery")

_NS = 1_000_000_000


def _iso(ns: int) -> IsoTime:
    return IsoTime(datetime_utc(ns).isoformat().replace("+00:00", "Z"))


def kpi_rollup(rt: Runtime) -> KpiRolled | KpiSkipped:
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
        analyses, findings, notifications = _database_counts(rt.store, (start_v, end_v), (start_w, end_w))
        doc: KpiWindow = {
            "window_start": _iso(start_v),
            "window_end": _iso(end_v),
            "wall_start": _iso(start_w),
            "wall_end": _iso(end_w),
            "analyses": analyses,
            "findings": findings,
            "notifications": notifications,
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
        doc["findings"],
        doc["notifications"]["sent"],
        extra={"component": "celery", "kpi": doc},
    )
    return {"rolled": True, **doc}


def _database_counts(
    store: Store, virtual: tuple[int, int], wall: tuple[int, int]
) -> tuple[KpiAnalyses, int, KpiNotifications]:
    """The window's ``analyses``, ``findings`` and ``notifications`` counted in the database:
    analyses and findings in the feed's clock window ``virtual``, the outbox in the wall
    clock window ``wall`` (int ns, start included, end not)."""
    t_a, t_f, t_o = schema.trade_analysis, schema.findings, schema.notification_outbox
    vs, ve = datetime_utc(virtual[0]), datetime_utc(virtual[1])
    ws, we = datetime_utc(wall[0]), datetime_utc(wall[1])
    store.ensure_schema()
    with store.engine.connect() as conn:
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
    return (
        {"COMPLETE": analyses.get("COMPLETE", 0), "FAILED": analyses.get("FAILED", 0)},
        findings,
        {"queued": queued, "sent": sent},
    )


__all__ = ["kpi_rollup"]
