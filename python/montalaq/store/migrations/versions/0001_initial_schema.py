"""Initial schema: the tables of docs/semantics.md, Persistence (montalaq 0.1).

Revision ID: 0001
Revises: (none)
Create Date: 2026-11-22 04:26:31.449197
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision = "0001"
down_revision = None
branch_labels = None
depends_on = None


def upgrade() -> None:

    op.create_table(
        "dedup_events",
        sa.Column(
            "id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), autoincrement=True, nullable=False
        ),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("key", sa.String(length=128), nullable=False),
        sa.Column("correlation_id", sa.String(length=64), nullable=True),
        sa.Column("symbol", sa.String(length=64), nullable=True),
        sa.Column("action", sa.String(length=16), nullable=False),
        sa.Column(
            "payload_json",
            sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), "postgresql"),
            nullable=True,
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_dedup_events")),
    )
    with op.batch_alter_table("dedup_events", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_dedup_events_created_at"), ["created_at"], unique=False)
        batch_op.create_index(
            batch_op.f("ix_dedup_events_key_created_at"), ["key", "created_at"], unique=False
        )

    op.create_table(
        "error_notifications_log",
        sa.Column("error_type", sa.String(length=64), nullable=False),
        sa.Column("first_occurrence", sa.DateTime(timezone=True), nullable=False),
        sa.Column("last_occurrence", sa.DateTime(timezone=True), nullable=False),
        sa.Column("count", sa.BigInteger(), nullable=False),
        sa.Column("notifications_sent", sa.BigInteger(), nullable=False),
        sa.Column("resolved", sa.Boolean(), nullable=False),
        sa.Column("resolved_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("error_type", name=op.f("pk_error_notifications_log")),
    )
    op.create_table(
        "findings",
        sa.Column(
            "id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), autoincrement=True, nullable=False
        ),
        sa.Column("ts_utc", sa.DateTime(timezone=True), nullable=False),
        sa.Column("agent", sa.String(length=64), nullable=False),
        sa.Column("symbol", sa.String(length=64), nullable=False),
        sa.Column("score", sa.Float(), nullable=False),
        sa.Column("label", sa.String(length=128), nullable=False),
        sa.Column(
            "details",
            sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), "postgresql"),
            nullable=False,
        ),
        sa.Column("correlation_id", sa.String(length=64), nullable=True),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_findings")),
    )
    with op.batch_alter_table("findings", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_findings_symbol_ts_utc"), ["symbol", "ts_utc"], unique=False)
        batch_op.create_index(batch_op.f("ix_findings_ts_utc"), ["ts_utc"], unique=False)

    op.create_table(
        "ingestion_status",
        sa.Column("symbol", sa.String(length=64), nullable=False),
        sa.Column("timeframe", sa.String(length=16), nullable=False),
        sa.Column("provider", sa.String(length=32), nullable=True),
        sa.Column("freshness", sa.String(length=8), nullable=True),
        sa.Column("last_tick_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("escalation_level", sa.String(length=16), nullable=True),
        sa.Column("breaker_open", sa.Boolean(), nullable=False),
        sa.Column("last_error_code", sa.String(length=64), nullable=True),
        sa.Column("last_signal_bar_ts", sa.DateTime(timezone=True), nullable=True),
        sa.Column("last_notify_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("symbol", "timeframe", name=op.f("pk_ingestion_status")),
    )
    op.create_table(
        "notification_outbox",
        sa.Column(
            "id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), autoincrement=True, nullable=False
        ),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("channel", sa.String(length=32), nullable=False),
        sa.Column("idempotency_key", sa.String(length=128), nullable=False),
        sa.Column("kind", sa.String(length=32), nullable=False),
        sa.Column("severity", sa.String(length=16), nullable=False),
        sa.Column(
            "payload",
            sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), "postgresql"),
            nullable=False,
        ),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("attempts", sa.Integer(), nullable=False),
        sa.Column("next_attempt_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("lease_until", sa.DateTime(timezone=True), nullable=True),
        sa.Column("last_error", sa.Text(), nullable=True),
        sa.Column("sent_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("digest_key", sa.String(length=128), nullable=True),
        sa.Column("correlation_id", sa.String(length=64), nullable=True),
        sa.Column("error_code", sa.String(length=64), nullable=True),
        sa.CheckConstraint(
            "status IN ('PENDING','SENT','FOLDED','DIGESTED','DEAD','DRY_RUN')",
            name=op.f("ck_notification_outbox_status"),
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_notification_outbox")),
        sa.UniqueConstraint(
            "channel", "idempotency_key", name=op.f("uq_notification_outbox_channel_idempotency_key")
        ),
    )
    with op.batch_alter_table("notification_outbox", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_notification_outbox_status_channel_next_attempt_at"),
            ["status", "channel", "next_attempt_at"],
            unique=False,
        )

    op.create_table(
        "operational_state",
        sa.Column("id", sa.Integer(), autoincrement=False, nullable=False),
        sa.Column("state", sa.String(length=16), nullable=False),
        sa.Column("reason", sa.Text(), nullable=False),
        sa.Column("entered_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column(
            "details",
            sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), "postgresql"),
            nullable=True,
        ),
        sa.CheckConstraint("id = 1", name=op.f("ck_operational_state_single_row")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_operational_state")),
    )
    op.create_table(
        "position_state",
        sa.Column("symbol", sa.String(length=64), nullable=False),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("qty", sa.Float(), nullable=False),
        sa.Column("avg_price", sa.Float(), nullable=True),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("last_action", sa.String(length=16), nullable=True),
        sa.Column("last_conf", sa.Float(), nullable=True),
        sa.PrimaryKeyConstraint("symbol", name=op.f("pk_position_state")),
    )
    op.create_table(
        "trade_analysis",
        sa.Column(
            "id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), autoincrement=True, nullable=False
        ),
        sa.Column("symbol", sa.String(length=64), nullable=False),
        sa.Column("timeframe", sa.String(length=16), nullable=False),
        sa.Column("bar_ts", sa.DateTime(timezone=True), nullable=False),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("final_decision", sa.String(length=8), nullable=True),
        sa.Column("rule_confidence_score", sa.Float(), nullable=True),
        sa.Column("ml_confidence", sa.Float(), nullable=True),
        sa.Column("composite_score", sa.Float(), nullable=True),
        sa.Column("stop_loss", sa.Float(), nullable=True),
        sa.Column("take_profit", sa.Float(), nullable=True),
        sa.Column("close", sa.Float(), nullable=True),
        sa.Column("error_code", sa.String(length=64), nullable=True),
        sa.Column("error_message", sa.Text(), nullable=True),
        sa.Column(
            "top_features",
            sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), "postgresql"),
            nullable=True,
        ),
        sa.Column("correlation_id", sa.String(length=64), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.CheckConstraint(
            "status IN ('PENDING','RUNNING','COMPLETE','FAILED')", name=op.f("ck_trade_analysis_status")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_trade_analysis")),
        sa.UniqueConstraint(
            "symbol", "timeframe", "bar_ts", name=op.f("uq_trade_analysis_symbol_timeframe_bar_ts")
        ),
    )


def downgrade() -> None:

    op.drop_table("trade_analysis")
    op.drop_table("position_state")
    op.drop_table("operational_state")
    with op.batch_alter_table("notification_outbox", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_notification_outbox_status_channel_next_attempt_at"))

    op.drop_table("notification_outbox")
    op.drop_table("ingestion_status")
    with op.batch_alter_table("findings", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_findings_ts_utc"))
        batch_op.drop_index(batch_op.f("ix_findings_symbol_ts_utc"))

    op.drop_table("findings")
    op.drop_table("error_notifications_log")
    with op.batch_alter_table("dedup_events", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_dedup_events_key_created_at"))
        batch_op.drop_index(batch_op.f("ix_dedup_events_created_at"))

    op.drop_table("dedup_events")
