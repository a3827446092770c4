"""``manage.py montalaq_db upgrade|current``: montalaq's schema (Alembic) in its database.

Output and exit codes as ``montalaq db``; run ``upgrade`` in your deploy step next to
``manage.py migrate``, which does not touch montalaq's tables (docs/semantics.md, "Django";
docs/operations.md, "Django").
"""

# mypy: disable-error-code="import-untyped"
# mypy: allow-subclassing-any
from __future__ import annotations

from pathlib import Path
from typing import Any, ClassVar

from django.core.management.base import BaseCommand, CommandError, CommandParser
from sqlalchemy.engine import make_url

from montalaq.django.management.common import EXIT_FAILED, EXIT_USAGE, failure, load_conf
from montalaq.store import migrate
from montalaq.store.engine import make_engine, mask_url, resolve_url

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
        parsed = make_url(url)
        if parsed.get_backend_name() == "sqlite" and parsed.database and parsed.database != ":memory:":
            Path(parsed.database).expanduser().parent.mkdir(parents=True, exist_ok=True)
        engine = make_engine(url)
        try:
            before = migrate.current_revision(engine)
            reached = migrate.upgrade(engine)
        except Exception as exc:  # unreachable server, unknown revision, ...: reported, no traceback
            raise failure(f"{COMMAND} upgrade", url, shown, exc) from None
        finally:
            engine.dispose()
        if before == reached:
            self.stdout.write(f"{shown}: already at revision {reached} (head)")
        else:
            self.stdout.write(
                f"{shown}: upgraded from {before or 'an empty database'} to revision {reached} (head)"
            )

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
