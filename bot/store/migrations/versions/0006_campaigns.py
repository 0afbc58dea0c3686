"""campaigns: news consent, unreachable merchants, campaigns and their deliveries

Revision ID: 0006
Revises: 0005
Create Date: 2026-12-04 12:00:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0006"
down_revision = "0005"
branch_labels = None
depends_on = None


def upgrade() -> None:
    # Plain ADD COLUMNs (a literal default): on SQLite a batch would copy and drop
    # `merchants`, and dropping it cascades to every row about the merchants.
    op.add_column(
        "merchants",
        sa.Column("news_consent", sa.Boolean(), nullable=False, server_default="0"),
    )
    op.add_column("merchants", sa.Column("news_consent_at", sa.DateTime(timezone=True)))
    op.add_column("merchants", sa.Column("unreachable_at", sa.DateTime(timezone=True)))
    op.create_table(
        "campaigns",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("text", sa.Text(), nullable=False),
        sa.Column("buttons", sa.JSON(), nullable=False),
        sa.Column("segment", sa.JSON(), nullable=False),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("scheduled_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("created_by", sa.String(length=254), nullable=False),
        sa.Column("approved_by", sa.String(length=254), nullable=False),
        sa.Column("targeted", sa.Integer(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("started_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("finished_at", sa.DateTime(timezone=True), nullable=True),
        sa.PrimaryKeyConstraint("id"),
    )
    op.create_index("ix_campaigns_status", "campaigns", ["status"])
    op.create_table(
        "campaign_deliveries",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("campaign_id", sa.Integer(), nullable=False),
        sa.Column("merchant_id", sa.Integer(), nullable=False),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("attempts", sa.Integer(), nullable=False),
        sa.Column("claimed_until", sa.DateTime(timezone=True), nullable=True),
        sa.Column("sent_at", sa.DateTime(timezone=True), nullable=True),
        sa.ForeignKeyConstraint(["campaign_id"], ["campaigns.id"], ondelete="CASCADE"),
        sa.ForeignKeyConstraint(["merchant_id"], ["merchants.id"], ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("campaign_id", "merchant_id", name="uq_campaign_delivery"),
    )
    op.create_index("ix_campaign_deliveries_merchant_id", "campaign_deliveries", ["merchant_id"])
    op.create_index(
        "ix_campaign_deliveries_pending", "campaign_deliveries", ["campaign_id", "status", "id"]
    )


def downgrade() -> None:
    op.drop_table("campaign_deliveries")
    op.drop_index("ix_campaigns_status", table_name="campaigns")
    op.drop_table("campaigns")
    with op.batch_alter_table("merchants") as batch:
        batch.drop_column("unreachable_at")
        batch.drop_column("news_consent_at")
        batch.drop_column("news_consent")
