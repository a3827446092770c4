"""The ``dedup_events`` table: every dedupe decision, appended."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, cast

from sqlalchemy import delete, func, select

from montalaq.records import as_utc
from montalaq.shapes import DedupEventRow
from montalaq.store import schema
from montalaq.store.base import StoreBase
from montalaq.store.rows import _limit, _now


class DedupEventsMixin(StoreBase):
    """The :class:`~montalaq.store.Store` methods over ``dedup_events``."""

    def record_dedup_event(
        self,
        key: str,
        action: str,
        *,
        symbol: str | None = None,
        correlation_id: str | None = None,
        payload: Mapping[str, Any] | None = None,
        now: Any = None,
    ) -> None:
        """Append a dedupe decision (``action``: ALLOWED, DEDUPED, ...) to ``dedup_events``."""
        if not isinstance(key, str) or not key or len(key) > 128:
            raise ValueError(f"key: expected a non-empty string of at most 128 characters, got {key!r}")
        if not isinstance(action, str) or not action:
            raise ValueError("action: expected a non-empty string such as 'ALLOWED' or 'DEDUPED'")
        self._ensure()
        with self.engine.begin() as conn:
            conn.execute(
                schema.dedup_events.insert().values(
                    created_at=_now(now),
                    key=key,
                    action=action,
                    symbol=symbol,
                    correlation_id=correlation_id,
                    payload_json=dict(payload) if payload is not None else None,
                )
            )

    def dedup_events(self, key: str | None = None, limit: int = 100) -> list[DedupEventRow]:
        """Dedupe decisions, newest first (of one key, or all)."""
        self._ensure()
        t = schema.dedup_events
        stmt = select(t).order_by(t.c.id.desc()).limit(_limit(limit))
        if key is not None:
            stmt = stmt.where(t.c.key == key)
        with self.engine.connect() as conn:
            return [cast(DedupEventRow, dict(r._mapping)) for r in conn.execute(stmt)]

    def count_dedup_events(self, since: Any, action: str | None = None) -> int:
        """How many dedupe decisions were recorded at or after ``since`` (of ``action``
        ALLOWED/DEDUPED, or all)."""
        self._ensure()
        t = schema.dedup_events
        stmt = select(func.count()).select_from(t).where(t.c.created_at >= as_utc(since, "since"))
        if action is not None:
            stmt = stmt.where(t.c.action == action)
        with self.engine.connect() as conn:
            return int(conn.execute(stmt).scalar() or 0)

    def prune_dedup_events(self, older_than: Any) -> int:
        """Delete dedupe decisions created before ``older_than``; returns how many."""
        self._ensure()
        t = schema.dedup_events
        with self.engine.begin() as conn:
            return int(
                conn.execute(delete(t).where(t.c.created_at < as_utc(older_than, "older_than"))).rowcount
            )
