"""The Telegram bot API channel: ``sendMessage`` with plain text."""

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
    _target,
)
from montalaq.notify.channels.text import _fit, _utf16_len
from montalaq.notify.message import Message
from montalaq.retry import parse_retry_after

# Service limit (UTF-16 code units), from Telegram's Bot API documentation.
TELEGRAM_TEXT_MAX_CHARS: Final = 4_096


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
