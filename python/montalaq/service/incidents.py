"""What goes wrong at run time and who hears of it: the board's events as notifications,
error episodes reported and resolved through the notifier, and the database and the
notification channels as each cycle saw them (docs/semantics.md, "Lifecycle at run time"
and "Error episodes")."""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING

from montalaq import cycle
from montalaq.shapes import EventDoc

if TYPE_CHECKING:
    from montalaq.lifecycle import Lifecycle
    from montalaq.notify.notifier import Notifier
    from montalaq.service.stats import ServiceStats

log = logging.getLogger("montalaq.service")

_DATABASE = "database"
_CHANNEL = "channel:"


class Incidents:
    """The service's notifications and error episodes (``notifier`` None: nothing is sent,
    errors are still counted by code) and its store writes, which are how the database is
    observed. ``stats``: the service's counters (``notifications``, ``notify_errors``,
    ``store_errors``)."""

    def __init__(self, notifier: Notifier | None, stats: ServiceStats) -> None:
        self.notifier = notifier
        self.stats = stats
        self.errors_by_code: dict[str, int] = {}  # occurrences per error type (the metrics' errors)
        self.store_ok = 0  # store writes that worked
        self.last_store_exc: BaseException | None = None
        self._open: set[str] = set()  # "database", "channel:<name>": reported, not yet resolved

    # -- notifications ------------------------------------------------------------------
    def notify_event(self, event: EventDoc, last_error: tuple[int, str] | None, provider: str | None) -> bool:
        """Queue the notification of a board event (level change, breaker open or close);
        False when there is no notifier or it could not be queued (logged, counted)."""
        if self.notifier is None:
            return False
        try:
            cycle.notify_event(self.notifier, event, last_error, provider)
        except Exception:
            self.stats.notify_errors += 1
            log.exception(
                "could not queue the %s notification of %s %s",
                event["kind"],
                event["symbol"],
                event["timeframe"],
                extra={"component": "service"},
            )
            return False
        self.stats.notifications += 1
        return True

    def count(self, error_type: str) -> None:
        """One more occurrence of ``error_type`` (reported elsewhere, e.g. a provider's)."""
        self.errors_by_code[error_type] = self.errors_by_code.get(error_type, 0) + 1

    def report(self, error_type: str, message: str) -> None:
        """Count an occurrence and report it to the notifier's error throttle."""
        self.count(error_type)
        if self.notifier is None:
            return
        try:
            self.notifier.report_error(error_type, message)
        except Exception:
            self.stats.notify_errors += 1
            log.exception("could not report error %s", error_type, extra={"component": "service"})

    def resolve(self, error_type: str) -> None:
        """Close the error's open episode (one recovery message when it had been sent)."""
        if self.notifier is None:
            return
        try:
            if self.notifier.resolve_error(error_type):
                log.info("%s resolved: recovery notified", error_type, extra={"component": "service"})
        except Exception:
            self.stats.notify_errors += 1
            log.exception("could not resolve error %s", error_type, extra={"component": "service"})

    # -- dependencies at run time ----------------------------------------------------------
    def store_worked(self) -> None:
        """A store write succeeded."""
        self.store_ok += 1

    def store_failed(self, exc: BaseException, writes: int = 1) -> None:
        """``writes`` store writes failed with ``exc``."""
        self.stats.store_errors += writes
        self.last_store_exc = exc

    def writes(self) -> tuple[int, int]:
        """The store writes so far, ``(worked, failed)``: a cycle's starting mark."""
        return self.store_ok, self.stats.store_errors

    def observe_database(self, lifecycle: Lifecycle, before: tuple[int, int]) -> None:
        """The database as the cycle begun at ``before`` (:meth:`writes`) saw it: failed when a
        store write failed, worked when one succeeded and none failed; no write, no
        observation."""
        ok, errors = self.store_ok - before[0], self.stats.store_errors - before[1]
        if errors:
            exc = self.last_store_exc
            lifecycle.report(_DATABASE, exc if exc is not None else ConnectionError("store write failed"))
            if _DATABASE not in self._open:
                self._open.add(_DATABASE)
                self.report("DATABASE", f"store writes failing: {exc}")
        elif ok:
            lifecycle.report(_DATABASE, None)
            if _DATABASE in self._open:
                self._open.discard(_DATABASE)
                self.resolve("DATABASE")

    def observe_channels(self) -> None:
        """Each notification channel's breaker (:func:`montalaq.cycle.channel_changes`)."""
        if self.notifier is None:
            return
        before = {k.removeprefix(_CHANNEL) for k in self._open if k.startswith(_CHANNEL)}
        opened, closed = cycle.channel_changes(self.notifier, before)
        for name in opened:
            self._open.add(_CHANNEL + name)
            self.report(cycle.channel_error_type(name), f"channel {name}: its breaker opened")
        for name in closed:
            self._open.discard(_CHANNEL + name)
            self.resolve(cycle.channel_error_type(name))
