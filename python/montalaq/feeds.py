"""Trade feeds (providers) for the service: a protocol, a replay of trade files and a
seeded random walk.

A provider has a ``name`` (recorded per pair in ``ingestion_status.provider``: "AllTick",
"TwelveData", or any other string), the ``symbols`` it serves, and ``trades()``: an async
iterator (or a plain iterator) of :class:`TradeBatch` es. A provider that also has
``take_until(until_ns)`` is a :class:`PullProvider`: the service pulls it once per cycle
(deterministic, and how tests drive a replay); other providers are consumed by a task.

Decisions:

- **Virtual time.** :class:`ReplayProvider` and :class:`SimulatedProvider` run on a clock
  of their own, ``clock()`` = ``start_ns + speed · (wall time since start)``: real time at
  ``speed=1``, accelerated above. Give the service that clock
  (``Service(..., clock=provider.clock)``) to run freshness, escalation and agent intervals
  on the replay's time. The clock starts at the first ``clock()``/``take_until``/``trades``
  call (or :meth:`start`).
- **Timestamps.** A replay shifts the file so that its first trade (after
  ``start_offset_s``) is at ``start_ns`` (default: the wall clock when the replay starts;
  pass ``start_ns=trades.ts_ns[0]`` to keep the file's own times). A looping replay shifts
  each pass by the span of the file plus ``loop_gap_s``, so time keeps moving forward; ids
  are shifted by the id range of the file each pass, so a loop is never a duplicate.
- **Order.** A file that is not sorted by time is sorted (stably) when loaded, as a live
  feed would deliver it; rows with invalid values are kept (the engine counts them).
- **Default source.** ``ReplayProvider()`` replays the bundled SPY sample
  (``montalaq.sample_path("spy")``).
- **Simulation.** Poisson arrivals (``rate_per_s`` trades per virtual second), log-normal
  price steps (``vol_bps`` basis points per square-root second), log-normal sizes,
  random aggressor side; the same ``seed`` gives the same trades.
"""

from __future__ import annotations

import asyncio
import math
import threading
import time
from abc import ABC, abstractmethod
from collections.abc import AsyncIterator, Callable, Iterator, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Protocol, runtime_checkable

import numpy as np
import numpy.typing as npt

from montalaq.io import Trades, read_trades

_NS = 1_000_000_000
_MAX_SLEEP_S = 0.25  # an async consumer re-reads the clock at least this often


@dataclass(frozen=True, eq=False)
class TradeBatch:
    """A chunk of one symbol's trades: ``ts_ns`` int64 ns since the epoch (UTC), ``price``
    and ``size`` float64, optional ``side`` (+1/-1/0, int8) and ``trade_id`` (uint64)."""

    symbol: str
    ts_ns: npt.NDArray[np.int64]
    price: npt.NDArray[np.float64]
    size: npt.NDArray[np.float64]
    side: npt.NDArray[np.int8] | None = None
    trade_id: npt.NDArray[np.uint64] | None = None

    def __len__(self) -> int:
        return int(self.ts_ns.shape[0])


@dataclass(frozen=True, eq=False)
class QuoteBatch:
    """Best bid/ask updates of one symbol: ``ts_ns`` int64 ns since the epoch (UTC), ``bid``
    and ``ask`` float64. A feed may yield these beside its :class:`TradeBatch` es; the
    service hands each row to ``MarketEngine.on_quote``."""

    symbol: str
    ts_ns: npt.NDArray[np.int64]
    bid: npt.NDArray[np.float64]
    ask: npt.NDArray[np.float64]

    def __len__(self) -> int:
        return int(self.ts_ns.shape[0])


Batch = TradeBatch | QuoteBatch
"""What a feed delivers: trades, and quotes where the provider has them."""


@runtime_checkable
class Provider(Protocol):
    """A trade feed: ``name`` (e.g. "Binance", "AllTick", "TwelveData"), ``symbols`` served,
    and ``trades()`` -- an async iterator or an iterator of :class:`TradeBatch` (and
    :class:`QuoteBatch`) es. See docs/feeds.md for writing one."""

    name: str

    @property
    def symbols(self) -> Sequence[str]:
        """Symbols this provider delivers."""
        ...

    def trades(self) -> AsyncIterator[Batch] | Iterator[Batch]:
        """The feed, batch by batch, for as long as it lasts."""
        ...


@runtime_checkable
class PullProvider(Provider, Protocol):
    """A provider the service can pull synchronously each cycle."""

    def take_until(self, until_ns: int) -> Sequence[Batch]:
        """Every trade (and quote) not yet delivered with a timestamp <= ``until_ns`` (int ns)."""
        ...


class _VirtualClock:
    """``start_ns + speed · (wall - wall0)``, started on first use."""

    def __init__(self, start_ns: int | None, speed: float, wall: Callable[[], int]) -> None:
        if (
            isinstance(speed, bool)
            or not isinstance(speed, int | float)
            or not math.isfinite(speed)
            or speed <= 0
        ):
            raise ValueError(f"speed: expected a factor > 0 (1 = real time), got {speed!r}")
        if start_ns is not None and (
            isinstance(start_ns, bool) or not isinstance(start_ns, int) or start_ns <= 0
        ):
            raise ValueError(f"start_ns: expected int ns since the epoch > 0, got {start_ns!r}")
        self.speed = float(speed)
        self._start_ns = start_ns
        self._wall = wall
        self._wall0: int | None = None
        self._lock = threading.Lock()

    def start(self, wall_ns: int | None = None) -> int:
        with self._lock:
            if self._wall0 is None:
                self._wall0 = self._wall() if wall_ns is None else int(wall_ns)
                if self._start_ns is None:
                    self._start_ns = self._wall0
            assert self._start_ns is not None
            return self._start_ns

    @property
    def start_ns(self) -> int:
        return self.start()

    def now(self) -> int:
        start = self.start()
        assert self._wall0 is not None
        return start + int((self._wall() - self._wall0) * self.speed)

    def wall_seconds_until(self, virtual_ns: int) -> float:
        return max(0.0, (virtual_ns - self.now()) / self.speed / _NS)


class _PacedProvider(ABC):
    """Shared pacing: ``trades()`` over ``take_until`` on the virtual clock."""

    name: str
    _clock: _VirtualClock

    def clock(self) -> int:
        """The provider's virtual time, int ns since the epoch."""
        return self._clock.now()

    def start(self, wall_ns: int | None = None) -> int:
        """Start the virtual clock now (or at wall time ``wall_ns``); returns ``start_ns``."""
        return self._clock.start(wall_ns)

    @property
    def start_ns(self) -> int:
        """Virtual time of the start (the first trade's shifted time for a replay)."""
        return self._clock.start_ns

    @property
    def speed(self) -> float:
        """Virtual seconds per wall second."""
        return self._clock.speed

    @abstractmethod
    def take_until(self, until_ns: int) -> list[TradeBatch]:
        """Trades with timestamps <= ``until_ns`` not delivered yet."""

    @abstractmethod
    def next_ts(self) -> int | None:
        """Timestamp of the next trade to deliver (None when exhausted)."""

    async def trades(self) -> AsyncIterator[TradeBatch]:
        """Batches delivered as the virtual clock reaches them (sleeps in between)."""
        self._clock.start()
        while True:
            batches = self.take_until(self._clock.now())
            for batch in batches:
                yield batch
            nxt = self.next_ts()
            if nxt is None:
                return
            await asyncio.sleep(min(_MAX_SLEEP_S, self._clock.wall_seconds_until(nxt)))


class ReplayProvider(_PacedProvider):
    """Replays a trade file (or :class:`~montalaq.io.Trades`) in real time or faster.

    ``source``: a path for :func:`montalaq.read_trades`, a ``Trades``, or None for the
    bundled SPY sample. ``symbol``: the symbol to deliver under (default the file's).
    ``speed``: virtual seconds per wall second. ``loop``: start again at the end (times and
    ids shifted, see the module docstring), ``loop_gap_s`` seconds after the last trade.
    ``start_ns``: virtual time of the first replayed trade (default: wall clock at start).
    ``start_offset_s``: skip the first seconds of the file. ``backfill_s``: the first
    seconds of the tape (after the offset) lie before the start, so the first pull delivers
    them at once -- a warm start, as a live feed's history backfill would give. ``chunk``:
    rows per batch. ``source_label``: what :meth:`describe` calls the source (default the
    file's name).
    ``clock``: the wall clock, int ns (tests pass their own).
    """

    def __init__(
        self,
        source: str | Path | Trades | None = None,
        *,
        symbol: str | None = None,
        name: str = "Replay",
        speed: float = 1.0,
        loop: bool = False,
        loop_gap_s: float = 1.0,
        start_ns: int | None = None,
        start_offset_s: float = 0.0,
        backfill_s: float = 0.0,
        chunk: int = 5_000,
        clock: Callable[[], int] = time.time_ns,
        source_label: str | None = None,
    ) -> None:
        if not isinstance(name, str) or not name or len(name) > 32:
            raise ValueError(f"name: expected a provider name of 1-32 characters, got {name!r}")
        if isinstance(chunk, bool) or not isinstance(chunk, int) or chunk < 1:
            raise ValueError(f"chunk: expected an integer >= 1, got {chunk!r}")
        for label, value in (
            ("loop_gap_s", loop_gap_s),
            ("start_offset_s", start_offset_s),
            ("backfill_s", backfill_s),
        ):
            if isinstance(value, bool) or not isinstance(value, int | float) or not value >= 0:
                raise ValueError(f"{label}: expected seconds >= 0, got {value!r}")
        if source is None:
            from montalaq.sample import sample_path

            source = sample_path("spy")
        if source_label is not None:
            self.source_label = str(source_label)
        else:
            self.source_label = "trades" if isinstance(source, Trades) else Path(source).name
        trades = source if isinstance(source, Trades) else read_trades(source)
        if trades.symbols is not None:
            raise ValueError(
                "source: the file mixes symbols; give one ReplayProvider per symbol (Trades.by_symbol())"
            )
        ts = np.asarray(trades.ts_ns, dtype=np.int64)
        order = None if ts.size < 2 or bool(np.all(ts[1:] >= ts[:-1])) else np.argsort(ts, kind="stable")

        def pick(a: npt.NDArray[np.generic] | None) -> npt.NDArray[np.generic] | None:
            return None if a is None else (a if order is None else a[order])

        ts = ts if order is None else ts[order]
        valid = ts[ts > 0]
        if valid.size == 0:
            raise ValueError("source: no trade with a valid timestamp to replay")
        first = int(valid[0]) + round(start_offset_s * _NS)
        keep = ts >= first
        if not keep.any():
            raise ValueError(f"start_offset_s: {start_offset_s} s is past the end of the file")
        self.name = name
        self.symbol = symbol or trades.symbol
        self._ts = ts[keep]
        self._price = np.asarray(pick(trades.price), dtype=np.float64)[keep]
        self._size = np.asarray(pick(trades.size), dtype=np.float64)[keep]
        side = pick(trades.side)
        self._side = None if side is None else np.asarray(side, dtype=np.int8)[keep]
        ids = pick(trades.trade_id)
        self._ids = None if ids is None else np.asarray(ids, dtype=np.uint64)[keep]
        self._id_span = (
            0 if self._ids is None or not self._ids.size else int(self._ids.max()) - int(self._ids.min()) + 1
        )
        self._t0 = int(self._ts[0])
        self.backfill_ns = round(backfill_s * _NS)
        self.recorded_at = datetime.fromtimestamp(self._t0 / _NS, UTC)
        self._period_ns = int(self._ts[-1]) - self._t0 + max(1, round(loop_gap_s * _NS))
        self.loop = bool(loop)
        self.chunk = chunk
        self._clock = _VirtualClock(start_ns, speed, clock)
        self._pass = 0  # completed loops
        self._pos = 0  # next row in the current pass
        self._lock = threading.Lock()

    def describe(self) -> str:
        """``SYMBOL from FILE recorded YYYY-MM-DD`` (what a dashboard says it replays)."""
        return f"{self.symbol} from {self.source_label} recorded {self.recorded_at:%Y-%m-%d}"

    @property
    def symbols(self) -> list[str]:
        """The one symbol this replay delivers."""
        return [self.symbol]

    def __len__(self) -> int:
        """Rows in one pass of the file."""
        return int(self._ts.shape[0])

    @property
    def passes(self) -> int:
        """Completed passes over the file."""
        return self._pass

    @property
    def exhausted(self) -> bool:
        """True when a non-looping replay has delivered every trade."""
        return not self.loop and self._pos >= len(self)

    def _shift(self, pass_no: int) -> int:
        return self._clock.start_ns - self.backfill_ns - self._t0 + pass_no * self._period_ns

    def next_ts(self) -> int | None:
        """Virtual timestamp of the next trade (None when exhausted)."""
        with self._lock:
            if self.exhausted:
                return None
            if self._pos >= len(self):
                return int(self._ts[0]) + self._shift(self._pass + 1)
            return int(self._ts[self._pos]) + self._shift(self._pass)

    def take_until(self, until_ns: int) -> list[TradeBatch]:
        """Every trade not yet delivered with virtual timestamp <= ``until_ns`` (int ns),
        in batches of at most ``chunk`` rows."""
        out: list[TradeBatch] = []
        with self._lock:
            while True:
                if self._pos >= len(self):
                    # this pass is done: go on with the next one if it is already due
                    if not self.loop or int(self._ts[0]) + self._shift(self._pass + 1) > until_ns:
                        break
                    self._pass += 1
                    self._pos = 0
                shift = self._shift(self._pass)
                end = int(np.searchsorted(self._ts, until_ns - shift, side="right"))
                if end <= self._pos:
                    break
                for lo in range(self._pos, end, self.chunk):
                    out.append(self._batch(lo, min(end, lo + self.chunk), shift))
                self._pos = end
                if self._pos < len(self):
                    break
        return out

    def _batch(self, lo: int, hi: int, shift: int) -> TradeBatch:
        ids = None
        if self._ids is not None:
            ids = self._ids[lo:hi] + np.uint64(self._pass * self._id_span)
        return TradeBatch(
            symbol=self.symbol,
            ts_ns=self._ts[lo:hi] + np.int64(shift),
            price=self._price[lo:hi],
            size=self._size[lo:hi],
            side=None if self._side is None else self._side[lo:hi],
            trade_id=ids,
        )


class SimulatedProvider(_PacedProvider):
    """A seeded random-walk feed for one symbol (see the module docstring).

    ``start_price`` in quote currency; ``rate_per_s`` mean trades per virtual second;
    ``vol_bps`` price volatility in basis points per square-root second; ``mean_size``
    mean trade size; ``seed`` makes the feed reproducible; ``speed``/``start_ns``/``clock``
    as for :class:`ReplayProvider`.
    """

    def __init__(
        self,
        symbol: str = "SIM",
        *,
        name: str = "Simulated",
        seed: int = 0,
        start_price: float = 100.0,
        rate_per_s: float = 5.0,
        vol_bps: float = 2.0,
        mean_size: float = 100.0,
        speed: float = 1.0,
        start_ns: int | None = None,
        chunk: int = 5_000,
        clock: Callable[[], int] = time.time_ns,
    ) -> None:
        if not isinstance(symbol, str) or not symbol:
            raise ValueError(f"symbol: expected a non-empty string, got {symbol!r}")
        if not isinstance(name, str) or not name or len(name) > 32:
            raise ValueError(f"name: expected a provider name of 1-32 characters, got {name!r}")
        for label, value in (
            ("start_price", start_price),
            ("rate_per_s", rate_per_s),
            ("mean_size", mean_size),
        ):
            if (
                isinstance(value, bool)
                or not isinstance(value, int | float)
                or not math.isfinite(value)
                or value <= 0
            ):
                raise ValueError(f"{label}: expected a finite number > 0, got {value!r}")
        if (
            isinstance(vol_bps, bool)
            or not isinstance(vol_bps, int | float)
            or not math.isfinite(vol_bps)
            or vol_bps < 0
        ):
            raise ValueError(f"vol_bps: expected a finite number >= 0, got {vol_bps!r}")
        if isinstance(chunk, bool) or not isinstance(chunk, int) or chunk < 1:
            raise ValueError(f"chunk: expected an integer >= 1, got {chunk!r}")
        self.name = name
        self.symbol = symbol
        self.rate_per_s = float(rate_per_s)
        self.vol_bps = float(vol_bps)
        self.mean_size = float(mean_size)
        self.chunk = chunk
        self._rng = np.random.default_rng(seed)
        self._clock = _VirtualClock(start_ns, speed, clock)
        self._log_price = math.log(float(start_price))
        self._last_ts: int | None = None  # None: the first trade lands at start_ns
        self._next_id = 0
        self._buf_ts: npt.NDArray[np.int64] = np.empty(0, dtype=np.int64)
        self._buf_price: npt.NDArray[np.float64] = np.empty(0, dtype=np.float64)
        self._buf_size: npt.NDArray[np.float64] = np.empty(0, dtype=np.float64)
        self._buf_side: npt.NDArray[np.int8] = np.empty(0, dtype=np.int8)
        self._buf_ids: npt.NDArray[np.uint64] = np.empty(0, dtype=np.uint64)
        self._buf_pos = 0
        self._lock = threading.Lock()

    @property
    def symbols(self) -> list[str]:
        """The one symbol this feed delivers."""
        return [self.symbol]

    def next_ts(self) -> int | None:
        """Virtual timestamp of the next trade (never None: the walk does not end)."""
        with self._lock:
            self._fill()
            return int(self._buf_ts[self._buf_pos])

    def _fill(self) -> None:
        """Generate the next block of ``chunk`` trades once the buffer is used up.

        Trades are generated in whole blocks, so the sequence does not depend on how the
        caller slices time: the same seed always gives the same trades."""
        if self._buf_pos < self._buf_ts.shape[0]:
            return
        n = self.chunk
        start = self._clock.start_ns if self._last_ts is None else self._last_ts
        gaps_s = self._rng.exponential(1.0 / self.rate_per_s, n)
        gaps_ns = np.maximum(1, (gaps_s * _NS).astype(np.int64))
        if self._last_ts is None:
            gaps_ns[0] = 0  # the first trade lands at start_ns
        ts = start + np.cumsum(gaps_ns)
        steps = self._rng.normal(0.0, 1.0, n) * (self.vol_bps / 1e4) * np.sqrt(np.maximum(gaps_s, 1e-3))
        log_px = self._log_price + np.cumsum(steps)
        self._buf_ts = ts.astype(np.int64)
        self._buf_price = np.round(np.exp(log_px), 4).astype(np.float64)
        size = np.maximum(1.0, np.round(self._rng.lognormal(math.log(self.mean_size), 0.75, n)))
        self._buf_size = size.astype(np.float64)
        self._buf_side = self._rng.choice(np.array([-1, 1], dtype=np.int8), n)
        self._buf_ids = np.arange(self._next_id, self._next_id + n, dtype=np.uint64)
        self._buf_pos = 0
        self._log_price = float(log_px[-1])
        self._last_ts = int(self._buf_ts[-1])
        self._next_id += n

    def take_until(self, until_ns: int) -> list[TradeBatch]:
        """Every trade up to ``until_ns`` (int ns) not delivered yet."""
        out: list[TradeBatch] = []
        with self._lock:
            while True:
                self._fill()
                lo = self._buf_pos
                end = int(np.searchsorted(self._buf_ts, until_ns, side="right"))
                if end <= lo:
                    break
                out.append(
                    TradeBatch(
                        self.symbol,
                        self._buf_ts[lo:end],
                        self._buf_price[lo:end],
                        self._buf_size[lo:end],
                        self._buf_side[lo:end],
                        self._buf_ids[lo:end],
                    )
                )
                self._buf_pos = end
                if end < self._buf_ts.shape[0]:
                    break
        return out


class PushFeed:
    """Your own feed: host code pushes trades and quotes, the service takes them each cycle.

    ::

        feed = PushFeed(["AAPL"], name="my-broker")
        svc = Service(settings, providers={"AAPL": feed})
        feed.push_trades("AAPL", ts_ns, price, size)       # from any thread
        feed.push_quote("AAPL", ts_ns, bid=189.1, ask=189.2)

    Arrays (or scalars) as ``MarketEngine.on_trades`` takes them; they are checked for
    shape when pushed (a ValueError names the field) and for values by the engine, which
    counts the rows it rejects. The feed is bounded: beyond ``max_pending`` trades not yet
    taken, the oldest are dropped and counted in :meth:`stats` (``dropped``), so a host
    that pushes faster than the service runs cannot exhaust memory. Quotes are coalesced
    to the latest per symbol between two cycles (the engine keeps only the best quote).
    """

    def __init__(self, symbols: Sequence[str], *, name: str = "push", max_pending: int = 1_000_000) -> None:
        syms = [str(s) for s in symbols]
        if not syms or any(not s for s in syms):
            raise ValueError(f"symbols: expected at least one non-empty symbol, got {symbols!r}")
        if isinstance(max_pending, bool) or not isinstance(max_pending, int) or max_pending < 1:
            raise ValueError(f"max_pending: expected an integer >= 1, got {max_pending!r}")
        self.name = name
        self._symbols = tuple(syms)
        self._max = max_pending
        self._lock = threading.Lock()
        self._trades: dict[str, list[TradeBatch]] = {}
        self._pending = 0
        self._quotes: dict[str, tuple[int, float, float]] = {}
        self._pushed = 0
        self._dropped = 0

    @property
    def symbols(self) -> Sequence[str]:
        return self._symbols

    def _check_symbol(self, symbol: str) -> None:
        if symbol not in self._symbols:
            raise ValueError(f"symbol: {symbol!r} is not one of this feed's symbols {list(self._symbols)}")

    def push_trades(
        self,
        symbol: str,
        ts_ns: object,
        price: object,
        size: object,
        side: object = None,
        trade_id: object = None,
    ) -> None:
        """Queue trades of ``symbol`` (int ns times, prices, sizes; optional side +1/-1/0 and
        ids) for the next cycle."""
        self._check_symbol(symbol)
        ts = np.atleast_1d(np.asarray(ts_ns, dtype=np.int64))
        px = np.atleast_1d(np.asarray(price, dtype=np.float64))
        sz = np.atleast_1d(np.asarray(size, dtype=np.float64))
        n = ts.shape[0]
        if ts.ndim != 1 or px.shape != (n,) or sz.shape != (n,):
            raise ValueError(
                f"ts_ns, price and size: expected equal one-dimensional lengths, got {n}, "
                f"{px.shape}, {sz.shape}"
            )
        sd = None if side is None else np.atleast_1d(np.asarray(side, dtype=np.int8))
        ids = None if trade_id is None else np.atleast_1d(np.asarray(trade_id, dtype=np.uint64))
        for label, arr in (("side", sd), ("trade_id", ids)):
            if arr is not None and arr.shape != (n,):
                raise ValueError(f"{label}: expected length {n}, got {arr.shape}")
        batch = TradeBatch(symbol, ts, px, sz, sd, ids)
        with self._lock:
            self._trades.setdefault(symbol, []).append(batch)
            self._pending += n
            self._pushed += n
            while self._pending > self._max:  # drop the oldest batch of the fullest symbol
                fullest = max(self._trades, key=lambda s: sum(len(b) for b in self._trades[s]))
                old = self._trades[fullest].pop(0)
                self._pending -= len(old)
                self._dropped += len(old)

    def push_quote(self, symbol: str, ts_ns: int, bid: float, ask: float) -> None:
        """The best bid and ask of ``symbol`` at ``ts_ns``; the latest per cycle is kept."""
        self._check_symbol(symbol)
        with self._lock:
            self._quotes[symbol] = (int(ts_ns), float(bid), float(ask))

    def take_until(self, until_ns: int) -> list[Batch]:
        """Everything pushed so far (a push feed has no schedule: ``until_ns`` is ignored)."""
        with self._lock:
            trades, self._trades, self._pending = self._trades, {}, 0
            quotes, self._quotes = self._quotes, {}
        out: list[Batch] = []
        for batches in trades.values():
            out.extend(batches)
        for symbol, (ts, bid, ask) in quotes.items():
            out.append(QuoteBatch(symbol, np.array([ts], np.int64), np.array([bid]), np.array([ask])))
        return out

    def trades(self) -> Iterator[Batch]:
        """A push feed is pulled (``take_until``), never iterated; this yields nothing."""
        return iter(())

    def stats(self) -> dict[str, int]:
        """``pushed`` trades, ``dropped`` by the bound, ``pending`` not yet taken."""
        with self._lock:
            return {"pushed": self._pushed, "dropped": self._dropped, "pending": self._pending}


__all__ = [
    "Batch",
    "Provider",
    "PullProvider",
    "PushFeed",
    "QuoteBatch",
    "ReplayProvider",
    "SimulatedProvider",
    "TradeBatch",
]
