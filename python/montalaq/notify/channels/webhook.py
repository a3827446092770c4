"""The generic webhook channel: the message's JSON payload POSTed to a URL."""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Final

import httpx
from pydantic import SecretStr

from montalaq.notify.channels.base import _reveal
from montalaq.notify.channels.http import _http_url, _HttpChannel, _origin, _target
from montalaq.notify.message import Message

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
