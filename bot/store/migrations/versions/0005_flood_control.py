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
    with op.batch_alter_table("messages", schema=None) as batch_op:
        # Existing rows were all answered normally.
        batch_op.add_column(
            sa.Column("flooded", sa.Boolean(), nullable=False, server_default=sa.false())
        )
        batch_op.create_index(
            "ix_messages_merchant_recent", ["merchant_id", "direction", "created_at"], unique=False
        )


def downgrade() -> None:
    with op.batch_alter_table("messages", schema=None) as batch_op:
        batch_op.drop_index("ix_messages_merchant_recent")
        batch_op.drop_column("flooded")
