"""montalaq in a Django project (``pip install montalaq[django]``; docs/operations.md, "Django").

::

    # settings.py
    INSTALLED_APPS += ["montalaq.django"]
    MONTALAQ = {"SYMBOL": "SPY", "API_TOKEN": os.environ["MONTALAQ_API_TOKEN"]}

    # urls.py
    urlpatterns += [path("montalaq/", include("montalaq.django.urls"))]

    # shell
    python manage.py montalaq_db upgrade      # montalaq's tables (Alembic), next to `migrate`
    python manage.py montalaq_health          # start-up checks; exit 1 if one fails
    python manage.py montalaq_run             # the scheduler, until SIGTERM/SIGINT

Every endpoint of the HTTP API (docs/semantics.md) then answers under ``/montalaq/`` with the same statuses,
headers and bodies as the FastAPI router: the Django view hands each request to that
router in process (:mod:`montalaq.django.views`). Settings come from ``settings.MONTALAQ``
over the environment, the database defaults to Django's own (:mod:`montalaq.django.conf`);
the service is built lazily once per process and the scheduler runs in one place of your
choice (:mod:`montalaq.django.runtime`); the management commands are in
:mod:`montalaq.django.management.commands`.

This package imports nothing heavy: the names below are loaded on first use, so that
listing the app in ``INSTALLED_APPS`` costs nothing to commands that never touch it.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

from montalaq._optional import needs

if TYPE_CHECKING:
    from montalaq.django.conf import DjangoConf, load
    from montalaq.django.runtime import (
        get_app,
        get_router,
        get_service,
        install_service,
        reset_service,
    )

_LAZY = {
    "DjangoConf": "montalaq.django.conf",
    "load": "montalaq.django.conf",
    "get_app": "montalaq.django.runtime",
    "get_router": "montalaq.django.runtime",
    "get_service": "montalaq.django.runtime",
    "install_service": "montalaq.django.runtime",
    "reset_service": "montalaq.django.runtime",
}


def __getattr__(name: str) -> Any:
    module = _LAZY.get(name)
    if module is None:
        raise AttributeError(f"module 'montalaq.django' has no attribute {name!r}")
    with needs("montalaq.django"):  # django, fastapi: the django extra
        return getattr(importlib.import_module(module), name)


__all__ = ["DjangoConf", "get_app", "get_router", "get_service", "install_service", "load", "reset_service"]
