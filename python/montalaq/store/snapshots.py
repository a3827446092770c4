"""Tables of one row per name: ``service_state`` snapshots, the ``operational_state`` row and
``position_state`` (docs/semantics.md, section State that survives a restart)."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime
from typing import Any, cast

from sqlalchemy import select

from montalaq.records import as_utc
from montalaq.shapes import OperationalStateRow, PositionRow
from montalaq.store import schema
from montalaq.store.base import StoreBase
from montalaq.store.rows import _now


class SnapshotsMixin(StoreBase):
    """The :class:`~montalaq.store.Store` methods over the state tables."""

    # -- service state snapshots ------------------------------------------------------------
    def save_service_state(self, name: str, payload: str, now: Any = None) -> None:
        """Keep the snapshot ``name`` (board, throttle: a JSON text), replacing the previous one."""
        if not isinstance(name, str) or not 0 < len(name) <= 64:
            raise ValueError(f"name: expected 1-64 characters, got {name!r}")
        if not isinstance(payload, str):
            raise TypeError(f"payload: expected a str, got {type(payload).__name__}")
        self._ensure()
        t = schema.service_state
        ins = self._insert(t).values(name=name, payload=payload, saved_at=_now(now))
        stmt = ins.on_conflict_do_update(
            index_elements=["name"], set_={"payload": ins.excluded.payload, "saved_at": ins.excluded.saved_at}
        )
        with self.engine.begin() as conn:
            conn.execute(stmt)

    def load_service_state(self, name: str) -> tuple[str, datetime] | None:
        """``(payload, saved_at)`` of the snapshot ``name``, or None when none was saved."""
        self._ensure()
        t = schema.service_state
        with self.engine.connect() as conn:
            row = conn.execute(select(t.c.payload, t.c.saved_at).where(t.c.name == name)).first()
        return None if row is None else (str(row.payload), row.saved_at)

    # -- operational state ----------------------------------------------------------------
    def save_operational_state(
        self,
        state: Any,
        reason: str = "",
        entered_at: Any = None,
        details: Mapping[str, Any] | None = None,
        now: Any = None,
    ) -> None:
        """Write the single ``operational_state`` row."""
        self._ensure()
        name = state.name if hasattr(state, "name") and not isinstance(state, str) else str(state)
        ts = _now(now)
        values = {
            "state": name,
            "reason": reason,
            "entered_at": ts if entered_at is None else as_utc(entered_at, "entered_at"),
            "updated_at": ts,
            "details": dict(details) if details is not None else None,
        }
        t = schema.operational_state
        ins = self._insert(t).values(id=1, **values)
        with self.engine.begin() as conn:
            conn.execute(
                ins.on_conflict_do_update(index_elements=["id"], set_={k: ins.excluded[k] for k in values})
            )

    def load_operational_state(self) -> OperationalStateRow | None:
        """The ``operational_state`` row, or None if never written."""
        self._ensure()
        t = schema.operational_state
        with self.engine.connect() as conn:
            row = conn.execute(select(t).where(t.c.id == 1)).first()
        if row is None:
            return None
        out = dict(row._mapping)
        out.pop("id")
        return cast(OperationalStateRow, out)

    # -- positions ------------------------------------------------------------------------
    def upsert_position(
        self,
        symbol: str,
        status: str,
        qty: float,
        avg_price: float | None = None,
        *,
        last_action: str | None = None,
        last_conf: float | None = None,
        now: Any = None,
    ) -> None:
        """Insert or replace the ``position_state`` row of ``symbol``."""
        self._ensure()
        values = {
            "status": status,
            "qty": float(qty),
            "avg_price": avg_price,
            "updated_at": _now(now),
            "last_action": last_action,
            "last_conf": last_conf,
        }
        t = schema.position_state
        ins = self._insert(t).values(symbol=symbol, **values)
        with self.engine.begin() as conn:
            conn.execute(
                ins.on_conflict_do_update(
                    index_elements=["symbol"], set_={k: ins.excluded[k] for k in values}
                )
            )

    def positions(self) -> list[PositionRow]:
        """``position_state`` rows by symbol."""
        self._ensure()
        t = schema.position_state
        with self.engine.connect() as conn:
            return [cast(PositionRow, dict(r._mapping)) for r in conn.execute(select(t).order_by(t.c.symbol))]
