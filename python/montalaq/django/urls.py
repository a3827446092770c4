"""URLs of montalaq's API in a Django project: include them under a prefix of your choice::

    urlpatterns = [..., path("montalaq/", include("montalaq.django.urls"))]

One pattern catches every path under the prefix; ``reverse("montalaq:api", kwargs={"subpath":
"health"})`` builds a URL. What answers where: docs/semantics.md, "Django".
"""

# mypy: disable-error-code="import-untyped"
from __future__ import annotations

from django.urls import re_path

from montalaq.django import views

app_name = "montalaq"

urlpatterns = [re_path(r"^(?P<subpath>.*)\Z", views.api, name="api")]
