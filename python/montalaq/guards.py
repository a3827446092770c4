"""Which backend the guards use (SPEC §5): ``memory`` (default, one process) or ``redis``
(shared by every process and machine that points at the same ``REDIS_URL``).

Read from the environment: ``GUARD_BACKEND`` = ``memory`` | ``redis`` (default
``memory``), ``REDIS_URL`` (required for ``redis``), ``GUARD_REDIS_PREFIX`` (default
``montalaq:``). Invalid values fail at start-up naming the variable and the expected form.
"""

from __future__ import annotations

import enum
import os
from collections.abc import Mapping
from dataclasses import dataclass

from montalaq.dedupe import DedupeCache, RedisDedupe
from montalaq.ratelimit import RateLimiter, RedisRateLimiter


class GuardBackend(enum.Enum):
    """Where guard state (dedupe records, rate-limit windows) lives."""

    MEMORY = "memory"
    REDIS = "redis"


@dataclass(frozen=True)
class GuardSettings:
    """The guard backend and, for Redis, its URL and key prefix."""

    backend: GuardBackend = GuardBackend.MEMORY
    redis_url: str | None = None
    prefix: str = "montalaq:"

    def __post_init__(self) -> None:
        if self.backend is GuardBackend.REDIS and not self.redis_url:
            raise ValueError("REDIS_URL: required when GUARD_BACKEND=redis (e.g. redis://127.0.0.1:6379/0)")
        if self.redis_url is not None and not self.redis_url.startswith(("redis://", "rediss://", "unix://")):
            raise ValueError(
                f"REDIS_URL: expected redis://host:port/db, rediss:// or unix://; got {self.redis_url!r}"
            )
        if not self.prefix:
            raise ValueError("GUARD_REDIS_PREFIX: expected a non-empty string")

    @classmethod
    def from_env(cls, env: Mapping[str, str] | None = None) -> GuardSettings:
        """Settings from ``env`` (default ``os.environ``)."""
        e = os.environ if env is None else env
        raw = e.get("GUARD_BACKEND", "memory").strip().lower()
        try:
            backend = GuardBackend(raw)
        except ValueError:
            raise ValueError(f"GUARD_BACKEND: expected 'memory' or 'redis', got {raw!r}") from None
        url = e.get("REDIS_URL") or None
        return cls(backend, url, e.get("GUARD_REDIS_PREFIX", "montalaq:"))

    def dedupe(
        self, ttl_s: float = 900.0, capacity: int = 1_000_000, name: str = "dedupe"
    ) -> DedupeCache | RedisDedupe:
        """A dedupe store on this backend (keys under ``<prefix><name>:`` in Redis)."""
        if self.backend is GuardBackend.REDIS:
            assert self.redis_url is not None  # checked in __post_init__
            return RedisDedupe(self.redis_url, ttl_s=ttl_s, prefix=f"{self.prefix}{name}:")
        return DedupeCache(ttl_s=ttl_s, capacity=capacity)

    def rate_limiter(
        self, limit: int = 60, window_s: float = 60.0, name: str = "ratelimit"
    ) -> RateLimiter | RedisRateLimiter:
        """A sliding-window rate limiter on this backend."""
        if self.backend is GuardBackend.REDIS:
            assert self.redis_url is not None
            return RedisRateLimiter(
                self.redis_url, limit=limit, window_s=window_s, prefix=f"{self.prefix}{name}:"
            )
        return RateLimiter(limit=limit, window_s=window_s)


__all__ = ["GuardBackend", "GuardSettings"]
