"""Where a worker's market data comes from: the watchlist's pull providers feeding a
:class:`~montalaq.engine.MarketEngine`, stepped bar by bar by the scheduler tick.

Each process keeps its own :class:`FeedContext` (engine and providers); the shared
:class:`~montalaq.celery.state.FeedRecord` says up to which virtual time the feed was
ingested, and a missing or foreign context is rebuilt by replaying its (deterministic)
providers from the feed's origin. Rebuilds, stepping, close grace and the built-in
sources: docs/semantics.md, "Celery" (Feed, Tick).
"""

from __future__ import annotations

import logging
import zlib
from collections.abc import Callable
from dataclasses import dataclass, field

import numpy as np
import numpy.typing as npt

from montalaq.engine import Bar, MarketEngine
from montalaq.feeds import PullProvider, QuoteBatch, ReplayProvider, SimulatedProvider
from montalaq.timeframes import parse_timeframe
from montalaq.watchlist import Watchlist, WatchlistEntry

log = logging.getLogger("montalaq.celery")

ProviderFactory = Callable[[WatchlistEntry, int], PullProvider | None]
"""``(entry, origin_ns) -> provider | None``: the application's provider for a watchlist
entry (None: the entry's built-in ``source``). ``origin_ns`` is the virtual time at which a
replay should place its first trade. Must be deterministic (docs/semantics.md, "Celery", Feed)."""

SIGNAL_TIMEFRAMES = ("1m", "5m", "15m")


def builtin_provider(entry: WatchlistEntry, origin_ns: int) -> PullProvider | None:
    """The provider of an entry's built-in ``source`` (None for ``none``)."""
    from montalaq.sample import SAMPLES, SESSION_OFFSET_S, sample_path

    src = entry.source
    kind = src.kind
    if kind == "auto":
        kind = "sample" if entry.symbol.lower() in SAMPLES else "simulated"
    if kind in ("none",):
        return None
    if kind == "custom":
        raise ValueError(
            f"watchlist: pairs entry {entry.symbol!r} has source kind 'custom' but no provider_factory "
            "returned a provider for it (pass provider_factory= to montalaq.celery.install)"
        )
    if kind == "sample":
        name = src.name or entry.symbol.lower()
        offset = src.start_offset_s if src.start_offset_s is not None else SESSION_OFFSET_S.get(name, 0.0)
        return ReplayProvider(
            sample_path(name),
            symbol=entry.symbol,
            name=entry.provider,
            loop=src.loop,
            start_offset_s=offset,
            start_ns=origin_ns,
        )
    if kind == "replay":
        assert src.path is not None  # checked by the watchlist
        return ReplayProvider(
            src.path,
            symbol=entry.symbol,
            name=entry.provider,
            loop=src.loop,
            start_offset_s=src.start_offset_s or 0.0,
            start_ns=origin_ns,
        )
    seed = src.seed if src.seed is not None else zlib.crc32(entry.symbol.encode())
    return SimulatedProvider(
        entry.symbol,
        name=entry.provider,
        seed=seed,
        start_price=src.start_price if src.start_price is not None else 100.0,
        rate_per_s=src.rate_per_s if src.rate_per_s is not None else 5.0,
        vol_bps=src.vol_bps if src.vol_bps is not None else 2.0,
        start_ns=origin_ns,
    )


@dataclass
class StepResult:
    """What one step closed: the bars, the features of their symbols right after the step
    (``/signals_tf``), and provider errors ``(symbol list, exception)``."""

    at_ns: int
    bars: list[Bar] = field(default_factory=list)
    errors: list[tuple[list[str], BaseException]] = field(default_factory=list)


class FeedContext:
    """One process's engine and providers for a watchlist (docs/semantics.md, "Celery", Feed).

    ``until_ns``: virtual time up to which this context has ingested (int ns).
    """

    def __init__(
        self,
        watchlist: Watchlist,
        origin_ns: int,
        factory: ProviderFactory | None = None,
    ) -> None:
        self.watchlist = watchlist
        self.digest = watchlist.digest
        self.origin_ns = int(origin_ns)
        frames = list(dict.fromkeys([*watchlist.timeframes, *SIGNAL_TIMEFRAMES]))
        frames.sort(key=parse_timeframe)
        self.timeframes = frames
        self.step_ns = parse_timeframe(frames[0])
        self.engine = MarketEngine(frames, symbols=watchlist.symbols)
        self.providers: list[tuple[list[str], PullProvider]] = []
        for entry in watchlist.entries:
            provider = factory(entry, self.origin_ns) if factory is not None else None
            if provider is None:
                provider = builtin_provider(entry, self.origin_ns)
            if provider is None:
                continue
            if not callable(getattr(provider, "take_until", None)):
                raise TypeError(
                    f"provider of {entry.symbol!r}: expected a pull provider (take_until), "
                    f"got {type(provider).__name__}"
                )
            self.providers.append(([entry.symbol], provider))
        self.until_ns = self.origin_ns - 1
        # The watchlist's pairs as arrays, for the tick's vectorised freshness.
        self.pairs = watchlist.pairs()
        self.symbols = watchlist.symbols
        pos = {s: i for i, s in enumerate(self.symbols)}
        self.pair_sym_idx = np.array([pos[s] for s, _ in self.pairs], dtype=np.int64)
        self.pair_tf_ns = np.array([parse_timeframe(tf) for _, tf in self.pairs], dtype=np.int64)

    def matches(self, digest: str, origin_ns: int) -> bool:
        """Whether this context was built for that watchlist digest and feed origin."""
        return self.digest == digest and self.origin_ns == origin_ns

    def steps(self, now_ns: int) -> list[int]:
        """The step ends from ``until_ns`` (exclusive) to ``now_ns``: bar boundaries of the
        finest timeframe, then ``now_ns`` itself."""
        out: list[int] = []
        if now_ns <= self.until_ns:
            return out
        b = (self.until_ns // self.step_ns + 1) * self.step_ns
        while b < now_ns:
            out.append(b)
            b += self.step_ns
        out.append(now_ns)
        return out

    def step(self, at_ns: int) -> StepResult:
        """Ingest every trade up to ``at_ns`` and close the bars that ended by then."""
        res = StepResult(at_ns)
        for symbols, provider in self.providers:
            try:
                for batch in provider.take_until(at_ns):
                    if isinstance(batch, QuoteBatch):
                        for ts, bid, ask in zip(
                            batch.ts_ns.tolist(), batch.bid.tolist(), batch.ask.tolist(), strict=True
                        ):
                            self.engine.on_quote(batch.symbol, int(ts), float(bid), float(ask))
                        continue
                    _, closed = self.engine.on_trades(
                        batch.symbol, batch.ts_ns, batch.price, batch.size, batch.side, batch.trade_id
                    )
                    res.bars.extend(closed)
            except Exception as exc:  # a provider's failure is its pairs' error, never the tick's
                res.errors.append((symbols, exc))
        res.bars.extend(self.engine.advance_time(at_ns))
        self.until_ns = at_ns
        return res

    def pair_last_trades(self) -> npt.NDArray[np.int64]:
        """Per watchlist pair (``pairs`` order), its symbol's last trade time (0: never)."""
        last = self.last_trades()
        per_symbol = np.array([last.get(s, 0) for s in self.symbols], dtype=np.int64)
        return per_symbol[self.pair_sym_idx]

    def last_trades(self) -> dict[str, int]:
        """Per symbol, its last accepted trade time (ns; symbols without one are left out)."""
        symbols, last = self.engine.last_trades()
        return {s: int(t) for s, t in zip(symbols, last, strict=True) if t}


__all__ = [
    "SIGNAL_TIMEFRAMES",
    "FeedContext",
    "ProviderFactory",
    "StepResult",
    "builtin_provider",
]
