"""
Rate limiting and other in-process guards
"""
from __future__ import annotations
import typing
__all__: list[str] = ['RateLimiter', 'RetrySchedule']
class RateLimiter:
    """
    Native sliding-window limiter; use montalaq.ratelimit.RateLimiter.
    """
    def __init__(self, limit: typing.SupportsInt | typing.SupportsIndex, window_ns: typing.SupportsInt | typing.SupportsIndex, max_keys: typing.SupportsInt | typing.SupportsIndex) -> None:
        ...
    def purge(self, now_s: typing.SupportsFloat | typing.SupportsIndex | None = None) -> int:
        """
        Drop keys with an empty window; returns how many.
        """
    def remaining(self, key: str, now_s: typing.SupportsFloat | typing.SupportsIndex | None = None) -> int:
        """
        Slots left for `key` now.
        """
    def retry_after_s(self, key: str, now_s: typing.SupportsFloat | typing.SupportsIndex | None = None) -> float:
        """
        Seconds until `key` gets a slot (0 if it has one).
        """
    def try_acquire(self, key: str, now_s: typing.SupportsFloat | typing.SupportsIndex | None = None) -> bool:
        """
        Take a slot for `key` if fewer than `limit` were taken in the window ending now; False means over the limit (fold the event into a digest: nothing is dropped here).
        """
    @property
    def denied(self) -> int:
        ...
    @property
    def keys(self) -> int:
        ...
    @property
    def limit(self) -> int:
        ...
    @property
    def window_s(self) -> float:
        ...
class RetrySchedule:
    """
    Native retry schedule; use montalaq.retry.RetryPolicy.
    """
    def __init__(self, max_attempts: typing.SupportsInt | typing.SupportsIndex, base_s: typing.SupportsFloat | typing.SupportsIndex, jitter: typing.SupportsFloat | typing.SupportsIndex, max_delay_s: typing.SupportsFloat | typing.SupportsIndex, seed: typing.SupportsInt | typing.SupportsIndex | None) -> None:
        ...
    def delay_s(self, attempt: typing.SupportsInt | typing.SupportsIndex) -> float:
        """
        Seconds to wait after attempt `attempt` (1-based) failed; draws the jitter.
        """
    def delays(self) -> list[float]:
        """
        The waits between the attempts of one call (max_attempts - 1 values); reproducible with a seed.
        """
    def nominal_s(self, attempt: typing.SupportsInt | typing.SupportsIndex) -> float:
        """
        min(max_delay, base * 2^(attempt-1)), before jitter.
        """
