"""Operator views of a running service, computed in one place for the API, the dashboard,
the CLI and ``/metrics``: the metrics each cycle records, the health snapshot, alerts and
the error summary. Shapes and meanings: docs/operations.md, "Operator views".
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from datetime import timedelta
from typing import TYPE_CHECKING, Any

from montalaq._time import datetime_utc
from montalaq.shapes import (
    AlertsView,
    Backlog,
    BreakerCounts,
    ChannelCircuit,
    Circuits,
    DecisionRow,
    ErrorSummary,
    HealthSnapshot,
    MonitoringSummary,
    OutboxBacklog,
    PairCircuit,
)

if TYPE_CHECKING:
    from montalaq.health import CircuitBreaker
    from montalaq.notify.notifier import Notifier
    from montalaq.service import Service

log = logging.getLogger("montalaq.ops")

_NS = 1_000_000_000
# The native Colour values; CLOSED (outside a market calendar's sessions) is not a severity.
_COLOUR_CODE = {"GREEN": 0, "AMBER": 1, "RED": 2, "CLOSED": 3}
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


def read_backlog(store: Any, now_ns: int) -> Backlog:
    """``{pending, folded, dead, oldest_age_s}`` of a store's outbox (None values when the
    store cannot be read)."""
    try:
        raw: OutboxBacklog = store.outbox.backlog()
    except Exception as exc:
        log.debug("outbox backlog not read: %s", exc, extra={"component": "ops"})
        return {"pending": None, "folded": None, "dead": None, "oldest_age_s": None}
    oldest = raw["oldest_waiting_at"]
    return {
        "pending": raw["pending"],
        "folded": raw["folded"],
        "dead": raw["dead"],
        "oldest_age_s": None if oldest is None else max(0.0, now_ns / _NS - oldest.timestamp()),
    }


def outbox_backlog(service: Service, now_ns: int, *, fresh: bool = False) -> Backlog:
    """:func:`read_backlog` of the service's store, read at most every 5 s unless ``fresh``."""
    cached = getattr(service, "_ops_outbox", None)
    if not fresh and cached is not None and now_ns - cached[0] < _OUTBOX_EVERY_NS:
        return _copy(cached[1])
    out = read_backlog(service.store, now_ns)
    if out["pending"] is not None:
        service._ops_outbox = (now_ns, out)  # type: ignore[attr-defined]
    return _copy(out)


def _copy(backlog: Backlog) -> Backlog:
    return {
        "pending": backlog["pending"],
        "folded": backlog["folded"],
        "dead": backlog["dead"],
        "oldest_age_s": backlog["oldest_age_s"],
    }


def circuits(service: Service, now_ns: int) -> Circuits:
    """Every breaker with its state: ``{pairs: [{symbol, timeframe, state, reason,
    changed_at}], channels: [{channel, state, failures}]}`` (state OPEN or CLOSED for a
    pair; CLOSED, OPEN, HALF_OPEN, FORCED_OPEN or DISABLED for a channel)."""
    pairs: list[PairCircuit] = [
        {
            "symbol": r["symbol"],
            "timeframe": r["timeframe"],
            "state": "OPEN" if r["breaker_open"] else "CLOSED",
            "reason": r["breaker_reason"] or None,
            "changed_at": r["breaker_changed_at"],
        }
        for r in service.board.pairs(now_ns)
    ]
    channels: list[ChannelCircuit] = []
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


def _counts(breaker: CircuitBreaker) -> BreakerCounts | None:
    try:
        return breaker.counts()  # a new dict each call
    except Exception:
        return None


@dataclass
class PairView:
    """One pair as a cycle saw it (the inputs of the per-pair metrics)."""

    symbol: str
    timeframe: str
    freshness: str
    breaker_open: bool
    last_tick_ns: int | None


def metrics_of(
    now_ns: int,
    pairs: Iterable[PairView],
    *,
    state: str,
    cycle_s: float,
    uptime_s: float,
    notifier: Notifier | None,
    backlog: Backlog,
    counters: Mapping[str, Any],
    errors: Mapping[str, int],
    totals: tuple[int, int, int, int, int] | None = None,
    providers: Iterable[Mapping[str, Any]] = (),
) -> dict[str, Any]:
    """The metrics one cycle records through ``record_tick`` (docs/operations.md, "Metrics
    each cycle records"), from what any process has at hand: the uptime (the tick itself is
    the heartbeat), ``montalaq`` (cycle duration, operational state, pair and breaker
    counts, outbox backlog, delivery failures, ``counters``), ``pairs`` (per pair
    ``SYMBOL:TF.lag_s``, ``.freshness`` 0/1/2/3 and ``.breaker_open``), ``channels`` (per
    channel ``NAME.breaker_open``), ``providers`` (per streaming feed ``NAME.connected``,
    ``.messages_per_s``, ``.last_message_age_s``, ``.reconnects``, ``.parse_errors``,
    ``.dropped``, ``.gaps``) and ``errors`` (error reports by type). ``totals``
    ``(green, amber, red, closed, open breakers)`` replaces the per-pair entries with counts only
    (a board of 100,000 pairs; ``pairs`` is then ignored)."""
    pair_metrics: dict[str, float] = {}
    colours = {"GREEN": 0, "AMBER": 0, "RED": 0, "CLOSED": 0}
    open_breakers = 0
    if totals is not None:
        colours = {"GREEN": totals[0], "AMBER": totals[1], "RED": totals[2], "CLOSED": totals[3]}
        open_breakers = totals[4]
        pairs = ()
    for p in pairs:
        colours[p.freshness] = colours.get(p.freshness, 0) + 1
        open_breakers += int(p.breaker_open)
        key = f"{p.symbol}:{p.timeframe}"
        if p.last_tick_ns:
            pair_metrics[f"{key}.lag_s"] = max(0.0, (now_ns - p.last_tick_ns) / _NS)
        pair_metrics[f"{key}.freshness"] = _COLOUR_CODE.get(p.freshness, 2)
        pair_metrics[f"{key}.breaker_open"] = 1.0 if p.breaker_open else 0.0
    channels: dict[str, float] = {}
    delivery_failures = None
    if notifier is not None:
        for name, breaker in notifier.breakers.items():
            closed = breaker.state(notifier.clock()).name == "CLOSED"
            channels[f"{name}.breaker_open"] = 0.0 if closed else 1.0
        st = notifier.stats
        delivery_failures = st.transient_failures + st.dead
    return {
        # No heartbeat.last_tick: the monitoring stamps each tick with its own (wall) clock,
        # which is the heartbeat also when the cycle runs on a replay's faster clock.
        "heartbeat": {"uptime_seconds": uptime_s},
        "montalaq": {
            "cycle_seconds": cycle_s,
            "state": STATE_CODES.get(state, -1),
            "pairs": sum(colours.values()),
            "pairs_green": colours["GREEN"],
            "pairs_amber": colours["AMBER"],
            "pairs_red": colours["RED"],
            "pairs_closed": colours["CLOSED"],
            "pair_breakers_open": open_breakers,
            "channel_breakers_open": sum(channels.values()),
            "outbox_pending": backlog.get("pending"),
            "outbox_folded": backlog.get("folded"),
            "outbox_dead": backlog.get("dead"),
            "outbox_oldest_age_s": backlog.get("oldest_age_s"),
            "delivery_failures": delivery_failures,
            **counters,
        },
        "pairs": pair_metrics,
        "channels": channels,
        "providers": _provider_metrics(providers),
        "errors": dict(errors),
    }


def _provider_metrics(rows: Iterable[Mapping[str, Any]]) -> dict[str, float]:
    out: dict[str, float] = {}
    for r in rows:
        if "messages" not in r:
            continue  # a push feed: its numbers are the host's
        name = str(r["provider"])
        out[f"{name}.connected"] = 1.0 if r.get("connected") else 0.0
        for key in ("messages_per_s", "last_message_age_s", "reconnects", "parse_errors", "dropped", "gaps"):
            if r.get(key) is not None:
                out[f"{name}.{key}"] = float(r[key])
    return out


def merge_sources(
    metrics: dict[str, Any], sources: Iterable[Callable[[], Mapping[str, Any]]]
) -> dict[str, Any]:
    """Merge the host's metric sources over ``metrics`` (a section's fields over montalaq's,
    a new section added); a source that raises is logged and skipped."""
    for source in list(sources):
        try:
            extra = source()
        except Exception:
            log.exception("metrics source failed", extra={"component": "ops"})
            continue
        for section, body in dict(extra).items():
            if isinstance(body, Mapping) and isinstance(metrics.get(section), dict):
                metrics[section].update(body)
            else:
                metrics[section] = body
    return metrics


def cycle_metrics(service: Service, now_ns: int) -> dict[str, Any]:
    """:func:`metrics_of` for the one-process service at ``now_ns``."""
    symbols, last = service.engine.last_trades()
    last_tick = dict(zip(symbols, last, strict=True))
    pairs = [
        PairView(
            str(r["symbol"]),
            str(r["timeframe"]),
            str(r["freshness"]),
            bool(r["breaker_open"]),
            int(last_tick.get(r["symbol"], 0) or 0) or None,
        )
        for r in service.board.pairs(now_ns)
    ]
    st = service.stats
    return metrics_of(
        now_ns,
        pairs,
        state=service.state.name,
        cycle_s=service._last_cycle_s,
        uptime_s=max(0.0, time.monotonic() - service._started_mono_s),
        notifier=service.notifier,
        backlog=outbox_backlog(service, now_ns),
        counters={
            "trades_ingested": st.trades_ingested,
            "trades_rejected": st.trades_rejected,
            "store_errors": st.store_errors,
            "provider_errors": st.provider_errors,
        },
        errors=service.incidents.errors_by_code,
        providers=service.provider_stats(),
    )


def _analysis_row(a: Any) -> DecisionRow:
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


def alerts_view(service: Service, recent: int = 50) -> AlertsView:
    """``{enabled, active: [alert], recent: [alert]}``: the alerts firing now and the newest
    ``recent`` alert lines (FIRING and RESOLVED, newest first) of the alert log; each alert
    ``{id, timestamp, severity, rule, message, context, acknowledged}``."""
    mon = service.monitoring
    if mon is None:
        return {"enabled": False, "active": [], "recent": []}
    active = [a.to_dict() for a in mon.active_alerts()]
    lines = mon.alert_log.read()
    return {"enabled": True, "active": active, "recent": [a.to_dict() for a in lines[-recent:]][::-1]}


def health_snapshot(service: Service, *, decisions: int = 20) -> HealthSnapshot:
    """``{state, reason, entered_at, failing, last_decisions, dedup_events_last_60min,
    circuits, outbox, alerts_active, monitoring, providers, llm}`` (docs/operations.md). Parts the store
    cannot answer are None, never an error: the snapshot is what an operator reads when
    something is wrong."""
    now_ns = service.now()
    lc = service.lifecycle
    failing = {n: r.to_dict() for n, r in lc.failing().items()}
    try:
        last_decisions: list[DecisionRow] | None = [
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
        "providers": service.provider_stats(),
        "llm": None if service.analyst is None else service.analyst.stats(),
    }


def monitoring_status(mon: Any) -> MonitoringSummary:
    """The monitoring worker's counters and the metric names it did not recognise."""
    st = mon.status()
    return {
        "stats": st["stats"],
        "queue": st["queue"],
        "rules": st["rules"],
        "unknown_metrics": sorted(getattr(mon, "unknown_metrics", set())),
        "last_tick": st["last_tick"],
    }


def error_summary(service: Service) -> ErrorSummary:
    """``{errors: [...], open: n}``: the error summary of the store (one row per error
    type; see :meth:`montalaq.store.Store.error_summary`) and how many are open."""
    rows = service.store.error_summary()
    return {"errors": rows, "open": sum(1 for r in rows if not r["is_resolved"])}


__all__ = [
    "SERVICE_RULES",
    "STATE_CODES",
    "PairView",
    "alerts_view",
    "circuits",
    "cycle_metrics",
    "error_summary",
    "health_snapshot",
    "merge_sources",
    "metrics_of",
    "monitoring_status",
    "outbox_backlog",
    "read_backlog",
]
