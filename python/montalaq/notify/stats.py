"""What the notifier reports: the result of one ``notify`` call and the delivery counters
of this process (docs/semantics.md, "Notifications")."""

from __future__ import annotations

from dataclasses import dataclass, field


@dataclass(frozen=True)
class NotifyResult:
    """What ``notify`` did: the event's idempotency key, rows queued (one per channel;
    0 when the key was already queued), and whether dedupe dropped it."""

    idempotency_key: str
    queued: int
    deduped: bool = False


@dataclass
class DeliveryStats:
    """Counters since the notifier was created (this process only)."""

    sent: int = 0
    digests: int = 0
    digested_events: int = 0
    folded: int = 0
    transient_failures: int = 0
    dead: int = 0
    breaker_skips: int = 0
    dry_run: int = 0
    deduped: int = 0
    per_channel_sent: dict[str, int] = field(default_factory=dict)


__all__ = ["DeliveryStats", "NotifyResult"]
