"""A seeded random walk of one symbol's trades on a virtual clock (docs/semantics.md,
"Feeds")."""

from __future__ import annotations

import math
import threading
import time
from collections.abc import Callable

import numpy as np
import numpy.typing as npt

from montalaq.feeds.batches import TradeBatch
from montalaq.feeds.pacing import NS, PacedProvider, VirtualClock


class SimulatedProvider(PacedProvider):
    """A seeded random-walk feed for one symbol (docs/semantics.md, "Feeds").

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
        self._clock = VirtualClock(start_ns, speed, clock)
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
        gaps_ns = np.maximum(1, (gaps_s * NS).astype(np.int64))
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


__all__ = ["SimulatedProvider"]
