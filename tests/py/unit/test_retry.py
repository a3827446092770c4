"""RetryPolicy (docs/semantics.md, section Guards: "Retry", "Retry-After"): schedule from the
core, what is retried, the Retry-After parser, stats."""

import asyncio
import threading
import urllib.error
import urllib.request
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from email.utils import format_datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import ClassVar

import pytest

from montalaq.errors import ErrorCode
from montalaq.retry import RetryPolicy, RetryStats, parse_retry_after

NOW = datetime(2025, 1, 1, 12, 0, tzinfo=UTC)  # a Wednesday


class Sleeps:
    """Records the waits instead of sleeping, so the suite runs in milliseconds."""

    def __init__(self) -> None:
        self.waits: list[float] = []

    def __call__(self, s: float) -> None:
        self.waits.append(s)

    async def asleep(self, s: float) -> None:
        self.waits.append(s)


def test_schedule_is_exponential_capped_jittered_and_seeded() -> None:
    p = RetryPolicy(max_attempts=8, base_s=1.0, jitter=0.2, max_delay_s=10.0, seed=11)
    d = p.delays()
    assert len(d) == 7
    for n, wait in enumerate(d, start=1):
        nominal = min(10.0, 2 ** (n - 1))
        assert nominal * 0.8 <= wait < nominal * 1.2
    assert RetryPolicy(max_attempts=8, max_delay_s=10.0, seed=11).delays() == d
    assert RetryPolicy(max_attempts=8, max_delay_s=10.0, seed=12).delays() != d
    assert RetryPolicy(max_attempts=4, jitter=0, seed=1).delays() == [1.0, 2.0, 4.0]


def test_transient_errors_are_retried_then_the_last_one_raised() -> None:
    sleeps = Sleeps()
    p = RetryPolicy(max_attempts=3, seed=5, sleep=sleeps)
    calls = []

    def flaky() -> None:
        calls.append(1)
        raise TimeoutError(f"attempt {len(calls)}")

    with pytest.raises(TimeoutError, match="attempt 3"):
        p.call(flaky)
    assert len(calls) == 3
    assert sleeps.waits == p.delays()
    stats = p.last_stats
    assert stats is not None
    assert (stats.attempts, stats.done, stats.succeeded) == (3, True, False)
    assert stats.last_error_code == ErrorCode.INGESTION_TIMEOUT
    assert stats.total_wait_s == pytest.approx(sum(sleeps.waits))


def test_permanent_and_unknown_errors_are_not_retried() -> None:
    sleeps = Sleeps()
    p = RetryPolicy(sleep=sleeps)
    for exc in (ValueError("bad"), RuntimeError("analysis bug"), KeyError("x")):

        def fail(e: BaseException = exc) -> None:
            raise e

        with pytest.raises(type(exc)):
            p.call(fail)
        assert p.last_stats is not None
        assert p.last_stats.attempts == 1
    assert sleeps.waits == []


def test_success_after_retries_and_stats_are_live_during_the_call() -> None:
    sleeps = Sleeps()
    p = RetryPolicy(max_attempts=5, seed=1, sleep=sleeps)
    stats = RetryStats()
    seen: list[int] = []

    def eventually() -> str:
        seen.append(stats.attempts)  # the caller's view while the call runs
        if len(seen) < 3:
            raise ConnectionResetError("reset")
        return "ok"

    assert p.call_with(stats, eventually) == "ok"
    assert seen == [1, 2, 3]
    assert stats.succeeded
    assert stats.attempts == 3
    assert len(stats.waits_s) == 2


class _Handler(BaseHTTPRequestHandler):
    script: ClassVar[list[tuple[int, dict[str, str]]]] = []

    def do_GET(self) -> None:
        status, headers = self.script.pop(0) if self.script else (200, {})
        self.send_response(status)
        for k, v in headers.items():
            self.send_header(k, v)
        self.end_headers()
        self.wfile.write(b"ok" if status == 200 else b"no")

    def log_message(self, *args: object) -> None:
        pass


@pytest.fixture
def http_server() -> Iterator[tuple[str, type[_Handler]]]:
    """A real HTTP server on loopback whose answers a test scripts."""

    class Handler(_Handler):
        script: ClassVar[list[tuple[int, dict[str, str]]]] = []

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}/", Handler
    finally:
        server.shutdown()
        server.server_close()


def _get(url: str) -> bytes:
    with urllib.request.urlopen(url, timeout=5) as r:
        return bytes(r.read())


def test_http_5xx_and_429_are_retried_honouring_retry_after(http_server: tuple[str, type[_Handler]]) -> None:
    url, handler = http_server
    handler.script = [(503, {}), (429, {"Retry-After": "0.25"}), (200, {})]
    sleeps = Sleeps()
    p = RetryPolicy(max_attempts=4, seed=3, sleep=sleeps)
    assert p.call(_get, url) == b"ok"
    assert p.last_stats is not None
    assert p.last_stats.attempts == 3
    assert sleeps.waits[0] == p.delays()[0]  # 503: the schedule
    assert sleeps.waits[1] == pytest.approx(0.25)  # 429: what the server asked


def test_http_4xx_is_not_retried_nor_a_retry_after_beyond_max_delay(
    http_server: tuple[str, type[_Handler]],
) -> None:
    url, handler = http_server
    sleeps = Sleeps()
    p = RetryPolicy(max_attempts=4, max_delay_s=5.0, sleep=sleeps)
    handler.script = [(404, {})]
    with pytest.raises(urllib.error.HTTPError) as err:
        p.call(_get, url)
    assert err.value.code == 404
    handler.script = [(503, {"Retry-After": "3600"})]
    with pytest.raises(urllib.error.HTTPError):
        p.call(_get, url)
    assert sleeps.waits == []
    assert p.last_stats is not None
    assert p.last_stats.attempts == 1


def test_a_negative_retry_after_is_ignored_and_the_schedule_used(
    http_server: tuple[str, type[_Handler]],
) -> None:
    # Regression: the policy used to read "-5" as "retry at once" while the channels ignored it.
    url, handler = http_server
    handler.script = [(503, {"Retry-After": "-5"}), (200, {})]
    sleeps = Sleeps()
    p = RetryPolicy(max_attempts=3, seed=4, sleep=sleeps)
    assert p.call(_get, url) == b"ok"
    assert sleeps.waits == [p.delays()[0]]


def test_an_http_date_retry_after_is_waited_for_on_the_policy_clock(
    http_server: tuple[str, type[_Handler]],
) -> None:
    url, handler = http_server
    handler.script = [
        (503, {"Retry-After": format_datetime(NOW + timedelta(seconds=2), usegmt=True)}),
        (200, {}),
    ]
    sleeps = Sleeps()
    p = RetryPolicy(max_attempts=3, sleep=sleeps, clock=NOW.timestamp)
    assert p.call(_get, url) == b"ok"
    assert sleeps.waits == [2.0]


@pytest.mark.parametrize(
    ("value", "seconds"),
    [("7", 7.0), ("0", 0.0), (" 120 ", 120.0), ("007", 7.0), ("0.25", 0.25)],
)
def test_retry_after_delay_seconds_are_read_as_seconds(value: str, seconds: float) -> None:
    assert parse_retry_after(value, now=NOW) == seconds


@pytest.mark.parametrize(
    "value",
    [
        format_datetime(NOW + timedelta(seconds=90), usegmt=True),  # IMF-fixdate
        "Wednesday, 01-Jan-25 12:01:30 GMT",  # RFC 850, obsolete but to be accepted
        "Wed Jan  1 12:01:30 2025",  # asctime: no zone, HTTP-dates are GMT
    ],
)
def test_retry_after_http_date_in_the_future_is_the_seconds_until_then(value: str) -> None:
    assert parse_retry_after(value, now=NOW) == 90.0


def test_retry_after_http_date_in_the_past_means_now() -> None:
    assert parse_retry_after("Tue, 31 Dec 2024 12:00:00 GMT", now=NOW) == 0.0
    assert parse_retry_after("Sun, 06 Nov 1994 08:49:37 GMT", now=NOW) == 0.0


@pytest.mark.parametrize(
    "value",
    [
        None,
        "",
        "   ",
        "-5",
        "-0.5",
        "+5",
        "1e3",
        "1_000",
        "0x10",
        "nan",
        "inf",
        "5 s",
        "soon",
        "Mon, 32 Jan 2025 00:00:00 GMT",
        "Fri, 31 Dec 99999 23:59:59 GMT",
    ],
)
def test_retry_after_negative_or_unreadable_is_none(value: str | None) -> None:
    assert parse_retry_after(value, now=NOW) is None


def test_retry_after_large_values_are_returned_uncapped_until_they_overflow() -> None:
    # The parser does not cap: RetryPolicy refuses waits beyond max_delay_s, the notifier clamps.
    assert parse_retry_after("86400000", now=NOW) == 86_400_000.0
    assert parse_retry_after("Fri, 31 Dec 9999 23:59:59 GMT", now=NOW) == pytest.approx(
        (datetime(9999, 12, 31, 23, 59, 59, tzinfo=UTC) - NOW).total_seconds()
    )
    assert parse_retry_after("1" + "0" * 400, now=NOW) is None  # beyond a float: unreadable


def test_the_channels_use_the_same_parser() -> None:
    from montalaq.notify import channels
    from montalaq.notify.channels import http, telegram

    assert channels.parse_retry_after is parse_retry_after
    # the name each channel module imports (not part of its API, so read from its namespace)
    assert vars(http)["parse_retry_after"] is parse_retry_after
    assert vars(telegram)["parse_retry_after"] is parse_retry_after


def test_async_retries_and_never_retries_cancellation() -> None:
    sleeps = Sleeps()
    p = RetryPolicy(max_attempts=3, seed=2, sleep=sleeps, asleep=sleeps.asleep)
    attempts = []

    async def flaky() -> int:
        attempts.append(1)
        if len(attempts) < 3:
            raise TimeoutError
        return 7

    assert asyncio.run(p.acall(flaky)) == 7
    assert len(sleeps.waits) == 2

    async def cancelled() -> None:
        raise asyncio.CancelledError

    with pytest.raises(asyncio.CancelledError):
        asyncio.run(p.acall(cancelled))
    assert p.last_stats is not None
    assert p.last_stats.attempts == 1


@pytest.mark.parametrize(
    ("kwargs", "name"),
    [
        ({"max_attempts": 0}, "max_attempts"),
        ({"max_attempts": 2.0}, "max_attempts"),
        ({"base_s": -1}, "base_s"),
        ({"jitter": 1.0}, "jitter"),
        ({"max_delay_s": float("nan")}, "max_delay_s"),
        ({"seed": -1}, "seed"),
    ],
)
def test_bad_settings_name_the_argument(kwargs: dict[str, object], name: str) -> None:
    with pytest.raises(ValueError, match=name):
        RetryPolicy(**kwargs)  # type: ignore[arg-type]
