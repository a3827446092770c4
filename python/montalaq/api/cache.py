"""A small TTL cache of serialised responses for the analysis endpoints: entries are
``(status, body bytes)`` keyed by the endpoint and its normalised parameters, so a hit is a
dict lookup and a clock read. TTL, bounds, what is stored and thread safety:
docs/semantics.md, "HTTP API" (the analysis cache); measured gain: README.md, "Speed".
"""

from __future__ import annotations

import math
import threading
import time
from collections.abc import Callable, Hashable
from dataclasses import dataclass


@dataclass(frozen=True)
class CachedResponse:
    """A stored answer: HTTP ``status_code``, JSON ``body`` and when it expires (clock s)."""

    status_code: int
    body: bytes
    expires_s: float


class ResponseCache:
    """TTL cache of serialised responses (docs/semantics.md, "HTTP API": the analysis cache).

    ``ttl_s``: seconds an entry lives (>= 0; 0 disables). ``max_entries``: bound (>= 1).
    ``clock``: monotonic seconds (tests pass their own).
    """

    def __init__(
        self,
        ttl_s: float,
        *,
        max_entries: int = 1024,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        if isinstance(ttl_s, bool) or not isinstance(ttl_s, int | float) or not math.isfinite(ttl_s):
            raise ValueError(f"ttl_s: expected seconds >= 0, got {ttl_s!r}")
        if ttl_s < 0:
            raise ValueError(f"ttl_s: expected seconds >= 0, got {ttl_s!r}")
        if isinstance(max_entries, bool) or not isinstance(max_entries, int) or max_entries < 1:
            raise ValueError(f"max_entries: expected an integer >= 1, got {max_entries!r}")
        if not callable(clock):
            raise TypeError("clock: expected a callable returning monotonic seconds")
        self.ttl_s = float(ttl_s)
        self.max_entries = max_entries
        self.clock = clock
        self._data: dict[Hashable, CachedResponse] = {}
        self._lock = threading.Lock()
        self.hits = 0
        self.misses = 0

    @property
    def enabled(self) -> bool:
        """False when ``ttl_s`` is 0."""
        return self.ttl_s > 0

    def __len__(self) -> int:
        return len(self._data)

    def get(self, key: Hashable) -> CachedResponse | None:
        """The live entry of ``key``, or None (counted as a hit or a miss)."""
        entry = self._data.get(key)
        if entry is not None and entry.expires_s > self.clock():
            self.hits += 1
            return entry
        self.misses += 1
        return None

    def put(self, key: Hashable, status_code: int, body: bytes) -> None:
        """Store ``body`` for ``key`` (nothing when disabled)."""
        if not self.enabled:
            return
        now = self.clock()
        entry = CachedResponse(status_code, body, now + self.ttl_s)
        with self._lock:
            self._data.pop(key, None)  # re-inserted last: dict order is expiry order
            if len(self._data) >= self.max_entries:
                self._evict(now)
            self._data[key] = entry

    def _evict(self, now: float) -> None:
        # Every entry has the same TTL, so insertion order is expiry order: drop expired
        # entries from the front, then the oldest live ones until there is room.
        while self._data:
            oldest = next(iter(self._data))
            if self._data[oldest].expires_s <= now or len(self._data) >= self.max_entries:
                del self._data[oldest]
            else:
                break

    def clear(self) -> None:
        """Drop every entry."""
        with self._lock:
            self._data.clear()


__all__ = ["CachedResponse", "ResponseCache"]
