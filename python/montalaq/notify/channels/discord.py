"""The Discord webhook channel: a one-line ``content`` and one embed, mentions disabled."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, Final

from pydantic import SecretStr

from montalaq.notify.channels.base import _ERROR_BODY_CHARS, _MASK, _one_line, _reveal
from montalaq.notify.channels.http import (
    _body_retry_after,
    _http_url,
    _HttpChannel,
    _json_or_none,
    _origin,
    _target,
    _url_secrets,
)
from montalaq.notify.channels.text import _digest_text, _truncate
from montalaq.notify.message import Message, Severity, iso_z

# Service limits (characters), from Discord's API documentation.
DISCORD_CONTENT_MAX_CHARS: Final = 2_000
DISCORD_TITLE_MAX_CHARS: Final = 256
DISCORD_DESCRIPTION_MAX_CHARS: Final = 4_096
DISCORD_FIELDS_MAX: Final = 25
DISCORD_FIELD_NAME_MAX_CHARS: Final = 256
DISCORD_FIELD_VALUE_MAX_CHARS: Final = 1_024
DISCORD_FOOTER_MAX_CHARS: Final = 2_048
DISCORD_EMBED_TOTAL_MAX_CHARS: Final = 6_000

_DISCORD_COLOURS: Final = {Severity.INFO: 0x3498DB, Severity.WARNING: 0xF1C40F, Severity.CRITICAL: 0xE74C3C}


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
