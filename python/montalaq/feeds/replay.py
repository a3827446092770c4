"""A trade file (or ``Trades``) replayed on a virtual clock, in real time or faster, looping
if asked (docs/semantics.md, "Feeds")."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path

import numpy as np
import numpy.typing as npt

from montalaq.feeds.batches import TradeBatch
from montalaq.feeds.pacing import NS, PacedProvider, VirtualClock
from montalaq.io import Trades, read_trades


class ReplayProvider(PacedProvider):
    """Replays a trade file (or :class:`~montalaq.io.Trades`) in real time or faster.

    ``source``: a path for :func:`montalaq.read_trades`, a ``Trades``, or None for the
    bundled SPY sample. ``symbol``: the symbol to deliver under (default the file's).
    ``speed``: virtual seconds per wall second. ``loop``: start again at the end (times and
    ids shifted, docs/semantics.md, "Feeds"), ``loop_gap_s`` seconds after the last trade.
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
        first = int(valid[0]) + round(start_offset_s * NS)
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
        self.backfill_ns = round(backfill_s * NS)
        self.recorded_at = datetime.fromtimestamp(self._t0 / NS, UTC)
        self._period_ns = int(self._ts[-1]) - self._t0 + max(1, round(loop_gap_s * NS))
        self.loop = bool(loop)
        self.chunk = chunk
        self._clock = VirtualClock(start_ns, speed, clock)
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


__all__ = ["ReplayProvider"]
