"""The Django app config of montalaq (``INSTALLED_APPS += ["montalaq.django"]``).

Label ``montalaq``; unmanaged models of montalaq's tables for the read-only admin.
``ready()`` builds nothing -- the service is built on the first request
(:mod:`montalaq.django.runtime`) -- it registers the system checks ``montalaq.E001`` (the
settings, :mod:`montalaq.django.conf`) and ``montalaq.W001`` (:mod:`montalaq.django.tables`),
the ``post_migrate`` receiver that upgrades montalaq's tables, and the ``setting_changed``
receiver that drops a service built from settings that changed.
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
        """Register the checks and the ``post_migrate`` and ``setting_changed`` receivers."""
        from django.core.signals import setting_changed
        from django.db.models.signals import post_migrate

        from montalaq.django.runtime import on_setting_changed
        from montalaq.django.tables import check_tables, upgrade_on_migrate

        checks.register(check_settings)
        checks.register(check_tables)
        post_migrate.connect(upgrade_on_migrate, sender=self, dispatch_uid="montalaq.django.post_migrate")
        setting_changed.connect(on_setting_changed, dispatch_uid="montalaq.django.setting_changed")
