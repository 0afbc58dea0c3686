"""Messages the bot sends on its own initiative (an adviser's words queued in the back office,
the hand-back notice, checklist reminders), delivered by whichever channel the merchant uses.

Any number of workers deliver them: `claim` takes due rows with `FOR UPDATE SKIP LOCKED`
and holds them for a lease, so two workers never take the same row; the sender then
`record`s the outcome. A worker that dies mid-send lets its lease expire, and another worker
sends the row. A delivered message lands in the transcript like the bot's own replies.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from datetime import datetime, timedelta

from sqlalchemy import or_, select, update
from sqlalchemy.orm import Session

from .messages import Reply, esc
from .store.models import Merchant, Message, OutboxMessage, utcnow
from .texts import text

MAX_ATTEMPTS = 5
LEASE = timedelta(seconds=60)  # COMPTOIR_DELIVERY_LEASE_SECONDS's default


@dataclass(frozen=True)
class Pending:
    outbox_id: int
    chat_id: str  # the merchant's id on the channel
    reply: Reply
    held_until: datetime | None = None  # this worker's lease on the row (`renew`)


def as_reply(row: OutboxMessage, language: str) -> Reply:
    if row.kind == "handback":
        return Reply(text(language, "handoff_back"))
    if row.kind == "staff":
        return Reply(text(language, "staff_message", text=esc(row.text)))
    return Reply.from_stored(row.html, row.buttons or [])  # composed when queued


def queue(session: Session, merchant_id: int, kind: str, reply: Reply) -> OutboxMessage:
    """Queue a reply the bot composed (a reminder) for delivery by any worker."""
    row = OutboxMessage(
        merchant_id=merchant_id,
        author="bot",
        kind=kind,
        text=reply.plain(),
        html=reply.html,
        buttons=reply.button_rows(),
    )
    session.add(row)
    return row


def claim(
    session: Session,
    channel: str,
    external_id: str | None = None,
    limit: int = 50,
    now: datetime | None = None,
    lease: timedelta = LEASE,
) -> list[Pending]:
    """Due rows for `channel`, held by this worker for `lease` (others skip them)."""
    now = now or utcnow()
    query = (
        select(OutboxMessage, Merchant.external_id, Merchant.language)
        .join(Merchant)
        .where(
            OutboxMessage.status == "pending",
            Merchant.channel == channel,
            or_(OutboxMessage.claimed_until.is_(None), OutboxMessage.claimed_until < now),
        )
        .order_by(OutboxMessage.id)
        .limit(limit)
        .with_for_update(skip_locked=True, of=OutboxMessage)
    )
    if external_id is not None:
        query = query.where(Merchant.external_id == external_id)
    claimed = []
    for row, chat, lang in session.execute(query):
        row.claimed_until = now + lease
        claimed.append(Pending(row.id, chat, as_reply(row, lang), row.claimed_until))
    return claimed


def renew(
    session: Session, item: Pending, lease: timedelta = LEASE, now: datetime | None = None
) -> Pending | None:
    """Just before sending a claimed row: a new lease on it, or None when this worker's lease
    ran out and another worker took the row (that one sends it). A claimed batch is sent one
    row after the other, so its last rows may go out long after the claim: renewing makes
    the lease cover one send, not the whole batch."""
    now = now or utcnow()
    held_until = now + lease
    renewed = session.execute(
        update(OutboxMessage)
        .where(
            OutboxMessage.id == item.outbox_id,
            OutboxMessage.status == "pending",
            OutboxMessage.claimed_until == item.held_until,
        )
        .values(claimed_until=held_until)
    )
    return replace(item, held_until=held_until) if renewed.rowcount == 1 else None


def record(session: Session, outbox_id: int, ok: bool, reply: Reply) -> None:
    row = session.get(OutboxMessage, outbox_id)
    if row is None:  # the merchant was erased meanwhile
        return
    row.attempts += 1
    row.claimed_until = None
    if ok:
        row.status = "sent"
        row.sent_at = utcnow()
        session.add(
            Message(
                merchant_id=row.merchant_id,
                direction="out",
                author="staff" if row.kind == "staff" else "bot",
                text=row.text if row.kind == "staff" else reply.plain(),
                html=reply.html,
                buttons=reply.button_rows(),
                delivered=True,
            )
        )
    elif row.attempts >= MAX_ATTEMPTS:
        row.status = "failed"
