"""Where montalaq's tables are for Django: the alias its models are read from, the router,
``manage.py migrate`` upgrading them, and the check that the two sides name one database.

montalaq's tables are created and upgraded by its own Alembic migrations on its
``DATABASE_URL``; Django's ``migrate`` on the alias ``DATABASE_ALIAS`` (default
``"default"``) runs them (a ``post_migrate`` receiver) and the unmanaged models of
:mod:`montalaq.django.models` read them there (docs/semantics.md, "Django", Database).
"""

# mypy: disable-error-code="import-untyped"
from __future__ import annotations

import os
import sys
from collections.abc import Sequence
from typing import Any

from django.apps import apps
from django.core import checks
from django.core.exceptions import ImproperlyConfigured
from django.core.management.base import CommandError
from sqlalchemy.engine import URL, make_url

from montalaq.django import conf
from montalaq.store.engine import mask_url

APP_LABEL = "montalaq"
DEFAULT_ALIAS = "default"
_LOOPBACK = frozenset({"", "localhost", "127.0.0.1", "::1"})


def tables_alias() -> str:
    """The Django database alias that holds montalaq's tables: ``MONTALAQ["DATABASE_ALIAS"]``
    when it names one, else ``"default"`` (also for ``None``, montalaq's own SQLite file:
    the models are read there and check ``montalaq.W001`` says they are elsewhere). Never
    raises: a malformed ``MONTALAQ`` is check ``montalaq.E001``'s to report."""
    try:
        alias = conf.raw().get("DATABASE_ALIAS", DEFAULT_ALIAS)
    except ImproperlyConfigured:
        return DEFAULT_ALIAS
    return alias if isinstance(alias, str) and alias else DEFAULT_ALIAS


class TablesRouter:
    """A database router (``DATABASE_ROUTERS = ["montalaq.django.tables.TablesRouter"]``)
    that reads and writes montalaq's models on :func:`tables_alias` and migrates the
    ``montalaq`` app only there; no opinion on any other app. The admin does not need it."""

    def db_for_read(self, model: Any, **_hints: Any) -> str | None:
        """``tables_alias()`` for montalaq's models."""
        return tables_alias() if model._meta.app_label == APP_LABEL else None

    def db_for_write(self, model: Any, **_hints: Any) -> str | None:
        """``tables_alias()`` for montalaq's models (montalaq's store writes them, not Django)."""
        return tables_alias() if model._meta.app_label == APP_LABEL else None

    def allow_migrate(self, db: str, app_label: str, **_hints: Any) -> bool | None:
        """The ``montalaq`` app's (unmanaged) migrations on ``tables_alias()`` only."""
        return db == tables_alias() if app_label == APP_LABEL else None


# ------------------------------------------------------------------------------ migrate


def _secret_free(message: str, url: str) -> str:
    password = make_url(url).password
    return message.replace(str(password), "***") if password else message


def upgrade_on_migrate(*, using: str, verbosity: int = 1, stdout: Any = None, **kwargs: Any) -> None:
    """``post_migrate`` receiver: after ``manage.py migrate`` on :func:`tables_alias`,
    upgrade montalaq's tables (Alembic, to head) on its ``DATABASE_URL`` and say so at
    verbosity >= 1. Not after ``flush`` (which leaves unmanaged tables alone) nor on
    another alias. CommandError naming ``DATABASE_URL`` (password masked) when it fails."""
    if "plan" not in kwargs or using != tables_alias():
        return
    from montalaq.store import migrate

    try:
        settings = conf.load()
    except ImproperlyConfigured as exc:
        raise CommandError(f"montalaq tables not upgraded: {exc}") from None
    url = settings.settings.database_url_value
    shown = settings.database_url_masked
    try:
        done = migrate.upgrade_url(url)
    except Exception as exc:
        first_line = (str(exc).strip().splitlines() or [""])[0]
        raise CommandError(
            _secret_free(
                f"montalaq tables not upgraded: DATABASE_URL {shown} (from {settings.database_source}): "
                f"{type(exc).__name__}: {first_line}",
                url,
            )
        ) from None
    if verbosity < 1:
        return
    # Plain text: the receiver cannot see migrate's --no-color.
    out = stdout if stdout is not None else sys.stdout
    if not done.applied:
        out.write(f"  montalaq tables up to date (revision {done.reached}, {shown})\n")
        return
    out.write(f"Upgrading montalaq's tables ({shown}):\n")
    for name in done.applied:
        out.write(f"  Applying montalaq store migration {name}... OK\n")


# ------------------------------------------------------------------------------ the check


def _identity(url: URL) -> tuple[str, ...]:
    """What names a database: the file for SQLite, (host, port, name) for PostgreSQL."""
    backend = url.get_backend_name()
    if backend == "sqlite":
        path = url.database or ""
        return ("sqlite", os.path.realpath(path) if path and path != ":memory:" else path)
    host = (url.host or "").lower()
    return (
        "postgresql" if backend in ("postgres", "postgresql") else backend,
        "localhost" if host in _LOOPBACK else host,
        str(url.port or 5432),
        url.database or "",
    )


def check_tables(app_configs: Sequence[Any] | None = None, **_kwargs: Any) -> list[Any]:
    """System check ``montalaq.W001`` (with ``django.contrib.admin`` installed): montalaq's
    ``DATABASE_URL`` and the Django database ``DATABASE_ALIAS`` visibly name different
    databases, so the admin's pages would read tables montalaq does not write."""
    if not apps.is_installed("django.contrib.admin"):
        return []
    try:
        loaded = conf.load()
        alias = tables_alias()
        django_url = conf.database_url_from_django(alias)
    except ImproperlyConfigured:
        return []  # E001 reports it
    montalaq_url = loaded.settings.database_url_value
    if django_url is not None and _identity(make_url(django_url)) == _identity(make_url(montalaq_url)):
        return []
    where = "a database montalaq cannot use" if django_url is None else mask_url(django_url)
    return [
        checks.Warning(
            f"montalaq's tables are in {loaded.database_url_masked} (DATABASE_URL from "
            f"{loaded.database_source}) but its admin reads Django's database {alias!r} ({where})",
            hint="make settings.MONTALAQ['DATABASE_URL'] and DATABASES[DATABASE_ALIAS] name the same "
            "database (or leave DATABASE_URL out: montalaq then uses DATABASES[DATABASE_ALIAS])",
            id="montalaq.W001",
        )
    ]


__all__ = ["APP_LABEL", "TablesRouter", "check_tables", "tables_alias", "upgrade_on_migrate"]
