"""Campaigns: the adviser's news, sent to the consenting merchants of a segment.

A campaign is created (draft, or scheduled when approved: the CLI approves its own), and
started when its time comes: the segment is then frozen into one `CampaignDelivery` row per
merchant, so later changes to the profiles do not change who gets it. Any number of workers
send the deliveries: `claim` takes pending rows with `FOR UPDATE SKIP LOCKED` and holds them
for a lease, the sender `record`s each outcome. A delivery is sent once; a worker that dies
mid-batch lets its lease expire and another one sends what it had not.

Pure functions over a Session (and `now`): no channel code here.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime, timedelta
from html.parser import HTMLParser
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy import exists, func, insert, or_, select, update
from sqlalchemy.orm import Session

from .flows.profile import ONLINE, TRADES
from .messages import Button, Reply
from .store.models import (
    Campaign,
    CampaignDelivery,
    ChecklistRun,
    DiagnosticResult,
    Merchant,
    utcnow,
)
from .texts import text

MAX_MESSAGE = 4096
MAX_ATTEMPTS = 5
RETRY_AFTER = timedelta(seconds=5)  # times the attempts: an error is not retried at once
LEASE = timedelta(seconds=60)
PARIS = ZoneInfo("Europe/Paris")
# Telegram's HTML parse mode: anything else makes it refuse every copy.
ALLOWED_TAGS = {
    "b", "strong", "i", "em", "u", "ins", "s", "strike", "del", "a", "code", "pre",
    "blockquote", "tg-spoiler", "span",
}  # fmt: skip


class CampaignError(ValueError):
    """A campaign or segment Comptoir cannot send; the message says what to fix (French)."""


@dataclass(frozen=True)
class Segment:
    """Who a campaign targets, besides the rule that always holds: consenting, reachable
    merchants of the channel. Empty fields do not filter."""

    sectors: tuple[str, ...] = ()  # profile trades (bot.flows.profile.TRADES keys)
    sells_online: bool | None = None  # True: "oui"; False: "non" or "bientot"
    seen_within_days: int | None = None
    # axis -> score: the latest completed diagnostic scores strictly below it on that axis
    axis_below: dict[str, float] = field(default_factory=dict)
    unfinished_checklist: str | None = None  # started, not finished
    not_started_checklist: str | None = None  # never started
    tags: tuple[str, ...] = ()  # set by staff: any of them
    channel: str = "telegram"

    def __post_init__(self) -> None:
        unknown = [s for s in self.sectors if s not in TRADES]
        if unknown:
            raise CampaignError(
                f"Secteur inconnu : {', '.join(unknown)} (possibles : {', '.join(TRADES)})."
            )
        if self.seen_within_days is not None and self.seen_within_days < 1:
            raise CampaignError("seen_within_days doit être un nombre de jours positif.")

    def to_json(self) -> dict[str, Any]:
        data = asdict(self)
        data["sectors"], data["tags"] = list(self.sectors), list(self.tags)
        return data

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> Segment:
        try:
            return cls(
                sectors=tuple(data.get("sectors") or ()),
                sells_online=data.get("sells_online"),
                seen_within_days=data.get("seen_within_days"),
                axis_below={str(k): float(v) for k, v in (data.get("axis_below") or {}).items()},
                unfinished_checklist=data.get("unfinished_checklist"),
                not_started_checklist=data.get("not_started_checklist"),
                tags=tuple(data.get("tags") or ()),
                channel=data.get("channel") or "telegram",
            )
        except (TypeError, AttributeError) as exc:
            raise CampaignError(f"Segment illisible : {exc}") from None


@dataclass(frozen=True)
class Pending:
    """A delivery held by this worker: send `reply` to `chat_id`, then `record`."""

    delivery_id: int
    chat_id: str
    reply: Reply


def _aware(value: datetime) -> datetime:
    return value if value.tzinfo is not None else value.replace(tzinfo=UTC)


def parse_when(value: str) -> datetime:
    """An ISO date-time; without an offset it is read in Europe/Paris. Returned in UTC."""
    try:
        when = datetime.fromisoformat(value)
    except ValueError:
        raise CampaignError(
            f"Date illisible : {value!r} (exemple : 2026-12-24T09:30 ou 2026-12-24T09:30+01:00)."
        ) from None
    if when.tzinfo is None:
        when = when.replace(tzinfo=PARIS)
    return when.astimezone(UTC)


# -- segments ----------------------------------------------------------------------------


def _query(segment: Segment, now: datetime):  # type: ignore[no-untyped-def]
    """Merchants (id, tags) matching the segment's SQL filters, consenting and reachable."""
    query = select(Merchant.id, Merchant.tags).where(
        Merchant.channel == segment.channel,
        Merchant.news_consent.is_(True),
        Merchant.unreachable_at.is_(None),
    )
    if segment.sectors:
        query = query.where(Merchant.trade.in_(segment.sectors))
    if segment.sells_online is True:
        query = query.where(Merchant.sells_online == "oui")
    elif segment.sells_online is False:
        query = query.where(Merchant.sells_online.in_([k for k in ONLINE if k != "oui"]))
    if segment.seen_within_days is not None:
        since = now - timedelta(days=segment.seen_within_days)
        query = query.where(Merchant.last_seen_at >= since)
    if segment.unfinished_checklist:
        query = query.where(
            exists().where(
                ChecklistRun.merchant_id == Merchant.id,
                ChecklistRun.checklist_id == segment.unfinished_checklist,
                ChecklistRun.finished_at.is_(None),
            )
        )
    if segment.not_started_checklist:
        query = query.where(
            ~exists().where(
                ChecklistRun.merchant_id == Merchant.id,
                ChecklistRun.checklist_id == segment.not_started_checklist,
            )
        )
    if segment.axis_below:
        latest = (
            select(func.max(DiagnosticResult.id))
            .where(DiagnosticResult.merchant_id == Merchant.id, DiagnosticResult.completed)
            .correlate(Merchant)
            .scalar_subquery()
        )
        for axis, below in segment.axis_below.items():
            query = query.where(
                exists().where(
                    DiagnosticResult.id == latest,
                    DiagnosticResult.scores[axis].as_float() < below,
                )
            )
    return query.order_by(Merchant.id)


def matching(session: Session, segment: Segment, now: datetime | None = None) -> list[int]:
    """Ids of the merchants a campaign with this segment would reach now."""
    rows = session.execute(_query(segment, now or utcnow()))
    if not segment.tags:
        return [merchant_id for merchant_id, _ in rows]
    wanted = set(segment.tags)  # JSON lists: filtered here, alike on SQLite and PostgreSQL
    return [merchant_id for merchant_id, tags in rows if wanted.intersection(tags or ())]


def count(session: Session, segment: Segment, now: datetime | None = None) -> int:
    """How many consenting merchants match, shown before anything is sent."""
    return len(matching(session, segment, now))


# -- campaigns ---------------------------------------------------------------------------


class _TagCheck(HTMLParser):
    def __init__(self) -> None:
        super().__init__()
        self.open: list[str] = []
        self.problems: list[str] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag not in ALLOWED_TAGS:
            self.problems.append(f"<{tag}>")
        self.open.append(tag)

    def handle_endtag(self, tag: str) -> None:
        if not self.open or self.open.pop() != tag:
            self.problems.append(f"</{tag}>")


def check_text(html_text: str) -> None:
    """Refuse a text Telegram would refuse: empty, too long with the stop line, or with
    tags its HTML mode does not know or that are not closed."""
    if not html_text.strip():
        raise CampaignError("Le texte de la campagne est vide.")
    longest = max(len(_with_stop_line(html_text, lang)) for lang in ("fr", "en"))
    room = MAX_MESSAGE - longest + len(html_text)
    if len(html_text) > room:
        raise CampaignError(
            f"Texte trop long : {len(html_text)} caractères, {room} au plus (la ligne pour "
            "ne plus recevoir est ajoutée)."
        )
    checker = _TagCheck()
    checker.feed(html_text)
    checker.close()
    problems = checker.problems + [f"<{tag}> non fermée" for tag in checker.open]
    if problems:
        raise CampaignError(
            "HTML refusé par Telegram : " + ", ".join(problems) + " (balises possibles : b, i, "
            "u, s, a, code, pre, blockquote ; échappez < et & par &lt; et &amp;)."
        )


def _with_stop_line(html_text: str, language: str) -> str:
    return f"{html_text.rstrip()}\n\n{text(language, 'news_stop_line')}"


def compose(campaign_text: str, buttons: list[Any], language: str) -> Reply:
    """The message as a merchant gets it: the text, the stop line, the campaign's buttons
    and "Ne plus recevoir"."""
    rows = tuple(tuple(Button(b["label"], url=b["url"]) for b in row) for row in (buttons or []))
    stop = (Button(text(language, "news_stop"), "nw:stop"),)
    return Reply(_with_stop_line(campaign_text, language), (*rows, stop))


def create(
    session: Session,
    html_text: str,
    segment: Segment,
    created_by: str,
    approved_by: str = "",
    scheduled_at: datetime | None = None,
    buttons: list[list[dict[str, str]]] | None = None,
    now: datetime | None = None,
) -> Campaign:
    """A new campaign: a draft, or scheduled (at `scheduled_at`, else now) when approved.
    `targeted` is the count at creation; starting the campaign sets the real one."""
    now = now or utcnow()
    check_text(html_text)
    campaign = Campaign(
        text=html_text,
        buttons=buttons or [],
        segment=segment.to_json(),
        status="scheduled" if approved_by else "draft",
        scheduled_at=(scheduled_at or now) if approved_by else scheduled_at,
        created_by=created_by,
        approved_by=approved_by,
        targeted=count(session, segment, now),
        created_at=now,
    )
    session.add(campaign)
    session.flush()
    return campaign


def start(session: Session, campaign: Campaign, now: datetime | None = None) -> int:
    """Freeze the segment: one pending delivery per matching merchant; the campaign is then
    being sent. Returns how many merchants it targets."""
    now = now or utcnow()
    ids = matching(session, Segment.from_json(campaign.segment), now)
    if ids:
        session.execute(
            insert(CampaignDelivery),
            [
                {"campaign_id": campaign.id, "merchant_id": m, "status": "pending", "attempts": 0}
                for m in ids
            ],
        )
    campaign.targeted = len(ids)
    campaign.status = "sending"
    campaign.started_at = now
    return len(ids)


def start_due(session: Session, now: datetime | None = None) -> list[int]:
    """Start the scheduled campaigns whose time has come (one worker starts each: the rows
    are locked with SKIP LOCKED)."""
    now = now or utcnow()
    due = session.scalars(
        select(Campaign)
        .where(Campaign.status == "scheduled", Campaign.scheduled_at <= now)
        .order_by(Campaign.id)
        .with_for_update(skip_locked=True)
    ).all()
    for campaign in due:
        start(session, campaign, now)
    return [c.id for c in due]


def claim(
    session: Session,
    channel: str = "telegram",
    limit: int = 25,
    now: datetime | None = None,
    lease: timedelta = LEASE,
) -> list[Pending]:
    """Pending deliveries of campaigns being sent, held by this worker for `lease`. A
    merchant who withdrew consent since the start is skipped, not sent to."""
    now = now or utcnow()
    rows = session.execute(
        select(CampaignDelivery, Campaign, Merchant)
        .join(Campaign, Campaign.id == CampaignDelivery.campaign_id)
        .join(Merchant, Merchant.id == CampaignDelivery.merchant_id)
        .where(
            Campaign.status == "sending",
            CampaignDelivery.status == "pending",
            Merchant.channel == channel,
            or_(CampaignDelivery.claimed_until.is_(None), CampaignDelivery.claimed_until < now),
        )
        .order_by(CampaignDelivery.id)
        .limit(limit)
        .with_for_update(skip_locked=True, of=CampaignDelivery)
    ).all()
    claimed = []
    for delivery, campaign, merchant in rows:
        if not merchant.news_consent:
            delivery.status = "skipped"
        elif merchant.unreachable_at is not None:  # blocked us during another campaign
            delivery.status = "unreachable"
        else:
            delivery.claimed_until = now + lease
            reply = compose(campaign.text, campaign.buttons, merchant.language)
            claimed.append(Pending(delivery.id, merchant.external_id, reply))
    return claimed


def record(
    session: Session,
    delivery_id: int,
    outcome: str,
    now: datetime | None = None,
    retry_after: timedelta = RETRY_AFTER,
) -> None:
    """What happened to one send: "sent"; "unreachable" (403: the merchant blocked the bot);
    "retry" (an error: tried again later, failed after MAX_ATTEMPTS); "later" (rate limited
    or the worker is stopping: released without counting an attempt)."""
    now = now or utcnow()
    delivery = session.get(CampaignDelivery, delivery_id)
    if delivery is None or delivery.status != "pending":  # erased meanwhile, or settled
        return
    delivery.claimed_until = None
    if outcome == "later":
        return
    delivery.attempts += 1
    if outcome == "sent":
        delivery.status, delivery.sent_at = "sent", now
    elif outcome == "unreachable":
        delivery.status = "unreachable"
        session.execute(
            update(Merchant).where(Merchant.id == delivery.merchant_id).values(unreachable_at=now)
        )
    elif delivery.attempts >= MAX_ATTEMPTS:
        delivery.status = "failed"
    else:  # held from every worker a while, then claimed again
        delivery.claimed_until = now + retry_after * delivery.attempts


def release(session: Session, delivery_ids: list[int]) -> None:
    """Deliveries claimed but not sent (the worker is stopping): any worker may take them."""
    if delivery_ids:
        session.execute(
            update(CampaignDelivery)
            .where(CampaignDelivery.id.in_(delivery_ids), CampaignDelivery.status == "pending")
            .values(claimed_until=None)
        )


def finish_sent(session: Session, now: datetime | None = None) -> list[int]:
    """Campaigns being sent with no pending delivery left are done."""
    now = now or utcnow()
    pending = exists().where(
        CampaignDelivery.campaign_id == Campaign.id, CampaignDelivery.status == "pending"
    )
    done = session.scalars(
        select(Campaign)
        .where(Campaign.status == "sending", ~pending)
        .with_for_update(skip_locked=True)
    ).all()
    for campaign in done:
        campaign.status, campaign.finished_at = "done", now
    return [c.id for c in done]


STATUSES = ("sent", "failed", "unreachable", "skipped", "pending")


def status(session: Session, campaign_id: int) -> dict[str, Any] | None:
    """A campaign's figures: targeted, then its deliveries by status."""
    campaign = session.get(Campaign, campaign_id)
    if campaign is None:
        return None
    counts = dict(
        session.execute(
            select(CampaignDelivery.status, func.count())
            .where(CampaignDelivery.campaign_id == campaign_id)
            .group_by(CampaignDelivery.status)
        ).all()
    )
    scheduled = campaign.scheduled_at
    return {
        "id": campaign.id,
        "status": campaign.status,
        "scheduled_at": _aware(scheduled).isoformat() if scheduled else None,
        "targeted": campaign.targeted,
        **{name: int(counts.get(name, 0)) for name in STATUSES},
    }
