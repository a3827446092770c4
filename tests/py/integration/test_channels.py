"""Notification channels against real loopback servers (docs/semantics.md, Notifications; docs/semantics.md,
HTTP API).

Every channel sends to a real HTTP receiver or SMTP server on 127.0.0.1 and the test reads
what arrived on the wire: payload fields, headers, paths and query strings, the mail's
headers and envelope; how receiver answers map to permanent or transient ``DeliveryError``;
digests within each service's length limits; and that secrets never reach ``repr()``, an
error message or a log record (httpx's and httpcore's own loggers included).
"""

from __future__ import annotations

import dataclasses
import logging
import re
import socket
import ssl
import subprocess
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from email.utils import format_datetime
from pathlib import Path
from typing import Any

import pytest
from pydantic import SecretStr

from montalaq.notify.channels import (
    AppriseChannel,
    Channel,
    DiscordChannel,
    EmailChannel,
    SlackChannel,
    TelegramChannel,
    WebhookChannel,
)
from montalaq.notify.message import DeliveryError, DigestItem, Message, Severity
from receivers import LOOPBACK, HttpReceiver, SmtpReceiver, free_port

pytestmark = [
    # The AUTH tests run aiosmtpd without TLS on purpose (loopback only); it warns about that.
    pytest.mark.filterwarnings("ignore:Requiring AUTH while not requiring TLS:UserWarning"),
    # apprise imports the stdlib's imghdr, deprecated since Python 3.11; not ours to fix.
    pytest.mark.filterwarnings("ignore:'imghdr' is deprecated:DeprecationWarning"),
]

CREATED = datetime(2024, 8, 9, 12, 30, 5, tzinfo=UTC)

SLACK_TOKEN = "xoxSlackSecretToken0123456789"
SLACK_PATH = f"/services/T0TEST01/B0TEST02/{SLACK_TOKEN}"
DISCORD_TOKEN = "DiscordSecretToken_abcdefghij0123"
DISCORD_PATH = f"/api/webhooks/112233445566778899/{DISCORD_TOKEN}"
TELEGRAM_TOKEN = "123456789:TelegramSecretToken-AbCdEf_0123"
WEBHOOK_QUERY_SECRET = "WebhookQuerySecret0123"
SMTP_PASSWORD = "smtp-Secret-Pa55word!"

FROM_ADDR = "montalaq@example.com"
TO_ADDRS = ["ops@example.com", "oncall@example.com"]


def event(**overrides: Any) -> Message:
    """A typical single-event message (every optional part set)."""
    values: dict[str, Any] = {
        "idempotency_key": "evt-0001",
        "kind": "alert",
        "title": "Feed stale: SPY 1m",
        "text": "No trade for 180 s",
        "severity": Severity.WARNING,
        "fields": {"symbol": "SPY", "timeframe": "1m"},
        "error_code": "E_FEED_STALE",
        "correlation_id": "corr-42",
        "created_at": CREATED,
    }
    values.update(overrides)
    return Message(**values)


def digest(n: int, title: str = "Feed stale") -> Message:
    """A digest folding ``n`` events."""
    items = tuple(
        DigestItem(f"evt-{i:04d}", "alert", f"{title} #{i}", "WARNING", CREATED + timedelta(seconds=i))
        for i in range(n)
    )
    return Message(
        idempotency_key="digest-0001",
        kind="digest",
        title=f"{n} notifications folded",
        text="Folded during a burst",
        severity=Severity.WARNING,
        items=items,
        correlation_id="corr-42",
        created_at=CREATED,
    )


def listed_items(text: str) -> int:
    """How many digest item lines ("- <ts> [SEV] title (key)") a rendered text holds."""
    return len(re.findall(r"^- \d{4}-\d\d-\d\dT", text, flags=re.MULTILINE))


def utf16_len(text: str) -> int:
    return len(text.encode("utf-16-le")) // 2


def send_error(channel: Channel, message: Message | None = None) -> DeliveryError:
    """The DeliveryError ``channel.send`` raises (fails the test when it does not raise)."""
    with pytest.raises(DeliveryError) as info:
        channel.send(message or event())
    return info.value


# ---------------------------------------------------------------------------- fixtures


@dataclass(frozen=True)
class HttpKind:
    """How to build one HTTP channel against a receiver, and what counts as its secret."""

    name: str
    build: Callable[[str], Channel]
    ok_body: Any
    secrets: tuple[str, ...]


HTTP_KINDS = {
    "webhook": HttpKind(
        "webhook",
        lambda base: WebhookChannel(f"{base}/hook?token={WEBHOOK_QUERY_SECRET}", timeout_s=5),
        b"",
        (WEBHOOK_QUERY_SECRET,),
    ),
    "slack": HttpKind(
        "slack", lambda base: SlackChannel(base + SLACK_PATH, timeout_s=5), "ok", (SLACK_TOKEN,)
    ),
    "telegram": HttpKind(
        "telegram",
        lambda base: TelegramChannel(TELEGRAM_TOKEN, -1001234, api_base=base, timeout_s=5),
        {"ok": True, "result": {"message_id": 1}},
        (TELEGRAM_TOKEN, TELEGRAM_TOKEN.split(":")[1]),
    ),
    "discord": HttpKind(
        "discord",
        lambda base: DiscordChannel(base + DISCORD_PATH, timeout_s=5),
        {"id": "1"},
        (DISCORD_TOKEN,),
    ),
}


@pytest.fixture(params=sorted(HTTP_KINDS))
def http_kind(request: pytest.FixtureRequest) -> HttpKind:
    """Each HTTP channel kind in turn."""
    kind: HttpKind = HTTP_KINDS[request.param]
    return kind


@pytest.fixture
def http_channel(http_kind: HttpKind, http_receiver: HttpReceiver) -> Iterator[Channel]:
    """The ``http_kind`` channel pointed at the loopback receiver (closed after the test)."""
    http_receiver.set_response(200, http_kind.ok_body)
    channel = http_kind.build(http_receiver.url)
    yield channel
    channel.close()


@dataclass(frozen=True)
class TlsPair:
    """A self-signed certificate for 127.0.0.1: a server context and a client trusting it."""

    server: ssl.SSLContext
    client: ssl.SSLContext


@pytest.fixture(scope="session")
def tls_pair(tmp_path_factory: pytest.TempPathFactory) -> TlsPair:
    """Made with the ``openssl`` CLI (the test fails, never skips, when it is missing)."""
    folder: Path = tmp_path_factory.mktemp("tls")
    cert, key = folder / "cert.pem", folder / "key.pem"
    subprocess.run(
        [
            "openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "1",
            "-keyout", str(key), "-out", str(cert),
            "-subj", "/CN=127.0.0.1", "-addext", "subjectAltName=IP:127.0.0.1",
        ],
        check=True,
        capture_output=True,
    )  # fmt: skip
    server = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    server.load_cert_chain(cert, key)
    client = ssl.create_default_context(cafile=str(cert))
    return TlsPair(server, client)


def email_channel(receiver: SmtpReceiver, **overrides: Any) -> EmailChannel:
    values: dict[str, Any] = {"from_addr": FROM_ADDR, "to_addrs": TO_ADDRS, "timeout_s": 5}
    values.update(overrides)
    return EmailChannel(receiver.host, receiver.port, **values)


# ---------------------------------------------------------------------------- generic webhook


def test_webhook_posts_the_message_payload_as_json(http_receiver: HttpReceiver) -> None:
    with WebhookChannel(f"{http_receiver.url}/hooks/montalaq") as channel:
        channel.send(event())

    (req,) = http_receiver.requests
    assert (req.method, req.path) == ("POST", "/hooks/montalaq")
    assert req.headers["content-type"] == "application/json"
    assert req.json == {
        "idempotency_key": "evt-0001",
        "kind": "alert",
        "severity": "WARNING",
        "title": "Feed stale: SPY 1m",
        "text": "No trade for 180 s",
        "fields": {"symbol": "SPY", "timeframe": "1m"},
        "error_code": "E_FEED_STALE",
        "correlation_id": "corr-42",
        "created_at": "2024-08-09T12:30:05Z",
    }


def test_webhook_sends_the_idempotency_key_header(http_receiver: HttpReceiver) -> None:
    with WebhookChannel(f"{http_receiver.url}/hook") as channel:
        channel.send(event(idempotency_key="evt-a"))
        channel.send(event(idempotency_key="evt-b"))

    assert http_receiver.idempotency_keys() == ["evt-a", "evt-b"]


def test_webhook_sends_configured_headers_and_keeps_the_query(http_receiver: HttpReceiver) -> None:
    url = f"{http_receiver.url}/hook?tenant=desk-1"
    with WebhookChannel(url, headers={"Authorization": "Bearer s3cr3t", "X-Env": "prod"}) as channel:
        channel.send(event())

    (req,) = http_receiver.requests
    assert req.headers["authorization"] == "Bearer s3cr3t"
    assert req.headers["x-env"] == "prod"
    assert req.query == {"tenant": "desk-1"}


def test_webhook_user_info_is_sent_as_basic_auth(http_receiver: HttpReceiver) -> None:
    url = http_receiver.url.replace("http://", "http://alerts:pa55@") + "/hook"
    with WebhookChannel(url) as channel:
        channel.send(event())

    (req,) = http_receiver.requests
    assert req.headers["authorization"] == "Basic YWxlcnRzOnBhNTU="  # alerts:pa55


def test_webhook_digest_payload_has_count_and_every_item(http_receiver: HttpReceiver) -> None:
    with WebhookChannel(f"{http_receiver.url}/hook") as channel:
        channel.send(digest(3))

    (req,) = http_receiver.requests
    assert req.json["count"] == 3
    assert [i["idempotency_key"] for i in req.json["items"]] == ["evt-0000", "evt-0001", "evt-0002"]
    assert req.json["items"][2]["created_at"] == "2024-08-09T12:30:07Z"


def test_webhook_sends_non_finite_field_values_as_null(http_receiver: HttpReceiver) -> None:
    with WebhookChannel(f"{http_receiver.url}/hook") as channel:
        channel.send(event(fields={"score": float("nan"), "limit": float("inf"), "price": 1.5}))

    (req,) = http_receiver.requests
    assert b"NaN" not in req.body
    assert b"Infinity" not in req.body
    assert req.json["fields"] == {"score": None, "limit": None, "price": 1.5}


def test_http_channel_reuses_one_keep_alive_connection(http_receiver: HttpReceiver) -> None:
    with WebhookChannel(f"{http_receiver.url}/hook") as channel:
        for i in range(20):
            channel.send(event(idempotency_key=f"evt-{i}"))

    assert len(http_receiver.accepted()) == 20
    assert http_receiver.connections_opened == 1


# ---------------------------------------------------------------------------- status mapping


def test_http_500_is_transient_with_status(http_channel: Channel, http_receiver: HttpReceiver) -> None:
    http_receiver.set_response(500, b"internal error")

    err = send_error(http_channel)

    assert err.permanent is False
    assert err.status == 500


@pytest.mark.parametrize("status", [400, 404])
def test_http_4xx_other_than_429_is_permanent(
    http_channel: Channel, http_receiver: HttpReceiver, status: int
) -> None:
    http_receiver.set_response(status, {"ok": False, "error_code": status, "description": "Bad Request"})

    err = send_error(http_channel)

    assert err.permanent is True
    assert err.status == status


def test_refused_connection_is_transient_without_status(
    http_channel: Channel, http_receiver: HttpReceiver
) -> None:
    http_receiver.refuse()

    err = send_error(http_channel)

    assert err.permanent is False
    assert err.status is None


def test_http_channel_delivers_again_once_the_receiver_is_back(
    http_channel: Channel, http_receiver: HttpReceiver
) -> None:
    http_channel.send(event(idempotency_key="before"))
    http_receiver.refuse()
    send_error(http_channel, event(idempotency_key="during"))
    http_receiver.accept()

    http_channel.send(event(idempotency_key="after"))

    assert [r.headers["idempotency-key"] for r in http_receiver.accepted()] == ["before", "after"]


def test_429_retry_after_seconds_sets_retry_after_s(http_receiver: HttpReceiver) -> None:
    http_receiver.set_response(429, b"slow down", {"Retry-After": "7"})
    with WebhookChannel(f"{http_receiver.url}/hook") as channel:
        err = send_error(channel)

    assert (err.permanent, err.status, err.retry_after_s) == (False, 429, 7.0)


def test_503_retry_after_http_date_sets_retry_after_s(http_receiver: HttpReceiver) -> None:
    when = format_datetime(datetime.now(UTC) + timedelta(seconds=120), usegmt=True)
    http_receiver.set_response(503, b"maintenance", {"Retry-After": when})
    with SlackChannel(http_receiver.url + SLACK_PATH) as channel:
        err = send_error(channel)

    assert err.status == 503
    assert err.permanent is False
    assert err.retry_after_s is not None
    assert 110.0 <= err.retry_after_s <= 120.0


def test_read_timeout_is_transient_without_status() -> None:
    # A listening socket that never accepts: the connection is queued, no answer ever comes.
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind((LOOPBACK, 0))
        sock.listen(1)
        port = sock.getsockname()[1]
        with WebhookChannel(f"http://{LOOPBACK}:{port}/hook", timeout_s=0.2) as channel:
            err = send_error(channel)

    assert err.permanent is False
    assert err.status is None
    assert "timed out" in str(err)


# ---------------------------------------------------------------------------- Slack


def test_slack_posts_text_and_blocks(http_receiver: HttpReceiver) -> None:
    http_receiver.set_response(200, "ok")
    with SlackChannel(http_receiver.url + SLACK_PATH) as channel:
        channel.send(event())

    (req,) = http_receiver.requests
    assert req.path == SLACK_PATH
    assert req.headers["idempotency-key"] == "evt-0001"
    doc = req.json
    assert doc["text"].startswith("[WARNING] Feed stale: SPY 1m\nNo trade for 180 s\n")
    assert "error_code: E_FEED_STALE" in doc["text"]
    header, text, fields, context = doc["blocks"]
    assert header == {
        "type": "header",
        "text": {"type": "plain_text", "text": "[WARNING] Feed stale: SPY 1m", "emoji": True},
    }
    assert text == {"type": "section", "text": {"type": "mrkdwn", "text": "No trade for 180 s"}}
    assert fields == {
        "type": "section",
        "fields": [
            {"type": "mrkdwn", "text": "*symbol*\nSPY"},
            {"type": "mrkdwn", "text": "*timeframe*\n1m"},
        ],
    }
    assert context["type"] == "context"
    assert [e["text"] for e in context["elements"]] == [
        "id: `evt-0001`",
        "error_code: `E_FEED_STALE`",
        "correlation_id: `corr-42`",
    ]


def test_slack_escapes_mrkdwn_so_text_cannot_mention_everyone(http_receiver: HttpReceiver) -> None:
    with SlackChannel(http_receiver.url + SLACK_PATH) as channel:
        channel.send(event(title="<!channel> feed & broker down", text="see <https://evil|here>"))

    doc = http_receiver.requests[0].json
    assert doc["text"].startswith("[WARNING] &lt;!channel&gt; feed &amp; broker down\nsee &lt;https://evil|")
    assert doc["blocks"][1]["text"] == {"type": "mrkdwn", "text": "see &lt;https://evil|here&gt;"}
    # plain_text objects are never parsed for mentions or links: the header keeps the title as is
    assert doc["blocks"][0]["text"]["type"] == "plain_text"
    assert doc["blocks"][0]["text"]["text"] == "[WARNING] <!channel> feed & broker down"


def test_slack_digest_of_500_stays_within_block_and_text_limits(http_receiver: HttpReceiver) -> None:
    with SlackChannel(http_receiver.url + SLACK_PATH) as channel:
        channel.send(digest(500))

    doc = http_receiver.requests[0].json
    assert len(doc["text"]) <= 40_000
    assert len(doc["blocks"]) <= 50
    sections = [b["text"]["text"] for b in doc["blocks"] if b["type"] == "section" and "text" in b]
    assert all(len(s) <= 3000 for s in sections)
    listing = sections[-1]
    shown = listed_items(listing)
    assert 0 < shown <= channel.max_digest_items
    assert listing.startswith("500 events:")
    assert listing.endswith(f"... and {500 - shown} more")
    assert "500 events:" in doc["text"]
    assert f"... and {500 - listed_items(doc['text'])} more" in doc["text"]


# ---------------------------------------------------------------------------- Telegram


def test_telegram_posts_send_message_to_the_bot_token_path(http_receiver: HttpReceiver) -> None:
    http_receiver.set_response(200, {"ok": True, "result": {"message_id": 7}})
    with TelegramChannel(TELEGRAM_TOKEN, -1001234, api_base=http_receiver.url) as channel:
        channel.send(event())

    (req,) = http_receiver.requests
    assert req.path == f"/bot{TELEGRAM_TOKEN}/sendMessage"
    assert req.json["chat_id"] == -1001234
    assert req.json["disable_web_page_preview"] is True
    assert "parse_mode" not in req.json
    assert req.json["text"] == (
        "[WARNING] Feed stale: SPY 1m\nNo trade for 180 s\nsymbol: SPY\ntimeframe: 1m\n"
        "error_code: E_FEED_STALE\ncorrelation_id: corr-42\nid: evt-0001"
    )


def test_telegram_api_base_may_have_a_path_prefix(http_receiver: HttpReceiver) -> None:
    http_receiver.set_response(200, {"ok": True})
    with TelegramChannel(TELEGRAM_TOKEN, "@alerts", api_base=f"{http_receiver.url}/tg/") as channel:
        channel.send(event())

    (req,) = http_receiver.requests
    assert req.path == f"/tg/bot{TELEGRAM_TOKEN}/sendMessage"
    assert req.json["chat_id"] == "@alerts"


def test_telegram_flood_answer_sets_retry_after_from_the_json(http_receiver: HttpReceiver) -> None:
    http_receiver.set_response(
        429,
        {
            "ok": False,
            "error_code": 429,
            "description": "Too Many Requests: retry after 17",
            "parameters": {"retry_after": 17},
        },
    )
    with TelegramChannel(TELEGRAM_TOKEN, 1, api_base=http_receiver.url) as channel:
        err = send_error(channel)

    assert (err.permanent, err.status, err.retry_after_s) == (False, 429, 17.0)
    assert "Too Many Requests" in str(err)


def test_telegram_ok_false_in_a_200_answer_is_an_error(http_receiver: HttpReceiver) -> None:
    http_receiver.set_response(
        200, {"ok": False, "error_code": 400, "description": "Bad Request: chat not found"}
    )
    with TelegramChannel(TELEGRAM_TOKEN, 1, api_base=http_receiver.url) as channel:
        err = send_error(channel)

    assert (err.permanent, err.status) == (True, 400)
    assert "chat not found" in str(err)


def test_telegram_digest_of_500_fits_4096_and_says_how_many_more(http_receiver: HttpReceiver) -> None:
    http_receiver.set_response(200, {"ok": True})
    with TelegramChannel(TELEGRAM_TOKEN, 1, api_base=http_receiver.url) as channel:
        channel.send(digest(500))

    text = http_receiver.requests[0].json["text"]
    shown = listed_items(text)
    assert utf16_len(text) <= 4096
    assert 0 < shown <= 40
    assert "500 events:" in text
    assert f"... and {500 - shown} more" in text
    assert text.endswith("id: digest-0001")


def test_telegram_digest_with_a_long_text_keeps_count_and_id(http_receiver: HttpReceiver) -> None:
    # Regression: Message.plain_text cut a text over max_chars at its end, so a digest with a
    # long text lost "N events", "... and N more" and the id line.
    http_receiver.set_response(200, {"ok": True})
    long_digest = dataclasses.replace(digest(500), text="x" * 10_000)
    with TelegramChannel(TELEGRAM_TOKEN, 1, api_base=http_receiver.url) as channel:
        channel.send(long_digest)

    text = http_receiver.requests[0].json["text"]
    assert len(text) <= 4096
    assert "500 events:" in text
    assert f"... and {500 - listed_items(text)} more" in text
    assert text.endswith("correlation_id: corr-42\nid: digest-0001")


def test_telegram_counts_the_limit_in_utf16_units(http_receiver: HttpReceiver) -> None:
    http_receiver.set_response(200, {"ok": True})
    with TelegramChannel(TELEGRAM_TOKEN, 1, api_base=http_receiver.url) as channel:
        channel.send(event(text="\N{POLICE CARS REVOLVING LIGHT}" * 3000))  # 2 UTF-16 units each

    text = http_receiver.requests[0].json["text"]
    assert 4000 <= utf16_len(text) <= 4096


# ---------------------------------------------------------------------------- Discord


def test_discord_posts_with_wait_true_content_and_one_embed(http_receiver: HttpReceiver) -> None:
    http_receiver.set_response(200, {"id": "1"})
    with DiscordChannel(http_receiver.url + DISCORD_PATH) as channel:
        channel.send(event(severity=Severity.CRITICAL))

    (req,) = http_receiver.requests
    assert req.path == DISCORD_PATH
    assert req.query == {"wait": "true"}
    assert req.headers["idempotency-key"] == "evt-0001"
    doc = req.json
    assert doc["content"] == "[CRITICAL] Feed stale: SPY 1m"
    assert doc["allowed_mentions"] == {"parse": []}
    (embed,) = doc["embeds"]
    assert embed["title"] == "Feed stale: SPY 1m"
    assert embed["description"] == "No trade for 180 s"
    assert embed["fields"] == [
        {"name": "error_code", "value": "E_FEED_STALE", "inline": True},
        {"name": "symbol", "value": "SPY", "inline": True},
        {"name": "timeframe", "value": "1m", "inline": True},
    ]
    assert embed["footer"] == {"text": "id evt-0001 · correlation_id corr-42"}
    assert embed["timestamp"] == "2024-08-09T12:30:05Z"
    assert embed["color"] == 0xE74C3C


def test_discord_keeps_the_webhook_urls_own_query(http_receiver: HttpReceiver) -> None:
    with DiscordChannel(f"{http_receiver.url}{DISCORD_PATH}?thread_id=998877") as channel:
        channel.send(event())

    assert http_receiver.requests[0].query == {"thread_id": "998877", "wait": "true"}


def test_discord_rate_limit_json_retry_after_is_a_float(http_receiver: HttpReceiver) -> None:
    http_receiver.set_response(
        429,
        {"message": "You are being rate limited.", "retry_after": 0.25, "global": False},
        {"Retry-After": "1"},
    )
    with DiscordChannel(http_receiver.url + DISCORD_PATH) as channel:
        err = send_error(channel)

    assert (err.permanent, err.status, err.retry_after_s) == (False, 429, 0.25)
    assert "rate limited" in str(err)


def test_discord_digest_of_500_stays_within_limits_and_says_how_many_more(
    http_receiver: HttpReceiver,
) -> None:
    with DiscordChannel(http_receiver.url + DISCORD_PATH) as channel:
        channel.send(digest(500))

    doc = http_receiver.requests[0].json
    (embed,) = doc["embeds"]
    description = embed["description"]
    shown = listed_items(description)
    assert len(doc["content"]) <= 2000
    assert doc["content"] == "[WARNING] 500 notifications folded (500 events)"
    assert len(description) <= 4096
    assert 0 < shown <= 20
    assert description.startswith("Folded during a burst\n\n500 events:")
    assert description.endswith(f"... and {500 - shown} more")


def test_discord_embed_keeps_25_fields_and_6000_characters_at_most(http_receiver: HttpReceiver) -> None:
    fields = {f"field-{i:02d}-" + "k" * 300: "v" * 2000 for i in range(60)}
    with DiscordChannel(http_receiver.url + DISCORD_PATH) as channel:
        channel.send(event(title="T" * 400, text="x" * 10_000, fields=fields))

    (embed,) = http_receiver.requests[0].json["embeds"]
    total = len(embed["title"]) + len(embed["description"]) + len(embed["footer"]["text"])
    total += sum(len(f["name"]) + len(f["value"]) for f in embed["fields"])
    assert total <= 6000
    assert 0 < len(embed["fields"]) <= 25
    assert len(embed["title"]) <= 256
    assert all(len(f["name"]) <= 256 and len(f["value"]) <= 1024 for f in embed["fields"])
    assert len(embed["description"]) >= 1000


# ---------------------------------------------------------------------------- email


def test_email_subject_body_headers_and_envelope(smtp_receiver: SmtpReceiver) -> None:
    email_channel(smtp_receiver).send(event())

    assert smtp_receiver.wait_for(1, timeout_s=5)
    (mail,) = smtp_receiver.mails
    assert mail.mail_from == FROM_ADDR
    assert mail.rcpt_tos == tuple(TO_ADDRS)
    msg = mail.message
    assert msg["Subject"] == "[WARNING] Feed stale: SPY 1m"
    assert msg["From"] == FROM_ADDR
    assert msg["To"] == ", ".join(TO_ADDRS)
    assert msg["Message-ID"] == "<evt-0001@montalaq>"
    assert msg["X-Montalaq-Idempotency-Key"] == "evt-0001"
    assert msg["X-Montalaq-Correlation-Id"] == "corr-42"
    assert msg["X-Montalaq-Error-Code"] == "E_FEED_STALE"
    assert msg["Date"].datetime == CREATED
    body = msg.get_content()
    assert body.rstrip("\n") == event().plain_text()


def test_email_leaves_out_error_code_header_when_there_is_none(smtp_receiver: SmtpReceiver) -> None:
    email_channel(smtp_receiver).send(event(error_code=None))

    assert smtp_receiver.wait_for(1, timeout_s=5)
    assert "X-Montalaq-Error-Code" not in smtp_receiver.mails[0].message


def test_email_message_id_is_a_valid_msg_id_for_any_key(smtp_receiver: SmtpReceiver) -> None:
    channel = email_channel(smtp_receiver)
    channel.send(event(idempotency_key="sig:BTC/USDT 1m..bar"))
    channel.send(event(idempotency_key="sig:BTC/USDT_1m..bar"))

    assert smtp_receiver.wait_for(2, timeout_s=5)
    ids = [m.message["Message-ID"] for m in smtp_receiver.mails]
    atext = r"[A-Za-z0-9!#$%&'*+/=?^_`{|}~-]+"
    assert all(re.fullmatch(rf"<{atext}@montalaq>", i) for i in ids), ids
    assert ids[0] != ids[1]


def test_email_digest_lists_up_to_1000_items_then_how_many_more(smtp_receiver: SmtpReceiver) -> None:
    email_channel(smtp_receiver).send(digest(1200))

    assert smtp_receiver.wait_for(1, timeout_s=5)
    body = smtp_receiver.mails[0].message.get_content()
    assert "1200 events:" in body
    assert listed_items(body) == 1000
    assert "... and 200 more" in body


def test_email_recipient_refused_with_550_is_permanent() -> None:
    with SmtpReceiver(reject_rcpt={"gone@example.com": "550 5.1.1 No such user"}) as server:
        err = send_error(email_channel(server, to_addrs=["gone@example.com"]))

    assert err.permanent is True
    assert "gone@example.com" in str(err)
    assert "550" in str(err)
    assert server.mails == []


def test_email_recipient_refused_with_450_is_transient() -> None:
    with SmtpReceiver(reject_rcpt={"busy@example.com": "450 4.2.1 Mailbox busy"}) as server:
        err = send_error(email_channel(server, to_addrs=["busy@example.com"]))

    assert err.permanent is False


def test_email_partly_refused_is_delivered_to_the_rest_and_warns(caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.WARNING, logger="montalaq.notify")
    with SmtpReceiver(reject_rcpt={"gone@example.com": "550 5.1.1 No such user"}) as server:
        email_channel(server, to_addrs=["ops@example.com", "gone@example.com"]).send(event())
        assert server.wait_for(1, timeout_s=5)

    assert server.mails[0].rcpt_tos == ("ops@example.com",)
    warnings = [r for r in caplog.records if r.levelno == logging.WARNING and r.name.startswith("montalaq")]
    assert len(warnings) == 1
    assert "gone@example.com" in warnings[0].getMessage()


def test_email_server_down_is_transient() -> None:
    channel = EmailChannel(LOOPBACK, free_port(), from_addr=FROM_ADDR, to_addrs=TO_ADDRS, timeout_s=2)

    err = send_error(channel)

    assert err.permanent is False


def test_email_logs_in_with_username_and_password() -> None:
    with SmtpReceiver(users={"alerts": SMTP_PASSWORD}) as server:
        email_channel(server, username="alerts", password=SecretStr(SMTP_PASSWORD)).send(event())
        assert server.wait_for(1, timeout_s=5)

    assert server.mails[0].login == "alerts"


def test_email_wrong_password_is_permanent() -> None:
    with SmtpReceiver(users={"alerts": "the-right-one"}) as server:
        err = send_error(email_channel(server, username="alerts", password=SMTP_PASSWORD))

    assert err.permanent is True
    assert "535" in str(err)
    assert server.mails == []


def test_email_starttls_delivers_over_tls(tls_pair: TlsPair) -> None:
    with SmtpReceiver(tls_context=tls_pair.server) as server:
        email_channel(server, tls="starttls", ssl_context=tls_pair.client).send(event())
        assert server.wait_for(1, timeout_s=5)

    assert server.mails[0].tls is True


def test_email_ssl_mode_delivers_over_implicit_tls(tls_pair: TlsPair) -> None:
    with SmtpReceiver(implicit_tls_context=tls_pair.server) as server:
        email_channel(server, tls="ssl", ssl_context=tls_pair.client).send(event())
        assert server.wait_for(1, timeout_s=5)

    assert server.mails[0].tls is True


def test_email_starttls_against_a_server_without_it_is_permanent(smtp_receiver: SmtpReceiver) -> None:
    err = send_error(email_channel(smtp_receiver, tls="starttls"))

    assert err.permanent is True
    assert smtp_receiver.mails == []


# ---------------------------------------------------------------------------- secrets


def _log_text(records: list[logging.LogRecord]) -> str:
    """Everything a handler or formatter could print from these records."""
    return "\n".join(f"{r.name} {r.getMessage()} {r.__dict__!r}" for r in records)


def test_repr_shows_name_and_host_but_no_secret(http_kind: HttpKind, http_receiver: HttpReceiver) -> None:
    channel = http_kind.build(http_receiver.url)

    text = repr(channel)

    assert http_kind.name in text
    assert f"127.0.0.1:{http_receiver.port}" in text
    assert not [s for s in http_kind.secrets if s in text]
    channel.close()


def test_email_repr_hides_the_password(smtp_receiver: SmtpReceiver) -> None:
    channel = email_channel(smtp_receiver, username="alerts", password=SMTP_PASSWORD)

    assert SMTP_PASSWORD not in repr(channel)
    assert f"127.0.0.1:{smtp_receiver.port}" in repr(channel)


def test_secret_never_in_logs_of_a_successful_send(
    http_kind: HttpKind, http_channel: Channel, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)

    http_channel.send(event())

    assert any(r.name == "httpx" for r in caplog.records)  # httpx logged the request line...
    leaked = [s for s in http_kind.secrets if s in _log_text(caplog.records)]
    assert leaked == []  # ...without the secret


def test_secret_never_in_error_or_logs_when_the_server_echoes_it(
    http_kind: HttpKind,
    http_channel: Channel,
    http_receiver: HttpReceiver,
    caplog: pytest.LogCaptureFixture,
) -> None:
    echo = " ".join(http_kind.secrets)
    http_receiver.set_response(400, {"ok": False, "error_code": 400, "description": echo, "message": echo})
    caplog.set_level(logging.DEBUG)

    err = send_error(http_channel)

    assert "***" in str(err)  # the echoed body did reach the message, masked
    text = f"{err} {err!r} {_log_text(caplog.records)}"
    assert [s for s in http_kind.secrets if s in text] == []


def test_secret_never_in_error_or_logs_when_the_connection_is_refused(
    http_kind: HttpKind,
    http_channel: Channel,
    http_receiver: HttpReceiver,
    caplog: pytest.LogCaptureFixture,
) -> None:
    http_receiver.refuse()
    caplog.set_level(logging.DEBUG)

    err = send_error(http_channel)

    assert any(r.name.startswith("httpcore") for r in caplog.records)
    text = f"{err} {err!r} {_log_text(caplog.records)}"
    assert [s for s in http_kind.secrets if s in text] == []


def test_smtp_password_never_in_error_or_logs(caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.DEBUG)
    with SmtpReceiver(users={"alerts": "the-right-one"}) as server:
        err = send_error(email_channel(server, username="alerts", password=SecretStr(SMTP_PASSWORD)))

    text = f"{err} {err!r} {_log_text(caplog.records)}"
    assert SMTP_PASSWORD not in text


def test_secret_url_accepted_as_pydantic_secretstr(http_receiver: HttpReceiver) -> None:
    with SlackChannel(SecretStr(http_receiver.url + SLACK_PATH)) as channel:
        channel.send(event())

    assert http_receiver.requests[0].path == SLACK_PATH


def test_invalid_secret_url_error_does_not_echo_it() -> None:
    with pytest.raises(ValueError, match="webhook_url") as info:
        DiscordChannel(f"discord.com{DISCORD_PATH}")

    assert DISCORD_TOKEN not in str(info.value)


# ---------------------------------------------------------------------------- arguments


BAD_ARGUMENTS: list[tuple[str, Callable[[], object]]] = [
    ("url", lambda: WebhookChannel("")),
    ("url", lambda: WebhookChannel("ftp://example.com/hook")),
    ("webhook_url", lambda: SlackChannel("hooks.slack.com/services/T/B/X")),
    ("webhook_url", lambda: DiscordChannel("   ")),
    ("bot_token", lambda: TelegramChannel("", 1)),
    ("bot_token", lambda: TelegramChannel("12:ab/cd", 1)),
    ("chat_id", lambda: TelegramChannel("12:abcd", "")),
    ("api_base", lambda: TelegramChannel("12:abcd", 1, api_base="api.telegram.org")),
    ("timeout_s", lambda: WebhookChannel("http://example.com/hook", timeout_s=0)),
    ("timeout_s", lambda: SlackChannel("https://example.com/s", timeout_s=-1.0)),
    ("timeout_s", lambda: DiscordChannel("https://example.com/d", timeout_s=float("nan"))),
    ("host", lambda: EmailChannel("", from_addr=FROM_ADDR, to_addrs=TO_ADDRS)),
    ("port", lambda: EmailChannel("mx", 0, from_addr=FROM_ADDR, to_addrs=TO_ADDRS)),
    ("tls", lambda: EmailChannel("mx", from_addr=FROM_ADDR, to_addrs=TO_ADDRS, tls="tls")),  # type: ignore[arg-type]
    ("to_addrs", lambda: EmailChannel("mx", from_addr=FROM_ADDR, to_addrs=[])),
    ("to_addrs", lambda: EmailChannel("mx", from_addr=FROM_ADDR, to_addrs="ops@example.com")),
    ("to_addrs", lambda: EmailChannel("mx", from_addr=FROM_ADDR, to_addrs=["ops"])),
    ("from_addr", lambda: EmailChannel("mx", from_addr="montalaq", to_addrs=TO_ADDRS)),
    ("password", lambda: EmailChannel("mx", from_addr=FROM_ADDR, to_addrs=TO_ADDRS, username="u")),
    ("timeout_s", lambda: EmailChannel("mx", from_addr=FROM_ADDR, to_addrs=TO_ADDRS, timeout_s=0)),
    ("urls", lambda: AppriseChannel([])),
    ("name", lambda: WebhookChannel("http://example.com/hook", name="")),
]


@pytest.mark.parametrize(
    ("argument", "build"), BAD_ARGUMENTS, ids=[f"{a}-{i}" for i, (a, _) in enumerate(BAD_ARGUMENTS)]
)
def test_bad_argument_raises_value_error_naming_it(argument: str, build: Callable[[], object]) -> None:
    with pytest.raises(ValueError, match=rf"\b{argument}\b"):
        build()


def test_secret_of_the_wrong_type_is_a_type_error() -> None:
    with pytest.raises(TypeError, match="webhook_url"):
        SlackChannel(12345)  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("build", "name", "max_items"),
    [
        (lambda: WebhookChannel("http://example.com/hook"), "webhook", 1000),
        (lambda: SlackChannel("https://example.com/s"), "slack", 100),
        (lambda: TelegramChannel("12:abcd", 1), "telegram", 40),
        (lambda: DiscordChannel("https://example.com/d"), "discord", 20),
        (lambda: EmailChannel("mx", from_addr=FROM_ADDR, to_addrs=TO_ADDRS), "email", 1000),
        (lambda: AppriseChannel(["json://127.0.0.1:9/x"]), "apprise", 40),
    ],
    ids=["webhook", "slack", "telegram", "discord", "email", "apprise"],
)
def test_channel_is_a_channel_with_its_default_name_and_digest_size(
    build: Callable[[], Any], name: str, max_items: int
) -> None:
    channel = build()

    assert isinstance(channel, Channel)
    assert (channel.name, channel.max_digest_items) == (name, max_items)
    channel.close()


# ---------------------------------------------------------------------------- apprise


def test_apprise_json_url_posts_title_and_body(http_receiver: HttpReceiver) -> None:
    channel = AppriseChannel([f"json://{LOOPBACK}:{http_receiver.port}/apprise/in"])

    channel.send(event())

    (req,) = http_receiver.requests
    assert req.path == "/apprise/in"
    assert req.json["title"] == "[WARNING] Feed stale: SPY 1m"
    assert req.json["message"] == event().plain_text().split("\n", 1)[1]
    assert req.json["type"] == "warning"


def test_apprise_failed_notification_is_transient(http_receiver: HttpReceiver) -> None:
    http_receiver.set_response(500, b"down")
    channel = AppriseChannel([f"json://{LOOPBACK}:{http_receiver.port}/apprise/in"])

    err = send_error(channel)

    assert err.permanent is False
    assert len(http_receiver.requests) == 1


def test_apprise_unknown_url_is_rejected_without_echoing_it() -> None:
    with pytest.raises(ValueError, match=r"urls\[1\]") as info:
        AppriseChannel(["json://127.0.0.1:9/x", "nosuchscheme://Secret0123@host"])

    assert "Secret0123" not in str(info.value)
