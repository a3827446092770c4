"""Per-pair breakers outside the evaluation: the operator's close of one pair, and the
``breakers`` task that reconciles the shared open-breaker set and the ``breaker_open``
column of ``ingestion_status`` with the board (docs/semantics.md, "Celery", "Escalation";
docs/operations.md, "Scale-out on Celery")."""

from __future__ import annotations

import json
import logging
from typing import TYPE_CHECKING

from montalaq._time import datetime_utc
from montalaq.celery.board import event_json, load_board, save_board
from montalaq.celery.colours import board_ticks
from montalaq.celery.events import notify_pending
from montalaq.celery.state import pair_field, release
from montalaq.celery.state import text as text_of
from montalaq.celery.status import board_status_rows
from montalaq.cycle import write_status
from montalaq.shapes import BreakerCloseDoc, BreakerTickReport, EventDoc
from montalaq.timeframes import parse_timeframe, timeframe_label

if TYPE_CHECKING:
    from montalaq.celery.runtime import Runtime

log = logging.getLogger("montalaq.celery")


def close_breaker(rt: Runtime, symbol: str, timeframe: str, by: str = "operator") -> BreakerCloseDoc:
    """Operator close of one pair's breaker (docs/semantics.md, "Health core"): ``{symbol,
    timeframe, closed, breaker_open, event}``; the close is notified and written to
    ``ingestion_status``. ValueError for a pair not in the watchlist; TimeoutError when the
    board stays locked."""
    tf = timeframe_label(parse_timeframe(timeframe))
    if (symbol, tf) not in set(rt.watchlist.pairs()):
        raise ValueError(
            f"pair: ({symbol!r}, {tf!r}) is not in the watchlist; watched: {rt.watchlist.pairs()}"
        )
    state = rt.state
    lock = state.lock("board", rt.options.lock_timeout_s)
    if not lock.acquire(blocking=True, blocking_timeout=rt.options.lock_timeout_s):
        raise TimeoutError(f"board lock not acquired within {rt.options.lock_timeout_s} s")
    try:
        now = rt.now_ns()
        cache = load_board(rt)
        event = cache.board.close_breaker(symbol, tf, by=by, now=now)
        if event is not None:
            save_board(rt, cache, events=[event])
            notify_pending(rt)
            i = cache.index[(symbol, tf)]
            rows = board_status_rows(rt, cache, [i], now, board_ticks(rt, cache), state.last_errors())
        is_open = cache.board.breaker_open(symbol, tf)
    finally:
        release(lock, "board")
    if event is not None:
        write_status(rt.store, rows, now)
        rt.request_delivery()
        log.info(
            "breaker %s %s closed by %s", symbol, tf, by, extra={"component": "celery", "symbol": symbol}
        )
    return {
        "symbol": symbol,
        "timeframe": tf,
        "closed": event is not None,
        "breaker_open": is_open,
        "event": None if event is None else _event_doc(event_json(event)),
    }


def _event_doc(text: str) -> EventDoc:
    doc: EventDoc = json.loads(text)
    return doc


def breaker_tick(rt: Runtime) -> BreakerTickReport:
    """The breaker task: reconcile the shared open-breaker set and the ``breaker_open``
    column of ``ingestion_status`` with the board; returns the open breakers."""
    state = rt.state
    lock = state.lock("board", rt.options.lock_timeout_s)
    if not lock.acquire(blocking=False):
        return {"checked": False, "reason": "the board is locked"}
    try:
        raw_version = state.client.get(state.key("board", "version"))
        if raw_version is None:
            return {"checked": True, "open": []}
        now = rt.now_ns()
        cache = load_board(rt)
        rows = cache.board.pairs(now)
        open_now = {pair_field(str(r["symbol"]), str(r["timeframe"])) for r in rows if r["breaker_open"]}
        in_set = {text_of(m) for m in state.client.smembers(state.key("breakers"))}
        pipe = state.client.pipeline(transaction=True)
        if open_now - in_set:
            pipe.sadd(state.key("breakers"), *(open_now - in_set))
        if in_set - open_now:
            pipe.srem(state.key("breakers"), *(in_set - open_now))
        pipe.execute()
    finally:
        release(lock, "board")
    fixed = 0
    try:
        stored = {(r["symbol"], r["timeframe"]): bool(r["breaker_open"]) for r in rt.store.ingestion_status()}
        for r in rows:
            key = (str(r["symbol"]), str(r["timeframe"]))
            if key in stored and stored[key] != bool(r["breaker_open"]):
                rt.store.upsert_ingestion_status(
                    key[0], key[1], now=datetime_utc(now), breaker_open=bool(r["breaker_open"])
                )
                fixed += 1
    except Exception:
        log.exception("breaker_open columns not reconciled", extra={"component": "celery"})
    state.incr("breaker_ticks")
    return {
        "checked": True,
        "open": sorted(open_now),
        "set_fixed": len(open_now ^ in_set),
        "rows_fixed": fixed,
    }


__all__ = ["breaker_tick", "close_breaker"]
