"""shared workers: delivery claims, reminders through the outbox, periodic jobs, published
content and models in the database

Revision ID: 0004
Revises: 0003
Create Date: 2026-12-04 11:00:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None


def upgrade() -> None:
    # Plain ADD COLUMNs (literal defaults): on SQLite a batch would copy and drop the table,
    # and dropping `messages` cascades to the rows that point at it.
    op.add_column("messages", sa.Column("claimed_until", sa.DateTime(timezone=True)))
    op.create_index(
        "ix_messages_undelivered",
        "messages",
        ["id"],
        postgresql_where=sa.text("NOT delivered"),
        sqlite_where=sa.text("NOT delivered"),
    )
    op.add_column("outbox", sa.Column("html", sa.Text(), nullable=False, server_default=""))
    op.add_column("outbox", sa.Column("buttons", sa.JSON(), nullable=False, server_default="[]"))
    op.add_column("outbox", sa.Column("claimed_until", sa.DateTime(timezone=True)))
    op.create_table(
        "scheduled_jobs",
        sa.Column("name", sa.String(length=64), nullable=False),
        sa.Column("last_run_at", sa.DateTime(timezone=True), nullable=True),
        sa.PrimaryKeyConstraint("name"),
    )
    op.create_table(
        "content_files",
        sa.Column("path", sa.String(length=255), nullable=False),
        sa.Column("text", sa.Text(), nullable=False),
        sa.Column("deleted", sa.Boolean(), nullable=False),
        sa.Column("base_sha", sa.String(length=64), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("path"),
    )
    op.create_table(
        "model_artifacts",
        sa.Column("name", sa.String(length=32), nullable=False),
        sa.Column("sha", sa.String(length=64), nullable=False),
        sa.Column("data", sa.LargeBinary(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("name"),
    )


def downgrade() -> None:
    op.drop_table("model_artifacts")
    op.drop_table("content_files")
    op.drop_table("scheduled_jobs")
    with op.batch_alter_table("outbox") as batch:
        batch.drop_column("claimed_until")
        batch.drop_column("buttons")
        batch.drop_column("html")
    op.drop_index("ix_messages_undelivered", table_name="messages")
    with op.batch_alter_table("messages") as batch:
        batch.drop_column("claimed_until")
