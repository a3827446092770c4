"""Notifications configured from the environment (docs/semantics.md, Settings) and delivered end to end to
every channel, and several notifier workers sharing one PostgreSQL outbox."""

from __future__ import annotations

import threading
import uuid
from collections import Counter
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import psycopg
import pytest

from montalaq.notify import Notifier, WebhookChannel, channels_from_settings, notifier_from_settings
from montalaq.settings import Settings
from montalaq.store import Store

PG_ADMIN = "postgresql://postgres@127.0.0.1:5432/postgres"


def _env(http: Any, smtp: Any, tmp_path: Path) -> dict[str, str]:
    return {
        "DATABASE_URL": f"sqlite:///{tmp_path / 'settings.db'}",
        "NOTIFY_EMAIL_ENABLED": "true",
        "NOTIFY_EMAIL_SMTP_HOST": "127.0.0.1",
        "NOTIFY_EMAIL_SMTP_PORT": str(smtp.port),
        "NOTIFY_EMAIL_FROM": "montalaq@desk.example",
        "NOTIFY_EMAIL_TO": "ops@desk.example, quant@desk.example",
        "NOTIFY_WEBHOOK_ENABLED": "1",
        "NOTIFY_WEBHOOK_URL": f"{http.url}/hook",
        "NOTIFY_SLACK_ENABLED": "yes",
        "NOTIFY_SLACK_WEBHOOK_URL": f"{http.url}/services/T0/B0/slacksecret",
        "NOTIFY_TELEGRAM_ENABLED": "true",
        "NOTIFY_TELEGRAM_BOT_TOKEN": "42:telegramsecret",
        "NOTIFY_TELEGRAM_CHAT_ID": "-1001",
        "NOTIFY_TELEGRAM_API_BASE": http.url,
        "NOTIFY_DISCORD_ENABLED": "true",
        "NOTIFY_DISCORD_WEBHOOK_URL": f"{http.url}/api/webhooks/1/discordsecret",
        "NOTIFY_RATE_LIMIT_PER_MIN": "120",
    }


def test_channels_enabled_in_the_environment_each_receive_the_event(
    http_receiver: Any, smtp_receiver: Any, tmp_path: Path
) -> None:
    settings = Settings.from_env(_env(http_receiver, smtp_receiver, tmp_path))
    assert [c.name for c in channels_from_settings(settings)] == [
        "email",
        "webhook",
        "slack",
        "telegram",
        "discord",
    ]
    store = Store(settings.database_url_value)
    with notifier_from_settings(settings, store, poll_interval_s=0.05) as notifier:
        key = notifier.notify(
            "alert", "Feed stale", "SPY 1m", severity="WARNING", error_code="INGESTION_TIMEOUT"
        )
        assert smtp_receiver.wait_for(1, 10.0)
        assert http_receiver.wait_for(4, 10.0)
        assert notifier.wait_idle(10.0)
    paths = sorted(r.path for r in http_receiver.accepted())
    assert paths == [
        "/api/webhooks/1/discordsecret",
        "/bot42:telegramsecret/sendMessage",
        "/hook",
        "/services/T0/B0/slacksecret",
    ]
    assert {r.headers["idempotency-key"] for r in http_receiver.accepted()} == {key.idempotency_key}
    mail = smtp_receiver.mails[0]
    assert sorted(mail.rcpt_tos) == ["ops@desk.example", "quant@desk.example"]
    assert "Feed stale" in mail.message["Subject"]
    assert notifier.rate_limiter.limit == 120
    assert store.outbox.counts()["SENT"] == 5
    store.close()


def test_dry_run_from_the_environment_sends_nothing(
    http_receiver: Any, smtp_receiver: Any, tmp_path: Path
) -> None:
    settings = Settings.from_env({**_env(http_receiver, smtp_receiver, tmp_path), "NOTIFY_DRY_RUN": "true"})
    store = Store(settings.database_url_value)
    notifier = notifier_from_settings(settings, store)
    notifier.notify("alert", "not really")
    notifier.deliver_once()
    assert http_receiver.requests == []
    assert smtp_receiver.mails == []
    assert store.outbox.counts()["DRY_RUN"] == 5
    store.close()


@pytest.fixture
def pg_url() -> Iterator[str]:
    name = f"montalaq_test_notify_{uuid.uuid4().hex[:10]}"
    with psycopg.connect(PG_ADMIN, autocommit=True) as conn:
        conn.execute(f'CREATE DATABASE "{name}"')
    yield f"postgresql://postgres@127.0.0.1:5432/{name}"
    with psycopg.connect(PG_ADMIN, autocommit=True) as conn:
        conn.execute(
            "SELECT pg_terminate_backend(pid) FROM pg_stat_activity"
            " WHERE datname = %s AND pid <> pg_backend_pid()",
            (name,),
        )
        conn.execute(f'DROP DATABASE IF EXISTS "{name}"')


def test_two_workers_share_one_postgresql_outbox_without_sending_a_row_twice(
    http_receiver: Any, pg_url: str
) -> None:
    producer = Store(pg_url)
    n = Notifier(producer, [WebhookChannel(http_receiver.url + "/hook")])
    keys = {n.notify("alert", f"e{i}").idempotency_key for i in range(400)}
    stores = [Store(pg_url), Store(pg_url)]
    workers = [
        Notifier(
            s, [WebhookChannel(http_receiver.url + "/hook")], rate_limit_per_min=1_000_000, batch_size=25
        )
        for s in stores
    ]
    passes: Counter[int] = Counter()

    def drain(i: int) -> None:
        while workers[i].deliver_once():
            passes[i] += 1

    threads = [threading.Thread(target=drain, args=(i,)) for i in range(2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(60)
    got = http_receiver.idempotency_keys()
    assert sorted(got) == sorted(keys)  # every event once: SKIP LOCKED claims never overlap
    assert passes[0] > 0
    assert passes[1] > 0
    assert producer.outbox.counts()["SENT"] == 400
    for s in [producer, *stores]:
        s.close()


def test_alert_webhook_url_is_the_slack_webhook_and_slack_analysis_only_routes_analyses(
    http_receiver: Any, tmp_path: Path
) -> None:
    """ALERT_WEBHOOK_URL alone turns Slack on at that URL; with SLACK_ANALYSIS_ONLY Slack
    receives the analyses (``signal``, ``analysis``) and nothing else, while the webhook
    channel still gets everything."""
    settings = Settings.from_env(
        {
            "DATABASE_URL": f"sqlite:///{tmp_path / 'route.db'}",
            "ALERT_WEBHOOK_URL": f"{http_receiver.url}/services/T0/B0/alertsecret",
            "SLACK_ANALYSIS_ONLY": "true",
            "NOTIFY_WEBHOOK_ENABLED": "true",
            "NOTIFY_WEBHOOK_URL": f"{http_receiver.url}/hook",
        }
    )
    assert [c.name for c in channels_from_settings(settings)] == ["webhook", "slack"]
    store = Store(settings.database_url_value)
    with notifier_from_settings(settings, store, poll_interval_s=0.05) as notifier:
        notifier.notify("escalation", "SPY 1m CRITICAL", severity="CRITICAL")
        notifier.notify("signal", "BUY SPY 5m (score 84)", severity="WARNING")
        notifier.notify("analysis", "LLM: BULLISH SPY", fields={"confidence": 0.9})
        assert http_receiver.wait_for(5, 10.0)
        assert notifier.wait_idle(10.0)
    by_path = Counter(r.path for r in http_receiver.accepted())
    assert by_path == {"/hook": 3, "/services/T0/B0/alertsecret": 2}
    slack_titles = sorted(
        r.json["blocks"][0]["text"]["text"]
        for r in http_receiver.accepted()
        if r.path.startswith("/services")
    )
    assert slack_titles == ["[INFO] LLM: BULLISH SPY", "[WARNING] BUY SPY 5m (score 84)"]
    store.close()


@pytest.mark.parametrize(("verbose", "with_fields"), [("true", True), ("false", False)])
def test_alert_verbose_adds_the_fields_block(
    http_receiver: Any, tmp_path: Path, verbose: str, with_fields: bool
) -> None:
    settings = Settings.from_env(
        {
            "DATABASE_URL": f"sqlite:///{tmp_path / 'verbose.db'}",
            "NOTIFY_SLACK_ENABLED": "true",
            "NOTIFY_SLACK_WEBHOOK_URL": f"{http_receiver.url}/services/T0/B0/s",
            "ALERT_VERBOSE": verbose,
        }
    )
    store = Store(settings.database_url_value)
    with notifier_from_settings(settings, store, poll_interval_s=0.05) as notifier:
        notifier.notify("signal", "BUY SPY 5m", text="composite 84", fields={"close": 168.04, "atr": 0.19})
        assert http_receiver.wait_for(1, 10.0)
        assert notifier.wait_idle(10.0)
    [req] = http_receiver.accepted()
    blocks = req.json["blocks"]
    field_blocks = [b for b in blocks if "fields" in b]
    assert bool(field_blocks) is with_fields
    assert blocks[1]["text"]["text"] == "composite 84"  # the text is there either way
    store.close()
