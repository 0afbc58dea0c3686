"""Messages staff queue in the back office, delivered by whichever channel the merchant uses.

Channels read the pending rows, send them and record the outcome here, so a delivered
message lands in the transcript exactly like the bot's own replies.
"""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import select
from sqlalchemy.orm import Session

from .messages import Reply, esc
from .store.models import Merchant, Message, OutboxMessage, utcnow
from .texts import text

MAX_ATTEMPTS = 5


@dataclass(frozen=True)
class Pending:
    outbox_id: int
    chat_id: str  # the merchant's id on the channel
    reply: Reply


def as_reply(row: OutboxMessage, language: str) -> Reply:
    if row.kind == "handback":
        return Reply(text(language, "handoff_back"))
    return Reply(text(language, "staff_message", text=esc(row.text)))


def pending(
    session: Session, channel: str, external_id: str | None = None, limit: int = 50
) -> list[Pending]:
    query = (
        select(OutboxMessage, Merchant.external_id, Merchant.language)
        .join(Merchant)
        .where(OutboxMessage.status == "pending", Merchant.channel == channel)
        .order_by(OutboxMessage.id)
        .limit(limit)
    )
    if external_id is not None:
        query = query.where(Merchant.external_id == external_id)
    return [
        Pending(row.id, chat, as_reply(row, lang)) for row, chat, lang in session.execute(query)
    ]


def record(session: Session, outbox_id: int, ok: bool, reply: Reply) -> None:
    row = session.get(OutboxMessage, outbox_id)
    if row is None:  # the merchant was erased meanwhile
        return
    row.attempts += 1
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
                delivered=True,
            )
        )
    elif row.attempts >= MAX_ATTEMPTS:
        row.status = "failed"
