"""campaign titles, nudge rules and per-delivery results (presses, stops)

Revision ID: 0007
Revises: 0006
Create Date: 2026-12-04 14:00:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0007"
down_revision = "0006"
branch_labels = None
depends_on = None


def upgrade() -> None:
    # Plain ADD COLUMNs with literal defaults (see 0006: no batch copy of tables).
    op.add_column(
        "campaigns", sa.Column("title", sa.String(120), nullable=False, server_default="")
    )
    op.add_column(
        "campaigns",
        sa.Column("kind", sa.String(8), nullable=False, server_default="campaign"),
    )
    op.add_column("campaigns", sa.Column("ends_at", sa.DateTime(timezone=True)))
    op.add_column("campaign_deliveries", sa.Column("created_at", sa.DateTime(timezone=True)))
    op.add_column("campaign_deliveries", sa.Column("pressed_at", sa.DateTime(timezone=True)))
    op.add_column("campaign_deliveries", sa.Column("stopped_at", sa.DateTime(timezone=True)))


def downgrade() -> None:
    with op.batch_alter_table("campaign_deliveries") as batch:
        batch.drop_column("stopped_at")
        batch.drop_column("pressed_at")
        batch.drop_column("created_at")
    with op.batch_alter_table("campaigns") as batch:
        batch.drop_column("ends_at")
        batch.drop_column("kind")
        batch.drop_column("title")
