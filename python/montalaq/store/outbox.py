"""The durable notification outbox: a row per (event, channel), written before anything is
sent and marked after, so a crash or an outage loses nothing. Workers claim due rows with
a lease (``FOR UPDATE SKIP LOCKED`` on PostgreSQL, so several share one outbox): delivery
is at least once, each row carrying its idempotency key. Row life (PENDING, SENT, FOLDED,
DIGESTED, DEAD, DRY_RUN), leases and retries: docs/semantics.md, "Notifications".
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import Engine, and_, func, or_, select, update
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert

from montalaq.shapes import OutboxBacklog
from montalaq.store.schema import notification_outbox as t

STATUSES = ("PENDING", "SENT", "FOLDED", "DIGESTED", "DEAD", "DRY_RUN")


@dataclass(frozen=True)
class OutboxRow:
    """One outbox row as read back."""

    id: int
    created_at: datetime
    channel: str
    idempotency_key: str
    kind: str
    severity: str
    payload: dict[str, Any]
    status: str
    attempts: int
    next_attempt_at: datetime
    last_error: str | None
    sent_at: datetime | None
    digest_key: str | None
    correlation_id: str | None
    error_code: str | None


@dataclass(frozen=True)
class NewOutboxRow:
    """A row to enqueue: ``payload`` is the message's JSON document (``Message.to_payload``)."""

    channel: str
    idempotency_key: str
    kind: str
    severity: str
    payload: Mapping[str, Any]
    correlation_id: str | None = None
    error_code: str | None = None
    status: str = "PENDING"


_COLUMNS = [c for c in t.c if c.name != "lease_until"]


def _row(r: Any) -> OutboxRow:
    return OutboxRow(**{c.name: getattr(r, c.name) for c in _COLUMNS})


class Outbox:
    """Outbox operations over one engine. Thread-safe (each call uses its own connection)."""

    def __init__(self, engine: Engine) -> None:
        self._engine = engine
        self._pg = engine.dialect.name == "postgresql"

    def enqueue(self, rows: Sequence[NewOutboxRow], now: datetime) -> int:
        """Insert ``rows`` in one transaction; a (channel, idempotency_key) already queued is
        skipped. Returns how many rows were new."""
        if not rows:
            return 0
        values = [
            {
                "created_at": now,
                "channel": r.channel,
                "idempotency_key": r.idempotency_key,
                "kind": r.kind,
                "severity": r.severity,
                "payload": r.payload,
                "status": r.status,
                "attempts": 0,
                "next_attempt_at": now,
                "correlation_id": r.correlation_id,
                "error_code": r.error_code,
                "sent_at": None,
            }
            for r in rows
        ]
        ins = (pg_insert(t) if self._pg else sqlite_insert(t)).on_conflict_do_nothing(
            index_elements=["channel", "idempotency_key"]
        )
        # RETURNING over executemany ("insertmanyvalues"): only rows actually inserted come
        # back, where rowcount would count the skipped conflicts on some drivers.
        with self._engine.begin() as conn:
            result = conn.execute(ins.returning(t.c.id), values)
            return len(result.all())

    def claim(
        self, channel: str, now: datetime, limit: int, lease_s: float, *, status: str = "PENDING"
    ) -> list[OutboxRow]:
        """Lease up to ``limit`` due rows of ``channel`` in ``status`` (oldest first)."""
        due = and_(
            t.c.channel == channel,
            t.c.status == status,
            t.c.next_attempt_at <= now,
            or_(t.c.lease_until.is_(None), t.c.lease_until < now),
        )
        pick = select(t.c.id).where(due).order_by(t.c.id).limit(limit)
        if self._pg:
            pick = pick.with_for_update(skip_locked=True)
        stmt = (
            update(t)
            .where(t.c.id.in_(pick.scalar_subquery()))
            .values(lease_until=now + timedelta(seconds=lease_s))
            .returning(*_COLUMNS)
        )
        with self._engine.begin() as conn:
            rows = [_row(r) for r in conn.execute(stmt)]
        rows.sort(key=lambda r: r.id)
        return rows

    def mark_sent(self, ids: Iterable[int], now: datetime, *, attempts_add: int = 1) -> None:
        """The rows went out."""
        self._set(ids, status="SENT", sent_at=now, lease_until=None, attempts=t.c.attempts + attempts_add)

    def mark_dry_run(self, ids: Iterable[int], now: datetime) -> None:
        """The rows were logged, not sent (dry run)."""
        self._set(ids, status="DRY_RUN", sent_at=now, lease_until=None)

    def fold(self, ids: Iterable[int]) -> None:
        """Over the rate limit: the rows wait for a digest."""
        self._set(ids, status="FOLDED", lease_until=None)

    def mark_digested(self, ids: Iterable[int], digest_key: str, now: datetime) -> None:
        """The rows went out inside the digest ``digest_key``."""
        self._set(ids, status="DIGESTED", digest_key=digest_key, sent_at=now, lease_until=None)

    def release(self, ids: Iterable[int], next_attempt_at: datetime) -> None:
        """Give rows back untried (breaker open): due again at ``next_attempt_at``."""
        self._set(ids, lease_until=None, next_attempt_at=next_attempt_at)

    def retry_later(self, row_id: int, next_attempt_at: datetime, error: str) -> None:
        """A transient failure: one more attempt counted, due again at ``next_attempt_at``."""
        self._set(
            [row_id],
            lease_until=None,
            next_attempt_at=next_attempt_at,
            last_error=error[:2000],
            attempts=t.c.attempts + 1,
        )

    def mark_dead(self, ids: Iterable[int], error: str) -> None:
        """A permanent failure: the rows are kept (``requeue_dead`` sends them again)."""
        self._set(ids, status="DEAD", lease_until=None, last_error=error[:2000], attempts=t.c.attempts + 1)

    def release_all_leases(self) -> int:
        """Clear every lease (a restarted single-process notifier taking its rows back)."""
        with self._engine.begin() as conn:
            res = conn.execute(update(t).where(t.c.lease_until.is_not(None)).values(lease_until=None))
        return int(res.rowcount)

    def requeue_dead(self, now: datetime, channel: str | None = None) -> int:
        """Put DEAD rows back to PENDING (after fixing a channel's configuration)."""
        cond = t.c.status == "DEAD"
        if channel is not None:
            cond = and_(cond, t.c.channel == channel)
        with self._engine.begin() as conn:
            res = conn.execute(
                update(t).where(cond).values(status="PENDING", next_attempt_at=now, attempts=0)
            )
        return int(res.rowcount)

    def _set(self, ids: Iterable[int], **values: Any) -> None:
        id_list = list(ids)
        if not id_list:
            return
        with self._engine.begin() as conn:
            for start in range(0, len(id_list), 500):
                conn.execute(update(t).where(t.c.id.in_(id_list[start : start + 500])).values(**values))

    def counts(self, channel: str | None = None) -> dict[str, int]:
        """Rows per status (every status listed, 0 when none)."""
        stmt = select(t.c.status, func.count()).group_by(t.c.status)
        if channel is not None:
            stmt = stmt.where(t.c.channel == channel)
        out = dict.fromkeys(STATUSES, 0)
        with self._engine.connect() as conn:
            for status, n in conn.execute(stmt):
                out[status] = int(n)
        return out

    def backlog(self) -> OutboxBacklog:
        """What waits and what gave up, in one query: ``{pending, folded, dead,
        oldest_waiting_at}`` -- PENDING rows (to send), FOLDED rows (waiting for a digest),
        DEAD rows (given up), and when the oldest PENDING or FOLDED row was created (aware
        UTC datetime, None when nothing waits)."""
        stmt = (
            select(t.c.status, func.count(), func.min(t.c.created_at))
            .where(t.c.status.in_(("PENDING", "FOLDED", "DEAD")))
            .group_by(t.c.status)
        )
        out: OutboxBacklog = {"pending": 0, "folded": 0, "dead": 0, "oldest_waiting_at": None}
        with self._engine.connect() as conn:
            for status, n, raw in conn.execute(stmt):
                if status == "PENDING":
                    out["pending"] = int(n)
                elif status == "FOLDED":
                    out["folded"] = int(n)
                else:
                    out["dead"] = int(n)
                if status == "DEAD" or raw is None:
                    continue
                # SQLite: MIN() over the stored text may come back untyped and naive.
                oldest = datetime.fromisoformat(raw) if isinstance(raw, str) else raw
                if oldest.tzinfo is None:
                    oldest = oldest.replace(tzinfo=UTC)
                if out["oldest_waiting_at"] is None or oldest < out["oldest_waiting_at"]:
                    out["oldest_waiting_at"] = oldest
        return out

    def rows(
        self, *, channel: str | None = None, status: str | None = None, limit: int = 1000
    ) -> list[OutboxRow]:
        """Rows in id order, optionally of one channel/status."""
        stmt = select(*_COLUMNS).order_by(t.c.id).limit(limit)
        if channel is not None:
            stmt = stmt.where(t.c.channel == channel)
        if status is not None:
            stmt = stmt.where(t.c.status == status)
        with self._engine.connect() as conn:
            return [_row(r) for r in conn.execute(stmt)]

    def next_due(self, channel: str) -> datetime | None:
        """When the channel's earliest PENDING row is due, or None."""
        stmt = select(func.min(t.c.next_attempt_at)).where(
            and_(t.c.channel == channel, t.c.status == "PENDING")
        )
        with self._engine.connect() as conn:
            value = conn.execute(stmt).scalar()
        return value if value is None or isinstance(value, datetime) else None

    def has_folded(self, channel: str) -> bool:
        """Whether rows of the channel wait for a digest."""
        stmt = select(t.c.id).where(and_(t.c.channel == channel, t.c.status == "FOLDED")).limit(1)
        with self._engine.connect() as conn:
            return conn.execute(stmt).first() is not None


__all__ = ["STATUSES", "NewOutboxRow", "Outbox", "OutboxRow"]
