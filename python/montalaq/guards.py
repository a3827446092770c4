"""Which backend the guards use: ``memory`` (default, one process) or ``redis`` (shared by
every process pointing at the same ``REDIS_URL``). The values come from
:class:`~montalaq.settings.Settings` (``GUARD_BACKEND``, ``REDIS_URL``, ``GUARD_REDIS_PREFIX``;
docs/semantics.md, Guards), the one place settings are read and checked.
"""

from __future__ import annotations

import enum
from collections.abc import Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING

from montalaq.dedupe import DedupeCache, RedisDedupe
from montalaq.ratelimit import RateLimiter, RedisRateLimiter

if TYPE_CHECKING:
    from montalaq.settings import Settings


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
        # Constructed directly (not from Settings): the same checks, through Settings.
        from montalaq.settings import Settings

        env = {"GUARD_BACKEND": self.backend.value, "GUARD_REDIS_PREFIX": self.prefix}
        if self.redis_url is not None:
            env["REDIS_URL"] = self.redis_url
        Settings.from_env(env)

    @classmethod
    def from_settings(cls, settings: Settings) -> GuardSettings:
        """The guard backend ``settings`` name (GUARD_BACKEND, REDIS_URL, GUARD_REDIS_PREFIX)."""
        return cls(GuardBackend(settings.guard_backend), settings.redis_url, settings.guard_redis_prefix)

    @classmethod
    def from_env(cls, env: Mapping[str, str] | None = None) -> GuardSettings:
        """Settings from ``env`` (default ``os.environ``), read and checked by Settings.from_env."""
        from montalaq.settings import Settings

        return cls.from_settings(Settings.from_env(env))

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
