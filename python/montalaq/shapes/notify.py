"""The notifications' records: the error throttle's digests, recoveries and summary, the
outbox's payload and the store's dedupe and error rows (docs/semantics.md, "Guards",
"Notifications")."""

from datetime import datetime
from typing import Any, NotRequired

from typing_extensions import TypedDict

from montalaq.shapes.common import IsoTime


class DigestEntry(TypedDict):
    """One error type of a throttle digest (``ErrorThrottle.flush``)."""

    error_type: str
    count: int
    first_seen: datetime
    last_seen: datetime
    message: str
    resolved_at: datetime | None


class ThrottleRecovery(TypedDict):
    """The recovery message of an error type (``ErrorThrottle.resolve``): ``count``
    occurrences in the episode."""

    error_type: str
    resolved_at: datetime
    since: datetime
    last_seen: datetime
    count: int


class ThrottleSummaryRow(TypedDict):
    """One error type of ``ErrorThrottle.summary``."""

    error_type: str
    first_occurrence: datetime
    last_occurrence: datetime
    count: int
    notifications_sent: int
    resolved: bool
    resolved_at: datetime | None


class DigestItemDoc(TypedDict):
    """One folded event as a digest lists it (``DigestItem.to_dict``)."""

    idempotency_key: str
    kind: str
    title: str
    severity: str
    created_at: IsoTime


class MessagePayload(TypedDict):
    """The JSON document the generic webhook posts and the outbox stores
    (``Message.to_payload``); a digest adds ``count`` and ``items``."""

    idempotency_key: str
    kind: str
    severity: str
    title: str
    text: str
    fields: dict[str, Any]  # the producer's key/values, shown by the channel
    error_code: str | None
    correlation_id: str | None
    created_at: IsoTime
    count: NotRequired[int]
    items: NotRequired[list[DigestItemDoc]]


class DedupEventRow(TypedDict):
    """A ``dedup_events`` row (``Store.dedup_events``)."""

    id: int
    created_at: datetime
    key: str
    correlation_id: str | None
    symbol: str | None
    action: str  # ALLOWED or DEDUPED
    payload_json: dict[str, Any] | None  # what the caller recorded with the decision


class ErrorEpisodeFields(TypedDict):
    """What an episode of an error type says: the stored row's fields without its id (the
    error summary's items carry them too)."""

    error_type: str
    error_message: str
    first_occurrence: datetime
    last_occurrence: datetime
    occurrence_count: int
    last_notification_sent: datetime | None
    notification_count: int
    is_resolved: bool
    resolved_at: datetime | None


class ErrorEpisodeRow(ErrorEpisodeFields):
    """An ``error_notifications_log`` row, one episode of an error type (``Store.error_episodes``)."""

    id: int


__all__ = [
    "DedupEventRow",
    "DigestEntry",
    "DigestItemDoc",
    "ErrorEpisodeFields",
    "ErrorEpisodeRow",
    "MessagePayload",
    "ThrottleRecovery",
    "ThrottleSummaryRow",
]
