"""montalaq in a Django project (``pip install montalaq[django]``)::

    # settings.py
    INSTALLED_APPS += ["montalaq.django"]
    MONTALAQ = {"SYMBOL": "SPY", "API_TOKEN": os.environ["MONTALAQ_API_TOKEN"]}
    # urls.py
    urlpatterns += [path("montalaq/", include("montalaq.django.urls"))]

Running it: docs/operations.md, "Django"; how it works: docs/semantics.md, "Django". The
names below load on first use, so listing the app costs nothing to commands that skip it.
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
