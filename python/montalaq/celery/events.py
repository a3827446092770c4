"""The board's events waiting for the outbox: stored with the board that produced them and
removed from Redis only once queued, so a worker that dies between the two loses nothing
(the idempotency key drops a repeat; docs/semantics.md, "Celery", "Escalation")."""

from __future__ import annotations

import json
import logging
from typing import TYPE_CHECKING

from montalaq.celery.status import provider_of
from montalaq.cycle import notify_event as queue_event
from montalaq.shapes import EventDoc

if TYPE_CHECKING:
    from montalaq.celery.runtime import Runtime

log = logging.getLogger("montalaq.celery")


def notify_pending(rt: Runtime) -> int:
    """Queue the stored events in the outbox, oldest first, removing each once queued;
    returns how many (call with the board lock held). Stops at the first error (logged):
    the rest stay for the next holder."""
    state = rt.state
    key = state.key("events")
    errors = state.last_errors()
    done = 0
    while True:
        raw = state.client.lindex(key, 0)
        if raw is None:
            break
        event: EventDoc = json.loads(raw)
        try:
            notify_event(rt, event, errors.get((event["symbol"], event["timeframe"])))
        except Exception:
            log.exception(
                "could not queue the %s notification of %s %s",
                event.get("kind"),
                event.get("symbol"),
                event.get("timeframe"),
                extra={"component": "celery"},
            )
            break
        state.client.lpop(key)
        done += 1
    if done:
        state.incr("notifications_escalation", done)
    return done


def notify_event(rt: Runtime, event: EventDoc, last_error: tuple[int, str] | None) -> None:
    """Queue one level/breaker event, worded as every montalaq process words it."""
    queue_event(rt.notifier, event, last_error, provider_of(rt, event["symbol"]))


__all__ = ["notify_event", "notify_pending"]
