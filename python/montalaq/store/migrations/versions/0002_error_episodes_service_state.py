"""Error episodes and service state: ``error_notifications_log`` becomes one row per
episode with the columns of docs/semantics.md ("Error episodes"), and ``service_state``
keeps the snapshots a process restores on start (board, error throttle).

Each row of the old per-type table becomes one episode (its totals carried over).

Revision ID: 0002
Revises: 0001
Create Date: 2026-12-07
"""

from __future__ import annotations

from datetime import datetime

import sqlalchemy as sa
from alembic import op

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None


def _ts(value: object) -> object:
    """A stored time as a datetime (SQLite hands raw text back to a plain SELECT)."""
    if isinstance(value, str):
        return datetime.fromisoformat(value)
    return value


_ID = sa.BigInteger().with_variant(sa.Integer(), "sqlite")
_TS = sa.DateTime(timezone=True)


def upgrade() -> None:
    # Read, drop, create, insert: renaming would keep the old primary key's name, which
    # PostgreSQL will not give to a second table.
    old = (
        op.get_bind()
        .execute(
            sa.text(
                "SELECT error_type, first_occurrence, last_occurrence, count, notifications_sent, "
                "resolved, resolved_at, updated_at FROM error_notifications_log"
            )
        )
        .fetchall()
    )
    op.drop_table("error_notifications_log")
    table = op.create_table(
        "error_notifications_log",
        sa.Column("id", _ID, autoincrement=True, nullable=False),
        sa.Column("error_type", sa.String(length=64), nullable=False),
        sa.Column("error_message", sa.Text(), nullable=False),
        sa.Column("first_occurrence", _TS, nullable=False),
        sa.Column("last_occurrence", _TS, nullable=False),
        sa.Column("occurrence_count", sa.BigInteger(), nullable=False),
        sa.Column("last_notification_sent", _TS, nullable=True),
        sa.Column("notification_count", sa.BigInteger(), nullable=False),
        sa.Column("is_resolved", sa.Boolean(), nullable=False),
        sa.Column("resolved_at", _TS, nullable=True),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_error_notifications_log")),
    )
    with op.batch_alter_table("error_notifications_log", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_error_notifications_log_last_occurrence"), ["last_occurrence"], unique=False
        )
        batch_op.create_index(
            "uq_error_notifications_log_open",
            ["error_type"],
            unique=True,
            sqlite_where=sa.text("NOT is_resolved"),
            postgresql_where=sa.text("NOT is_resolved"),
        )
    if old:
        op.bulk_insert(
            table,
            [
                {
                    "error_type": r.error_type,
                    "error_message": "",
                    "first_occurrence": _ts(r.first_occurrence),
                    "last_occurrence": _ts(r.last_occurrence),
                    "occurrence_count": r._mapping["count"],
                    "last_notification_sent": _ts(r.updated_at) if r.notifications_sent else None,
                    "notification_count": r.notifications_sent,
                    "is_resolved": r.resolved,
                    "resolved_at": _ts(r.resolved_at),
                }
                for r in old
            ],
        )
    op.create_table(
        "service_state",
        sa.Column("name", sa.String(length=64), nullable=False),
        sa.Column("payload", sa.Text(), nullable=False),
        sa.Column("saved_at", _TS, nullable=False),
        sa.PrimaryKeyConstraint("name", name=op.f("pk_service_state")),
    )


def downgrade() -> None:
    op.drop_table("service_state")
    # Per type: the totals of its episodes, the newest one's state.
    rows = (
        op.get_bind()
        .execute(
            sa.text(
                "SELECT error_type, MIN(first_occurrence) AS first_occurrence, "
                "MAX(last_occurrence) AS last_occurrence, SUM(occurrence_count) AS count, "
                "SUM(notification_count) AS notifications_sent, "
                "MIN(CASE WHEN is_resolved THEN 1 ELSE 0 END) AS resolved, MAX(resolved_at) AS resolved_at "
                "FROM error_notifications_log GROUP BY error_type"
            )
        )
        .fetchall()
    )
    op.drop_table("error_notifications_log")
    table = op.create_table(
        "error_notifications_log",
        sa.Column("error_type", sa.String(length=64), nullable=False),
        sa.Column("first_occurrence", _TS, nullable=False),
        sa.Column("last_occurrence", _TS, nullable=False),
        sa.Column("count", sa.BigInteger(), nullable=False),
        sa.Column("notifications_sent", sa.BigInteger(), nullable=False),
        sa.Column("resolved", sa.Boolean(), nullable=False),
        sa.Column("resolved_at", _TS, nullable=True),
        sa.Column("updated_at", _TS, nullable=False),
        sa.PrimaryKeyConstraint("error_type", name=op.f("pk_error_notifications_log")),
    )
    if rows:
        op.bulk_insert(
            table,
            [
                {
                    "error_type": r.error_type,
                    "first_occurrence": _ts(r.first_occurrence),
                    "last_occurrence": _ts(r.last_occurrence),
                    "count": int(r._mapping["count"]),
                    "notifications_sent": int(r.notifications_sent),
                    "resolved": bool(r.resolved),
                    "resolved_at": _ts(r.resolved_at),
                    "updated_at": _ts(r.last_occurrence),
                }
                for r in rows
            ],
        )
