"""What montalaq's Django test modules share: Django configured once per test process from
``montalaq_django_site.settings`` (never ``DJANGO_SETTINGS_MODULE`` in the test process:
Celery's Django fix-up would see it in other modules), Django's DATABASES for a SQLite
file or a PostgreSQL database of the test server, settings overrides, the test's
``MONTALAQ`` and ``python -m django`` subprocesses (what manage.py runs).
"""

from __future__ import annotations

import os
import subprocess
import sys
import warnings
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import django
import pytest
from api_fixtures import TOKEN
from django.conf import settings as django_settings
from django.test import override_settings
from montalaq_django_site import settings as site_settings
from sqlalchemy.engine import make_url
from store_fixtures import PG_ADMIN_URL
from test_service import ENV

import montalaq
from montalaq.django import runtime

INTEGRATION_DIR = Path(__file__).resolve().parent
# The montalaq this test process imports (the installed package under `make test`, whose
# native module the source tree does not hold), handed to the manage.py subprocesses.
PYTHON_DIR = Path(montalaq.__file__).resolve().parent.parent
PG = make_url(PG_ADMIN_URL)
# Django databases of the in-process admin tests besides the default one (in memory): a
# SQLite file and a PostgreSQL database, named by test_django_admin.py before their first
# use, as Django's test runner names its test databases.
SQLITE_TABLES, PG_TABLES = "sqlite_tables", "pg_tables"


def pg_database(name: str) -> dict[str, Any]:
    """One Django database entry for the PostgreSQL database ``name`` on the test server."""
    return {
        "ENGINE": "django.db.backends.postgresql",
        "NAME": name,
        "USER": PG.username or "",
        "PASSWORD": PG.password or "",
        "HOST": PG.host or "",
        "PORT": str(PG.port or ""),
    }


def configure() -> None:
    """Configure Django for this test process (once) and set it up."""
    if not django_settings.configured:
        values = {k: getattr(site_settings, k) for k in dir(site_settings) if k.isupper()}
        values["DATABASES"] = {
            **values["DATABASES"],
            SQLITE_TABLES: {"ENGINE": "django.db.backends.sqlite3", "NAME": ""},
            PG_TABLES: pg_database(""),
        }
        django_settings.configure(**values)
    django.setup()


def pg_databases(name: str) -> dict[str, Any]:
    """Django's DATABASES for the PostgreSQL database ``name`` on the test server."""
    return {"default": pg_database(name)}


def sqlite_databases(path: Path) -> dict[str, Any]:
    """Django's DATABASES for a SQLite file."""
    return {"default": {"ENGINE": "django.db.backends.sqlite3", "NAME": str(path)}}


configure()


@contextmanager
def django_settings_for(**overrides: Any) -> Iterator[None]:
    """``override_settings`` without Django's warning that DATABASES is overridden (montalaq
    reads DATABASES to find its database; Django's own connections are not changed)."""
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", message="Overriding setting DATABASES")
        override = override_settings(**overrides)
        override.enable()
    try:
        yield
    finally:
        with warnings.catch_warnings():
            warnings.filterwarnings("ignore", message="Overriding setting DATABASES")
            override.disable()


@pytest.fixture(autouse=True, scope="module")
def hermetic_environment() -> Iterator[None]:
    """montalaq reads the environment under settings.MONTALAQ: none of its database or
    token variables leak in from the shell running the tests (autouse where imported)."""
    with pytest.MonkeyPatch.context() as mp:
        for name in ("DATABASE_URL", "MONTALAQ_DB_PATH", "API_TOKEN", "SYMBOL", "NOTIFY_RATE_LIMIT_PER_MIN"):
            mp.delenv(name, raising=False)
        yield
    runtime.reset_service()


def montalaq_settings(tmp: Path, **extra: Any) -> dict[str, Any]:
    """settings.MONTALAQ of a test: the SPY settings of test_service, the token, alerts
    under ``tmp``."""
    return {
        **ENV,
        "API_TOKEN": TOKEN,
        "ALERTS_DIR": str(tmp / "alerts"),
        "METRICS_DIR": str(tmp / "monitoring"),
        **extra,
    }


def manage(
    tmp_path: Path, *args: str, env: dict[str, str] | None = None, timeout_s: float = 120
) -> subprocess.CompletedProcess[str]:
    """``python -m django ARGS`` (what manage.py runs) with the test project's settings."""
    return subprocess.run(
        [sys.executable, "-m", "django", *args],
        cwd=tmp_path,
        env=manage_env(tmp_path, env),
        capture_output=True,
        text=True,
        timeout=timeout_s,
        check=False,
    )


def manage_env(tmp_path: Path, extra: dict[str, str] | None = None) -> dict[str, str]:
    """The subprocess's environment: the test project's settings, Django's default database
    the SQLite file ``tmp_path/project.sqlite3`` (unless ``extra`` says otherwise)."""
    env = {k: v for k, v in os.environ.items() if k not in ("DATABASE_URL", "API_TOKEN", "SYMBOL")}
    env.update(
        {
            "DJANGO_SETTINGS_MODULE": "montalaq_django_site.settings",
            "PYTHONPATH": os.pathsep.join(
                [str(PYTHON_DIR), str(INTEGRATION_DIR), str(INTEGRATION_DIR.parent)]
            ),
            "MONTALAQ_TEST_DJANGO_DB": str(tmp_path / "project.sqlite3"),
            "ALERTS_DIR": str(tmp_path / "alerts"),
        }
    )
    env.update(extra or {})
    return env
