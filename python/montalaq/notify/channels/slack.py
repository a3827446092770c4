"""The Slack incoming-webhook channel: plain ``text`` plus mrkdwn-escaped blocks."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any, Final

from pydantic import SecretStr

from montalaq.notify.channels.base import _MASK, _one_line, _reveal
from montalaq.notify.channels.http import _http_url, _HttpChannel, _origin, _target, _url_secrets
from montalaq.notify.channels.text import _digest_text, _fit, _truncate
from montalaq.notify.message import Message

# Service limits (characters), from Slack's API documentation.
SLACK_TEXT_MAX_CHARS: Final = 40_000
SLACK_HEADER_MAX_CHARS: Final = 150
SLACK_SECTION_MAX_CHARS: Final = 3_000
SLACK_FIELD_MAX_CHARS: Final = 2_000
SLACK_FIELDS_PER_SECTION: Final = 10


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
