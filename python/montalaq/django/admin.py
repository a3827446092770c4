"""The read-only Django admin of montalaq's records: analyses, findings, alerts, the outbox
and error episodes (docs/operations.md, "Django").

Nobody adds, changes or deletes a row here, superusers included: montalaq's store writes
them (a hand-edited outbox row or analysis would break what the store guarantees). The
pages read the Django database ``DATABASE_ALIAS`` (:func:`montalaq.django.tables.tables_alias`).
"""

# mypy: disable-error-code="import-untyped"
# mypy: allow-subclassing-any
from __future__ import annotations

from typing import Any

from django.contrib import admin

from montalaq.django import models
from montalaq.django.tables import tables_alias


class ReadOnlyAdmin(admin.ModelAdmin):
    """View permission only, on the alias that holds montalaq's tables."""

    list_per_page = 50
    show_full_result_count = False  # a COUNT(*) over a large table on every page

    def get_queryset(self, request: Any) -> Any:
        """The rows, read from :func:`tables_alias`."""
        return super().get_queryset(request).using(tables_alias())

    def has_add_permission(self, request: Any, obj: Any = None) -> bool:
        """Never: montalaq's store writes these rows."""
        return False

    def has_change_permission(self, request: Any, obj: Any = None) -> bool:
        """Never: the detail page is read-only."""
        return False

    def has_delete_permission(self, request: Any, obj: Any = None) -> bool:
        """Never (montalaq's retention and the outbox's states do that)."""
        return False


@admin.register(models.Analysis)
class AnalysisAdmin(ReadOnlyAdmin):
    """``trade_analysis``."""

    list_display = (
        "bar_ts",
        "symbol",
        "timeframe",
        "status",
        "final_decision",
        "composite_score",
        "close",
        "error_code",
    )
    list_filter = ("status", "final_decision", "timeframe", "symbol")
    search_fields = ("symbol", "correlation_id", "error_code")
    ordering = ("-bar_ts", "-id")
    date_hierarchy = "bar_ts"


@admin.register(models.Finding)
class FindingAdmin(ReadOnlyAdmin):
    """``findings``."""

    list_display = ("ts_utc", "agent", "symbol", "score", "label")
    list_filter = ("agent", "symbol")
    search_fields = ("agent", "symbol", "label", "correlation_id")
    ordering = ("-ts_utc", "-id")
    date_hierarchy = "ts_utc"


@admin.register(models.OutboxNotification)
class OutboxAdmin(ReadOnlyAdmin):
    """``notification_outbox``."""

    list_display = ("created_at", "channel", "kind", "severity", "title", "status", "attempts", "sent_at")
    list_filter = ("status", "channel", "kind", "severity")
    search_fields = ("idempotency_key", "correlation_id", "error_code", "last_error")
    ordering = ("-created_at", "-id")
    date_hierarchy = "created_at"


@admin.register(models.Alert)
class AlertAdmin(ReadOnlyAdmin):
    """The outbox rows of kind ``alert``."""

    list_display = ("created_at", "severity", "title", "channel", "status", "sent_at")
    list_filter = ("severity", "status", "channel")
    search_fields = ("idempotency_key", "correlation_id")
    ordering = ("-created_at", "-id")
    date_hierarchy = "created_at"


@admin.register(models.ErrorEpisode)
class ErrorEpisodeAdmin(ReadOnlyAdmin):
    """``error_notifications_log``."""

    list_display = (
        "error_type",
        "first_occurrence",
        "last_occurrence",
        "occurrence_count",
        "notification_count",
        "is_resolved",
    )
    list_filter = ("is_resolved", "error_type")
    search_fields = ("error_type", "error_message")
    ordering = ("-last_occurrence", "-id")
    date_hierarchy = "last_occurrence"


__all__ = ["AlertAdmin", "AnalysisAdmin", "ErrorEpisodeAdmin", "FindingAdmin", "OutboxAdmin", "ReadOnlyAdmin"]
