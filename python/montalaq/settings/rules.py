"""The checks of the settings' values, wired to their fields in ``model.py``: plain
functions of the value (``before`` ones see the variable's raw string), and the cross-field
rules of the whole model (docs/semantics.md, "Settings"). A ValueError's message becomes
the variable's line of the SettingsError."""

from __future__ import annotations

import math
from typing import TYPE_CHECKING, Any

from pydantic import SecretStr

from montalaq.store.engine import resolve_url
from montalaq.timeframes import parse_timeframe

if TYPE_CHECKING:
    from montalaq.settings.model import Settings


# -- before: the raw variable -------------------------------------------------------------


def split_commas(value: Any) -> Any:
    """A comma-separated list as its stripped, non-empty items."""
    if isinstance(value, str):
        return [part.strip() for part in value.split(",") if part.strip()]
    return value


def blank_is_unset(v: Any) -> Any:
    """A blank value is no value at all."""
    # `API_TOKEN=` (or MONTALAQ={"API_TOKEN": os.environ.get("X", "")}) means "no token":
    # every consumer then refuses POSTs (403) or, for `montalaq serve`, generates one.
    # OPENAI_API_KEY= or OPENAI_BASE_URL= (a blank line of a .env) means "not set".
    if isinstance(v, str) and not v.strip():
        return None
    if isinstance(v, SecretStr) and not v.get_secret_value().strip():
        return None
    return v


def provider_name(v: Any) -> Any:
    if isinstance(v, str):
        v = v.strip().lower()
        return v or None  # PROVIDER= means unset
    return v


def guard_backend(v: Any) -> Any:
    return v.strip().lower() if isinstance(v, str) else v


def slack_from_alert_webhook(data: Any) -> Any:
    """The whole input before validation, with ALERT_WEBHOOK_URL as the Slack webhook."""
    # ALERT_WEBHOOK_URL is the Slack webhook's short name: it fills the NOTIFY_SLACK_* form
    # when that is absent and turns Slack on unless NOTIFY_SLACK_ENABLED says otherwise.
    if not isinstance(data, dict):
        return data
    keys = {k.lower(): k for k in data if isinstance(k, str)}
    url = data.get(keys.get("alert_webhook_url", ""))
    if url and not data.get(keys.get("notify_slack_webhook_url", "")):
        data = {**data, "notify_slack_webhook_url": url}
        if "notify_slack_enabled" not in keys:
            data["notify_slack_enabled"] = True
    return data


# -- after: the typed value ---------------------------------------------------------------


def ws_url(v: str) -> str:
    if not v.startswith(("ws://", "wss://")):
        raise ValueError(f"expected a ws:// or wss:// URL, got {v!r}")
    return v


def rest_url(v: str) -> str:
    if not v.startswith(("http://", "https://")):
        raise ValueError(f"expected an http:// or https:// URL, got {v!r}")
    return v


def telegram_api_base(v: str) -> str:
    if not v.startswith(("http://", "https://")):
        raise ValueError("expected an http:// or https:// URL")
    return v.rstrip("/")


def redis_url(v: str | None) -> str | None:
    if v is not None and not v.startswith(("redis://", "rediss://", "unix://")):
        raise ValueError("expected redis://host:port/db, rediss:// or unix://")
    return v


def database_url(v: SecretStr | None) -> SecretStr | None:
    if v is not None:
        resolve_url(v.get_secret_value())  # raises naming DATABASE_URL
    return v


def market_calendar(v: str) -> str:
    from montalaq.calendars import normalize

    return normalize(v)


def market_calendars(v: list[str]) -> list[str]:
    from montalaq.calendars import normalize

    out = []
    for item in v:
        sym, sep, cal = item.partition(":")
        if not sep or not sym.strip() or not cal.strip():
            raise ValueError(f"expected SYMBOL:CALENDAR items (e.g. SPY:XNYS), got {item!r}")
        out.append(f"{sym.strip()}:{normalize(cal)}")
    return out


def symbols(v: list[str]) -> list[str]:
    if not v:
        raise ValueError("expected at least one symbol, e.g. SPY,BTCUSDT")
    return v


def timeframes(v: list[str]) -> list[str]:
    for tf in v:
        parse_timeframe(tf)
    return v


def ts_weights(v: list[float]) -> list[float]:
    if len(v) != 5:
        raise ValueError(
            f"expected 5 comma-separated weights (mom1, mom5, mom15, px_vs_vwap, rvol-1), got {len(v)}"
        )
    return v


def mtf_weights(v: list[float]) -> list[float]:
    if len(v) != 3 or not all(math.isfinite(w) for w in v):
        raise ValueError(f"expected three finite weights for 1m, 5m, 15m (e.g. 0.2,0.3,0.5), got {v}")
    return v


def macro_windows(v: list[str]) -> list[str]:
    from montalaq.market_agents import parse_windows

    parse_windows(v, 1.0)
    return v


def llm_base_url(v: str | None) -> str | None:
    if v is not None and not v.strip().startswith(("http://", "https://")):
        raise ValueError(f"expected an http:// or https:// URL (e.g. http://127.0.0.1:8000/v1), got {v!r}")
    return None if v is None else v.strip()


def llm_model(v: str) -> str:
    if not v.strip():
        raise ValueError("expected a model name, e.g. gpt-4o-mini")
    return v.strip()


# -- after, across fields: the validated model (messages name the variables) -----------------


def llm_key_or_server(settings: Settings) -> Settings:
    if settings.llm_enable and settings.openai_api_key is None and settings.openai_base_url is None:
        raise ValueError(
            "OPENAI_API_KEY: required when LLM_ENABLE=true, unless OPENAI_BASE_URL names a "
            "server that needs no key"
        )
    return settings


_CHANNEL_NEEDS = {
    "notify_email_enabled": ("notify_email_from", "notify_email_to"),
    "notify_webhook_enabled": ("notify_webhook_url",),
    "notify_slack_enabled": ("notify_slack_webhook_url",),
    "notify_telegram_enabled": ("notify_telegram_bot_token", "notify_telegram_chat_id"),
    "notify_discord_enabled": ("notify_discord_webhook_url",),
}
"""Each channel's on switch and the settings it cannot do without."""


def channels_complete(settings: Settings) -> Settings:
    for flag, required in _CHANNEL_NEEDS.items():
        if getattr(settings, flag):
            for name in required:
                if not getattr(settings, name):
                    raise ValueError(f"{name.upper()}: required when {flag.upper()}=true")
    if settings.guard_backend == "redis" and not settings.redis_url:
        raise ValueError("REDIS_URL: required when GUARD_BACKEND=redis")
    if settings.ts_exit > settings.ts_entry:
        raise ValueError(f"TS_EXIT: must be <= TS_ENTRY ({settings.ts_entry}), got {settings.ts_exit}")
    return settings
