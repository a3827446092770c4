"""What the one-process service keeps in the store: the board and the pairs' last error
codes as a snapshot in ``service_state`` (docs/semantics.md, "State that survives a
restart"), and each pair's ``ingestion_status`` row after an evaluation."""

from __future__ import annotations

import json
import logging
from typing import TYPE_CHECKING

from montalaq import cycle
from montalaq._time import datetime_utc
from montalaq.health import EscalationBoard
from montalaq.timeframes import parse_timeframe

if TYPE_CHECKING:
    from montalaq.service.core import Service

log = logging.getLogger("montalaq.service")

_BOARD_STATE = "board"
_STATE_FORMAT = 1


def save_state(service: Service) -> bool:
    """:meth:`Service.save_state`."""
    errors = [[s, t, at, code] for (s, t), (at, code) in service._last_errors().items()]
    doc = {"format": _STATE_FORMAT, "board": service.board.to_json(), "last_errors": errors}
    try:
        service.store.save_service_state(_BOARD_STATE, json.dumps(doc), now=datetime_utc(service.now()))
        service.incidents.store_worked()
    except Exception as exc:
        service.incidents.store_failed(exc)
        log.warning("board snapshot not saved: %s", exc, extra={"component": "service"})
        return False
    return True


def restore_state(service: Service) -> bool:
    """:meth:`Service.restore_state`."""
    try:
        saved = service.store.load_service_state(_BOARD_STATE)
    except Exception as exc:
        log.warning("board snapshot not read: %s", exc, extra={"component": "service"})
        return False
    if saved is None:
        return False
    try:
        board, errors = _board_of(service, saved[0])
    except (ValueError, KeyError, TypeError) as exc:
        log.warning("board snapshot not restored: %s", exc, extra={"component": "service"})
        return False
    with service._step_lock, service._lock:
        service.board = board
        service._last_error.update({k: v for k, v in errors.items() if k[0] in service.symbols})
    log.info(
        "board restored from the snapshot of %s (%d breaker(s) open)",
        saved[1].isoformat(),
        sum(1 for r in board.pairs(service.now()) if r["breaker_open"]),
        extra={"component": "service"},
    )
    return True


def _board_of(service: Service, saved: str) -> tuple[EscalationBoard, dict[tuple[str, str], tuple[int, str]]]:
    """The board and last errors of a snapshot, for the pairs configured today and with
    today's thresholds (ValueError, KeyError or TypeError when it is damaged)."""
    doc = json.loads(saved)
    if not isinstance(doc, dict) or doc.get("format") != _STATE_FORMAT:
        raise ValueError(f"not a montalaq service state (format {_STATE_FORMAT})")
    board_doc = json.loads(doc["board"])
    board_doc["config"]["auto_close_cycles"] = service.settings.breaker_auto_close_cycles
    tf_ns = {parse_timeframe(t) for t in service.timeframes}
    board_doc["pairs"] = [
        p for p in board_doc["pairs"] if p["symbol"] in service.symbols and p["tf_ns"] in tf_ns
    ]
    board = EscalationBoard.from_json(json.dumps(board_doc))
    service._add_pairs(board)  # the settings' calendars win over the snapshot's
    errors = {(str(s), str(t)): (int(at), str(code)) for s, t, at, code in doc["last_errors"]}
    return board, errors


def persist_pairs(service: Service, now_ns: int, only: tuple[str, str] | None = None) -> None:
    """Upsert the ``ingestion_status`` row of every pair (or of ``only``); a store error is
    logged and counted (the next evaluation writes every row again)."""
    symbols, last = service.engine.last_trades()
    last_tick = dict(zip(symbols, last, strict=True))
    rows = cycle.status_rows(
        service.board,
        now_ns,
        None if only is None else [only],
        last_tick=lambda s: last_tick.get(s) or None,
        errors=service._last_errors(),
        provider_of=service.provider_name,
    )
    try:
        cycle.write_status(service.store, rows, now_ns)
        service.incidents.store_worked()
    except Exception as exc:
        service.incidents.store_failed(exc)
        log.exception("ingestion_status not written", extra={"component": "service"})
