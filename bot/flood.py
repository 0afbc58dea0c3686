"""Flood control: a chat that sends more than COMPTOIR_FLOOD_MAX_MESSAGES messages within
COMPTOIR_FLOOD_WINDOW_SECONDS gets one polite notice; the surplus is stored, not answered.

The state lives in the database, not in memory, because several workers may serve one bot:
the count is the chat's own incoming messages in the window (surplus included, so a chat
that keeps flooding stays held), read through one index range of at most the limit's
length. It is read before the message is understood, so a flooding chat costs a read and
an insert per message, not an encoding.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import Connection, bindparam, func, select
from sqlalchemy.orm import Session

from .config import Settings
from .messages import Incoming
from .store import rows
from .store.driver import DriverStatements
from .store.models import Merchant, Message

# What a flood never holds back, once per window each: erasure (data protection first: the
# /oublier prompt and its "yes"), and a first call for an adviser (a merchant who floods is
# often one who is stuck). Anything else, forged button presses included, waits.
PRIORITY_COMMANDS = frozenset({"oublier", "humain"})
PRIORITY_BUTTONS = frozenset({"fg:yes"})


# Read before every turn, so built once: the chat's incoming messages since a time, counted
# up to a limit (the index range stops there).
_RECENT = (
    select(Message.id)
    .join(Merchant, Merchant.id == Message.merchant_id)
    .where(
        Merchant.channel == bindparam("channel"),
        Merchant.external_id == bindparam("external_id"),
        Message.direction == "in",
        Message.created_at > bindparam("since"),
    )
    .limit(bindparam("limit"))
    .subquery()
)
RECENT_COUNT = select(func.count()).select_from(_RECENT)
# The chat's merchant and that count in one statement: a turn's first read.
MERCHANT_AND_RECENT = select(Merchant, RECENT_COUNT.scalar_subquery()).where(
    Merchant.channel == bindparam("channel"), Merchant.external_id == bindparam("external_id")
)

# The same for a quick press, as a plain row (`bot.store.rows.MerchantRow`).
MERCHANT_ROW_AND_RECENT = select(*rows.MERCHANT_COLUMNS, RECENT_COUNT.scalar_subquery()).where(
    Merchant.channel == bindparam("channel"), Merchant.external_id == bindparam("external_id")
)


@dataclass(frozen=True)
class FloodLimit:
    max_messages: int
    window: timedelta

    @classmethod
    def from_settings(cls, settings: Settings) -> FloodLimit | None:
        """None when flood control is off (either setting at 0)."""
        if settings.flood_max_messages <= 0 or settings.flood_window_seconds <= 0:
            return None
        return cls(settings.flood_max_messages, timedelta(seconds=settings.flood_window_seconds))

    def over(
        self, session: Session | Connection, channel: str, user_id: str, now: datetime
    ) -> bool:
        """Whether the chat already sent the limit's worth of messages within the window.

        Counting stops at the limit, so a chat that sent thousands costs the same read."""
        count = session.scalar(RECENT_COUNT, self._values(channel, user_id, now)) or 0
        return count >= self.max_messages

    def merchant_and_over(
        self, session: Session, channel: str, user_id: str, now: datetime
    ) -> tuple[Merchant | None, bool]:
        """The chat's merchant (None: not known yet, so not over) and `over`, in one read."""
        values = self._values(channel, user_id, now)
        row = session.execute(MERCHANT_AND_RECENT, values).first()
        if row is None:
            return None, False
        merchant, count = row
        return merchant, (count or 0) >= self.max_messages

    def merchant_row_and_over(
        self,
        connection: Connection,
        driver: DriverStatements,
        channel: str,
        user_id: str,
        now: datetime,
    ) -> tuple[rows.MerchantRow | None, bool]:
        """`merchant_and_over`, the merchant as a plain row (a quick press: no session)."""
        values = self._values(channel, user_id, now)
        found = driver.execute(connection, MERCHANT_ROW_AND_RECENT, values)
        if not found:
            return None, False
        return rows.MerchantRow.of(found[0]), (found[0][-1] or 0) >= self.max_messages

    def _values(self, channel: str, user_id: str, now: datetime) -> dict[str, object]:
        return {
            "channel": channel,
            "external_id": user_id,
            "since": now - self.window,
            "limit": self.max_messages,
        }

    def let_through(
        self, session: Session, merchant_id: int, incoming: Incoming, now: datetime
    ) -> bool:
        """A priority request is answered despite the flood, unless the same request was
        already let through in the window (a forged flood of them is still a flood)."""
        key = priority_key(incoming)
        if key is None:
            return False
        earlier = session.scalar(
            select(Message.id)
            .where(
                Message.merchant_id == merchant_id,
                Message.direction == "in",
                Message.flooded.is_(True),
                Message.kind == incoming.kind,
                Message.created_at > now - self.window,
                (Message.text == key) | Message.text.startswith(f"{key} ", autoescape=True),
            )
            .limit(1)
        )
        return earlier is None


def priority_key(incoming: Incoming) -> str | None:
    """How a priority request is stored (see Assistant._stored_text), None for the rest."""
    if incoming.kind == "command" and incoming.text in PRIORITY_COMMANDS:
        return f"/{incoming.text}"
    if incoming.kind == "button" and incoming.text in PRIORITY_BUTTONS:
        return incoming.text
    return None


def notice_due(session: Session, merchant_id: int) -> bool:
    """The notice goes once per burst: with the first message over the limit, that is when
    the chat's previous incoming message was still within it."""
    previous = session.scalar(
        select(Message.flooded)
        .where(Message.merchant_id == merchant_id, Message.direction == "in")
        .order_by(Message.created_at.desc(), Message.id.desc())
        .limit(1)
    )
    return not previous
