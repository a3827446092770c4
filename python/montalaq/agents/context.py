"""What an agent sees for one symbol at one moment, and the agent plug-in point
(docs/semantics.md, "Agents")."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import TYPE_CHECKING, Any, Protocol, runtime_checkable

from montalaq._time import datetime_utc
from montalaq._validate import finite_or_none
from montalaq.records import Finding

if TYPE_CHECKING:
    from montalaq.engine import MarketEngine
    from montalaq.settings import Settings

_BAR_FIELDS = ("start_ns", "open", "high", "low", "close", "volume", "vwap", "trades")


@dataclass(frozen=True)
class AgentContext:
    """What an agent sees for one symbol at one moment.

    ``now_ns``: the evaluation time (int ns since the epoch, UTC; the service's clock).
    ``signals``: the ``/signals`` tile; ``signals_tf``: the ``/signals_tf`` features
    (None where undefined); ``bars``: the latest closed bar of each timeframe
    (``start_ns`` int ns, ``open/high/low/close/vwap`` prices, ``volume`` in units of the
    instrument, ``trades`` a count), missing for a timeframe with no closed bar yet.
    ``engine`` is the live engine when the context was built from one (None in tests that
    build a context from plain values).
    """

    symbol: str
    now_ns: int
    settings: Settings
    signals: Mapping[str, object] = field(default_factory=dict)  # the /signals tile (the Signals record)
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


@runtime_checkable
class Agent(Protocol):
    """The agent plug-in point: a callable from context to an optional finding."""

    def __call__(self, ctx: AgentContext) -> Finding | None:
        """Evaluate one symbol; return a finding or None."""
        ...


__all__ = ["Agent", "AgentContext", "AgentFn"]
