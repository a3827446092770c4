"""Sending one channel's due outbox rows under its guards: the rate limit (rows over it are
FOLDED for a digest), the channel's breaker (rows wait for its cooldown), and what a failed
send leaves behind -- a retry with backoff, or a DEAD row (docs/semantics.md,
"Notifications": row life, retries, breaker per channel)."""

from __future__ import annotations

import logging
from datetime import datetime, timedelta
from typing import TYPE_CHECKING

from montalaq._time import datetime_utc
from montalaq.notify.message import DeliveryError, Message
from montalaq.notify.stats import DeliveryStats

if TYPE_CHECKING:
    from montalaq.notify.channels import Channel
    from montalaq.notify.notifier import Notifier
    from montalaq.store.outbox import OutboxRow

log = logging.getLogger("montalaq.notify")

_NS = 1_000_000_000


def clock_now(n: Notifier) -> tuple[int, datetime]:
    """The notifier's clock now, as int ns and as an aware datetime."""
    ns = n.clock()
    return ns, datetime_utc(ns)


def room(n: Notifier, name: str, now_ns: int) -> bool:
    """Whether the rate limit has room, asked without taking a slot (when the limiter
    can say), so that a breaker probe is never spent on a send the limit then stops."""
    remaining = getattr(n.rate_limiter, "remaining", None)
    return True if remaining is None else bool(remaining(name, now_ns) > 0)


def describe(exc: BaseException) -> str:
    """``exc`` as a row's ``last_error`` and a log line may show it."""
    # DeliveryError texts are scrubbed by the channels; anything else is described by its
    # type only, since its text might quote a secret.
    if isinstance(exc, DeliveryError):
        return str(exc)
    return f"{type(exc).__name__} (unexpected error in channel)"


def unsendable(exc: BaseException) -> bool:
    """An error the same payload raises on every try: the row goes DEAD at once and the
    channel's breaker hears nothing (the channel was never reached)."""
    if isinstance(exc, DeliveryError):
        return bool(exc.permanent)
    return isinstance(exc, ValueError | TypeError | RecursionError | KeyError | UnicodeError)


def send_pending(n: Notifier, channel: Channel, stuck_logged: set[int]) -> int:
    """Claim ``channel``'s due PENDING rows and send them one by one while the rate limit
    and the breaker allow; the rest are folded or released. Sends are marked every
    ``mark_every`` rows. ``stuck_logged``: rows already logged at ERROR for retrying past
    ``max_attempts`` (logged once). Returns how many rows went out."""
    name = channel.name
    breaker = n.breakers[name]
    outbox = n.store.outbox
    done = 0
    now_ns, now = clock_now(n)
    rows = outbox.claim(name, now, n.batch_size, n.lease_s)
    sent: list[int] = []
    try:
        for i, row in enumerate(rows):
            now_ns, now = clock_now(n)
            if not room(n, name, now_ns):
                outbox.fold([r.id for r in rows[i:]])
                n.stats.folded += len(rows) - i
                break
            if not breaker.allow(now_ns):
                retry_ns = breaker.retry_after_ns(now_ns) or int(n.poll_interval_s * _NS)
                outbox.release([r.id for r in rows[i:]], now + timedelta(microseconds=retry_ns // 1000))
                n.stats.breaker_skips += 1
                break
            if not n.rate_limiter.try_acquire(name, now_ns):
                outbox.fold([r.id for r in rows[i:]])
                n.stats.folded += len(rows) - i
                break
            try:
                channel.send(Message.from_payload(row.payload))
            except Exception as exc:
                failed_row(n, channel, row, exc, now_ns, stuck_logged)
                continue
            breaker.record_success(now_ns)
            sent.append(row.id)
            if len(sent) >= n.mark_every:
                outbox.mark_sent(sent, now)
                _count_sent(n.stats, name, len(sent))
                done += len(sent)
                sent = []
    finally:
        if sent:
            _, now = clock_now(n)
            outbox.mark_sent(sent, now)
            _count_sent(n.stats, name, len(sent))
            done += len(sent)
    return done


def _count_sent(stats: DeliveryStats, name: str, k: int) -> None:
    stats.sent += k
    stats.per_channel_sent[name] = stats.per_channel_sent.get(name, 0) + k


def failed_row(
    n: Notifier, channel: Channel, row: OutboxRow, exc: BaseException, now_ns: int, stuck_logged: set[int]
) -> None:
    """One row's send failed: DEAD at once when no retry can send it, else retried later
    with backoff (``Retry-After`` honoured up to the policy's cap); the breaker hears the
    outcome."""
    breaker = n.breakers[channel.name]
    _, now = clock_now(n)
    reason = describe(exc)
    if unsendable(exc):
        # A configuration problem (bad address, 4xx): the channel is up, so the breaker
        # hears a success; a payload no retry can send never reached it: nothing. The
        # row is kept as DEAD for an operator to look at (`montalaq outbox`).
        if isinstance(exc, DeliveryError):
            breaker.record_success(now_ns)
        n.store.outbox.mark_dead([row.id], reason)
        n.stats.dead += 1
        log.error(
            "notification to %s failed permanently: %s",
            channel.name,
            reason,
            extra={
                "component": "notify",
                "idempotency_key": row.idempotency_key,
                "correlation_id": row.correlation_id,
            },
        )
        return
    breaker.record_failure(now_ns)
    attempt = row.attempts + 1
    delay_s = n.retry.backoff_s(attempt)
    if isinstance(exc, DeliveryError) and exc.retry_after_s is not None:
        delay_s = max(delay_s, min(exc.retry_after_s, n.retry.max_delay_s))
    n.store.outbox.retry_later(row.id, now + timedelta(seconds=delay_s), reason)
    n.stats.transient_failures += 1
    level = logging.WARNING
    if attempt >= n.retry.max_attempts and row.id not in stuck_logged:
        stuck_logged.add(row.id)
        level = logging.ERROR
    log.log(
        level,
        "notification to %s failed (attempt %d), retry in %.1fs: %s",
        channel.name,
        attempt,
        delay_s,
        reason,
        extra={
            "component": "notify",
            "idempotency_key": row.idempotency_key,
            "correlation_id": row.correlation_id,
        },
    )


__all__ = ["clock_now", "describe", "failed_row", "room", "send_pending", "unsendable"]
