"""``manage.py montalaq_health``: montalaq's start-up checks, once, like ``montalaq health``.

The checks of :func:`montalaq.lifecycle.builtin_checks` on the settings of
:mod:`montalaq.django.conf`: ``database`` (montalaq's database answers and its schema is at
head; a missing SQLite file fails without being created), ``redis`` (with
``GUARD_BACKEND=redis``), ``alerts_dir`` (``ALERTS_DIR`` is writable, relative to the
working directory). One line per check (``ok``/``FAILED``, name, TRANSIENT/PERMANENT,
detail), or ``--json`` (``{"ok", "checks": {name: result}}``, as ``montalaq health --json``).
Exit 0 when every check passes, 1 when one fails, 2 for bad settings (this command runs
without Django's system checks so that it reports them itself).
"""

# mypy: disable-error-code="import-untyped"
# mypy: allow-subclassing-any
from __future__ import annotations

import json
import math
from pathlib import Path
from typing import Any, ClassVar

from django.core.management.base import BaseCommand, CommandError, CommandParser
from sqlalchemy.engine import make_url

from montalaq.django.management.common import EXIT_FAILED, EXIT_USAGE, load_conf
from montalaq.lifecycle import CheckResult, StartupCheck, builtin_checks, run_check
from montalaq.store import Store

COMMAND = "montalaq_health"


class Command(BaseCommand):
    """``montalaq_health [--json] [--timeout SECONDS]`` (see the module docstring)."""

    help = "Run montalaq's start-up checks once (database, redis, alerts folder); exit 1 if any fails."
    requires_system_checks: ClassVar[list[str]] = []

    def add_arguments(self, parser: CommandParser) -> None:
        """``--json`` and ``--timeout``."""
        parser.add_argument("--json", action="store_true", help="print the results as JSON")
        parser.add_argument(
            "--timeout", type=float, default=30.0, help="seconds each check may take (default 30)"
        )

    def handle(self, *args: Any, **options: Any) -> None:
        """Run the checks and print them; CommandError (exit 1) when one fails."""
        timeout_s = float(options["timeout"])
        if not (math.isfinite(timeout_s) and timeout_s > 0):
            raise CommandError(
                f"{COMMAND}: --timeout: expected seconds > 0, got {options['timeout']!r}",
                returncode=EXIT_USAGE,
            )
        conf = load_conf(COMMAND)
        url = conf.settings.database_url_value
        parsed = make_url(url)
        store: Store | None = None
        checks: list[StartupCheck] = []
        if parsed.get_backend_name() == "sqlite" and parsed.database and not Path(parsed.database).exists():
            missing = f"no database file at {parsed.database}: run `manage.py montalaq_db upgrade`"
            checks.append(StartupCheck("database", lambda: CheckResult.permanent(missing)))
        else:
            store = Store(url, auto_migrate=False)
        try:
            checks += builtin_checks(conf.settings, store)
            results = [(c.name, run_check(c, timeout_s=timeout_s)) for c in checks]
        finally:
            if store is not None:
                store.close()
        failed = [name for name, r in results if not r.ok]
        if options["json"]:
            doc = {"ok": not failed, "checks": {name: r.to_dict() for name, r in results}}
            self.stdout.write(json.dumps(doc, indent=2))
        else:
            for name, r in results:
                kind = "" if r.kind is None else r.kind.name
                self.stdout.write(f"{'ok' if r.ok else 'FAILED':<6}  {name:<10}  {kind:<9}  {r.detail}")
        if failed:
            raise CommandError(
                f"{COMMAND}: {len(failed)} check(s) failed: {', '.join(failed)}", returncode=EXIT_FAILED
            )
