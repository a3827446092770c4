"""What every channel shares: the :class:`Channel` protocol, argument checks, secret scrubbing
and the fields of its log records (docs/semantics.md, section Notifications: "Channels",
"Secrets").
"""

from __future__ import annotations

import logging
import math
from collections.abc import Iterable
from typing import Any, Final, Protocol, runtime_checkable
from urllib.parse import quote

from pydantic import SecretStr

from montalaq.notify.message import Message

# One logger for every channel module: the name users configure predates the package.
_log = logging.getLogger("montalaq.notify.channels")

_MASK: Final = "***"
_ERROR_BODY_CHARS: Final = 200


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


# Printable ASCII except '%' (which escapes everything else).
_HEADER_SAFE: Final = "".join(chr(c) for c in range(0x21, 0x7F) if chr(c) != "%")


def _header_value(text: str) -> str:
    """``text`` made safe as an HTTP or mail header value (no CR/LF, ASCII only)."""
    return quote(text, safe=_HEADER_SAFE)


def _one_line(text: str) -> str:
    return " ".join(text.split())


def _extra(channel: str, message: Message, **more: Any) -> dict[str, Any]:
    """The structured ``extra`` fields of a channel's log records (never a secret)."""
    return {
        "component": "notify",
        "channel": channel,
        "idempotency_key": message.idempotency_key,
        "correlation_id": message.correlation_id,
        **more,
    }
