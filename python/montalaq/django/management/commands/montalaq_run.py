"""``manage.py montalaq_run``: montalaq's scheduler, in the foreground, until SIGTERM/SIGINT.

Run exactly one, next to your web workers (which do not run it unless ``RUN_SCHEDULER`` is
set), or use montalaq's Celery tasks instead. Options, output, stopping and exit codes:
docs/semantics.md, "Django"; where to run it: docs/operations.md, "Django".
"""

# mypy: disable-error-code="import-untyped"
# mypy: allow-subclassing-any
from __future__ import annotations

import asyncio
import contextlib
import math
import signal
from typing import Any, ClassVar

from django.core.exceptions import ImproperlyConfigured
from django.core.management.base import BaseCommand, CommandError, CommandParser

from montalaq.api import close_service
from montalaq.django.management.common import EXIT_FAILED, EXIT_USAGE, load_conf
from montalaq.django.runtime import run_scheduler, service_from_conf
from montalaq.service import Service

COMMAND = "montalaq_run"


def _seconds(name: str, value: Any, *, upper: float) -> float:
    try:
        seconds = float(value)
    except (TypeError, ValueError):
        seconds = math.nan
    if not (math.isfinite(seconds) and 0 < seconds <= upper):
        raise CommandError(
            f"{COMMAND}: {name}: expected seconds > 0 and <= {upper:g}, got {value!r}", returncode=EXIT_USAGE
        )
    return seconds


class Command(BaseCommand):
    """``montalaq_run [--tick SECONDS] [--duration SECONDS]`` (docs/semantics.md, "Django")."""

    help = "Run montalaq's scheduler (feeds, bars, analyses, agents, escalation) until SIGTERM or SIGINT."
    requires_system_checks: ClassVar[list[str]] = []

    def add_arguments(self, parser: CommandParser) -> None:
        """``--tick`` and ``--duration``."""
        parser.add_argument("--tick", help="seconds between cycles (default TICK_SEC, 0.25)")
        parser.add_argument("--duration", help="stop by itself after this many seconds")

    def handle(self, *args: Any, **options: Any) -> None:
        """Run the scheduler until a signal (or ``--duration``)."""
        conf = load_conf(COMMAND)
        tick_s = (
            conf.tick_s if options.get("tick") is None else _seconds("--tick", options["tick"], upper=3600)
        )
        duration = options.get("duration")
        duration_s = None if duration is None else _seconds("--duration", duration, upper=math.inf)
        try:
            service = service_from_conf(conf)
        except ImproperlyConfigured as exc:
            raise CommandError(f"{COMMAND}: {exc}", returncode=EXIT_USAGE) from None
        except Exception as exc:
            raise CommandError(
                f"{COMMAND}: cannot build the service: {type(exc).__name__}: {exc}", returncode=EXIT_FAILED
            ) from None
        try:
            if conf.run_scheduler:
                self.stderr.write(
                    f"{COMMAND}: settings.MONTALAQ['RUN_SCHEDULER'] is true: web processes run the scheduler "
                    "too; run montalaq_run only where they do not"
                )
            self.stdout.write(
                f"{COMMAND}: scheduler running: symbols {','.join(service.symbols)}, timeframes "
                f"{','.join(service.timeframes)}, every {tick_s:g} s, database {conf.database_url_masked} "
                f"(from {conf.database_source}); SIGTERM or SIGINT stops"
            )
            self.stdout.flush()
            asyncio.run(self._run(service, tick_s, duration_s))
            stats = service.stats
            self.stdout.write(
                f"{COMMAND}: stopped after {stats.cycles} cycles ({stats.trades_ingested} trades, "
                f"{stats.bars_closed} bars, {stats.analyses_complete} analyses)"
            )
        finally:
            close_service(service)

    async def _run(self, service: Service, tick_s: float, duration_s: float | None) -> None:
        loop = asyncio.get_running_loop()
        stop = asyncio.Event()
        handled: list[signal.Signals] = []
        for sig in (signal.SIGTERM, signal.SIGINT):
            # Not in the main thread (call_command from a thread): no handlers; --duration stops it.
            with contextlib.suppress(ValueError, RuntimeError, NotImplementedError):
                loop.add_signal_handler(sig, stop.set)
                handled.append(sig)
        timer = None if duration_s is None else loop.call_later(duration_s, stop.set)
        try:
            await run_scheduler(service, stop, tick_s=tick_s)
        finally:
            if timer is not None:
                timer.cancel()
            for sig in handled:
                loop.remove_signal_handler(sig)
