"""Schema migrations (Alembic), applied by ``montalaq db upgrade`` and automatically on
first use of an empty database.

A database that already has tables but is behind the code's head revision is *not*
migrated behind the operator's back: :func:`check` raises and says to run
``montalaq db upgrade``. Concurrent upgrades (several workers starting at once) are
serialised: a PostgreSQL advisory lock, or on SQLite the database's own write lock.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from alembic import command
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import Connection, Engine, inspect, text

MIGRATIONS_DIR = Path(__file__).resolve().parent / "migrations"
# Arbitrary constant: the advisory lock id montalaq's migrations take on PostgreSQL.
_PG_LOCK_ID = 0x6D6F6E74616C


class SchemaOutOfDateError(RuntimeError):
    """The database's schema is older (or newer) than this version of montalaq expects."""


def _config(connection: Connection | None = None) -> Config:
    cfg = Config()
    cfg.set_main_option("script_location", str(MIGRATIONS_DIR))
    if connection is not None:
        cfg.attributes["connection"] = connection
    return cfg


def head_revision() -> str:
    """The newest revision this version of montalaq ships."""
    head = ScriptDirectory.from_config(_config()).get_current_head()
    assert head is not None
    return head


def current_revision(engine: Engine) -> str | None:
    """The revision the database is at, or None when it was never migrated."""
    with engine.connect() as conn:
        return MigrationContext.configure(conn).get_current_revision()


def revision_at(url: str) -> str | None:
    """The revision of the database at ``url`` (None when never migrated), changing nothing:
    a SQLite file that does not exist is None and is not created by connecting to it (a
    read-only question, asked by ``montalaq db current`` and ``manage.py montalaq_db``)."""
    from sqlalchemy.engine import make_url

    from montalaq.store.engine import make_engine

    parsed = make_url(url)
    path = parsed.database
    if parsed.get_backend_name() == "sqlite" and path and path != ":memory:" and not Path(path).exists():
        return None
    engine = make_engine(url)
    try:
        return current_revision(engine)
    finally:
        engine.dispose()


def upgrade(engine: Engine, revision: str = "head") -> str:
    """Migrate to ``revision`` (default the newest); idempotent. Returns the revision reached."""
    with engine.begin() as conn:
        if conn.dialect.name == "postgresql":
            conn.execute(text("SELECT pg_advisory_xact_lock(:id)"), {"id": _PG_LOCK_ID})
        elif conn.dialect.name == "sqlite":
            # Take the write lock before reading the version, so a second process waits
            # here (busy_timeout) and then finds the schema already there.
            conn.exec_driver_sql("CREATE TABLE IF NOT EXISTS _montalaq_migrate_lock (x INTEGER)")
            conn.exec_driver_sql("INSERT INTO _montalaq_migrate_lock VALUES (1)")
        command.upgrade(_config(conn), revision)
        if conn.dialect.name == "sqlite":
            conn.exec_driver_sql("DROP TABLE IF EXISTS _montalaq_migrate_lock")
        reached = MigrationContext.configure(conn).get_current_revision()
    assert reached is not None
    return reached


@dataclass(frozen=True)
class Upgraded:
    """What :func:`upgrade_url` did: the revision ``before`` (None: never migrated), the one
    ``reached`` (head), and the revisions ``applied`` (their script names, oldest first;
    empty when the database was already at head)."""

    before: str | None
    reached: str
    applied: tuple[str, ...]


def upgrade_url(url: str) -> Upgraded:
    """Migrate the database at ``url`` to head (idempotent; a SQLite file and its folder are
    created): what ``montalaq_db upgrade`` and Django's ``migrate`` run. Raises whatever the
    connection or a migration raises (the caller scrubs the URL from the message)."""
    from montalaq.store.engine import make_engine

    engine = make_engine(url)
    try:
        before = current_revision(engine)
        reached = upgrade(engine)
    finally:
        engine.dispose()
    return Upgraded(before, reached, applied_between(before, reached))


def applied_between(before: str | None, reached: str) -> tuple[str, ...]:
    """The script names (``0002_error_episodes_service_state``) of the revisions after
    ``before`` (None: from the start) up to ``reached``, oldest first."""
    if before == reached:
        return ()
    scripts = ScriptDirectory.from_config(_config()).iterate_revisions(reached, before or "base")
    return tuple(Path(s.path).stem for s in reversed(list(scripts)))


def ensure(engine: Engine, *, auto_upgrade_empty: bool = True) -> str:
    """Make the schema usable: migrate an empty database, refuse an out-of-date one.

    Returns the revision. Raises :class:`SchemaOutOfDateError` when the database has tables
    but is not at the head revision (or has foreign tables and no montalaq revision).
    """
    head = head_revision()
    current = current_revision(engine)
    if current == head:
        return head
    if current is None:
        with engine.connect() as conn:
            names = set(inspect(conn).get_table_names()) - {"_montalaq_migrate_lock"}
        # Another process may have committed its migration (tables and version together)
        # between the two reads above: read the version again before calling it foreign.
        if names & _OUR_TABLES and current_revision(engine) == head:
            return head
        if names & _OUR_TABLES and auto_upgrade_empty:
            raise SchemaOutOfDateError(
                "the database has montalaq tables but no migration record; "
                "stamp it or start from an empty database"
            )
        if auto_upgrade_empty:
            return upgrade(engine)
    raise SchemaOutOfDateError(
        f"database schema is at revision {current!r}, this montalaq expects {head!r}: "
        "run `montalaq db upgrade`"
    )


_OUR_TABLES = {
    "trade_analysis",
    "ingestion_status",
    "findings",
    "position_state",
    "dedup_events",
    "error_notifications_log",
    "operational_state",
    "notification_outbox",
}

__all__ = [
    "MIGRATIONS_DIR",
    "SchemaOutOfDateError",
    "Upgraded",
    "applied_between",
    "current_revision",
    "ensure",
    "head_revision",
    "upgrade",
    "upgrade_url",
]
