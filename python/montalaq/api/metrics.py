"""Prometheus exposition of the service for ``GET /metrics`` (SPEC §10.1), with
prometheus-client.

Each router has its own :class:`~prometheus_client.CollectorRegistry` (never the global
one: several apps may live in one process, as in the tests). Most values are read at
scrape time by :class:`ServiceCollector`, so nothing is counted twice and the request path
pays nothing for them:

- ``montalaq_service_<counter>_total``: every counter of ``service.stats`` (cycles,
  trades_ingested, trades_rejected, bars_closed, analyses_complete, ...).
- per pair, labelled ``symbol``, ``timeframe``, ``provider`` (``none`` without one):
  ``montalaq_pair_freshness`` (0 GREEN, 1 AMBER, 2 RED), ``montalaq_pair_escalation_level``
  (0 INFO, 1 WARN, 2 ERROR, 3 CRITICAL), ``montalaq_pair_breaker_open`` (0/1),
  ``montalaq_pair_last_tick_timestamp_seconds`` (absent before the first trade).
- ``montalaq_trades_cached{symbol}``; ``montalaq_agent_runs_total{agent}``,
  ``montalaq_agent_errors_total{agent}``; ``montalaq_scheduler_running`` (0/1).
- with a notifier: ``montalaq_notify_outbox_rows{status}`` (a count query per scrape) and
  ``montalaq_notify_<counter>_total`` of its delivery stats.
- ``montalaq_api_cache_hits_total`` / ``_misses_total`` of the analysis cache.
- ``montalaq_http_requests_total{route, method, status}``: answers of this router's routes
  (``route`` is the path template, so the label set stays small; paths no route matched
  are the host app's and not counted).

A section that fails (the database is down for the outbox counts) is left out of that
scrape and logged at DEBUG; ``montalaq_scrape_errors_total`` counts such failures.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterator
from typing import TYPE_CHECKING

from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, Counter, generate_latest
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, Metric

if TYPE_CHECKING:
    from montalaq.api.cache import ResponseCache
    from montalaq.service import Service

log = logging.getLogger("montalaq.api")

FRESHNESS_VALUE = {"GREEN": 0, "AMBER": 1, "RED": 2}
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
        fresh = GaugeMetricFamily("montalaq_pair_freshness", "0 GREEN, 1 AMBER, 2 RED", labels=labels)
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


class ApiMetrics:
    """The registry of one router: the service collector and the request counter."""

    content_type = CONTENT_TYPE_LATEST

    def __init__(self, service: Service, cache: ResponseCache | None = None) -> None:
        self.registry = CollectorRegistry()
        self.collector = ServiceCollector(service, cache)
        self.registry.register(self.collector)
        self.requests = Counter(
            "montalaq_http_requests",
            "HTTP answers of the montalaq API by route template, method and status",
            ["route", "method", "status"],
            registry=self.registry,
        )
        self._children: dict[tuple[str, str, int], Callable[[], None]] = {}

    def count(self, route: str, method: str, status: int) -> None:
        """Count one answer (the labelled child is looked up once per label set)."""
        key = (route, method, status)
        inc = self._children.get(key)
        if inc is None:
            child = self.requests.labels(route=route, method=method, status=str(status))
            inc = child.inc
            self._children[key] = inc
        inc()

    def render(self) -> bytes:
        """The text exposition of every metric."""
        return generate_latest(self.registry)


__all__ = ["FRESHNESS_VALUE", "LEVEL_VALUE", "ApiMetrics", "ServiceCollector"]
