"""The apprise channel: a pass-through to the ``apprise`` library (extra ``montalaq[apprise]``)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, Final

from pydantic import SecretStr

from montalaq._optional import needs
from montalaq.notify.channels.base import _check_name, _extra, _log, _reveal, _Scrubber
from montalaq.notify.message import DeliveryError, Message, Severity

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
