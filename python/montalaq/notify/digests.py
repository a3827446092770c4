"""Folded rows as digests: rows that found the channel's rate limit full go out, oldest
first and before anything still pending, as digests of up to the channel's
``max_digest_items`` whenever the window has room (docs/semantics.md, "Notifications",
rate limit and digests)."""

from __future__ import annotations

import logging
from datetime import UTC, datetime
from typing import TYPE_CHECKING

from montalaq.notify.message import DeliveryError, DigestItem, Message, Severity
from montalaq.notify.sending import clock_now, describe, room, unsendable

if TYPE_CHECKING:
    from montalaq.notify.channels import Channel
    from montalaq.notify.notifier import Notifier
    from montalaq.store.outbox import OutboxRow

log = logging.getLogger("montalaq.notify")


def send_digests(n: Notifier, channel: Channel) -> tuple[int, bool]:
    """Send ``channel``'s folded rows as digests while the rate limit has room; returns
    how many rows went out, and whether its pending rows may be sent now (False when the
    breaker refused or a digest failed)."""
    name = channel.name
    breaker = n.breakers[name]
    outbox = n.store.outbox
    done = 0
    while outbox.has_folded(name):
        now_ns, now = clock_now(n)
        if not room(n, name, now_ns):
            break  # no room: the due rows are folded too, to join the next digest
        if not breaker.allow(now_ns):
            n.stats.breaker_skips += 1
            return done, False
        # room() said yes, so this only fails when another process took the last slot of
        # a shared (Redis) window; a half-open probe then times out and re-opens.
        if not n.rate_limiter.try_acquire(name, now_ns):
            break
        folded = outbox.claim(name, now, channel.max_digest_items, n.lease_s, status="FOLDED")
        if not folded:
            break
        digest = digest_message(folded, now)
        try:
            channel.send(digest)
        except Exception as exc:
            _failed_digest(n, channel, folded, exc, now_ns)
            return done, False
        breaker.record_success(now_ns)
        outbox.mark_digested([r.id for r in folded], digest.idempotency_key, now)
        n.stats.digests += 1
        n.stats.digested_events += len(folded)
        done += len(folded)
    return done, True


def _failed_digest(
    n: Notifier, channel: Channel, rows: list[OutboxRow], exc: BaseException, now_ns: int
) -> None:
    breaker = n.breakers[channel.name]
    reason = describe(exc)
    ids = [r.id for r in rows]
    _, now = clock_now(n)
    if unsendable(exc):
        if isinstance(exc, DeliveryError):
            breaker.record_success(now_ns)
        n.store.outbox.mark_dead(ids, reason)
        n.stats.dead += len(ids)
    else:
        breaker.record_failure(now_ns)
        n.store.outbox.release(ids, now)  # still FOLDED: the next digest takes them
        n.stats.transient_failures += 1
    log.warning("digest to %s failed: %s", channel.name, reason, extra={"component": "notify"})


def digest_message(rows: list[OutboxRow], now: datetime) -> Message:
    """One digest of folded ``rows`` (one channel's, oldest first): every event listed,
    the worst severity, a key that is the same when the digest is sent again."""
    items = tuple(
        DigestItem(
            idempotency_key=r.idempotency_key,
            kind=r.kind,
            title=str(r.payload.get("title", "")),
            severity=r.severity,
            created_at=r.created_at,
        )
        for r in rows
    )
    worst = (
        "CRITICAL"
        if any(r.severity == "CRITICAL" for r in rows)
        else ("WARNING" if any(r.severity == "WARNING" for r in rows) else "INFO")
    )
    first, last = rows[0].created_at, rows[-1].created_at
    # Deterministic: a digest re-sent after a crash carries the same key.
    key = f"digest-{rows[0].channel}-{rows[0].id}-{rows[-1].id}-{len(rows)}"
    return Message(
        idempotency_key=key,
        kind="digest",
        title=f"{len(rows)} notifications held back by the rate limit",
        text=f"between {first:%Y-%m-%dT%H:%M:%SZ} and {last:%Y-%m-%dT%H:%M:%SZ}",
        severity=Severity(worst),
        fields={"count": len(rows)},
        created_at=now.astimezone(UTC),
        items=items,
    )


__all__ = ["digest_message", "send_digests"]
