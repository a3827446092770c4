"""SettingsError and the scrubbed explanation of a failed validation: each variable named
with what is expected and the value given, a secret's value as ``***`` (docs/semantics.md,
"Settings")."""

from __future__ import annotations

from pydantic import ValidationError

# Parts of a variable name whose value an error message never shows.
_SECRET_PARTS = ("PASSWORD", "TOKEN", "WEBHOOK_URL", "DATABASE_URL", "APPRISE", "API_KEY")


class SettingsError(ValueError):
    """One or more environment variables have invalid values (each named in the message)."""


def explain(exc: ValidationError) -> str:
    """pydantic's errors as one line naming each variable, without showing a secret (pydantic's
    own message shows each bad input and, for the cross-field checks, the whole input)."""
    lines = []
    for err in exc.errors(include_url=False):
        loc = err.get("loc") or ()
        msg = str(err.get("msg", "invalid value"))
        if not loc:
            # model-level checks already name the variable ("X: required when Y=true")
            lines.append(msg.removeprefix("Value error, "))
            continue
        name = str(loc[0]).upper()
        value = err.get("input")
        shown = "***" if any(s in name for s in _SECRET_PARTS) else repr(value)
        msg = msg.removeprefix("Value error, ").removeprefix(f"{name}: ")
        lines.append(f"{name}: {msg}" if " got " in msg else f"{name}: {msg}; got {shown}")
    return "invalid settings: " + "; ".join(lines)


__all__ = ["SettingsError", "explain"]
