"""montalaq's tables as Django models, for the read-only admin and your own queries.

Unmanaged (``Meta.managed = False``): montalaq's Alembic migrations own the tables
(``manage.py migrate`` runs them, :mod:`montalaq.django.tables`), Django never creates,
alters or flushes them. The fields mirror :mod:`montalaq.store.schema` for the columns an
operator reads; they live in the Django database ``DATABASE_ALIAS`` (docs/semantics.md,
"Django"). Read them with ``.using(tables_alias())`` or the router of
:mod:`montalaq.django.tables`; write through montalaq's store, never through these.
"""

# mypy: disable-error-code="import-untyped"
# mypy: allow-subclassing-any
from __future__ import annotations

from typing import Any

from django.db import models


class Analysis(models.Model):
    """One analysis of a closed bar (``trade_analysis``; docs/semantics.md, "Analyses")."""

    id = models.BigAutoField(primary_key=True)
    symbol = models.CharField(max_length=64)
    timeframe = models.CharField(max_length=16)
    bar_ts = models.DateTimeField("bar start")
    status = models.CharField(max_length=16)
    final_decision = models.CharField(max_length=8, null=True)
    rule_confidence_score = models.FloatField(null=True)
    ml_confidence = models.FloatField(null=True)
    composite_score = models.FloatField(null=True)
    stop_loss = models.FloatField(null=True)
    take_profit = models.FloatField(null=True)
    close = models.FloatField(null=True)
    error_code = models.CharField(max_length=64, null=True)
    error_message = models.TextField(null=True)
    top_features = models.JSONField(null=True)
    correlation_id = models.CharField(max_length=64, null=True)
    created_at = models.DateTimeField()
    updated_at = models.DateTimeField()

    class Meta:
        managed = False
        db_table = "trade_analysis"
        verbose_name = "analysis"
        verbose_name_plural = "analyses"

    def __str__(self) -> str:
        return f"{self.symbol} {self.timeframe} {self.bar_ts:%Y-%m-%d %H:%M} {self.status}"


class Finding(models.Model):
    """One finding of an agent (``findings``; docs/semantics.md, "Agents")."""

    id = models.BigAutoField(primary_key=True)
    ts_utc = models.DateTimeField("time")
    agent = models.CharField(max_length=64)
    symbol = models.CharField(max_length=64)
    score = models.FloatField()
    label = models.CharField(max_length=128)
    details = models.JSONField()
    correlation_id = models.CharField(max_length=64, null=True)

    class Meta:
        managed = False
        db_table = "findings"

    def __str__(self) -> str:
        return f"{self.agent} {self.symbol} {self.score:g} {self.label}".strip()


class OutboxNotification(models.Model):
    """One notification for one channel (``notification_outbox``; docs/semantics.md,
    "Notifications"): queued, then sent, folded into a digest or dead."""

    id = models.BigAutoField(primary_key=True)
    created_at = models.DateTimeField()
    channel = models.CharField(max_length=32)
    idempotency_key = models.CharField(max_length=128)
    kind = models.CharField(max_length=32)
    severity = models.CharField(max_length=16)
    payload = models.JSONField()
    status = models.CharField(max_length=16)
    attempts = models.IntegerField()
    next_attempt_at = models.DateTimeField()
    lease_until = models.DateTimeField(null=True)
    last_error = models.TextField(null=True)
    sent_at = models.DateTimeField(null=True)
    digest_key = models.CharField(max_length=128, null=True)
    correlation_id = models.CharField(max_length=64, null=True)
    error_code = models.CharField(max_length=64, null=True)

    class Meta:
        managed = False
        db_table = "notification_outbox"
        verbose_name = "outbox notification"

    @property
    def title(self) -> str:
        """The message's title (from its payload)."""
        payload: Any = self.payload
        return str(payload.get("title", "")) if isinstance(payload, dict) else ""

    def __str__(self) -> str:
        return f"{self.kind} to {self.channel}: {self.title} ({self.status})"


class AlertManager(models.Manager["Alert"]):
    """The outbox rows of kind ``alert``."""

    def get_queryset(self) -> models.QuerySet[Alert]:
        return super().get_queryset().filter(kind="alert")


class Alert(OutboxNotification):
    """A monitoring alert (FIRING or RESOLVED) as queued for a channel: the outbox rows of
    kind ``alert`` (docs/semantics.md, "Monitoring"; without a channel enabled alerts are
    only in the alert files, ``/api/alerts``)."""

    objects = AlertManager()

    class Meta:
        proxy = True
        verbose_name = "alert"


class ErrorEpisode(models.Model):
    """One episode of an error type (``error_notifications_log``; docs/semantics.md,
    "Error episodes")."""

    id = models.BigAutoField(primary_key=True)
    error_type = models.CharField(max_length=64)
    error_message = models.TextField()
    first_occurrence = models.DateTimeField()
    last_occurrence = models.DateTimeField()
    occurrence_count = models.BigIntegerField()
    last_notification_sent = models.DateTimeField(null=True)
    notification_count = models.BigIntegerField()
    is_resolved = models.BooleanField()
    resolved_at = models.DateTimeField(null=True)

    class Meta:
        managed = False
        db_table = "error_notifications_log"

    def __str__(self) -> str:
        return f"{self.error_type} since {self.first_occurrence:%Y-%m-%d %H:%M}"


__all__ = ["Alert", "Analysis", "ErrorEpisode", "Finding", "OutboxNotification"]
