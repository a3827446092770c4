"""The ``ingestion_status`` table: one row per (symbol, timeframe), and the per-bar signal claim
(docs/semantics.md, section Signal hook)."""

from __future__ import annotations

from datetime import timedelta
from typing import Any, cast

from sqlalchemy import and_, or_, select, update

from montalaq.records import as_utc
from montalaq.shapes import IngestionRow
from montalaq.store import schema
from montalaq.store.base import StoreBase
from montalaq.store.rows import _now, _tf

_INGESTION_FIELDS = (
    "provider",
    "freshness",
    "last_tick_at",
    "escalation_level",
    "breaker_open",
    "last_error_code",
    "last_signal_bar_ts",
    "last_notify_at",
)
_TIME_FIELDS = {"last_tick_at", "last_signal_bar_ts", "last_notify_at"}


def _status_value(field: str, value: Any) -> Any:
    if field == "breaker_open":
        return bool(value)
    if value is None:
        return None
    if field in _TIME_FIELDS:
        return as_utc(value, field)
    # Enums (Colour, Level) are stored by name.
    return value.name if hasattr(value, "name") and not isinstance(value, str) else str(value)


class IngestionStatusMixin(StoreBase):
    """The :class:`~montalaq.store.Store` methods over ``ingestion_status``."""

    def upsert_ingestion_status(self, symbol: str, timeframe: str, now: Any = None, **fields: Any) -> None:
        """Insert or update the status row of (symbol, timeframe) with ``fields`` (any of
        provider, freshness, last_tick_at, escalation_level, breaker_open, last_error_code,
        last_signal_bar_ts, last_notify_at); fields not given are left as they are."""
        unknown = set(fields) - set(_INGESTION_FIELDS)
        if unknown:
            raise ValueError(f"fields: unknown {sorted(unknown)}; expected some of {list(_INGESTION_FIELDS)}")
        self._ensure()
        values: dict[str, Any] = {}
        for k, raw in fields.items():
            values[k] = _status_value(k, raw)
        values["updated_at"] = _now(now)
        t = schema.ingestion_status
        # breaker_open is NOT NULL: a new row gets False unless the caller gives it.
        ins = self._insert(t).values(
            symbol=symbol, timeframe=_tf(timeframe), **{"breaker_open": False, **values}
        )
        stmt = ins.on_conflict_do_update(
            index_elements=["symbol", "timeframe"], set_={k: ins.excluded[k] for k in values}
        )
        with self.engine.begin() as conn:
            conn.execute(stmt)

    def ingestion_status(self, symbol: str | None = None) -> list[IngestionRow]:
        """Status rows (of one symbol, or all), ordered by symbol and timeframe."""
        self._ensure()
        t = schema.ingestion_status
        stmt = select(t).order_by(t.c.symbol, t.c.timeframe)
        if symbol is not None:
            stmt = stmt.where(t.c.symbol == symbol)
        with self.engine.connect() as conn:
            return [cast(IngestionRow, dict(r._mapping)) for r in conn.execute(stmt)]

    def claim_signal_bar(
        self, symbol: str, timeframe: str, bar_ts: Any, now: Any = None, window_s: float = 900.0
    ) -> bool:
        """Atomically claim the right to notify the signal of ``bar_ts`` (docs/semantics.md,
        section Signal hook).

        True (and ``last_signal_bar_ts``/``last_notify_at`` updated) when no signal of a
        bar at or after ``bar_ts`` was notified, or when the same bar's notification is
        older than ``window_s``; False otherwise -- also for a bar older than the last one
        signalled (a late, stale signal). Safe across processes: one statement decides.
        """
        if isinstance(window_s, bool) or not isinstance(window_s, int | float) or not window_s >= 0:
            raise ValueError(f"window_s: expected seconds >= 0, got {window_s!r}")
        self._ensure()
        tf = _tf(timeframe)
        bar = as_utc(bar_ts, "bar_ts")
        ts = _now(now)
        t = schema.ingestion_status
        claim = (
            update(t)
            .where(
                and_(
                    t.c.symbol == symbol,
                    t.c.timeframe == tf,
                    or_(
                        t.c.last_signal_bar_ts.is_(None),
                        t.c.last_signal_bar_ts < bar,
                        and_(
                            t.c.last_signal_bar_ts == bar,
                            or_(
                                t.c.last_notify_at.is_(None),
                                t.c.last_notify_at <= ts - timedelta(seconds=window_s),
                            ),
                        ),
                    ),
                )
            )
            .values(last_signal_bar_ts=bar, last_notify_at=ts, updated_at=ts)
        )
        with self.engine.begin() as conn:
            conn.execute(
                self._insert(t)
                .values(symbol=symbol, timeframe=tf, breaker_open=False, updated_at=ts)
                .on_conflict_do_nothing(index_elements=["symbol", "timeframe"])
            )
            return bool(conn.execute(claim).rowcount == 1)
