"""Django migrations of the montalaq app: unmanaged models only (montalaq.django.models)."""
