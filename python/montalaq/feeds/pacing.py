"""Virtual time for replays and simulations: a clock ``start_ns + speed · (wall time since
start)`` and the pacing that delivers a pull provider's batches as that clock reaches them
(docs/semantics.md, "Feeds")."""

from __future__ import annotations

import asyncio
import math
import threading
from abc import ABC, abstractmethod
from collections.abc import AsyncIterator, Callable

from montalaq.feeds.batches import TradeBatch

NS = 1_000_000_000
_MAX_SLEEP_S = 0.25  # an async consumer re-reads the clock at least this often


class VirtualClock:
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
        return max(0.0, (virtual_ns - self.now()) / self.speed / NS)


class PacedProvider(ABC):
    """Shared pacing: ``trades()`` over ``take_until`` on the virtual clock."""

    name: str
    _clock: VirtualClock

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


__all__ = ["NS", "PacedProvider", "VirtualClock"]
