"""montalaq on Celery (``montalaq[celery]``): the scheduler tick, analyses, escalation,
breakers, KPI rollup and notification delivery as Celery tasks with a beat schedule, with
the one-process service's guarantees, on one worker or many::

    app = Celery("proj", broker="redis://127.0.0.1:6379/0")
    montalaq_tasks = montalaq.celery.install(app, Settings.from_env())

Running it (tasks, beat, workers, Redis, KPIs): docs/operations.md, "Scale-out on Celery";
what each task guarantees and why: docs/semantics.md, "Celery".
"""

from __future__ import annotations

import logging
import os
import threading
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

from montalaq._optional import needs
from montalaq.analysis import MLCallable, RuleAnalyzer
from montalaq.settings import Settings
from montalaq.shapes import (
    AnalyseResult,
    BeatEntry,
    BeatOptions,
    BoardRow,
    BreakerCloseDoc,
    BreakerTickReport,
    DeliverReport,
    EvaluationReport,
    KpiRolled,
    KpiSkipped,
    KpiWindow,
    TickReport,
    WorkerEntry,
)

with needs("montalaq.celery"):  # redis: the celery extra
    from montalaq.celery import escalation, kpi, tasks
    from montalaq.celery.board import decode_board
    from montalaq.celery.feed import ProviderFactory
    from montalaq.celery.logs import quiet_periodic_task_lines
    from montalaq.celery.options import CeleryOptions
    from montalaq.celery.runtime import AgentsFactory, Plugins, Runtime
    from montalaq.celery.state import SharedState, release
    from montalaq.celery.state import text as text_of
from montalaq.watchlist import Watchlist, load_watchlist, watchlist_from_settings

log = logging.getLogger("montalaq.celery")

TASK_NAMES = ("tick", "analyse", "escalation", "breakers", "kpi_rollup", "deliver", "close_breaker")
_DELIVERY_KICK_MS = 500  # at most one on-demand delivery task per half second


def _default_agents(settings: Settings, store: Any) -> Any:
    from montalaq.agents import default_registry

    return default_registry(settings, store)


class MontalaqCelery:
    """What :func:`install` registered: the tasks, the beat schedule, and operator actions.

    ``tasks``: task name (``TASK_NAMES``) -> Celery task. :meth:`runtime` gives this
    process's resources (built on first use, rebuilt after a fork).
    """

    def __init__(
        self,
        app: Any,
        settings: Settings,
        watchlist: Watchlist,
        options: CeleryOptions,
        redis_url: str,
        plugins: Plugins,
    ) -> None:
        self.app = app
        self.settings = settings
        self.watchlist = watchlist
        self.options = options
        self.redis_url = redis_url
        self.plugins = plugins
        self.tasks: dict[str, Any] = {}
        self._runtime: Runtime | None = None
        self._lock = threading.Lock()

    def __repr__(self) -> str:
        return f"MontalaqCelery(pairs={len(self.watchlist.pairs())}, prefix={self.options.prefix!r})"

    # -- per process ---------------------------------------------------------------------
    def runtime(self) -> Runtime:
        """This process's runtime (a forked child builds its own)."""
        with self._lock:
            rt = self._runtime
            if rt is None or rt.pid != os.getpid():
                rt = Runtime(self.settings, self.options, self.watchlist, self.redis_url, self.plugins)
                rt.request_delivery = self.request_delivery
                self._runtime = rt
            return rt

    def close(self) -> None:
        """Release this process's connections (tests, scripts)."""
        with self._lock:
            if self._runtime is not None and self._runtime.pid == os.getpid():
                self._runtime.close()
            self._runtime = None

    # -- sending ---------------------------------------------------------------------------
    def enqueue_analysis(self, request: dict[str, Any]) -> None:
        """Send one analysis request to the ``analyse`` task."""
        self.tasks["analyse"].apply_async(args=[request], queue=self.options.queue)

    def request_delivery(self) -> None:
        """Ask for a delivery pass now (at most one such message per half second)."""
        state = self.runtime().state
        if state.client.set(state.key("deliver", "kick"), "1", nx=True, px=_DELIVERY_KICK_MS):
            self.tasks["deliver"].apply_async(queue=self.options.queue)

    def beat_schedule(self) -> dict[str, BeatEntry]:
        """The beat entries (merged into ``app.conf.beat_schedule`` by :func:`install`). A
        message not picked up within its period expires: a late tick is useless, the next
        one does its work."""
        s, o = self.settings, self.options
        periods = {
            "tick": (o.tick_interval_s, o.tick_queue),
            "escalation": (s.escalation_eval_interval_sec, o.queue),
            "breakers": (s.circuit_breaker_interval_sec, o.queue),
            "kpi_rollup": (s.kpi_rollup_interval_sec, o.queue),
            "deliver": (o.deliver_interval_s, o.queue),
        }
        out: dict[str, BeatEntry] = {}
        for name, (period_s, queue) in periods.items():
            options: BeatOptions = {"expires": max(1.0, float(period_s))}
            if queue is not None:
                options["queue"] = queue
            out[f"montalaq.{name}"] = {
                "task": f"montalaq.{name}",
                "schedule": float(period_s),
                "options": options,
            }
        return out

    # -- operator actions and queries ----------------------------------------------------
    def close_breaker(self, symbol: str, timeframe: str, by: str = "operator") -> BreakerCloseDoc:
        """Close one pair's breaker now (see :func:`montalaq.celery.escalation.close_breaker`)."""
        return escalation.close_breaker(self.runtime(), symbol, timeframe, by)

    def kpis(self, limit: int = 100) -> list[KpiWindow]:
        """The newest KPI windows, newest first."""
        if isinstance(limit, bool) or not isinstance(limit, int) or not 1 <= limit <= 100_000:
            raise ValueError(f"limit: expected an integer in [1, 100000], got {limit!r}")
        return self.runtime().state.kpis(limit)

    def counters(self) -> dict[str, int]:
        """The workers' shared counters (cumulative)."""
        return self.runtime().state.counters()

    def add_metrics_source(self, source: Callable[[], Mapping[str, Any]]) -> None:
        """Host metrics for every escalation cycle's tick (positions, PnL, broker
        connectivity), as :meth:`montalaq.service.Service.add_metrics_source`: called in the
        worker that evaluates, merged over montalaq's own sections."""
        if not callable(source):
            raise TypeError(f"source: expected a callable returning a mapping, got {type(source).__name__}")
        self.plugins.metric_sources.append(source)

    def workers(self) -> dict[str, WorkerEntry]:
        """Each worker process's operational state as its lifecycle last wrote it:
        ``{"host:pid": {state, reason, entered_at, updated_at, details}}`` (a worker that
        died keeps its last entry; ``updated_at`` tells how old it is)."""
        import json

        rt = self.runtime()
        raw = rt.state.client.hgetall(rt.state.key("workers"))
        return {text_of(k): json.loads(text_of(v)) for k, v in raw.items()}

    def pairs(self) -> list[BoardRow]:
        """Every pair of the shared board as a status row (as ``EscalationBoard.pairs``)."""
        rt = self.runtime()
        raw = rt.state.client.get(rt.state.key("board"))
        if raw is None:
            return []
        return decode_board(raw).pairs(rt.now_ns())

    def reset_state(self) -> int:
        """Delete this deployment's shared state (feed, claims, board, counters...); returns
        the keys deleted. For tests and for starting over; never while workers run."""
        rt = self.runtime()
        rt.feed_context = None
        rt.board_cache = None
        return rt.state.clear()

    def reset_board(self) -> None:
        """Forget the escalation board (levels, streaks, breakers) -- after removing pairs
        from the watchlist; the next evaluation starts a fresh one."""
        rt = self.runtime()
        lock = rt.state.lock("board", self.options.lock_timeout_s)
        if not lock.acquire(blocking=True, blocking_timeout=self.options.lock_timeout_s):
            raise TimeoutError(f"board lock not acquired within {self.options.lock_timeout_s} s")
        try:
            rt.state.client.delete(
                rt.state.key("board"),
                rt.state.key("board", "version"),
                rt.state.key("breakers"),
                rt.state.key("colours"),
            )
            rt.board_cache = None
        finally:
            release(lock, "board")


def _redis_url(settings: Settings, app: Any) -> str:
    if settings.redis_url:
        return settings.redis_url
    broker = getattr(getattr(app, "conf", None), "broker_url", None)
    if isinstance(broker, str) and broker.startswith(("redis://", "rediss://")):
        return broker
    raise ValueError(
        "REDIS_URL: required by montalaq.celery (the workers' shared state), e.g. "
        f"redis://127.0.0.1:6379/0; the broker ({broker!r}) is not a redis:// URL either"
    )


def install(
    app: Any,
    settings: Settings,
    *,
    watchlist: Watchlist | str | os.PathLike[str] | None = None,
    options: CeleryOptions | None = None,
    provider_factory: ProviderFactory | None = None,
    ml: MLCallable | None = None,
    analyzer: RuleAnalyzer | None = None,
    agents: AgentsFactory | None = _default_agents,
    configure_app: bool = False,
) -> MontalaqCelery:
    """Register montalaq's tasks on the Celery ``app`` and merge their beat schedule.

    ``settings``: intervals, thresholds, channels, ``DATABASE_URL``, ``REDIS_URL``.
    ``watchlist``: a :class:`~montalaq.watchlist.Watchlist` or a YAML path (default
    ``WATCHLIST_PATH``). ``options``: :class:`CeleryOptions`. ``provider_factory``: the
    application's trade providers per watchlist entry. ``ml`` / ``analyzer``: the analyses'
    model and rule analyzer. ``agents``: ``(settings, store) -> AgentRegistry | None`` (default:
    the built-in agents; None: no agents). The host app's settings are left as they are:
    with ``worker_prefetch_multiplier`` above 1 a line says why 1 is better for montalaq's
    tasks; ``configure_app=True`` sets it. Celery's per-task lines of the periodic tasks go
    to DEBUG (:mod:`montalaq.celery.logs`).

    Raises ValueError naming the setting when REDIS_URL, WATCHLIST_PATH or the watchlist is
    wrong; TypeError for arguments of the wrong type.
    """
    if not isinstance(settings, Settings):
        raise TypeError(f"settings: expected montalaq.settings.Settings, got {type(settings).__name__}")
    if not callable(getattr(app, "task", None)) or not hasattr(app, "conf"):
        raise TypeError(f"app: expected a celery.Celery application, got {type(app).__name__}")
    opts = options if options is not None else CeleryOptions()
    if not isinstance(opts, CeleryOptions):
        raise TypeError(f"options: expected montalaq.celery.CeleryOptions, got {type(opts).__name__}")
    for name, value in (("provider_factory", provider_factory), ("ml", ml), ("agents", agents)):
        if value is not None and not callable(value):
            raise TypeError(f"{name}: expected a callable or None, got {type(value).__name__}")
    if watchlist is None:
        wl = watchlist_from_settings(settings)
    elif isinstance(watchlist, Watchlist):
        wl = watchlist
    elif isinstance(watchlist, str | os.PathLike):
        wl = load_watchlist(Path(watchlist))
    else:
        raise TypeError(f"watchlist: expected a Watchlist or a YAML path, got {type(watchlist).__name__}")
    redis_url = _redis_url(settings, app)
    if settings.database_url_value.startswith("sqlite"):
        log.warning(
            "montalaq.celery on SQLite (%s): workers must share one machine; use PostgreSQL "
            "(DATABASE_URL) to run them on several",
            settings.database_url_value,
            extra={"component": "celery"},
        )
    handle = MontalaqCelery(
        app,
        settings,
        wl,
        opts,
        redis_url,
        Plugins(provider_factory=provider_factory, ml=ml, analyzer=analyzer, agents=agents),
    )
    _register(app, handle)
    schedule = dict(getattr(app.conf, "beat_schedule", None) or {})
    schedule.update(handle.beat_schedule())
    app.conf.beat_schedule = schedule
    if configure_app:
        app.conf.worker_prefetch_multiplier = 1
    elif app.conf.worker_prefetch_multiplier != 1:
        log.info(
            "worker_prefetch_multiplier is %s: a worker reserves that many montalaq messages while "
            "it runs one, and a killed worker's reserved ones wait for the visibility timeout; "
            "montalaq recommends 1 (install(..., configure_app=True) sets it)",
            app.conf.worker_prefetch_multiplier,
            extra={"component": "celery"},
        )
    quiet_periodic_task_lines()
    return handle


def _register(app: Any, handle: MontalaqCelery) -> None:
    common: dict[str, Any] = {
        "bind": True,
        "acks_late": True,
        "reject_on_worker_lost": True,
        "ignore_result": True,
    }

    def task(name: str, **extra: Any) -> Callable[[Callable[..., Any]], Any]:
        return app.task(name=f"montalaq.{name}", **common, **extra)  # type: ignore[no-any-return]

    opts = handle.options

    @task("tick")
    def tick(self: Any) -> TickReport:
        return tasks.tick(handle.runtime(), handle.enqueue_analysis)

    @task("analyse", max_retries=None)
    def analyse(self: Any, request: dict[str, Any]) -> AnalyseResult:
        rt = handle.runtime()
        out = tasks.analyse(rt, request, str(self.request.id))
        if out["status"] == "wait":
            raise self.retry(countdown=min(2.0, 0.25 * 2 ** min(self.request.retries, 3)))
        if out["status"] == "store_error":
            if self.request.retries < opts.store_retries:
                raise self.retry(countdown=min(60.0, 2.0**self.request.retries))
            tasks.give_up(rt, request, str(out["error_code"]))
        return out

    @task("escalation")
    def escalation_task(self: Any) -> EvaluationReport:
        return escalation.evaluate(handle.runtime())

    @task("breakers")
    def breakers(self: Any) -> BreakerTickReport:
        return escalation.breaker_tick(handle.runtime())

    @task("kpi_rollup")
    def kpi_rollup(self: Any) -> KpiRolled | KpiSkipped:
        return kpi.kpi_rollup(handle.runtime())

    @task("deliver")
    def deliver(self: Any) -> DeliverReport:
        return tasks.deliver(handle.runtime())

    @task("close_breaker")
    def close_breaker(self: Any, symbol: str, timeframe: str, by: str = "operator") -> BreakerCloseDoc:
        return escalation.close_breaker(handle.runtime(), symbol, timeframe, by)

    handle.tasks = {
        "tick": tick,
        "analyse": analyse,
        "escalation": escalation_task,
        "breakers": breakers,
        "kpi_rollup": kpi_rollup,
        "deliver": deliver,
        "close_breaker": close_breaker,
    }


__all__ = ["TASK_NAMES", "CeleryOptions", "MontalaqCelery", "SharedState", "install"]
