"""URLs of montalaq's API in a Django project: include them under a prefix of your choice.

::

    # urls.py of the project
    from django.urls import include, path

    urlpatterns = [
        ...,
        path("montalaq/", include("montalaq.django.urls")),
    ]

Then ``/montalaq/`` is the dashboard, ``/montalaq/health``, ``/montalaq/api/analysis/latest``
... are the endpoints of docs/semantics.md, HTTP API and ``/montalaq/api/docs`` documents them. One pattern
catches every path under the prefix and hands it to the router (see
:mod:`montalaq.django.views`), so unknown paths under the prefix answer montalaq's JSON 404
``{"detail": "Not Found"}``; included at the root (``path("", include(...))``), put it
last. ``reverse("montalaq:api", kwargs={"subpath": "health"})`` builds a URL.
"""

# mypy: disable-error-code="import-untyped"
from __future__ import annotations

from django.urls import re_path

from montalaq.django import views

app_name = "montalaq"

urlpatterns = [re_path(r"^(?P<subpath>.*)\Z", views.api, name="api")]
