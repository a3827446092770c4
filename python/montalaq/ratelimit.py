"""Per-key sliding-window rate limiting (SPEC §5.4), in the native core.

``RateLimiter(limit=60, window_s=60).try_acquire("slack")`` is True when the key has had
fewer than ``limit`` acquisitions in the last ``window_s`` seconds. False means "over the
limit": the event is not dropped here, the caller folds it into a digest. The window is
exact (a log of the last ``limit`` times per key), each call O(1); memory is bounded by
``max_keys`` (idle keys are purged; a flood of new keys is denied, not stored).
"""

from __future__ import annotations

import math

from montalaq._native import guard as _g


class RateLimiter(_g.RateLimiter):
    """In-process sliding-window limiter; ``now_s`` defaults to the wall clock.

    Thread safety: calls are serialised by the GIL (the native calls never release it).
    """

    def __init__(self, limit: int = 60, window_s: float = 60.0, max_keys: int = 100_000) -> None:
        if isinstance(limit, bool) or not isinstance(limit, int) or not 1 <= limit <= 10_000_000:
            raise ValueError(f"limit: expected an integer in [1, 10000000], got {limit!r}")
        if isinstance(window_s, bool) or not isinstance(window_s, int | float) or not math.isfinite(window_s):
            raise ValueError(f"window_s: expected finite seconds, got {window_s!r}")
        window_ns = round(window_s * 1e9)
        if not 0 < window_ns < 2**62:
            raise ValueError(f"window_s: must be > 0 seconds, got {window_s!r}")
        if isinstance(max_keys, bool) or not isinstance(max_keys, int) or max_keys < 1:
            raise ValueError(f"max_keys: expected an integer >= 1, got {max_keys!r}")
        super().__init__(limit, window_ns, max_keys)


__all__ = ["RateLimiter"]
