"""Hand-off to a human adviser: the request is stored and the bot goes quiet in that chat
until staff hand back (from the back office)."""

from __future__ import annotations

from sqlalchemy import select
from sqlalchemy.orm import Session

from ..context import Turn
from ..messages import Button, Reply
from ..store.models import HandoffRequest, Merchant, utcnow


def request(turn: Turn, reason: str = "") -> list[Reply]:
    if turn.merchant.handoff_active:
        return [Reply(turn.t("handoff_already"))]
    take_over(turn.merchant)
    turn.session.add(HandoffRequest(merchant_id=turn.merchant.id, reason=reason[:2000]))
    cancel = ((Button(turn.t("handoff_cancel"), "hf:cancel"),),)
    return [Reply(turn.t("handoff_started"), cancel)]


def cancel(turn: Turn) -> list[Reply]:
    hand_back(turn.session, turn.merchant)
    return [Reply(turn.t("handoff_cancelled"))]


def take_over(merchant: Merchant) -> None:
    """A human has the conversation: the bot goes quiet and drops any flow in progress."""
    merchant.handoff_active = True
    merchant.flow, merchant.flow_state = None, {}


def hand_back(session: Session, merchant: Merchant) -> bool:
    """The bot answers again; True if it had been quiet (the merchant should be told)."""
    was_quiet = merchant.handoff_active
    merchant.handoff_active = False
    close_requests(session, merchant.id)
    return was_quiet


def close_requests(session: Session, merchant_id: int) -> None:
    for row in session.scalars(
        select(HandoffRequest).where(
            HandoffRequest.merchant_id == merchant_id, HandoffRequest.status == "open"
        )
    ):
        row.status = "closed"
        row.closed_at = utcnow()
