"""Notifications (docs/semantics.md, "Notifications" and "Signal hook"): channels, the
durable outbox notifier, the signal hook::

    settings = Settings.from_env()
    notifier = notifier_from_settings(settings, Store(settings.database_url_value)).start()
    notifier.notify("alert", "Feed stale", "SPY 1m: no trade for 180 s", severity="WARNING")
    hook = SignalHook(notifier, threshold=settings.analysis_notify_threshold,
                      dedupe_window_s=settings.analysis_notify_dedupe_sec)
    hook.on_analysis(analysis)
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from montalaq.notify.channels import (
    AppriseChannel,
    Channel,
    DiscordChannel,
    EmailChannel,
    SlackChannel,
    TelegramChannel,
    WebhookChannel,
)
from montalaq.notify.message import DeliveryError, DigestItem, Message, Severity
from montalaq.notify.notifier import DeliveryStats, Notifier, NotifyResult
from montalaq.notify.signals import SignalDecision, SignalHook, signal_key

if TYPE_CHECKING:
    from montalaq.settings import Settings
    from montalaq.store import Store


ANALYSIS_KINDS = frozenset({"signal", "analysis"})
"""The notification kinds that are analyses: the per-bar signal hook's ``signal`` and the
LLM analyst's ``analysis`` (what ``SLACK_ANALYSIS_ONLY`` lets through to Slack)."""


def channels_from_settings(settings: Settings) -> list[Channel]:
    """The channels ``NOTIFY_*_ENABLED`` turns on, configured from their variables."""
    timeout = settings.notify_timeout_sec
    out: list[Channel] = []
    if settings.notify_email_enabled:
        assert settings.notify_email_from is not None  # checked by Settings
        out.append(
            EmailChannel(
                settings.notify_email_smtp_host,
                settings.notify_email_smtp_port,
                from_addr=settings.notify_email_from,
                to_addrs=list(settings.notify_email_to),
                username=settings.notify_email_username,
                password=settings.notify_email_password,
                tls=settings.notify_email_tls,
                timeout_s=timeout,
            )
        )
    if settings.notify_webhook_enabled and settings.notify_webhook_url is not None:
        out.append(WebhookChannel(settings.notify_webhook_url.get_secret_value(), timeout_s=timeout))
    if settings.notify_slack_enabled and settings.notify_slack_webhook_url is not None:
        out.append(
            SlackChannel(
                settings.notify_slack_webhook_url,
                timeout_s=timeout,
                verbose=settings.alert_verbose,
                kinds=ANALYSIS_KINDS if settings.slack_analysis_only else None,
            )
        )
    if settings.notify_telegram_enabled and settings.notify_telegram_bot_token is not None:
        assert settings.notify_telegram_chat_id is not None
        out.append(
            TelegramChannel(
                settings.notify_telegram_bot_token,
                settings.notify_telegram_chat_id,
                api_base=settings.notify_telegram_api_base,
                timeout_s=timeout,
            )
        )
    if settings.notify_discord_enabled and settings.notify_discord_webhook_url is not None:
        out.append(DiscordChannel(settings.notify_discord_webhook_url, timeout_s=timeout))
    if settings.notify_apprise_urls:
        out.append(AppriseChannel([u.get_secret_value() for u in settings.notify_apprise_urls]))
    return out


def notifier_from_settings(settings: Settings, store: Store, **overrides: object) -> Notifier:
    """A :class:`Notifier` over the configured channels with the settings' limits."""
    from montalaq.guards import GuardSettings
    from montalaq.retry import RetryPolicy
    from montalaq.throttle import ErrorThrottle

    guards = GuardSettings.from_settings(settings)
    kwargs: dict[str, object] = {
        "dry_run": settings.notify_dry_run,
        "rate_limiter": guards.rate_limiter(
            limit=settings.notify_rate_limit_per_min, window_s=60.0, name="notify-rate"
        ),
        "retry": RetryPolicy(
            max_attempts=settings.notify_retry_max_attempts,
            base_s=settings.notify_retry_base_sec,
            max_delay_s=settings.notify_retry_max_delay_sec,
        ),
        "breaker_failures": settings.notify_breaker_failures,
        "breaker_window_s": settings.notify_breaker_window_sec,
        "breaker_cooldown_s": settings.notify_breaker_cooldown_sec,
        "dedupe": guards.dedupe(ttl_s=settings.analysis_notify_dedupe_sec, name="notify-dedupe"),
        "throttle": ErrorThrottle(
            {
                "STARTUP": settings.throttle_window_startup_sec,
                "WEBSOCKET": settings.throttle_window_websocket_sec,
                "BROKER": settings.throttle_window_broker_sec,
                "DATABASE": settings.throttle_window_database_sec,
            },
            aggregation_s=settings.throttle_aggregation_sec,
            default_window_s=settings.throttle_window_default_sec,
        ),
    }
    kwargs.update(overrides)
    return Notifier(store, channels_from_settings(settings), **kwargs)  # type: ignore[arg-type]


__all__ = [
    "ANALYSIS_KINDS",
    "AppriseChannel",
    "Channel",
    "DeliveryError",
    "DeliveryStats",
    "DigestItem",
    "DiscordChannel",
    "EmailChannel",
    "Message",
    "Notifier",
    "NotifyResult",
    "Severity",
    "SignalDecision",
    "SignalHook",
    "SlackChannel",
    "TelegramChannel",
    "WebhookChannel",
    "channels_from_settings",
    "notifier_from_settings",
    "signal_key",
]
