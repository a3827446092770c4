"""The service's providers: pulled each cycle or consumed by a task of the scheduler,
reconnected with back-off behind a breaker, held while they backfill, stopped on a
permanent failure; their outages and recoveries reported (docs/feeds.md, "Reconnects";
docs/semantics.md, "Service")."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import AsyncIterator, Iterable, Iterator, Mapping, Sequence
from typing import TYPE_CHECKING, Any

from montalaq import cycle
from montalaq.errors import DEFAULT_TAXONOMY
from montalaq.feeds import Batch, Provider, PullProvider, QuoteBatch, TradeBatch
from montalaq.health import CircuitBreaker
from montalaq.retry import RetryPolicy

if TYPE_CHECKING:
    from montalaq.service.core import Service

log = logging.getLogger("montalaq.service")

_NS = 1_000_000_000


def checked_providers(providers: Mapping[str, Provider], symbols: Sequence[str]) -> dict[str, Provider]:
    """``providers`` (symbol -> provider) after checking each symbol is configured and each
    provider has a name of 1-32 characters and ``trades()``."""
    unknown = [s for s in providers if s not in symbols]
    if unknown:
        raise ValueError(f"providers: unknown symbols {unknown}; configured (SYMBOL): {list(symbols)}")
    for sym, p in providers.items():
        name = getattr(p, "name", None)
        if not isinstance(name, str) or not callable(getattr(p, "trades", None)):
            raise TypeError(
                f"providers[{sym!r}]: expected a Provider (name, trades()), got {type(p).__name__}"
            )
        if not 0 < len(name) <= 32:
            raise ValueError(f"providers[{sym!r}].name: expected 1-32 characters, got {name!r}")
    return dict(providers)


def late_window_s(providers: Iterable[Provider]) -> float:
    """Seconds a closed bar may still be amended: a feed that backfills after a reconnect
    holds its bars open once the failure is seen, but the trades of the moments before that
    (a silent drop is seen only by the ping or idle timeout) may arrive after the clock
    closed their bar; they amend it within this window instead of being LATE."""
    return max(
        (
            float(getattr(p, "idle_timeout_s", 60.0)) + 60.0
            for p in providers
            if getattr(p, "backfills", False)
        ),
        default=0.0,
    )


def unique_providers(providers: Mapping[str, Provider]) -> list[Provider]:
    """Each provider once (one may serve several symbols), in the order of its first symbol."""
    seen: dict[int, Provider] = {}
    for p in providers.values():
        seen.setdefault(id(p), p)
    return list(seen.values())


class ProviderSupervisor:
    """The providers of ``service`` (``service.providers``): their batches go to
    ``service.feed``, their failures to the service's lifecycle, incidents and pairs' last
    errors. Keyed by ``id(provider)``: a provider may serve several symbols."""

    def __init__(self, service: Service) -> None:
        self.service = service
        self.pushed: set[int] = set()  # consumed by tasks of the scheduler, not pulled
        self.failing: dict[int, str] = {}  # -> error code of its failing call
        self.stopped: dict[int, str] = {}  # -> the permanent error that stopped its feed
        self.held: dict[int, list[str]] = {}  # -> its symbols held open while it backfills
        self.breakers: dict[int, CircuitBreaker] = {}
        self.retry = RetryPolicy(max_attempts=1000, base_s=1.0, jitter=0.2, max_delay_s=30.0)

    def unique(self) -> list[Provider]:
        """Each provider once."""
        return unique_providers(self.service.providers)

    def symbols_of(self, provider: Provider) -> list[str]:
        """The symbols ``provider`` feeds."""
        return [sym for sym, p in self.service.providers.items() if p is provider]

    # -- outages --------------------------------------------------------------------------
    def ok(self, provider: Provider) -> None:
        """``provider`` delivered: the lifecycle hears it, a failing one has recovered."""
        svc = self.service
        svc.lifecycle.report(f"provider:{provider.name}", None)
        code = self.failing.pop(id(provider), None)
        if code is not None:
            log.info(
                "provider %s recovered",
                provider.name,
                extra={"component": "service", "provider": provider.name},
            )
            if code not in self.failing.values():  # no other provider failing with that code
                svc.incidents.resolve(code)

    def failed(self, provider: Provider, exc: BaseException, now_ns: int) -> None:
        """``provider`` raised ``exc``: logged at WARNING once per outage (then DEBUG), reported
        to the error throttle, recorded as its symbols' last error; a backfilling feed holds
        its symbols' bars."""
        svc = self.service
        svc.stats.provider_errors += 1
        svc.lifecycle.report(f"provider:{provider.name}", exc)
        first = id(provider) not in self.failing
        symbols = self.symbols_of(provider)
        name = cycle.provider_failed(
            svc.notifier, provider.name, symbols, exc, first=first, component="service"
        )
        self.failing[id(provider)] = name
        if getattr(provider, "backfills", False) and id(provider) not in self.held:
            self.hold(provider, True)
        svc.incidents.count(name)
        for sym in symbols:
            svc._set_error(sym, None, name, now_ns)

    def hold(self, provider: Provider, held: bool) -> None:
        """A feed that will backfill what it misses holds its symbols' bars open while it
        reconnects: closing them by the clock would make the backfilled trades LATE and
        the bars differ from an uninterrupted stream's (docs/feeds.md)."""
        symbols = self.symbols_of(provider)
        for sym in symbols:
            self.service.engine.set_hold(sym, held)
        if held:
            self.held[id(provider)] = symbols
        else:
            self.held.pop(id(provider), None)

    # -- pull providers (in the cycle) -----------------------------------------------------
    def pull(self, now_ns: int) -> None:
        """Every pull provider not consumed by a task delivers its batches up to ``now_ns``."""
        for p in self.unique():
            if id(p) in self.pushed or not isinstance(p, PullProvider):
                continue
            try:
                for batch in p.take_until(now_ns):
                    self.service.feed(batch)  # a malformed batch (lengths, dtypes) is the provider's error
            except Exception as exc:
                self.failed(p, exc, now_ns)
            else:
                self.ok(p)

    # -- push providers (tasks of the scheduler) -------------------------------------------
    def start(self, stop: asyncio.Event, tasks: list[asyncio.Task[None]]) -> None:
        """Start every provider's virtual clock and, for each push provider, a task consuming
        it until ``stop`` (appended to ``tasks``)."""
        for p in self.unique():
            start = getattr(p, "start", None)
            if callable(start):
                start()  # virtual clocks start with the scheduler
            speed = getattr(p, "speed", 1.0)
            if speed != 1.0 and getattr(p, "clock", None) != self.service.clock:
                log.warning(
                    "provider %s runs at speed %s but the service runs on another clock: it is pulled "
                    "in real time (pass clock=provider.clock to the Service)",
                    p.name,
                    speed,
                    extra={"component": "service", "provider": p.name},
                )
            if not isinstance(p, PullProvider):
                self.pushed.add(id(p))
                tasks.append(asyncio.create_task(self.consume(p, stop), name=f"montalaq-feed-{p.name}"))

    def stop(self) -> None:
        """The tasks are gone: push providers are nobody's until :meth:`start` again."""
        self.pushed.clear()

    async def consume(self, provider: Provider, stop: asyncio.Event) -> None:
        """Ingest a push provider's batches; when the feed fails, reconnect with the retry
        policy's back-off (jitter, capped) behind the provider's breaker; a PERMANENT failure
        (an auth refusal) stops the feed and moves the lifecycle to ERROR instead of
        looping (docs/feeds.md)."""
        breaker = self.breakers.setdefault(
            id(provider),
            CircuitBreaker(f"provider:{provider.name}", failure_threshold=5, window_s=300.0, cooldown_s=60.0),
        )
        failures = 0
        while not stop.is_set():
            wait_s = 0.0
            if not breaker.allow():
                wait_s = max(1.0, (breaker.retry_after_ns() or 0) / _NS)
            else:
                try:
                    async for batch in _batches(provider):
                        self.service.feed(batch)
                        if id(provider) in self.held and not getattr(provider, "catching_up", False):
                            self.hold(provider, False)  # the backfill is in: the clock may close bars
                        if failures or id(provider) in self.failing:
                            breaker.record_success()
                            self.ok(provider)
                            failures = 0
                    breaker.record_success()
                    return  # the feed ended
                except asyncio.CancelledError:
                    raise
                except Exception as exc:
                    breaker.record_failure()
                    self.failed(provider, exc, self.service.now())
                    if not DEFAULT_TAXONOMY.is_transient(exc) and not isinstance(exc, TypeError | ValueError):
                        self._stop_feed(provider, exc)
                        return
                    failures += 1
                    wait_s = self.retry.backoff_s(failures)
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(stop.wait(), wait_s)

    def _stop_feed(self, provider: Provider, exc: BaseException) -> None:
        self.stopped[id(provider)] = f"{type(exc).__name__}: {exc}"
        log.error(
            "provider %s stopped: %s (permanent; fix the configuration and restart)",
            provider.name,
            exc,
            extra={"component": "service", "provider": provider.name},
        )

    # -- numbers --------------------------------------------------------------------------
    def stats(self) -> list[dict[str, Any]]:
        """Each provider's ``stats()`` that has one, with its provider name, symbols and the
        error that stopped it (None while it runs)."""
        out: list[dict[str, Any]] = []
        for p in self.unique():
            stats = getattr(p, "stats", None)
            if not callable(stats):
                continue
            try:
                row = dict(stats())
            except Exception as exc:  # a host's feed with a broken stats() must not break /metrics
                row = {"error": f"{type(exc).__name__}: {exc}"}
            row.setdefault("provider", p.name)
            row["symbols"] = self.symbols_of(p)
            row["stopped"] = self.stopped.get(id(p))
            out.append(row)
        return out


async def _batches(provider: Provider) -> AsyncIterator[Batch]:
    """A provider's batches whether ``trades()`` is async or a plain iterator (pulled in a
    worker thread so a blocking feed does not block the event loop)."""
    feed = provider.trades()
    if hasattr(feed, "__aiter__"):
        async for batch in feed:
            yield batch
        return
    it: Iterator[Batch] = iter(feed)
    done = object()
    while True:
        item = await asyncio.to_thread(next, it, done)
        if item is done:
            return
        if not isinstance(item, TradeBatch | QuoteBatch):
            raise TypeError(
                f"provider {provider.name!r} yielded {type(item).__name__}, expected a TradeBatch"
                " or a QuoteBatch"
            )
        yield item
