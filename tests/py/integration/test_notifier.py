"""The notifier end to end: outbox first, then delivery to real receivers on loopback.

Most tests drive ``deliver_once`` with a fake clock so time-based behaviour (rate-limit
windows, throttle aggregation, backoff) is exact; the outage and SIGKILL tests run the
real worker thread / process against a real HTTP receiver.
"""

from __future__ import annotations

import logging
import time
from collections import Counter
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

from montalaq import correlation_scope
from montalaq.health import BreakerState
from montalaq.notify import (
    Channel,
    Notifier,
    Severity,
    SlackChannel,
    TelegramChannel,
    WebhookChannel,
)
from montalaq.retry import RetryPolicy
from montalaq.store import Store
from mtq_support import FakeClock

T0_NS = 1_767_225_600 * 1_000_000_000  # 2026-01-01T00:00:00Z
S = 1_000_000_000


@pytest.fixture
def store(tmp_path: Path) -> Iterator[Store]:
    s = Store(f"sqlite:///{tmp_path / 'notify.db'}")
    yield s
    s.close()


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()


def _no_wait_retry(**kw: Any) -> RetryPolicy:
    return RetryPolicy(seed=7, sleep=lambda _s: None, **kw)


def test_notify_writes_the_outbox_row_before_anything_is_sent(store: Store, http_receiver: Any) -> None:
    n = Notifier(store, [WebhookChannel(http_receiver.url + "/hook")])
    result = n.notify("alert", "Feed stale", "SPY 1m silent for 180 s", severity="WARNING")
    rows = store.outbox.rows()
    assert [(r.channel, r.status, r.idempotency_key) for r in rows] == [
        ("webhook", "PENDING", result.idempotency_key)
    ]
    assert rows[0].payload["title"] == "Feed stale"
    assert rows[0].payload["severity"] == "WARNING"
    assert http_receiver.requests == []


def test_worker_delivers_payload_with_error_code_and_correlation_id(store: Store, http_receiver: Any) -> None:
    with Notifier(store, [WebhookChannel(http_receiver.url + "/hook")], poll_interval_s=0.05) as n:
        with correlation_scope("abcd1234"):
            result = n.notify(
                "alert", "Broker down", error_code="PROVIDER_DISCONNECTED", fields={"broker": "ib"}
            )
        assert http_receiver.wait_for(1, 10.0)
        assert n.wait_idle(10.0)
    req = http_receiver.accepted()[0]
    assert req.path == "/hook"
    assert req.headers["idempotency-key"] == result.idempotency_key
    assert req.json["idempotency_key"] == result.idempotency_key
    assert req.json["error_code"] == "PROVIDER_DISCONNECTED"
    assert req.json["correlation_id"] == "abcd1234"
    assert req.json["fields"] == {"broker": "ib"}
    row = store.outbox.rows()[0]
    assert (row.status, row.attempts, row.correlation_id) == ("SENT", 1, "abcd1234")


def test_one_event_fans_out_to_one_row_per_channel(
    store: Store, http_receiver: Any, clock: FakeClock
) -> None:
    chans: list[Channel] = [
        WebhookChannel(http_receiver.url + "/hook"),
        SlackChannel(http_receiver.url + "/slack/T0/B0/xyz"),
    ]
    n = Notifier(store, chans, clock=clock)
    result = n.notify("alert", "Two channels")
    assert result.queued == 2
    assert n.deliver_once() == 2
    assert sorted(r.path for r in http_receiver.accepted()) == ["/hook", "/slack/T0/B0/xyz"]
    assert {r.headers["idempotency-key"] for r in http_receiver.accepted()} == {result.idempotency_key}


def test_dry_run_records_and_logs_but_sends_nothing(
    store: Store, http_receiver: Any, clock: FakeClock, caplog: pytest.LogCaptureFixture
) -> None:
    n = Notifier(store, [WebhookChannel(http_receiver.url + "/hook")], dry_run=True, clock=clock)
    with caplog.at_level(logging.INFO, logger="montalaq.notify"):
        n.notify("alert", "Would go out")
    assert n.deliver_once() == 0
    assert http_receiver.requests == []
    assert [r.status for r in store.outbox.rows()] == ["DRY_RUN"]
    assert any("dry run" in r.getMessage() and "Would go out" in r.getMessage() for r in caplog.records)


def test_dedupe_key_drops_a_repeat_within_the_ttl_and_records_it(
    store: Store, http_receiver: Any, clock: FakeClock
) -> None:
    n = Notifier(store, [WebhookChannel(http_receiver.url + "/hook")], clock=clock, dedupe_ttl_s=900)
    first = n.notify("alert", "Once", dedupe_key="feed-stale-SPY")
    clock.advance(10)
    second = n.notify("alert", "Once", dedupe_key="feed-stale-SPY")
    assert (first.deduped, first.queued) == (False, 1)
    assert (second.deduped, second.queued) == (True, 0)
    assert [e["action"] for e in store.dedup_events("feed-stale-SPY")] == ["DEDUPED"]
    clock.advance(901)
    assert n.notify("alert", "Once", dedupe_key="feed-stale-SPY").deduped is False


def test_the_same_idempotency_key_is_queued_once_per_channel(store: Store, http_receiver: Any) -> None:
    n = Notifier(store, [WebhookChannel(http_receiver.url + "/hook")])
    assert n.notify("alert", "x", idempotency_key="order-42").queued == 1
    assert n.notify("alert", "x", idempotency_key="order-42").queued == 0
    assert len(store.outbox.rows()) == 1


def test_1000_alerts_in_a_minute_reach_slack_as_60_messages_plus_digests_accounting_for_all(
    store: Store, http_receiver: Any, clock: FakeClock
) -> None:
    slack = SlackChannel(http_receiver.url + "/services/T0/B0/secret")
    n = Notifier(store, [slack], clock=clock, rate_limit_per_min=60, batch_size=500)
    keys = []
    for i in range(1000):  # one alert every 60 ms for a minute, delivering as they come
        keys.append(n.notify("alert", f"alert {i}", severity="WARNING").idempotency_key)
        if i % 50 == 49:
            n.deliver_once()
        clock.advance(0.06)
    for _ in range(3):  # the next minutes: the window slides, digests go out
        clock.advance(60)
        n.deliver_once()
    msgs = http_receiver.accepted()
    plain = [m for m in msgs if not m.headers["idempotency-key"].startswith("digest-")]
    digests = [m for m in msgs if m.headers["idempotency-key"].startswith("digest-")]
    assert len(plain) == 60
    assert len(digests) == 10, "940 alerts over the limit, in digests of up to 100 (Slack)"
    # Every alert is accounted for exactly once: sent alone, or inside one delivered digest.
    rows = store.outbox.rows(limit=2000)
    assert {r.status for r in rows} == {"SENT", "DIGESTED"}
    sent_keys = {m.headers["idempotency-key"] for m in plain}
    digest_keys = {m.headers["idempotency-key"] for m in digests}
    assert sent_keys == {r.idempotency_key for r in rows if r.status == "SENT"}
    assert {r.digest_key for r in rows if r.status == "DIGESTED"} == digest_keys
    assert sent_keys | {r.idempotency_key for r in rows if r.status == "DIGESTED"} == set(keys)
    # Each digest says how many alerts it carries; together with the 60, that is 1,000.
    carried = 0
    for d in digests:
        counts = Counter(r.digest_key for r in rows)
        carried += counts[d.headers["idempotency-key"]]
        assert f"{counts[d.headers['idempotency-key']]} " in d.json["text"]
    assert 60 + carried == 1000


def test_rate_limit_windows_never_exceed_the_limit_digests_included(
    store: Store, http_receiver: Any, clock: FakeClock
) -> None:
    n = Notifier(
        store,
        [WebhookChannel(http_receiver.url + "/hook")],
        clock=clock,
        rate_limit_per_min=10,
        batch_size=50,
    )
    send_times: list[int] = []
    for i in range(100):
        n.notify("alert", f"a{i}")
        before = len(http_receiver.accepted())
        n.deliver_once()
        send_times += [clock.ns] * (len(http_receiver.accepted()) - before)
        clock.advance(1.5)
    for _ in range(5):
        clock.advance(30)
        before = len(http_receiver.accepted())
        n.deliver_once()
        send_times += [clock.ns] * (len(http_receiver.accepted()) - before)
    for t in send_times:
        in_window = [u for u in send_times if t - 60 * S < u <= t]
        assert len(in_window) <= 10
    counts = store.outbox.counts()
    assert counts["PENDING"] == counts["FOLDED"] == 0
    assert counts["SENT"] + counts["DIGESTED"] == 100


def test_error_types_are_throttled_aggregated_and_resolved(
    store: Store, http_receiver: Any, clock: FakeClock
) -> None:
    n = Notifier(store, [WebhookChannel(http_receiver.url + "/hook")], clock=clock)
    for _ in range(5):
        n.report_error("BROKER", "order rejected")
        clock.advance(1)
    n.report_error("WEBSOCKET", ConnectionError("feed dropped"))
    n.deliver_once()
    assert http_receiver.accepted() == []  # still inside the 60 s aggregation window
    clock.advance(60)
    n.deliver_once()
    [digest] = http_receiver.accepted()
    assert digest.json["kind"] == "error"
    assert digest.json["fields"] == {"BROKER": 5, "WEBSOCKET": 1}
    assert "BROKER x5" in digest.json["text"]
    assert "WEBSOCKET x1" in digest.json["text"]
    n.report_error("BROKER", "again")  # inside its 1800 s window: counted, not sent
    clock.advance(120)
    n.deliver_once()
    assert len(http_receiver.accepted()) == 1
    assert n.resolve_error("BROKER") is True
    n.deliver_once()
    recovery = http_receiver.accepted()[-1].json
    assert (recovery["kind"], recovery["fields"]["count"]) == ("recovery", 6)
    log_rows = {r["error_type"]: r for r in store.error_summary()}
    assert log_rows["BROKER"]["occurrence_count"] == 6
    assert log_rows["BROKER"]["is_resolved"] is True
    # The digest and the recovery message were both counted on the episode.
    assert log_rows["BROKER"]["notification_count"] == 2
    assert log_rows["WEBSOCKET"]["is_resolved"] is False


def test_transient_failures_are_retried_with_backoff_then_delivered_once(
    store: Store, http_receiver: Any, clock: FakeClock
) -> None:
    n = Notifier(
        store,
        [WebhookChannel(http_receiver.url + "/hook")],
        clock=clock,
        retry=_no_wait_retry(base_s=2.0, jitter=0.0, max_delay_s=60.0),
    )
    http_receiver.set_response(503)
    key = n.notify("alert", "retry me").idempotency_key
    n.deliver_once()
    row = store.outbox.rows()[0]
    assert (row.status, row.attempts) == ("PENDING", 1)
    assert (row.next_attempt_at - datetime.fromtimestamp(clock.ns / S, UTC)).total_seconds() == pytest.approx(
        2.0
    )
    n.deliver_once()  # not due yet: nothing sent
    assert len(http_receiver.requests) == 1
    clock.advance(2)
    n.deliver_once()
    assert store.outbox.rows()[0].attempts == 2  # waits 4 s now
    http_receiver.set_response(200)
    clock.advance(4)
    n.deliver_once()
    assert [r.headers["idempotency-key"] for r in http_receiver.accepted()] == [key]
    assert store.outbox.rows()[0].status == "SENT"


def test_retry_after_from_the_receiver_is_honoured(
    store: Store, http_receiver: Any, clock: FakeClock
) -> None:
    n = Notifier(
        store, [WebhookChannel(http_receiver.url + "/hook")], clock=clock, retry=_no_wait_retry(jitter=0.0)
    )
    http_receiver.set_response(429, headers={"Retry-After": "17"})
    n.notify("alert", "slow down")
    n.deliver_once()
    row = store.outbox.rows()[0]
    assert (row.next_attempt_at - datetime.fromtimestamp(clock.ns / S, UTC)).total_seconds() == pytest.approx(
        17.0
    )


def test_a_permanent_failure_is_kept_as_dead_and_can_be_requeued(
    store: Store, http_receiver: Any, clock: FakeClock
) -> None:
    n = Notifier(store, [WebhookChannel(http_receiver.url + "/hook")], clock=clock)
    http_receiver.set_response(404)
    n.notify("alert", "wrong address")
    n.deliver_once()
    row = store.outbox.rows()[0]
    assert row.status == "DEAD"
    assert "404" in (row.last_error or "")
    assert n.breakers["webhook"].state(clock.ns) == BreakerState.CLOSED  # config error, not an outage
    http_receiver.set_response(200)
    assert store.outbox.requeue_dead(datetime.fromtimestamp(clock.ns / S, UTC)) == 1
    n.deliver_once()
    assert store.outbox.rows()[0].status == "SENT"


def test_the_channel_breaker_opens_on_failures_and_holds_rows_until_the_cooldown(
    store: Store, http_receiver: Any, clock: FakeClock
) -> None:
    n = Notifier(
        store,
        [WebhookChannel(http_receiver.url + "/hook")],
        clock=clock,
        breaker_failures=3,
        breaker_cooldown_s=30,
        retry=_no_wait_retry(base_s=0.001, jitter=0.0, max_delay_s=0.001),
    )
    http_receiver.set_response(500)
    for i in range(20):
        n.notify("alert", f"a{i}")
    n.deliver_once()
    assert len(http_receiver.requests) == 3  # the breaker opened after 3 failures
    assert n.breakers["webhook"].state(clock.ns) == BreakerState.OPEN
    for _ in range(10):
        clock.advance(1)
        n.deliver_once()
    assert len(http_receiver.requests) == 3  # open: nothing on the wire during the cooldown
    http_receiver.set_response(200)
    clock.advance(30)
    n.deliver_once()
    assert n.breakers["webhook"].state(clock.ns) == BreakerState.CLOSED
    assert store.outbox.counts()["SENT"] == 20


def test_secrets_never_reach_the_outbox_or_the_logs(
    store: Store, http_receiver: Any, clock: FakeClock, caplog: pytest.LogCaptureFixture
) -> None:
    token = "123456:SECRET-bot-token-xyz"
    hook_secret = "B0/hooksecret987"
    chans: list[Channel] = [
        TelegramChannel(token, "42", api_base=http_receiver.url),
        SlackChannel(f"{http_receiver.url}/services/T0/{hook_secret}"),
    ]
    n = Notifier(store, chans, clock=clock)
    http_receiver.set_response(500)
    with caplog.at_level(logging.DEBUG):
        n.notify("alert", "leak check")
        n.deliver_once()
    assert len(http_receiver.requests) == 2
    for row in store.outbox.rows():
        assert row.last_error
        assert token not in row.last_error
        assert hook_secret not in row.last_error
        assert token not in str(row.payload)
        assert hook_secret not in str(row.payload)
    text = "\n".join(r.getMessage() + str(r.__dict__) for r in caplog.records)
    assert token not in text
    assert hook_secret not in text
    assert token not in repr(n)
    assert hook_secret not in repr(n)


def test_outage_then_recovery_loses_nothing_bounds_attempts_and_does_not_flood(
    store: Store, http_receiver: Any
) -> None:
    """500s, then refused connections, then healthy again, with the real worker thread."""
    n = Notifier(
        store,
        [WebhookChannel(http_receiver.url + "/hook", timeout_s=1.0)],
        breaker_failures=3,
        breaker_window_s=10,
        breaker_cooldown_s=0.5,
        rate_limit_per_min=40,
        rate_window_s=1.0,
        retry=_no_wait_retry(base_s=0.05, jitter=0.0, max_delay_s=0.4),
        poll_interval_s=0.02,
    )
    http_receiver.set_response(500)
    keys = {n.notify("alert", f"a{i}").idempotency_key for i in range(150)}
    n.start()
    try:
        time.sleep(1.5)
        during_500 = len(http_receiver.requests)
        http_receiver.refuse()
        time.sleep(1.5)
        assert n.breakers["webhook"].state() != BreakerState.CLOSED
        http_receiver.set_response(200)
        http_receiver.accept()
        recovered_at = time.time()
        assert n.wait_idle(30.0)
    finally:
        n.stop()
    # Bounded: 3 failures open the breaker, then about one probe per 0.5 s cooldown.
    assert during_500 <= 3 + 1.5 / 0.5 + 2
    history = [h["to"] for h in n.breakers["webhook"].history()]
    assert "OPEN" in [str(getattr(h, "name", h)) for h in history]
    # Nothing lost: every event went out alone or inside a digest the receiver accepted.
    rows = store.outbox.rows(limit=1000)
    assert {r.status for r in rows} <= {"SENT", "DIGESTED"}
    accepted = http_receiver.accepted()
    got = {r.headers["idempotency-key"] for r in accepted}
    delivered = {r.idempotency_key for r in rows if r.status == "SENT"}
    assert delivered <= got
    assert {r.digest_key for r in rows if r.status == "DIGESTED"} <= got
    assert {r.idempotency_key for r in rows} == keys
    # No flood: after recovery no 1 s window held more than the limit of 40 messages.
    times = sorted(r.at for r in accepted if r.at >= recovered_at)
    for i, t in enumerate(times):
        assert sum(1 for u in times[i:] if u < t + 1.0) <= 40


def test_notifier_rejects_bad_arguments(store: Store) -> None:
    with pytest.raises(ValueError, match="names must be unique"):
        Notifier(store, [WebhookChannel("http://127.0.0.1:9/a"), WebhookChannel("http://127.0.0.1:9/b")])
    n = Notifier(store, [WebhookChannel("http://127.0.0.1:9/a")])
    with pytest.raises(ValueError, match="severity"):
        n.notify("alert", "x", severity="LOUD")
    with pytest.raises(ValueError, match="channels: unknown"):
        n.notify("alert", "x", channels=["pager"])
    with pytest.raises(ValueError, match="title"):
        n.notify("alert", "")
    with pytest.raises(ValueError, match="batch_size"):
        Notifier(store, [], batch_size=0)
    assert store.outbox.rows() == []  # nothing half-written


def test_the_outbox_survives_a_restart_and_delivery_resumes(tmp_path: Path, http_receiver: Any) -> None:
    url = f"sqlite:///{tmp_path / 'resume.db'}"
    first = Store(url)
    n1 = Notifier(first, [WebhookChannel(http_receiver.url + "/hook")])
    keys = {n1.notify("alert", f"a{i}").idempotency_key for i in range(5)}
    # Leased by a pass that never finished (as after a crash mid-send):
    first.outbox.claim("webhook", datetime.now(UTC), 5, lease_s=3600)
    first.close()
    second = Store(url)
    with Notifier(second, [WebhookChannel(http_receiver.url + "/hook")], poll_interval_s=0.05) as n2:
        assert n2.wait_idle(10.0)
    assert set(http_receiver.idempotency_keys()) == keys
    second.close()


def test_severity_enum_and_text_are_accepted(store: Store, http_receiver: Any, clock: FakeClock) -> None:
    n = Notifier(store, [WebhookChannel(http_receiver.url + "/hook")], clock=clock)
    n.notify("alert", "x", severity=Severity.CRITICAL)
    n.notify("alert", "y", severity="warning")
    n.deliver_once()
    assert [r.json["severity"] for r in http_receiver.accepted()] == ["CRITICAL", "WARNING"]
