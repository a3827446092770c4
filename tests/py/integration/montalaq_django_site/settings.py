"""Settings of the Django project of montalaq's Django tests.

In process, test_django.py passes these to ``settings.configure()`` (never
``DJANGO_SETTINGS_MODULE`` in the test process: Celery's Django fix-up would pick it up in
other test modules); subprocesses (``python -m django ...``) use
``DJANGO_SETTINGS_MODULE=montalaq_django_site.settings``. The environment variables
``MONTALAQ_TEST_DJANGO_DB`` (the SQLite file of Django's default database) and
``MONTALAQ_TEST_FACTORY`` (``SERVICE_FACTORY``) let a subprocess test choose them, and
``MONTALAQ_TEST_DJANGO_PG`` (a database name on the test PostgreSQL server, whose URL is
``MONTALAQ_TEST_PG_URL``) makes the default database that one; the rest of montalaq's
settings come from the environment, merged under ``MONTALAQ``. The admin is installed
(montalaq's read-only pages, at ``/admin/``).
"""

from __future__ import annotations

import os
from urllib.parse import urlsplit

SECRET_KEY = "montalaq-django-tests-only"
DEBUG = False
ALLOWED_HOSTS = ["testserver", "127.0.0.1", "localhost"]
ROOT_URLCONF = "montalaq_django_site.urls"
INSTALLED_APPS = [
    "django.contrib.admin",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "montalaq.django",
]
MIDDLEWARE = [
    "django.middleware.security.SecurityMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
]
TEMPLATES = [
    {
        "BACKEND": "django.template.backends.django.DjangoTemplates",
        "APP_DIRS": True,
        "OPTIONS": {
            "context_processors": [
                "django.template.context_processors.request",
                "django.contrib.auth.context_processors.auth",
                "django.contrib.messages.context_processors.messages",
            ]
        },
    }
]
DATABASES: dict[str, dict[str, object]] = {
    "default": {
        "ENGINE": "django.db.backends.sqlite3",
        "NAME": os.environ.get("MONTALAQ_TEST_DJANGO_DB", ":memory:"),
    }
}
if os.environ.get("MONTALAQ_TEST_DJANGO_PG"):
    _pg = urlsplit(os.environ.get("MONTALAQ_TEST_PG_URL", "postgresql://postgres@127.0.0.1:5432/postgres"))
    DATABASES["default"] = {
        "ENGINE": "django.db.backends.postgresql",
        "NAME": os.environ["MONTALAQ_TEST_DJANGO_PG"],
        "USER": _pg.username or "",
        "PASSWORD": _pg.password or "",
        "HOST": _pg.hostname or "",
        "PORT": str(_pg.port or ""),
    }
USE_TZ = True
MONTALAQ: dict[str, object] = {"SYMBOL": "SPY", "API_TOKEN": "test-token-1234"}
if os.environ.get("MONTALAQ_TEST_FACTORY"):
    MONTALAQ["SERVICE_FACTORY"] = os.environ["MONTALAQ_TEST_FACTORY"]
