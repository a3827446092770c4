"""``manage.py montalaq_db upgrade|current``: montalaq's schema (Alembic) in its database.

Output and exit codes as ``montalaq db``; ``manage.py migrate`` runs the same upgrade
(docs/semantics.md, "Django"; docs/operations.md, "Django").
"""

# mypy: disable-error-code="import-untyped"
# mypy: allow-subclassing-any
from __future__ import annotations

from typing import Any, ClassVar

from django.core.management.base import BaseCommand, CommandError, CommandParser

from montalaq.django.management.common import EXIT_FAILED, EXIT_USAGE, failure, load_conf
from montalaq.store import migrate
from montalaq.store.engine import mask_url, resolve_url

COMMAND = "montalaq_db"


class Command(BaseCommand):
    """``montalaq_db upgrade|current [--url URL]`` (docs/semantics.md, "Django")."""

    help = (
        "montalaq's database schema: 'upgrade' applies every pending migration, 'current' prints "
        "the current and head revisions (exit 1 when not at head)."
    )
    requires_system_checks: ClassVar[list[str]] = []  # settings errors are reported by the command (exit 2)

    def add_arguments(self, parser: CommandParser) -> None:
        """``action`` and ``--url``."""
        parser.add_argument("action", choices=["upgrade", "current"], help="upgrade or current")
        parser.add_argument(
            "--url",
            help="SQLAlchemy URL (default: montalaq's database from settings.MONTALAQ, DATABASE_URL or "
            "the Django database)",
        )

    def _target(self, url: str | None) -> str:
        if url is None:
            return load_conf(COMMAND).settings.database_url_value
        try:
            return resolve_url(url)
        except ValueError as exc:
            raise CommandError(
                f"{COMMAND}: {str(exc).replace('DATABASE_URL:', '--url:', 1)}", returncode=EXIT_USAGE
            ) from None

    def handle(self, *args: Any, **options: Any) -> None:
        """Run the action."""
        url = self._target(options.get("url"))
        shown = mask_url(url)
        if options["action"] == "upgrade":
            self._upgrade(url, shown)
        else:
            self._current(url, shown)

    def _upgrade(self, url: str, shown: str) -> None:
        try:
            done = migrate.upgrade_url(url)
        except Exception as exc:  # unreachable server, unknown revision, ...: reported, no traceback
            raise failure(f"{COMMAND} upgrade", url, shown, exc) from None
        if done.before == done.reached:
            self.stdout.write(f"{shown}: already at revision {done.reached} (head)")
        else:
            before = done.before or "an empty database"
            self.stdout.write(f"{shown}: upgraded from {before} to revision {done.reached} (head)")

    def _current(self, url: str, shown: str) -> None:
        head = migrate.head_revision()
        try:
            current = migrate.revision_at(url)
        except Exception as exc:
            raise failure(f"{COMMAND} current", url, shown, exc) from None
        self.stdout.write(f"database: {shown}")
        self.stdout.write(f"current: {current or 'none'}")
        self.stdout.write(f"head: {head}")
        if current != head:
            raise CommandError(
                f"{COMMAND} current: the schema is not at head: run `manage.py {COMMAND} upgrade`",
                returncode=EXIT_FAILED,
            )
