"""Notification channels, one module a service: email (SMTP), generic webhook, Slack, Telegram,
Discord, apprise.

A channel renders one :class:`~montalaq.notify.message.Message` into its service's payload and
delivers it once: ``send`` returns, or raises :class:`~montalaq.notify.message.DeliveryError`
saying whether a retry can help. Retries, breakers, rate limits and the outbox live in the
notifier. What counts as transient or permanent, secrets and limits: docs/semantics.md,
section Notifications ("Channels", "Secrets"); ``Retry-After``: section Guards.
"""

from __future__ import annotations

from montalaq.notify.channels.apprise import AppriseChannel
from montalaq.notify.channels.base import Channel
from montalaq.notify.channels.discord import (
    DISCORD_CONTENT_MAX_CHARS,
    DISCORD_DESCRIPTION_MAX_CHARS,
    DISCORD_EMBED_TOTAL_MAX_CHARS,
    DISCORD_FIELD_NAME_MAX_CHARS,
    DISCORD_FIELD_VALUE_MAX_CHARS,
    DISCORD_FIELDS_MAX,
    DISCORD_FOOTER_MAX_CHARS,
    DISCORD_TITLE_MAX_CHARS,
    DiscordChannel,
)
from montalaq.notify.channels.email import EmailChannel, TlsMode
from montalaq.notify.channels.slack import (
    SLACK_FIELD_MAX_CHARS,
    SLACK_FIELDS_PER_SECTION,
    SLACK_HEADER_MAX_CHARS,
    SLACK_SECTION_MAX_CHARS,
    SLACK_TEXT_MAX_CHARS,
    SlackChannel,
)
from montalaq.notify.channels.telegram import TELEGRAM_TEXT_MAX_CHARS, TelegramChannel
from montalaq.notify.channels.webhook import WebhookChannel
from montalaq.retry import parse_retry_after

__all__ = [
    "DISCORD_CONTENT_MAX_CHARS",
    "DISCORD_DESCRIPTION_MAX_CHARS",
    "DISCORD_EMBED_TOTAL_MAX_CHARS",
    "DISCORD_FIELDS_MAX",
    "DISCORD_FIELD_NAME_MAX_CHARS",
    "DISCORD_FIELD_VALUE_MAX_CHARS",
    "DISCORD_FOOTER_MAX_CHARS",
    "DISCORD_TITLE_MAX_CHARS",
    "SLACK_FIELDS_PER_SECTION",
    "SLACK_FIELD_MAX_CHARS",
    "SLACK_HEADER_MAX_CHARS",
    "SLACK_SECTION_MAX_CHARS",
    "SLACK_TEXT_MAX_CHARS",
    "TELEGRAM_TEXT_MAX_CHARS",
    "AppriseChannel",
    "Channel",
    "DiscordChannel",
    "EmailChannel",
    "SlackChannel",
    "TelegramChannel",
    "TlsMode",
    "WebhookChannel",
    "parse_retry_after",
]
