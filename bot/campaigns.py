"""Campaigns: the adviser's news, sent to the consenting merchants of a segment.

A campaign is created (draft, or scheduled when approved: the CLI approves its own), and
started when its time comes: the segment is then frozen into one `CampaignDelivery` row per
merchant, so later changes to the profiles do not change who gets it. Any number of workers
send the deliveries: `claim` takes pending rows with `FOR UPDATE SKIP LOCKED` and holds them
for a lease, the sender `record`s each outcome. A delivery is sent once; a worker that dies
mid-batch lets its lease expire and another one sends what it had not.

A nudge (`bot.nudges`) is a Campaign row of kind "rule": no frozen segment, its deliveries
are added over time by the rule job, and the same `claim`/`record` send them.

Campaign buttons: a URL, or Comptoir content (a guide, a FAQ entry, a checklist, the
diagnostic) opened by a callback naming the campaign and the button's place
(`nw:go:<campaign>:<row>:<col>`), so a press is recorded on the merchant's delivery.

Pure functions over a Session (and `now`): no channel code here.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from datetime import UTC, date, datetime, time, timedelta
from html.parser import HTMLParser
from typing import Any
from urllib.parse import urlparse
from zoneinfo import ZoneInfo

from sqlalchemy import and_, exists, false, func, insert, or_, select, update
from sqlalchemy.orm import Session

from knowledge_base.content_model import KnowledgeBase

from .flows.profile import ONLINE, TRADES
from .messages import MAX_CALLBACK_BYTES, Button, Reply
from .store.models import (
    Campaign,
    CampaignDelivery,
    ChecklistRun,
    DiagnosticResult,
    Merchant,
    Message,
    as_utc,
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
BUTTON_KINDS = ("url", "guide", "faq", "checklist", "diagnostic")
MAX_LABEL = 60  # characters: a longer label is cut by the clients
MAX_ROW, MAX_BUTTONS = 8, 20  # side by side, in all: Telegram's row limit; a readable message
NUDGE_WEEK = timedelta(days=7)  # at most one nudge (rule message) a week per merchant


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
    # With unfinished_checklist: its last step (ChecklistRun.updated_at) is N days old or more.
    checklist_idle_days: int | None = None
    # The latest completed diagnostic is more than N days old (merchants with none: no).
    diagnostic_older_than_days: int | None = None
    no_diagnostic: bool = False  # never completed a diagnostic
    # A window before an operator's date (ISO, Paris): matches only from `days_before` days
    # before it until the day before it, e.g. 60 days before 2026-09-01.
    before_date: str | None = None
    days_before: int | None = None

    def __post_init__(self) -> None:
        unknown = [s for s in self.sectors if s not in TRADES]
        if unknown:
            raise CampaignError(
                f"Secteur inconnu : {', '.join(unknown)} (possibles : {', '.join(TRADES)})."
            )
        for name in ("seen_within_days", "checklist_idle_days", "diagnostic_older_than_days"):
            value = getattr(self, name)
            if value is not None and (not isinstance(value, int) or value < 1):
                raise CampaignError(f"{name} doit être un nombre de jours positif.")
        if self.checklist_idle_days is not None and not self.unfinished_checklist:
            raise CampaignError(
                "checklist_idle_days s'applique à une checklist commencée : indiquez "
                "unfinished_checklist (--unfinished-checklist)."
            )
        if self.no_diagnostic and self.diagnostic_older_than_days is not None:
            raise CampaignError(
                "no_diagnostic et diagnostic_older_than_days s'excluent : choisissez l'un des deux."
            )
        if (self.before_date is None) != (self.days_before is None):
            raise CampaignError(
                "before_date et days_before vont ensemble (ex. : 60 jours avant 2026-09-01)."
            )
        if self.days_before is not None and (
            not isinstance(self.days_before, int) or self.days_before < 1
        ):
            raise CampaignError("days_before doit être un nombre de jours positif.")
        if self.before_date is not None:
            self.deadline()  # readable, or refused now

    def deadline(self) -> date | None:
        """`before_date` as a date (None without one)."""
        if self.before_date is None:
            return None
        try:
            return date.fromisoformat(self.before_date)
        except (TypeError, ValueError):
            raise CampaignError(
                f"Date illisible : {self.before_date!r} (exemple : 2026-09-01)."
            ) from None

    def in_window(self, now: datetime) -> bool:
        """Whether `now` is in the before_date window (always, without one)."""
        deadline = self.deadline()
        if deadline is None or self.days_before is None:
            return True
        end = datetime.combine(deadline, time(), PARIS)
        return end - timedelta(days=self.days_before) <= now < end

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
                checklist_idle_days=data.get("checklist_idle_days"),
                diagnostic_older_than_days=data.get("diagnostic_older_than_days"),
                no_diagnostic=bool(data.get("no_diagnostic", False)),
                before_date=data.get("before_date"),
                days_before=data.get("days_before"),
            )
        except (TypeError, AttributeError) as exc:
            raise CampaignError(f"Segment illisible : {exc}") from None


@dataclass(frozen=True)
class Pending:
    """A delivery held by this worker: send `reply` to `chat_id`, then `record`."""

    delivery_id: int
    chat_id: str
    reply: Reply


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


def _query(segment: Segment, now: datetime, rule_id: int | None = None):  # type: ignore[no-untyped-def]
    """Merchants (id, tags) matching the segment's SQL filters, consenting and reachable;
    with `rule_id`, also never sent that rule and no nudge within NUDGE_WEEK."""
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
        idle = []
        if segment.checklist_idle_days is not None:  # every step press updates updated_at
            idle = [ChecklistRun.updated_at <= now - timedelta(days=segment.checklist_idle_days)]
        query = query.where(
            exists().where(
                ChecklistRun.merchant_id == Merchant.id,
                ChecklistRun.checklist_id == segment.unfinished_checklist,
                ChecklistRun.finished_at.is_(None),
                *idle,
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
    if segment.no_diagnostic or segment.diagnostic_older_than_days is not None:
        completed = (DiagnosticResult.merchant_id == Merchant.id, DiagnosticResult.completed)
        if segment.no_diagnostic:
            query = query.where(~exists().where(*completed))
        else:
            since = now - timedelta(days=segment.diagnostic_older_than_days or 0)
            done_at = func.coalesce(DiagnosticResult.completed_at, DiagnosticResult.created_at)
            query = query.where(
                exists().where(*completed), ~exists().where(*completed, done_at > since)
            )
    if not segment.in_window(now):
        query = query.where(false())
    if rule_id is not None:
        query = query.where(
            ~exists().where(
                CampaignDelivery.campaign_id == rule_id,
                CampaignDelivery.merchant_id == Merchant.id,
            ),
            ~exists().where(  # the weekly cap, across every rule
                CampaignDelivery.merchant_id == Merchant.id,
                CampaignDelivery.campaign_id == Campaign.id,
                Campaign.kind == "rule",
                or_(
                    CampaignDelivery.status == "pending",
                    CampaignDelivery.sent_at > now - NUDGE_WEEK,
                ),
            ),
        )
    return query.order_by(Merchant.id)


def matching(
    session: Session, segment: Segment, now: datetime | None = None, rule_id: int | None = None
) -> list[int]:
    """Ids of the merchants a campaign with this segment would reach now; with `rule_id`
    (a nudge), those the rule may send to now: never sent it, no nudge within a week."""
    rows = session.execute(_query(segment, now or utcnow(), rule_id))
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


@dataclass(frozen=True)
class ButtonSpec:
    """One campaign button as stored: `{"label", "kind", "target"}`; the first shape,
    `{"label", "url"}`, reads as kind "url". The diagnostic needs no target."""

    label: str
    kind: str
    target: str = ""

    @classmethod
    def read(cls, data: Any) -> ButtonSpec:
        if not isinstance(data, dict):
            raise CampaignError(f"Bouton illisible : {data!r}.")
        if "kind" not in data and "url" in data:
            return cls(str(data.get("label", "")), "url", str(data["url"]))
        return cls(
            str(data.get("label", "")), str(data.get("kind", "")), str(data.get("target", ""))
        )


def button_at(buttons: list[Any], row: int, col: int) -> ButtonSpec | None:
    """The campaign's button at (row, col), or None (changed since, or forged)."""
    try:
        return ButtonSpec.read(buttons[row][col])
    except (IndexError, TypeError, KeyError, CampaignError):
        return None


def go_data(campaign_id: int, row: int, col: int) -> str:
    """Callback data of a content button: names the campaign and the button's place."""
    return f"nw:go:{campaign_id}:{row}:{col}"


def stop_data(campaign_id: int) -> str:
    """Callback data of "Ne plus recevoir": names the campaign (0: not a sent campaign)."""
    return f"nw:stop:{campaign_id}" if campaign_id else "nw:stop"


def check_buttons(buttons: list[Any], kb: KnowledgeBase) -> None:
    """Refuse buttons that could not work: an unknown kind, guide, FAQ entry or checklist,
    no diagnostic, a URL that is not http(s), a label empty or too long, callback data over
    Telegram's 64 bytes. The composer calls it before saving.

    URL buttons open the page in the merchant's client: Telegram tells the bot nothing, so
    their presses cannot be counted (only content buttons are tracked)."""
    if not isinstance(buttons, list):
        raise CampaignError("Les boutons doivent être des rangées (listes) de boutons.")
    problems: list[str] = []
    if sum(len(row) for row in buttons if isinstance(row, list)) > MAX_BUTTONS:
        problems.append(f"{MAX_BUTTONS} boutons au plus")
    for r, row in enumerate(buttons):
        if not isinstance(row, list) or not row:
            problems.append(f"rangée {r + 1} : vide ou illisible")
            continue
        if len(row) > MAX_ROW:
            problems.append(f"rangée {r + 1} : {MAX_ROW} boutons au plus par rangée")
        for c, item in enumerate(row):
            try:
                spec = ButtonSpec.read(item)
            except CampaignError as exc:
                problems.append(str(exc))
                continue
            where = f"bouton « {spec.label or '?'} »"
            if not spec.label.strip():
                problems.append(f"rangée {r + 1}, bouton {c + 1} : libellé vide")
            elif len(spec.label) > MAX_LABEL:
                problems.append(f"{where} : libellé trop long ({MAX_LABEL} caractères au plus)")
            if spec.kind not in BUTTON_KINDS:
                problems.append(f"{where} : type inconnu (possibles : {', '.join(BUTTON_KINDS)})")
            elif spec.kind == "url":
                link = urlparse(spec.target)
                if link.scheme not in ("http", "https") or not link.netloc:
                    problems.append(f"{where} : adresse à donner en http:// ou https://")
            elif spec.kind == "guide" and spec.target not in kb.guides:
                problems.append(f"{where} : guide inconnu {spec.target!r}")
            elif spec.kind == "faq" and spec.target not in kb.faq:
                problems.append(f"{where} : entrée de FAQ inconnue {spec.target!r}")
            elif spec.kind == "checklist" and spec.target not in kb.checklists:
                problems.append(f"{where} : checklist inconnue {spec.target!r}")
            elif spec.kind == "diagnostic" and kb.diagnostic is None:
                problems.append(f"{where} : pas de diagnostic dans la base de contenu")
            # the largest campaign number the table will hold in practice
            if len(go_data(2**31 - 1, r, c).encode()) > MAX_CALLBACK_BYTES:
                problems.append(f"{where} : trop de boutons (données de rappel > 64 octets)")
    if problems:
        raise CampaignError("Boutons refusés : " + " ; ".join(problems) + ".")


def compose(campaign_text: str, buttons: list[Any], language: str, campaign_id: int = 0) -> Reply:
    """The message as a merchant gets it: the text, the stop line, the campaign's buttons
    and "Ne plus recevoir". Content buttons call back `nw:go:<campaign>:<row>:<col>` (the
    press is recorded, then the content opens); URL buttons open the link directly, so
    Telegram never tells us about their presses. `campaign_id` 0 (a preview): the content
    buttons answer that they are no longer valid."""
    rows = []
    for r, row in enumerate(buttons or []):
        shown = []
        for c, item in enumerate(row):
            spec = ButtonSpec.read(item)
            if spec.kind == "url":
                shown.append(Button(spec.label, url=spec.target))
            else:
                shown.append(Button(spec.label, go_data(campaign_id, r, c)))
        rows.append(tuple(shown))
    stop = (Button(text(language, "news_stop"), stop_data(campaign_id)),)
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
    are locked with SKIP LOCKED). A scheduled rule becomes active instead: its segment is
    not frozen, the rule job (`bot.nudges`) adds its deliveries over time."""
    now = now or utcnow()
    due = session.scalars(
        select(Campaign)
        .where(Campaign.status == "scheduled", Campaign.scheduled_at <= now)
        .order_by(Campaign.id)
        .with_for_update(skip_locked=True)
    ).all()
    started = []
    for campaign in due:
        if campaign.kind == "rule":
            campaign.status, campaign.started_at = "active", now
        else:
            start(session, campaign, now)
            started.append(campaign.id)
    return started


def claim(
    session: Session,
    channel: str = "telegram",
    limit: int = 25,
    now: datetime | None = None,
    lease: timedelta = LEASE,
) -> list[Pending]:
    """Pending deliveries of campaigns being sent and of active rules, held by this worker
    for `lease`. A merchant who withdrew consent since the start is skipped, not sent to."""
    now = now or utcnow()
    rows = session.execute(
        select(CampaignDelivery, Campaign, Merchant)
        .join(Campaign, Campaign.id == CampaignDelivery.campaign_id)
        .join(Merchant, Merchant.id == CampaignDelivery.merchant_id)
        .where(
            or_(
                Campaign.status == "sending",
                and_(Campaign.kind == "rule", Campaign.status == "active"),
            ),
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
            reply = compose(campaign.text, campaign.buttons, merchant.language, campaign.id)
            claimed.append(Pending(delivery.id, merchant.external_id, reply))
    return claimed


def record(
    session: Session,
    delivery_id: int,
    outcome: str,
    now: datetime | None = None,
    retry_after: timedelta = RETRY_AFTER,
    message: Reply | None = None,
) -> None:
    """What happened to one send: "sent" (the message — `message`, the copy the sender
    composed at claim time, else composed again — also joins the merchant's
    conversation, as the bot's, so staff see what they received); "unreachable" (403: the
    merchant blocked the bot); "retry" (an error: tried again later, failed after
    MAX_ATTEMPTS); "later" (rate limited or the worker is stopping: released without
    counting an attempt)."""
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
        add_to_transcript(session, delivery, now, message)
    elif outcome == "unreachable":
        delivery.status = "unreachable"
        session.execute(
            update(Merchant).where(Merchant.id == delivery.merchant_id).values(unreachable_at=now)
        )
    elif delivery.attempts >= MAX_ATTEMPTS:
        delivery.status = "failed"
    else:  # held from every worker a while, then claimed again
        delivery.claimed_until = now + retry_after * delivery.attempts


def add_to_transcript(
    session: Session, delivery: CampaignDelivery, now: datetime, reply: Reply | None = None
) -> None:
    """The sent message as an outgoing bot message of kind "campaign" in the merchant's
    history (already delivered): support staff see it, results relate later questions.
    Written once Telegram confirmed the send (a crash before never shows an unsent
    message), so a press within those few milliseconds would be stored just before it."""
    if reply is None:
        campaign = session.get(Campaign, delivery.campaign_id)
        merchant = session.get(Merchant, delivery.merchant_id)
        if campaign is None or merchant is None:
            return
        reply = compose(campaign.text, campaign.buttons, merchant.language, campaign.id)
    session.add(
        Message(
            merchant_id=delivery.merchant_id,
            direction="out",
            author="bot",
            kind="campaign",
            text=reply.plain()[:MAX_MESSAGE],
            html=reply.html,
            buttons=reply.button_rows(),
            delivered=True,
            created_at=now,
        )
    )


def mark_pressed(session: Session, campaign_id: int, merchant_id: int, now: datetime) -> bool:
    """A content button of the campaign pressed by the merchant: the first press is kept.
    False when they have no delivery of it (a test send, or erased meanwhile)."""
    return _mark(session, campaign_id, merchant_id, CampaignDelivery.pressed_at, now)


def mark_stopped(session: Session, campaign_id: int, merchant_id: int, now: datetime) -> bool:
    """ "Ne plus recevoir" pressed under this campaign's message (the first time is kept)."""
    return _mark(session, campaign_id, merchant_id, CampaignDelivery.stopped_at, now)


def _mark(session: Session, campaign_id: int, merchant_id: int, column: Any, now: datetime) -> bool:
    mine = (
        CampaignDelivery.campaign_id == campaign_id,
        CampaignDelivery.merchant_id == merchant_id,
    )
    session.execute(update(CampaignDelivery).where(*mine, column.is_(None)).values({column: now}))
    return session.scalar(select(exists().where(*mine))) or False


def release(session: Session, delivery_ids: list[int]) -> None:
    """Deliveries claimed but not sent (the worker is stopping): any worker may take them."""
    if delivery_ids:
        session.execute(
            update(CampaignDelivery)
            .where(CampaignDelivery.id.in_(delivery_ids), CampaignDelivery.status == "pending")
            .values(claimed_until=None)
        )


def finish_sent(session: Session, now: datetime | None = None) -> list[int]:
    """Campaigns being sent with no pending delivery left are done (rules end with their
    `ends_at`: `bot.nudges`)."""
    now = now or utcnow()
    pending = exists().where(
        CampaignDelivery.campaign_id == Campaign.id, CampaignDelivery.status == "pending"
    )
    done = session.scalars(
        select(Campaign)
        .where(Campaign.kind == "campaign", Campaign.status == "sending", ~pending)
        .with_for_update(skip_locked=True)
    ).all()
    for campaign in done:
        campaign.status, campaign.finished_at = "done", now
    return [c.id for c in done]


STATUSES = ("sent", "failed", "unreachable", "skipped", "pending")


def status(session: Session, campaign_id: int) -> dict[str, Any] | None:
    """A campaign's figures: targeted, then its deliveries by status. A rule's targeted is
    how many merchants it has reached so far (one delivery each)."""
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
    scheduled, ends = campaign.scheduled_at, campaign.ends_at
    targeted = sum(counts.values()) if campaign.kind == "rule" else campaign.targeted
    return {
        "id": campaign.id,
        "kind": campaign.kind,
        "status": campaign.status,
        "scheduled_at": as_utc(scheduled).isoformat() if scheduled else None,
        "ends_at": as_utc(ends).isoformat() if ends else None,
        "targeted": int(targeted),
        **{name: int(counts.get(name, 0)) for name in STATUSES},
    }
