"""montalaq's own start-up checks: the database, Redis when the guards use it, the alerts
folder (docs/operations.md, section "Start-up, WAITING and shutdown")."""

from __future__ import annotations

import errno
import os
import tempfile
from pathlib import Path
from typing import TYPE_CHECKING

from montalaq._optional import needs
from montalaq.errors import ErrorCode
from montalaq.lifecycle.checks import CheckFn, CheckResult, StartupCheck, describe
from montalaq.lifecycle.seconds import positive_s

if TYPE_CHECKING:
    from montalaq.settings import Settings
    from montalaq.store import Store


def _database_check(store: Store) -> CheckFn:
    def database() -> CheckResult:
        from montalaq.store.migrate import SchemaOutOfDateError

        health = store.health()
        if not health.get("ok"):
            return CheckResult.transient(
                f"database unreachable: {health.get('error', 'no answer')}", ErrorCode.PROVIDER_DISCONNECTED
            )
        try:
            store.ensure_schema()
        except SchemaOutOfDateError as exc:
            return CheckResult.permanent(f"database schema out of date: {exc}")
        except Exception as exc:  # the database answered SELECT 1 a moment ago: let it settle
            return CheckResult.transient(f"database schema check failed: {describe(exc)}")
        return CheckResult.passed("database reachable")

    return database


def _redis_check(url: str, timeout_s: float) -> CheckFn:
    def redis_check() -> CheckResult:
        with needs("the redis check (REDIS_URL)"):
            import redis
            from redis import exceptions as rex

        client = redis.Redis.from_url(url, socket_timeout=timeout_s, socket_connect_timeout=timeout_s)
        try:
            client.ping()
        except rex.AuthenticationError as exc:  # a ConnectionError subclass, but no wait fixes it
            return CheckResult.permanent(f"redis refused the credentials: {type(exc).__name__}")
        except (rex.ConnectionError, rex.TimeoutError, OSError) as exc:
            return CheckResult.transient(
                f"redis unreachable: {type(exc).__name__}", ErrorCode.PROVIDER_DISCONNECTED
            )
        except rex.ResponseError as exc:  # NOAUTH, WRONGPASS, a disabled command: configuration
            return CheckResult.permanent(f"redis answered with an error: {type(exc).__name__}")
        finally:
            client.close()
        return CheckResult.passed("redis answered PING")

    return redis_check


_TRANSIENT_ERRNOS = frozenset({errno.ENOSPC, errno.EDQUOT, errno.EAGAIN, errno.EINTR, errno.EBUSY})


def _alerts_dir_check(path: Path) -> CheckFn:
    def alerts_dir() -> CheckResult:
        try:
            path.mkdir(parents=True, exist_ok=True)
            with tempfile.NamedTemporaryFile(dir=path, prefix=".montalaq-probe-", delete=True) as probe:
                probe.write(b"ok\n")
                probe.flush()
        except OSError as exc:
            # A full disk can be freed; no permission, a read-only file system or a file
            # where the directory should be need an operator.
            if exc.errno in _TRANSIENT_ERRNOS and not isinstance(exc, PermissionError):
                return CheckResult.transient(f"alerts directory {path} not writable: {describe(exc)}")
            return CheckResult.permanent(f"alerts directory {path} not writable: {describe(exc)}")
        return CheckResult.passed(f"{path} writable")

    return alerts_dir


def builtin_checks(
    settings: Settings,
    store: Store | None = None,
    *,
    base_dir: str | os.PathLike[str] = ".",
    redis_timeout_s: float = 2.0,
    alerts_dir: bool = True,
) -> list[StartupCheck]:
    """montalaq's own start-up checks.

    - ``database``: ``store.health()`` answers (TRANSIENT otherwise) and its schema is
      current (PERMANENT otherwise: run ``montalaq db upgrade``); only when a ``store`` is
      given (the host decides which database it uses and owns the Store).
    - ``redis``: when ``settings.guard_backend == "redis"``, ``PING`` on ``settings.redis_url``
      within ``redis_timeout_s`` seconds (connection error or timeout: TRANSIENT; refused
      credentials or an error reply: PERMANENT).
    - ``alerts_dir``: ``settings.alerts_dir`` (``ALERTS_DIR``, default ``logs/alerts``;
      relative paths resolve under ``base_dir``) can be created and written (no permission,
      read-only file system, not a directory: PERMANENT; disk full: TRANSIENT); left out
      with ``alerts_dir=False`` (a process that writes no alerts).
    """
    timeout_s = positive_s("redis_timeout_s", redis_timeout_s)
    checks: list[StartupCheck] = []
    if store is not None:
        checks.append(StartupCheck("database", _database_check(store)))
    if settings.guard_backend == "redis":
        if not settings.redis_url:
            raise ValueError("REDIS_URL: required when GUARD_BACKEND=redis")
        checks.append(StartupCheck("redis", _redis_check(settings.redis_url, timeout_s)))
    if alerts_dir:
        checks.append(StartupCheck("alerts_dir", _alerts_dir_check(Path(base_dir) / settings.alerts_dir)))
    return checks
