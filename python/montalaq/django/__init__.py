"""montalaq in a Django project (``pip install montalaq[django]``)::

    # settings.py
    INSTALLED_APPS += ["montalaq.django"]
    MONTALAQ = {"SYMBOL": "SPY", "API_TOKEN": os.environ["MONTALAQ_API_TOKEN"]}
    # urls.py
    urlpatterns += [path("montalaq/", include("montalaq.django.urls"))]

``manage.py migrate`` upgrades montalaq's tables; the admin shows them (docs/operations.md and
docs/semantics.md, "Django"). Names load on first use: listing the app costs commands nothing.
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
    from montalaq.django.tables import tables_alias

_LAZY = {
    "DjangoConf": "montalaq.django.conf",
    "load": "montalaq.django.conf",
    "get_app": "montalaq.django.runtime",
    "get_router": "montalaq.django.runtime",
    "get_service": "montalaq.django.runtime",
    "install_service": "montalaq.django.runtime",
    "reset_service": "montalaq.django.runtime",
    "tables_alias": "montalaq.django.tables",
}


def __getattr__(name: str) -> Any:
    module = _LAZY.get(name)
    if module is None:
        raise AttributeError(f"module 'montalaq.django' has no attribute {name!r}")
    with needs("montalaq.django"):  # django, fastapi: the django extra
        return getattr(importlib.import_module(module), name)


__all__ = [
    "DjangoConf",
    "get_app",
    "get_router",
    "get_service",
    "install_service",
    "load",
    "reset_service",
    "tables_alias",
]
