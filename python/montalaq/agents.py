"""Agents (SPEC §3.4): small callables run on an interval that may each return one finding.

An agent is a callable ``(ctx: AgentContext) -> Finding | None``. ``AgentContext`` holds
what an agent may look at for one symbol at one moment: the ``/signals`` tile, the
``/signals_tf`` features, the latest closed bar of each timeframe, the time ``now_ns`` and
the :class:`~montalaq.settings.Settings`. Agents live in an :class:`AgentRegistry`::

    registry = default_registry(settings, store)      # rvol_spike + trend_score

    @registry.agent("wide_range", interval_s=300)
    def wide_range(ctx: AgentContext) -> Finding | None:
        bar = ctx.bars.get("5m")
        if bar is None or bar["high"] - bar["low"] < 1.0:
            return None
        return ctx.finding("wide_range", score=bar["high"] - bar["low"], label="range")

A user module can also tag its functions with the module-level :func:`agent` decorator
(no registry needed at import time; nothing global is kept) and add them later with
``registry.add(fn)``.

Built-in agents:

- ``rvol_spike`` (:class:`RvolSpike`): fires when the 5m ``rvol`` of the latest closed 5m
  bar is ``>= threshold`` (default 3.0, inclusive). Score = rvol; label ``"spike"``;
  details ``rvol``, ``volume_5m``, ``best_bid``, ``best_ask``.
- ``trend_score`` (:class:`TrendScore`): ``p_up = 1/(1+exp(-(b + Σ w_k·f_k)))`` over
  ``f = (mom_bps_1m, mom_bps_5m, mom_bps_15m, px_vs_vwap_bps_1m, rvol_1m - 1)`` with
  ``TS_WEIGHTS`` and bias ``b = 0``; returns one finding per evaluation: score = ``p_up``
  (0..1), label = the posture after this evaluation, details ``p_up``, ``posture``,
  ``previous``, ``changed``, ``streak``, the five features, ``best_bid`` and ``best_ask``.

Decisions:

- **Undefined features.** When any input an agent needs is undefined (None/NaN: warm-up,
  an engine without that timeframe), the agent returns no finding. For ``trend_score``
  such an evaluation also leaves the posture and every streak untouched: missing data is
  neither a confirmation nor a contradiction.
- **Posture** (per symbol, ``trend_score``): FLAT -> LONG after ``TS_PERSIST`` consecutive
  evaluations with ``p_up >= TS_ENTRY``; LONG -> FLAT after ``TS_PERSIST`` consecutive
  evaluations with ``p_up <= TS_EXIT``; SHORT mirrors LONG with ``1 - p_up``. There is no
  direct LONG <-> SHORT flip: a reversal goes through FLAT, and the evaluation that changes
  the posture starts every streak afresh (it does not count towards the next entry). An
  evaluation that qualifies for both entries (possible only with ``TS_ENTRY <= 0.5``)
  counts for neither. Every evaluation counts, scheduled or forced (``run_agents``).
- **Persistence.** The posture is written to ``position_state`` (``status`` = the posture,
  ``qty`` 0, ``last_action`` ``"FLAT->LONG"`` etc., ``last_conf`` = ``p_up``) when it
  changes and on a symbol's first evaluation, and restored from the rows whose status is
  FLAT, LONG or SHORT when the agent is built. Streak counters are not persisted: after a
  restart persistence is counted afresh. A failed write raises (the agent's status becomes
  ``error``); the posture stays changed in memory and the row is written again at the
  next evaluation.
- **Status.** Each agent has ``{status: never_run|ok|error, last_run, last_error}``; an
  exception in an agent (or a return value that is not a Finding or None) is logged,
  recorded as ``error`` with ``"<Type>: <message>"``, and never propagates. ``last_run`` is
  the ``now`` of the context it was last run with (the service's clock).
- **Correlation ids.** Each agent run is one evaluation: it runs in a fresh
  ``correlation_scope`` and its finding carries that id unless it set one itself.
"""

from __future__ import annotations

import logging
import math
import threading
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import TYPE_CHECKING, Any, Literal, Protocol, TypeVar, runtime_checkable

from montalaq._time import datetime_utc
from montalaq._validate import finite_or_none
from montalaq.correlation import correlation_scope
from montalaq.records import Finding

if TYPE_CHECKING:
    from montalaq.engine import MarketEngine
    from montalaq.settings import Settings
    from montalaq.store import Store

log = logging.getLogger("montalaq.agents")

TREND_FEATURES = ("mom_bps_1m", "mom_bps_5m", "mom_bps_15m", "px_vs_vwap_bps_1m", "rvol_1m")
"""The ``/signals_tf`` keys the trend score reads (``rvol_1m`` enters as ``rvol_1m - 1``)."""

DEFAULT_TS_WEIGHTS = (0.02, 0.03, 0.03, 0.01, 0.2)
POSTURES = ("FLAT", "LONG", "SHORT")
_BAR_FIELDS = ("start_ns", "open", "high", "low", "close", "volume", "vwap", "trades")

Posture = Literal["FLAT", "LONG", "SHORT"]
AgentStatusName = Literal["never_run", "ok", "error"]


# ------------------------------------------------------------------------------ context


@dataclass(frozen=True)
class AgentContext:
    """What an agent sees for one symbol at one moment.

    ``now_ns``: the evaluation time (int ns since the epoch, UTC; the service's clock).
    ``signals``: the ``/signals`` tile; ``signals_tf``: the ``/signals_tf`` features
    (SPEC §3.4, None where undefined); ``bars``: the latest closed bar of each timeframe
    (``start_ns`` int ns, ``open/high/low/close/vwap`` prices, ``volume`` in units of the
    instrument, ``trades`` a count), missing for a timeframe with no closed bar yet.
    ``engine`` is the live engine when the context was built from one (None in tests that
    build a context from plain values).
    """

    symbol: str
    now_ns: int
    settings: Settings
    signals: Mapping[str, float | int | None] = field(default_factory=dict)
    signals_tf: Mapping[str, float | None] = field(default_factory=dict)
    bars: Mapping[str, Mapping[str, float]] = field(default_factory=dict)
    engine: MarketEngine | None = None

    @classmethod
    def from_engine(cls, engine: MarketEngine, symbol: str, now_ns: int, settings: Settings) -> AgentContext:
        """The context of ``symbol`` from the engine's latest closed bars."""
        bars: dict[str, dict[str, float]] = {}
        for tf in engine.timeframes:
            bar = engine.latest(symbol, tf)
            if bar is not None:
                bars[tf] = {name: float(getattr(bar, name)) for name in _BAR_FIELDS}
        return cls(
            symbol=symbol,
            now_ns=int(now_ns),
            settings=settings,
            signals=engine.signals(symbol),
            signals_tf=engine.signals_tf(symbol),
            bars=bars,
            engine=engine,
        )

    @property
    def now(self) -> datetime:
        """``now_ns`` as an aware UTC datetime."""
        return datetime_utc(self.now_ns)

    def feature(self, name: str) -> float | None:
        """A ``/signals_tf`` (or else ``/signals``) value as a finite float, or None."""
        if name in self.signals_tf:
            return finite_or_none(self.signals_tf[name])
        return finite_or_none(self.signals.get(name))

    def finding(
        self, agent: str, score: float, label: str = "", details: Mapping[str, Any] | None = None
    ) -> Finding:
        """A :class:`Finding` of this symbol stamped ``now`` (score in the agent's unit)."""
        return Finding(
            ts_utc=self.now,
            agent=agent,
            symbol=self.symbol,
            score=score,
            label=label,
            details=dict(details or {}),
        )


AgentFn = Callable[[AgentContext], Finding | None]
_F = TypeVar("_F", bound=Callable[[AgentContext], Finding | None])


@runtime_checkable
class Agent(Protocol):
    """The agent plug-in point: a callable from context to an optional finding."""

    def __call__(self, ctx: AgentContext) -> Finding | None:
        """Evaluate one symbol; return a finding or None."""
        ...


# ------------------------------------------------------------------------------ registry


@dataclass(frozen=True)
class AgentSpec:
    """A registered agent: its ``name``, callable and run interval (seconds)."""

    name: str
    fn: AgentFn
    interval_s: float
    description: str = ""


@dataclass
class AgentStatus:
    """Run status of one agent. ``last_run_ns`` is int ns (the clock of the last context)."""

    status: AgentStatusName = "never_run"
    last_run_ns: int | None = None
    last_error: str | None = None
    runs: int = 0
    errors: int = 0

    @property
    def last_run(self) -> datetime | None:
        """``last_run_ns`` as an aware UTC datetime (None before the first run)."""
        return None if self.last_run_ns is None else datetime_utc(self.last_run_ns)

    def to_dict(self) -> dict[str, Any]:
        """``{status, last_run, last_error, runs, errors}`` (``last_run`` an aware datetime)."""
        return {
            "status": self.status,
            "last_run": self.last_run,
            "last_error": self.last_error,
            "runs": self.runs,
            "errors": self.errors,
        }


_TAG = "__montalaq_agent__"


def _check_name(name: object) -> str:
    if not isinstance(name, str) or not name or len(name) > 64 or not name.replace("_", "").isalnum():
        raise ValueError(
            f"name: expected 1-64 characters of letters, digits and '_' (e.g. 'rvol_spike'), got {name!r}"
        )
    return name


def _check_interval(interval_s: object) -> float:
    if isinstance(interval_s, bool) or not isinstance(interval_s, int | float):
        raise TypeError(f"interval_s: expected seconds > 0, got {type(interval_s).__name__}")
    if not math.isfinite(interval_s) or interval_s <= 0:
        raise ValueError(f"interval_s: expected seconds > 0, got {interval_s!r}")
    return float(interval_s)


def agent(
    name: str, *, interval_s: float = 60.0, registry: AgentRegistry | None = None
) -> Callable[[_F], _F]:
    """Decorator for a user agent ``fn(ctx) -> Finding | None`` run every ``interval_s``
    seconds. With ``registry`` it registers the function there at once; without, it only
    tags the function, and ``registry.add(fn)`` registers it later. Returns ``fn`` itself."""
    spec_name = _check_name(name)
    interval = _check_interval(interval_s)

    def decorate(fn: _F) -> _F:
        if not callable(fn):
            raise TypeError(f"@agent({name!r}): expected a callable, got {type(fn).__name__}")
        setattr(fn, _TAG, AgentSpec(spec_name, fn, interval, (fn.__doc__ or "").strip().split("\n")[0]))
        if registry is not None:
            registry.add(fn)
        return fn

    return decorate


class AgentRegistry:
    """Named agents with their intervals and run status. Thread-safe.

    ``run(name, ctx)`` evaluates one agent for one symbol and never raises for what the
    agent does (see the module docstring); ``due(now_ns)`` says which agents' intervals
    have passed since their last run.
    """

    def __init__(self, *, bars_in_findings: bool = False) -> None:
        self._specs: dict[str, AgentSpec] = {}
        self._status: dict[str, AgentStatus] = {}
        self._lock = threading.Lock()
        # FEATURE_BARS: every finding also carries the latest closed bar of each timeframe.
        self.bars_in_findings = bars_in_findings

    def register(
        self,
        name: str,
        fn: AgentFn,
        *,
        interval_s: float = 60.0,
        description: str = "",
        replace: bool = False,
    ) -> AgentSpec:
        """Register ``fn`` as agent ``name`` (ValueError if taken, unless ``replace``)."""
        spec_name = _check_name(name)
        interval = _check_interval(interval_s)
        if not callable(fn):
            raise TypeError(f"fn: expected a callable (ctx) -> Finding | None, got {type(fn).__name__}")
        spec = AgentSpec(spec_name, fn, interval, description)
        with self._lock:
            if spec_name in self._specs and not replace:
                raise ValueError(f"name: agent {spec_name!r} is already registered (pass replace=True)")
            self._specs[spec_name] = spec
            self._status[spec_name] = AgentStatus()
        return spec

    def add(self, fn: AgentFn) -> AgentSpec:
        """Register a function tagged by the module-level :func:`agent` decorator."""
        spec = getattr(fn, _TAG, None)
        if not isinstance(spec, AgentSpec):
            raise TypeError(
                "fn: expected a function decorated with @montalaq.agents.agent(name, interval_s=...)"
            )
        return self.register(spec.name, spec.fn, interval_s=spec.interval_s, description=spec.description)

    def agent(self, name: str, *, interval_s: float = 60.0) -> Callable[[_F], _F]:
        """Decorator registering a user agent here (see :func:`agent`)."""
        return agent(name, interval_s=interval_s, registry=self)

    def unregister(self, name: str) -> None:
        """Remove agent ``name`` (ValueError naming it if unknown)."""
        with self._lock:
            self._spec(name)
            del self._specs[name]
            del self._status[name]

    def _spec(self, name: str) -> AgentSpec:
        try:
            return self._specs[name]
        except KeyError:
            raise ValueError(f"names: unknown agent {name!r}; registered: {sorted(self._specs)}") from None

    def names(self) -> list[str]:
        """Registered agent names, in registration order."""
        with self._lock:
            return list(self._specs)

    def __contains__(self, name: object) -> bool:
        return name in self._specs

    def __iter__(self) -> Iterator[AgentSpec]:
        with self._lock:
            return iter(list(self._specs.values()))

    def __len__(self) -> int:
        return len(self._specs)

    def get(self, name: str) -> AgentSpec:
        """The spec of agent ``name`` (ValueError naming it if unknown)."""
        with self._lock:
            return self._spec(name)

    def validate(self, names: Sequence[str] | None) -> list[str]:
        """``names`` checked against the registry (None: every agent); ValueError names an
        unknown one."""
        if names is None:
            return self.names()
        if isinstance(names, str):
            names = [names]
        with self._lock:
            for n in names:
                self._spec(n)
        return list(dict.fromkeys(names))

    def run(self, name: str, ctx: AgentContext) -> Finding | None:
        """Evaluate agent ``name`` on ``ctx``; its finding, or None (also on any error)."""
        spec = self.get(name)
        with correlation_scope() as cid:
            try:
                out = spec.fn(ctx)
                if out is not None and not isinstance(out, Finding):
                    raise TypeError(
                        f"agent {name!r} returned {type(out).__name__}, expected a Finding or None"
                    )
            except Exception as exc:
                message = f"{type(exc).__name__}: {exc}"[:500]
                log.exception(
                    "agent %s failed on %s: %s",
                    name,
                    ctx.symbol,
                    message,
                    extra={"component": "agents", "agent": name, "symbol": ctx.symbol},
                )
                self._record(name, ctx.now_ns, message)
                return None
            if out is not None and out.correlation_id is None:
                out.correlation_id = cid
            if out is not None and self.bars_in_findings and "bars" not in out.details:
                out.details["bars"] = {tf: dict(bar) for tf, bar in ctx.bars.items()}
        self._record(name, ctx.now_ns, None)
        return out

    def _record(self, name: str, now_ns: int, error: str | None) -> None:
        with self._lock:
            st = self._status.get(name)
            if st is None:  # unregistered while running
                return
            st.runs += 1
            st.last_run_ns = now_ns
            if error is None:
                st.status = "ok"
            else:
                st.status = "error"
                st.errors += 1
                st.last_error = error

    def status(self, name: str | None = None) -> dict[str, dict[str, Any]]:
        """``{name: {status, last_run, last_error, runs, errors}}`` of one agent or all."""
        with self._lock:
            if name is not None:
                self._spec(name)
                return {name: self._status[name].to_dict()}
            return {n: st.to_dict() for n, st in self._status.items()}

    def due(self, now_ns: int) -> list[str]:
        """Agents never run, or last run at least their ``interval_s`` before ``now_ns``."""
        with self._lock:
            out = []
            for n, spec in self._specs.items():
                last = self._status[n].last_run_ns
                if last is None or now_ns - last >= int(spec.interval_s * 1e9):
                    out.append(n)
            return out


# ------------------------------------------------------------------------------ trend score


def trend_features(signals_tf: Mapping[str, float | None]) -> tuple[float, ...] | None:
    """The trend-score inputs ``(mom_bps_1m, mom_bps_5m, mom_bps_15m, px_vs_vwap_bps_1m,
    rvol_1m - 1)`` from a ``/signals_tf`` mapping, or None if any is undefined."""
    values = [finite_or_none(signals_tf.get(k)) for k in TREND_FEATURES]
    if any(v is None for v in values):
        return None
    f = [float(v) for v in values if v is not None]
    f[4] -= 1.0
    return tuple(f)


def trend_p_up(features: Sequence[float], weights: Sequence[float], bias: float = 0.0) -> float:
    """``1 / (1 + exp(-(bias + Σ w_k·f_k)))`` (SPEC §3.4), computed without overflow."""
    if len(features) != len(weights):
        raise ValueError(f"weights: expected {len(features)} weights, got {len(weights)}")
    z = bias + math.fsum(w * f for w, f in zip(weights, features, strict=True))
    if z >= 0:
        return 1.0 / (1.0 + math.exp(-z))
    ez = math.exp(z)
    return ez / (1.0 + ez)


@dataclass
class _PostureState:
    posture: Posture = "FLAT"
    up_streak: int = 0  # consecutive evaluations confirming the pending move
    down_streak: int = 0
    persisted: bool = False  # a position_state row reflects `posture`


class TrendScore:
    """The built-in ``trend_score`` agent with its posture per symbol (module docstring).

    ``weights``: the five ``TS_WEIGHTS``; ``entry``/``exit``: ``TS_ENTRY``/``TS_EXIT``
    (probabilities, ``exit <= entry``); ``persist``: ``TS_PERSIST`` evaluations; ``store``:
    where postures are persisted and restored from (None: memory only). Thread-safe.
    """

    name = "trend_score"

    def __init__(
        self,
        weights: Sequence[float] = DEFAULT_TS_WEIGHTS,
        *,
        entry: float = 0.6,
        exit: float = 0.5,
        persist: int = 3,
        bias: float = 0.0,
        store: Store | None = None,
    ) -> None:
        w = [float(x) for x in weights]
        if len(w) != len(TREND_FEATURES) or not all(math.isfinite(x) for x in w):
            raise ValueError(f"weights: expected {len(TREND_FEATURES)} finite numbers, got {list(weights)!r}")
        if not (0 < exit <= entry < 1):
            raise ValueError(
                f"entry/exit: expected 0 < exit <= entry < 1, got entry={entry!r}, exit={exit!r}"
            )
        if isinstance(persist, bool) or not isinstance(persist, int) or persist < 1:
            raise ValueError(f"persist: expected an integer >= 1, got {persist!r}")
        if not math.isfinite(bias):
            raise ValueError(f"bias: expected a finite number, got {bias!r}")
        self.weights = tuple(w)
        self.entry = float(entry)
        self.exit = float(exit)
        self.persist = persist
        self.bias = float(bias)
        self.store = store
        self._states: dict[str, _PostureState] = {}
        self._lock = threading.Lock()
        if store is not None:
            self.restore()

    @classmethod
    def from_settings(cls, settings: Settings, store: Store | None = None) -> TrendScore:
        """``TS_WEIGHTS``, ``TS_ENTRY``, ``TS_EXIT``, ``TS_PERSIST`` from ``settings``."""
        return cls(
            settings.ts_weights,
            entry=settings.ts_entry,
            exit=settings.ts_exit,
            persist=settings.ts_persist,
            store=store,
        )

    def restore(self) -> int:
        """Load postures from ``position_state`` (rows whose status is FLAT/LONG/SHORT);
        returns how many were restored. A store that cannot be read is logged, not raised."""
        if self.store is None:
            return 0
        try:
            rows = self.store.positions()
        except Exception as exc:
            log.warning("trend_score: could not restore postures: %s", exc, extra={"component": "agents"})
            return 0
        n = 0
        with self._lock:
            for row in rows:
                status = row.get("status")
                if status in POSTURES:
                    self._states[str(row["symbol"])] = _PostureState(posture=status, persisted=True)
                    n += 1
        return n

    def posture(self, symbol: str) -> Posture:
        """The current posture of ``symbol`` (FLAT if never evaluated)."""
        with self._lock:
            st = self._states.get(symbol)
            return "FLAT" if st is None else st.posture

    def postures(self) -> dict[str, Posture]:
        """Every known symbol's posture."""
        with self._lock:
            return {s: st.posture for s, st in self._states.items()}

    def p_up(self, signals_tf: Mapping[str, float | None]) -> float | None:
        """``p_up`` for a ``/signals_tf`` mapping, None when a feature is undefined."""
        f = trend_features(signals_tf)
        return None if f is None else trend_p_up(f, self.weights, self.bias)

    def _advance(self, st: _PostureState, p_up: float) -> tuple[Posture, int]:
        """One evaluation of the posture machine; returns (new posture, streak shown)."""
        p_down = 1.0 - p_up
        if st.posture == "FLAT":
            long_ok, short_ok = p_up >= self.entry, p_down >= self.entry
            if long_ok and short_ok:  # only possible with entry <= 0.5: no direction
                st.up_streak = st.down_streak = 0
                return "FLAT", 0
            st.up_streak = st.up_streak + 1 if long_ok else 0
            st.down_streak = st.down_streak + 1 if short_ok else 0
            if st.up_streak >= self.persist:
                return "LONG", st.up_streak
            if st.down_streak >= self.persist:
                return "SHORT", st.down_streak
            return "FLAT", max(st.up_streak, st.down_streak)
        # LONG exits on p_up <= exit; SHORT mirrors it with p_down.
        weak = (p_up if st.posture == "LONG" else p_down) <= self.exit
        st.down_streak = st.down_streak + 1 if weak else 0
        st.up_streak = 0
        if st.down_streak >= self.persist:
            return "FLAT", st.down_streak
        return st.posture, st.down_streak

    def __call__(self, ctx: AgentContext) -> Finding | None:
        """Evaluate ``ctx.symbol``: a finding with ``p_up`` and the posture, or None when a
        feature is undefined (posture and streaks untouched)."""
        f = trend_features(ctx.signals_tf)
        if f is None:
            return None
        p_up = trend_p_up(f, self.weights, self.bias)
        with self._lock:
            st = self._states.setdefault(ctx.symbol, _PostureState())
            previous = st.posture
            new, streak = self._advance(st, p_up)
            changed = new != previous
            if changed:
                st.posture = new
                st.up_streak = st.down_streak = 0
                st.persisted = False
            write = not st.persisted
        if write and self.store is not None:
            self.store.upsert_position(
                ctx.symbol,
                new,
                0.0,
                last_action=f"{previous}->{new}" if changed else new,
                last_conf=p_up,
                now=ctx.now,
            )
            with self._lock:
                if st.posture == new:
                    st.persisted = True
        if changed:
            log.info(
                "trend_score %s: %s -> %s (p_up %.3f)",
                ctx.symbol,
                previous,
                new,
                p_up,
                extra={"component": "agents", "agent": self.name, "symbol": ctx.symbol},
            )
        details: dict[str, Any] = {
            "p_up": p_up,
            "posture": new,
            "previous": previous,
            "changed": changed,
            "streak": 0 if changed else streak,
        }
        details.update(dict(zip(TREND_FEATURES, (*f[:4], f[4] + 1.0), strict=True)))
        # The book when the posture was judged (None until the feed delivered a quote).
        details["best_bid"] = finite_or_none(ctx.signals.get("best_bid"))
        details["best_ask"] = finite_or_none(ctx.signals.get("best_ask"))
        return ctx.finding(self.name, score=p_up, label=new, details=details)


# ------------------------------------------------------------------------------ rvol spike


class RvolSpike:
    """The built-in ``rvol_spike`` agent: fires when 5m ``rvol >= threshold`` (inclusive).

    ``threshold`` is a ratio to the mean volume of the previous ``rvol_n`` 5m bars
    (default 3.0). Score = rvol; details ``rvol``, ``volume_5m`` (volume of the latest
    closed 5m bar), ``best_bid``, ``best_ask`` (None until a quote arrived).
    """

    name = "rvol_spike"

    def __init__(self, threshold: float = 3.0) -> None:
        if (
            isinstance(threshold, bool)
            or not isinstance(threshold, int | float)
            or not math.isfinite(threshold)
        ):
            raise ValueError(f"threshold: expected a finite number, got {threshold!r}")
        self.threshold = float(threshold)

    def __call__(self, ctx: AgentContext) -> Finding | None:
        """A finding when the latest 5m rvol reaches the threshold; None otherwise or when
        rvol is undefined."""
        rvol = ctx.feature("rvol_5m")
        if rvol is None or rvol < self.threshold:
            return None
        bar = ctx.bars.get("5m")
        details = {
            "rvol": rvol,
            "volume_5m": None if bar is None else finite_or_none(bar.get("volume")),
            "best_bid": finite_or_none(ctx.signals.get("best_bid")),
            "best_ask": finite_or_none(ctx.signals.get("best_ask")),
            "threshold": self.threshold,
        }
        return ctx.finding(self.name, score=rvol, label="spike", details=details)


def default_registry(
    settings: Settings, store: Store | None = None, *, rvol_threshold: float = 3.0, interval_s: float = 60.0
) -> AgentRegistry:
    """A registry with the built-ins (docs/semantics.md, "Agents"): ``rvol_spike``
    (``rvol_threshold``, every ``interval_s`` seconds) and ``trend_score`` (the ``TS_*``
    settings, every ``TS_INTERVAL`` seconds, postures persisted in ``store``) always; by
    their flags ``new_trend`` (``FEATURE_NEW_TREND``, scored with ``TS_MTF_WEIGHTS``),
    ``reversal`` (``FEATURE_REVERSAL``), ``liquidity`` (``FEATURE_LIQUIDITY``), each every
    ``interval_s``; ``macro`` when ``MACRO_WINDOWS`` is set (every ``MACRO_INTERVAL_SEC``);
    and ``FEATURE_BARS`` puts the latest closed bars in every finding."""
    from montalaq.market_agents import Liquidity, MacroWatcher, NewTrend, Reversal, parse_windows

    registry = AgentRegistry(bars_in_findings=settings.feature_bars)
    registry.register(
        RvolSpike.name,
        RvolSpike(rvol_threshold),
        interval_s=interval_s,
        description="5m relative volume at or above the threshold",
    )
    trend = TrendScore.from_settings(settings, store)
    registry.register(
        TrendScore.name,
        trend,
        interval_s=settings.ts_interval,
        description="logistic trend score and posture (FLAT/LONG/SHORT)",
    )
    if settings.feature_new_trend:
        registry.register(
            NewTrend.name,
            NewTrend(settings.ts_mtf_weights),
            interval_s=interval_s,
            description="1m, 5m and 15m momentum newly aligned (a fresh trend)",
        )
    if settings.feature_reversal:
        registry.register(
            Reversal.name,
            Reversal(trend),
            interval_s=interval_s,
            description="1m and 5m momentum against the trend posture, on volume",
        )
    if settings.feature_liquidity:
        registry.register(
            Liquidity.name,
            Liquidity(),
            interval_s=interval_s,
            description="quoted spread or mean trade size far above the symbol's normal",
        )
    if settings.macro_windows:
        registry.register(
            MacroWatcher.name,
            MacroWatcher(
                parse_windows(settings.macro_windows, settings.macro_window_minutes), settings.macro_rvol_min
            ),
            interval_s=settings.macro_interval_sec,
            description="relative volume inside the configured macro windows",
        )
    return registry


__all__ = [
    "DEFAULT_TS_WEIGHTS",
    "POSTURES",
    "TREND_FEATURES",
    "Agent",
    "AgentContext",
    "AgentFn",
    "AgentRegistry",
    "AgentSpec",
    "AgentStatus",
    "RvolSpike",
    "TrendScore",
    "agent",
    "default_registry",
    "trend_features",
    "trend_p_up",
]
