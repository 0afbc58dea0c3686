"""Background work that any number of workers share through the database, done once.

Every worker runs the same repeating jobs. What they act on is claimed in PostgreSQL with
`SELECT … FOR UPDATE SKIP LOCKED` (a worker skips the rows another one holds) and, for rows
sent over the network, a lease (`claimed_until`) that expires if the worker dies mid-send.
On SQLite one process serves the bot and the same queries simply run alone.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from datetime import datetime, timedelta

from sqlalchemy import func, or_, select, update
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.orm import Session

from . import outbox
from .context import Services, Turn
from .flows import checklists
from .messages import Reply
from .store import retention
from .store.models import Merchant, Message, ScheduledJob, as_utc, utcnow

PURGE_EVERY = timedelta(days=1)


@dataclass(frozen=True)
class Undelivered:
    chat_id: str
    message_ids: list[int]
    replies: list[Reply]
    held_until: datetime | None = None  # this worker's lease on them (`renew_undelivered`)


def queue_due_reminders(services: Services, now: datetime | None = None) -> int:
    """Turn due checklist reminders into outbox rows, in the transaction that clears them:
    a Telegram outage at send time delays a reminder, never loses it."""
    queued = 0
    with services.db.session() as session:
        for merchant_id, checklist_id in checklists.due_reminders(session, now):
            merchant = session.get(Merchant, merchant_id)
            if merchant is None or not merchant.reminders:
                continue
            reply = checklists.reminder_reply(Turn(services, session, merchant), checklist_id)
            if reply is not None:
                outbox.queue(session, merchant_id, "reminder", reply)
                queued += 1
    return queued


def claim_undelivered(
    session: Session,
    channel: str,
    lease: timedelta = outbox.LEASE,
    now: datetime | None = None,
    limit: int = 200,
) -> list[Undelivered]:
    """Replies stored but not confirmed sent whose sender's lease ran out (it crashed, or
    Telegram refused them): held for this worker, grouped by chat, in order."""
    now = now or utcnow()
    rows = session.execute(
        select(Message, Merchant.external_id)
        .join(Merchant)
        .where(
            Message.delivered.is_(False),
            Message.direction == "out",
            Merchant.channel == channel,
            or_(Message.claimed_until.is_(None), Message.claimed_until < now),
        )
        .order_by(Message.id)
        .limit(limit)
        .with_for_update(skip_locked=True, of=Message)
    ).all()
    grouped: dict[str, Undelivered] = {}
    for message, chat_id in rows:
        message.claimed_until = now + lease
        group = grouped.setdefault(chat_id, Undelivered(chat_id, [], [], now + lease))
        group.message_ids.append(message.id)
        group.replies.append(Reply.from_stored(message.html or message.text, message.buttons or []))
    return list(grouped.values())


def renew_undelivered(
    session: Session,
    group: Undelivered,
    lease: timedelta = outbox.LEASE,
    now: datetime | None = None,
) -> Undelivered | None:
    """Just before sending a claimed chat's replies: a new lease on them, or None when this
    worker's lease ran out and another worker took them (that one sends them). The groups of
    a claim are sent one after the other: the lease must cover one send, not the batch."""
    now = now or utcnow()
    mine = (
        Message.id.in_(group.message_ids),
        Message.delivered.is_(False),
        Message.claimed_until == group.held_until,
    )
    held = session.scalar(select(func.count()).select_from(Message).where(*mine))
    if held != len(group.message_ids):
        return None
    session.execute(update(Message).where(*mine).values(claimed_until=now + lease))
    return replace(group, held_until=now + lease)


def claim_periodic(session: Session, name: str, every: timedelta, now: datetime) -> bool:
    """True if this worker should run job `name` now: it was last run more than `every` ago
    and no other worker holds it. The caller runs the job in the same transaction."""
    held = select(ScheduledJob).where(ScheduledJob.name == name).with_for_update(skip_locked=True)
    job = session.scalar(held)
    if job is None:
        # Inserted only the first time: an INSERT meeting the row another worker is running
        # (and updating) would wait for that worker's transaction instead of skipping it.
        if session.scalar(select(ScheduledJob.name).where(ScheduledJob.name == name)):
            return False  # another worker is running it
        insert = pg_insert if session.get_bind().dialect.name == "postgresql" else sqlite_insert
        session.execute(insert(ScheduledJob).values(name=name).on_conflict_do_nothing())
        job = session.scalar(held)
    if job is None:
        return False  # another worker is running it
    last = as_utc(job.last_run_at)
    if last is not None and now - last < every:
        return False
    job.last_run_at = now
    return True


def purge_if_due(services: Services, now: datetime | None = None) -> dict[str, int] | None:
    """The retention purge, once a day across all workers; None when not due here."""
    now = now or utcnow()
    with services.db.session() as session:
        if not claim_periodic(session, "retention_purge", PURGE_EVERY, now):
            return None
        return retention.purge_as_configured(session, services.settings.retention_days)
