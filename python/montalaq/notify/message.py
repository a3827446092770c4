"""What a channel sends: one :class:`Message` (an event, or a digest of folded events).

A message is rendered by each channel into its own payload (SMTP mail, JSON POST, Slack
``text``/``blocks``, Telegram ``sendMessage``, Discord ``content``/``embeds``). Every payload
carries the message's ``idempotency_key`` (also sent as the ``Idempotency-Key`` HTTP header)
so a receiver can drop the duplicates that at-least-once delivery allows, plus
``error_code`` when there is one and the ``correlation_id``.
"""

from __future__ import annotations

import enum
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from montalaq._time import iso_z
from montalaq.shapes import DigestItemDoc, MessagePayload


class Severity(enum.Enum):
    """How loud a message is."""

    INFO = "INFO"
    WARNING = "WARNING"
    CRITICAL = "CRITICAL"


@dataclass(frozen=True)
class DigestItem:
    """One folded event as listed in a digest."""

    idempotency_key: str
    kind: str
    title: str
    severity: str
    created_at: datetime

    def to_dict(self) -> DigestItemDoc:
        return {
            "idempotency_key": self.idempotency_key,
            "kind": self.kind,
            "title": self.title,
            "severity": self.severity,
            "created_at": iso_z(self.created_at),
        }


@dataclass(frozen=True)
class Message:
    """One notification as handed to a channel.

    ``kind`` says what triggered it (``signal``, ``error``, ``recovery``, ``escalation``,
    ``breaker``, ``alert``, ``state``, ``digest``, ...). ``fields`` are extra key/values shown
    by the channel (JSON-serialisable). ``items`` is set only on digests: the folded events
    it accounts for (``text`` then summarises them).
    """

    idempotency_key: str
    kind: str
    title: str
    text: str = ""
    severity: Severity = Severity.INFO
    fields: Mapping[str, Any] = field(default_factory=dict)
    error_code: str | None = None
    correlation_id: str | None = None
    created_at: datetime = field(default_factory=lambda: datetime.now(UTC))
    items: tuple[DigestItem, ...] = ()

    def to_payload(self) -> MessagePayload:
        """The JSON document the generic webhook posts (and the outbox stores)."""
        doc: MessagePayload = {
            "idempotency_key": self.idempotency_key,
            "kind": self.kind,
            "severity": self.severity.value,
            "title": self.title,
            "text": self.text,
            "fields": dict(self.fields),
            "error_code": self.error_code,
            "correlation_id": self.correlation_id,
            "created_at": iso_z(self.created_at),
        }
        if self.items:
            doc["count"] = len(self.items)
            doc["items"] = [i.to_dict() for i in self.items]
        return doc

    @classmethod
    def from_payload(cls, doc: Mapping[str, Any]) -> Message:
        """The message back from :meth:`to_payload` (as the outbox stores it)."""
        items = tuple(
            DigestItem(
                idempotency_key=i["idempotency_key"],
                kind=i["kind"],
                title=i["title"],
                severity=i["severity"],
                created_at=datetime.fromisoformat(i["created_at"]),
            )
            for i in doc.get("items") or ()
        )
        return cls(
            idempotency_key=doc["idempotency_key"],
            kind=doc["kind"],
            title=doc["title"],
            text=doc.get("text") or "",
            severity=Severity(doc.get("severity", "INFO")),
            fields=dict(doc.get("fields") or {}),
            error_code=doc.get("error_code"),
            correlation_id=doc.get("correlation_id"),
            created_at=datetime.fromisoformat(doc["created_at"]),
            items=items,
        )

    def plain_text(self, max_chars: int | None = None, max_items: int | None = None) -> str:
        """Title, text, fields, error code and correlation id as plain lines.

        Digest items are listed one per line; past ``max_items`` (or when the text would
        exceed ``max_chars``) the rest are summarised as "... and N more", so the count of
        events a digest accounts for is always in the text.
        """
        lines = [f"[{self.severity.value}] {self.title}"]
        if self.text:
            lines.append(self.text)
        for k, v in self.fields.items():
            lines.append(f"{k}: {v}")
        n_free = len(lines)  # title, text, fields: what gives way when over max_chars
        if self.error_code:
            lines.append(f"error_code: {self.error_code}")
        tail = []
        if self.correlation_id:
            tail.append(f"correlation_id: {self.correlation_id}")
        tail.append(f"id: {self.idempotency_key}")
        if self.items:
            lines.append(f"{len(self.items)} events:")
            budget = None if max_chars is None else max_chars - sum(len(t) + 1 for t in tail) - 40
            used = sum(len(line) + 1 for line in lines)
            shown = 0
            for item in self.items:
                line = f"- {iso_z(item.created_at)} [{item.severity}] {item.title} ({item.idempotency_key})"
                if (max_items is not None and shown >= max_items) or (
                    budget is not None and used + len(line) + 1 > budget
                ):
                    break
                lines.append(line)
                used += len(line) + 1
                shown += 1
            if shown < len(self.items):
                lines.append(f"... and {len(self.items) - shown} more")
        lines.extend(tail)
        text = "\n".join(lines)
        if max_chars is not None and len(text) > max_chars:
            # Cut the free text, not the end: the error code, the event count, "... and N
            # more" and the ids must survive a long text.
            fixed = "\n".join(lines[n_free:])
            room = max_chars - len(fixed) - 1
            if room >= 2:
                text = "\n".join(lines[:n_free])[: room - 1] + "…\n" + fixed
            else:
                text = text[: max_chars - 1] + "…"
        return text


class DeliveryError(Exception):
    """A send failed. ``permanent`` failures are not retried (a 4xx other than 429, a bad
    address); others are retried with backoff. ``status`` is the HTTP status when there was
    one and ``retry_after_s`` what the receiver asked for (``Retry-After``, Telegram's
    ``parameters.retry_after``, Discord's ``retry_after``). The message never holds a secret.
    """

    def __init__(
        self,
        message: str,
        *,
        permanent: bool = False,
        status: int | None = None,
        retry_after_s: float | None = None,
    ) -> None:
        super().__init__(message)
        self.permanent = permanent
        self.status = status
        self.retry_after_s = retry_after_s


__all__ = ["DeliveryError", "DigestItem", "Message", "Severity", "iso_z"]
