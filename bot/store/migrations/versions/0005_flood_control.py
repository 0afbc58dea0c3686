"""flood control: surplus messages are marked; a chat's latest messages are one index range

Revision ID: 0005
Revises: 0004
Create Date: 2026-12-04 11:30:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0005"
down_revision = "0004"
branch_labels = None
depends_on = None


def upgrade() -> None:
    # A plain ADD COLUMN (a literal default): on SQLite a batch would copy and drop the
    # table, and dropping `messages` cascades to the rows that point at it.
    # Existing rows were all answered normally.
    op.add_column(
        "messages", sa.Column("flooded", sa.Boolean(), nullable=False, server_default="0")
    )
    op.create_index(
        "ix_messages_merchant_recent",
        "messages",
        ["merchant_id", "direction", "created_at"],
        unique=False,
    )


def downgrade() -> None:
    with op.batch_alter_table("messages", schema=None) as batch_op:
        batch_op.drop_index("ix_messages_merchant_recent")
        batch_op.drop_column("flooded")
