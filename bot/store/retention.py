"""Retention limits: nothing about a merchant is kept longer than needed.

Messages older than the retention period are deleted; merchants inactive for longer are
erased entirely (cascade); processed update ids are only needed for a few days, staff
sign-in attempts for one, expired staff sessions not at all.
"""

from __future__ import annotations

from datetime import datetime, timedelta

from sqlalchemy import delete
from sqlalchemy.orm import Session

from .models import (
    AppSetting,
    HandoffRequest,
    LoginAttempt,
    Merchant,
    Message,
    ProcessedUpdate,
    StaffSession,
    utcnow,
)

UPDATE_IDS_KEPT = timedelta(days=7)
SIGN_IN_ATTEMPTS_KEPT = timedelta(days=1)  # only needed to throttle password guessing


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
        "staff_sign_in_attempts": session.execute(
            delete(LoginAttempt).where(LoginAttempt.created_at < now - SIGN_IN_ATTEMPTS_KEPT)
        ).rowcount,
        "staff_sessions_expired": session.execute(
            delete(StaffSession).where(StaffSession.expires_at < now)
        ).rowcount,
    }
    return counts


def purge_as_configured(session: Session, default_days: int) -> dict[str, int]:
    """The daily purge (bot job, `comptoir purge`, back office): with the period set in the
    back office, else COMPTOIR_RETENTION_DAYS."""
    return purge(session, effective_retention_days(session, default_days))


RETENTION_SETTING = "retention_days"
MIN_RETENTION_DAYS = 30
MAX_RETENTION_DAYS = 3650


def effective_retention_days(session: Session, default: int) -> int:
    """The period an administrator set in the back office, else COMPTOIR_RETENTION_DAYS."""
    row = session.get(AppSetting, RETENTION_SETTING)
    try:
        return int(row.value) if row is not None else default
    except ValueError:
        return default
