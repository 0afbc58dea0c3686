"""Hand-off to a human adviser: the request is stored and the bot goes quiet in that chat
until staff hand back (from the back office)."""

from __future__ import annotations

from sqlalchemy import select

from ..context import Turn
from ..messages import Button, Reply
from ..store.models import HandoffRequest, utcnow


def request(turn: Turn, reason: str = "") -> list[Reply]:
    if turn.merchant.handoff_active:
        return [Reply(turn.t("handoff_already"))]
    turn.merchant.handoff_active = True
    turn.set_flow(None)
    turn.session.add(HandoffRequest(merchant_id=turn.merchant.id, reason=reason[:2000]))
    cancel = ((Button(turn.t("handoff_cancel"), "hf:cancel"),),)
    return [Reply(turn.t("handoff_started"), cancel)]


def cancel(turn: Turn) -> list[Reply]:
    close_requests(turn.session, turn.merchant.id)
    turn.merchant.handoff_active = False
    return [Reply(turn.t("handoff_cancelled"))]


def close_requests(session, merchant_id: int) -> None:  # type: ignore[no-untyped-def]
    for row in session.scalars(
        select(HandoffRequest).where(
            HandoffRequest.merchant_id == merchant_id, HandoffRequest.status == "open"
        )
    ):
        row.status = "closed"
        row.closed_at = utcnow()
