"""Operator views of a running service, computed in one place for the API, the dashboard,
the CLI and ``/metrics``: the metrics each cycle records, the health snapshot, alerts and
the error summary. Shapes and meanings: docs/operations.md, "Operator views".
"""

from __future__ import annotations

import logging
import time
from datetime import timedelta
from typing import TYPE_CHECKING, Any

from montalaq._time import datetime_utc

if TYPE_CHECKING:
    from montalaq.service import Service

log = logging.getLogger("montalaq.ops")

_NS = 1_000_000_000
_COLOUR_CODE = {"GREEN": 0, "AMBER": 1, "RED": 2}
STATE_CODES = {"STARTING": 0, "ACTIVE": 1, "WAITING": 2, "ERROR": 3, "SHUTDOWN": 4}
"""Numeric operational states in the metrics (a rule can compare them)."""
_OUTBOX_EVERY_NS = 5 * _NS  # the outbox backlog is read at most this often per service
SERVICE_RULES: tuple[dict[str, Any], ...] = (
    {
        "name": "feed_stale",
        "metric": "montalaq.pairs_red",
        "op": ">",
        "threshold": 0,
        "severity": "WARNING",
        "message": "{value} pair(s) RED: their feed is stale",
    },
    {
        "name": "pair_breaker_open",
        "metric": "montalaq.pair_breakers_open",
        "op": ">",
        "threshold": 0,
        "severity": "CRITICAL",
        "message": "{value} pair breaker(s) open: their analyses stop",
    },
    {
        "name": "notification_backlog",
        "metric": "montalaq.outbox_oldest_age_s",
        "op": ">",
        "threshold": 300,
        "for_s": 60,
        "severity": "WARNING",
        "message": "a notification has waited {value} s to go out",
    },
    {
        "name": "not_active",
        "metric": "montalaq.state",
        "op": ">=",
        "threshold": 2,
        "severity": "CRITICAL",
        "message": "montalaq is not ACTIVE (state code {value}: 2 WAITING, 3 ERROR)",
    },
)
"""The rules montalaq's own processes add to the monitoring service, over the metrics of
:func:`cycle_metrics` (docs/operations.md, "Alerts of the service")."""


def outbox_backlog(service: Service, now_ns: int, *, fresh: bool = False) -> dict[str, Any]:
    """``{pending, folded, dead, oldest_age_s}`` of the service's outbox (None values when
    the store cannot be read); read from the database at most every 5 s unless ``fresh``."""
    cached = getattr(service, "_ops_outbox", None)
    if not fresh and cached is not None and now_ns - cached[0] < _OUTBOX_EVERY_NS:
        return dict(cached[1])
    try:
        raw = service.store.outbox.backlog()
    except Exception as exc:
        log.debug("outbox backlog not read: %s", exc, extra={"component": "ops"})
        return {"pending": None, "folded": None, "dead": None, "oldest_age_s": None}
    oldest = raw["oldest_waiting_at"]
    out = {
        "pending": raw["pending"],
        "folded": raw["folded"],
        "dead": raw["dead"],
        "oldest_age_s": None if oldest is None else max(0.0, now_ns / _NS - oldest.timestamp()),
    }
    service._ops_outbox = (now_ns, out)  # type: ignore[attr-defined]
    return dict(out)


def circuits(service: Service, now_ns: int) -> dict[str, Any]:
    """Every breaker with its state: ``{pairs: [{symbol, timeframe, state, reason,
    changed_at}], channels: [{channel, state, failures}]}`` (state OPEN or CLOSED for a
    pair; CLOSED, OPEN, HALF_OPEN, FORCED_OPEN or DISABLED for a channel)."""
    pairs = [
        {
            "symbol": r["symbol"],
            "timeframe": r["timeframe"],
            "state": "OPEN" if r["breaker_open"] else "CLOSED",
            "reason": r["breaker_reason"] or None,
            "changed_at": r["breaker_changed_at"],
        }
        for r in service.board.pairs(now_ns)
    ]
    channels: list[dict[str, Any]] = []
    if service.notifier is not None:
        for name, breaker in service.notifier.breakers.items():
            channels.append(
                {
                    "channel": name,
                    "state": breaker.state(service.notifier.clock()).name,
                    "counts": _counts(breaker),
                }
            )
    return {"pairs": pairs, "channels": channels}


def _counts(breaker: Any) -> dict[str, int] | None:
    try:
        return dict(breaker.counts())
    except Exception:
        return None


def cycle_metrics(service: Service, now_ns: int) -> dict[str, Any]:
    """The metrics one cycle records through ``record_tick``: the uptime (the tick itself is
    the heartbeat), and
    montalaq's own sections -- ``montalaq`` (cycle duration, operational state, pair and
    breaker counts, outbox backlog, delivery failures, trade counts), ``pairs`` (per pair
    ``SYMBOL:TF.lag_s``, ``.freshness`` 0/1/2 and ``.breaker_open``), ``channels`` (per
    channel ``NAME.breaker_open``) and ``errors`` (error reports by code since start)."""
    symbols, last = service.engine.last_trades()
    last_tick = dict(zip(symbols, last, strict=True))
    pairs: dict[str, float] = {}
    colours = {"GREEN": 0, "AMBER": 0, "RED": 0}
    open_breakers = 0
    for r in service.board.pairs(now_ns):
        key = f"{r['symbol']}:{r['timeframe']}"
        tick = int(last_tick.get(r["symbol"], 0) or 0)
        if tick > 0:
            pairs[f"{key}.lag_s"] = max(0.0, (now_ns - tick) / _NS)
        colour = str(r["freshness"])
        pairs[f"{key}.freshness"] = _COLOUR_CODE.get(colour, 2)
        colours[colour] = colours.get(colour, 0) + 1
        pairs[f"{key}.breaker_open"] = 1.0 if r["breaker_open"] else 0.0
        open_breakers += int(bool(r["breaker_open"]))
    channels: dict[str, float] = {}
    delivery_failures = None
    if service.notifier is not None:
        for name, breaker in service.notifier.breakers.items():
            closed = breaker.state(service.notifier.clock()).name == "CLOSED"
            channels[f"{name}.breaker_open"] = 0.0 if closed else 1.0
        st = service.notifier.stats
        delivery_failures = st.transient_failures + st.dead
    backlog = outbox_backlog(service, now_ns)
    state = service.state.name
    uptime_s = max(0.0, time.monotonic() - service._started_mono_s)
    return {
        # No heartbeat.last_tick: the monitoring stamps each tick with its own (wall) clock,
        # which is the heartbeat also when the cycle runs on a replay's faster clock.
        "heartbeat": {"uptime_seconds": uptime_s},
        "montalaq": {
            "cycle_seconds": service._last_cycle_s,
            "state": STATE_CODES.get(state, -1),
            "pairs": sum(colours.values()),
            "pairs_green": colours["GREEN"],
            "pairs_amber": colours["AMBER"],
            "pairs_red": colours["RED"],
            "pair_breakers_open": open_breakers,
            "channel_breakers_open": sum(channels.values()),
            "outbox_pending": backlog["pending"],
            "outbox_folded": backlog["folded"],
            "outbox_dead": backlog["dead"],
            "outbox_oldest_age_s": backlog["oldest_age_s"],
            "delivery_failures": delivery_failures,
            "trades_ingested": service.stats.trades_ingested,
            "trades_rejected": service.stats.trades_rejected,
            "store_errors": service.stats.store_errors,
            "provider_errors": service.stats.provider_errors,
        },
        "pairs": pairs,
        "channels": channels,
        "errors": dict(service._errors_by_code),
    }


def _analysis_row(a: Any) -> dict[str, Any]:
    return {
        "symbol": a.symbol,
        "timeframe": a.timeframe,
        "bar_ts": a.bar_ts,
        "status": a.status.value,
        "final_decision": None if a.final_decision is None else a.final_decision.value,
        "composite_score": a.composite_score,
        "error_code": a.error_code,
        "updated_at": a.updated_at,
    }


def alerts_view(service: Service, recent: int = 50) -> dict[str, Any]:
    """``{enabled, active: [alert], recent: [alert]}``: the alerts firing now and the newest
    ``recent`` alert lines (FIRING and RESOLVED, newest first) of the alert log; each alert
    ``{id, timestamp, severity, rule, message, context, acknowledged}``."""
    mon = service.monitoring
    if mon is None:
        return {"enabled": False, "active": [], "recent": []}
    active = [a.to_dict() for a in mon.active_alerts()]
    lines = mon.alert_log.read()
    return {"enabled": True, "active": active, "recent": [a.to_dict() for a in lines[-recent:]][::-1]}


def health_snapshot(service: Service, *, decisions: int = 20) -> dict[str, Any]:
    """``{state, reason, entered_at, failing, last_decisions, dedup_events_last_60min,
    circuits, outbox, alerts_active, monitoring}`` (docs/operations.md). Parts the store
    cannot answer are None, never an error: the snapshot is what an operator reads when
    something is wrong."""
    now_ns = service.now()
    lc = service.lifecycle
    failing = {n: r.to_dict() for n, r in lc.failing().items()}
    try:
        last_decisions: list[dict[str, Any]] | None = [
            _analysis_row(a) for a in service.store.recent_analyses(decisions)
        ]
    except Exception:
        last_decisions = None
    try:
        dedup: int | None = service.store.count_dedup_events(datetime_utc(now_ns) - timedelta(minutes=60))
    except Exception:
        dedup = None
    backlog = outbox_backlog(service, now_ns, fresh=True)
    mon = service.monitoring
    return {
        "state": service.state.name,
        "reason": lc.reason,
        "entered_at": lc.entered_at,
        "failing": failing,
        "last_decisions": last_decisions,
        "dedup_events_last_60min": dedup,
        "circuits": circuits(service, now_ns),
        "outbox": {
            "pending": backlog["pending"],
            "oldest_age_s": backlog["oldest_age_s"],
            "dead": backlog["dead"],
        },
        "alerts_active": 0 if mon is None else len(mon.active_alerts()),
        "monitoring": None if mon is None else monitoring_status(mon),
    }


def monitoring_status(mon: Any) -> dict[str, Any]:
    """The monitoring worker's counters and the metric names it did not recognise."""
    st = mon.status()
    return {
        "stats": st["stats"],
        "queue": st["queue"],
        "rules": st["rules"],
        "unknown_metrics": sorted(getattr(mon, "unknown_metrics", set())),
        "last_tick": st["last_tick"],
    }


def error_summary(service: Service) -> dict[str, Any]:
    """``{errors: [...], open: n}``: the error summary of the store (one row per error
    type; see :meth:`montalaq.store.Store.error_summary`) and how many are open."""
    rows = service.store.error_summary()
    return {"errors": rows, "open": sum(1 for r in rows if not r["is_resolved"])}


__all__ = [
    "SERVICE_RULES",
    "STATE_CODES",
    "alerts_view",
    "circuits",
    "cycle_metrics",
    "error_summary",
    "health_snapshot",
    "monitoring_status",
    "outbox_backlog",
]
