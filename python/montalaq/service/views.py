"""The service's read views, what the HTTP API serves: readiness, signals, bars, features,
findings, analyses, the pairs' ingestion status and the providers' numbers
(docs/semantics.md, "HTTP API" for their shapes)."""

from __future__ import annotations

import logging
from datetime import datetime
from typing import TYPE_CHECKING, Any, cast

from montalaq._time import datetime_utc
from montalaq._validate import finite_or_none
from montalaq.agents import TrendScore, trend_features
from montalaq.feeds import ReplayProvider
from montalaq.shapes import (
    AgentSpecRow,
    Bar,
    Bars,
    BoardRow,
    ClosedBar,
    FeaturesView,
    FrameFeatures,
    Health,
    IngestionStatus,
    OpStateName,
    PairFreshnessName,
    PairStatus,
    ProviderSummary,
    ReadinessName,
    ReplayInfo,
    SchedulerInfo,
    Signals,
    Trend,
)
from montalaq.timeframes import parse_timeframe, timeframe_label

if TYPE_CHECKING:
    from montalaq.agents import AgentRegistry
    from montalaq.engine import MarketEngine
    from montalaq.feeds import Provider
    from montalaq.health import EscalationBoard, OpState
    from montalaq.lifecycle import Lifecycle
    from montalaq.records import Analysis, Finding
    from montalaq.service.stats import ServiceStats
    from montalaq.service.supervision import ProviderSupervisor
    from montalaq.store import Store

log = logging.getLogger("montalaq.service")

_NS = 1_000_000_000
_FEATURES = ("atr", "mom_bps", "px_vs_vwap_bps", "rvol")
NO_PROVIDER = "none"
"""The ``providers_summary`` key of the pairs no provider feeds."""


def pair_freshness(row: BoardRow) -> PairFreshnessName:
    """The freshness a board row shows: its own, or UNKNOWN while this process has never
    evaluated the pair (a web process without the scheduler, the moments before the first
    cycle): a pair nobody looked at is not stale (docs/semantics.md, "Service")."""
    return "UNKNOWN" if row["last_eval"] is None else row["freshness"]


def _bar_dict(bar: Any) -> Bar | None:
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


def _open_part(bar: ClosedBar) -> Bar:
    """A closed bar without its features."""
    return {
        "start": bar["start"],
        "open": bar["open"],
        "high": bar["high"],
        "low": bar["low"],
        "close": bar["close"],
        "volume": bar["volume"],
        "trades": bar["trades"],
    }


def _ns_or_none(ns: int | None) -> datetime | None:
    return None if not ns else datetime_utc(int(ns))


class ServiceViews:
    """The read methods of :class:`~montalaq.service.Service` (a mixin over its engine,
    board, store, agents, lifecycle and providers). Thread-safe: they may be called from
    any thread while the scheduler works."""

    symbols: list[str]
    timeframes: list[str]
    engine: MarketEngine
    board: EscalationBoard
    store: Store
    agents: AgentRegistry
    lifecycle: Lifecycle
    providers: dict[str, Provider]
    supervisor: ProviderSupervisor

    stats: ServiceStats
    no_scheduler_reason: str | None

    if TYPE_CHECKING:

        def now(self) -> int: ...

        def last_error_code(self, symbol: str, timeframe: str) -> str | None: ...

        @property
        def running(self) -> bool: ...

    # -- arguments ------------------------------------------------------------------------
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

    # -- the process ----------------------------------------------------------------------
    @property
    def state(self) -> OpState:
        """The operational state (STARTING, ACTIVE, WAITING, ERROR, SHUTDOWN)."""
        return self.lifecycle.state

    def own_market_data(self) -> bool:
        """Whether this process has market data of its own: it runs the scheduler, or its
        host stepped it. False in a process that serves the API while the scheduler runs
        elsewhere or nowhere: its engine and board stay empty. The one place that decides
        it (where a market view shared between processes would plug in)."""
        return self.running or self.stats.cycles > 0

    def scheduler_status(self) -> SchedulerInfo:
        """``{running, market_data, reason}``: whether this process runs the scheduler now,
        whether it has market data of its own (:meth:`own_market_data`) and, when it has
        none, why and where to look instead (else None)."""
        market_data = self.own_market_data()
        reason = None
        if not market_data:
            reason = self.no_scheduler_reason or NO_SCHEDULER.format(why="it was never started here")
        return {"running": bool(self.running), "market_data": market_data, "reason": reason}

    def health(self) -> Health:
        """Readiness: ``{status, state, reason, symbols[], trades_cached{sym: n}, agents{name:
        {status, last_run}}, replay, scheduler}`` -- ``status`` "ok" while ACTIVE, else the
        state in lower case; ``last_run`` an aware UTC datetime or None; ``replay`` says what
        is replayed instead of a live feed (None for live feeds); ``scheduler`` is
        :meth:`scheduler_status`."""
        state = cast(OpStateName, self.state.name)
        return {
            "status": "ok" if state == "ACTIVE" else cast(ReadinessName, state.lower()),
            "state": state,
            "reason": self.lifecycle.reason,
            "symbols": list(self.symbols),
            "trades_cached": {s: int(self.engine.trades_cached(s)) for s in self.symbols},
            "agents": {
                n: {"status": st["status"], "last_run": st["last_run"]}
                for n, st in self.agents.status().items()
            },
            "replay": self.replay_info(),
            "scheduler": self.scheduler_status(),
        }

    def replay_info(self) -> ReplayInfo | None:
        """``{source, speed, loop, shifted_to_today}`` when every feed is a replay (the
        demo, ``montalaq serve --replay``), else None."""
        feeds = self.supervisor.unique()
        if not feeds or not all(isinstance(p, ReplayProvider) for p in feeds):
            return None
        replays = [p for p in feeds if isinstance(p, ReplayProvider)]
        return {
            "source": "; ".join(p.describe() for p in replays),
            "speed": replays[0].speed,
            "loop": all(p.loop for p in replays),
            "shifted_to_today": True,
        }

    def agent_specs(self) -> list[AgentSpecRow]:
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

    # -- the market -----------------------------------------------------------------------
    def signals(self, symbol: str) -> Signals:
        """The ``/signals`` tile of ``symbol`` (docs/semantics.md, "Market core", Signals;
        None where undefined)."""
        return self.engine.signals(self._symbol(symbol))

    def signals_tf(self, symbol: str) -> dict[str, float | None]:
        """The ``/signals_tf`` features of ``symbol`` (docs/semantics.md, "Market core",
        Signals; None where undefined)."""
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
            state["bars_1m_tail"] = [_open_part(b) for b in tail]
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

    def debug_features(self, symbol: str) -> FeaturesView:
        """Computed features of ``symbol``: the contract's ``bars`` (the latest closed bar
        per timeframe) and flat ``<feature>_<tf>`` keys (``mom_bps_1m``, ``atr_1m``, ...;
        beyond the record's keys), and beside them per timeframe the latest closed bar's start
        (aware datetime), close and features (None where undefined or no bar yet), plus the
        trend score's inputs, ``p_up`` and posture."""
        sym = self._symbol(symbol)
        frames: dict[str, FrameFeatures | None] = {}
        for tf in self.timeframes:
            bar = self.engine.latest(sym, tf)
            frames[tf] = None
            if bar is not None:
                frames[tf] = {
                    "bar_start": datetime_utc(int(bar.start_ns)),
                    "close": float(bar.close),
                    "atr": finite_or_none(bar.atr),
                    "mom_bps": finite_or_none(bar.mom_bps),
                    "px_vs_vwap_bps": finite_or_none(bar.px_vs_vwap_bps),
                    "rvol": finite_or_none(bar.rvol),
                }
        trend = self._trend(sym)
        flat: dict[str, float | None] = {}
        bars: dict[str, Bar | None] = {}
        for tf, frame in frames.items():
            values = (
                (None, None, None, None)
                if frame is None
                else (frame["atr"], frame["mom_bps"], frame["px_vs_vwap_bps"], frame["rvol"])
            )
            for name, value in zip(_FEATURES, values, strict=True):
                flat[f"{name}_{tf}"] = value
            bars[tf] = _bar_dict(self.engine.latest(sym, tf))
        # The flat keys sit between bars and timeframes, as they always have on the wire.
        return cast(FeaturesView, {"symbol": sym, "bars": bars, **flat, "timeframes": frames, "trend": trend})

    def _trend(self, sym: str) -> Trend:
        """The trend score's inputs, ``p_up`` and posture of ``sym`` (None where undefined)."""
        signals_tf = self.engine.signals_tf(sym)
        trend: Trend = {"features": None, "p_up": None, "posture": None}
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
        return trend

    def bars(self, symbol: str, timeframe: str, limit: int = 120) -> Bars:
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
        f_cols = {name: getattr(feats, name)[f_lo:].tolist() for name in _FEATURES}
        lo = max(0, len(closed) - limit)
        cols = {
            name: getattr(closed, name)[lo:].tolist()
            for name in ("start_ns", "open", "high", "low", "close", "volume", "trades")
        }
        out: list[ClosedBar] = []
        for k, start_ns in enumerate(cols["start_ns"]):
            i = f_index.get(start_ns)
            row = {
                "start": datetime_utc(int(start_ns)),
                **{name: float(cols[name][k]) for name in ("open", "high", "low", "close", "volume")},
                "trades": int(cols["trades"][k]),
            }
            for name, values in f_cols.items():
                row[name] = None if i is None else finite_or_none(values[i])
            out.append(cast(ClosedBar, row))
        return {
            "symbol": sym,
            "timeframe": tf,
            "bars": out,
            "open_bar": _bar_dict(self.engine.open_bar(sym, tf)),
        }

    # -- findings and analyses (from the store) -------------------------------------------
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

    # -- the feeds ------------------------------------------------------------------------
    def provider_name(self, symbol: str) -> str | None:
        """Name of the provider feeding ``symbol`` (None when none does)."""
        p = self.providers.get(symbol)
        return None if p is None else p.name

    def provider_stats(self) -> list[dict[str, Any]]:
        """Each streaming provider's numbers (messages/s, reconnects, last message age, parse
        errors, gaps, ...; ``montalaq.providers.StreamClient.stats``) and each push feed's."""
        return self.supervisor.stats()

    def ingestion_status(self) -> IngestionStatus:
        """``{"pairs": [...], "providers_summary": {provider: {pairs, green, amber, red, closed,
        unknown, breakers_open}}}``. Each pair: symbol, timeframe, provider, freshness (UNKNOWN
        while this process never evaluated it, :func:`pair_freshness`),
        escalation_level, breaker_open, last_tick (live, aware datetime or None),
        last_eval, last_error_code, last_signal_bar_ts, last_notify_at, amber_streak,
        red_streak, error_streak, fails_5m, breaker_changed_at, breaker_reason, calendar.
        The board as of its last evaluation, the live last trade from the engine, the
        notification columns from the store (None when it cannot be read)."""
        now = self.now()
        try:
            stored = {(r["symbol"], r["timeframe"]): r for r in self.store.ingestion_status()}
        except Exception as exc:
            log.warning("ingestion_status: store unreadable: %s", exc, extra={"component": "service"})
            stored = {}
        symbols, last = self.engine.last_trades()
        last_tick = dict(zip(symbols, last, strict=True))
        pairs: list[PairStatus] = []
        summary: dict[str, ProviderSummary] = {}
        for row in self.board.pairs(now):
            sym, tf = row["symbol"], row["timeframe"]
            db = stored.get((sym, tf))
            provider = self.provider_name(sym)
            pairs.append(
                {
                    "symbol": sym,
                    "timeframe": tf,
                    "provider": provider,
                    "freshness": pair_freshness(row),
                    "escalation_level": row["escalation_level"],
                    "breaker_open": bool(row["breaker_open"]),
                    "last_tick": _ns_or_none(last_tick.get(sym)),
                    "last_eval": row["last_eval"],
                    "last_error_code": self.last_error_code(sym, tf),
                    "last_signal_bar_ts": None if db is None else db["last_signal_bar_ts"],
                    "last_notify_at": None if db is None else db["last_notify_at"],
                    "amber_streak": row["amber_streak"],
                    "red_streak": row["red_streak"],
                    "error_streak": row["error_streak"],
                    "fails_5m": row["fails_5m"],
                    "breaker_changed_at": row["breaker_changed_at"],
                    "breaker_reason": row["breaker_reason"],
                    "calendar": row.get("calendar", "24/7"),
                }
            )
            _summarise(summary.setdefault(provider or NO_PROVIDER, _no_pairs()), row)
        return {"pairs": pairs, "providers_summary": summary}


def _no_pairs() -> ProviderSummary:
    return {"pairs": 0, "green": 0, "amber": 0, "red": 0, "closed": 0, "unknown": 0, "breakers_open": 0}


NO_SCHEDULER = (
    "this process runs no scheduler ({why}): no pair is evaluated here, so they show UNKNOWN, "
    "and the tiles and bars stay empty; the analyses, findings and alerts are those the "
    "scheduler's process writes (montalaq serve, manage.py montalaq_run or the Celery tasks), "
    "and `montalaq status` shows its pairs"
)
"""``/health``'s ``scheduler.reason`` in a process without market data; ``{why}``: the
setting that says so."""


def _summarise(s: ProviderSummary, row: BoardRow) -> None:
    """Count one pair's board row into its provider's summary."""
    s["pairs"] += 1
    colour = pair_freshness(row)
    if colour == "GREEN":
        s["green"] += 1
    elif colour == "AMBER":
        s["amber"] += 1
    elif colour == "RED":
        s["red"] += 1
    elif colour == "CLOSED":
        s["closed"] += 1
    elif colour == "UNKNOWN":
        s["unknown"] += 1
    s["breakers_open"] += int(bool(row["breaker_open"]))
