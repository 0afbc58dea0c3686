"""Database tables (SQLAlchemy 2, typed). SQLite by default, PostgreSQL in production.

Personal data is kept minimal: a Telegram id, a first name, a language and an optional
business profile the merchant chose to give. Everything hangs off `Merchant` with
ON DELETE CASCADE, so erasing a merchant erases every row about them.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any, overload

from sqlalchemy import (
    JSON,
    BigInteger,
    Boolean,
    DateTime,
    Float,
    ForeignKey,
    Index,
    Integer,
    LargeBinary,
    String,
    Text,
    UniqueConstraint,
)
from sqlalchemy import text as sql
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column, relationship


def utcnow() -> datetime:
    return datetime.now(UTC)


@overload
def as_utc(moment: datetime) -> datetime: ...
@overload
def as_utc(moment: None) -> None: ...
def as_utc(moment: datetime | None) -> datetime | None:
    """SQLite gives timezone-aware columns back naive (in UTC): the same moment, aware."""
    if moment is None or moment.tzinfo is not None:
        return moment
    return moment.replace(tzinfo=UTC)


class Base(DeclarativeBase):
    pass


def merchant_fk() -> Mapped[int]:
    """The owner column of every merchant-related row: erased with the merchant."""
    return mapped_column(ForeignKey("merchants.id", ondelete="CASCADE"), index=True)


class Merchant(Base):
    __tablename__ = "merchants"
    __table_args__ = (UniqueConstraint("channel", "external_id", name="uq_merchant_channel_user"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    channel: Mapped[str] = mapped_column(String(16))  # telegram | terminal | test
    external_id: Mapped[str] = mapped_column(String(64))  # the chat/user id on that channel
    first_name: Mapped[str] = mapped_column(String(128), default="")
    language: Mapped[str] = mapped_column(String(8), default="fr")
    trade: Mapped[str | None] = mapped_column(String(64), default=None)
    sells_online: Mapped[str | None] = mapped_column(String(16), default=None)
    town: Mapped[str | None] = mapped_column(String(64), default=None)
    size: Mapped[str | None] = mapped_column(String(32), default=None)
    flow: Mapped[str | None] = mapped_column(String(32), default=None)  # active flow name
    flow_state: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    handoff_active: Mapped[bool] = mapped_column(Boolean, default=False)
    reminders: Mapped[bool] = mapped_column(Boolean, default=False)
    # Back office: labels and an internal note staff keep about the conversation.
    tags: Mapped[list[str]] = mapped_column(JSON, default=list)
    staff_note: Mapped[str] = mapped_column(Text, default="")
    # The adviser's news (campaigns): off until the merchant says yes; when they chose.
    news_consent: Mapped[bool] = mapped_column(Boolean, default=False)
    news_consent_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True), default=None)
    # Telegram answered 403 (the merchant blocked the bot): campaigns skip them until they
    # write again.
    unreachable_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True), default=None)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
    last_seen_at: Mapped[datetime] = mapped_column(
        DateTime(timezone=True), default=utcnow, index=True
    )

    messages: Mapped[list[Message]] = relationship(
        back_populates="merchant", cascade="all, delete-orphan", passive_deletes=True
    )


class Message(Base):
    __tablename__ = "messages"
    __table_args__ = (
        # Covers the dashboard's one pass over a period (read from the index alone).
        Index(
            "ix_messages_activity",
            "created_at",
            "direction",
            "author",
            "kind",
            "merchant_id",
            "intent",
            "answered",
            "feedback",
        ),
        # The delivery job's claim reads only replies not yet sent (a handful among millions).
        Index(
            "ix_messages_undelivered",
            "id",
            postgresql_where=sql("NOT delivered"),
            sqlite_where=sql("NOT delivered"),
        ),
        # Flood control reads a chat's latest incoming messages before every turn: this
        # makes it a range of at most COMPTOIR_FLOOD_MAX_MESSAGES entries, however long the
        # merchant's history.
        Index("ix_messages_merchant_recent", "merchant_id", "direction", "created_at"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    merchant_id: Mapped[int] = mapped_column(
        ForeignKey("merchants.id", ondelete="CASCADE"), index=True
    )
    direction: Mapped[str] = mapped_column(String(3))  # in | out
    author: Mapped[str] = mapped_column(String(16), default="merchant")  # merchant | bot | staff
    # text | command | button | other; out: text, or campaign (a campaign or nudge sent)
    kind: Mapped[str] = mapped_column(String(16), default="text")
    text: Mapped[str] = mapped_column(Text, default="")  # plain text (safe to show anywhere)
    html: Mapped[str] = mapped_column(Text, default="")  # out messages: what was sent
    intent: Mapped[str | None] = mapped_column(String(48), default=None, index=True)
    confidence: Mapped[float | None] = mapped_column(Float, default=None)
    entities: Mapped[list[Any]] = mapped_column(JSON, default=list)
    hits: Mapped[list[Any]] = mapped_column(JSON, default=list)
    buttons: Mapped[list[Any]] = mapped_column(JSON, default=list)  # rows of {label, data|url}
    answered: Mapped[bool | None] = mapped_column(Boolean, default=None)  # False: could not answer
    # +1 / -1, on the merchant message whose answer was rated (the buttons carry its id)
    feedback: Mapped[int | None] = mapped_column(Integer, default=None)
    delivered: Mapped[bool] = mapped_column(Boolean, default=True)  # out messages: sent yet?
    # Undelivered replies: the worker sending them holds them until then; after that any
    # worker's delivery job may claim them (the sender died).
    claimed_until: Mapped[datetime | None] = mapped_column(DateTime(timezone=True), default=None)
    # In messages: arrived while the chat was over its flood limit (stored for staff; not
    # answered, except a data-protection request or a first call for an adviser).
    flooded: Mapped[bool] = mapped_column(Boolean, default=False)
    created_at: Mapped[datetime] = mapped_column(
        DateTime(timezone=True), default=utcnow, index=True
    )

    merchant: Mapped[Merchant] = relationship(back_populates="messages")


class ProcessedUpdate(Base):
    """Telegram `update_id`s already handled: each update is answered once, even after a
    crash and a re-delivery."""

    __tablename__ = "processed_updates"

    update_id: Mapped[int] = mapped_column(BigInteger, primary_key=True, autoincrement=False)
    merchant_id: Mapped[int | None] = mapped_column(
        ForeignKey("merchants.id", ondelete="CASCADE"), default=None, index=True
    )
    processed_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)


class ChecklistProgress(Base):
    __tablename__ = "checklist_progress"
    __table_args__ = (UniqueConstraint("merchant_id", "checklist_id", "step_id"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    merchant_id: Mapped[int] = mapped_column(
        ForeignKey("merchants.id", ondelete="CASCADE"), index=True
    )
    checklist_id: Mapped[str] = mapped_column(String(64))
    step_id: Mapped[str] = mapped_column(String(64))
    status: Mapped[str] = mapped_column(String(16))  # done | later | skipped
    updated_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)


class ChecklistRun(Base):
    __tablename__ = "checklist_runs"
    __table_args__ = (UniqueConstraint("merchant_id", "checklist_id"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    merchant_id: Mapped[int] = mapped_column(
        ForeignKey("merchants.id", ondelete="CASCADE"), index=True
    )
    checklist_id: Mapped[str] = mapped_column(String(64))
    started_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
    finished_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True), default=None)
    remind_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True), default=None)


class DiagnosticResult(Base):
    __tablename__ = "diagnostic_results"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    merchant_id: Mapped[int] = mapped_column(
        ForeignKey("merchants.id", ondelete="CASCADE"), index=True
    )
    answers: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    scores: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    completed: Mapped[bool] = mapped_column(Boolean, default=False)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
    completed_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True), default=None)


class HandoffRequest(Base):
    __tablename__ = "handoff_requests"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    merchant_id: Mapped[int] = mapped_column(
        ForeignKey("merchants.id", ondelete="CASCADE"), index=True
    )
    reason: Mapped[str] = mapped_column(Text, default="")
    status: Mapped[str] = mapped_column(String(16), default="open")  # open | closed
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
    closed_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True), default=None)


class OutboxMessage(Base):
    """Messages the bot sends on its own initiative: an adviser's words written in the back
    office, the hand-back notice, checklist reminders. Delivered by whichever worker claims
    them (`bot.outbox.claim`), once."""

    __tablename__ = "outbox"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    merchant_id: Mapped[int] = mapped_column(
        ForeignKey("merchants.id", ondelete="CASCADE"), index=True
    )
    author: Mapped[str] = mapped_column(String(128), default="")
    # staff: an adviser's words; handback: the bot's "I am back" notice (text unused);
    # reminder: a checklist reminder, composed when it fell due (html and buttons)
    kind: Mapped[str] = mapped_column(String(16), default="staff")
    text: Mapped[str] = mapped_column(Text)
    html: Mapped[str] = mapped_column(Text, default="")
    buttons: Mapped[list[Any]] = mapped_column(JSON, default=list)
    # A worker sending this row holds it until then (a crashed worker's claim expires).
    claimed_until: Mapped[datetime | None] = mapped_column(DateTime(timezone=True), default=None)
    status: Mapped[str] = mapped_column(String(16), default="pending")  # pending | sent | failed
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
    sent_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True), default=None)


class Campaign(Base):
    """A message to every consenting merchant of a segment (`bot.campaigns`). The segment is
    frozen into `campaign_deliveries` when the campaign starts."""

    __tablename__ = "campaigns"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    title: Mapped[str] = mapped_column(String(120), default="")  # staff's name for it
    # campaign: sent once to the segment; rule (a nudge): sent to each merchant who enters
    # the segment while it is active, at most once per merchant
    kind: Mapped[str] = mapped_column(String(8), default="campaign")
    text: Mapped[str] = mapped_column(Text)  # Telegram HTML, without the stop line
    # rows of {label, kind: url|guide|faq|checklist|diagnostic, target} (or {label, url})
    buttons: Mapped[list[Any]] = mapped_column(JSON, default=list)
    segment: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)  # bot.campaigns.Segment
    # draft | submitted (awaiting an admin) | scheduled | sending | paused | done | cancelled;
    # a rule: active (sends while scheduled_at <= now < ends_at) instead of sending
    status: Mapped[str] = mapped_column(String(16), default="draft", index=True)
    scheduled_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True), default=None)
    created_by: Mapped[str] = mapped_column(String(254), default="")
    approved_by: Mapped[str] = mapped_column(String(254), default="")
    targeted: Mapped[int] = mapped_column(Integer, default=0)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
    started_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True), default=None)
    finished_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True), default=None)
    ends_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True), default=None)


class CampaignDelivery(Base):
    """One merchant's copy of a campaign: claimed by one worker at a time (SKIP LOCKED and a
    lease), sent once. Erased with the merchant."""

    __tablename__ = "campaign_deliveries"
    __table_args__ = (
        UniqueConstraint("campaign_id", "merchant_id", name="uq_campaign_delivery"),
        Index("ix_campaign_deliveries_pending", "campaign_id", "status", "id"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    campaign_id: Mapped[int] = mapped_column(ForeignKey("campaigns.id", ondelete="CASCADE"))
    merchant_id: Mapped[int] = merchant_fk()
    # pending | sent | failed | unreachable | skipped (consent withdrawn before sending) |
    # cancelled (the campaign was cancelled before it went out)
    status: Mapped[str] = mapped_column(String(16), default="pending")
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    claimed_until: Mapped[datetime | None] = mapped_column(DateTime(timezone=True), default=None)
    sent_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True), default=None)
    created_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True), default=utcnow)
    pressed_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True), default=None)
    stopped_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True), default=None)


# --- Back office -------------------------------------------------------------------------


class StaffUser(Base):
    """A support agent, operator or administrator of the back office."""

    __tablename__ = "staff_users"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    email: Mapped[str] = mapped_column(String(254), unique=True)
    name: Mapped[str] = mapped_column(String(128), default="")
    role: Mapped[str] = mapped_column(String(16))  # support | operator | admin
    password_hash: Mapped[str] = mapped_column(String(256))
    active: Mapped[bool] = mapped_column(Boolean, default=True)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
    last_login_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True), default=None)


class StaffSession(Base):
    """A signed-in browser. Only a hash of the cookie's token is stored, so a leaked
    database does not let anyone sign in; deleting the row signs the browser out."""

    __tablename__ = "staff_sessions"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    token_hash: Mapped[str] = mapped_column(String(64), unique=True)
    user_id: Mapped[int] = mapped_column(
        ForeignKey("staff_users.id", ondelete="CASCADE"), index=True
    )
    csrf_token: Mapped[str] = mapped_column(String(64))
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
    expires_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))

    user: Mapped[StaffUser] = relationship()


class LoginAttempt(Base):
    """Recent sign-in attempts, to slow down password guessing (kept one day)."""

    __tablename__ = "login_attempts"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    email: Mapped[str] = mapped_column(String(254), index=True)
    ip: Mapped[str] = mapped_column(String(64), index=True)
    success: Mapped[bool] = mapped_column(Boolean)
    created_at: Mapped[datetime] = mapped_column(
        DateTime(timezone=True), default=utcnow, index=True
    )


class AuditEvent(Base):
    """Who did what in the back office, and when. The staff e-mail is copied so the trail
    survives the account; merchant ids are kept as plain numbers (no cascade), and the
    details never hold message text."""

    __tablename__ = "audit_log"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    staff_id: Mapped[int | None] = mapped_column(Integer, default=None)
    staff_email: Mapped[str] = mapped_column(String(254), default="")
    action: Mapped[str] = mapped_column(String(48), index=True)
    target: Mapped[str] = mapped_column(String(128), default="")
    detail: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    ip: Mapped[str] = mapped_column(String(64), default="")
    created_at: Mapped[datetime] = mapped_column(
        DateTime(timezone=True), default=utcnow, index=True
    )


class IntentCorrection(Base):
    """A misunderstood message reviewed by staff: the right intent (trained on), out of
    scope (trained on as `out_of_scope`), or missing content (a note for the writers)."""

    __tablename__ = "intent_corrections"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    message_id: Mapped[int | None] = mapped_column(
        ForeignKey("messages.id", ondelete="SET NULL"), default=None, index=True
    )
    text: Mapped[str] = mapped_column(Text)  # the training sentence (kept after the message)
    kind: Mapped[str] = mapped_column(String(16))  # intent | out_of_scope | missing_content
    intent: Mapped[str | None] = mapped_column(String(48), default=None)
    note: Mapped[str] = mapped_column(Text, default="")
    staff_email: Mapped[str] = mapped_column(String(254), default="")
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)


class AnswerLabel(Base):
    """The right answer to a merchant's question, for the ranker: picked by the merchant
    among "Vouliez-vous dire…" candidates, or set by staff in the inbox. Erased with the
    message (and so with the merchant, and by the retention purge)."""

    __tablename__ = "answer_labels"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    message_id: Mapped[int] = mapped_column(
        ForeignKey("messages.id", ondelete="CASCADE"), index=True
    )
    text: Mapped[str] = mapped_column(Text)  # the question, as understood (first 1,000 chars)
    doc_kind: Mapped[str] = mapped_column(String(16))  # guide | faq | tool | checklist
    doc_id: Mapped[str] = mapped_column(String(128))
    source: Mapped[str] = mapped_column(String(16))  # clarify | staff
    staff_email: Mapped[str] = mapped_column(String(254), default="")
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)


class TrainingRun(Base):
    """A retraining started from the back office; its progress is polled by the page."""

    __tablename__ = "training_runs"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    status: Mapped[str] = mapped_column(String(16), default="running")  # running|done|failed
    stage: Mapped[str] = mapped_column(String(128), default="")
    progress: Mapped[float] = mapped_column(Float, default=0.0)
    current_accuracy: Mapped[float | None] = mapped_column(Float, default=None)
    new_accuracy: Mapped[float | None] = mapped_column(Float, default=None)
    switched: Mapped[bool] = mapped_column(Boolean, default=False)
    message: Mapped[str] = mapped_column(Text, default="")
    staff_email: Mapped[str] = mapped_column(String(254), default="")
    started_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
    finished_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True), default=None)


class ContentRevision(Base):
    """One saved version of a knowledge-base item. The content folder is what the bot
    serves; the database keeps the history (who, when, what) and drafts not yet published.
    `base_fingerprint` is the hash of the file text the editor started from: if the file
    changed since (a git deploy), publishing is refused instead of overwriting it."""

    __tablename__ = "content_revisions"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    kind: Mapped[str] = mapped_column(String(16))  # guide | tool | checklist
    item_id: Mapped[str] = mapped_column(String(128), index=True)
    source: Mapped[str] = mapped_column(Text)
    base_fingerprint: Mapped[str] = mapped_column(String(64), default="")
    status: Mapped[str] = mapped_column(String(16), default="draft")  # draft|published|imported
    comment: Mapped[str] = mapped_column(String(256), default="")
    staff_email: Mapped[str] = mapped_column(String(254), default="")
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
    published_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True), default=None)


class ScheduledJob(Base):
    """When a periodic job (the retention purge) last ran, whichever worker ran it: the row
    is claimed with `FOR UPDATE SKIP LOCKED`, so N workers run it once per period."""

    __tablename__ = "scheduled_jobs"

    name: Mapped[str] = mapped_column(String(64), primary_key=True)
    last_run_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True), default=None)


class ContentFile(Base):
    """A content file as published from the back office, when workers share PostgreSQL:
    every worker serves the shipped content folder with these files laid over it (a deleted
    file has `deleted`). `base_sha` is the shipped file's hash the edit started from."""

    __tablename__ = "content_files"

    path: Mapped[str] = mapped_column(String(255), primary_key=True)  # relative, with "/"
    text: Mapped[str] = mapped_column(Text, default="")
    deleted: Mapped[bool] = mapped_column(Boolean, default=False)
    base_sha: Mapped[str] = mapped_column(String(64), default="")
    updated_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)


class ModelArtifact(Base):
    """A model put in service from the back office (the intent model, the ranker), so that
    every worker loads the same one without a shared folder."""

    __tablename__ = "model_artifacts"

    name: Mapped[str] = mapped_column(String(32), primary_key=True)  # nlu | ranker
    sha: Mapped[str] = mapped_column(String(64))
    data: Mapped[bytes] = mapped_column(LargeBinary)  # a tar.gz of the model's files
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)


class AppSetting(Base):
    """Settings an administrator changes in the back office (they win over COMPTOIR_*)."""

    __tablename__ = "app_settings"

    key: Mapped[str] = mapped_column(String(64), primary_key=True)
    value: Mapped[str] = mapped_column(Text)
    updated_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)


class SendBudget(Base):
    """The bot's send budget (`bot.send_budget`), one row per channel shared by every
    worker: `next_at` is when the bot's next message may go (Unix time); campaign senders
    take slots from it, workers push it on by the answers they sent."""

    __tablename__ = "send_budget"

    channel: Mapped[str] = mapped_column(String(16), primary_key=True)
    next_at: Mapped[float] = mapped_column(Float)
