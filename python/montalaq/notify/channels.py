"""Notification channels: email (SMTP), generic webhook, Slack, Telegram, Discord, apprise.

A channel renders one :class:`~montalaq.notify.message.Message` into its service's payload
and delivers it once. Retries, circuit breakers, rate limits, dedupe and the durable outbox
live in the notifier around the channels (docs/semantics.md, "Notifications"). ``send``
either returns (the receiver accepted the message) or raises
:class:`~montalaq.notify.message.DeliveryError`, whose ``permanent`` flag says whether
retrying can help:

- HTTP: 2xx is success; 429 and 5xx are transient (``status`` set, ``retry_after_s`` from
  ``Retry-After`` in seconds or as an HTTP-date, or from the body where the service puts it
  there); any other status is permanent; connection errors and timeouts are transient
  (``status`` is ``None``).
- SMTP: 5xx replies (recipient or sender refused, authentication failed, data rejected) and
  a missing server capability are permanent; 4xx replies, connection errors and timeouts are
  transient.

Secrets (Slack and Discord webhook URLs, the Telegram bot token, the SMTP password, the user
info and query string of a generic webhook URL, apprise URLs) never appear in ``repr()``, in
a ``DeliveryError`` message or in a log record. The HTTP channels hand httpx a *masked* URL
and a transport that swaps in the real URL only when the request is written to the socket,
so httpx's own ``HTTP Request: POST ...`` log lines, its exceptions and ``response.request``
only ever show the mask (``https://hooks.slack.com/***``). Secrets may be given as ``str`` or
``pydantic.SecretStr``.

Thread safety: a channel is meant to be driven by one worker thread at a time; ``close()``
is idempotent. The HTTP channels keep one ``httpx.Client`` (keep-alive) each and do not honour
the ``HTTP(S)_PROXY`` environment variables (the masking transport replaces httpx's own).
"""

from __future__ import annotations

import email.utils
import json
import logging
import math
import re
import smtplib
import ssl
from collections.abc import Callable, Iterable, Mapping, Sequence
from datetime import UTC, datetime
from email.message import EmailMessage
from types import TracebackType
from typing import Any, Final, Literal, Protocol, Self, runtime_checkable
from urllib.parse import quote

import httpx
from pydantic import SecretStr

from montalaq._optional import needs
from montalaq.notify.message import DeliveryError, DigestItem, Message, Severity, iso_z

_log = logging.getLogger("montalaq.notify.channels")

TlsMode = Literal["none", "starttls", "ssl"]
"""How :class:`EmailChannel` secures the SMTP connection."""

_TLS_MODES: Final = ("none", "starttls", "ssl")
_USER_AGENT: Final = "montalaq-notify"
_MASK: Final = "***"
_ERROR_BODY_CHARS: Final = 200

# Service limits (characters), from each service's API documentation.
SLACK_TEXT_MAX_CHARS: Final = 40_000
SLACK_HEADER_MAX_CHARS: Final = 150
SLACK_SECTION_MAX_CHARS: Final = 3_000
SLACK_FIELD_MAX_CHARS: Final = 2_000
SLACK_FIELDS_PER_SECTION: Final = 10
TELEGRAM_TEXT_MAX_CHARS: Final = 4_096
DISCORD_CONTENT_MAX_CHARS: Final = 2_000
DISCORD_TITLE_MAX_CHARS: Final = 256
DISCORD_DESCRIPTION_MAX_CHARS: Final = 4_096
DISCORD_FIELDS_MAX: Final = 25
DISCORD_FIELD_NAME_MAX_CHARS: Final = 256
DISCORD_FIELD_VALUE_MAX_CHARS: Final = 1_024
DISCORD_FOOTER_MAX_CHARS: Final = 2_048
DISCORD_EMBED_TOTAL_MAX_CHARS: Final = 6_000

_DISCORD_COLOURS: Final = {Severity.INFO: 0x3498DB, Severity.WARNING: 0xF1C40F, Severity.CRITICAL: 0xE74C3C}


@runtime_checkable
class Channel(Protocol):
    """Where notifications go: one delivery attempt per :meth:`send`.

    ``name`` is unique per notifier (it keys the channel's breaker, rate limit and outbox
    rows); ``max_digest_items`` is how many folded events one digest message may list before
    the rest are summarised as "... and N more".
    """

    name: str
    max_digest_items: int

    def send(self, message: Message) -> None:
        """Deliver ``message`` once; raise :class:`DeliveryError` when it was not accepted."""
        ...

    def close(self) -> None:
        """Release connections; the channel is not used afterwards."""
        ...


# ---------------------------------------------------------------------------- helpers


def _reveal(value: object, arg: str) -> str:
    """The text of a secret given as ``str`` or ``SecretStr`` (never echoed in errors)."""
    if isinstance(value, SecretStr):
        text = value.get_secret_value()
    elif isinstance(value, str):
        text = value
    else:
        raise TypeError(f"{arg} must be a str or pydantic.SecretStr, not {type(value).__name__}")
    text = text.strip()
    if not text:
        raise ValueError(f"{arg} must not be empty")
    return text


def _check_name(name: object) -> str:
    if not isinstance(name, str) or not name.strip():
        raise ValueError(f"name must be a non-empty str, got {name!r}")
    return name


def _check_timeout(timeout_s: object) -> float:
    if (
        isinstance(timeout_s, bool)
        or not isinstance(timeout_s, int | float)
        or not math.isfinite(timeout_s)
        or timeout_s <= 0
    ):
        raise ValueError(f"timeout_s must be a positive, finite number of seconds, got {timeout_s!r}")
    return float(timeout_s)


def _http_url(text: str, arg: str, *, secret: bool) -> httpx.URL:
    """``text`` parsed as an absolute http(s) URL; ``ValueError`` naming ``arg`` otherwise."""
    shown = "" if secret else f": {text!r}"
    try:
        url = httpx.URL(text)
    except (httpx.InvalidURL, TypeError, ValueError):
        raise ValueError(f"{arg} is not a valid URL{shown}") from None
    if url.scheme not in ("http", "https"):
        raise ValueError(f"{arg} must be an http:// or https:// URL, got scheme {url.scheme!r}")
    if not url.host:
        raise ValueError(f"{arg} must name a host{shown}")
    return url


def _origin(url: httpx.URL, path: str) -> httpx.URL:
    """``scheme://host[:port]`` of ``url`` with ``path``: no user info, no query."""
    return httpx.URL(scheme=url.scheme, host=url.host, port=url.port, path=path)


def _target(url: httpx.URL) -> str:
    """What ``repr`` shows of a URL: the host, and the port when it is not the default."""
    return url.host if url.port is None else f"{url.host}:{url.port}"


class _Scrubber:
    """Replaces every secret (and its percent-encoded forms) in a text with ``***``."""

    def __init__(self, secrets: Iterable[str]) -> None:
        variants: set[str] = set()
        for secret in secrets:
            if secret:
                variants.update({secret, quote(secret, safe=""), quote(secret, safe="/:")})
        # Longest first, so a URL is masked whole before its path is.
        self._secrets = sorted(variants, key=len, reverse=True)

    def __call__(self, text: str) -> str:
        for secret in self._secrets:
            text = text.replace(secret, _MASK)
        return text


def _url_secrets(raw: str, url: httpx.URL) -> list[str]:
    """The parts of a secret webhook URL that must be scrubbed from any text."""
    secrets = [raw, str(url), url.path, url.query.decode("ascii", "replace")]
    if url.password:
        secrets.append(url.password)
    # The last path segment is the token in Slack and Discord webhook URLs.
    last = url.path.rstrip("/").rsplit("/", 1)[-1]
    if len(last) >= 8:
        secrets.append(last)
    return [s for s in secrets if s and s != "/"]


# Printable ASCII except '%' (which escapes everything else).
_HEADER_SAFE: Final = "".join(chr(c) for c in range(0x21, 0x7F) if chr(c) != "%")


def _header_value(text: str) -> str:
    """``text`` made safe as an HTTP or mail header value (no CR/LF, ASCII only)."""
    return quote(text, safe=_HEADER_SAFE)


def _one_line(text: str) -> str:
    return " ".join(text.split())


def _utf16_len(text: str) -> int:
    """Length in UTF-16 code units, how Telegram counts its limits."""
    return len(text.encode("utf-16-le")) // 2


def _truncate(text: str, limit: int, measure: Callable[[str], int] = len) -> str:
    """``text`` cut to at most ``limit`` (by ``measure``), ending in "…" when cut."""
    if measure(text) <= limit:
        return text
    if limit <= 0:
        return ""
    cut = text[:limit]
    while cut and measure(cut) > limit - 1:
        cut = cut[:-1]
    return cut + "…"


def _fit(render: Callable[[int], str], limit: int, measure: Callable[[str], int] = len) -> str:
    """The longest ``render(budget)`` that measures at most ``limit``.

    ``render`` takes a budget in characters and returns at most that many, before any
    escaping it applies; escaping (Slack's ``&amp;``) and UTF-16 counting (Telegram) can make
    the result longer, so the budget shrinks by the overflow until it fits.
    """
    budget = limit
    text = render(budget)
    for _ in range(8):
        size = measure(text)
        if size <= limit:
            return text
        budget = max(1, budget - (size - limit))
        text = render(budget)
    return _truncate(text, limit, measure)


def _item_line(item: DigestItem) -> str:
    return f"- {iso_z(item.created_at)} [{item.severity}] {item.title} ({item.idempotency_key})"


def _digest_text(items: Sequence[DigestItem], max_chars: int, max_items: int) -> str:
    """ "N events:" then one line per item while they fit, then "... and K more"."""
    lines = [f"{len(items)} events:"]
    reserve = len(f"\n... and {len(items)} more")
    used = len(lines[0])
    shown = 0
    for item in items:
        line = _item_line(item)
        if shown >= max_items or used + 1 + len(line) + reserve > max_chars:
            break
        lines.append(line)
        used += 1 + len(line)
        shown += 1
    if shown < len(items):
        lines.append(f"... and {len(items) - shown} more")
    return _truncate("\n".join(lines), max_chars)


def _finite(value: Any) -> Any:
    """``value`` with every non-finite float replaced by ``None`` (JSON has no Infinity or NaN)."""
    if isinstance(value, float):
        return value if math.isfinite(value) else None
    if isinstance(value, Mapping):
        return {str(k): _finite(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_finite(v) for v in value]
    return value


def _json_bytes(doc: Mapping[str, Any]) -> bytes:
    """``doc`` as compact UTF-8 JSON; values JSON cannot hold are sent as their ``str``."""
    return json.dumps(_finite(doc), default=str, ensure_ascii=False, separators=(",", ":")).encode()


def parse_retry_after(value: str | None, *, now: datetime | None = None) -> float | None:
    """Seconds to wait from a ``Retry-After`` header value (delta-seconds or an HTTP-date).

    ``None`` when the value is missing or unreadable; an HTTP-date in the past gives ``0.0``.
    ``now`` (aware) is for tests; it defaults to the current time.
    """
    if value is None or not value.strip():
        return None
    text = value.strip()
    try:
        seconds = float(text)
    except ValueError:
        pass
    else:
        return seconds if math.isfinite(seconds) and seconds >= 0 else None
    try:
        when = email.utils.parsedate_to_datetime(text)
    except (TypeError, ValueError, IndexError):
        return None
    if when.tzinfo is None:  # "-0000" means UTC with unknown source zone
        when = when.replace(tzinfo=UTC)
    return max(0.0, (when - (now or datetime.now(UTC))).total_seconds())


def _body_retry_after(doc: Any, *path: str) -> float | None:
    """A non-negative number found at ``path`` in a decoded JSON body, else ``None``."""
    for key in path:
        if not isinstance(doc, Mapping):
            return None
        doc = doc.get(key)
    if isinstance(doc, bool) or not isinstance(doc, int | float):
        return None
    seconds = float(doc)
    return seconds if math.isfinite(seconds) and seconds >= 0 else None


def _extra(channel: str, message: Message, **more: Any) -> dict[str, Any]:
    """The structured ``extra`` fields of a channel's log records (never a secret)."""
    return {
        "component": "notify",
        "channel": channel,
        "idempotency_key": message.idempotency_key,
        "correlation_id": message.correlation_id,
        **more,
    }


def _json_or_none(response: httpx.Response) -> Any:
    try:
        return response.json()
    except ValueError:
        return None


# ---------------------------------------------------------------------------- HTTP channels


class _UnmaskingTransport(httpx.BaseTransport):
    """Sends each request to the real URL while everything above it sees the masked one.

    httpx logs ``request.url`` and attaches the request to its exceptions; the client only
    ever builds requests for the masked URL, and this transport swaps in the real URL (same
    scheme, host and port) just before the connection pool writes it. Every request goes to
    that one URL: a channel posts to a single endpoint and never follows redirects.
    """

    def __init__(self, real_url: httpx.URL) -> None:
        self._real_url = real_url
        self._inner = httpx.HTTPTransport()

    def handle_request(self, request: httpx.Request) -> httpx.Response:
        real = httpx.Request(
            request.method,
            self._real_url,
            headers=request.headers,
            stream=request.stream,
            extensions=request.extensions,
        )
        return self._inner.handle_request(real)

    def close(self) -> None:
        self._inner.close()


class _HttpChannel:
    """Shared plumbing of the HTTP channels: one keep-alive client, status mapping, scrubbing."""

    name: str
    max_digest_items: int

    def __init__(
        self,
        *,
        name: str,
        real_url: httpx.URL,
        shown_url: httpx.URL,
        secrets: Iterable[str],
        timeout_s: float,
        headers: Mapping[str, str] | None = None,
        auth: httpx.Auth | None = None,
    ) -> None:
        self.name = _check_name(name)
        self._timeout_s = _check_timeout(timeout_s)
        self._shown_url = shown_url
        self._scrub = _Scrubber(secrets)
        self._client = httpx.Client(
            transport=_UnmaskingTransport(real_url),
            timeout=self._timeout_s,
            headers={"User-Agent": _USER_AGENT, **(headers or {})},
            auth=auth,
            follow_redirects=False,
        )

    def close(self) -> None:
        """Close the keep-alive connections (idempotent)."""
        self._client.close()

    def __enter__(self) -> Self:
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.close()

    def _error(
        self,
        message: Message,
        reason: str,
        *,
        permanent: bool = False,
        status: int | None = None,
        retry_after: float | None = None,
    ) -> DeliveryError:
        text = self._scrub(f"{self.name}: {reason}")
        _log.debug(
            "notification not delivered: %s",
            text,
            extra=_extra(
                self.name, message, status_code=status, permanent=permanent, retry_after_s=retry_after
            ),
        )
        return DeliveryError(text, permanent=permanent, status=status, retry_after_s=retry_after)

    def _post(self, message: Message, doc: Mapping[str, Any]) -> httpx.Response:
        """POST ``doc`` as JSON with the message's ``Idempotency-Key``; transport errors raised."""
        headers = {
            "Content-Type": "application/json",
            "Idempotency-Key": _header_value(message.idempotency_key),
        }
        try:
            response = self._client.post(self._shown_url, content=_json_bytes(doc), headers=headers)
        except httpx.TimeoutException as exc:
            raise self._error(
                message, f"timed out after {self._timeout_s:g} s ({type(exc).__name__})"
            ) from None
        except httpx.RequestError as exc:
            raise self._error(message, f"{type(exc).__name__}: {exc}") from None
        return response

    def _check(
        self,
        message: Message,
        response: httpx.Response,
        *,
        detail: str | None = None,
        retry_after: float | None = None,
    ) -> None:
        """Return on 2xx; otherwise raise the mapped :class:`DeliveryError`."""
        status = response.status_code
        if 200 <= status < 300:
            _log.debug(
                "notification delivered",
                extra=_extra(
                    self.name,
                    message,
                    status_code=status,
                    elapsed_ms=round(response.elapsed.total_seconds() * 1e3, 3),
                ),
            )
            return
        if retry_after is None:
            retry_after = parse_retry_after(response.headers.get("Retry-After"))
        if detail is None:
            detail = _one_line(response.text)[:_ERROR_BODY_CHARS]
        transient = status == 429 or status >= 500
        reason = f"HTTP {status}" + (f": {detail}" if detail else "")
        raise self._error(message, reason, permanent=not transient, status=status, retry_after=retry_after)


_SENSITIVE_HEADER: Final = re.compile(r"auth|token|key|secret|sign|cookie|pass", re.IGNORECASE)


class WebhookChannel(_HttpChannel):
    """Generic webhook: POSTs ``message.to_payload()`` as JSON to ``url``.

    ``url`` is an http(s) URL; its user info (sent as HTTP basic auth) and query string are
    treated as secrets. ``headers`` are added to every request (e.g. ``Authorization``; their
    values are never shown). Each request carries the ``Idempotency-Key`` header.
    ``timeout_s`` bounds connect, write, read and pool waits, in seconds.
    """

    max_digest_items = 1000

    def __init__(
        self,
        url: str | SecretStr,
        *,
        headers: Mapping[str, str] | None = None,
        timeout_s: float = 10.0,
        name: str = "webhook",
    ) -> None:
        raw = _reveal(url, "url")
        real = _http_url(raw, "url", secret=True)
        if headers is not None and not all(
            isinstance(k, str) and isinstance(v, str) for k, v in headers.items()
        ):
            raise ValueError("headers must map str header names to str values")
        auth = httpx.BasicAuth(real.username, real.password) if real.username or real.password else None
        secrets = [raw, real.query.decode("ascii", "replace"), real.password]
        secrets += [value for _, value in real.params.multi_items() if len(value) >= 4]
        secrets += [v for k, v in (headers or {}).items() if _SENSITIVE_HEADER.search(k)]
        self._host = _target(real)
        super().__init__(
            name=name,
            real_url=real.copy_with(userinfo=b""),
            shown_url=_origin(real, real.path),
            secrets=secrets,
            timeout_s=timeout_s,
            headers=headers,
            auth=auth,
        )

    def __repr__(self) -> str:
        return f"WebhookChannel(name={self.name!r}, target={self._host!r})"

    def send(self, message: Message) -> None:
        """POST the message's JSON payload; :class:`DeliveryError` unless answered 2xx."""
        self._check(message, self._post(message, message.to_payload()))


def _mrkdwn(text: str) -> str:
    """Escape the three characters Slack's mrkdwn treats as control (``<!channel>`` etc.)."""
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


_SLACK_FIELD_SECTIONS: Final = 4  # at most 40 fields shown; blocks stay far below Slack's 50


def _slack_field(key: str, value: str) -> dict[str, str]:
    """One mrkdwn field: the key in bold over the value, escaped, within Slack's limit."""
    return {
        "type": "mrkdwn",
        "text": _fit(lambda n: _mrkdwn(_truncate(f"*{key}*\n{value}", n)), SLACK_FIELD_MAX_CHARS),
    }


class SlackChannel(_HttpChannel):
    """Slack incoming webhook: ``text`` (plain fallback) plus ``blocks``.

    Blocks: a header ``[SEVERITY] title``; a section with the text; sections of fields (ten
    per section); for digests a section listing the items (within Slack's 3,000-character
    section limit, the rest as "... and N more"); a context block with the id, error code and
    correlation id. All user text is mrkdwn-escaped, so a title cannot ping ``<!channel>``.
    ``webhook_url`` is a secret. ``timeout_s`` is in seconds. ``verbose=False`` leaves the
    fields out (``ALERT_VERBOSE``); ``kinds`` limits the event kinds the notifier sends here
    (``SLACK_ANALYSIS_ONLY``: ``signal`` and ``analysis``).
    """

    max_digest_items = 100

    def __init__(
        self,
        webhook_url: str | SecretStr,
        *,
        timeout_s: float = 10.0,
        name: str = "slack",
        verbose: bool = True,
        kinds: Iterable[str] | None = None,
    ) -> None:
        # verbose (ALERT_VERBOSE): the fields block; kinds (SLACK_ANALYSIS_ONLY): the event
        # kinds this channel takes (None: all), applied by the notifier when it fans out.
        self.verbose = bool(verbose)
        self.kinds = None if kinds is None else frozenset(kinds)
        raw = _reveal(webhook_url, "webhook_url")
        real = _http_url(raw, "webhook_url", secret=True)
        self._host = _target(real)
        super().__init__(
            name=name,
            real_url=real,
            shown_url=_origin(real, "/" + _MASK),
            secrets=_url_secrets(raw, real),
            timeout_s=timeout_s,
        )

    def __repr__(self) -> str:
        return f"SlackChannel(name={self.name!r}, target={self._host!r})"

    def payload(self, message: Message) -> dict[str, Any]:
        """The JSON document :meth:`send` posts for ``message``."""
        m = message
        blocks: list[dict[str, Any]] = [
            {
                "type": "header",
                "text": {
                    "type": "plain_text",
                    "text": _truncate(_one_line(f"[{m.severity.value}] {m.title}"), SLACK_HEADER_MAX_CHARS),
                    "emoji": True,
                },
            }
        ]
        if m.text:
            text = _fit(lambda n: _mrkdwn(_truncate(m.text, n)), SLACK_SECTION_MAX_CHARS)
            blocks.append({"type": "section", "text": {"type": "mrkdwn", "text": text}})
        shown_fields = list(m.fields.items())[: SLACK_FIELDS_PER_SECTION * _SLACK_FIELD_SECTIONS]
        if not self.verbose:
            shown_fields = []  # ALERT_VERBOSE=false: title, text and ids only
        fields = [_slack_field(str(k), str(v)) for k, v in shown_fields]
        for start in range(0, len(fields), SLACK_FIELDS_PER_SECTION):
            chunk = fields[start : start + SLACK_FIELDS_PER_SECTION]
            blocks.append({"type": "section", "fields": chunk})
        if m.items:
            listing = _fit(
                lambda n: _mrkdwn(_digest_text(m.items, n, self.max_digest_items)), SLACK_SECTION_MAX_CHARS
            )
            blocks.append({"type": "section", "text": {"type": "mrkdwn", "text": listing}})
        context = [f"id: `{m.idempotency_key}`"]
        if m.error_code:
            context.append(f"error_code: `{m.error_code}`")
        if m.correlation_id:
            context.append(f"correlation_id: `{m.correlation_id}`")
        blocks.append(
            {
                "type": "context",
                "elements": [{"type": "mrkdwn", "text": _mrkdwn(_truncate(c, 300))} for c in context],
            }
        )
        text = _fit(
            lambda n: _mrkdwn(m.plain_text(max_chars=n, max_items=self.max_digest_items)),
            SLACK_TEXT_MAX_CHARS,
        )
        return {"text": text, "blocks": blocks}

    def send(self, message: Message) -> None:
        """Post the message to the webhook; :class:`DeliveryError` unless answered 2xx."""
        self._check(message, self._post(message, self.payload(message)))


class TelegramChannel(_HttpChannel):
    """Telegram bot API: ``POST {api_base}/bot{token}/sendMessage``.

    Sends ``chat_id``, ``text`` (``message.plain_text()`` within Telegram's 4,096 UTF-16 code
    units, up to ``max_digest_items`` digest lines, no parse mode so nothing is interpreted)
    and ``disable_web_page_preview``. Telegram's ``{"ok": false, "error_code": 429,
    "parameters": {"retry_after": N}}`` becomes a transient error with ``retry_after_s=N``.
    ``bot_token`` is a secret. ``api_base`` is configurable (a local Bot API server, a test
    receiver). ``timeout_s`` is in seconds.
    """

    max_digest_items = 40

    def __init__(
        self,
        bot_token: str | SecretStr,
        chat_id: int | str,
        *,
        api_base: str = "https://api.telegram.org",
        timeout_s: float = 10.0,
        name: str = "telegram",
    ) -> None:
        token = _reveal(bot_token, "bot_token")
        if any(c.isspace() or c in "/?#" for c in token):
            raise ValueError("bot_token must not contain whitespace, '/', '?' or '#'")
        if isinstance(chat_id, bool) or not isinstance(chat_id, int | str) or chat_id == "":
            raise ValueError(f"chat_id must be an int or a non-empty str, got {chat_id!r}")
        self.chat_id = chat_id
        if not isinstance(api_base, str):
            raise ValueError(f"api_base must be an http(s) URL str, got {api_base!r}")
        base = _http_url(api_base.rstrip("/"), "api_base", secret=False)
        if base.query:
            raise ValueError(f"api_base must not have a query string: {api_base!r}")
        prefix = base.path.rstrip("/")
        real = base.copy_with(path=f"{prefix}/bot{token}/sendMessage")
        self._host = _target(base)
        super().__init__(
            name=name,
            real_url=real,
            shown_url=base.copy_with(path=f"{prefix}/bot{_MASK}/sendMessage"),
            secrets=[token, token.split(":", 1)[-1]],
            timeout_s=timeout_s,
        )

    def __repr__(self) -> str:
        return f"TelegramChannel(name={self.name!r}, target={self._host!r}, chat_id={self.chat_id!r})"

    def payload(self, message: Message) -> dict[str, Any]:
        """The JSON document :meth:`send` posts for ``message``."""
        text = _fit(
            lambda n: message.plain_text(max_chars=n, max_items=self.max_digest_items),
            TELEGRAM_TEXT_MAX_CHARS,
            _utf16_len,
        )
        return {"chat_id": self.chat_id, "text": text, "disable_web_page_preview": True}

    def send(self, message: Message) -> None:
        """Call ``sendMessage``; :class:`DeliveryError` unless Telegram answered ``ok``."""
        response = self._post(message, self.payload(message))
        doc = _json_or_none(response)
        ok = not isinstance(doc, Mapping) or doc.get("ok") is not False
        if 200 <= response.status_code < 300 and ok:
            self._check(message, response)
            return
        status = response.status_code
        detail = None
        retry_after = None
        if isinstance(doc, Mapping):
            code = doc.get("error_code")
            if isinstance(code, int) and not isinstance(code, bool) and 400 <= code <= 599:
                status = code
            description = doc.get("description")
            detail = _one_line(str(description))[:_ERROR_BODY_CHARS] if description else None
            retry_after = _body_retry_after(doc, "parameters", "retry_after")
        if 200 <= status < 300:  # ok: false without a usable error code
            status = 502
        if retry_after is None:
            retry_after = parse_retry_after(response.headers.get("Retry-After"))
        transient = status == 429 or status >= 500
        reason = f"HTTP {status}" + (f": {detail}" if detail else "")
        raise self._error(message, reason, permanent=not transient, status=status, retry_after=retry_after)


class DiscordChannel(_HttpChannel):
    """Discord webhook: ``POST {webhook_url}?wait=true`` with ``content`` and one embed.

    ``content`` is the one-line ``[SEVERITY] title`` (plus the event count of a digest) that
    push notifications show. The embed holds the title, a description (the text, then for
    digests the listed items and "... and N more"), fields (the message's fields and
    ``error_code``; at most 25), a footer ``id <idempotency_key>`` with the correlation id,
    the timestamp and a colour per severity, all within Discord's per-field and 6,000-character
    embed limits. ``allowed_mentions`` is empty so no text can ping anyone. A 429 answer's JSON
    ``retry_after`` (seconds, float) becomes ``retry_after_s``. ``webhook_url`` is a secret.
    ``timeout_s`` is in seconds.
    """

    max_digest_items = 20

    def __init__(
        self, webhook_url: str | SecretStr, *, timeout_s: float = 10.0, name: str = "discord"
    ) -> None:
        raw = _reveal(webhook_url, "webhook_url")
        url = _http_url(raw, "webhook_url", secret=True)
        real = url.copy_merge_params({"wait": "true"})
        self._host = _target(url)
        super().__init__(
            name=name,
            real_url=real,
            shown_url=_origin(url, "/" + _MASK).copy_merge_params({"wait": "true"}),
            secrets=_url_secrets(raw, url),
            timeout_s=timeout_s,
        )

    def __repr__(self) -> str:
        return f"DiscordChannel(name={self.name!r}, target={self._host!r})"

    def payload(self, message: Message) -> dict[str, Any]:
        """The JSON document :meth:`send` posts for ``message``."""
        m = message
        headline = f"[{m.severity.value}] {_one_line(m.title)}"
        if m.items:
            headline += f" ({len(m.items)} events)"
        title = _truncate(_one_line(m.title), DISCORD_TITLE_MAX_CHARS)
        footer = f"id {m.idempotency_key}"
        if m.correlation_id:
            footer += f" · correlation_id {m.correlation_id}"
        footer = _truncate(footer, DISCORD_FOOTER_MAX_CHARS)
        budget = DISCORD_EMBED_TOTAL_MAX_CHARS - len(title) - len(footer)
        # Keep room for a useful description before spending the budget on fields.
        field_budget = budget - min(1_000, DISCORD_DESCRIPTION_MAX_CHARS)
        pairs: list[tuple[str, str]] = []
        if m.error_code:
            pairs.append(("error_code", m.error_code))
        pairs.extend((str(k), str(v)) for k, v in m.fields.items())
        fields: list[dict[str, Any]] = []
        for key, value in pairs[:DISCORD_FIELDS_MAX]:
            fname = _truncate(key, DISCORD_FIELD_NAME_MAX_CHARS) or "-"
            fvalue = _truncate(value, DISCORD_FIELD_VALUE_MAX_CHARS) or "-"
            if len(fname) + len(fvalue) > field_budget:
                break
            field_budget -= len(fname) + len(fvalue)
            budget -= len(fname) + len(fvalue)
            fields.append({"name": fname, "value": fvalue, "inline": True})
        description_max = min(DISCORD_DESCRIPTION_MAX_CHARS, budget)
        description = self._description(m, description_max)
        embed: dict[str, Any] = {
            "title": title,
            "description": description,
            "color": _DISCORD_COLOURS.get(m.severity, 0),
            "timestamp": iso_z(m.created_at),
            "fields": fields,
            "footer": {"text": footer},
        }
        if not description:
            del embed["description"]
        return {
            "content": _truncate(headline, DISCORD_CONTENT_MAX_CHARS),
            "embeds": [embed],
            "allowed_mentions": {"parse": []},
        }

    def _description(self, m: Message, max_chars: int) -> str:
        if not m.items:
            return _truncate(m.text, max_chars)
        text = _truncate(m.text, max_chars // 2) if m.text else ""
        room = max_chars - len(text) - (2 if text else 0)
        listing = _digest_text(m.items, room, self.max_digest_items)
        return f"{text}\n\n{listing}" if text else listing

    def send(self, message: Message) -> None:
        """Execute the webhook; :class:`DeliveryError` unless answered 2xx."""
        response = self._post(message, self.payload(message))
        if 200 <= response.status_code < 300:
            self._check(message, response)
            return
        doc = _json_or_none(response)
        detail = None
        if isinstance(doc, Mapping) and doc.get("message"):
            detail = _one_line(str(doc["message"]))[:_ERROR_BODY_CHARS]
        self._check(message, response, detail=detail, retry_after=_body_retry_after(doc, "retry_after"))


# ---------------------------------------------------------------------------- email


def _msg_id_local(key: str) -> str:
    """``key`` as the left part of a Message-ID (RFC 5322 dot-atom text, reversible)."""
    return quote(key, safe="!#$&'*+-/=?^_`{|}~").replace(".", "%2E")


def _check_address(addr: object, arg: str) -> str:
    if not isinstance(addr, str) or "@" not in addr or any(c in addr for c in "\r\n"):
        raise ValueError(f"{arg} must be an e-mail address like 'ops@example.com', got {addr!r}")
    return addr.strip()


class EmailChannel:
    """Email over SMTP (stdlib ``smtplib``), one connection per message.

    Subject ``[SEVERITY] title``; body ``message.plain_text()`` (digests list up to
    ``max_digest_items`` events); headers ``Message-ID: <idempotency_key@montalaq>``,
    ``X-Montalaq-Idempotency-Key``, ``X-Montalaq-Correlation-Id`` and
    ``X-Montalaq-Error-Code`` when set, and ``Auto-Submitted: auto-generated``.

    ``tls`` is ``"none"`` (plain SMTP), ``"starttls"`` (upgrade after EHLO; a server without
    STARTTLS is a permanent error) or ``"ssl"`` (implicit TLS, usually port 465).
    ``ssl_context`` defaults to ``ssl.create_default_context()`` (certificates verified).
    ``username``/``password`` log in when given (both or neither); the password is a secret.
    ``timeout_s`` bounds each socket operation, in seconds. When some but not all recipients
    are refused the message counts as delivered and the refusals are logged as a warning.
    """

    max_digest_items = 1000

    def __init__(
        self,
        host: str,
        port: int = 25,
        *,
        from_addr: str,
        to_addrs: Sequence[str],
        username: str | None = None,
        password: str | SecretStr | None = None,
        tls: TlsMode = "none",
        timeout_s: float = 10.0,
        name: str = "email",
        ssl_context: ssl.SSLContext | None = None,
    ) -> None:
        if not isinstance(host, str) or not host.strip():
            raise ValueError(f"host must be a non-empty host name, got {host!r}")
        if isinstance(port, bool) or not isinstance(port, int) or not 0 < port < 65536:
            raise ValueError(f"port must be an int in 1..65535, got {port!r}")
        if tls not in _TLS_MODES:
            raise ValueError(f"tls must be one of {', '.join(map(repr, _TLS_MODES))}, got {tls!r}")
        if isinstance(to_addrs, str) or not isinstance(to_addrs, Sequence):
            raise ValueError("to_addrs must be a list of e-mail addresses (not a single str)")
        if not to_addrs:
            raise ValueError("to_addrs must list at least one e-mail address")
        if (username is None) != (password is None):
            raise ValueError("username and password must be given together (or neither)")
        if username is not None and (not isinstance(username, str) or not username):
            raise ValueError("username must be a non-empty str")
        self.name = _check_name(name)
        self.host = host.strip()
        self.port = port
        self.tls: TlsMode = tls
        self.from_addr = _check_address(from_addr, "from_addr")
        self.to_addrs = [_check_address(a, f"to_addrs[{i}]") for i, a in enumerate(to_addrs)]
        self._timeout_s = _check_timeout(timeout_s)
        self._username = username
        self._password = None if password is None else _reveal(password, "password")
        self._scrub = _Scrubber([self._password] if self._password else [])
        self._ssl_context = ssl_context

    def __repr__(self) -> str:
        return (
            f"EmailChannel(name={self.name!r}, target='{self.host}:{self.port}', tls={self.tls!r}, "
            f"to_addrs={len(self.to_addrs)})"
        )

    def build(self, message: Message) -> EmailMessage:
        """The mail :meth:`send` submits for ``message``."""
        m = message
        mail = EmailMessage()
        mail["Subject"] = _one_line(f"[{m.severity.value}] {m.title}")
        mail["From"] = self.from_addr
        mail["To"] = ", ".join(self.to_addrs)
        mail["Date"] = email.utils.format_datetime(m.created_at.astimezone(UTC))
        mail["Message-ID"] = f"<{_msg_id_local(m.idempotency_key)}@montalaq>"
        mail["Auto-Submitted"] = "auto-generated"
        mail["X-Montalaq-Idempotency-Key"] = _header_value(m.idempotency_key)
        if m.correlation_id:
            mail["X-Montalaq-Correlation-Id"] = _header_value(m.correlation_id)
        if m.error_code:
            mail["X-Montalaq-Error-Code"] = _header_value(m.error_code)
        mail.set_content(m.plain_text(max_items=self.max_digest_items))
        return mail

    def _context(self) -> ssl.SSLContext:
        if self._ssl_context is None:
            self._ssl_context = ssl.create_default_context()
        return self._ssl_context

    def _error(self, message: Message, reason: str, *, permanent: bool = False) -> DeliveryError:
        text = self._scrub(f"{self.name}: {reason}")
        _log.debug(
            "notification not delivered: %s",
            text,
            extra=_extra(self.name, message, permanent=permanent),
        )
        return DeliveryError(text, permanent=permanent)

    def send(self, message: Message) -> None:
        """Submit the mail; :class:`DeliveryError` unless at least one recipient accepted it."""
        mail = self.build(message)
        smtp: smtplib.SMTP | None = None
        submitted = False
        try:
            if self.tls == "ssl":
                smtp = smtplib.SMTP_SSL(
                    self.host, self.port, timeout=self._timeout_s, context=self._context()
                )
            else:
                smtp = smtplib.SMTP(self.host, self.port, timeout=self._timeout_s)
                if self.tls == "starttls":
                    smtp.ehlo()
                    smtp.starttls(context=self._context())
            if self._username is not None and self._password is not None:
                smtp.login(self._username, self._password)
            refused = smtp.send_message(mail, from_addr=self.from_addr, to_addrs=self.to_addrs)
            submitted = True
        except smtplib.SMTPRecipientsRefused as exc:
            codes = {addr: code for addr, (code, _) in exc.recipients.items()}
            listed = ", ".join(f"{a} ({c} {_smtp_text(r)})" for a, (c, r) in exc.recipients.items())
            raise self._error(
                message, f"all recipients refused: {listed}", permanent=all(c >= 500 for c in codes.values())
            ) from None
        except smtplib.SMTPNotSupportedError as exc:
            raise self._error(message, f"server lacks a needed capability: {exc}", permanent=True) from None
        except smtplib.SMTPResponseException as exc:
            reason = f"{type(exc).__name__} {exc.smtp_code} {_smtp_text(exc.smtp_error)}"
            raise self._error(message, reason, permanent=exc.smtp_code >= 500) from None
        except TimeoutError:
            raise self._error(message, f"timed out after {self._timeout_s:g} s") from None
        except (smtplib.SMTPException, OSError) as exc:
            raise self._error(message, f"{type(exc).__name__}: {exc}") from None
        finally:
            if smtp is not None:
                # A polite QUIT only after success: after a failure the session may be dead
                # and QUIT would wait another timeout.
                _quit_quietly(smtp) if submitted else smtp.close()
        if refused:
            _log.warning(
                "some recipients refused the notification: %s",
                ", ".join(f"{a} ({c})" for a, (c, _) in refused.items()),
                extra=_extra(self.name, message),
            )
        _log.debug(
            "notification delivered",
            extra=_extra(self.name, message),
        )

    def close(self) -> None:
        """Nothing to release: each send opens and closes its own SMTP connection."""


def _smtp_text(reply: bytes | str) -> str:
    text = reply.decode("utf-8", "replace") if isinstance(reply, bytes) else str(reply)
    return _one_line(text)[:_ERROR_BODY_CHARS]


def _quit_quietly(smtp: smtplib.SMTP) -> None:
    """QUIT, ignoring failures: the mail's fate was decided before this point."""
    try:
        smtp.quit()
    except (smtplib.SMTPException, OSError):
        smtp.close()


# ---------------------------------------------------------------------------- apprise

_APPRISE_TYPES: Final = {Severity.INFO: "info", Severity.WARNING: "warning", Severity.CRITICAL: "failure"}


class AppriseChannel:
    """Pass-through to the ``apprise`` library (``pip install montalaq[apprise]``).

    ``urls`` are apprise URLs (``tgram://...``, ``mailto://...``, ``json://host/path``); all
    of them are treated as secrets. Each send calls ``Apprise.notify(title, body)`` with the
    title ``[SEVERITY] title`` and the rest of ``message.plain_text()`` as body; apprise
    reporting a failure (for any URL) is a transient :class:`DeliveryError`, so a retry may
    repeat the message to the URLs that did receive it.
    """

    max_digest_items = 40

    def __init__(self, urls: Sequence[str | SecretStr], *, name: str = "apprise") -> None:
        with needs("AppriseChannel"):
            import apprise
        if isinstance(urls, str | SecretStr) or not isinstance(urls, Sequence):
            raise ValueError("urls must be a list of apprise URLs (not a single str)")
        if not urls:
            raise ValueError("urls must list at least one apprise URL")
        self.name = _check_name(name)
        revealed = [_reveal(u, f"urls[{i}]") for i, u in enumerate(urls)]
        self._apprise: Any = apprise.Apprise()
        for i, url in enumerate(revealed):
            if not self._apprise.add(url):
                raise ValueError(f"urls[{i}] is not a URL apprise can use (not shown: it may hold a secret)")
        self._schemes = sorted({u.split("://", 1)[0] for u in revealed})
        self._scrub = _Scrubber(revealed)
        self._notify_types = {
            sev: getattr(apprise.NotifyType, kind.upper()) for sev, kind in _APPRISE_TYPES.items()
        }

    def __repr__(self) -> str:
        return f"AppriseChannel(name={self.name!r}, schemes={self._schemes!r})"

    def send(self, message: Message) -> None:
        """Notify every URL; :class:`DeliveryError` (transient) when apprise reports a failure."""
        title = f"[{message.severity.value}] {message.title}"
        text = message.plain_text(max_items=self.max_digest_items)
        body = text[len(title) + 1 :] if text.startswith(title + "\n") else text
        try:
            notify_type = self._notify_types[message.severity]
            ok = self._apprise.notify(body=body, title=title, notify_type=notify_type)
        except Exception as exc:  # apprise plug-ins raise anything; none of it is permanent for us
            raise self._error(message, f"{type(exc).__name__}: {exc}") from None
        if not ok:
            raise self._error(message, "apprise reported that a notification failed")
        _log.debug(
            "notification delivered",
            extra=_extra(self.name, message),
        )

    def _error(self, message: Message, reason: str) -> DeliveryError:
        text = self._scrub(f"{self.name}: {reason}")
        _log.debug(
            "notification not delivered: %s",
            text,
            extra=_extra(self.name, message, permanent=False),
        )
        return DeliveryError(text)

    def close(self) -> None:
        """Forget the configured URLs."""
        self._apprise.clear()


__all__ = [
    "AppriseChannel",
    "Channel",
    "DiscordChannel",
    "EmailChannel",
    "SlackChannel",
    "TelegramChannel",
    "TlsMode",
    "WebhookChannel",
    "parse_retry_after",
]
