"""A campaign's life in the back office: written by an operator, submitted, approved by an
administrator who did not write it (two people), then paused, resumed or cancelled.

A nudge rule (`bot.nudges`, kind "rule") lives the same life: approved it is scheduled,
`campaigns.start_due` makes it active at its date, and it stays active (sending to the
merchants who enter its segment) until paused, cancelled or past its `ends_at`.

Each transition is a guarded change of `Campaign.status` under a row lock, so two staff
members clicking at once, or a worker starting the campaign meanwhile, cannot both win.
The sending itself stays in `bot.campaigns` (start_due / claim / record); paused campaigns
are simply not claimed, cancelled ones have their pending deliveries marked "cancelled".

Pure functions over a Session (and `now`): the pages and the tests call them alike.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import or_, select, update
from sqlalchemy.orm import Session

from knowledge_base.content_model import KnowledgeBase

from . import campaigns, nudges, outbox
from .campaigns import CampaignError, Segment
from .store.models import Campaign, CampaignDelivery, Merchant, OutboxMessage, as_utc, utcnow

STATUS_LABELS = {
    "draft": "Brouillon",
    "submitted": "En attente d'approbation",
    "scheduled": "Programmée",
    "sending": "En cours d'envoi",
    "paused": "En pause",
    "done": "Envoyée",
    "cancelled": "Annulée",
    "active": "Active (relance automatique)",
}
RULE_LABELS = {**STATUS_LABELS, "scheduled": "Programmée (active à sa date)", "done": "Terminée"}
KINDS = {"campaign": "Campagne (envoi unique)", "rule": "Relance automatique (règle)"}
BUTTON_KINDS = {
    "url": "Lien (URL)",
    "guide": "Guide",
    "faq": "Question de la FAQ",
    "checklist": "Checklist",
    "diagnostic": "Diagnostic",
}
MAX_TITLE = 120
TEST_KIND = "campaign_test"  # outbox kind of a test send: never counted in the results


@dataclass(frozen=True)
class Draft:
    """What the composer sends: checked by `check_draft` before it is stored."""

    title: str
    text: str
    buttons: list[list[dict[str, str]]]
    segment: Segment
    scheduled_at: datetime | None  # None: as soon as it is approved (a rule: its start)
    kind: str = "campaign"  # or "rule": a nudge, sent to each merchant entering the segment
    ends_at: datetime | None = None  # a rule only: it stops then (None: until cancelled)


def status_label(campaign: Campaign) -> str:
    """The status as staff read it: a rule is "active", and "terminée" rather than sent."""
    labels = RULE_LABELS if campaign.kind == "rule" else STATUS_LABELS
    return labels.get(campaign.status, campaign.status)


def check_draft(draft: Draft, kb: KnowledgeBase, now: datetime | None = None) -> None:
    if draft.kind not in KINDS:
        raise CampaignError("Choisissez « campagne » ou « relance automatique ».")
    if draft.kind != "rule" and draft.ends_at is not None:
        raise CampaignError(
            "Seule une relance automatique a une date de fin : videz-la, ou choisissez "
            "« Relance automatique (règle) »."
        )
    if draft.ends_at is not None and as_utc(draft.ends_at) <= as_utc(
        draft.scheduled_at or now or utcnow()
    ):
        raise CampaignError("La fin de la relance doit venir après son début (heure de Paris).")
    if not draft.title.strip():
        raise CampaignError("Donnez un titre à la campagne (il n'est vu que par l'équipe).")
    if len(draft.title) > MAX_TITLE:
        raise CampaignError(f"Titre trop long ({MAX_TITLE} caractères au plus).")
    campaigns.check_text(draft.text)
    campaigns.check_buttons(draft.buttons, kb)


def stored_buttons(rows: list[list[dict[str, str]]]) -> list[list[dict[str, str]]]:
    """The JSON kept on the campaign: rows of {label, kind, target}, empty rows dropped."""
    return [[dict(b) for b in row] for row in rows if row]


def _locked(session: Session, campaign_id: int) -> Campaign:
    campaign = session.get(Campaign, campaign_id, with_for_update=True)
    if campaign is None or campaign.kind not in KINDS:
        raise CampaignError(f"Pas de campagne {campaign_id}.")
    return campaign


def _expect(campaign: Campaign, *statuses: str) -> None:
    if campaign.status not in statuses:
        allowed = " ou ".join(f"« {STATUS_LABELS[s].lower()} »" for s in statuses)
        now = STATUS_LABELS.get(campaign.status, campaign.status).lower()
        raise CampaignError(
            f"Impossible : la campagne est « {now} » (il faut qu'elle soit {allowed}). "
            "Rechargez la page."
        )


def save(
    session: Session,
    campaign_id: int | None,
    draft: Draft,
    kb: KnowledgeBase,
    author: str,
    now: datetime | None = None,
) -> Campaign:
    """Create a draft, or rewrite one (only while it is a draft; a draft may change kind).
    `targeted` is the count of matching consenting merchants now; a campaign's real one is
    fixed when sending starts, a rule's grows as it reaches merchants."""
    now = now or utcnow()
    check_draft(draft, kb, now)
    if campaign_id is None and draft.kind == "rule":
        campaign = nudges.create_rule(
            session,
            draft.text,
            draft.segment,
            created_by=author,
            starts_at=draft.scheduled_at,
            ends_at=draft.ends_at,
            now=now,
        )
    elif campaign_id is None:
        campaign = campaigns.create(session, draft.text, draft.segment, created_by=author, now=now)
    else:
        campaign = _locked(session, campaign_id)
        _expect(campaign, "draft")
        campaign.text, campaign.segment = draft.text, draft.segment.to_json()
        campaign.targeted = campaigns.count(session, draft.segment, now)
        campaign.kind, campaign.ends_at = draft.kind, draft.ends_at
    campaign.title = draft.title.strip()
    campaign.buttons = stored_buttons(draft.buttons)
    campaign.scheduled_at = draft.scheduled_at
    session.flush()
    return campaign


def submit(session: Session, campaign_id: int, now: datetime | None = None) -> Campaign:
    """The author asks for approval: the text is frozen until an administrator decides."""
    campaign = _locked(session, campaign_id)
    _expect(campaign, "draft")
    campaigns.check_text(campaign.text)
    now = now or utcnow()
    if campaign.scheduled_at is not None and as_utc(campaign.scheduled_at) < now:
        raise CampaignError(
            "La date d'envoi est passée : choisissez une date à venir ou « dès l'approbation »."
        )
    if campaign.ends_at is not None and as_utc(campaign.ends_at) <= now:
        raise CampaignError("La date de fin de la relance est passée : choisissez-en une à venir.")
    campaign.status = "submitted"
    return campaign


def approve(
    session: Session,
    campaign_id: int,
    approver: str,
    scheduled_at: datetime | None = None,
    editors: frozenset[str] = frozenset(),
    now: datetime | None = None,
) -> Campaign:
    """A second person approves, at the date they confirm (None: now): the campaign is
    scheduled (a rule becomes active at that date, through `campaigns.start_due`). Nobody
    who wrote it (its author, anyone who saved a version: `editors`) may approve it."""
    now = now or utcnow()
    campaign = _locked(session, campaign_id)
    _expect(campaign, "submitted")
    if approver == campaign.created_by or approver in editors:
        raise CampaignError(
            "Vous avez écrit cette campagne : un autre administrateur doit l'approuver."
        )
    if scheduled_at is not None and as_utc(scheduled_at) < now:
        raise CampaignError(
            "La date d'envoi est passée : choisissez une date à venir, ou laissez-la vide "
            "pour envoyer dès maintenant."
        )
    starts = scheduled_at or now
    if campaign.ends_at is not None and as_utc(campaign.ends_at) <= starts:
        raise CampaignError(
            "La relance finirait avant de commencer : choisissez un début avant sa date de fin, "
            "ou refusez-la pour que l'auteur change la fin."
        )
    campaign.approved_by = approver
    campaign.status = "scheduled"
    campaign.scheduled_at = starts
    return campaign


def reject(session: Session, campaign_id: int, approver: str, reason: str) -> Campaign:
    """Back to draft, with the reason (kept in the audit log and shown to the author)."""
    campaign = _locked(session, campaign_id)
    _expect(campaign, "submitted")
    if approver == campaign.created_by:
        raise CampaignError("Vous avez écrit cette campagne : un autre administrateur décide.")
    if not reason.strip():
        raise CampaignError("Dites à l'auteur pourquoi vous refusez la campagne.")
    campaign.status = "draft"
    return campaign


def pause(session: Session, campaign_id: int) -> Campaign:
    """No new sends: workers claim only campaigns being sent. A message a worker holds at
    this instant may still go out."""
    campaign = _locked(session, campaign_id)
    _expect(campaign, "scheduled", "sending", "active")
    campaign.status = "paused"
    return campaign


def resume(session: Session, campaign_id: int) -> Campaign:
    """Back where it was: sending if it had started, else scheduled (started at once when its
    date has passed meanwhile)."""
    campaign = _locked(session, campaign_id)
    _expect(campaign, "paused")
    if campaign.kind == "rule":  # a rule that was running runs again; else it waits its date
        campaign.status = "active" if campaign.started_at is not None else "scheduled"
    else:
        campaign.status = "sending" if campaign.started_at is not None else "scheduled"
    return campaign


def cancel(session: Session, campaign_id: int, now: datetime | None = None) -> int:
    """Stop for good: the copies not sent yet are marked "cancelled" and never sent. A copy a
    worker holds at this instant (one batch, at most a second's worth) is left to its sender,
    so the figures say whether it went out; if it did not, it is never claimed again and the
    results count it as cancelled. Returns how many were cancelled now."""
    now = now or utcnow()
    campaign = _locked(session, campaign_id)
    _expect(campaign, "draft", "submitted", "scheduled", "sending", "active", "paused")
    result = session.execute(
        update(CampaignDelivery)
        .where(
            CampaignDelivery.campaign_id == campaign.id,
            CampaignDelivery.status == "pending",
            or_(CampaignDelivery.claimed_until.is_(None), CampaignDelivery.claimed_until < now),
        )
        .values(status="cancelled")
    )
    campaign.status, campaign.finished_at = "cancelled", now
    return int(result.rowcount or 0)


def find_merchant(session: Session, reference: str, channel: str = "telegram") -> Merchant:
    """A merchant by internal id or by chat id on the channel."""
    reference = reference.strip()
    if not reference:
        raise CampaignError("Indiquez le numéro du commerçant ou son identifiant de chat.")
    clauses = [Merchant.external_id == reference]
    if reference.isdigit():
        clauses.append(Merchant.id == int(reference))
    found = session.scalars(
        select(Merchant).where(Merchant.channel == channel, or_(*clauses)).order_by(Merchant.id)
    ).all()
    if not found:
        raise CampaignError(f"Aucun commerçant « {reference} » sur Telegram.")
    if len(found) > 1:  # an internal id that is also someone's chat id: the chat id wins
        found = [m for m in found if m.external_id == reference]
    return found[0]


def send_test(
    session: Session, campaign_id: int, reference: str, channel: str = "telegram"
) -> tuple[Merchant, OutboxMessage]:
    """One copy, as merchants will get it, to one merchant (usually your own Telegram
    account) through the outbox: no delivery row, so the results do not count it."""
    campaign = session.get(Campaign, campaign_id)
    if campaign is None:
        raise CampaignError(f"Pas de campagne {campaign_id}.")
    merchant = find_merchant(session, reference, channel)
    if not merchant.news_consent:
        raise CampaignError(
            "Ce commerçant n'a pas accepté les actualités : envoyez le test à votre propre "
            "compte Telegram après y avoir écrit /actus oui."
        )
    if merchant.unreachable_at is not None:
        raise CampaignError("Ce commerçant a bloqué le bot : choisissez-en un autre.")
    reply = campaigns.compose(campaign.text, campaign.buttons, merchant.language)
    row = outbox.queue(session, merchant.id, TEST_KIND, reply)
    session.flush()
    return merchant, row


def summary(campaign: Campaign) -> dict[str, Any]:
    """What the audit log keeps of a campaign's content (no merchant data)."""
    ends = as_utc(campaign.ends_at).isoformat() if campaign.ends_at else None
    return {
        "kind": campaign.kind,
        "title": campaign.title,
        "chars": len(campaign.text),
        "segment": campaign.segment,
        "ends_at": ends,
    }
