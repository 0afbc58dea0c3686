"""The bot-wide send budget: COMPTOIR_CAMPAIGN_RATE messages a second, shared by every worker.

Telegram limits a bot (about 30 messages a second), not a process: N workers pacing
themselves alone would send N times the rate. So each second of Unix time has one row in
`send_budget` (`SendWindow`), and its slots are numbered:

- a campaign sender takes a few slots at a time with one atomic upsert (`take`): never more
  than the rate in a second, whichever workers ask; slot `s` of second `w` is sent at
  `w + s / rate`, so the bot's campaign messages are evenly spaced whoever sends them;
- answers to merchants never wait for the budget, but each worker adds the answers it sent
  to the current second once a second (`add`): they use the slots a campaign would have
  taken, so a campaign slows down while merchants are busy.

PostgreSQL serialises the upserts of all workers on the row; SQLite serves one process.
`Pacer` is the worker's side, pure (the caller passes the time): which slot it holds, when
to send it, when to ask again.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from sqlalchemy import delete, text
from sqlalchemy.orm import Session

from .store.models import SendWindow

CHUNK = 5  # slots asked at a time: few round trips, little left unused at a batch's end
KEEP_SECONDS = 60  # past seconds kept (`purge`)

# One statement for PostgreSQL and SQLite (3.35+): the SET expressions read the row as it
# was, so `granted` and `used` agree; a full second returns no row.
_TAKE = text(
    """
    INSERT INTO send_budget (channel, second, used, granted)
    VALUES (:channel, :second, :first_grant, :first_grant)
    ON CONFLICT (channel, second) DO UPDATE SET
        granted = CASE WHEN send_budget.used + :want <= :rate THEN :want
                       ELSE :rate - send_budget.used END,
        used = CASE WHEN send_budget.used + :want <= :rate THEN send_budget.used + :want
                    ELSE :rate END
    WHERE send_budget.used < :rate
    RETURNING used, granted
    """
)
_ADD = text(
    """
    INSERT INTO send_budget (channel, second, used, granted)
    VALUES (:channel, :second, :count, 0)
    ON CONFLICT (channel, second) DO UPDATE SET used = send_budget.used + :count
    """
)


@dataclass(frozen=True)
class Grant:
    """Slots `first` .. `first + count - 1` of `second` belong to the worker that asked."""

    second: int
    first: int
    count: int


def take(session: Session, channel: str, second: int, want: int, rate: int) -> Grant:
    """Up to `want` slots of `second`, fewer (or none) when the second is nearly full."""
    if want <= 0 or rate <= 0:
        return Grant(second, 0, 0)
    row = session.execute(
        _TAKE,
        {
            "channel": channel,
            "second": second,
            "want": want,
            "rate": rate,
            "first_grant": min(want, rate),
        },
    ).first()
    if row is None:
        return Grant(second, rate, 0)
    used, granted = int(row[0]), int(row[1])
    return Grant(second, used - granted, granted)


def add(session: Session, channel: str, second: int, count: int) -> None:
    """Count `count` messages sent outside the budget (answers) into `second`: they may go
    past the rate (answers are never held), a campaign then gets no slot in that second."""
    if count > 0:
        session.execute(_ADD, {"channel": channel, "second": second, "count": count})


def purge(session: Session, now_second: int, keep: int = KEEP_SECONDS) -> None:
    """Forget the seconds older than `keep`: the table stays a minute long."""
    session.execute(delete(SendWindow).where(SendWindow.second < now_second - keep))


class Pacer:
    """One worker's campaign slots and when to send them (times are Unix seconds, passed in:
    the same clock on every worker; a test passes its own)."""

    def __init__(self, rate: int, chunk: int = CHUNK) -> None:
        self.rate = rate
        self.chunk = chunk
        self._grant = Grant(-1, 0, 0)
        self._used = 0  # slots of `_grant` already sent

    def want(self, remaining: int) -> int:
        """How many slots to ask for, with `remaining` messages left to send in the batch."""
        return max(0, min(self.chunk, remaining))

    def wait(self, now: float) -> float | None:
        """Seconds until the next held slot's time (0: send now); None: no slot held for
        this second, ask the budget (`take`, then `hold`). A slot of a past second is
        dropped, not sent late: that second's messages are all gone by now."""
        grant = self._grant
        if grant.second != math.floor(now) or self._used >= grant.count:
            return None
        return max(0.0, grant.second + (grant.first + self._used) / self.rate - now)

    def hold(self, grant: Grant) -> None:
        self._grant, self._used = grant, 0

    def spend(self) -> None:
        """The slot `wait` pointed to is being used."""
        self._used += 1

    @staticmethod
    def retry_in(now: float) -> float:
        """After a refusal (the second is full): seconds until the next second starts."""
        return math.floor(now) + 1 - now
