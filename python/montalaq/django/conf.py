"""montalaq's settings in a Django project: ``settings.MONTALAQ`` merged over the environment::

    MONTALAQ = {"SYMBOL": ["SPY", "QQQ"], "API_TOKEN": os.environ["MONTALAQ_TOKEN"]}

:func:`load` validates them with :class:`montalaq.settings.Settings` (``ImproperlyConfigured``
naming the key) and picks montalaq's database (the Django database when it can be shared).
Keys, values, precedence, the database choice and the Django-only keys: docs/semantics.md,
"Django" (Settings, Read when needed, Database).
"""

# Django ships no type information (and django-stubs is not a dependency).
# mypy: disable-error-code="import-untyped"
from __future__ import annotations

import difflib
import importlib.util
import logging
import math
import os
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from django.conf import settings as django_settings
from django.core.exceptions import ImproperlyConfigured
from django.utils.module_loading import import_string
from pydantic import SecretStr
from sqlalchemy.engine import URL

from montalaq.settings import Settings, SettingsError
from montalaq.store.engine import mask_url

if TYPE_CHECKING:
    from montalaq.service import Service

log = logging.getLogger("montalaq.django")

SETTING = "MONTALAQ"
DJANGO_KEYS = ("DATABASE_ALIAS", "RUN_SCHEDULER", "TICK_SEC", "SERVICE_FACTORY")
DEFAULT_TICK_S = 0.25
_MAX_TICK_S = 3600.0
_POSTGRES_ENGINES = frozenset(
    {
        "django.db.backends.postgresql",
        "django.db.backends.postgresql_psycopg2",
        "django.contrib.gis.db.backends.postgis",
    }
)
_SQLITE_ENGINES = frozenset({"django.db.backends.sqlite3", "django.contrib.gis.db.backends.spatialite"})
# libpq connection keywords Django's OPTIONS may carry that mean the same in a URL query.
_LIBPQ_KEYWORDS = frozenset(
    {
        "sslmode",
        "sslrootcert",
        "sslcert",
        "sslkey",
        "sslpassword",
        "sslcrl",
        "options",
        "application_name",
        "connect_timeout",
        "target_session_attrs",
        "service",
        "passfile",
        "channel_binding",
        "gssencmode",
        "keepalives",
        "keepalives_idle",
        "keepalives_interval",
        "keepalives_count",
    }
)
_TRUE = frozenset({"1", "true", "yes", "on"})
_FALSE = frozenset({"0", "false", "no", "off", ""})


@dataclass(frozen=True)
class DjangoConf:
    """montalaq's settings as this Django project gives them (docs/semantics.md, "Django").

    ``settings``: the validated :class:`~montalaq.settings.Settings`. ``database_source``:
    where ``DATABASE_URL`` came from (``"settings.MONTALAQ"``, ``"environment"``,
    ``"DATABASES['default']"`` or ``"MONTALAQ_DB_PATH"``), for logs and the commands.
    ``run_scheduler``, ``tick_s`` (wall seconds), ``service_factory`` (None: the default
    :func:`montalaq.api.build_service`).
    """

    settings: Settings
    database_source: str
    run_scheduler: bool
    tick_s: float
    service_factory: Callable[[Settings], Service] | None

    @property
    def database_url_masked(self) -> str:
        """The database URL with its password masked (safe to print)."""
        return mask_url(self.settings.database_url_value)


def _key(name: str) -> str:
    return f"settings.{SETTING}[{name!r}]"


def raw() -> dict[str, Any]:
    """``settings.MONTALAQ`` as a dict with upper-case string keys (``{}`` when unset);
    ImproperlyConfigured when it is not a mapping or a key is not a string."""
    value = getattr(django_settings, SETTING, None)
    if value is None:
        return {}
    if not isinstance(value, Mapping):
        raise ImproperlyConfigured(
            f"settings.{SETTING}: expected a dict of montalaq setting names (the environment names such as "
            f"'SYMBOL', 'DATABASE_URL', 'API_TOKEN') to values, got {type(value).__name__}"
        )
    out: dict[str, Any] = {}
    for key, item in value.items():
        if not isinstance(key, str) or not key.strip():
            raise ImproperlyConfigured(
                f"settings.{SETTING}: keys must be setting names (strings), got {key!r}"
            )
        out[key.strip().upper()] = item
    return out


def _known_names() -> dict[str, str]:
    """Upper-case setting name -> Settings field name."""
    return {name.upper(): name for name in Settings.model_fields}


def _unknown_key(key: str, known: Mapping[str, str]) -> ImproperlyConfigured:
    close = difflib.get_close_matches(key, [*known, *DJANGO_KEYS], n=1, cutoff=0.75)
    hint = f" (did you mean {close[0]!r}?)" if close else ""
    return ImproperlyConfigured(
        f"{_key(key)}: unknown setting{hint}; accepted: the montalaq environment names "
        f"(the fields of montalaq.settings.Settings) and {', '.join(DJANGO_KEYS)}"
    )


def _plain(value: Any) -> Any:
    """Values Settings validates as it would an environment variable's (paths as strings)."""
    if isinstance(value, os.PathLike):
        return os.fspath(value)
    if isinstance(value, tuple):
        return list(value)
    return value


def _attribute_errors(message: str, given: Mapping[str, Any]) -> str:
    """SettingsError's message with each name the dict supplied shown as its dict key."""
    for key in sorted(given, key=len, reverse=True):
        message = re.sub(rf"(^|: |; ){re.escape(key)}:", rf"\g<1>{_key(key)}:", message)
    return message


def _bool(name: str, value: Any) -> bool:
    if isinstance(value, bool):
        return value
    if isinstance(value, str) and value.strip().lower() in _TRUE | _FALSE:
        return value.strip().lower() in _TRUE
    raise ImproperlyConfigured(f"{_key(name)}: expected True or False, got {value!r}")


def _tick(value: Any) -> float:
    try:
        tick_s = float(value) if not isinstance(value, bool) else math.nan
    except (TypeError, ValueError):
        tick_s = math.nan
    if not (math.isfinite(tick_s) and 0 < tick_s <= _MAX_TICK_S):
        raise ImproperlyConfigured(
            f"{_key('TICK_SEC')}: expected seconds > 0 and <= {_MAX_TICK_S:g}, got {value!r}"
        )
    return tick_s


def _factory(value: Any) -> Callable[[Settings], Service] | None:
    if value is None:
        return None
    if isinstance(value, str):
        try:
            value = import_string(value)
        except ImportError as exc:
            raise ImproperlyConfigured(
                f"{_key('SERVICE_FACTORY')}: cannot import {value!r}: {exc}; expected the dotted path "
                "of a callable (Settings) -> montalaq.service.Service"
            ) from None
    if not callable(value):
        raise ImproperlyConfigured(
            f"{_key('SERVICE_FACTORY')}: expected a callable (Settings) -> montalaq.service.Service "
            f"or its dotted path, got {type(value).__name__}"
        )
    factory: Callable[[Settings], Service] = value
    return factory


def _postgres_driver() -> str:
    if importlib.util.find_spec("psycopg") is None and importlib.util.find_spec("psycopg2") is not None:
        return "postgresql+psycopg2"
    return "postgresql+psycopg"


def database_url_from_django(alias: str = "default") -> str | None:
    """A SQLAlchemy URL for the Django database ``alias`` (read from ``settings.DATABASES``),
    or None when montalaq cannot share it (another engine, an in-memory SQLite database).
    ImproperlyConfigured when ``alias`` is not in ``settings.DATABASES``."""
    databases = getattr(django_settings, "DATABASES", None) or {}
    if alias not in databases:
        configured = ", ".join(repr(a) for a in databases) or "none"
        raise ImproperlyConfigured(
            f"{_key('DATABASE_ALIAS')}: no Django database {alias!r} in settings.DATABASES "
            f"(configured: {configured}); expected one of them, or None for montalaq's own SQLite file"
        )
    db: Mapping[str, Any] = databases[alias]
    engine = str(db.get("ENGINE", ""))
    name = db.get("NAME")
    if engine in _SQLITE_ENGINES:
        path = "" if name is None else os.fspath(name)
        if not path or path == ":memory:" or (path.startswith("file:") and "mode=memory" in path):
            return None
        return f"sqlite:///{os.path.abspath(path)}"
    if engine in _POSTGRES_ENGINES:
        options: Mapping[str, Any] = db.get("OPTIONS") or {}
        query = {
            k: str(v)
            for k, v in options.items()
            if k in _LIBPQ_KEYWORDS and isinstance(v, str | int) and not isinstance(v, bool)
        }
        port = db.get("PORT")
        url = URL.create(
            _postgres_driver(),
            username=db.get("USER") or None,
            password=db.get("PASSWORD") or None,
            host=db.get("HOST") or None,
            port=int(port) if port not in (None, "") else None,
            database=(None if name is None else str(name)) or None,
            query=query,
        )
        return url.render_as_string(hide_password=False)
    return None


def _database_url(
    given: Mapping[str, Any], env_settings_url: SecretStr | None
) -> tuple[str | None, str, bool]:
    """``(url or None, source, derived)``: the URL to add to the settings (None: keep)."""
    if "DATABASE_URL" in given:
        return None, "settings.MONTALAQ", False
    if env_settings_url is not None:
        return None, "environment", False
    explicit = "DATABASE_ALIAS" in given
    alias = given.get("DATABASE_ALIAS", "default")
    if alias is None:
        return None, "MONTALAQ_DB_PATH", False
    if not isinstance(alias, str):
        raise ImproperlyConfigured(
            f"{_key('DATABASE_ALIAS')}: expected a Django database alias (a key of settings.DATABASES) "
            f"or None, got {alias!r}"
        )
    databases = getattr(django_settings, "DATABASES", None) or {}
    if not explicit and alias not in databases:
        return None, "MONTALAQ_DB_PATH", False
    url = database_url_from_django(alias)
    if url is None:
        engine = databases[alias].get("ENGINE", "")
        if explicit:
            raise ImproperlyConfigured(
                f"{_key('DATABASE_ALIAS')}: Django database {alias!r} ({engine}) cannot be shared with "
                "montalaq; expected a PostgreSQL database or a SQLite file, or None for montalaq's own "
                "SQLite file"
            )
        log.info(
            "Django database %r (%s) cannot be shared; montalaq uses its own SQLite file (MONTALAQ_DB_PATH)",
            alias,
            engine,
            extra={"component": "django"},
        )
        return None, "MONTALAQ_DB_PATH", False
    return url, f"DATABASES[{alias!r}]", True


def load() -> DjangoConf:
    """The settings now (docs/semantics.md, "Django"); ImproperlyConfigured naming the key and
    the expected form when one is wrong."""
    given = raw()
    known = _known_names()
    fields: dict[str, Any] = {}
    for key, value in given.items():
        if key in DJANGO_KEYS:
            continue
        if key not in known:
            raise _unknown_key(key, known)
        fields[known[key]] = _plain(value)
    try:
        # Settings(**fields) reads the process environment for every field not given.
        settings = Settings(**fields)
        url, source, derived = _database_url(given, settings.database_url)
        if derived:
            settings = Settings(**fields, database_url=url)
    except SettingsError as exc:
        raise ImproperlyConfigured(
            f"montalaq settings (settings.{SETTING} over the environment): "
            f"{_attribute_errors(str(exc), given)}"
        ) from None
    return DjangoConf(
        settings=settings,
        database_source=source,
        run_scheduler=_bool("RUN_SCHEDULER", given.get("RUN_SCHEDULER", False)),
        tick_s=_tick(given.get("TICK_SEC", DEFAULT_TICK_S)),
        service_factory=_factory(given.get("SERVICE_FACTORY")),
    )


__all__ = ["DJANGO_KEYS", "SETTING", "DjangoConf", "database_url_from_django", "load", "raw"]
