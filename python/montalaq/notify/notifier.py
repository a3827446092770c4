"""The notifier: ``notify`` writes one outbox row per channel and returns (the event is
durable, nothing is sent on the caller's thread); a worker delivers the rows with retries,
a breaker per channel, a per-channel rate limit with digests, dedupe and the error-type
throttle. Delivery is at least once, with the idempotency key in every payload.
docs/semantics.md, "Notifications" says what each guard does; docs/operations.md,
"Notifications" how to run and watch it. The parts: :mod:`~montalaq.notify.sending`,
:mod:`~montalaq.notify.digests`, :mod:`~montalaq.notify.worker`,
:mod:`~montalaq.notify.error_reports`, :mod:`~montalaq.notify.payload`.
"""

from __future__ import annotations

import logging
import threading
import time
import uuid
from collections.abc import Callable, Mapping, Sequence
from datetime import datetime
from typing import Any

from montalaq import correlation
from montalaq.dedupe import DedupeCache, DedupeResult, DedupeStore
from montalaq.health import CircuitBreaker
from montalaq.notify.channels import Channel
from montalaq.notify.digests import send_digests
from montalaq.notify.error_reports import ErrorReports
from montalaq.notify.message import Message, Severity
from montalaq.notify.payload import MAX_PAYLOAD_BYTES, MAX_PAYLOAD_DEPTH, check_payload, severity_of
from montalaq.notify.sending import clock_now, send_pending
from montalaq.notify.stats import DeliveryStats, NotifyResult
from montalaq.notify.worker import OutboxWorker
from montalaq.ratelimit import RateLimiter, RedisRateLimiter
from montalaq.retry import RetryPolicy
from montalaq.store import Store
from montalaq.store.outbox import NewOutboxRow
from montalaq.throttle import ErrorThrottle, ThrottleDecision

log = logging.getLogger("montalaq.notify")


class Notifier:
    """Durable, rate-limited, breaker-guarded delivery to ``channels`` (see module doc).

    ``clock`` returns int ns since the epoch (default the wall clock); tests pass their own
    and call :meth:`deliver_once` instead of starting the worker. Thread-safe: ``notify``
    may be called from any thread while the worker runs.
    """

    def __init__(
        self,
        store: Store,
        channels: Sequence[Channel],
        *,
        dry_run: bool = False,
        rate_limit_per_min: int = 60,
        rate_window_s: float = 60.0,
        rate_limiter: RateLimiter | RedisRateLimiter | None = None,
        retry: RetryPolicy | None = None,
        breaker_failures: int = 5,
        breaker_window_s: float = 60.0,
        breaker_cooldown_s: float = 30.0,
        dedupe: DedupeStore | None = None,
        dedupe_ttl_s: float = 900.0,
        throttle: ErrorThrottle | None = None,
        throttle_state_name: str | None = "error_throttle",
        batch_size: int = 200,
        mark_every: int = 20,
        lease_s: float = 60.0,
        poll_interval_s: float = 0.5,
        clock: Callable[[], int] = time.time_ns,
    ) -> None:
        _check_arguments(store, channels, batch_size, mark_every, lease_s, poll_interval_s)
        self.store = store
        self.channels: dict[str, Channel] = {c.name: c for c in channels}
        self.dry_run = bool(dry_run)
        self.rate_limiter = (
            rate_limiter
            if rate_limiter is not None
            else RateLimiter(limit=rate_limit_per_min, window_s=rate_window_s)
        )
        self.retry = retry if retry is not None else RetryPolicy()
        self.breakers: dict[str, CircuitBreaker] = {
            name: CircuitBreaker(
                f"notify.{name}",
                failure_threshold=breaker_failures,
                window_s=breaker_window_s,
                cooldown_s=breaker_cooldown_s,
            )
            for name in self.channels
        }
        self.dedupe: DedupeStore = dedupe if dedupe is not None else DedupeCache(ttl_s=dedupe_ttl_s)
        self.throttle = throttle if throttle is not None else ErrorThrottle()
        # A throttle of its own is saved in the store after each change and read back on
        # first use (None: not kept; a shared Redis throttle keeps its own state).
        self.throttle_state_name = throttle_state_name if type(self.throttle) is ErrorThrottle else None
        self.batch_size = batch_size
        self.mark_every = mark_every
        self.lease_s = float(lease_s)
        self.poll_interval_s = float(poll_interval_s)
        self.clock = clock
        self.stats = DeliveryStats()
        self._lock = threading.Lock()  # one delivery pass at a time
        self._stuck_logged: set[int] = set()  # rows logged at ERROR for retrying past max_attempts
        self._errors = ErrorReports(self)
        self._worker = OutboxWorker(self)

    def __repr__(self) -> str:
        return f"Notifier(channels={list(self.channels)}, dry_run={self.dry_run}, store={self.store!r})"

    def _now(self) -> tuple[int, datetime]:
        return clock_now(self)

    # -- producing ------------------------------------------------------------------------
    def _targets(self, kind: str, channels: Sequence[str] | None) -> list[str]:
        """The channels an event of ``kind`` goes to: the named ``channels`` (ValueError
        for one not configured), else every channel that takes the kind."""
        if channels is None:
            # A channel that takes only some kinds (SLACK_ANALYSIS_ONLY) is left out of the rest.
            targets = [n for n, c in self.channels.items() if _takes(c, kind)]
        else:
            targets = list(channels)
        unknown = [c for c in targets if c not in self.channels]
        if unknown:
            raise ValueError(f"channels: unknown {unknown}; configured: {list(self.channels)}")
        return targets

    def notify(
        self,
        kind: str,
        title: str,
        text: str = "",
        *,
        severity: Severity | str = Severity.INFO,
        fields: Mapping[str, Any] | None = None,
        error_code: Any = None,
        correlation_id: str | None = None,
        dedupe_key: str | None = None,
        idempotency_key: str | None = None,
        channels: Sequence[str] | None = None,
    ) -> NotifyResult:
        """Queue one event for every channel (or the named ``channels``); durable on return.

        ``dedupe_key``: drop the event when the same key was notified within the dedupe
        TTL (recorded in ``dedup_events``). ``idempotency_key``: the key receivers see
        (default a fresh UUID); queueing the same key twice for a channel is a no-op.
        ``correlation_id`` defaults to the current one (``montalaq.correlation_scope``).
        """
        if not isinstance(kind, str) or not kind or len(kind) > 32:
            raise ValueError(f"kind: expected a non-empty string of at most 32 characters, got {kind!r}")
        if not isinstance(title, str) or not title:
            raise ValueError("title: expected a non-empty string")
        sev = severity_of(severity)
        targets = self._targets(kind, channels)
        if idempotency_key is not None and (
            not isinstance(idempotency_key, str) or not 0 < len(idempotency_key) <= 128
        ):
            raise ValueError("idempotency_key: expected a non-empty string of at most 128 characters")
        code = None if error_code is None else getattr(error_code, "name", str(error_code))
        cid = correlation_id if correlation_id is not None else correlation.get()
        now_ns, now = self._now()
        if (
            dedupe_key is not None
            and self.dedupe.check_and_record(dedupe_key, now_ns) is DedupeResult.DEDUPED
        ):
            self.stats.deduped += 1
            self.store.record_dedup_event(
                dedupe_key, "DEDUPED", correlation_id=cid, payload={"kind": kind, "title": title}, now=now
            )
            return NotifyResult(idempotency_key or "", 0, deduped=True)
        key = idempotency_key or uuid.uuid4().hex
        message = Message(
            idempotency_key=key,
            kind=kind,
            title=title,
            text=text,
            severity=sev,
            fields=dict(fields or {}),
            error_code=code,
            correlation_id=cid,
            created_at=now,
        )
        payload = message.to_payload()
        check_payload(payload)
        status = "DRY_RUN" if self.dry_run else "PENDING"
        rows = [NewOutboxRow(c, key, kind, sev.value, payload, cid, code, status) for c in targets]
        queued = self.store.enqueue(rows, now)
        if self.dry_run:
            log.info(
                "dry run: would send %s %r to %s",
                kind,
                title,
                ", ".join(targets),
                extra={"component": "notify", "idempotency_key": key, "correlation_id": cid},
            )
            self.stats.dry_run += queued
        else:
            self._worker.wake()
        return NotifyResult(key, queued)

    # -- error types (docs/semantics.md, "Notifications", error throttle, and "Error episodes")
    def report_error(self, error_type: Any, message: Any = "") -> ThrottleDecision:
        """Count one occurrence of ``error_type``; the first in its throttle window goes out
        in the next aggregated error digest, later ones are only counted. The occurrence is
        recorded on the type's open episode in ``error_notifications_log``."""
        decision = self._errors.report(error_type, message)
        self._worker.wake()
        return decision

    def resolve_error(self, error_type: Any) -> bool:
        """End an error type's episode: one recovery message when its error was sent; its
        open episode is closed either way. Returns whether a recovery message was queued."""
        return self._errors.resolve(error_type)

    # -- delivering -----------------------------------------------------------------------
    def deliver_once(self) -> int:
        """One delivery pass over every channel; returns how many rows went out (sent or
        digested). The worker calls this in a loop; tests call it directly."""
        with self._lock:
            now_ns, _ = self._now()
            self._errors.flush(now_ns)
            done = 0
            for channel in self.channels.values():
                # Folded rows first: they are older than anything still pending.
                digested, go_on = send_digests(self, channel)
                done += digested
                if go_on:
                    done += send_pending(self, channel, self._stuck_logged)
            return done

    # -- worker ---------------------------------------------------------------------------
    def start(self) -> Notifier:
        """Start the delivery worker (a daemon thread); rows left leased by a killed
        process of this notifier are released first, so delivery resumes at once."""
        self._worker.start()
        return self

    def stop(self, timeout_s: float = 10.0) -> None:
        """Stop the worker (the current pass finishes) and close the channels."""
        self._worker.stop(timeout_s)
        for channel in self.channels.values():
            try:
                channel.close()
            except Exception:
                log.warning("closing channel %s failed", channel.name, exc_info=True)

    def wait_idle(self, timeout_s: float = 30.0) -> bool:
        """Wait until no row is PENDING or FOLDED; True if that happened within the timeout."""
        return self._worker.wait_idle(timeout_s)

    def __enter__(self) -> Notifier:
        return self.start()

    def __exit__(self, *_exc: object) -> None:
        self.stop()


def _check_arguments(
    store: Store,
    channels: Sequence[Channel],
    batch_size: int,
    mark_every: int,
    lease_s: float,
    poll_interval_s: float,
) -> None:
    """TypeError or ValueError naming the first argument of ``Notifier`` that is wrong."""
    if not isinstance(store, Store):
        raise TypeError(f"store: expected a montalaq Store, got {type(store).__name__}")
    names = [getattr(c, "name", None) for c in channels]
    if any(not isinstance(n, str) or not n for n in names):
        raise ValueError("channels: every channel needs a non-empty name")
    if len(set(names)) != len(names):
        raise ValueError(f"channels: names must be unique, got {names}")
    for name, value, lo in (("batch_size", batch_size, 1), ("mark_every", mark_every, 1)):
        if isinstance(value, bool) or not isinstance(value, int) or value < lo:
            raise ValueError(f"{name}: expected an integer >= {lo}, got {value!r}")
    for name, fvalue in (("lease_s", lease_s), ("poll_interval_s", poll_interval_s)):
        if isinstance(fvalue, bool) or not isinstance(fvalue, int | float) or not fvalue > 0:
            raise ValueError(f"{name}: expected seconds > 0, got {fvalue!r}")


def _takes(channel: object, kind: str) -> bool:
    kinds = getattr(channel, "kinds", None)
    return kinds is None or kind in kinds


__all__ = [
    "MAX_PAYLOAD_BYTES",
    "MAX_PAYLOAD_DEPTH",
    "DeliveryStats",
    "Notifier",
    "NotifyResult",
    "check_payload",
]
