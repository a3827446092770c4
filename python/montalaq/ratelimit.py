"""Per-key sliding-window rate limiting (docs/semantics.md, "Guards"), in the native core.

``RateLimiter(limit=60, window_s=60).try_acquire("slack")`` is True when the key has had
fewer than ``limit`` acquisitions in the last ``window_s`` seconds. False means "over the
limit": the event is not dropped here, the caller folds it into a digest. The window is
exact (a log of the last ``limit`` times per key), each call O(1); memory is bounded by
``max_keys`` (idle keys are purged; a flood of new keys is denied, not stored).
"""

from __future__ import annotations

import itertools
import math
import os
import uuid

from montalaq._native import guard as _g
from montalaq._optional import needs
from montalaq._time import UNSET, TimeLike, Unset, deprecated_now, to_ns

_MAX_NOW_NS = 2**62  # the latest time either limiter takes (as RateLimiter's binding)


class RateLimiter(_g.RateLimiter):
    """In-process sliding-window limiter. ``try_acquire(key, now=None)``, ``remaining``,
    ``retry_after_s`` and ``purge`` take ``now`` as int ns, an aware datetime or datetime64
    (docs/semantics.md, "Time values in Python"), None the wall clock; ``now_s=`` (float
    seconds) is deprecated.

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


# Sliding-window log in a sorted set per key: drop what left the window, count, add if
# under the limit, all in one atomic script. Scores are integer microseconds (exact in a
# double for any epoch time), members are unique per call. Without a caller clock the
# script reads Redis's own TIME, so every process shares one clock.
_ACQUIRE_LUA = """
local key = KEYS[1]
local limit = tonumber(ARGV[1])
local window_us = tonumber(ARGV[2])
local now_us = tonumber(ARGV[3])
if now_us < 0 then
  local t = redis.call('TIME')
  now_us = tonumber(t[1]) * 1000000 + tonumber(t[2])
end
redis.call('ZREMRANGEBYSCORE', key, '-inf', now_us - window_us)
if redis.call('ZCARD', key) < limit then
  redis.call('ZADD', key, now_us, ARGV[4])
  redis.call('PEXPIRE', key, math.ceil(window_us / 1000) + 1000)
  return 1
end
return 0
"""


class RedisRateLimiter:
    """The same limiter shared by many processes through Redis (atomic per call).

    ``try_acquire(key, now=None)`` has the answers of :class:`RateLimiter`: at most
    ``limit`` acquisitions per key in any window of ``window_s``. Keys live under
    ``prefix`` and expire on their own once idle, so a killed process leaves nothing stuck.
    ``now=None`` uses the Redis server's clock (one clock for every process); times are
    kept to the microsecond.
    """

    def __init__(
        self, url: str, limit: int = 60, window_s: float = 60.0, prefix: str = "montalaq:ratelimit:"
    ) -> None:
        with needs("RedisRateLimiter"):
            import redis

        if isinstance(limit, bool) or not isinstance(limit, int) or not 1 <= limit <= 10_000_000:
            raise ValueError(f"limit: expected an integer in [1, 10000000], got {limit!r}")
        if isinstance(window_s, bool) or not isinstance(window_s, int | float) or not math.isfinite(window_s):
            raise ValueError(f"window_s: expected finite seconds, got {window_s!r}")
        if window_s <= 0:
            raise ValueError(f"window_s: must be > 0 seconds, got {window_s!r}")
        if not isinstance(prefix, str) or not prefix:
            raise ValueError("prefix: expected a non-empty string")
        self.limit = limit
        self.window_s = float(window_s)
        self.prefix = prefix
        self._window_us = round(window_s * 1_000_000)
        self._client = redis.Redis.from_url(url)
        self._acquire = self._client.register_script(_ACQUIRE_LUA)
        self._token = f"{os.getpid()}-{uuid.uuid4().hex[:8]}-"
        self._seq = itertools.count()

    def try_acquire(
        self, key: str, now: TimeLike | None = None, *, now_s: float | Unset | None = UNSET
    ) -> bool:
        """Take a slot for ``key`` if it has one in the window ending at ``now`` (Redis-atomic)."""
        if not isinstance(key, str) or not key:
            raise ValueError("key: expected a non-empty string")
        if now_s is UNSET:
            now_us = _now_us(now)
        else:
            deprecated_now(now, "now_s")
            if now_s is None:
                now_us = -1
            elif isinstance(now_s, bool) or not isinstance(now_s, int | float) or not math.isfinite(now_s):
                raise ValueError(f"now_s: expected finite seconds since the epoch, got {now_s!r}")
            else:
                now_us = round(now_s * 1_000_000)
        member = f"{self._token}{next(self._seq)}"
        return bool(
            self._acquire(keys=[self.prefix + key], args=[self.limit, self._window_us, now_us, member])
        )

    def try_acquire_many(
        self, keys: list[str], now: TimeLike | None = None, *, now_s: float | Unset | None = UNSET
    ) -> list[bool]:
        """``try_acquire`` for each key in one pipelined round trip (each still atomic)."""
        if any(not isinstance(k, str) or not k for k in keys):
            raise ValueError("keys: expected non-empty strings")
        if now_s is UNSET:
            now_us = _now_us(now)
        else:
            deprecated_now(now, "now_s")
            now_us = -1 if now_s is None else round(float(now_s) * 1_000_000)
        pipe = self._client.pipeline(transaction=False)
        for key in keys:
            member = f"{self._token}{next(self._seq)}"
            self._acquire(
                keys=[self.prefix + key], args=[self.limit, self._window_us, now_us, member], client=pipe
            )
        return [bool(v) for v in pipe.execute()]

    def close(self) -> None:
        """Close the connection pool."""
        self._client.close()


def _now_us(now: TimeLike | None) -> int:
    """``now`` in whole microseconds (the Redis scores), -1 for None (the server's clock);
    refused outside what :class:`RateLimiter` takes, with its words."""
    if now is None:
        return -1
    ns = to_ns(now, "now")
    if not 0 <= ns <= _MAX_NOW_NS:
        raise ValueError(f"now: expected a time from 1970 to 2116 (int ns in [0, 2**62]), got {now!r}")
    return ns // 1_000


__all__ = ["RateLimiter", "RedisRateLimiter"]
