"""The notifier (SPEC §6): outbox first, then delivery with retries, a breaker per channel,
a per-channel rate limit with digests, dedupe and the error-type throttle.

``notify(...)`` writes one outbox row per channel in one transaction and returns: the
event is durable before the caller goes on, and nothing is sent on the caller's thread.
A background worker (``start()``) claims due rows and sends them:

- a channel whose breaker is open is skipped; its rows wait for the breaker's cooldown;
- over the channel's rate limit (``rate_limit_per_min`` per ``rate_window_s``) a row is
  FOLDED; folded rows go out as digests (up to ``channel.max_digest_items`` each, every
  folded event listed or counted) as soon as the window has room, before newer rows;
- a transient failure (connection refused, timeout, 429, 5xx) reschedules the row with
  exponential backoff (``Retry-After`` honoured), capped at the policy's ``max_delay_s``,
  and counts against the breaker; the row is never dropped. Once the breaker opens, the
  channel sees one probe per cooldown until it answers: attempts stay bounded and no flood
  follows an outage (the backlog drains under the rate limit, surplus in digests);
- a permanent failure (another 4xx, a refused address) marks the row DEAD: kept, logged,
  re-queueable with ``store.outbox.requeue_dead()``.

Delivery is at least once: a process killed between a send and its mark sends that row
again after restart, with the same idempotency key (in the payload and the
``Idempotency-Key`` header) so the receiver can drop it. Rows are marked in small batches
(``mark_every``), which bounds those duplicates. ``dry_run`` records and logs what would
be sent (status DRY_RUN) and sends nothing. Secrets never reach a log line or a row: the
channels scrub them from their errors.
"""

from __future__ import annotations

import json
import logging
import math
import threading
import time
import uuid
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

from montalaq import correlation
from montalaq._time import datetime_utc
from montalaq.dedupe import DedupeCache, DedupeResult, DedupeStore
from montalaq.health import CircuitBreaker
from montalaq.notify.channels import Channel
from montalaq.notify.message import DeliveryError, DigestItem, Message, Severity
from montalaq.ratelimit import RateLimiter, RedisRateLimiter
from montalaq.retry import RetryPolicy
from montalaq.store import Store
from montalaq.store.outbox import NewOutboxRow, OutboxRow
from montalaq.throttle import ErrorThrottle, ThrottleDecision, format_digest

log = logging.getLogger("montalaq.notify")

_NS = 1_000_000_000


@dataclass(frozen=True)
class NotifyResult:
    """What ``notify`` did: the event's idempotency key, rows queued (one per channel;
    0 when the key was already queued), and whether dedupe dropped it."""

    idempotency_key: str
    queued: int
    deduped: bool = False


@dataclass
class DeliveryStats:
    """Counters since the notifier was created (this process only)."""

    sent: int = 0
    digests: int = 0
    digested_events: int = 0
    folded: int = 0
    transient_failures: int = 0
    dead: int = 0
    breaker_skips: int = 0
    dry_run: int = 0
    deduped: int = 0
    per_channel_sent: dict[str, int] = field(default_factory=dict)


MAX_PAYLOAD_BYTES = 256 * 1024
"""The largest notification payload ``notify`` accepts (its JSON, UTF-8)."""
MAX_PAYLOAD_DEPTH = 32
"""The deepest nesting of ``fields`` ``notify`` accepts."""


def check_payload(payload: Mapping[str, Any]) -> None:
    """Refuse, before it is stored, a payload no channel could ever send (regression: such
    rows were retried forever and each retry counted against the channel's breaker):
    nesting deeper than ``MAX_PAYLOAD_DEPTH``, text that is not encodable as UTF-8 (a lone
    surrogate), values that are not JSON, more than ``MAX_PAYLOAD_BYTES``. ValueError naming
    the field."""

    def walk(value: Any, where: str, depth: int) -> None:
        if depth > MAX_PAYLOAD_DEPTH:
            raise ValueError(f"{where}: nested deeper than {MAX_PAYLOAD_DEPTH} levels")
        if isinstance(value, str):
            try:
                value.encode("utf-8")
            except UnicodeEncodeError:
                raise ValueError(f"{where}: text that is not valid UTF-8 (a lone surrogate)") from None
        elif isinstance(value, Mapping):
            for k, v in value.items():
                walk(k, f"{where} key", depth + 1)
                walk(v, f"{where}.{k}" if isinstance(k, str) else where, depth + 1)
        elif isinstance(value, list | tuple):
            for i, v in enumerate(value):
                walk(v, f"{where}[{i}]", depth + 1)
        elif isinstance(value, float) and not math.isfinite(value):
            raise ValueError(f"{where}: {value!r} is not a JSON number")
        elif value is not None and not isinstance(value, bool | int | float):
            raise ValueError(f"{where}: {type(value).__name__} is not JSON")

    for key, value in payload.items():
        walk(value, key, 1)
    size = len(json.dumps(payload, ensure_ascii=False).encode("utf-8"))
    if size > MAX_PAYLOAD_BYTES:
        raise ValueError(f"payload: {size} bytes, more than {MAX_PAYLOAD_BYTES}; send less in fields or text")


def _unsendable(exc: BaseException) -> bool:
    """An error the same payload raises on every try: the row goes DEAD at once and the
    channel's breaker hears nothing (the channel was never reached)."""
    if isinstance(exc, DeliveryError):
        return bool(exc.permanent)
    return isinstance(exc, ValueError | TypeError | RecursionError | KeyError | UnicodeError)


def _severity(value: Severity | str) -> Severity:
    try:
        return value if isinstance(value, Severity) else Severity(str(value).upper())
    except ValueError:
        raise ValueError(f"severity: expected INFO, WARNING or CRITICAL, got {value!r}") from None


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
        self._throttle_restored_done = False
        self.batch_size = batch_size
        self.mark_every = mark_every
        self.lease_s = float(lease_s)
        self.poll_interval_s = float(poll_interval_s)
        self.clock = clock
        self.stats = DeliveryStats()
        self._lock = threading.Lock()  # one delivery pass at a time
        self._throttle_lock = threading.Lock()
        self._wake = threading.Event()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._stuck_logged: set[int] = set()

    def __repr__(self) -> str:
        return f"Notifier(channels={list(self.channels)}, dry_run={self.dry_run}, store={self.store!r})"

    def _now(self) -> tuple[int, datetime]:
        ns = self.clock()
        return ns, datetime_utc(ns)

    # -- producing ------------------------------------------------------------------------
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
        sev = _severity(severity)
        if channels is None:
            # A channel that takes only some kinds (SLACK_ANALYSIS_ONLY) is left out of the rest.
            targets = [n for n, c in self.channels.items() if _takes(c, kind)]
        else:
            targets = list(channels)
        unknown = [c for c in targets if c not in self.channels]
        if unknown:
            raise ValueError(f"channels: unknown {unknown}; configured: {list(self.channels)}")
        if idempotency_key is not None and (
            not isinstance(idempotency_key, str) or not 0 < len(idempotency_key) <= 128
        ):
            raise ValueError("idempotency_key: expected a non-empty string of at most 128 characters")
        code = None if error_code is None else getattr(error_code, "name", str(error_code))
        cid = correlation_id if correlation_id is not None else correlation.get()
        now_ns, now = self._now()
        if (
            dedupe_key is not None
            and self.dedupe.check_and_record(dedupe_key, now_s=now_ns / _NS) is DedupeResult.DEDUPED
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
            self._wake.set()
        return NotifyResult(key, queued)

    # -- error-type throttle (docs/semantics.md, "Error throttle" and "Error episodes") ---------
    def _throttle_restored(self) -> None:
        """Read the throttle's saved state back once (call with the throttle lock held), so a
        restart inside a window does not notify the same error again."""
        if self._throttle_restored_done or self.throttle_state_name is None:
            return
        self._throttle_restored_done = True
        try:
            saved = self.store.load_service_state(self.throttle_state_name)
            if saved is not None:
                self.throttle.load_json(saved[0])
                log.info("error throttle restored (saved %s)", saved[1], extra={"component": "notify"})
        except Exception as exc:  # a damaged or unreadable snapshot: start clean, say so
            log.warning("error throttle not restored: %s", exc, extra={"component": "notify"})

    def _save_throttle(self, now: datetime) -> None:
        if self.throttle_state_name is not None:
            self.store.save_service_state(self.throttle_state_name, self.throttle.to_json(), now=now)

    def report_error(self, error_type: Any, message: Any = "") -> ThrottleDecision:
        """Count one occurrence of ``error_type``; the first in its throttle window goes out
        in the next aggregated error digest, later ones are only counted. The occurrence is
        recorded on the type's open episode in ``error_notifications_log``."""
        now_ns, now = self._now()
        with self._throttle_lock:
            self._throttle_restored()
            decision = self.throttle.report(error_type, message, now_ns)
            name = getattr(error_type, "name", error_type)
            self.store.record_error(str(name), message if isinstance(message, str) else str(message), now=now)
            self._save_throttle(now)
        self._wake.set()
        return decision

    def resolve_error(self, error_type: Any) -> bool:
        """End an error type's episode: one recovery message when its error was sent; its
        open episode is closed either way. Returns whether a recovery message was queued."""
        now_ns, now = self._now()
        with self._throttle_lock:
            self._throttle_restored()
            recovery = self.throttle.resolve(error_type, now_ns)
            name = str(getattr(error_type, "name", error_type))
            self.store.resolve_error_episode(name, now=now, notified=recovery is not None)
            self._save_throttle(now)
        if recovery is None:
            return False
        self.notify(
            "recovery",
            f"{recovery['error_type']} resolved",
            f"{recovery['count']} occurrence(s) since {recovery['since']:%Y-%m-%dT%H:%M:%SZ}",
            severity=Severity.INFO,
            fields={"error_type": recovery["error_type"], "count": recovery["count"]},
            idempotency_key=f"recovery-{recovery['error_type']}-{now_ns}"[:128],
        )
        return True

    def _flush_throttle(self, now_ns: int) -> None:
        with self._throttle_lock:
            self._throttle_restored()
            digests = self.throttle.flush(now_ns)
            if digests:
                now = datetime_utc(now_ns)
                self.store.record_error_notification([e["error_type"] for d in digests for e in d], now=now)
                self._save_throttle(now)
        for digest in digests:
            self.notify(
                "error",
                f"{len(digest)} error type{'s' if len(digest) != 1 else ''}: "
                + ", ".join(f"{e['error_type']} x{e['count']}" for e in digest),
                format_digest(digest),
                severity=Severity.WARNING,
                fields={e["error_type"]: e["count"] for e in digest},
                error_code=digest[0]["error_type"],
            )

    # -- delivering -----------------------------------------------------------------------
    def deliver_once(self) -> int:
        """One delivery pass over every channel; returns how many rows went out (sent or
        digested). The worker calls this in a loop; tests call it directly."""
        with self._lock:
            now_ns, _ = self._now()
            self._flush_throttle(now_ns)
            done = 0
            for channel in self.channels.values():
                done += self._deliver_channel(channel)
            return done

    def _deliver_channel(self, channel: Channel) -> int:
        name = channel.name
        breaker = self.breakers[name]
        outbox = self.store.outbox
        done = 0
        # Folded rows first: they are older than anything still pending.
        while outbox.has_folded(name):
            now_ns, now = self._now()
            if not self._room(name, now_ns):
                break  # no room: the due rows below are folded too, to join the next digest
            if not breaker.allow(now_ns):
                self.stats.breaker_skips += 1
                return done
            # _room said yes, so this only fails when another process took the last slot of
            # a shared (Redis) window; a half-open probe then times out and re-opens.
            if not self.rate_limiter.try_acquire(name, now_ns / _NS):
                break
            folded = outbox.claim(name, now, channel.max_digest_items, self.lease_s, status="FOLDED")
            if not folded:
                break
            digest = _digest(folded, now)
            try:
                channel.send(digest)
            except Exception as exc:
                self._failed_digest(channel, folded, exc, now_ns)
                return done
            breaker.record_success(now_ns)
            outbox.mark_digested([r.id for r in folded], digest.idempotency_key, now)
            self.stats.digests += 1
            self.stats.digested_events += len(folded)
            done += len(folded)
        now_ns, now = self._now()
        rows = outbox.claim(name, now, self.batch_size, self.lease_s)
        sent: list[int] = []
        try:
            for i, row in enumerate(rows):
                now_ns, now = self._now()
                if not self._room(name, now_ns):
                    outbox.fold([r.id for r in rows[i:]])
                    self.stats.folded += len(rows) - i
                    break
                if not breaker.allow(now_ns):
                    retry_ns = breaker.retry_after_ns(now_ns) or int(self.poll_interval_s * _NS)
                    outbox.release([r.id for r in rows[i:]], now + timedelta(microseconds=retry_ns // 1000))
                    self.stats.breaker_skips += 1
                    break
                if not self.rate_limiter.try_acquire(name, now_ns / _NS):
                    outbox.fold([r.id for r in rows[i:]])
                    self.stats.folded += len(rows) - i
                    break
                try:
                    channel.send(Message.from_payload(row.payload))
                except Exception as exc:
                    self._failed_row(channel, row, exc, now_ns)
                    continue
                breaker.record_success(now_ns)
                sent.append(row.id)
                if len(sent) >= self.mark_every:
                    outbox.mark_sent(sent, now)
                    self._count_sent(name, len(sent))
                    done += len(sent)
                    sent = []
        finally:
            if sent:
                _, now = self._now()
                outbox.mark_sent(sent, now)
                self._count_sent(name, len(sent))
                done += len(sent)
        return done

    def _room(self, name: str, now_ns: int) -> bool:
        """Whether the rate limit has room, asked without taking a slot (when the limiter
        can say), so that a breaker probe is never spent on a send the limit then stops."""
        remaining = getattr(self.rate_limiter, "remaining", None)
        return True if remaining is None else bool(remaining(name, now_ns / _NS) > 0)

    def _count_sent(self, name: str, n: int) -> None:
        self.stats.sent += n
        self.stats.per_channel_sent[name] = self.stats.per_channel_sent.get(name, 0) + n

    def _failed_row(self, channel: Channel, row: OutboxRow, exc: BaseException, now_ns: int) -> None:
        breaker = self.breakers[channel.name]
        _, now = self._now()
        reason = _describe(exc)
        if _unsendable(exc):
            # A configuration problem (bad address, 4xx): the channel is up, so the breaker
            # hears a success; a payload no retry can send never reached it: nothing. The
            # row is kept as DEAD for an operator to look at (`montalaq outbox`).
            if isinstance(exc, DeliveryError):
                breaker.record_success(now_ns)
            self.store.outbox.mark_dead([row.id], reason)
            self.stats.dead += 1
            log.error(
                "notification to %s failed permanently: %s",
                channel.name,
                reason,
                extra={
                    "component": "notify",
                    "idempotency_key": row.idempotency_key,
                    "correlation_id": row.correlation_id,
                },
            )
            return
        breaker.record_failure(now_ns)
        attempt = row.attempts + 1
        delay_s = self.retry.backoff_s(attempt)
        if isinstance(exc, DeliveryError) and exc.retry_after_s is not None:
            delay_s = max(delay_s, min(exc.retry_after_s, self.retry.max_delay_s))
        self.store.outbox.retry_later(row.id, now + timedelta(seconds=delay_s), reason)
        self.stats.transient_failures += 1
        level = logging.WARNING
        if attempt >= self.retry.max_attempts and row.id not in self._stuck_logged:
            self._stuck_logged.add(row.id)
            level = logging.ERROR
        log.log(
            level,
            "notification to %s failed (attempt %d), retry in %.1fs: %s",
            channel.name,
            attempt,
            delay_s,
            reason,
            extra={
                "component": "notify",
                "idempotency_key": row.idempotency_key,
                "correlation_id": row.correlation_id,
            },
        )

    def _failed_digest(
        self, channel: Channel, rows: list[OutboxRow], exc: BaseException, now_ns: int
    ) -> None:
        breaker = self.breakers[channel.name]
        reason = _describe(exc)
        ids = [r.id for r in rows]
        _, now = self._now()
        if _unsendable(exc):
            if isinstance(exc, DeliveryError):
                breaker.record_success(now_ns)
            self.store.outbox.mark_dead(ids, reason)
            self.stats.dead += len(ids)
        else:
            breaker.record_failure(now_ns)
            self.store.outbox.release(ids, now)  # still FOLDED: the next digest takes them
            self.stats.transient_failures += 1
        log.warning("digest to %s failed: %s", channel.name, reason, extra={"component": "notify"})

    # -- worker ---------------------------------------------------------------------------
    def start(self) -> Notifier:
        """Start the delivery worker (a daemon thread); rows left leased by a killed
        process of this notifier are released first, so delivery resumes at once."""
        if self._thread is not None and self._thread.is_alive():
            return self
        if self.store.dialect == "sqlite":
            # One machine, one file: leases can only be this notifier's own, from before a
            # crash. (PostgreSQL is shared by workers: there leases expire after lease_s.)
            self.store.outbox.release_all_leases()
        self._stop.clear()
        self._thread = threading.Thread(target=self._run, name="montalaq-notifier", daemon=True)
        self._thread.start()
        return self

    def _run(self) -> None:
        backoff_s = self.poll_interval_s
        while not self._stop.is_set():
            try:
                done = self.deliver_once()
                backoff_s = self.poll_interval_s
            except Exception:
                # The database is down or a channel misbehaved: log, back off, go on; the
                # rows are in the outbox and will be claimed again.
                log.exception("notification delivery pass failed", extra={"component": "notify"})
                done = 0
                backoff_s = min(backoff_s * 2, 30.0)
                self._stop.wait(backoff_s)
                continue
            if done == 0:
                self._wake.wait(self.poll_interval_s)
                self._wake.clear()

    def stop(self, timeout_s: float = 10.0) -> None:
        """Stop the worker (the current pass finishes) and close the channels."""
        self._stop.set()
        self._wake.set()
        if self._thread is not None:
            self._thread.join(timeout_s)
            self._thread = None
        for channel in self.channels.values():
            try:
                channel.close()
            except Exception:
                log.warning("closing channel %s failed", channel.name, exc_info=True)

    def wait_idle(self, timeout_s: float = 30.0) -> bool:
        """Wait until no row is PENDING or FOLDED; True if that happened within the timeout."""
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            counts = self.store.outbox.counts()
            if counts["PENDING"] == 0 and counts["FOLDED"] == 0:
                return True
            self._wake.set()
            time.sleep(0.05)
        return False

    def __enter__(self) -> Notifier:
        return self.start()

    def __exit__(self, *_exc: object) -> None:
        self.stop()


def _describe(exc: BaseException) -> str:
    # DeliveryError texts are scrubbed by the channels; anything else is described by its
    # type only, since its text might quote a secret.
    if isinstance(exc, DeliveryError):
        return str(exc)
    return f"{type(exc).__name__} (unexpected error in channel)"


def _digest(rows: list[OutboxRow], now: datetime) -> Message:
    items = tuple(
        DigestItem(
            idempotency_key=r.idempotency_key,
            kind=r.kind,
            title=str(r.payload.get("title", "")),
            severity=r.severity,
            created_at=r.created_at,
        )
        for r in rows
    )
    worst = (
        "CRITICAL"
        if any(r.severity == "CRITICAL" for r in rows)
        else ("WARNING" if any(r.severity == "WARNING" for r in rows) else "INFO")
    )
    first, last = rows[0].created_at, rows[-1].created_at
    # Deterministic: a digest re-sent after a crash carries the same key.
    key = f"digest-{rows[0].channel}-{rows[0].id}-{rows[-1].id}-{len(rows)}"
    return Message(
        idempotency_key=key,
        kind="digest",
        title=f"{len(rows)} notifications held back by the rate limit",
        text=f"between {first:%Y-%m-%dT%H:%M:%SZ} and {last:%Y-%m-%dT%H:%M:%SZ}",
        severity=Severity(worst),
        fields={"count": len(rows)},
        created_at=now.astimezone(UTC),
        items=items,
    )


def _takes(channel: object, kind: str) -> bool:
    kinds = getattr(channel, "kinds", None)
    return kinds is None or kind in kinds


__all__ = ["DeliveryStats", "Notifier", "NotifyResult"]
