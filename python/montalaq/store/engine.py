"""Database URLs and engines: SQLite (WAL) by default, PostgreSQL through psycopg 3.

``resolve_url(None)`` is ``MONTALAQ_DATABASE_URL`` or ``DATABASE_URL`` when set, else SQLite
at ``MONTALAQ_DB_PATH`` (default ``data/montalaq.db``, relative to the working directory). ``postgres://`` and
``postgresql://`` URLs use the psycopg 3 driver. URLs are shown with the password masked.
"""

from __future__ import annotations

import sqlite3
import time
from pathlib import Path
from typing import Any

from sqlalchemy import Engine, create_engine, event
from sqlalchemy.engine import make_url
from sqlalchemy.exc import ArgumentError

DEFAULT_SQLITE_PATH = "data/montalaq.db"


def resolve_url(url: str | None = None) -> str:
    """The SQLAlchemy URL to use: ``url``, else ``MONTALAQ_DATABASE_URL`` or
    ``DATABASE_URL`` (the prefixed name wins, as in Settings), else the default SQLite file."""
    if url is None:
        # The environment is read in one place: Settings (its MONTALAQ_ prefix rule included).
        from montalaq.settings import Settings

        return Settings.from_env().database_url_value
    if not isinstance(url, str) or not url.strip():
        raise ValueError(
            "DATABASE_URL: expected a URL such as postgresql://user@host:5432/db or sqlite:///path"
        )
    url = url.strip()
    for prefix in ("postgres://", "postgresql://"):
        if url.startswith(prefix):
            return "postgresql+psycopg://" + url[len(prefix) :]
    try:
        parsed = make_url(url)
    except ArgumentError:
        raise ValueError(
            "DATABASE_URL: expected a URL such as postgresql://user@host:5432/db or sqlite:///path, "
            f"got {mask_url(url)!r}"
        ) from None
    if parsed.get_backend_name() not in ("sqlite", "postgresql"):
        raise ValueError(
            f"DATABASE_URL: expected a sqlite:// or postgresql:// URL, got {parsed.get_backend_name()!r}"
        )
    return url


def mask_url(url: str) -> str:
    """``url`` with any password replaced by ``***`` (safe to log)."""
    try:
        return make_url(url).render_as_string(hide_password=True)
    except ArgumentError:
        return "<unparseable URL>"


def _set_wal(cur: Any, wait_s: float = 10.0) -> None:
    """``PRAGMA journal_mode=WAL``, retried while another connection holds a lock.

    Switching a file to WAL needs an exclusive lock, and SQLite fails that at once with
    "database is locked" instead of waiting ``busy_timeout``: several processes opening a
    new database together (workers starting) would fail on their first connection.
    """
    deadline = time.monotonic() + wait_s
    while True:
        try:
            cur.execute("PRAGMA journal_mode=WAL")
            return
        except sqlite3.OperationalError as exc:
            if "locked" not in str(exc) or time.monotonic() >= deadline:
                raise
            time.sleep(0.01)


DEFAULT_CONNECT_TIMEOUT_S = 5.0
DEFAULT_STATEMENT_TIMEOUT_S = 30.0


def make_engine(
    url: str | None = None,
    *,
    sqlite_synchronous: str = "NORMAL",
    echo: bool = False,
    connect_timeout_s: float = DEFAULT_CONNECT_TIMEOUT_S,
    statement_timeout_s: float = DEFAULT_STATEMENT_TIMEOUT_S,
) -> Engine:
    """An engine for ``resolve_url(url)``.

    SQLite: the parent directory is created; every connection runs in WAL mode with
    ``busy_timeout`` = ``statement_timeout_s`` (writers queue instead of failing), foreign
    keys on and ``synchronous`` = ``sqlite_synchronous`` (NORMAL survives a killed process;
    FULL also survives power loss). PostgreSQL: a pre-pinged pool so a restarted server is
    noticed; ``connect_timeout`` (a server that accepts and never answers is a failure after
    ``connect_timeout_s``, never a hang), ``statement_timeout`` and a pool wait of
    ``connect_timeout_s`` (docs/operations.md, "Database")."""
    for label, value in (
        ("connect_timeout_s", connect_timeout_s),
        ("statement_timeout_s", statement_timeout_s),
    ):
        if isinstance(value, bool) or not isinstance(value, int | float) or not 0 < value <= 86_400:
            raise ValueError(f"{label}: expected seconds in (0, 86400], got {value!r}")
    resolved = resolve_url(url)
    parsed = make_url(resolved)
    if parsed.get_backend_name() == "sqlite":
        if sqlite_synchronous not in ("OFF", "NORMAL", "FULL", "EXTRA"):
            raise ValueError(
                f"sqlite_synchronous: expected OFF, NORMAL, FULL or EXTRA, got {sqlite_synchronous!r}"
            )
        db = parsed.database
        if db and db != ":memory:" and not db.startswith("file:"):
            Path(db).expanduser().parent.mkdir(parents=True, exist_ok=True)
        engine = create_engine(
            resolved,
            echo=echo,
            connect_args={"check_same_thread": False, "timeout": float(statement_timeout_s)},
        )

        @event.listens_for(engine, "connect")
        def _pragmas(dbapi_conn: Any, _record: Any) -> None:
            # pysqlite's own transaction handling is off so that the BEGIN below is the one
            # that runs (SQLAlchemy's documented recipe). Every write transaction of the
            # store starts with its write, so a deferred BEGIN waits on busy_timeout rather
            # than failing to upgrade a read lock; reads never block writers under WAL.
            dbapi_conn.isolation_level = None
            cur = dbapi_conn.cursor()
            _set_wal(cur)
            cur.execute(f"PRAGMA synchronous={sqlite_synchronous}")
            cur.execute(f"PRAGMA busy_timeout={round(statement_timeout_s * 1000)}")
            cur.execute("PRAGMA foreign_keys=ON")
            cur.close()

        @event.listens_for(engine, "begin")
        def _begin(conn: Any) -> None:
            conn.exec_driver_sql("BEGIN")

        return engine
    return create_engine(
        resolved,
        echo=echo,
        pool_pre_ping=True,
        pool_size=5,
        max_overflow=10,
        pool_timeout=float(connect_timeout_s),
        connect_args={
            "connect_timeout": max(1, round(connect_timeout_s)),  # libpq: whole seconds
            "options": f"-c statement_timeout={round(statement_timeout_s * 1000)}",
        },
    )


__all__ = [
    "DEFAULT_CONNECT_TIMEOUT_S",
    "DEFAULT_SQLITE_PATH",
    "DEFAULT_STATEMENT_TIMEOUT_S",
    "make_engine",
    "mask_url",
    "resolve_url",
]
