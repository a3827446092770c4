"""The one-process service: its construction, ingestion and the cycle (:meth:`Service.step`)
over the engine, board, agents and analyses -- the one-process adapter of
:mod:`montalaq.cycle` (docs/architecture.md, "One cycle"; docs/semantics.md, "Service").
Its read views, providers, scheduler, notifications and stored state are the sibling
modules of this package."""

from __future__ import annotations

import asyncio
import logging
import threading
import time
from collections.abc import Callable, Mapping, Sequence
from typing import TYPE_CHECKING, Any

from montalaq import cycle
from montalaq._time import UNSET, TimeLike, Unset, deprecated_now, to_ns
from montalaq.agents import AgentRegistry, default_registry
from montalaq.analysis import AnalysisRunner, MLCallable
from montalaq.engine import Bar, MarketEngine, QuoteStatus
from montalaq.errors import ErrorCode
from montalaq.feeds import Batch, Provider, QuoteBatch, TradeBatch
from montalaq.health import EscalationBoard, Freshness
from montalaq.lifecycle import Lifecycle, builtin_checks, lifecycle_from_settings
from montalaq.monitoring import MonitoringService
from montalaq.notify.notifier import Notifier
from montalaq.notify.signals import SignalHook
from montalaq.records import AnalysisStatus, Finding
from montalaq.service import persistence
from montalaq.service.escalation import MemoryBoardHost
from montalaq.service.incidents import Incidents
from montalaq.service.scheduler import Scheduler
from montalaq.service.stats import ServiceStats, StepReport
from montalaq.service.supervision import ProviderSupervisor, checked_providers, late_window_s
from montalaq.service.views import ServiceViews
from montalaq.settings import Settings
from montalaq.shapes import BreakerClose, EscalationEvent, EventDoc
from montalaq.store import Store
from montalaq.timeframes import parse_timeframe, timeframe_label

if TYPE_CHECKING:
    from montalaq.llm import LLMAnalyst

log = logging.getLogger("montalaq.service")

_NS = 1_000_000_000


class Service(ServiceViews):
    """Engine, board, agents, analyses, feeds and notifications for the configured symbols
    and timeframes (docs/semantics.md, "Service"). Thread-safe: queries may come from any
    thread while :meth:`run` (or :meth:`step`) works.

    ``settings``: symbols (``SYMBOL``), timeframes (``TIMEFRAMES``), ``TS_*``,
    ``ESCALATION_EVAL_INTERVAL_SEC``, ``BREAKER_AUTO_CLOSE_CYCLES``, the analysis notify
    threshold and dedupe window. ``store``: default ``Store.from_settings(settings)``
    (closed by :meth:`close`). ``notifier``: None sends nothing. ``providers``: symbol ->
    provider. ``clock``: int ns since the epoch. ``agents``: a registry (default: the
    built-ins over this store). ``ml``: the analyses' model. ``close_grace_s``: seconds
    after a bar's end before the clock closes it (trades of a push feed arriving later
    than that are LATE). ``lifecycle``: the operational state machine (default: from the
    settings, checking the database, Redis when the guards use it, and the alerts folder
    when monitoring). ``monitoring``: records each cycle's metrics (None: none).
    ``restore_state``: restore the board saved by :meth:`save_state` before the scheduler's
    first ACTIVE cycle.
    """

    def __init__(
        self,
        settings: Settings,
        *,
        store: Store | None = None,
        notifier: Notifier | None = None,
        providers: Mapping[str, Provider] | None = None,
        clock: Callable[[], int] = time.time_ns,
        agents: AgentRegistry | None = None,
        ml: MLCallable | None = None,
        close_grace_s: float = 2.0,
        lifecycle: Lifecycle | None = None,
        monitoring: MonitoringService | None = None,
        restore_state: bool = False,
    ) -> None:
        _check_arguments(settings, clock, close_grace_s)
        self.settings = settings
        self.clock = clock
        self.symbols = list(dict.fromkeys(settings.symbol))
        self.timeframes = list(
            dict.fromkeys(timeframe_label(parse_timeframe(t)) for t in settings.timeframes)
        )
        self.board = EscalationBoard(Freshness(), auto_close_cycles=settings.breaker_auto_close_cycles)
        self._add_pairs(self.board)
        self._owns_store = store is None
        self.store = store if store is not None else Store.from_settings(settings)
        self.notifier = notifier
        self.signal_hook = (
            SignalHook(
                notifier,
                threshold=settings.analysis_notify_threshold,
                dedupe_window_s=settings.analysis_notify_dedupe_sec,
            )
            if notifier is not None
            else None
        )
        self.agents = agents if agents is not None else default_registry(settings, self.store)
        self.analyst = self._llm_analyst()
        self.runner = AnalysisRunner.from_settings(
            settings, self.store, signal_hook=self.signal_hook, ml=ml, clock=self.now
        )
        if providers is None:
            from montalaq.providers import providers_from_settings

            providers = providers_from_settings(settings, self.symbols)
        self.providers = checked_providers(providers, self.symbols)
        self.engine = MarketEngine(
            self.timeframes,
            symbols=self.symbols,
            close_grace_ns=int(close_grace_s * _NS),
            late_window_ns=int(late_window_s(self.providers.values()) * _NS),
        )
        self.eval_interval_ns = int(settings.escalation_eval_interval_sec * _NS)
        self.stats = ServiceStats()
        self.incidents = Incidents(notifier, self.stats)
        self.supervisor = ProviderSupervisor(self)
        self._lock = threading.Lock()  # pending bars, errors
        self._step_lock = threading.Lock()  # one cycle at a time
        self._step_now: int | None = None
        self._pending: dict[tuple[str, str], Bar] = {}
        self._last_error: dict[tuple[str, str], tuple[int, str]] = {}
        self._last_eval_ns: int | None = None
        self._metric_sources: list[Callable[[], Mapping[str, Any]]] = []
        self._started_mono_s = time.monotonic()  # uptime (the clock may be a replay's)
        self._last_cycle_s = 0.0
        self._last_snapshot_ns = 0
        self.snapshot_interval_ns = int(settings.state_snapshot_interval_sec * _NS)
        # A cycle longer than this is stalled (twice the longest a statement may take).
        self.cycle_stall_s = 2.0 * float(settings.db_statement_timeout_sec)
        self.monitoring = monitoring
        self.lifecycle = lifecycle if lifecycle is not None else self._default_lifecycle()
        self.scheduler = Scheduler(self, restore_state=bool(restore_state))
        self.no_scheduler_reason: str | None = None  # set by serve_without_scheduler

    def _default_lifecycle(self) -> Lifecycle:
        """From the settings, checking the database, Redis when the guards use it, and the
        alerts folder when monitoring."""
        checks = builtin_checks(self.settings, self.store, alerts_dir=self.monitoring is not None)
        return lifecycle_from_settings(self.settings, checks, store=self.store, notifier=self.notifier)

    def _llm_analyst(self) -> LLMAnalyst | None:
        """The LLM analyst (LLM_ENABLE; docs/llm.md): called off the cycle by its own worker;
        its findings are stored like the agents' and its confident answers notified."""
        if not self.settings.llm_enable:
            return None
        from montalaq.llm import LLMAnalyst

        return LLMAnalyst.from_settings(
            self.settings, on_finding=lambda f: self._store_findings([f]), notifier=self.notifier
        )

    # -- plumbing ---------------------------------------------------------------------
    def now(self) -> int:
        """The service's time, int ns (the cycle's ``now_ns`` inside :meth:`step`)."""
        step_now = self._step_now
        return step_now if step_now is not None else int(self.clock())

    def close(self) -> None:
        """Stop the LLM analyst's worker; release the store if the service created it."""
        if self.analyst is not None:
            self.analyst.close()
        if self._owns_store:
            self.store.close()

    def _add_pairs(self, board: EscalationBoard) -> None:
        """Every (symbol, timeframe) on ``board``, each symbol on its market calendar
        (``MARKET_CALENDARS``, else ``MARKET_CALENDAR``; docs/semantics.md, "Market calendars")."""
        for sym in self.symbols:
            board.add_pairs([sym], self.timeframes, calendar=self.settings.calendar_of(sym))

    def _set_error(self, symbol: str, timeframe: str | None, code: str, now_ns: int) -> None:
        """Record the last error of the pair (or of every timeframe of the symbol)."""
        with self._lock:
            for tf in [timeframe] if timeframe is not None else self.timeframes:
                self._last_error[(symbol, tf)] = (now_ns, code)

    def _last_errors(self) -> dict[tuple[str, str], tuple[int, str]]:
        """A copy of every pair's last error: ``(symbol, timeframe) -> (at ns, code)``."""
        with self._lock:
            return dict(self._last_error)

    def last_error_code(self, symbol: str, timeframe: str) -> str | None:
        """The pair's most recent error code (docs/semantics.md, "Service"), or None."""
        with self._lock:
            hit = self._last_error.get((symbol, timeframe))
        return None if hit is None else hit[1]

    # -- operator actions --------------------------------------------------------------
    def run_agents(
        self, names: Sequence[str] | None = None, symbol: str | None = None, insert: bool = True
    ) -> list[Finding]:
        """Run agents now, whatever their interval: ``names`` (default all) for ``symbol``
        (default all); ValueError naming an unknown agent or symbol. With ``insert`` the
        findings are stored. Returns the findings."""
        agent_names = self.agents.validate(names)
        symbols = self.symbols if symbol is None else [self._symbol(symbol)]
        findings = self._run_agents(agent_names, symbols, self.now())
        if insert:
            self._store_findings(findings)
        return findings

    def close_breaker(self, symbol: str, timeframe: str) -> BreakerClose:
        """Operator close of the pair's breaker: ``{symbol, timeframe, closed, breaker_open,
        event}`` (``closed`` False and ``event`` None when it was not open). The close is
        notified and written to ``ingestion_status``."""
        sym, tf = self._symbol(symbol), self._timeframe(timeframe)
        now = self.now()
        event = self.board.close_breaker(sym, tf, by="operator", now=now)
        if event is not None:
            log.info(
                "breaker %s %s closed by operator", sym, tf, extra={"component": "service", "symbol": sym}
            )
            self._notify_event(event, self._last_error.get((sym, tf)))
            persistence.persist_pairs(self, now, only=(sym, tf))
        return {
            "symbol": sym,
            "timeframe": tf,
            "closed": event is not None,
            "breaker_open": self.board.breaker_open(sym, tf),
            "event": event,
        }

    # -- ingestion ----------------------------------------------------------------------
    def ingest(self, batch: TradeBatch) -> dict[str, int]:
        """Feed one batch to the engine; returns its counts by trade status. Bars it closes
        are analysed at the next cycle."""
        counts, closed = self.engine.on_trades(
            batch.symbol, batch.ts_ns, batch.price, batch.size, batch.side, batch.trade_id
        )
        accepted = counts.get("ACCEPTED", 0) + counts.get("AMENDED", 0)
        with self._lock:
            self.stats.trades_ingested += accepted
            self.stats.trades_rejected += sum(counts.values()) - accepted
        self._note_closed(closed)
        return counts

    def ingest_quotes(self, batch: QuoteBatch) -> int:
        """Hand one batch of best bid/ask rows to the engine; returns how many it accepted
        (crossed, non-finite or older quotes are counted by the engine and dropped)."""
        accepted = 0
        for ts, bid, ask in zip(batch.ts_ns.tolist(), batch.bid.tolist(), batch.ask.tolist(), strict=True):
            if self.engine.on_quote(batch.symbol, int(ts), float(bid), float(ask)) == QuoteStatus.ACCEPTED:
                accepted += 1
        with self._lock:
            self.stats.quotes_ingested += accepted
            self.stats.quotes_rejected += len(batch) - accepted
        return accepted

    def feed(self, batch: Batch) -> None:
        """Ingest a :class:`~montalaq.feeds.TradeBatch` or a :class:`~montalaq.feeds.QuoteBatch`:
        the public way for host code to push its own data into a running service (or use a
        :class:`~montalaq.feeds.PushFeed`, see docs/feeds.md)."""
        if isinstance(batch, QuoteBatch):
            self.ingest_quotes(batch)
        elif isinstance(batch, TradeBatch):
            self.ingest(batch)
        else:
            raise TypeError(f"expected a TradeBatch or a QuoteBatch, got {type(batch).__name__}")

    def _note_closed(self, bars: Sequence[Bar]) -> None:
        with self._lock:
            self.stats.bars_closed += len(bars)
            for bar in bars:
                key = (bar.symbol, bar.timeframe)
                prev = self._pending.get(key)
                if prev is not None:
                    self.stats.analyses_superseded += 1
                    if prev.start_ns > bar.start_ns:
                        continue
                self._pending[key] = bar

    # -- the cycle ---------------------------------------------------------------------
    def step(self, now: TimeLike | None = None, *, now_ns: int | Unset = UNSET) -> StepReport:
        """Run one cycle at ``now`` (int ns, an aware datetime or datetime64; None: the
        service's clock; docs/semantics.md, "Service") and report it. ``now_ns=`` is deprecated."""
        if now_ns is UNSET:
            at = int(self.clock()) if now is None else to_ns(now, "now")
            if at <= 0:
                raise ValueError(f"now: expected a time after 1970-01-01, got {now!r}")
            return self._step(at)
        deprecated_now(now, "now_ns")
        if isinstance(now_ns, bool) or not isinstance(now_ns, int) or now_ns <= 0:
            raise ValueError(f"now_ns: expected int ns since the epoch > 0, got {now_ns!r}")
        return self._step(now_ns)

    def _step(self, now_ns: int) -> StepReport:
        with self._step_lock:
            # A service its host steps itself (no run()): ACTIVE without start-up checks.
            self.lifecycle.assume_active()
            self._step_now = now_ns
            t0 = time.perf_counter()
            writes_before = self.incidents.writes()
            try:
                report = StepReport(now_ns)
                before = (self.stats.trades_ingested, self.stats.trades_rejected, self.stats.bars_closed)
                self.supervisor.pull(now_ns)
                self._note_closed(self.engine.advance_time(now_ns))
                report.trades = self.stats.trades_ingested - before[0]
                report.rejected = self.stats.trades_rejected - before[1]
                report.bars_closed = self.stats.bars_closed - before[2]
                self._analyse(now_ns, report)
                due = self.agents.due(now_ns)
                if due:
                    report.findings = self._run_agents(due, self.symbols, now_ns)
                    self._store_findings(report.findings)
                    cycle.consult_analyst(
                        self.analyst, self.agents, self.engine, self.store, report.findings, now_ns
                    )
                if self._last_eval_ns is None or now_ns - self._last_eval_ns >= self.eval_interval_ns:
                    report.events = self._evaluate(now_ns)
                    report.evaluated = True
                self.stats.cycles += 1
                self.incidents.observe_database(self.lifecycle, writes_before)
                self.incidents.observe_channels()
                self._last_cycle_s = time.perf_counter() - t0
                self._record_metrics(now_ns)
                if now_ns - self._last_snapshot_ns >= self.snapshot_interval_ns:
                    self._last_snapshot_ns = now_ns
                    self.save_state()
                return report
            finally:
                self._step_now = None

    def _analyse(self, now_ns: int, report: StepReport) -> None:
        with self._lock:
            pending, self._pending = self._pending, {}
        for (sym, tf), bar in pending.items():
            if sym not in self.symbols or tf not in self.timeframes:
                continue
            if self.board.breaker_open(sym, tf):
                self.stats.analyses_skipped_breaker += 1
                report.skipped_breaker.append((sym, tf))
                continue
            try:
                analysis = self.runner.run(sym, tf, bar, self.engine.signals_tf(sym))
                self.incidents.store_worked()
            except Exception as exc:  # the store could not record it
                self.incidents.store_failed(exc)
                name = cycle.code_name(exc)
                log.exception("analysis %s %s could not be stored", sym, tf, extra={"component": "service"})
                self.board.record_failure(sym, tf, now_ns, name)
                self._set_error(sym, tf, name, now_ns)
                continue
            report.analyses.append(analysis)
            if analysis.status is AnalysisStatus.FAILED:
                self.stats.analyses_failed += 1
                code_name = analysis.error_code or ErrorCode.UNKNOWN.name
                self.board.record_failure(sym, tf, now_ns, code_name)
                self._set_error(sym, tf, code_name, now_ns)
            else:
                self.stats.analyses_complete += 1

    def _run_agents(self, names: Sequence[str], symbols: Sequence[str], now_ns: int) -> list[Finding]:
        findings = cycle.run_agents(self.agents, names, self.engine, symbols, now_ns, self.settings)
        self.stats.agent_runs += len(names) * len(symbols)
        return findings

    def _store_findings(self, findings: Sequence[Finding]) -> None:
        stored, exc = cycle.store_findings(self.store, findings, "service")
        with self._lock:  # also called from the LLM analyst's worker thread
            self.stats.findings += stored
            if stored:
                self.incidents.store_worked()
            if exc is not None:
                self.incidents.store_failed(exc, len(findings) - stored)

    def _evaluate(self, now_ns: int) -> list[EscalationEvent]:
        esc = cycle.escalate(self.board, MemoryBoardHost(self), now_ns)
        self.stats.escalation_cycles += 1
        self.stats.escalation_events += len(esc.events)
        persistence.persist_pairs(self, now_ns)
        return esc.events

    def _notify_event(self, event: EventDoc, last_error: tuple[int, str] | None) -> bool:
        return self.incidents.notify_event(event, last_error, self.provider_name(event["symbol"]))

    # -- monitoring (docs/operations.md, "Monitoring") -----------------------------------
    def add_metrics_source(self, source: Callable[[], Mapping[str, Any]]) -> None:
        """Host metrics for every cycle's tick: ``source()`` returns sections of the metrics
        snapshot (``{"positions": {...}, "pnl": {...}, "connectivity": {...}}``), merged over
        montalaq's own; called in the cycle, so keep it cheap. A source that raises is
        logged and skipped for that cycle."""
        if not callable(source):
            raise TypeError(f"source: expected a callable returning a mapping, got {type(source).__name__}")
        self._metric_sources.append(source)

    def cycle_metrics(
        self, now: TimeLike | None = None, *, now_ns: int | Unset | None = UNSET
    ) -> dict[str, Any]:
        """The metrics this service records each cycle at ``now`` (None: the service's time;
        montalaq's own sections plus the host's sources); see :func:`montalaq.ops.cycle_metrics`.
        ``now_ns=`` is deprecated."""
        from montalaq.ops import cycle_metrics, merge_sources

        if now_ns is not UNSET:
            deprecated_now(now, "now_ns")
            now = now_ns
        at = self.now() if now is None else to_ns(now, "now" if now_ns is UNSET else "now_ns")
        return merge_sources(cycle_metrics(self, at), self._metric_sources)

    def _record_metrics(self, now_ns: int) -> None:
        if self.monitoring is None:
            return
        try:
            self.monitoring.record_tick(self.cycle_metrics(now_ns))
        except Exception:  # monitoring never breaks the cycle
            log.exception("cycle metrics not recorded", extra={"component": "service"})

    # -- state that survives a restart (docs/semantics.md, "State that survives a restart")
    def save_state(self) -> bool:
        """Snapshot the board (levels, streaks, open breakers, failures) and the pairs' last
        error codes into the store (``service_state``); False when the store failed (logged).
        ``run`` calls it every ``STATE_SNAPSHOT_INTERVAL_SEC`` and at shutdown."""
        return persistence.save_state(self)

    def restore_state(self) -> bool:
        """Restore the board and the last error codes saved by :meth:`save_state`: pairs
        still configured keep their level, streaks and breaker; the thresholds are today's
        settings. False when there was nothing to restore or it could not be read (logged;
        the fresh board stays)."""
        return persistence.restore_state(self)

    # -- the scheduler (docs/semantics.md, "Lifecycle at run time") ---------------------
    def start_checks(self) -> None:
        """Run the start-up checks in a daemon thread and return at once (no cycles): what
        a process that serves the API without the scheduler calls, so that its readiness
        (``/health``) says whether its database answers instead of STARTING forever."""
        threading.Thread(target=self.lifecycle.start, name="montalaq-startup", daemon=True).start()

    def serve_without_scheduler(self, why: str) -> None:
        """What a process that serves the API but runs no scheduler calls (``why``: the
        setting that says so, such as ``"RUN_SCHEDULER is false"``): ``/health`` then says
        so in ``scheduler.reason`` (the dashboard's banner), and the start-up checks run
        (:meth:`start_checks`)."""
        from montalaq.service.views import NO_SCHEDULER

        self.no_scheduler_reason = NO_SCHEDULER.format(why=why)
        self.start_checks()

    @property
    def running(self) -> bool:
        """Whether :meth:`run` is running."""
        return self.scheduler.running

    async def run(self, stop: asyncio.Event, *, tick_s: float = 0.25) -> None:
        """The scheduler under the lifecycle (docs/semantics.md, "Lifecycle at run time"):
        the start-up checks run in a worker thread (the state is STARTING meanwhile, then
        ACTIVE, WAITING or ERROR); in ACTIVE and WAITING a cycle (:meth:`step` at
        ``clock()``, in a worker thread so the event loop stays responsive) runs every
        ``tick_s`` wall seconds until ``stop`` is set, push providers consumed by tasks
        meanwhile; in ERROR nothing runs until an operator restarts the lifecycle. The
        monitoring worker runs alongside; the board is saved every
        ``STATE_SNAPSHOT_INTERVAL_SEC`` and once more on the way out. Never raises for a
        failing cycle, check or provider (logged and counted); returns once ``stop`` is set."""
        await self.scheduler.run(stop, tick_s)


def _check_arguments(settings: object, clock: object, close_grace_s: object) -> None:
    if not isinstance(settings, Settings):
        raise TypeError(f"settings: expected montalaq.settings.Settings, got {type(settings).__name__}")
    if not callable(clock):
        raise TypeError("clock: expected a callable returning int ns since the epoch")
    if (
        isinstance(close_grace_s, bool)
        or not isinstance(close_grace_s, int | float)
        or not close_grace_s >= 0
    ):
        raise ValueError(f"close_grace_s: expected seconds >= 0, got {close_grace_s!r}")
