"""The service (SPEC §3.4, §4, §6, §9, §10.1): market engine, escalation board, agents,
analyses, feeds and notifications behind one object -- what the HTTP API serves.

::

    settings = Settings.from_env()
    service = Service(settings)                       # SQLite store, bundled SPY replay
    stop = asyncio.Event()
    await service.run(stop)                           # the scheduler, in the server's loop

    service.signals("SPY"); service.ingestion_status(); service.run_agents(["rvol_spike"])

Tests drive the same cycle deterministically with :meth:`Service.step` ``(now_ns)``.

One cycle (``step``), in this order:

1. **Ingest**: every pull provider (:class:`~montalaq.feeds.PullProvider`) delivers its
   trades up to ``now``; push providers are consumed by tasks of :meth:`run` between
   cycles. Then ``engine.advance_time(now)`` closes bars whose end (plus ``close_grace_s``)
   has passed, so bars close on time in a quiet market.
2. **Analyses** on closed bars: one per (symbol, timeframe) per cycle, of the newest bar
   that closed since the last cycle (older ones closed in the same cycle -- a catch-up --
   are counted as ``analyses_superseded``: the cross-timeframe features exist only for
   "now"). A pair whose breaker is open is skipped (``analyses_skipped_breaker``); a FAILED
   analysis is recorded on the board (``record_failure`` with its error code), which
   feeds ``fails_5m``.
3. **Agents** whose interval has passed since their last run, for every symbol; findings
   go to the store.
4. **Escalation**, every ``ESCALATION_EVAL_INTERVAL_SEC``: one board evaluation over
   every pair with the engine's last trade times; every level change and breaker
   open/close is notified (kind ``escalation`` / ``breaker``), and every pair's row in
   ``ingestion_status`` is upserted.

Decisions:

- **Time.** Everything runs on ``clock`` (int ns): freshness ages, intervals, analysis and
  finding times. For an accelerated replay pass the replay's clock
  (``Service(..., clock=provider.clock)``). Inside ``step(now_ns)`` the service's time
  is ``now_ns``.
- **Providers** map symbol -> provider (the same provider may serve several symbols;
  it is pulled once per cycle). Without ``providers`` each symbol gets the bundled sample
  of that name when there is one (SPY, BTCUSDT: replayed in real time from the regular
  session -- SPY's first 5.5 hours are pre-market -- looping), else a
  :class:`~montalaq.feeds.SimulatedProvider` seeded from the symbol.
- **Notifications** only with a ``notifier`` (the caller starts and stops its worker): the
  signal hook for COMPLETE analyses (``ANALYSIS_NOTIFY_THRESHOLD``, once per bar), level
  changes (severity WARNING for WARN, CRITICAL for ERROR and CRITICAL, INFO back to INFO),
  breaker open (CRITICAL) and close (INFO), and provider errors through the notifier's
  error throttle. Each carries the pair's last error code.
- **The cycle is :mod:`montalaq.cycle`**, shared with the Celery tasks: this class is its
  one-process adapter (state in memory and the store). The last error code of a pair is
  the most recent of a failed analysis' code, a provider error's code and
  FRESHNESS_THRESHOLD_EXCEEDED when an evaluation found the pair AMBER or RED -- unless a
  provider or analysis error was recorded since the previous evaluation, which says more
  (``cycle.freshness_codes``). It is never cleared (it is the *last* error).
- **Status rows.** ``ingestion_status()`` shows the board as of its last evaluation
  (freshness, level, streaks, breaker), the live last trade time from the engine, and
  ``last_signal_bar_ts``/``last_notify_at`` from the store (None when it cannot be read).
- **Failures never stop the scheduler**: a push provider that raises is reconnected with
  backoff (1 s doubling to 30 s), a pull provider is simply pulled again next cycle; a
  provider outage is logged at WARNING once (then DEBUG until it recovers) and reported to
  the notifier's error throttle under its error code; a store error in a cycle is logged
  and counted; an exception in an agent or analyzer is its status / a FAILED analysis.
- **Run time** (docs/semantics.md, "Lifecycle at run time"): :meth:`run` starts the
  lifecycle; each cycle reports the database and the providers to it and records its
  metrics to ``monitoring``; recoveries are resolved once. The board is saved in the store
  every ``STATE_SNAPSHOT_INTERVAL_SEC`` and restored on start (``restore_state``); trend
  postures are restored from ``position_state``.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import math
import threading
import time
from collections.abc import AsyncIterator, Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import TYPE_CHECKING, Any

from montalaq import cycle
from montalaq._time import datetime_utc
from montalaq.agents import AgentRegistry, TrendScore, default_registry, trend_features
from montalaq.analysis import AnalysisRunner, MLCallable
from montalaq.engine import Bar, MarketEngine, QuoteStatus
from montalaq.errors import DEFAULT_TAXONOMY, ErrorCode
from montalaq.feeds import Batch, Provider, PullProvider, QuoteBatch, ReplayProvider, TradeBatch
from montalaq.health import CircuitBreaker, EscalationBoard, Freshness, OpState
from montalaq.lifecycle import Lifecycle, builtin_checks, lifecycle_from_settings
from montalaq.monitoring import MonitoringService
from montalaq.notify.notifier import Notifier
from montalaq.notify.signals import SignalHook
from montalaq.records import Analysis, AnalysisStatus, Finding
from montalaq.retry import RetryPolicy
from montalaq.settings import Settings
from montalaq.store import Store
from montalaq.timeframes import parse_timeframe, timeframe_label

if TYPE_CHECKING:
    from montalaq.llm import LLMAnalyst

log = logging.getLogger("montalaq.service")

_NS = 1_000_000_000
_BOARD_STATE = "board"
_STATE_FORMAT = 1
NO_PROVIDER = "none"


@dataclass
class ServiceStats:
    """Counters since the service was created (this process)."""

    cycles: int = 0
    trades_ingested: int = 0
    trades_rejected: int = 0
    quotes_ingested: int = 0
    quotes_rejected: int = 0
    bars_closed: int = 0
    analyses_complete: int = 0
    analyses_failed: int = 0
    analyses_skipped_breaker: int = 0
    analyses_superseded: int = 0
    agent_runs: int = 0
    findings: int = 0
    escalation_cycles: int = 0
    escalation_events: int = 0
    notifications: int = 0
    notify_errors: int = 0
    provider_errors: int = 0
    store_errors: int = 0
    step_errors: int = 0

    def to_dict(self) -> dict[str, int]:
        """Every counter by name."""
        return dict(self.__dict__)


@dataclass
class StepReport:
    """What one :meth:`Service.step` did (``now_ns``: the cycle's time, int ns)."""

    now_ns: int
    trades: int = 0
    rejected: int = 0
    bars_closed: int = 0
    analyses: list[Analysis] = field(default_factory=list)
    skipped_breaker: list[tuple[str, str]] = field(default_factory=list)
    findings: list[Finding] = field(default_factory=list)
    evaluated: bool = False
    events: list[dict[str, Any]] = field(default_factory=list)


def _bar_dict(bar: Any) -> dict[str, Any] | None:
    """``{start, open, high, low, close, volume, trades}`` of a bar (None for none)."""
    if bar is None:
        return None
    return {
        "start": datetime_utc(int(bar.start_ns)),
        "open": float(bar.open),
        "high": float(bar.high),
        "low": float(bar.low),
        "close": float(bar.close),
        "volume": float(bar.volume),
        "trades": int(bar.trades),
    }


def _ns_or_none(ns: int | None) -> datetime | None:
    return None if not ns else datetime_utc(int(ns))


class Service:
    """Engine, board, agents, analyses, feeds and notifications for the configured symbols
    and timeframes (see the module docstring). Thread-safe: queries may come from any
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
        self.settings = settings
        self.clock = clock
        self.symbols: list[str] = list(dict.fromkeys(settings.symbol))
        self.timeframes: list[str] = list(
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
        # The LLM analyst (LLM_ENABLE; docs/llm.md): called off the cycle by its own worker;
        # its findings are stored like the agents' and its confident answers notified.
        self.analyst: LLMAnalyst | None = None
        if settings.llm_enable:
            from montalaq.llm import LLMAnalyst

            self.analyst = LLMAnalyst.from_settings(
                settings, on_finding=lambda f: self._store_findings([f]), notifier=notifier
            )
        self.runner = AnalysisRunner.from_settings(
            settings, self.store, signal_hook=self.signal_hook, ml=ml, clock=self.now
        )
        if providers is None:
            from montalaq.providers import providers_from_settings

            providers = providers_from_settings(settings, self.symbols)
        unknown = [s for s in providers if s not in self.symbols]
        if unknown:
            raise ValueError(f"providers: unknown symbols {unknown}; configured (SYMBOL): {self.symbols}")
        for sym, p in providers.items():
            name = getattr(p, "name", None)
            if not isinstance(name, str) or not callable(getattr(p, "trades", None)):
                raise TypeError(
                    f"providers[{sym!r}]: expected a Provider (name, trades()), got {type(p).__name__}"
                )
            if not 0 < len(name) <= 32:
                raise ValueError(f"providers[{sym!r}].name: expected 1-32 characters, got {name!r}")
        self.providers: dict[str, Provider] = dict(providers)
        # A feed that backfills after a reconnect holds its bars open once the failure is
        # seen; the trades of the moments before that (a silent drop is seen only by the
        # ping or idle timeout) may still arrive after the clock closed their bar, so they
        # amend it within this window instead of being LATE (docs/feeds.md).
        late_window_s = max(
            (
                float(getattr(p, "idle_timeout_s", 60.0)) + 60.0
                for p in providers.values()
                if getattr(p, "backfills", False)
            ),
            default=0.0,
        )
        self.engine = MarketEngine(
            self.timeframes,
            symbols=self.symbols,
            close_grace_ns=int(close_grace_s * _NS),
            late_window_ns=int(late_window_s * _NS),
        )
        self.eval_interval_ns = int(settings.escalation_eval_interval_sec * _NS)
        self.stats = ServiceStats()
        self._lock = threading.Lock()  # pending bars, errors
        self._step_lock = threading.Lock()  # one cycle at a time
        self._step_now: int | None = None
        self._pending: dict[tuple[str, str], Bar] = {}
        self._last_error: dict[tuple[str, str], tuple[int, str]] = {}
        self._last_eval_ns: int | None = None
        self._pushed: set[int] = set()  # ids of providers consumed by run() tasks
        self._failing: dict[int, str] = {}  # provider id -> error code of its failing call
        self._stopped: dict[int, str] = {}  # provider id -> the permanent error that stopped its feed
        self._held: dict[int, list[str]] = {}  # provider id -> its symbols held open while it backfills
        self._feed_breakers: dict[int, CircuitBreaker] = {}
        self._feed_retry = RetryPolicy(max_attempts=1000, base_s=1.0, jitter=0.2, max_delay_s=30.0)
        self._running = False
        self._store_ok = 0  # store writes that worked (the database is observed through them)
        self._last_store_exc: BaseException | None = None
        self._open_errors: set[str] = set()
        self._errors_by_code: dict[str, int] = {}
        self._metric_sources: list[Callable[[], Mapping[str, Any]]] = []
        self._started_mono_s = time.monotonic()  # uptime (the clock may be a replay's)
        self._last_cycle_s = 0.0
        self._last_snapshot_ns = 0
        self.snapshot_interval_ns = int(settings.state_snapshot_interval_sec * _NS)
        # A cycle longer than this is stalled (twice the longest a statement may take).
        self.cycle_stall_s = 2.0 * float(settings.db_statement_timeout_sec)
        self.monitoring = monitoring
        self.lifecycle = (
            lifecycle
            if lifecycle is not None
            else lifecycle_from_settings(
                settings,
                builtin_checks(settings, self.store, alerts_dir=monitoring is not None),
                store=self.store,
                notifier=notifier,
            )
        )
        # Restored before the first cycle the scheduler runs ACTIVE (the database answers).
        self._restore_pending = bool(restore_state)

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

    def _symbol(self, symbol: object) -> str:
        if not isinstance(symbol, str) or symbol not in self.symbols:
            raise ValueError(f"symbol: unknown symbol {symbol!r}; configured: {self.symbols}")
        return symbol

    def _timeframe(self, timeframe: object) -> str:
        if not isinstance(timeframe, str):
            raise ValueError(f"timeframe: expected a string such as '1m', got {timeframe!r}")
        label = timeframe_label(parse_timeframe(timeframe))
        if label not in self.timeframes:
            raise ValueError(f"timeframe: unknown timeframe {timeframe!r}; configured: {self.timeframes}")
        return label

    def provider_name(self, symbol: str) -> str | None:
        """Name of the provider feeding ``symbol`` (None when none does)."""
        p = self.providers.get(symbol)
        return None if p is None else p.name

    def _unique_providers(self) -> list[Provider]:
        seen: dict[int, Provider] = {}
        for p in self.providers.values():
            seen.setdefault(id(p), p)
        return list(seen.values())

    def _set_error(self, symbol: str, timeframe: str | None, code: str, now_ns: int) -> None:
        """Record the last error of the pair (or of every timeframe of the symbol)."""
        with self._lock:
            for tf in [timeframe] if timeframe is not None else self.timeframes:
                self._last_error[(symbol, tf)] = (now_ns, code)

    def last_error_code(self, symbol: str, timeframe: str) -> str | None:
        """The pair's most recent error code (module docstring), or None."""
        with self._lock:
            hit = self._last_error.get((symbol, timeframe))
        return None if hit is None else hit[1]

    # -- queries (the API) -------------------------------------------------------------
    def health(self) -> dict[str, Any]:
        """Readiness: ``{status, state, reason, symbols[], trades_cached{sym: n}, agents{name:
        {status, last_run}}, replay}`` -- ``status`` "ok" while ACTIVE, else the state in
        lower case; ``last_run`` an aware UTC datetime or None; ``replay`` says what is
        replayed instead of a live feed (None for live feeds)."""
        state = self.state.name
        return {
            "status": "ok" if state == "ACTIVE" else state.lower(),
            "state": state,
            "reason": self.lifecycle.reason,
            "symbols": list(self.symbols),
            "trades_cached": {s: int(self.engine.trades_cached(s)) for s in self.symbols},
            "agents": {
                n: {"status": st["status"], "last_run": st["last_run"]}
                for n, st in self.agents.status().items()
            },
            "replay": self.replay_info(),
        }

    def replay_info(self) -> dict[str, Any] | None:
        """``{source, speed, loop, shifted_to_today}`` when every feed is a replay (the
        demo, ``montalaq serve --replay``), else None."""
        feeds = self._unique_providers()
        if not feeds or not all(isinstance(p, ReplayProvider) for p in feeds):
            return None
        replays = [p for p in feeds if isinstance(p, ReplayProvider)]
        return {
            "source": "; ".join(p.describe() for p in replays),
            "speed": replays[0].speed,
            "loop": all(p.loop for p in replays),
            "shifted_to_today": True,
        }

    def agent_specs(self) -> list[dict[str, Any]]:
        """Registered agents: ``{name, interval_s, description, status, last_run,
        last_error, runs, errors}`` each."""
        status = self.agents.status()
        return [
            {
                "name": spec.name,
                "interval_s": spec.interval_s,
                "description": spec.description,
                **status[spec.name],
            }
            for spec in self.agents
            if spec.name in status
        ]

    def signals(self, symbol: str) -> dict[str, Any]:
        """The ``/signals`` tile of ``symbol`` (SPEC §3.4; None where undefined)."""
        return dict(self.engine.signals(self._symbol(symbol)))

    def signals_tf(self, symbol: str) -> dict[str, Any]:
        """The ``/signals_tf`` features of ``symbol`` (SPEC §3.4; None where undefined)."""
        return dict(self.engine.signals_tf(self._symbol(symbol)))

    def debug_state(self, symbol: str) -> dict[str, Any]:
        """The engine's raw per-symbol state (JSON-ready; times in int ns) and the provider,
        with the contract's keys beside it (docs/semantics.md, "HTTP API"):
        ``last_trade`` ``[time, price]`` (null before the first trade),
        ``last_trade_age_s`` (seconds since it, on the service's clock), ``bars_1m_count``
        (1m bars kept), ``bars_1m_tail`` (the newest five, oldest first) and ``position`` (the
        symbol's ``position_state`` row: status, qty, avg_price, updated_at, last_action,
        last_conf; None before trend_score evaluated the symbol)."""
        sym = self._symbol(symbol)
        state = dict(self.engine.state(sym))
        state["provider"] = self.provider_name(sym)
        last_ns = state.get("last_trade_ns")
        state["last_trade"] = None if not last_ns else [datetime_utc(int(last_ns)), state.get("last_price")]
        state["last_trade_age_s"] = None if not last_ns else max(0.0, (self.now() - int(last_ns)) / _NS)
        if "1m" in self.timeframes:
            tail = self.bars(sym, "1m", limit=5)["bars"]
            state["bars_1m_count"] = len(self.engine.bars(sym, "1m"))
            state["bars_1m_tail"] = [
                {k: b[k] for k in ("start", "open", "high", "low", "close", "volume", "trades")} for b in tail
            ]
        else:
            state["bars_1m_count"], state["bars_1m_tail"] = 0, []
        # The symbol's position_state row, as trend_score's posture logic keeps it (None
        # before its first evaluation, or when the store cannot answer).
        try:
            row = next((r for r in self.store.positions() if r["symbol"] == sym), None)
        except Exception as exc:
            log.debug("debug_state: positions unreadable: %s", exc, extra={"component": "service"})
            row = None
        state["position"] = None if row is None else {k: v for k, v in row.items() if k != "symbol"}
        return state

    def debug_features(self, symbol: str) -> dict[str, Any]:
        """Computed features of ``symbol``: the contract's ``bars`` (the latest closed bar
        per timeframe) and flat ``<feature>_<tf>`` keys (``mom_bps_1m``, ``atr_1m``, ...),
        and beside them per timeframe the latest closed bar's start (aware datetime), close
        and features (None where undefined or no bar yet), plus the trend score's inputs,
        ``p_up`` and posture."""
        sym = self._symbol(symbol)
        frames: dict[str, Any] = {}
        for tf in self.timeframes:
            bar = self.engine.latest(sym, tf)
            if bar is None:
                frames[tf] = None
                continue
            frames[tf] = {
                "bar_start": datetime_utc(int(bar.start_ns)),
                "close": float(bar.close),
                **{
                    name: (float(value) if math.isfinite(value) else None)
                    for name, value in (
                        ("atr", bar.atr),
                        ("mom_bps", bar.mom_bps),
                        ("px_vs_vwap_bps", bar.px_vs_vwap_bps),
                        ("rvol", bar.rvol),
                    )
                },
            }
        signals_tf = self.engine.signals_tf(sym)
        trend: dict[str, Any] = {"features": None, "p_up": None, "posture": None}
        f = trend_features(signals_tf)
        if f is not None:
            trend["features"] = dict(
                zip(
                    ("mom_bps_1m", "mom_bps_5m", "mom_bps_15m", "px_vs_vwap_bps_1m", "rvol_1m_minus_1"),
                    f,
                    strict=True,
                )
            )
        if TrendScore.name in self.agents:
            fn = self.agents.get(TrendScore.name).fn
            if isinstance(fn, TrendScore):
                trend["p_up"] = fn.p_up(signals_tf)
                trend["posture"] = fn.posture(sym)
        flat: dict[str, float | None] = {}
        bars: dict[str, Any] = {}
        for tf, frame in frames.items():
            for name in ("atr", "mom_bps", "px_vs_vwap_bps", "rvol"):
                flat[f"{name}_{tf}"] = None if frame is None else frame[name]
            bars[tf] = _bar_dict(self.engine.latest(sym, tf))
        return {"symbol": sym, "bars": bars, **flat, "timeframes": frames, "trend": trend}

    def latest_findings(self, symbol: str | None = None, limit: int = 50) -> list[Finding]:
        """Newest findings first (of ``symbol``, or all); the store's memory buffer while
        the database is down."""
        return self.store.latest_findings(None if symbol is None else self._symbol(symbol), limit)

    def latest_analysis(self, symbol: str, timeframe: str) -> Analysis | None:
        """The analysis of the newest analysed bar of (symbol, timeframe), or None."""
        return self.store.latest_analysis(self._symbol(symbol), self._timeframe(timeframe))

    def analysis_history(self, symbol: str, timeframe: str, limit: int = 100) -> list[Analysis]:
        """Analyses of (symbol, timeframe), newest bar first (``limit`` 1..10,000)."""
        return self.store.analysis_history(self._symbol(symbol), self._timeframe(timeframe), limit)

    def bars(self, symbol: str, timeframe: str, limit: int = 120) -> dict[str, Any]:
        """The newest ``limit`` (1..10,000) closed bars of (symbol, timeframe), oldest first,
        with their features, and the bar still open: ``{symbol, timeframe, bars: [{start,
        open, high, low, close, volume, trades, atr, mom_bps, px_vs_vwap_bps, rvol}],
        open_bar: {start, open, high, low, close, volume, trades} | None}``. ``start`` is
        the bar's open time (aware UTC datetime); prices in the symbol's currency, volume in
        units traded; features None where undefined (warm-up). Fewer bars than ``limit``
        while the engine has not kept that many (it keeps the newest 10,000)."""
        sym, tf = self._symbol(symbol), self._timeframe(timeframe)
        if isinstance(limit, bool) or not isinstance(limit, int) or not 1 <= limit <= 10_000:
            raise ValueError(f"limit: expected an integer in [1, 10000], got {limit!r}")
        closed = self.engine.bars(sym, tf)
        feats = self.engine.features(sym, tf)
        # Two engine calls: a bar that closes in between is in one and not in the other, so
        # features are matched to bars by start time, not by position.
        f_lo = max(0, len(feats.start_ns) - limit - 1)
        f_index = {t: i for i, t in enumerate(feats.start_ns[f_lo:].tolist())}
        f_cols = {
            name: getattr(feats, name)[f_lo:].tolist()
            for name in ("atr", "mom_bps", "px_vs_vwap_bps", "rvol")
        }
        lo = max(0, len(closed) - limit)
        cols = {
            name: getattr(closed, name)[lo:].tolist()
            for name in ("start_ns", "open", "high", "low", "close", "volume", "trades")
        }
        out: list[dict[str, Any]] = []
        for k, start_ns in enumerate(cols["start_ns"]):
            i = f_index.get(start_ns)
            row: dict[str, Any] = {
                "start": datetime_utc(int(start_ns)),
                **{name: float(cols[name][k]) for name in ("open", "high", "low", "close", "volume")},
                "trades": int(cols["trades"][k]),
            }
            for name, values in f_cols.items():
                v = None if i is None else float(values[i])
                row[name] = v if v is not None and math.isfinite(v) else None
            out.append(row)
        return {
            "symbol": sym,
            "timeframe": tf,
            "bars": out,
            "open_bar": _bar_dict(self.engine.open_bar(sym, tf)),
        }

    def ingestion_status(self) -> dict[str, Any]:
        """``{"pairs": [...], "providers_summary": {provider: {pairs, green, amber, red, closed,
        breakers_open}}}``. Each pair: symbol, timeframe, provider, freshness,
        escalation_level, breaker_open, last_tick (live, aware datetime or None),
        last_eval, last_error_code, last_signal_bar_ts, last_notify_at, amber_streak,
        red_streak, error_streak, fails_5m, breaker_changed_at, breaker_reason, calendar."""
        now = self.now()
        try:
            stored = {(r["symbol"], r["timeframe"]): r for r in self.store.ingestion_status()}
        except Exception as exc:
            log.warning("ingestion_status: store unreadable: %s", exc, extra={"component": "service"})
            stored = {}
        symbols, last = self.engine.last_trades()
        last_tick = dict(zip(symbols, last, strict=True))
        pairs: list[dict[str, Any]] = []
        summary: dict[str, dict[str, int]] = {}
        for row in self.board.pairs(now):
            sym, tf = row["symbol"], row["timeframe"]
            db = stored.get((sym, tf), {})
            provider = self.provider_name(sym)
            pair = {
                "symbol": sym,
                "timeframe": tf,
                "provider": provider,
                "freshness": row["freshness"],
                "escalation_level": row["escalation_level"],
                "breaker_open": bool(row["breaker_open"]),
                "last_tick": _ns_or_none(last_tick.get(sym)),
                "last_eval": row["last_eval"],
                "last_error_code": self.last_error_code(sym, tf),
                "last_signal_bar_ts": db.get("last_signal_bar_ts"),
                "last_notify_at": db.get("last_notify_at"),
                "amber_streak": row["amber_streak"],
                "red_streak": row["red_streak"],
                "error_streak": row["error_streak"],
                "fails_5m": row["fails_5m"],
                "breaker_changed_at": row["breaker_changed_at"],
                "breaker_reason": row["breaker_reason"],
                "calendar": row.get("calendar", "24/7"),
            }
            pairs.append(pair)
            s = summary.setdefault(
                provider or NO_PROVIDER,
                {"pairs": 0, "green": 0, "amber": 0, "red": 0, "closed": 0, "breakers_open": 0},
            )
            s["pairs"] += 1
            colour = str(row["freshness"]).lower()
            if colour in s:
                s[colour] += 1
            s["breakers_open"] += int(bool(row["breaker_open"]))
        return {"pairs": pairs, "providers_summary": summary}

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

    def close_breaker(self, symbol: str, timeframe: str) -> dict[str, Any]:
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
            self._persist_pairs(now, only=(sym, tf))
        return {
            "symbol": sym,
            "timeframe": tf,
            "closed": event is not None,
            "breaker_open": self.board.breaker_open(sym, tf),
            "event": event,
        }

    # -- the cycle ---------------------------------------------------------------------
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

    def provider_stats(self) -> list[dict[str, Any]]:
        """Each streaming provider's numbers (messages/s, reconnects, last message age, parse
        errors, gaps, ...; ``montalaq.providers.StreamClient.stats``) and each push feed's."""
        out: list[dict[str, Any]] = []
        for p in self._unique_providers():
            stats = getattr(p, "stats", None)
            if not callable(stats):
                continue
            try:
                row = dict(stats())
            except Exception as exc:  # a host's feed with a broken stats() must not break /metrics
                row = {"error": f"{type(exc).__name__}: {exc}"}
            row.setdefault("provider", p.name)
            row["symbols"] = [sym for sym, q in self.providers.items() if q is p]
            row["stopped"] = self._stopped.get(id(p))
            out.append(row)
        return out

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

    def step(self, now_ns: int) -> StepReport:
        """Run one cycle at ``now_ns`` (int ns; see the module docstring) and report it."""
        if isinstance(now_ns, bool) or not isinstance(now_ns, int) or now_ns <= 0:
            raise ValueError(f"now_ns: expected int ns since the epoch > 0, got {now_ns!r}")
        with self._step_lock:
            # A service its host steps itself (no run()): ACTIVE without start-up checks.
            self.lifecycle.assume_active()
            self._step_now = now_ns
            t0 = time.perf_counter()
            store_before = (self._store_ok, self.stats.store_errors)
            try:
                report = StepReport(now_ns)
                before = (self.stats.trades_ingested, self.stats.trades_rejected, self.stats.bars_closed)
                self._pull(now_ns)
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
                self._observe_database(store_before)
                self._observe_channels()
                self._last_cycle_s = time.perf_counter() - t0
                self._record_metrics(now_ns)
                if now_ns - self._last_snapshot_ns >= self.snapshot_interval_ns:
                    self._last_snapshot_ns = now_ns
                    self.save_state()
                return report
            finally:
                self._step_now = None

    # -- dependencies at run time (docs/semantics.md, "Lifecycle at run time") -------------
    def _observe_database(self, before: tuple[int, int]) -> None:
        """The database as this cycle saw it: failed when a store write failed, worked when
        one succeeded and none failed; no write, no observation."""
        ok, errors = self._store_ok - before[0], self.stats.store_errors - before[1]
        if errors:
            exc = self._last_store_exc
            self.lifecycle.report(
                "database", exc if exc is not None else ConnectionError("store write failed")
            )
            if "database" not in self._open_errors:
                self._open_errors.add("database")
                self._report_error("DATABASE", f"store writes failing: {exc}")
        elif ok:
            self.lifecycle.report("database", None)
            if "database" in self._open_errors:
                self._open_errors.discard("database")
                self._resolve_error("DATABASE")

    def _observe_channels(self) -> None:
        """Each notification channel's breaker (:func:`montalaq.cycle.channel_changes`)."""
        if self.notifier is None:
            return
        before = {k.removeprefix("channel:") for k in self._open_errors if k.startswith("channel:")}
        opened, closed = cycle.channel_changes(self.notifier, before)
        for name in opened:
            self._open_errors.add(f"channel:{name}")
            self._report_error(cycle.channel_error_type(name), f"channel {name}: its breaker opened")
        for name in closed:
            self._open_errors.discard(f"channel:{name}")
            self._resolve_error(cycle.channel_error_type(name))

    def _report_error(self, error_type: str, message: str) -> None:
        self._errors_by_code[error_type] = self._errors_by_code.get(error_type, 0) + 1
        if self.notifier is None:
            return
        try:
            self.notifier.report_error(error_type, message)
        except Exception:
            self.stats.notify_errors += 1
            log.exception("could not report error %s", error_type, extra={"component": "service"})

    def _resolve_error(self, error_type: str) -> None:
        if self.notifier is None:
            return
        try:
            if self.notifier.resolve_error(error_type):
                log.info("%s resolved: recovery notified", error_type, extra={"component": "service"})
        except Exception:
            self.stats.notify_errors += 1
            log.exception("could not resolve error %s", error_type, extra={"component": "service"})

    def start_checks(self) -> None:
        """Run the start-up checks in a daemon thread and return at once (no cycles): what
        a process that serves the API without the scheduler calls, so that its readiness
        (``/health``) says whether its database answers instead of STARTING forever."""
        threading.Thread(target=self.lifecycle.start, name="montalaq-startup", daemon=True).start()

    @property
    def state(self) -> OpState:
        """The operational state (STARTING, ACTIVE, WAITING, ERROR, SHUTDOWN)."""
        return self.lifecycle.state

    # -- monitoring (docs/operations.md, "Monitoring") -----------------------------------
    def add_metrics_source(self, source: Callable[[], Mapping[str, Any]]) -> None:
        """Host metrics for every cycle's tick: ``source()`` returns sections of the metrics
        snapshot (``{"positions": {...}, "pnl": {...}, "connectivity": {...}}``), merged over
        montalaq's own; called in the cycle, so keep it cheap. A source that raises is
        logged and skipped for that cycle."""
        if not callable(source):
            raise TypeError(f"source: expected a callable returning a mapping, got {type(source).__name__}")
        self._metric_sources.append(source)

    def cycle_metrics(self, now_ns: int | None = None) -> dict[str, Any]:
        """The metrics this service records each cycle (montalaq's own sections plus the
        host's sources); see :func:`montalaq.ops.cycle_metrics`."""
        from montalaq.ops import cycle_metrics, merge_sources

        return merge_sources(
            cycle_metrics(self, self.now() if now_ns is None else now_ns), self._metric_sources
        )

    def _record_metrics(self, now_ns: int) -> None:
        if self.monitoring is None:
            return
        try:
            self.monitoring.record_tick(self.cycle_metrics(now_ns))
        except Exception:  # monitoring never breaks the cycle
            log.exception("cycle metrics not recorded", extra={"component": "service"})

    # -- state that survives a restart ---------------------------------------------------
    def save_state(self) -> bool:
        """Snapshot the board (levels, streaks, open breakers, failures) and the pairs' last
        error codes into the store (``service_state``); False when the store failed (logged).
        ``run`` calls it every ``STATE_SNAPSHOT_INTERVAL_SEC`` and at shutdown."""
        with self._lock:
            errors = [[s, t, at, code] for (s, t), (at, code) in self._last_error.items()]
        doc = {"format": _STATE_FORMAT, "board": self.board.to_json(), "last_errors": errors}
        try:
            self.store.save_service_state(_BOARD_STATE, json.dumps(doc), now=datetime_utc(self.now()))
            self._store_ok += 1
        except Exception as exc:
            self.stats.store_errors += 1
            self._last_store_exc = exc
            log.warning("board snapshot not saved: %s", exc, extra={"component": "service"})
            return False
        return True

    def restore_state(self) -> bool:
        """Restore the board and the last error codes saved by :meth:`save_state`: pairs
        still configured keep their level, streaks and breaker; the thresholds are today's
        settings. False when there was nothing to restore or it could not be read (logged;
        the fresh board stays)."""
        try:
            saved = self.store.load_service_state(_BOARD_STATE)
        except Exception as exc:
            log.warning("board snapshot not read: %s", exc, extra={"component": "service"})
            return False
        if saved is None:
            return False
        try:
            doc = json.loads(saved[0])
            if not isinstance(doc, dict) or doc.get("format") != _STATE_FORMAT:
                raise ValueError(f"not a montalaq service state (format {_STATE_FORMAT})")
            board_doc = json.loads(doc["board"])
            board_doc["config"]["auto_close_cycles"] = self.settings.breaker_auto_close_cycles
            tf_ns = {parse_timeframe(t) for t in self.timeframes}
            board_doc["pairs"] = [
                p for p in board_doc["pairs"] if p["symbol"] in self.symbols and p["tf_ns"] in tf_ns
            ]
            board = EscalationBoard.from_json(json.dumps(board_doc))
            self._add_pairs(board)  # the settings' calendars win over the snapshot's
            errors = {(str(s), str(t)): (int(at), str(code)) for s, t, at, code in doc["last_errors"]}
        except (ValueError, KeyError, TypeError) as exc:
            log.warning("board snapshot not restored: %s", exc, extra={"component": "service"})
            return False
        with self._step_lock, self._lock:
            self.board = board
            self._last_error.update({k: v for k, v in errors.items() if k[0] in self.symbols})
        log.info(
            "board restored from the snapshot of %s (%d breaker(s) open)",
            saved[1].isoformat(),
            sum(1 for r in board.pairs(self.now()) if r["breaker_open"]),
            extra={"component": "service"},
        )
        return True

    def _pull(self, now_ns: int) -> None:
        for p in self._unique_providers():
            if id(p) in self._pushed or not isinstance(p, PullProvider):
                continue
            try:
                for batch in p.take_until(now_ns):
                    self.feed(batch)  # a malformed batch (lengths, dtypes) is the provider's error
            except Exception as exc:
                self._provider_error(p, exc, now_ns)
            else:
                self._provider_ok(p)

    def _provider_ok(self, provider: Provider) -> None:
        self.lifecycle.report(f"provider:{provider.name}", None)
        code = self._failing.pop(id(provider), None)
        if code is not None:
            log.info(
                "provider %s recovered",
                provider.name,
                extra={"component": "service", "provider": provider.name},
            )
            if code not in self._failing.values():  # no other provider failing with that code
                self._resolve_error(code)

    def _provider_error(self, provider: Provider, exc: BaseException, now_ns: int) -> None:
        self.stats.provider_errors += 1
        self.lifecycle.report(f"provider:{provider.name}", exc)
        first = id(provider) not in self._failing  # WARNING once per outage, DEBUG while it goes on
        symbols = [sym for sym, p in self.providers.items() if p is provider]
        name = cycle.provider_failed(
            self.notifier, provider.name, symbols, exc, first=first, component="service"
        )
        self._failing[id(provider)] = name
        if getattr(provider, "backfills", False) and id(provider) not in self._held:
            self._hold(provider, True)
        self._errors_by_code[name] = self._errors_by_code.get(name, 0) + 1
        for sym in symbols:
            self._set_error(sym, None, name, now_ns)

    def _add_pairs(self, board: EscalationBoard) -> None:
        """Every (symbol, timeframe) on ``board``, each symbol on its market calendar
        (``MARKET_CALENDARS``, else ``MARKET_CALENDAR``; docs/semantics.md, "Market calendars")."""
        for sym in self.symbols:
            board.add_pairs([sym], self.timeframes, calendar=self.settings.calendar_of(sym))

    def _hold(self, provider: Provider, held: bool) -> None:
        """A feed that will backfill what it misses holds its symbols' bars open while it
        reconnects: closing them by the clock would make the backfilled trades LATE and
        the bars differ from an uninterrupted stream's (docs/feeds.md)."""
        symbols = [sym for sym, p in self.providers.items() if p is provider]
        for sym in symbols:
            self.engine.set_hold(sym, held)
        if held:
            self._held[id(provider)] = symbols
        else:
            self._held.pop(id(provider), None)

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
                self._store_ok += 1
            except Exception as exc:  # the store could not record it
                self.stats.store_errors += 1
                self._last_store_exc = exc
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
                self._store_ok += 1
            if exc is not None:
                self.stats.store_errors += len(findings) - stored
                self._last_store_exc = exc

    def _evaluate(self, now_ns: int) -> list[dict[str, Any]]:
        esc = cycle.escalate(self.board, _MemoryBoardHost(self), now_ns)
        self.stats.escalation_cycles += 1
        self.stats.escalation_events += len(esc.events)
        self._persist_pairs(now_ns)
        return esc.events

    def _notify_event(self, event: Mapping[str, Any], last_error: tuple[int, str] | None) -> bool:
        if self.notifier is None:
            return False
        try:
            cycle.notify_event(self.notifier, event, last_error, self.provider_name(event["symbol"]))
        except Exception:
            self.stats.notify_errors += 1
            log.exception(
                "could not queue the %s notification of %s %s",
                event["kind"],
                event["symbol"],
                event["timeframe"],
                extra={"component": "service"},
            )
            return False
        self.stats.notifications += 1
        return True

    def _persist_pairs(self, now_ns: int, only: tuple[str, str] | None = None) -> None:
        symbols, last = self.engine.last_trades()
        last_tick = dict(zip(symbols, last, strict=True))
        with self._lock:
            errors = dict(self._last_error)
        rows = cycle.status_rows(
            self.board,
            now_ns,
            None if only is None else [only],
            last_tick=lambda s: last_tick.get(s) or None,
            errors=errors,
            provider_of=self.provider_name,
        )
        try:
            cycle.write_status(self.store, rows, now_ns)
            self._store_ok += 1
        except Exception as exc:  # the store is down: the next evaluation writes every row again
            self.stats.store_errors += 1
            self._last_store_exc = exc
            log.exception("ingestion_status not written", extra={"component": "service"})

    # -- the scheduler -----------------------------------------------------------------
    @property
    def running(self) -> bool:
        """Whether :meth:`run` is running."""
        return self._running

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
        if isinstance(tick_s, bool) or not isinstance(tick_s, int | float) or not tick_s > 0:
            raise ValueError(f"tick_s: expected seconds > 0, got {tick_s!r}")
        if self._running:
            raise RuntimeError("Service.run is already running")
        self._running = True
        tasks: list[asyncio.Task[None]] = []
        starting = asyncio.create_task(asyncio.to_thread(self.lifecycle.start), name="montalaq-startup")
        if self.monitoring is not None:
            self.monitoring.start()
        try:
            while not stop.is_set() and not starting.done():
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(asyncio.shield(starting), tick_s)
            if not stop.is_set():
                self._start_feeds(stop, tasks)
            while not stop.is_set():
                if self._restore_pending and self.state == OpState.ACTIVE:
                    self._restore_pending = False
                    await asyncio.to_thread(self.restore_state)
                if self.state in (OpState.ACTIVE, OpState.WAITING):
                    try:
                        await self._watched_step(stop)
                    except Exception:
                        self.stats.step_errors += 1
                        log.exception("scheduler cycle failed", extra={"component": "service"})
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(stop.wait(), tick_s)
        finally:
            for t in tasks:
                t.cancel()
            await asyncio.gather(*tasks, return_exceptions=True)
            if not starting.done():
                # Start-up checks still retrying: the shutdown below cuts their waits short.
                starting.cancel()
            self._pushed.clear()
            if self.stats.cycles and "database" not in self.lifecycle.failing():
                await _in_daemon_thread(self.save_state)
            if self.monitoring is not None:
                await asyncio.to_thread(self.monitoring.stop)
            self._running = False

    async def _watched_step(self, stop: asyncio.Event) -> None:
        """One cycle in a daemon thread, watched: a cycle still running after
        ``cycle_stall_s`` (a database that accepts and never answers, say) is reported to
        the lifecycle as the dependency ``cycle`` every 5 s until it ends, so the process
        goes WAITING instead of looking healthy while frozen; the report clears when it
        ends. ``stop`` abandons a cycle in flight: a daemon thread stuck on a hung database
        never holds up the process's exit (an executor thread would)."""
        step = _in_daemon_thread(self.step, int(self.clock()))
        stopping = asyncio.ensure_future(stop.wait())
        waited_s = 0.0
        limit_s = self.cycle_stall_s
        stalled = False
        try:
            while True:
                done, _ = await asyncio.wait(
                    {step, stopping}, timeout=limit_s, return_when=asyncio.FIRST_COMPLETED
                )
                if step in done:
                    break
                if stopping in done:
                    return  # leave the thread; shutdown goes on
                waited_s += limit_s
                limit_s = 5.0
                stalled = True
                log.warning("a cycle has run for %.0f s", waited_s, extra={"component": "service"})
                self.lifecycle.report("cycle", TimeoutError(f"a cycle has run for {waited_s:.0f} s"))
        finally:
            stopping.cancel()
        if stalled:
            self.lifecycle.report("cycle", None)
        step.result()

    def _start_feeds(self, stop: asyncio.Event, tasks: list[asyncio.Task[None]]) -> None:
        for p in self._unique_providers():
            start = getattr(p, "start", None)
            if callable(start):
                start()  # virtual clocks start with the scheduler
            speed = getattr(p, "speed", 1.0)
            if speed != 1.0 and getattr(p, "clock", None) != self.clock:
                log.warning(
                    "provider %s runs at speed %s but the service runs on another clock: it is pulled "
                    "in real time (pass clock=provider.clock to the Service)",
                    p.name,
                    speed,
                    extra={"component": "service", "provider": p.name},
                )
            if not isinstance(p, PullProvider):
                self._pushed.add(id(p))
                tasks.append(asyncio.create_task(self._consume(p, stop), name=f"montalaq-feed-{p.name}"))

    async def _consume(self, provider: Provider, stop: asyncio.Event) -> None:
        """Ingest a push provider's batches; when the feed fails, reconnect with the retry
        policy's back-off (jitter, capped) behind the provider's breaker; a PERMANENT failure
        (an auth refusal) stops the feed and moves the lifecycle to ERROR instead of
        looping (docs/feeds.md)."""
        breaker = self._feed_breakers.setdefault(
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
                        self.feed(batch)
                        if id(provider) in self._held and not getattr(provider, "catching_up", False):
                            self._hold(provider, False)  # the backfill is in: the clock may close bars
                        if failures or id(provider) in self._failing:
                            breaker.record_success()
                            self._provider_ok(provider)
                            failures = 0
                    breaker.record_success()
                    return  # the feed ended
                except asyncio.CancelledError:
                    raise
                except Exception as exc:
                    breaker.record_failure()
                    self._provider_error(provider, exc, self.now())
                    if not DEFAULT_TAXONOMY.is_transient(exc) and not isinstance(exc, TypeError | ValueError):
                        self._stopped[id(provider)] = f"{type(exc).__name__}: {exc}"
                        log.error(
                            "provider %s stopped: %s (permanent; fix the configuration and restart)",
                            provider.name,
                            exc,
                            extra={"component": "service", "provider": provider.name},
                        )
                        return
                    failures += 1
                    wait_s = self._feed_retry.backoff_s(failures)
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(stop.wait(), wait_s)


def _in_daemon_thread(fn: Callable[..., Any], *args: Any) -> asyncio.Future[Any]:
    """``fn(*args)`` in a new daemon thread, as an awaitable future of this loop (the
    interpreter does not wait for it at exit, unlike ``asyncio.to_thread``'s executor)."""
    loop = asyncio.get_running_loop()
    fut: asyncio.Future[Any] = loop.create_future()

    def settle(result: Any, exc: BaseException | None) -> None:
        if fut.done():
            return
        if exc is not None:
            fut.set_exception(exc)
        else:
            fut.set_result(result)

    def hand_over(result: Any, exc: BaseException | None) -> None:
        with contextlib.suppress(RuntimeError):  # the loop closed meanwhile: nobody waits
            loop.call_soon_threadsafe(settle, result, exc)

    def target() -> None:
        try:
            result = fn(*args)
        except BaseException as exc:  # handed to the awaiting task
            hand_over(None, exc)
            return
        hand_over(result, None)

    threading.Thread(target=target, name="montalaq-cycle", daemon=True).start()
    return fut


class _MemoryBoardHost:
    """The one-process service's side of :func:`montalaq.cycle.escalate`: the engine's last
    trades, the last errors and events in memory, notifications straight to the outbox."""

    component = "service"

    def __init__(self, service: Service) -> None:
        self.service = service
        self.events: list[dict[str, Any]] = []

    def ticks(self) -> MarketEngine:
        return self.service.engine

    def last_errors(self) -> dict[tuple[str, str], tuple[int, str]]:
        with self.service._lock:
            return dict(self.service._last_error)

    def previous_eval_ns(self) -> int:
        return self.service._last_eval_ns or 0

    def not_green(
        self, now_ns: int, ticks: Any, events: Sequence[Mapping[str, Any]]
    ) -> list[tuple[str, str]]:
        return [
            (str(r["symbol"]), str(r["timeframe"]))
            for r in self.service.board.pairs(now_ns)
            if r["freshness"] in ("AMBER", "RED")  # CLOSED owes no trade: not stale
        ]

    def commit(self, events: Sequence[Mapping[str, Any]], new_errors: cycle.ErrorMap, now_ns: int) -> None:
        svc = self.service
        with svc._lock:
            svc._last_error.update(new_errors)
        svc._last_eval_ns = now_ns
        self.events = [dict(e) for e in events]

    def notify(self, errors: cycle.ErrorMap) -> int:
        return sum(
            self.service._notify_event(e, errors.get((e["symbol"], e["timeframe"]))) for e in self.events
        )


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


__all__ = ["NO_PROVIDER", "Service", "ServiceStats", "StepReport"]
