"""URLs of the Django test project: a view of its own, the admin under ``/admin/`` and
montalaq under ``/montalaq/``."""

from __future__ import annotations

from django.contrib import admin
from django.http import HttpRequest, JsonResponse
from django.urls import include, path


def host_ping(_request: HttpRequest) -> JsonResponse:
    """The host project's own view (montalaq's include must leave it alone)."""
    return JsonResponse({"host": "yes"})


urlpatterns = [
    path("host-ping", host_ping),
    path("admin/", admin.site.urls),
    path("montalaq/", include("montalaq.django.urls")),
]
