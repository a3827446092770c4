"""Settings of the Django project of montalaq's Django tests.

In process, test_django.py passes these to ``settings.configure()`` (never
``DJANGO_SETTINGS_MODULE`` in the test process: Celery's Django fix-up would pick it up in
other test modules); subprocesses (``python -m django ...``) use
``DJANGO_SETTINGS_MODULE=montalaq_django_site.settings``. The environment variables
``MONTALAQ_TEST_DJANGO_DB`` (the SQLite file of Django's default database) and
``MONTALAQ_TEST_FACTORY`` (``SERVICE_FACTORY``) let a subprocess test choose them; the
rest of montalaq's settings come from the environment, merged under ``MONTALAQ``.
"""

from __future__ import annotations

import os

SECRET_KEY = "montalaq-django-tests-only"
DEBUG = False
ALLOWED_HOSTS = ["testserver", "127.0.0.1", "localhost"]
ROOT_URLCONF = "montalaq_django_site.urls"
INSTALLED_APPS = ["montalaq.django"]
MIDDLEWARE = [
    "django.middleware.security.SecurityMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
]
DATABASES = {
    "default": {
        "ENGINE": "django.db.backends.sqlite3",
        "NAME": os.environ.get("MONTALAQ_TEST_DJANGO_DB", ":memory:"),
    }
}
USE_TZ = True
MONTALAQ: dict[str, object] = {"SYMBOL": "SPY", "API_TOKEN": "test-token-1234"}
if os.environ.get("MONTALAQ_TEST_FACTORY"):
    MONTALAQ["SERVICE_FACTORY"] = os.environ["MONTALAQ_TEST_FACTORY"]
