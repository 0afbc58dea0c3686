"""Nudges: saved segments that send a chosen message when a merchant enters them.

A rule is a `Campaign` of kind "rule", active (after approval) from `scheduled_at` until
`ends_at` (if any) while its status is "active"; pausing or cancelling it stops it. The rule
job runs every RULE_EVERY, on one worker at a time (`jobs.claim_periodic`): for each active
rule, the merchants who match its segment now, consent, are reachable, never had this rule
(the unique (campaign, merchant) pair makes it once per merchant per rule) and had no nudge
within the last week (across every rule) get one pending delivery, which the campaign
sending job delivers like any campaign message.

The checklist reminder a merchant asks for ("Plus tard" → "Me le rappeler") is separate:
it is theirs, not the operator's, and stays in `bot.flows.checklists`.
"""

from __future__ import annotations

import logging
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import exists, or_, select
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.orm import Session

from . import campaigns, jobs
from .campaigns import CampaignError, Segment
from .store.models import Campaign, CampaignDelivery, as_utc, utcnow

log = logging.getLogger(__name__)

RULE_EVERY = timedelta(minutes=5)
JOB_NAME = "nudge_rules"
BATCH = 1000  # rows per INSERT (PostgreSQL takes at most 65,535 parameters)


def create_rule(
    session: Session,
    html_text: str,
    segment: Segment,
    created_by: str,
    approved_by: str = "",
    starts_at: datetime | None = None,
    ends_at: datetime | None = None,
    buttons: list[list[dict[str, Any]]] | None = None,
    title: str = "",
    now: datetime | None = None,
) -> Campaign:
    """A new rule: a draft, or active from `starts_at` (else now) when approved. Its
    `targeted` is how many merchants match now (shown before it runs)."""
    now = now or utcnow()
    campaigns.check_text(html_text)
    starts = (starts_at or now) if approved_by else starts_at
    if ends_at is not None and ends_at <= (starts or now):
        raise CampaignError("La fin de la règle doit venir après son début.")
    rule = Campaign(
        kind="rule",
        title=title[:120],
        text=html_text,
        buttons=buttons or [],
        segment=segment.to_json(),
        status="active" if approved_by else "draft",
        scheduled_at=starts,
        ends_at=ends_at,
        created_by=created_by,
        approved_by=approved_by,
        targeted=campaigns.count(session, segment, now),
        created_at=now,
        started_at=now if approved_by else None,
    )
    session.add(rule)
    session.flush()
    return rule


def fire(session: Session, now: datetime | None = None) -> dict[int, int]:
    """Evaluate every active rule once: queue one delivery per merchant entering it.
    Returns {rule id: deliveries queued}. Rules are taken in id order, so when two rules
    match a merchant the same day, the older rule sends and the weekly cap holds the other.
    Rules past their `ends_at` with nothing left to send are done."""
    now = now or utcnow()
    rules = session.scalars(
        select(Campaign)
        .where(
            Campaign.kind == "rule",
            Campaign.status == "active",
            # active without a start date (set so by hand): from now
            or_(Campaign.scheduled_at.is_(None), Campaign.scheduled_at <= now),
        )
        .order_by(Campaign.id)
        .with_for_update(skip_locked=True)
    ).all()
    insert = pg_insert if session.get_bind().dialect.name == "postgresql" else sqlite_insert
    queued: dict[int, int] = {}
    for rule in rules:
        ends = as_utc(rule.ends_at)
        if ends is not None and ends <= now:
            _finish_if_sent(session, rule, now)
            continue
        try:
            ids = campaigns.matching(session, Segment.from_json(rule.segment), now, rule.id)
        except CampaignError:
            log.exception("nudge rule %s: unreadable segment, skipped", rule.id)
            continue
        for start in range(0, len(ids), BATCH):
            rows = [
                {
                    "campaign_id": rule.id,
                    "merchant_id": merchant_id,
                    "status": "pending",
                    "attempts": 0,
                    "created_at": now,
                }
                for merchant_id in ids[start : start + BATCH]
            ]
            # The unique (campaign, merchant) pair: once per merchant, even if two jobs raced.
            session.execute(
                insert(CampaignDelivery)
                .values(rows)
                .on_conflict_do_nothing(index_elements=["campaign_id", "merchant_id"])
            )
        queued[rule.id] = len(ids)
    return queued


def _finish_if_sent(session: Session, rule: Campaign, now: datetime) -> None:
    pending = session.scalar(
        select(
            exists().where(
                CampaignDelivery.campaign_id == rule.id, CampaignDelivery.status == "pending"
            )
        )
    )
    if not pending:
        rule.status, rule.finished_at = "done", now


def fire_if_due(session: Session, now: datetime | None = None) -> dict[int, int] | None:
    """The rule job, once every RULE_EVERY across all workers (None: not due here, or
    another worker runs it). Runs in the caller's transaction."""
    now = now or utcnow()
    if not jobs.claim_periodic(session, JOB_NAME, RULE_EVERY, now):
        return None
    return fire(session, now)
