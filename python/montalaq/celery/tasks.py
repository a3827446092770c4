"""The bodies of montalaq's Celery tasks, as plain functions of a :class:`Runtime`
(``install`` wraps them in Celery tasks; tests and benchmarks may call them directly):
:func:`tick` (:mod:`montalaq.celery.tick`), :func:`analyse` -- one analysis of one closed
bar, idempotent per bar, its signal notified at most once -- and :func:`give_up`,
:func:`deliver` (one outbox delivery pass); ``kpi_rollup`` is in :mod:`montalaq.celery.kpi`,
the escalation in :mod:`montalaq.celery.escalation`. docs/semantics.md, "Celery" ("Tick",
"Analyses", "Locks that expire", "Delivery") says what each guarantees and why.
"""

from __future__ import annotations

import logging
import math
import time
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from montalaq._time import datetime_utc
from montalaq.celery.runtime import Runtime
from montalaq.celery.state import pair_field
from montalaq.celery.tick import Enqueue, tick
from montalaq.cycle import code_name as _code_name
from montalaq.errors import ErrorCode
from montalaq.notify import SignalDecision
from montalaq.records import Analysis, AnalysisStatus
from montalaq.shapes import AnalyseResult, DeliverReport

log = logging.getLogger("montalaq.celery")

_NS = 1_000_000_000


# ------------------------------------------------------------------------------ analysis


@dataclass(frozen=True)
class BarSnapshot:
    """The closed bar an analysis reads: open time (int ns), close and ATR (NaN while
    undefined), as the tick saw them."""

    start_ns: int
    close: float
    atr: float


def _signal(rt: Runtime, analysis: Analysis) -> SignalDecision | None:
    """The signal hook on a finished analysis, tried three times (0.2 s, 0.4 s apart);
    raises the last error."""
    if analysis.status is not AnalysisStatus.COMPLETE:
        return None
    for attempt in range(3):
        try:
            return rt.signal_hook.on_analysis(analysis, now=datetime_utc(rt.now_ns()))
        except Exception:
            if attempt == 2:
                raise
            time.sleep(0.2 * 2**attempt)
    return None  # pragma: no cover - the loop returns or raises


def analyse(rt: Runtime, request: Mapping[str, Any], task_id: str) -> AnalyseResult:
    """Analyse one bar (docs/semantics.md, "Celery", "Analyses"). ``request``: what the
    tick queued. Returns ``{status, ...}`` with status ``done``/``busy`` (a duplicate:
    nothing done), ``wait`` (retry later: the pair's previous bar is not finished),
    ``store_error`` (retry later), ``skipped_breaker`` (the pair's breaker is open) or
    ``COMPLETE``/``FAILED``."""
    state = rt.state
    sym, tf, start = str(request["symbol"]), str(request["timeframe"]), int(request["start_ns"])
    raw_prev = request.get("prev_start_ns")
    queued = int(request.get("queued_wall_ns") or 0)
    prev = None
    if raw_prev is not None and time.time_ns() - queued < rt.options.order_wait_s * _NS:
        prev = int(raw_prev)
    verdict = state.claim(sym, tf, start, prev, task_id, rt.options.analysis_lease_s)
    if verdict in ("done", "busy"):
        state.incr("analyses_duplicate")
        return {"status": verdict}
    if verdict == "wait":
        state.incr("analyses_order_waits")
        return {"status": "wait"}
    if state.client.sismember(state.key("breakers"), pair_field(sym, tf)):
        # The breaker opened after the tick queued the bar: analyses of the pair stop now.
        state.finish(sym, tf, start, rt.options.claim_ttl_s)
        state.incr("bars_skipped_breaker")
        return {"status": "skipped_breaker", "symbol": sym, "timeframe": tf}
    redelivered = verdict == "again"
    if redelivered:
        state.incr("analyses_redelivered")
        log.warning(
            "analysis of %s %s @%d redelivered (its worker died): running it again",
            sym,
            tf,
            start,
            extra={"component": "celery", "symbol": sym, "timeframe": tf},
        )
    features = dict(request.get("features") or {})
    decision: SignalDecision | None
    rt.operational_state()
    try:
        analysis = rt.analysis_runner().run(sym, tf, _snapshot(request), features)
        decision = _signal(rt, analysis)
    except Exception as exc:  # the store (or the hook's Redis) failed: the analysis is retried
        return _store_error(rt, sym, tf, start, exc)
    rt.lifecycle.report("database", None)
    if analysis.status is AnalysisStatus.FAILED:
        state.push_failure(sym, tf, rt.now_ns(), analysis.error_code or ErrorCode.UNKNOWN.name)
        state.incr("analyses_failed")
    else:
        state.incr("analyses_complete")
    state.finish(sym, tf, start, rt.options.claim_ttl_s)
    if decision is SignalDecision.NOTIFIED:
        state.incr("signals_notified")
        rt.request_delivery()
    return {
        "status": analysis.status.value,
        "symbol": sym,
        "timeframe": tf,
        "bar_ts": analysis.bar_ts.isoformat(),
        "composite_score": analysis.composite_score,
        "signal": None if decision is None else decision.value,
        "redelivered": redelivered,
    }


def _snapshot(request: Mapping[str, Any]) -> BarSnapshot:
    close, atr = request.get("close"), request.get("atr")
    return BarSnapshot(
        int(request["start_ns"]),
        math.nan if close is None else float(close),
        math.nan if atr is None else float(atr),
    )


def _store_error(rt: Runtime, sym: str, tf: str, start: int, exc: Exception) -> AnalyseResult:
    """The analysis could not be stored: its claim is given back for the retry."""
    rt.lifecycle.report("database", exc)
    rt.state.release(sym, tf, start, rt.options.claim_ttl_s)
    rt.state.incr("analyses_store_errors")
    log.warning(
        "analysis of %s %s not stored: %s: %s",
        sym,
        tf,
        type(exc).__name__,
        exc,
        extra={"component": "celery", "symbol": sym, "timeframe": tf},
    )
    return {
        "status": "store_error",
        "error_code": _code_name(exc),
        "error": f"{type(exc).__name__}: {exc}",
    }


def give_up(rt: Runtime, request: Mapping[str, Any], error_code: str) -> None:
    """After the last store retry: record the analysis as a failure of its pair."""
    sym, tf = str(request["symbol"]), str(request["timeframe"])
    # Settled: the pair's next bar must not wait order_wait_s for this one.
    rt.state.finish(sym, tf, int(request["start_ns"]), rt.options.claim_ttl_s)
    rt.state.push_failure(sym, tf, rt.now_ns(), error_code)
    rt.state.incr("analyses_dropped")
    log.error(
        "analysis of %s %s @%s dropped after %d store retries (%s)",
        sym,
        tf,
        request.get("start_ns"),
        rt.options.store_retries,
        error_code,
        extra={"component": "celery", "symbol": sym, "timeframe": tf, "error_code": error_code},
    )


# ------------------------------------------------------------------------------ delivery


def deliver(rt: Runtime) -> DeliverReport:
    """One delivery pass of the outbox (leases + SKIP LOCKED on PostgreSQL: workers never
    send the same row twice); returns how many rows went out."""
    done = rt.notifier.deliver_once()
    if done:
        rt.state.incr("notifications_delivered", done)
    return {"delivered": done}


__all__ = ["BarSnapshot", "Enqueue", "analyse", "deliver", "give_up", "tick"]
