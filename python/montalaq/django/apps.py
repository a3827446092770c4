"""The Django app config of montalaq (``INSTALLED_APPS += ["montalaq.django"]``).

Label ``montalaq``; no models (montalaq's tables are migrated by its own Alembic
migrations: ``manage.py montalaq_db upgrade``). ``ready()`` builds nothing -- the service
is built on the first request (:mod:`montalaq.django.runtime`) -- it only registers the
system check ``montalaq.E001`` (the settings, :mod:`montalaq.django.conf`) and the
``setting_changed`` receiver that drops a service built from settings that changed.
"""

# mypy: disable-error-code="import-untyped"
# mypy: allow-subclassing-any
from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from django.apps import AppConfig
from django.core import checks
from django.core.exceptions import ImproperlyConfigured


def check_settings(app_configs: Sequence[Any] | None = None, **_kwargs: Any) -> list[Any]:
    """System check ``montalaq.E001``: ``settings.MONTALAQ`` (over the environment) is valid."""
    from montalaq.django.conf import load

    try:
        load()
    except ImproperlyConfigured as exc:
        return [
            checks.Error(
                str(exc),
                hint="see montalaq.django.conf for the keys and their forms",
                id="montalaq.E001",
            )
        ]
    return []


class MontalaqConfig(AppConfig):
    """montalaq's Django app (see the module docstring)."""

    name = "montalaq.django"
    label = "montalaq"
    verbose_name = "montalaq"

    def ready(self) -> None:
        """Register the settings check and the ``setting_changed`` receiver."""
        from django.core.signals import setting_changed

        from montalaq.django.runtime import on_setting_changed

        checks.register(check_settings)
        setting_changed.connect(on_setting_changed, dispatch_uid="montalaq.django.setting_changed")
