"""Error types through the notifier's throttle: an occurrence is counted and recorded on
its episode, due digests go out as one ``error`` event, a resolved type as one
``recovery`` event; the throttle's state is saved in the store so that a restart inside a
window does not notify again (docs/semantics.md, "Notifications", error throttle, and
"Error episodes")."""

from __future__ import annotations

import logging
import threading
from datetime import datetime
from typing import TYPE_CHECKING, Any

from montalaq._time import datetime_utc
from montalaq.notify.message import Severity
from montalaq.throttle import ThrottleDecision, format_digest

if TYPE_CHECKING:
    from montalaq.notify.notifier import Notifier

log = logging.getLogger("montalaq.notify")


class ErrorReports:
    """The error-type side of ``notifier``: its ``throttle``, saved under
    ``throttle_state_name`` (None: not kept) and read back on first use."""

    def __init__(self, notifier: Notifier) -> None:
        self.notifier = notifier
        self._lock = threading.Lock()
        self._restored = False

    def report(self, error_type: Any, message: Any = "") -> ThrottleDecision:
        """See :meth:`Notifier.report_error`."""
        n = self.notifier
        now_ns = n.clock()
        now = datetime_utc(now_ns)
        with self._lock:
            self._restore()
            decision = n.throttle.report(error_type, message, now_ns)
            name = getattr(error_type, "name", error_type)
            n.store.record_error(str(name), message if isinstance(message, str) else str(message), now=now)
            self._save(now)
        return decision

    def resolve(self, error_type: Any) -> bool:
        """See :meth:`Notifier.resolve_error`."""
        n = self.notifier
        now_ns = n.clock()
        now = datetime_utc(now_ns)
        with self._lock:
            self._restore()
            recovery = n.throttle.resolve(error_type, now_ns)
            name = str(getattr(error_type, "name", error_type))
            n.store.resolve_error_episode(name, now=now, notified=recovery is not None)
            self._save(now)
        if recovery is None:
            return False
        n.notify(
            "recovery",
            f"{recovery['error_type']} resolved",
            f"{recovery['count']} occurrence(s) since {recovery['since']:%Y-%m-%dT%H:%M:%SZ}",
            severity=Severity.INFO,
            fields={"error_type": recovery["error_type"], "count": recovery["count"]},
            idempotency_key=f"recovery-{recovery['error_type']}-{now_ns}"[:128],
        )
        return True

    def flush(self, now_ns: int) -> None:
        """Queue the error digests due at ``now_ns``, one ``error`` event each."""
        n = self.notifier
        with self._lock:
            self._restore()
            digests = n.throttle.flush(now_ns)
            if digests:
                now = datetime_utc(now_ns)
                n.store.record_error_notification([e["error_type"] for d in digests for e in d], now=now)
                self._save(now)
        for digest in digests:
            n.notify(
                "error",
                f"{len(digest)} error type{'s' if len(digest) != 1 else ''}: "
                + ", ".join(f"{e['error_type']} x{e['count']}" for e in digest),
                format_digest(digest),
                severity=Severity.WARNING,
                fields={e["error_type"]: e["count"] for e in digest},
                error_code=digest[0]["error_type"],
            )

    def _restore(self) -> None:
        """Read the throttle's saved state back once (call with the lock held), so a restart
        inside a window does not notify the same error again."""
        n = self.notifier
        if self._restored or n.throttle_state_name is None:
            return
        self._restored = True
        try:
            saved = n.store.load_service_state(n.throttle_state_name)
            if saved is not None:
                n.throttle.load_json(saved[0])
                log.info("error throttle restored (saved %s)", saved[1], extra={"component": "notify"})
        except Exception as exc:  # a damaged or unreadable snapshot: start clean, say so
            log.warning("error throttle not restored: %s", exc, extra={"component": "notify"})

    def _save(self, now: datetime) -> None:
        n = self.notifier
        if n.throttle_state_name is not None:
            n.store.save_service_state(n.throttle_state_name, n.throttle.to_json(), now=now)


__all__ = ["ErrorReports"]
