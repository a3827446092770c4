"""The tables of docs/semantics.md, Persistence as SQLAlchemy Core metadata: the single source the migrations
are checked against (a test diffs this metadata with the migrated database).

Times are ``UTCDateTime``: timestamp-with-time-zone on PostgreSQL, ISO text on SQLite,
always aware UTC datetimes in Python. Indexes follow the API's queries: latest/history
analyses per (symbol, timeframe), latest findings (per symbol), due outbox rows.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from sqlalchemy import (
    JSON,
    BigInteger,
    Boolean,
    CheckConstraint,
    Column,
    DateTime,
    Dialect,
    Float,
    Index,
    Integer,
    MetaData,
    String,
    Table,
    Text,
    UniqueConstraint,
    text,
)
from sqlalchemy.dialects.postgresql import JSONB
from sqlalchemy.types import TypeDecorator


class UTCDateTime(TypeDecorator[datetime]):
    """Aware UTC datetimes in and out, whatever the backend keeps (naive values rejected)."""

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError("naive datetime: montalaq stores aware UTC datetimes only")
        value = value.astimezone(UTC)
        # SQLite keeps text: drop the offset so every stored value has one format and
        # compares correctly as text (they are all UTC).
        return value.replace(tzinfo=None) if dialect.name == "sqlite" else value

    def process_result_value(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


# BIGINT ids on PostgreSQL; SQLite only auto-increments an INTEGER PRIMARY KEY.
Id = BigInteger().with_variant(Integer(), "sqlite")
Json: Any = JSON().with_variant(JSONB(), "postgresql")

NAMING = {
    "ix": "ix_%(table_name)s_%(column_0_N_name)s",
    "uq": "uq_%(table_name)s_%(column_0_N_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "pk": "pk_%(table_name)s",
}

metadata = MetaData(naming_convention=NAMING)

trade_analysis = Table(
    "trade_analysis",
    metadata,
    Column("id", Id, primary_key=True, autoincrement=True),
    Column("symbol", String(64), nullable=False),
    Column("timeframe", String(16), nullable=False),
    Column("bar_ts", UTCDateTime(), nullable=False),
    Column("status", String(16), nullable=False),
    Column("final_decision", String(8)),
    Column("rule_confidence_score", Float),
    Column("ml_confidence", Float),
    Column("composite_score", Float),
    Column("stop_loss", Float),
    Column("take_profit", Float),
    Column("close", Float),
    Column("error_code", String(64)),
    Column("error_message", Text),
    Column("top_features", Json),
    Column("correlation_id", String(64)),
    Column("created_at", UTCDateTime(), nullable=False),
    Column("updated_at", UTCDateTime(), nullable=False),
    # One analysis per closed bar; also the index behind latest/history (bar_ts DESC scans).
    UniqueConstraint("symbol", "timeframe", "bar_ts"),
    CheckConstraint("status IN ('PENDING','RUNNING','COMPLETE','FAILED')", name="status"),
)

ingestion_status = Table(
    "ingestion_status",
    metadata,
    Column("symbol", String(64), primary_key=True),
    Column("timeframe", String(16), primary_key=True),
    Column("provider", String(32)),
    Column("freshness", String(8)),
    Column("last_tick_at", UTCDateTime()),
    Column("escalation_level", String(16)),
    Column("breaker_open", Boolean, nullable=False, default=False),
    Column("last_error_code", String(64)),
    Column("last_signal_bar_ts", UTCDateTime()),
    Column("last_notify_at", UTCDateTime()),
    Column("updated_at", UTCDateTime(), nullable=False),
)

findings = Table(
    "findings",
    metadata,
    Column("id", Id, primary_key=True, autoincrement=True),
    Column("ts_utc", UTCDateTime(), nullable=False),
    Column("agent", String(64), nullable=False),
    Column("symbol", String(64), nullable=False),
    Column("score", Float, nullable=False),
    Column("label", String(128), nullable=False, default=""),
    Column("details", Json, nullable=False),
    Column("correlation_id", String(64)),
    Index(None, "ts_utc"),
    Index(None, "symbol", "ts_utc"),
)

position_state = Table(
    "position_state",
    metadata,
    Column("symbol", String(64), primary_key=True),
    Column("status", String(16), nullable=False),
    Column("qty", Float, nullable=False, default=0.0),
    Column("avg_price", Float),
    Column("updated_at", UTCDateTime(), nullable=False),
    Column("last_action", String(16)),
    Column("last_conf", Float),
)

dedup_events = Table(
    "dedup_events",
    metadata,
    Column("id", Id, primary_key=True, autoincrement=True),
    Column("created_at", UTCDateTime(), nullable=False),
    Column("key", String(128), nullable=False),
    Column("correlation_id", String(64)),
    Column("symbol", String(64)),
    Column("action", String(16), nullable=False),
    Column("payload_json", Json),
    Index(None, "key", "created_at"),
    Index(None, "created_at"),
)

error_notifications_log = Table(
    "error_notifications_log",
    metadata,
    # One row per episode of an error type: opened by its first occurrence, closed when the
    # condition clears (docs/semantics.md, "Error episodes").
    Column("id", Id, primary_key=True, autoincrement=True),
    Column("error_type", String(64), nullable=False),
    Column("error_message", Text, nullable=False, default=""),
    Column("first_occurrence", UTCDateTime(), nullable=False),
    Column("last_occurrence", UTCDateTime(), nullable=False),
    Column("occurrence_count", BigInteger, nullable=False),
    Column("last_notification_sent", UTCDateTime()),
    Column("notification_count", BigInteger, nullable=False),
    Column("is_resolved", Boolean, nullable=False),
    Column("resolved_at", UTCDateTime()),
    # At most one open episode per type, so two processes reporting at once share it.
    Index(
        "uq_error_notifications_log_open",
        "error_type",
        unique=True,
        sqlite_where=text("NOT is_resolved"),
        postgresql_where=text("NOT is_resolved"),
    ),
    Index(None, "last_occurrence"),
)

service_state = Table(
    "service_state",
    metadata,
    # Snapshots a process restores on start (the board, the error throttle): JSON text of
    # the native state, with the format it was written in.
    Column("name", String(64), primary_key=True),
    Column("payload", Text, nullable=False),
    Column("saved_at", UTCDateTime(), nullable=False),
)

operational_state = Table(
    "operational_state",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=False),
    Column("state", String(16), nullable=False),
    Column("reason", Text, nullable=False, default=""),
    Column("entered_at", UTCDateTime(), nullable=False),
    Column("updated_at", UTCDateTime(), nullable=False),
    Column("details", Json),
    CheckConstraint("id = 1", name="single_row"),
)

notification_outbox = Table(
    "notification_outbox",
    metadata,
    Column("id", Id, primary_key=True, autoincrement=True),
    Column("created_at", UTCDateTime(), nullable=False),
    Column("channel", String(32), nullable=False),
    Column("idempotency_key", String(128), nullable=False),
    Column("kind", String(32), nullable=False),
    Column("severity", String(16), nullable=False),
    Column("payload", Json, nullable=False),
    Column("status", String(16), nullable=False),
    Column("attempts", Integer, nullable=False, default=0),
    Column("next_attempt_at", UTCDateTime(), nullable=False),
    Column("lease_until", UTCDateTime()),
    Column("last_error", Text),
    Column("sent_at", UTCDateTime()),
    Column("digest_key", String(128)),
    Column("correlation_id", String(64)),
    Column("error_code", String(64)),
    # The same event is never queued twice for a channel (a retried producer, a replay).
    UniqueConstraint("channel", "idempotency_key"),
    # Claims: due PENDING rows of a channel in id order; folded rows waiting for a digest.
    Index(None, "status", "channel", "next_attempt_at"),
    CheckConstraint("status IN ('PENDING','SENT','FOLDED','DIGESTED','DEAD','DRY_RUN')", name="status"),
)

__all__ = [
    "UTCDateTime",
    "dedup_events",
    "error_notifications_log",
    "findings",
    "ingestion_status",
    "metadata",
    "notification_outbox",
    "operational_state",
    "position_state",
    "service_state",
    "trade_analysis",
]
