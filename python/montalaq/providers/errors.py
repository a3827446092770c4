"""How a streaming client fails: a refused key (PERMANENT in the error taxonomy), a frame
that breaks the protocol, and secrets kept out of every message (docs/feeds.md, "When the
connection fails")."""

from __future__ import annotations

from montalaq.errors import DEFAULT_TAXONOMY, ErrorKind


class ProviderAuthError(Exception):
    """The provider refused the credentials (a handshake 401/403 or an auth error message).
    PERMANENT: retrying the same key cannot succeed, so the feed stops and the process
    reports ERROR instead of looping."""


class MalformedFrameError(ValueError):
    """A frame that is not what the provider's protocol says; counted and skipped."""


DEFAULT_TAXONOMY.register_code("PROVIDER_AUTH", ErrorKind.PERMANENT)
DEFAULT_TAXONOMY.register_exception(ProviderAuthError, "PROVIDER_AUTH")


def redact(text: str, *secrets: str | None) -> str:
    """``text`` with every secret replaced: URLs with keys end up in errors and logs."""
    for secret in secrets:
        if secret:
            text = text.replace(secret, "***")
    return text


__all__ = ["MalformedFrameError", "ProviderAuthError", "redact"]
