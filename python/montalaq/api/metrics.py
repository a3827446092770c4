"""Prometheus exposition of the service for ``GET /metrics``, with prometheus-client: one
:class:`~prometheus_client.CollectorRegistry` per router (never the global one), read at
scrape time by :class:`ServiceCollector`; every family and what a failing section does:
docs/operations.md, "Metric families".
"""

from __future__ import annotations

import bisect
import logging
import platform
import threading
from collections.abc import Callable, Iterator
from typing import TYPE_CHECKING

from fastapi import APIRouter
from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, ProcessCollector, generate_latest
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, HistogramMetricFamily, Metric
from starlette.responses import Response

from montalaq.api.context import Api, Params

if TYPE_CHECKING:
    from montalaq.api.cache import ResponseCache
    from montalaq.service import Service

log = logging.getLogger("montalaq.api")

FRESHNESS_VALUE = {"GREEN": 0, "AMBER": 1, "RED": 2, "CLOSED": 3}
LEVEL_VALUE = {"INFO": 0, "WARN": 1, "ERROR": 2, "CRITICAL": 3}
_NS = 1_000_000_000


class ServiceCollector:
    """Reads the service (and the analysis cache) at scrape time; see the module docstring."""

    def __init__(self, service: Service, cache: ResponseCache | None = None) -> None:
        self.service = service
        self.cache = cache
        self.scrape_errors = 0

    def collect(self) -> Iterator[Metric]:
        """The metric families of one scrape."""
        sections: list[Callable[[], list[Metric]]] = [
            self._stats,
            self._pairs,
            self._symbols,
            self._agents,
            self._notifier,
            self._cache,
            self._state,
            self._channels,
            self._monitoring,
            self._providers,
            self._llm,
        ]
        for section in sections:
            try:
                families = section()
            except Exception as exc:
                self.scrape_errors += 1
                log.debug("metrics section %s failed: %s", section.__name__, exc, extra={"component": "api"})
                continue
            yield from families
        yield CounterMetricFamily(
            "montalaq_scrape_errors",
            "metric sections left out of a scrape after an error",
            self.scrape_errors,
        )

    def _stats(self) -> list[Metric]:
        return [
            CounterMetricFamily(f"montalaq_service_{name}", f"service counter {name} (this process)", value)
            for name, value in self.service.stats.to_dict().items()
        ]

    def _pairs(self) -> list[Metric]:
        labels = ["symbol", "timeframe", "provider"]
        fresh = GaugeMetricFamily(
            "montalaq_pair_freshness",
            "0 GREEN, 1 AMBER, 2 RED, 3 CLOSED (outside the market's session); absent until this "
            "process evaluates the pair",
            labels=labels,
        )
        level = GaugeMetricFamily(
            "montalaq_pair_escalation_level", "0 INFO, 1 WARN, 2 ERROR, 3 CRITICAL", labels=labels
        )
        breaker = GaugeMetricFamily(
            "montalaq_pair_breaker_open", "1 while the pair's breaker is open", labels=labels
        )
        tick = GaugeMetricFamily(
            "montalaq_pair_last_tick_timestamp_seconds",
            "time of the pair's last trade, unix s",
            labels=labels,
        )
        service = self.service
        symbols, last = service.engine.last_trades()
        last_tick = dict(zip(symbols, last, strict=True))
        for row in service.board.pairs(service.now()):
            sym, tf = str(row["symbol"]), str(row["timeframe"])
            values = [sym, tf, service.provider_name(sym) or "none"]
            if row["last_eval"] is not None:  # never evaluated here: unknown, not RED
                fresh.add_metric(values, FRESHNESS_VALUE.get(str(row["freshness"]), 2))
            level.add_metric(values, LEVEL_VALUE.get(str(row["escalation_level"]), 3))
            breaker.add_metric(values, 1 if row["breaker_open"] else 0)
            ts_ns = last_tick.get(sym)
            if ts_ns:
                tick.add_metric(values, int(ts_ns) / _NS)
        return [fresh, level, breaker, tick]

    def _symbols(self) -> list[Metric]:
        cached = GaugeMetricFamily("montalaq_trades_cached", "trades kept in memory", labels=["symbol"])
        for sym in self.service.symbols:
            cached.add_metric([sym], int(self.service.engine.trades_cached(sym)))
        running = GaugeMetricFamily(
            "montalaq_scheduler_running", "1 while the scheduler runs", int(self.service.running)
        )
        return [cached, running]

    def _agents(self) -> list[Metric]:
        runs = CounterMetricFamily("montalaq_agent_runs", "agent evaluations", labels=["agent"])
        errors = CounterMetricFamily(
            "montalaq_agent_errors", "agent evaluations that raised", labels=["agent"]
        )
        for name, st in self.service.agents.status().items():
            runs.add_metric([name], int(st["runs"]))
            errors.add_metric([name], int(st["errors"]))
        return [runs, errors]

    def _notifier(self) -> list[Metric]:
        notifier = self.service.notifier
        if notifier is None:
            return []
        out: list[Metric] = []
        stats = notifier.stats
        for name, value in vars(stats).items():
            if isinstance(value, int) and not isinstance(value, bool):
                out.append(CounterMetricFamily(f"montalaq_notify_{name}", f"notifier counter {name}", value))
        rows = GaugeMetricFamily("montalaq_notify_outbox_rows", "outbox rows by status", labels=["status"])
        for status, n in notifier.store.outbox.counts().items():
            rows.add_metric([status], n)
        out.append(rows)
        return out

    def _cache(self) -> list[Metric]:
        if self.cache is None:
            return []
        return [
            CounterMetricFamily("montalaq_api_cache_hits", "analysis API cache hits", self.cache.hits),
            CounterMetricFamily("montalaq_api_cache_misses", "analysis API cache misses", self.cache.misses),
        ]

    def _state(self) -> list[Metric]:
        state = GaugeMetricFamily(
            "montalaq_operational_state",
            "1 for the current operational state, 0 for the others",
            labels=["state"],
        )
        current = self.service.state.name
        for name in ("STARTING", "ACTIVE", "WAITING", "ERROR", "SHUTDOWN"):
            state.add_metric([name], 1 if name == current else 0)
        failing = GaugeMetricFamily(
            "montalaq_dependency_failing",
            "1 while a dependency fails (check or run time)",
            labels=["dependency"],
        )
        lc = self.service.lifecycle
        for name in sorted({*lc.failing(), *lc.runtime_failing()}):
            failing.add_metric([name], 1)
        return [state, failing]

    def _channels(self) -> list[Metric]:
        notifier = self.service.notifier
        if notifier is None:
            return []
        states = ("CLOSED", "OPEN", "HALF_OPEN", "FORCED_OPEN", "DISABLED")
        breaker = GaugeMetricFamily(
            "montalaq_channel_breaker_state",
            "1 for the notification channel breaker's current state, 0 for the others",
            labels=["channel", "state"],
        )
        for name, b in notifier.breakers.items():
            current = b.state(notifier.clock()).name
            for st in states:
                breaker.add_metric([name, st], 1 if st == current else 0)
        backlog = notifier.store.outbox.backlog()
        oldest = backlog["oldest_waiting_at"]
        age = GaugeMetricFamily(
            "montalaq_notify_outbox_oldest_waiting_age_seconds",
            "age of the oldest PENDING or FOLDED outbox row (0 when nothing waits)",
            0.0 if oldest is None else max(0.0, self.service.now() / _NS - oldest.timestamp()),
        )
        return [breaker, age]

    def _providers(self) -> list[Metric]:
        rows = [r for r in self.service.provider_stats() if "messages" in r]  # streaming clients
        if not rows:
            return []
        lab = ["provider"]
        connected = GaugeMetricFamily(
            "montalaq_provider_connected", "1 while the feed's session is open", labels=lab
        )
        rate = GaugeMetricFamily(
            "montalaq_provider_messages_per_second", "messages over the last 10 s, per second", labels=lab
        )
        age = GaugeMetricFamily(
            "montalaq_provider_last_message_age_seconds", "seconds since the feed's last message", labels=lab
        )
        stopped = GaugeMetricFamily(
            "montalaq_provider_stopped", "1 after a permanent failure (e.g. a refused key)", labels=lab
        )
        names = (
            "messages",
            "trades",
            "quotes",
            "reconnects",
            "parse_errors",
            "dropped",
            "backfilled",
            "gaps",
        )
        counters = {
            n: CounterMetricFamily(f"montalaq_provider_{n}", f"feed counter {n}", labels=lab) for n in names
        }
        for r in rows:
            name = [str(r["provider"])]
            connected.add_metric(name, 1 if r.get("connected") else 0)
            rate.add_metric(name, float(r.get("messages_per_s") or 0.0))
            if r.get("last_message_age_s") is not None:
                age.add_metric(name, float(r["last_message_age_s"]))
            stopped.add_metric(name, 1 if r.get("stopped") else 0)
            for n, fam in counters.items():
                fam.add_metric(name, int(r.get(n) or 0))
        return [connected, rate, age, stopped, *counters.values()]

    def _llm(self) -> list[Metric]:
        analyst = self.service.analyst
        return [] if analyst is None else list(analyst.prometheus_families())

    def _monitoring(self) -> list[Metric]:
        mon = self.service.monitoring
        if mon is None:
            return []
        out: list[Metric] = []
        for name, value in vars(mon.stats).items():
            out.append(
                CounterMetricFamily(f"montalaq_monitoring_{name}", f"monitoring counter {name}", value)
            )
        firing = GaugeMetricFamily(
            "montalaq_alerts_firing", "alert rules firing now", labels=["rule", "severity"]
        )
        for a in mon.active_alerts():  # the log, not the worker's rule engine (not thread-safe)
            firing.add_metric([a.rule, a.severity], 1)
        out.append(firing)
        return out


# Request latency buckets, seconds: the cached routes answer in well under a millisecond,
# the database-backed ones in milliseconds; 5 s is a hung database.
LATENCY_BUCKETS_S = (0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0)


class RequestCollector:
    """Answers and their latency per route template, kept as plain counts and exposed at
    scrape time: ``montalaq_http_requests_total{route, method, status}`` and the histogram
    ``montalaq_http_request_duration_seconds{route, method}`` (no ``_created`` series)."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._counts: dict[tuple[str, str, str], int] = {}
        # (route, method) -> [count per bucket (cumulative at scrape), +Inf count, sum]
        self._latency: dict[tuple[str, str], list[float]] = {}

    def observe(self, route: str, method: str, status: int, seconds: float) -> None:
        """Count one answer and its duration."""
        key = (route, method, str(status))
        i = bisect.bisect_left(LATENCY_BUCKETS_S, seconds)
        with self._lock:
            self._counts[key] = self._counts.get(key, 0) + 1
            row = self._latency.get((route, method))
            if row is None:
                row = self._latency[(route, method)] = [0.0] * (len(LATENCY_BUCKETS_S) + 2)
            row[i] += 1  # i == len(buckets): only +Inf
            row[-1] += seconds

    def collect(self) -> Iterator[Metric]:
        """The two families of one scrape."""
        with self._lock:
            counts = dict(self._counts)
            latency = {k: list(v) for k, v in self._latency.items()}
        answers = CounterMetricFamily(
            "montalaq_http_requests",
            "HTTP answers of the montalaq API by route template, method and status",
            labels=["route", "method", "status"],
        )
        for (route, method, status), n in sorted(counts.items()):
            answers.add_metric([route, method, status], n)
        yield answers
        hist = HistogramMetricFamily(
            "montalaq_http_request_duration_seconds",
            "time to answer, by route template and method",
            labels=["route", "method"],
        )
        for (route, method), row in sorted(latency.items()):
            buckets: list[tuple[str, float]] = []
            running = 0.0
            for bound, count in zip(LATENCY_BUCKETS_S, row, strict=False):
                running += count
                buckets.append((repr(bound), running))
            running += row[len(LATENCY_BUCKETS_S)]
            buckets.append(("+Inf", running))
            hist.add_metric([route, method], buckets, row[-1])
        yield hist


class BuildInfoCollector:
    """``montalaq_build_info{version, python}`` = 1."""

    def collect(self) -> Iterator[Metric]:
        """The one family."""
        from montalaq import __version__

        info = GaugeMetricFamily(
            "montalaq_build_info", "montalaq's version (the value is always 1)", labels=["version", "python"]
        )
        info.add_metric([__version__, platform.python_version()], 1)
        yield info


class ApiMetrics:
    """The registry of one router: the service, the requests, the build info and this
    process (``process_*``). A host with its own ``/metrics`` merges montalaq's into its
    registry with :meth:`register_into` (docs/operations.md, "Metrics in your app")."""

    content_type = CONTENT_TYPE_LATEST

    def __init__(self, service: Service, cache: ResponseCache | None = None) -> None:
        self.registry = CollectorRegistry()
        self.collector = ServiceCollector(service, cache)
        self.requests = RequestCollector()
        self.build_info = BuildInfoCollector()
        for c in (self.collector, self.requests, self.build_info):
            self.registry.register(c)
        ProcessCollector(registry=self.registry)

    def count(self, route: str, method: str, status: int, seconds: float = 0.0) -> None:
        """Count one answer and how long it took (seconds)."""
        self.requests.observe(route, method, status, seconds)

    def register_into(self, registry: CollectorRegistry) -> None:
        """Add montalaq's families (service, requests, build info; not ``process_*``, which
        the host's registry has already) to ``registry``, e.g. prometheus_client's default
        ``REGISTRY`` that the host's own ``/metrics`` serves."""
        for c in (self.collector, self.requests, self.build_info):
            registry.register(c)

    def render(self) -> bytes:
        """The text exposition of every metric."""
        return generate_latest(self.registry)


def add_routes(router: APIRouter, p: Params) -> None:
    """Add ``GET /metrics`` to ``router``: the text exposition of the router's registry."""

    @router.get(
        "/metrics",
        operation_id="metrics",
        summary="Prometheus exposition",
        response_class=Response,
        responses={200: {"content": {"text/plain": {"schema": {"type": "string"}}}}},
    )
    def prometheus(api: Api) -> Response:
        return Response(api.metrics.render(), media_type=api.metrics.content_type)


__all__ = ["FRESHNESS_VALUE", "LEVEL_VALUE", "ApiMetrics", "ServiceCollector"]
