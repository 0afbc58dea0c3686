"""A campaign's content buttons (`nw:go:<campaign>:<row>:<col>`): the press is recorded on
the merchant's delivery (the first one counts), then the content opens exactly as the bot
opens it elsewhere: a guide's overview, a FAQ answer, the checklist (its introduction or next
step), the diagnostic (started or resumed).

The data names the campaign and the button's place, not the content: it stays short, and a
forged press can only open what the campaign offers. A campaign gone, a button moved or
content removed since the message was sent gets the usual stale-button answer.

URL buttons are not here: Telegram opens them in the client without telling the bot.
"""

from __future__ import annotations

from collections.abc import Callable

from .. import answers, campaigns
from ..context import Turn
from ..messages import Reply
from ..store.models import Campaign, utcnow
from . import checklists, diagnostic


def press(turn: Turn, campaign_id: int, row: int, col: int) -> list[Reply]:
    campaign = turn.session.get(Campaign, campaign_id) if campaign_id else None
    spec = campaigns.button_at(campaign.buttons, row, col) if campaign is not None else None
    opens = _opener(turn, spec) if spec is not None else None
    if campaign is None or opens is None:
        return [Reply(turn.t("stale_button"))]
    campaigns.mark_pressed(turn.session, campaign.id, turn.merchant.id, utcnow())
    if turn.merchant.handoff_active:
        return []  # an adviser has the conversation: the press counts, nothing answers
    return opens()


def _opener(turn: Turn, spec: campaigns.ButtonSpec) -> Callable[[], list[Reply]] | None:
    """What the button opens, through the flows that open it elsewhere; None if the content
    is gone (or the kind is not a content button)."""
    kb, target = turn.kb, spec.target
    if spec.kind == "guide" and target in kb.guides:
        return lambda: [answers.guide_reply(turn, kb.guides[target])]
    if spec.kind == "faq" and target in kb.faq:
        return lambda: [answers.faq_reply(turn, kb.faq[target])]
    if spec.kind == "checklist" and target in kb.checklists:
        return lambda: checklists.open_checklist(turn, target)
    if spec.kind == "diagnostic" and kb.diagnostic is not None:
        return lambda: diagnostic.start(turn)
    return None
