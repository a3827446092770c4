"""Per-process resources of a worker: the shared state client, the store, the notifier with
its shared guards, the analysis runner and its signal hook, the feed context of the tick
and the board cache of the escalation task.

Built lazily on the first task a process runs (after a prefork child has forked, so no
connection is ever shared across a fork) and rebuilt when the process id changes.
"""

from __future__ import annotations

import json
import logging
import os
import socket
import threading
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from montalaq.analysis import AnalysisRunner, MLCallable, RuleAnalyzer, TrendRuleAnalyzer
from montalaq.celery.guards import SharedCircuitBreaker, SharedErrorThrottle
from montalaq.celery.options import CeleryOptions
from montalaq.celery.state import FeedRecord, SharedState
from montalaq.dedupe import RedisDedupe
from montalaq.health import OpState
from montalaq.lifecycle import Lifecycle, builtin_checks, lifecycle_from_settings
from montalaq.monitoring import MonitoringService
from montalaq.notify import SignalHook, notifier_from_settings
from montalaq.notify.notifier import Notifier
from montalaq.ratelimit import RedisRateLimiter
from montalaq.settings import Settings
from montalaq.store import Store
from montalaq.watchlist import Watchlist

if TYPE_CHECKING:
    from montalaq.agents import AgentRegistry
    from montalaq.celery.board import BoardCache
    from montalaq.celery.feed import FeedContext, ProviderFactory
    from montalaq.llm import LLMAnalyst

log = logging.getLogger("montalaq.celery")

_CLOCK_REFRESH_NS = 2_000_000_000  # re-read the shared feed clock at most every 2 s

AgentsFactory = Callable[[Settings, Store], "AgentRegistry | None"]
"""``(settings, store) -> registry | None``: the agents the tick runs (None: no agents)."""


@dataclass(frozen=True)
class Plugins:
    """What the application plugs in: trade providers, the analyses' model and rule
    analyzer, and the agents."""

    provider_factory: ProviderFactory | None = None
    ml: MLCallable | None = None
    analyzer: RuleAnalyzer | None = None
    agents: AgentsFactory | None = None
    metric_sources: list[Callable[[], Mapping[str, Any]]] = field(default_factory=list)


def _nothing() -> None:
    return None


class WorkerStateStore:
    """Where a worker's lifecycle keeps its state: one field per worker in the Redis hash
    ``<prefix>workers`` (the database's single ``operational_state`` row belongs to the
    one-process server)."""

    def __init__(self, state: SharedState, worker_id: str) -> None:
        self.state = state
        self.worker_id = worker_id

    def save_operational_state(
        self,
        state: Any,
        reason: str = "",
        entered_at: Any = None,
        details: Mapping[str, Any] | None = None,
        now: Any = None,
    ) -> None:
        """Write this worker's field."""
        doc = {
            "state": getattr(state, "name", str(state)),
            "reason": reason,
            "entered_at": None if entered_at is None else entered_at.isoformat(),
            "updated_at": None if now is None else now.isoformat(),
            "details": dict(details or {}),
        }
        self.state.client.hset(self.state.key("workers"), self.worker_id, json.dumps(doc, default=str))


class Runtime:
    """One process's montalaq resources (module docstring). ``redis_url`` holds the shared
    state and the Redis guards."""

    def __init__(
        self,
        settings: Settings,
        options: CeleryOptions,
        watchlist: Watchlist,
        redis_url: str,
        plugins: Plugins,
    ) -> None:
        self.pid = os.getpid()
        self.settings = settings
        self.options = options
        self.watchlist = watchlist
        self.redis_url = redis_url
        self.plugins = plugins
        self.state = SharedState(redis_url, options.prefix)
        self.store = Store.from_settings(settings)
        self.feed_context: FeedContext | None = None
        self.board_cache: BoardCache | None = None
        self._lock = threading.Lock()
        self._notifier: Notifier | None = None
        self._hook: SignalHook | None = None
        self._runner: AnalysisRunner | None = None
        self._agents: AgentRegistry | None = None
        self._agents_built = False
        self._analyst: LLMAnalyst | None = None
        self._analyst_built = False
        self._clock: FeedRecord | None = None
        self._clock_read_ns = 0
        # Set by install(): asks for a notification delivery now (queued notifications).
        self.request_delivery: Callable[[], None] = _nothing
        self._lifecycle: Lifecycle | None = None
        self._monitoring: MonitoringService | None = None
        self._monitoring_built = False
        self.started_mono_s = time.monotonic()

    def close(self) -> None:
        """Release connections (tests and benchmarks; a worker process just exits)."""
        if self._analyst is not None:
            self._analyst.close()
        if self._notifier is not None:
            for channel in self._notifier.channels.values():
                try:
                    channel.close()
                except Exception:
                    log.warning("closing channel %s failed", channel.name, exc_info=True)
        self.store.close()
        self.state.close()

    # -- time ----------------------------------------------------------------------------
    def now_ns(self) -> int:
        """The feed's virtual time now (the wall clock before the first tick), int ns."""
        wall = time.time_ns()
        if self._clock is None or wall - self._clock_read_ns > _CLOCK_REFRESH_NS:
            record = self.state.feed()
            if record is not None:
                self._clock, self._clock_read_ns = record, wall
        return wall if self._clock is None else self._clock.now_ns(wall)

    @property
    def speed(self) -> float:
        """Virtual seconds per wall second of the feed clock (1 before the first tick)."""
        self.now_ns()
        return 1.0 if self._clock is None else self._clock.speed

    def set_clock(self, record: FeedRecord) -> None:
        """Use ``record`` as the clock (the tick just wrote it)."""
        self._clock, self._clock_read_ns = record, time.time_ns()

    # -- notifications -------------------------------------------------------------------
    @property
    def notifier(self) -> Notifier:
        """The notifier: the settings' channels, the Redis rate limit and dedupe, and the
        shared error throttle and channel breakers. It has no background thread: the
        delivery task calls ``deliver_once``."""
        with self._lock:
            if self._notifier is None:
                s = self.settings
                prefix = self.options.prefix
                throttle = SharedErrorThrottle(
                    self.state,
                    {
                        "STARTUP": s.throttle_window_startup_sec,
                        "WEBSOCKET": s.throttle_window_websocket_sec,
                        "BROKER": s.throttle_window_broker_sec,
                        "DATABASE": s.throttle_window_database_sec,
                    },
                    s.throttle_aggregation_sec,
                    default_window_s=s.throttle_window_default_sec,
                )
                notifier = notifier_from_settings(
                    s,
                    self.store,
                    rate_limiter=RedisRateLimiter(
                        self.redis_url,
                        limit=s.notify_rate_limit_per_min,
                        window_s=60.0,
                        prefix=f"{prefix}notify-rate:",
                    ),
                    dedupe=RedisDedupe(
                        self.redis_url, ttl_s=s.analysis_notify_dedupe_sec, prefix=f"{prefix}notify-dedupe:"
                    ),
                    throttle=throttle,
                    lease_s=self.options.outbox_lease_s,
                )
                notifier.breakers = {
                    name: SharedCircuitBreaker(
                        self.state,
                        f"notify.{name}",
                        failure_threshold=s.notify_breaker_failures,
                        window_s=s.notify_breaker_window_sec,
                        cooldown_s=s.notify_breaker_cooldown_sec,
                    )
                    for name in notifier.channels
                }
                self._notifier = notifier
            return self._notifier

    @property
    def signal_hook(self) -> SignalHook:
        """The signal hook (``ANALYSIS_NOTIFY_THRESHOLD``, once per bar): the Redis dedupe
        first, then the database claim (``ingestion_status.last_signal_bar_ts``)."""
        notifier = self.notifier
        with self._lock:
            if self._hook is None:
                s = self.settings
                self._hook = SignalHook(
                    notifier,
                    threshold=s.analysis_notify_threshold,
                    dedupe_window_s=s.analysis_notify_dedupe_sec,
                    dedupe=RedisDedupe(
                        self.redis_url,
                        ttl_s=s.analysis_notify_dedupe_sec,
                        prefix=f"{self.options.prefix}signal-dedupe:",
                    ),
                )
            return self._hook

    def analysis_runner(self, *, signal_hook: SignalHook | None = None) -> AnalysisRunner:
        """The runner of the analysis task (its clock is the feed's). Without a hook by
        default: the task calls :attr:`signal_hook` itself, so that a failing hook is
        retried instead of logged and forgotten."""
        if signal_hook is not None:
            return self._new_runner(self.settings, signal_hook)
        with self._lock:
            if self._runner is None:
                self._runner = self._new_runner(self.settings, None)
            return self._runner

    def _new_runner(self, s: Settings, hook: SignalHook | None) -> AnalysisRunner:
        analyzer = self.plugins.analyzer or TrendRuleAnalyzer(s.ts_weights, entry=s.ts_entry)
        return AnalysisRunner(
            self.store, analyzer=analyzer, ml=self.plugins.ml, signal_hook=hook, clock=self.now_ns
        )

    # -- lifecycle and monitoring (docs/semantics.md, "Lifecycle at run time") -----------
    @property
    def worker_id(self) -> str:
        """``host:pid`` of this worker process."""
        return f"{socket.gethostname()}:{self.pid}"

    @property
    def lifecycle(self) -> Lifecycle:
        """This worker process's lifecycle: the database and Redis checks, no start-up
        retries (the WAITING re-checks are the retries: a task never blocks on them), its
        state kept in Redis per worker (:meth:`montalaq.celery.MontalaqCelery.workers`),
        state changes notified through the shared notifier."""
        notifier = self.notifier
        with self._lock:
            if self._lifecycle is None:
                s = self.settings.model_copy(update={"guard_backend": "redis", "redis_url": self.redis_url})
                self._lifecycle = lifecycle_from_settings(
                    s,
                    builtin_checks(s, self.store, alerts_dir=False),
                    store=WorkerStateStore(self.state, self.worker_id),
                    notifier=notifier,
                    retries=0,
                    check_timeout_s=10.0,
                    name=f"montalaq worker {self.worker_id}",
                )
            return self._lifecycle

    def operational_state(self) -> OpState:
        """The worker's state, running the start-up checks on first use (once)."""
        lc = self.lifecycle
        lc.start()
        return lc.state

    @property
    def monitoring(self) -> MonitoringService | None:
        """The monitoring the escalation task feeds (``MONITOR_ENABLED``): no thread of its
        own; its rule state is shared in Redis (the escalation runs one at a time)."""
        notifier = self.notifier
        with self._lock:
            if not self._monitoring_built:
                self._monitoring_built = True
                if self.settings.monitor_enabled:
                    from montalaq.ops import SERVICE_RULES

                    self._monitoring = MonitoringService.from_settings(
                        self.settings, notifier=notifier, extra_rules=SERVICE_RULES
                    )
            return self._monitoring

    # -- agents --------------------------------------------------------------------------
    @property
    def agents(self) -> AgentRegistry | None:
        """The agents the tick runs (built once per process)."""
        with self._lock:
            if not self._agents_built:
                factory = self.plugins.agents
                self._agents = factory(self.settings, self.store) if factory is not None else None
                self._agents_built = True
            return self._agents

    @property
    def analyst(self) -> LLMAnalyst | None:
        """The LLM analyst of this process (``LLM_ENABLE``; docs/llm.md), None when off. Its
        interval per symbol is per process: a cluster calls the model up to once per
        ``LLM_MIN_INTERVAL`` per symbol per worker that runs the tick (one at a time under
        the tick's lock, so in practice the tick's owner)."""
        if not self.settings.llm_enable:
            return None
        notifier = self.notifier  # built under the lock first: the lock is not re-entrant
        with self._lock:
            if not self._analyst_built:
                self._analyst_built = True
                from montalaq.cycle import store_findings
                from montalaq.llm import LLMAnalyst

                self._analyst = LLMAnalyst.from_settings(
                    self.settings,
                    on_finding=lambda f: store_findings(self.store, [f], "celery"),
                    notifier=notifier,
                )
            return self._analyst


__all__ = ["AgentsFactory", "Plugins", "Runtime", "WorkerStateStore"]
