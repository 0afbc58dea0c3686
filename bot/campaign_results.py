"""What a campaign achieved, computed once for the back office, the CSV export and
`comptoir campaign status`: deliveries by status, button presses, stops, and merchants who
wrote to the bot within 24 hours after receiving it.

Built from the delivery rows (test sends are not deliveries, so they never count) and the
merchants' incoming messages. Personal text is never read: only who wrote, and when.
"""

from __future__ import annotations

import csv
import io
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from .store.models import Campaign, CampaignDelivery, Message, as_utc, utcnow

ASK_WINDOW = timedelta(hours=24)
STATUSES = ("sent", "failed", "unreachable", "skipped", "pending", "cancelled")
CSV_COLUMNS = ("merchant_id", "status", "sent_at", "pressed_at", "stopped_at", "asked_within_24h")


@dataclass(frozen=True)
class DeliveryRow:
    merchant_id: int
    status: str
    sent_at: datetime | None
    pressed_at: datetime | None
    stopped_at: datetime | None
    asked_within_24h: bool


@dataclass(frozen=True)
class Results:
    """Counts, and rates over the targeted (statuses) or over the sent (reactions)."""

    campaign_id: int
    targeted: int
    by_status: dict[str, int]
    pressed: int
    stopped: int
    asked_within_24h: int
    settled_asks: bool  # every sent copy is older than 24 h: the "asked" figure is final

    def rate(self, figure: str) -> float | None:
        if figure in self.by_status:
            return self.by_status[figure] / self.targeted if self.targeted else None
        sent = self.by_status["sent"]
        return getattr(self, figure) / sent if sent else None

    def as_json(self) -> dict[str, Any]:
        return {
            **self.by_status,
            "pressed": self.pressed,
            "stopped": self.stopped,
            "asked_within_24h": self.asked_within_24h,
        }


def delivery_rows(session: Session, campaign_id: int) -> list[DeliveryRow]:
    """One row per merchant targeted, with whether they wrote within 24 h after their copy.
    A cancelled campaign's copies still pending (held by a sender when it was cancelled, and
    not sent) will never go: they count as cancelled."""
    campaign_status = session.scalar(select(Campaign.status).where(Campaign.id == campaign_id))
    never = "cancelled" if campaign_status == "cancelled" else "pending"
    deliveries = session.execute(
        select(
            CampaignDelivery.merchant_id,
            CampaignDelivery.status,
            CampaignDelivery.sent_at,
            CampaignDelivery.pressed_at,
            CampaignDelivery.stopped_at,
        )
        .where(CampaignDelivery.campaign_id == campaign_id)
        .order_by(CampaignDelivery.id)
    ).all()
    sent = {m: as_utc(at) for m, _, at, _, _ in deliveries if at is not None}
    asked: set[int] = set()
    if sent:
        # Each merchant's first message after their copy (one row per merchant, however many
        # were targeted: a join, not a list of ids), then the 24 h window checked here.
        latest = max(t for t in sent.values() if t is not None) + ASK_WINDOW
        first_after = session.execute(
            select(Message.merchant_id, func.min(Message.created_at))
            .join(CampaignDelivery, CampaignDelivery.merchant_id == Message.merchant_id)
            .where(
                CampaignDelivery.campaign_id == campaign_id,
                CampaignDelivery.sent_at.is_not(None),
                Message.created_at > CampaignDelivery.sent_at,
                Message.created_at <= latest,
                Message.direction == "in",
                Message.author == "merchant",
                Message.kind != "button",  # a press is counted as a press, not a question
            )
            .group_by(Message.merchant_id)
        )
        for merchant_id, created_at in first_after:
            start, at = sent.get(merchant_id), as_utc(created_at)
            if start is not None and at is not None and start < at <= start + ASK_WINDOW:
                asked.add(merchant_id)
    return [
        DeliveryRow(
            m,
            never if status == "pending" else status,
            as_utc(at),
            as_utc(pressed),
            as_utc(stopped),
            m in asked,
        )
        for m, status, at, pressed, stopped in deliveries
    ]


def results(session: Session, campaign_id: int, now: datetime | None = None) -> Results | None:
    """A campaign's figures, or None when there is no such campaign."""
    now = now or utcnow()
    campaign = session.get(Campaign, campaign_id)
    if campaign is None:
        return None
    rows = delivery_rows(session, campaign_id)
    by_status = dict.fromkeys(STATUSES, 0)
    for row in rows:
        by_status[row.status] = by_status.get(row.status, 0) + 1
    last_sent = max((r.sent_at for r in rows if r.sent_at is not None), default=None)
    return Results(
        campaign_id=campaign_id,
        # a rule's targeted: the merchants it reached so far (one delivery each)
        targeted=len(rows) if campaign.kind == "rule" else campaign.targeted,
        by_status=by_status,
        pressed=sum(r.pressed_at is not None for r in rows),
        stopped=sum(r.stopped_at is not None for r in rows),
        asked_within_24h=sum(r.asked_within_24h for r in rows),
        settled_asks=campaign.status in ("done", "cancelled")
        and (last_sent is None or last_sent + ASK_WINDOW <= now),
    )


def _iso(value: datetime | None) -> str:
    return value.astimezone(UTC).isoformat() if value is not None else ""


def to_csv(rows: list[DeliveryRow]) -> str:
    """The export: ids, statuses and times only (no name, no message text)."""
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(CSV_COLUMNS)
    for r in rows:
        writer.writerow(
            [
                r.merchant_id,
                r.status,
                _iso(r.sent_at),
                _iso(r.pressed_at),
                _iso(r.stopped_at),
                1 if r.asked_within_24h else 0,
            ]
        )
    return out.getvalue()
