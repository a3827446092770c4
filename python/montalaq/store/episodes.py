"""The ``error_notifications_log`` table: one row per error episode (docs/semantics.md,
section Error episodes)."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any, cast

from sqlalchemy import select, text, update

from montalaq.shapes import ErrorEpisodeRow, ErrorTypeSummary
from montalaq.store import schema
from montalaq.store.base import StoreBase
from montalaq.store.rows import _limit, _now


def _error_type(error_type: object) -> str:
    name = getattr(error_type, "name", error_type)
    if not isinstance(name, str) or not 0 < len(name) <= 64:
        raise ValueError(f"error_type: expected a name of 1-64 characters, got {error_type!r}")
    return name


def _error_message(message: object) -> str:
    text_ = message if isinstance(message, str) else f"{type(message).__name__}: {message}"
    # Kept short and storable: one line's worth, lone surrogates replaced.
    return text_[:2000].encode("utf-8", "replace").decode("utf-8")


class ErrorEpisodesMixin(StoreBase):
    """The :class:`~montalaq.store.Store` methods over ``error_notifications_log``."""

    def record_error(self, error_type: str, message: str = "", now: Any = None) -> None:
        """One occurrence of ``error_type``: counted on its open episode, or opening a new
        one (first occurrence ``now``). ``message`` becomes the episode's latest message."""
        self._ensure()
        ts = _now(now)
        t = schema.error_notifications_log
        ins = self._insert(t).values(
            error_type=_error_type(error_type),
            error_message=_error_message(message),
            first_occurrence=ts,
            last_occurrence=ts,
            occurrence_count=1,
            notification_count=0,
            is_resolved=False,
        )
        stmt = ins.on_conflict_do_update(
            index_elements=["error_type"],
            index_where=text("NOT is_resolved"),  # the partial unique index, word for word
            set_={
                "error_message": ins.excluded.error_message,
                "last_occurrence": ins.excluded.last_occurrence,
                "occurrence_count": t.c.occurrence_count + 1,
            },
        )
        with self.engine.begin() as conn:
            conn.execute(stmt)

    def record_error_notification(self, error_types: Iterable[str], now: Any = None) -> int:
        """A notification naming ``error_types`` went out: their open episodes count it.
        Returns how many episodes were updated."""
        self._ensure()
        names = sorted({_error_type(e) for e in error_types})
        if not names:
            return 0
        t = schema.error_notifications_log
        stmt = (
            update(t)
            .where(t.c.error_type.in_(names), t.c.is_resolved.is_(False))
            .values(last_notification_sent=_now(now), notification_count=t.c.notification_count + 1)
        )
        with self.engine.begin() as conn:
            return int(conn.execute(stmt).rowcount)

    def resolve_error_episode(self, error_type: str, now: Any = None, *, notified: bool = False) -> bool:
        """Close the open episode of ``error_type`` at ``now`` (``notified``: a recovery
        message went out, counted). False when none was open."""
        self._ensure()
        ts = _now(now)
        t = schema.error_notifications_log
        values: dict[str, Any] = {"is_resolved": True, "resolved_at": ts}
        if notified:
            values.update(last_notification_sent=ts, notification_count=t.c.notification_count + 1)
        stmt = (
            update(t)
            .where(t.c.error_type == _error_type(error_type), t.c.is_resolved.is_(False))
            .values(values)
        )
        with self.engine.begin() as conn:
            return bool(conn.execute(stmt).rowcount)

    def error_episodes(self, limit: int = 100, error_type: str | None = None) -> list[ErrorEpisodeRow]:
        """``error_notifications_log`` rows (one per episode), newest occurrence first."""
        limit = _limit(limit)
        self._ensure()
        t = schema.error_notifications_log
        q = select(t).order_by(t.c.last_occurrence.desc(), t.c.id.desc()).limit(limit)
        if error_type is not None:
            q = q.where(t.c.error_type == _error_type(error_type))
        with self.engine.connect() as conn:
            return [cast(ErrorEpisodeRow, dict(r._mapping)) for r in conn.execute(q)]

    def error_summary(self) -> list[ErrorTypeSummary]:
        """The error summary, one row per error type (sorted by type): ``{error_type,
        error_message, first_occurrence, last_occurrence, occurrence_count,
        last_notification_sent, notification_count, is_resolved, resolved_at, episodes,
        open_since}``. Counts add up every episode; the message, ``is_resolved`` and
        ``resolved_at`` are the newest episode's; ``open_since`` is its first occurrence
        while it is open (else None)."""
        self._ensure()
        t = schema.error_notifications_log
        with self.engine.connect() as conn:
            rows = [dict(r._mapping) for r in conn.execute(select(t).order_by(t.c.error_type, t.c.id))]
        out: dict[str, dict[str, Any]] = {}  # filled row by row: complete once the loop ends
        for r in rows:
            s = out.get(r["error_type"])
            if s is None:
                s = out[r["error_type"]] = {
                    "error_type": r["error_type"],
                    "first_occurrence": r["first_occurrence"],
                    "occurrence_count": 0,
                    "notification_count": 0,
                    "last_notification_sent": None,
                    "episodes": 0,
                }
            s["episodes"] += 1
            s["occurrence_count"] += int(r["occurrence_count"])
            s["notification_count"] += int(r["notification_count"])
            s["first_occurrence"] = min(s["first_occurrence"], r["first_occurrence"])
            sent = r["last_notification_sent"]
            if sent is not None and (
                s["last_notification_sent"] is None or sent > s["last_notification_sent"]
            ):
                s["last_notification_sent"] = sent
            # Rows come in id order: the last one seen is the newest episode.
            s.update(
                error_message=r["error_message"],
                last_occurrence=r["last_occurrence"],
                is_resolved=bool(r["is_resolved"]),
                resolved_at=r["resolved_at"],
                open_since=None if r["is_resolved"] else r["first_occurrence"],
            )
        return [cast(ErrorTypeSummary, s) for s in out.values()]
