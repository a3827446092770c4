"""What the store's table mixins share: the engine, the schema check before first use and the
dialect's upsert (docs/semantics.md, section Persistence: "Migrations")."""

from __future__ import annotations

import threading
from typing import Any

from sqlalchemy import Engine
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert

from montalaq.store import migrate


class StoreBase:
    """An engine and its schema state; :class:`~montalaq.store.Store` adds the tables."""

    def __init__(self, engine: Engine, *, auto_migrate: bool) -> None:
        self.engine = engine
        self.dialect = engine.dialect.name
        self._auto_migrate = auto_migrate
        self._ready = False
        self._ready_lock = threading.Lock()

    def ensure_schema(self) -> str:
        """Migrate an empty database (when ``auto_migrate``) and check the revision."""
        with self._ready_lock:
            rev = migrate.ensure(self.engine, auto_upgrade_empty=self._auto_migrate)
            self._ready = True
            return rev

    def _ensure(self) -> None:
        if not self._ready:
            self.ensure_schema()

    def upgrade(self) -> str:
        """Apply every pending migration (``montalaq db upgrade``); returns the revision."""
        rev = migrate.upgrade(self.engine)
        self._ready = True
        return rev

    def revision(self) -> str | None:
        """The database's current migration revision (None before the first migration)."""
        return migrate.current_revision(self.engine)

    def _insert(self, table: Any) -> Any:
        return pg_insert(table) if self.dialect == "postgresql" else sqlite_insert(table)
