"""GuardSettings picks memory or Redis from the environment; both give working guards."""

import pytest

from montalaq.dedupe import DedupeCache, DedupeResult, RedisDedupe
from montalaq.guards import GuardBackend, GuardSettings
from montalaq.ratelimit import RateLimiter, RedisRateLimiter

T0 = 1_767_225_600_000_000_000  # 2026-01-01T00:00:00Z, int ns


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
    assert isinstance(b, RedisDedupe)
    assert a.check_and_record("sig", T0) is DedupeResult.ALLOWED
    assert b.check_and_record("sig", T0 + 10**9) is DedupeResult.DEDUPED
    r1, r2 = s.rate_limiter(limit=1, window_s=60), s.rate_limiter(limit=1, window_s=60)
    assert isinstance(r1, RedisRateLimiter)
    assert isinstance(r2, RedisRateLimiter)
    assert r1.try_acquire("slack", T0)
    assert not r2.try_acquire("slack", T0 + 10**9)
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


def test_the_service_notifier_keeps_its_rate_limit_under_GUARD_REDIS_PREFIX(redis_target, tmp_path) -> None:  # type: ignore[no-untyped-def]
    # GUARD_REDIS_PREFIX is a Settings value: the service's notifier (built from Settings)
    # keys its shared rate limit under it, not under the default "montalaq:".
    from montalaq.notify import notifier_from_settings
    from montalaq.settings import Settings
    from montalaq.store import Store

    settings = Settings.from_env(
        {
            "GUARD_BACKEND": "redis",
            "REDIS_URL": redis_target.url,
            "MONTALAQ_GUARD_REDIS_PREFIX": redis_target.prefix,
        }
    )
    with Store(f"sqlite:///{tmp_path / 'm.db'}") as store:
        store.upgrade()
        notifier = notifier_from_settings(settings, store)
        limiter = notifier.rate_limiter
        assert isinstance(limiter, RedisRateLimiter)
        assert limiter.try_acquire("slack", T0)
        keys = [k.decode() for k in redis_target.client.scan_iter(match=redis_target.prefix + "*")]
        assert keys
        assert all(k.startswith(redis_target.prefix + "notify-rate:") for k in keys)
        limiter.close()


def test_resolve_url_reads_the_environment_through_settings(monkeypatch: pytest.MonkeyPatch) -> None:
    from montalaq.store.engine import resolve_url

    monkeypatch.delenv("DATABASE_URL", raising=False)
    monkeypatch.delenv("MONTALAQ_DATABASE_URL", raising=False)
    monkeypatch.setenv("MONTALAQ_DB_PATH", "/tmp/x/m.db")
    assert resolve_url(None) == "sqlite:////tmp/x/m.db"
    monkeypatch.setenv("DATABASE_URL", "postgres://u@h/db1")
    monkeypatch.setenv("MONTALAQ_DATABASE_URL", "postgres://u@h/db2")
    assert resolve_url(None) == "postgresql+psycopg://u@h/db2"  # the prefixed name wins
