"""Shared fixtures for montalaq's Python tests.

The real market data lives outside the repository, in ``<repo>/../shared/data`` (override
with ``MONTALAQ_SHARED_DATA``). It is always present where the tests run; if it is not,
every test that needs it fails with a message saying where it was looked for. Tests never
skip for missing data.
"""

from __future__ import annotations

import os
import sys
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pytest

# Make tests/py/mtq_support.py importable whatever pytest's import mode is.
_HERE = str(Path(__file__).resolve().parent)
if _HERE not in sys.path:
    sys.path.insert(0, _HERE)

import montalaq  # noqa: E402
from mtq_support import RawTrades, read_raw, require_shared_data  # noqa: E402

if TYPE_CHECKING:
    from receivers import HttpReceiver, SmtpReceiver


@pytest.fixture(scope="session")
def data_dir() -> Path:
    """The shared real-market data folder (fails, never skips, when it is missing)."""
    try:
        return require_shared_data()
    except RuntimeError as exc:
        pytest.fail(str(exc), pytrace=False)


@pytest.fixture(scope="session")
def load_trades(data_dir: Path) -> Callable[[str], montalaq.Trades]:
    """``load_trades("binance_xrpeth_2019-10-11/trades.csv")`` -> montalaq.read_trades, cached."""
    cache: dict[str, montalaq.Trades] = {}

    def load(rel: str) -> montalaq.Trades:
        if rel not in cache:
            path = data_dir / rel
            assert path.is_file(), f"missing data file {path}"
            cache[rel] = montalaq.read_trades(path)
        return cache[rel]

    return load


@pytest.fixture(scope="session")
def load_raw(data_dir: Path) -> Callable[[str], RawTrades]:
    """The same file read with plain pandas from its SOURCE.md (independent of montalaq), cached."""
    cache: dict[str, RawTrades] = {}

    def load(rel: str) -> RawTrades:
        if rel not in cache:
            cache[rel] = read_raw(data_dir, rel)
        return cache[rel]

    return load


@dataclass(frozen=True)
class RedisTarget:
    """A real Redis server for integration tests, with a key prefix owned by one test."""

    url: str
    prefix: str
    client: Any


@pytest.fixture
def redis_target() -> Iterator[RedisTarget]:
    """Real Redis (``make test`` starts it); every key under a fresh prefix, deleted after.

    ``MONTALAQ_TEST_REDIS_URL`` overrides the default ``redis://127.0.0.1:6379/15``.
    """
    import redis

    url = os.environ.get("MONTALAQ_TEST_REDIS_URL", "redis://127.0.0.1:6379/15")
    client = redis.Redis.from_url(url)
    client.ping()  # no skip: a missing server is a failure (make test starts one)
    prefix = f"montalaq-test:{uuid.uuid4().hex}:"
    try:
        yield RedisTarget(url, prefix, client)
    finally:
        keys = list(client.scan_iter(match=prefix + "*", count=1000))
        if keys:
            client.delete(*keys)
        client.close()


# ------------------------------------------------------------------- notification receivers
# Here rather than in integration/conftest.py: one conftest per folder that mypy sees as a
# package base (pyproject.toml, [tool.mypy]). Imported when used (aiosmtpd is not light).


@pytest.fixture
def http_receiver() -> Iterator[HttpReceiver]:
    """A fresh loopback HTTP/1.1 receiver answering 200 until told otherwise."""
    from receivers import HttpReceiver

    with HttpReceiver() as receiver:
        yield receiver


@pytest.fixture
def smtp_receiver() -> Iterator[SmtpReceiver]:
    """A fresh loopback SMTP server accepting every recipient (no TLS, no AUTH)."""
    from receivers import SmtpReceiver

    with SmtpReceiver() as receiver:
        yield receiver


# ---------------------------------------------------------------------------- markers
# Which real servers a test talks to, so a run can select them (`-m "not browser"`) and
# parallel runs can be reasoned about. Applied here from the fixtures a test uses, so a new
# test gets its marks without remembering them; tests that connect without these fixtures
# carry the mark themselves (pyproject.toml lists the markers).
_POSTGRES_FIXTURES = frozenset({"pg_url", "pg_migrated_template", "pg_store"})
_REDIS_FIXTURES = frozenset({"redis_target"})


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    del config
    for item in items:
        names = set(getattr(item, "fixturenames", ()))
        params = getattr(getattr(item, "callspec", None), "params", {})
        if names & _POSTGRES_FIXTURES or "postgresql" in params.values():
            item.add_marker(pytest.mark.postgres)
        if names & _REDIS_FIXTURES or "redis" in params.values():
            item.add_marker(pytest.mark.redis)
        if "browser" in item.path.parts:
            item.add_marker(pytest.mark.browser)
    # Longest first: pytest-xdist (make test) hands modules to workers in this order, so the
    # slow modules start at once instead of one of them finishing alone at the end.
    items.sort(key=lambda item: 0 if item.get_closest_marker("slow") else 1)
