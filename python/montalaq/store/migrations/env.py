"""Alembic environment for montalaq's store.

Run through :mod:`montalaq.store.migrate` (``montalaq db upgrade``), which hands a live
connection in ``config.attributes["connection"]``; the ``alembic`` command line works too
with ``-x url=...`` or ``DATABASE_URL``.
"""

from __future__ import annotations

from alembic import context
from sqlalchemy import create_engine

from montalaq.store.schema import metadata

config = context.config


def _run(connection: object) -> None:
    context.configure(
        connection=connection,  # type: ignore[arg-type]
        target_metadata=metadata,
        render_as_batch=True,  # SQLite cannot ALTER most things: batch mode copies the table
        compare_type=True,
    )
    with context.begin_transaction():
        context.run_migrations()


connection = config.attributes.get("connection")
if connection is not None:
    _run(connection)
else:
    from montalaq.store.engine import resolve_url

    url = context.get_x_argument(as_dictionary=True).get("url")
    engine = create_engine(resolve_url(url))
    with engine.begin() as conn:
        _run(conn)
