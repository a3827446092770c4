"""The outbox delivery worker: a daemon thread that runs the notifier's delivery passes,
woken as soon as a row is queued, backing off while the database or a channel fails
(docs/semantics.md, "Notifications"; docs/operations.md, "Notifications")."""

from __future__ import annotations

import logging
import threading
import time
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from montalaq.notify.notifier import Notifier

log = logging.getLogger("montalaq.notify")


class OutboxWorker:
    """The thread that calls ``notifier.deliver_once`` in a loop, sleeping up to its
    ``poll_interval_s`` after a pass that sent nothing unless :meth:`wake` is called."""

    def __init__(self, notifier: Notifier) -> None:
        self.notifier = notifier
        self._wake = threading.Event()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def wake(self) -> None:
        """Start the next pass now (rows were queued)."""
        self._wake.set()

    def start(self) -> None:
        """Start the thread unless it runs; rows left leased by a killed process of this
        notifier are released first, so delivery resumes at once."""
        if self._thread is not None and self._thread.is_alive():
            return
        store = self.notifier.store
        if store.dialect == "sqlite":
            # One machine, one file: leases can only be this notifier's own, from before a
            # crash. (PostgreSQL is shared by workers: there leases expire after lease_s.)
            store.outbox.release_all_leases()
        self._stop.clear()
        self._thread = threading.Thread(target=self._run, name="montalaq-notifier", daemon=True)
        self._thread.start()

    def _run(self) -> None:
        n = self.notifier
        backoff_s = n.poll_interval_s
        while not self._stop.is_set():
            try:
                done = n.deliver_once()
                backoff_s = n.poll_interval_s
            except Exception:
                # The database is down or a channel misbehaved: log, back off, go on; the
                # rows are in the outbox and will be claimed again.
                log.exception("notification delivery pass failed", extra={"component": "notify"})
                done = 0
                backoff_s = min(backoff_s * 2, 30.0)
                self._stop.wait(backoff_s)
                continue
            if done == 0:
                self._wake.wait(n.poll_interval_s)
                self._wake.clear()

    def stop(self, timeout_s: float) -> None:
        """Stop the thread (the current pass finishes), waiting up to ``timeout_s``."""
        self._stop.set()
        self._wake.set()
        if self._thread is not None:
            self._thread.join(timeout_s)
            self._thread = None

    def wait_idle(self, timeout_s: float) -> bool:
        """Wait until no row is PENDING or FOLDED; True if that happened within the timeout."""
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            counts = self.notifier.store.outbox.counts()
            if counts["PENDING"] == 0 and counts["FOLDED"] == 0:
                return True
            self._wake.set()
            time.sleep(0.05)
        return False


__all__ = ["OutboxWorker"]
