"""Retention limits: nothing about a merchant is kept longer than needed.

Messages older than the retention period are deleted; merchants inactive for longer are
erased entirely (cascade); processed update ids are only needed for a few days.
"""

from __future__ import annotations

from datetime import datetime, timedelta

from sqlalchemy import delete
from sqlalchemy.orm import Session

from .models import HandoffRequest, Merchant, Message, ProcessedUpdate, utcnow

UPDATE_IDS_KEPT = timedelta(days=7)


def purge(session: Session, retention_days: int, now: datetime | None = None) -> dict[str, int]:
    now = now or utcnow()
    cutoff = now - timedelta(days=retention_days)
    counts = {
        "merchants": session.execute(
            delete(Merchant).where(Merchant.last_seen_at < cutoff)
        ).rowcount,
        "messages": session.execute(delete(Message).where(Message.created_at < cutoff)).rowcount,
        "handoff_requests": session.execute(
            delete(HandoffRequest).where(
                HandoffRequest.status == "closed", HandoffRequest.created_at < cutoff
            )
        ).rowcount,
        "processed_updates": session.execute(
            delete(ProcessedUpdate).where(ProcessedUpdate.processed_at < now - UPDATE_IDS_KEPT)
        ).rowcount,
    }
    return counts


RETENTION_SETTING = "retention_days"
MIN_RETENTION_DAYS = 30
MAX_RETENTION_DAYS = 3650


def effective_retention_days(session: Session, default: int) -> int:
    """The period an administrator set in the back office, else COMPTOIR_RETENTION_DAYS."""
    from .models import AppSetting

    row = session.get(AppSetting, RETENTION_SETTING)
    try:
        return int(row.value) if row is not None else default
    except ValueError:
        return default
