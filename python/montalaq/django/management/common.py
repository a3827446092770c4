"""Helpers of montalaq's management commands (exit codes as the ``montalaq`` CLI: 0 ok,
1 failed check or operation, 2 usage or bad settings)."""

# mypy: disable-error-code="import-untyped"
from __future__ import annotations

from django.core.exceptions import ImproperlyConfigured
from django.core.management.base import CommandError
from sqlalchemy.engine import make_url

from montalaq.django.conf import DjangoConf, load

EXIT_FAILED, EXIT_USAGE = 1, 2


def load_conf(command: str) -> DjangoConf:
    """The settings, or CommandError (exit 2) naming the bad key."""
    try:
        return load()
    except ImproperlyConfigured as exc:
        raise CommandError(f"{command}: {exc}", returncode=EXIT_USAGE) from None


def scrub(message: str, url: str) -> str:
    """``message`` with the URL's password (if any) replaced by ``***``."""
    password = make_url(url).password
    return message.replace(str(password), "***") if password else message


def failure(command: str, url: str, shown: str, exc: Exception) -> CommandError:
    """CommandError (exit 1) for an operation on the database that failed: the error's
    type and first line, the password scrubbed, never a traceback."""
    text = str(exc).strip()
    first_line = text.splitlines()[0] if text else ""
    return CommandError(
        scrub(f"{command}: {shown}: {type(exc).__name__}: {first_line}", url), returncode=EXIT_FAILED
    )


__all__ = ["EXIT_FAILED", "EXIT_USAGE", "failure", "load_conf", "scrub"]
