"""The store: SQLAlchemy Core over SQLite (WAL, the default) or PostgreSQL (docs/semantics.md,
section Persistence). :class:`Store` is in ``store.py``, each table's methods in their own
module (docs/architecture.md); this package only re-exports.
"""

from __future__ import annotations

from montalaq.store.migrate import SchemaOutOfDateError
from montalaq.store.outbox import NewOutboxRow, Outbox, OutboxRow
from montalaq.store.rows import MAX_LIMIT
from montalaq.store.store import Store, database_unavailable

__all__ = [
    "MAX_LIMIT",
    "NewOutboxRow",
    "Outbox",
    "OutboxRow",
    "SchemaOutOfDateError",
    "Store",
    "database_unavailable",
]
