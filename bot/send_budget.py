"""The bot-wide send budget: COMPTOIR_CAMPAIGN_RATE messages a second, shared by every worker.

Telegram limits a bot (about 30 messages a second), not a process: N workers pacing
themselves alone would send N times the rate. So the bot has one row in `send_budget`
(`SendBudget`) per channel, `next_at`: when its next message may go (a virtual clock, as in
a cell-rate algorithm: one message takes 1/rate seconds of it).

- A campaign sender takes a few slots at a time with one atomic upsert (`take`): from
  `next_at` or now, whichever is later, one every 1/rate seconds. Whichever workers ask,
  the slots never overlap, so the bot's campaign messages are evenly spaced at the rate;
  a slot whose time passed unused is lost, never sent late in a bunch.
- Answers to merchants never wait for the budget, but each worker pushes `next_at` on by
  the answers it sent, once a second (`add`): they take the time a campaign would have
  used, so a campaign slows down while merchants are busy (and stops while answers alone
  pass the rate: `next_at` is then more than AHEAD ahead).

PostgreSQL serialises the upserts of all workers on the row; SQLite serves one process.
`Pacer` is the worker's side, pure (the caller passes the time, Unix seconds: the same
clock on every worker): which slot it holds, and when to send it.
"""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import text
from sqlalchemy.orm import Session

CHUNK = 5  # slots taken at a time: few round trips, little left unused at a batch's end
AHEAD = 1.0  # seconds: a grant starts at most this far ahead of now
BACKLOG = 2.0  # seconds: answers push `next_at` at most this far ahead of now
RETRY = 0.25  # seconds before asking again after a refusal

_LATER = "CASE WHEN send_budget.next_at > :now THEN send_budget.next_at ELSE :now END"
# One statement for PostgreSQL and SQLite (3.35+); a refusal returns no row.
_TAKE = text(
    f"""
    INSERT INTO send_budget (channel, next_at) VALUES (:channel, :now + :span)
    ON CONFLICT (channel) DO UPDATE SET next_at = {_LATER} + :span
    WHERE send_budget.next_at <= :now + :ahead
    RETURNING next_at
    """
)
_ADD = text(
    f"""
    INSERT INTO send_budget (channel, next_at) VALUES (:channel, :now + :span)
    ON CONFLICT (channel) DO UPDATE SET next_at = CASE
        WHEN {_LATER} + :span > :now + :backlog THEN :now + :backlog
        ELSE {_LATER} + :span END
    """
)


@dataclass(frozen=True)
class Grant:
    """`count` slots for the worker that asked: slot i is at `start + i * interval`."""

    start: float
    count: int
    interval: float


def take(
    session: Session, channel: str, now: float, want: int, rate: int, ahead: float = AHEAD
) -> Grant:
    """`want` slots from the bot's budget, or none (count 0) while it is more than `ahead`
    seconds ahead of `now`."""
    interval = 1.0 / rate
    if want <= 0:
        return Grant(now, 0, interval)
    span = want * interval
    params = {"channel": channel, "now": now, "span": span, "ahead": ahead}
    row = session.execute(_TAKE, params).first()
    if row is None:
        return Grant(now, 0, interval)
    return Grant(float(row[0]) - span, want, interval)


def add(
    session: Session, channel: str, now: float, count: int, rate: int, backlog: float = BACKLOG
) -> None:
    """Count `count` messages sent outside the budget (answers, never held): they push the
    budget on by count/rate seconds, up to `backlog` ahead of `now`."""
    if count > 0 and rate > 0:
        params = {"channel": channel, "now": now, "span": count / rate, "backlog": backlog}
        session.execute(_ADD, params)


class Pacer:
    """One worker's campaign slots and when to send them."""

    def __init__(self, chunk: int = CHUNK) -> None:
        self.chunk = chunk
        self._grant = Grant(0.0, 0, 1.0)
        self._used = 0  # slots of `_grant` already sent or dropped

    def want(self, remaining: int) -> int:
        """How many slots to ask for, with `remaining` messages left to send in the batch."""
        return max(0, min(self.chunk, remaining))

    def wait(self, now: float) -> float | None:
        """Seconds until the next held slot's time (0: send now); None: no slot held, take
        more. A slot more than one interval late is dropped: sent now, it would bunch up
        with the next ones (the budget is a rate, not a count to catch up on)."""
        grant = self._grant
        while self._used < grant.count:
            at = grant.start + self._used * grant.interval
            if at >= now - grant.interval:
                return max(0.0, at - now)
            self._used += 1
        return None

    def hold(self, grant: Grant) -> None:
        self._grant, self._used = grant, 0

    def spend(self) -> None:
        """The slot `wait` pointed to is being used."""
        self._used += 1
