"""GuardSettings picks memory or Redis from the environment; both give working guards."""

import pytest

from montalaq.dedupe import DedupeCache, DedupeResult, RedisDedupe
from montalaq.guards import GuardBackend, GuardSettings
from montalaq.ratelimit import RateLimiter, RedisRateLimiter

T0 = 1_767_225_600.0


def test_memory_is_the_default() -> None:
    s = GuardSettings.from_env({})
    assert s.backend is GuardBackend.MEMORY
    assert isinstance(s.dedupe(), DedupeCache)
    assert isinstance(s.rate_limiter(), RateLimiter)


def test_redis_backend_from_env_shares_state_between_instances(redis_target) -> None:  # type: ignore[no-untyped-def]
    env = {"GUARD_BACKEND": "Redis", "REDIS_URL": redis_target.url, "GUARD_REDIS_PREFIX": redis_target.prefix}
    s = GuardSettings.from_env(env)
    a, b = s.dedupe(ttl_s=60), s.dedupe(ttl_s=60)  # two "processes" on one backend
    assert isinstance(a, RedisDedupe)
    assert a.check_and_record("sig", T0) is DedupeResult.ALLOWED
    assert b.check_and_record("sig", T0 + 1) is DedupeResult.DEDUPED
    r1, r2 = s.rate_limiter(limit=1, window_s=60), s.rate_limiter(limit=1, window_s=60)
    assert isinstance(r1, RedisRateLimiter)
    assert r1.try_acquire("slack", T0)
    assert not r2.try_acquire("slack", T0 + 1)
    for x in (a, b, r1, r2):
        x.close()


@pytest.mark.parametrize(
    ("env", "variable"),
    [
        ({"GUARD_BACKEND": "postgres"}, "GUARD_BACKEND"),
        ({"GUARD_BACKEND": "redis"}, "REDIS_URL"),
        ({"GUARD_BACKEND": "redis", "REDIS_URL": "localhost:6379"}, "REDIS_URL"),
        (
            {"GUARD_BACKEND": "redis", "REDIS_URL": "redis://x", "GUARD_REDIS_PREFIX": ""},
            "GUARD_REDIS_PREFIX",
        ),
    ],
)
def test_invalid_settings_name_the_variable(env: dict[str, str], variable: str) -> None:
    with pytest.raises(ValueError, match=variable):
        GuardSettings.from_env(env)
