"""Shared plumbing of the HTTP channels: URL checks, JSON bodies, the masking transport and
:class:`_HttpChannel` (status mapping, ``Retry-After``, scrubbing); docs/semantics.md,
section Notifications: "Channels", "Secrets".
"""

from __future__ import annotations

import json
import math
from collections.abc import Iterable, Mapping
from types import TracebackType
from typing import Any, Final, Self

import httpx

from montalaq._validate import json_safe
from montalaq.notify.channels.base import (
    _ERROR_BODY_CHARS,
    _check_name,
    _check_timeout,
    _extra,
    _header_value,
    _log,
    _one_line,
    _Scrubber,
)
from montalaq.notify.message import DeliveryError, Message
from montalaq.retry import parse_retry_after

_USER_AGENT: Final = "montalaq-notify"


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


def _json_bytes(doc: Mapping[str, Any]) -> bytes:
    """``doc`` as compact UTF-8 JSON; values JSON cannot hold are sent as their ``str``."""
    return json.dumps(json_safe(doc), default=str, ensure_ascii=False, separators=(",", ":")).encode()


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


def _json_or_none(response: httpx.Response) -> Any:
    try:
        return response.json()
    except ValueError:
        return None


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
