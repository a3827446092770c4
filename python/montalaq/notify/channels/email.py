"""The email channel: one mail per message over SMTP (stdlib ``smtplib``)."""

from __future__ import annotations

import email.utils
import smtplib
import ssl
from collections.abc import Sequence
from datetime import UTC
from email.message import EmailMessage
from typing import Final, Literal
from urllib.parse import quote

from pydantic import SecretStr

from montalaq.notify.channels.base import (
    _ERROR_BODY_CHARS,
    _check_name,
    _check_timeout,
    _extra,
    _header_value,
    _log,
    _one_line,
    _reveal,
    _Scrubber,
)
from montalaq.notify.message import DeliveryError, Message

TlsMode = Literal["none", "starttls", "ssl"]
"""How :class:`EmailChannel` secures the SMTP connection."""

_TLS_MODES: Final = ("none", "starttls", "ssl")


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
