"""The merchant's rights over their data, from the chat: export (/mesdonnees), erase (/oublier)."""

from __future__ import annotations

import json
from datetime import datetime
from typing import Any

from sqlalchemy import select

from ..context import Turn
from ..messages import Attachment, Button, Reply
from ..store.models import (
    CampaignDelivery,
    ChecklistProgress,
    ChecklistRun,
    DiagnosticResult,
    HandoffRequest,
    Merchant,
    Message,
    OutboxMessage,
)

EXPORTED = {
    "messages": (
        Message,
        [
            "created_at",
            "direction",
            "author",
            "kind",
            "text",
            "intent",
            "confidence",
            "entities",
            "feedback",
        ],
    ),
    "checklist_runs": (
        ChecklistRun,
        ["checklist_id", "started_at", "updated_at", "finished_at", "remind_at"],
    ),
    "checklist_steps": (ChecklistProgress, ["checklist_id", "step_id", "status", "updated_at"]),
    "diagnostics": (
        DiagnosticResult,
        ["created_at", "completed_at", "completed", "answers", "scores"],
    ),
    "handoff_requests": (HandoffRequest, ["created_at", "status", "reason", "closed_at"]),
    "adviser_messages": (OutboxMessage, ["created_at", "author", "text", "status", "sent_at"]),
    # what they pressed under it, and whether they stopped the news there
    "news_received": (
        CampaignDelivery,
        ["campaign_id", "status", "sent_at", "pressed_at", "stopped_at"],
    ),
}
PROFILE = [
    "channel",
    "external_id",
    "first_name",
    "language",
    "trade",
    "sells_online",
    "town",
    "size",
    "reminders",
    "news_consent",  # the adviser's news (campaigns) and the date of the choice
    "news_consent_at",
    "unreachable_at",
    "tags",  # written by staff in the back office: the merchant has a right to see them
    "staff_note",
    "created_at",
    "last_seen_at",
]


def _value(value: Any) -> Any:
    return value.isoformat() if isinstance(value, datetime) else value


def export(session, merchant: Merchant) -> dict[str, Any]:  # type: ignore[no-untyped-def]
    data: dict[str, Any] = {"profile": {f: _value(getattr(merchant, f)) for f in PROFILE}}
    for key, (model, fields) in EXPORTED.items():
        rows = session.scalars(
            select(model).where(model.merchant_id == merchant.id).order_by(model.id)
        )
        data[key] = [{f: _value(getattr(row, f)) for f in fields} for row in rows]
    return data


def export_reply(turn: Turn) -> list[Reply]:
    turn.store_incoming()  # the export lists this very request too
    payload = export(turn.session, turn.merchant)
    payload["exported_at"] = datetime.now().astimezone().isoformat()
    content = json.dumps(payload, ensure_ascii=False, indent=2).encode("utf-8")
    return [
        Reply(turn.t("export_caption"), attachment=Attachment("comptoir-mes-donnees.json", content))
    ]


def confirm_forget(turn: Turn) -> list[Reply]:
    buttons = ((Button(turn.t("forget_yes"), "fg:yes"), Button(turn.t("forget_no"), "fg:no")),)
    return [Reply(turn.t("forget_confirm"), buttons)]


def erase(session, merchant: Merchant) -> None:  # type: ignore[no-untyped-def]
    """Every row about the merchant goes (ON DELETE CASCADE from `merchants`)."""
    session.delete(merchant)
    session.flush()
