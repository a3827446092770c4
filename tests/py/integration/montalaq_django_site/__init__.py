"""A Django project for montalaq's Django tests (``montalaq_django_site.settings``)."""
