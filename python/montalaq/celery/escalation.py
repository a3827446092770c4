"""The escalation task: one evaluation of the board the workers share, by one worker at a
time under a Redis lock, through :func:`montalaq.cycle.escalate` (docs/semantics.md,
"Celery", "Escalation", its steps and decisions). Its parts: the board in Redis
(:mod:`~montalaq.celery.board`), the host (:mod:`~montalaq.celery.board_host`), pending
events (:mod:`~montalaq.celery.events`), status rows (:mod:`~montalaq.celery.status`),
colours, metrics and the breaker tasks (:mod:`~montalaq.celery.breakers`), whose public
names this module still exports."""

from __future__ import annotations

import logging
import time
from typing import TYPE_CHECKING

from montalaq.celery.board import BoardCache, BoardConflictError, index_board, load_board, new_board
from montalaq.celery.board_host import RedisBoardHost
from montalaq.celery.breakers import breaker_tick, close_breaker
from montalaq.celery.colours import board_ticks, colour_codes, colours
from montalaq.celery.events import notify_event, notify_pending
from montalaq.celery.metrics import record_metrics
from montalaq.celery.state import release
from montalaq.celery.state import text as text_of
from montalaq.celery.status import board_status_rows, write_rows
from montalaq.cycle import (
    FRESHNESS_CODE,
    StatusRow,
    channel_changes,
    channel_error_type,
    escalate,
    upsert_status,
    write_status,
)
from montalaq.health import OpState
from montalaq.shapes import EvaluationReport

if TYPE_CHECKING:
    from montalaq.celery.runtime import Runtime

log = logging.getLogger("montalaq.celery")


def evaluate(rt: Runtime) -> EvaluationReport:
    """One escalation cycle (docs/semantics.md, "Celery", "Escalation") through
    :func:`montalaq.cycle.escalate`; returns what it did."""
    t0 = time.perf_counter()
    st = rt.operational_state()
    if st in (OpState.ERROR, OpState.SHUTDOWN):
        return {"evaluated": False, "reason": f"worker {st.name}: {rt.lifecycle.reason}"}
    state = rt.state
    lock = state.lock("board", rt.options.lock_timeout_s)
    if not lock.acquire(blocking=False):
        state.incr("escalation_busy")
        return {"evaluated": False, "reason": "another evaluation holds the board lock"}
    status: list[StatusRow] = []
    saved = False
    try:
        notify_pending(rt)
        now = rt.now_ns()
        host = _board_host(rt)
        cache = host.cache
        try:
            esc = escalate(cache.board, host, now)
        except BoardConflictError as exc:
            state.incr("escalation_conflicts")
            log.warning("escalation result dropped: %s", exc, extra={"component": "celery"})
            return {"evaluated": False, "reason": str(exc)}
        saved = True
        state.incr("escalation_cycles")
        state.incr("escalation_events", len(esc.events))
        status = board_status_rows(rt, cache, host.which, now, host.ticks(), esc.errors)
        _observe_channels(rt)
        record_metrics(rt, cache, host.ticks(), host.codes, now, time.perf_counter() - t0)
        report: EvaluationReport = {
            "evaluated": True,
            "now_ns": now,
            "pairs": len(cache.board),
            "failures": host.failures,
            "events": len(esc.events),
            "notified": esc.notified,
            "breakers_open": sum(1 for e in esc.events if e["kind"] == "breaker_open"),
        }
    finally:
        if not saved:
            # The cached board was changed in place (failures, evaluation) but not saved:
            # reusing it would apply the same failures twice. Reload from Redis next time.
            rt.board_cache = None
        release(lock, "board")
    report["status_rows"] = write_rows(rt, lambda: write_status(rt.store, status, now), forget="colours")
    report["seconds"] = time.perf_counter() - t0
    if report["notified"]:
        rt.request_delivery()
    return report


def _board_host(rt: Runtime) -> RedisBoardHost:
    """The host of this evaluation (call with the board lock held): the board loaded, the
    failures the workers queued applied to it with their time and error code, and each
    pair's last trade time from the last tick."""
    cache = load_board(rt)
    board = cache.board
    failures = rt.state.failures()
    failed_pairs: set[int] = set()
    for sym, tf, at_ns, code in failures:
        board.record_failure(sym, tf, at_ns, code)
        i = cache.index.get((sym, tf))
        if i is not None:
            failed_pairs.add(i)
    ticks = board_ticks(rt, cache)
    if len(ticks) != len(board):  # record_failure registered a pair the watchlist lacks
        wl = rt.watchlist
        cache = index_board(board, cache.version, wl.pairs(), cache.freshness, wl.calendars())
        rt.board_cache = cache
        ticks = board_ticks(rt, cache)
    host = RedisBoardHost(rt, cache, len(failures), ticks)
    host.failed_pairs = failed_pairs
    return host


def _observe_channels(rt: Runtime) -> None:
    """The shared channel breakers (call with the board lock held): an outage is reported
    once per episode, a recovery resolved once, cluster-wide."""
    state = rt.state
    key = state.key("failing_channels")
    before = {text_of(m) for m in state.client.smembers(key)}
    opened, closed = channel_changes(rt.notifier, before)
    for name in opened:
        state.client.sadd(key, name)
        state.client.hincrby(state.key("errors_by_code"), channel_error_type(name), 1)
        try:
            rt.notifier.report_error(channel_error_type(name), f"channel {name}: its breaker opened")
        except Exception:
            log.exception("could not report channel %s", name, extra={"component": "celery"})
    for name in closed:
        state.client.srem(key, name)
        try:
            rt.notifier.resolve_error(channel_error_type(name))
        except Exception:
            log.exception("could not resolve channel %s", name, extra={"component": "celery"})


__all__ = [
    "FRESHNESS_CODE",
    "BoardCache",
    "StatusRow",
    "breaker_tick",
    "close_breaker",
    "colour_codes",
    "colours",
    "evaluate",
    "load_board",
    "new_board",
    "notify_event",
    "notify_pending",
    "upsert_status",
    "write_status",
]
