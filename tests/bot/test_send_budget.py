"""The bot-wide send budget: workers taking slots together never pass the rate in a second,
answers count into it, and the pacer turns slots into evenly spaced send times."""

from __future__ import annotations

import threading
from collections import defaultdict

import pytest
from sqlalchemy import func, select

from bot import send_budget
from bot.assistant import Assistant
from bot.channels.telegram import TelegramChannel
from bot.send_budget import Grant, Pacer
from bot.store.models import SendWindow

RATE = 25


def take(services, second: int, want: int, rate: int = RATE) -> Grant:  # type: ignore[no-untyped-def]
    with services.db.writing() as session:
        return send_budget.take(session, "telegram", second, want, rate)


def used(services, second: int) -> int:  # type: ignore[no-untyped-def]
    with services.db.session() as session:
        return session.scalar(
            select(SendWindow.used).where(
                SendWindow.channel == "telegram", SendWindow.second == second
            )
        )


def test_claimers_together_never_pass_the_rate_in_a_second(services) -> None:  # type: ignore[no-untyped-def]
    """Four workers (threads, each with its own connection) ask for slots of the same two
    seconds at once until refused: each second gives exactly RATE slots, none twice."""
    seconds = (1_000, 1_001)
    start = threading.Barrier(4)
    grants: list[Grant] = []
    lock = threading.Lock()

    def claimer(want: int) -> None:
        start.wait()
        for second in seconds:
            while (grant := take(services, second, want)).count:
                with lock:
                    grants.append(grant)

    threads = [threading.Thread(target=claimer, args=(want,)) for want in (1, 3, 5, 7)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()

    slots: dict[int, list[int]] = defaultdict(list)
    for grant in grants:
        slots[grant.second].extend(range(grant.first, grant.first + grant.count))
    for second in seconds:
        assert sorted(slots[second]) == list(range(RATE))  # every slot once, none past RATE
        assert used(services, second) == RATE
    assert take(services, seconds[0], 1) == Grant(seconds[0], RATE, 0)


def test_a_nearly_full_second_grants_what_is_left(services) -> None:  # type: ignore[no-untyped-def]
    assert take(services, 50, 20) == Grant(50, 0, 20)
    assert take(services, 50, 20) == Grant(50, 20, 5)
    assert take(services, 50, 20).count == 0
    assert take(services, 51, 40) == Grant(51, 0, RATE)  # never more than the rate at once


def test_answers_count_into_the_second_and_are_never_capped(services) -> None:  # type: ignore[no-untyped-def]
    with services.db.writing() as session:
        send_budget.add(session, "telegram", 70, 7)  # a new second
    assert take(services, 70, 5) == Grant(70, 7, 5)  # the campaign's slots come after them
    with services.db.writing() as session:
        send_budget.add(session, "telegram", 70, 20)  # answers past the rate: all counted
        send_budget.add(session, "telegram", 70, 0)
    assert used(services, 70) == 32
    assert take(services, 70, 1).count == 0  # the campaign waits for the next second
    assert take(services, 70, 1, rate=RATE).count == 0
    with services.db.writing() as session:
        send_budget.add(session, "other", 70, 3)  # another channel's budget is its own
    assert used(services, 70) == 32


def test_old_seconds_are_purged(services) -> None:  # type: ignore[no-untyped-def]
    for second in (10, 100, 139, 140, 200):
        take(services, second, 1)
    with services.db.writing() as session:
        send_budget.purge(session, now_second=200, keep=60)
    with services.db.session() as session:
        left = session.scalars(select(SendWindow.second).order_by(SendWindow.second)).all()
    assert left == [140, 200]


async def test_the_worker_adds_its_answers_once_per_tick(services) -> None:  # type: ignore[no-untyped-def]
    """What `_deliver` counted goes to the budget in one statement per tick, then restarts."""
    channel = TelegramChannel(Assistant(services))
    channel.sent_outside_budget = 4
    await channel._budget_job(None)  # type: ignore[arg-type]
    assert channel.sent_outside_budget == 0
    await channel._budget_job(None)  # type: ignore[arg-type]  # nothing sent: no write
    with services.db.session() as session:
        total = session.scalar(select(func.sum(SendWindow.used)))
        rows = session.scalar(select(func.count()).select_from(SendWindow))
    assert (total, rows) == (4, 1)


# -- the pacer: times passed in, no clock -------------------------------------------------


def test_slots_are_sent_at_their_place_in_the_second() -> None:
    pacer = Pacer(rate=25, chunk=5)
    assert pacer.wait(100.0) is None  # nothing held: ask
    pacer.hold(Grant(100, 10, 2))  # slots 10 and 11: 100.40 and 100.44
    assert pacer.wait(100.0) == pytest.approx(0.40)
    pacer.spend()
    assert pacer.wait(100.41) == pytest.approx(0.03)
    pacer.spend()
    assert pacer.wait(100.45) is None  # both used: ask again


def test_a_late_slot_goes_at_once_within_its_second_and_never_after_it() -> None:
    pacer = Pacer(rate=10)
    pacer.hold(Grant(7, 0, 3))
    assert pacer.wait(7.5) == 0.0  # behind (a slow send): the slot is still this second's
    pacer.spend()
    assert pacer.wait(8.01) is None  # the second is over: its last slot is dropped


def test_two_workers_slots_interleave_evenly() -> None:
    """Whichever worker holds them, the bot's slots of one second are 1/rate apart."""
    a, b = Pacer(rate=4, chunk=2), Pacer(rate=4, chunk=2)
    a.hold(Grant(5, 0, 2))
    b.hold(Grant(5, 2, 2))
    times = []
    for pacer in (a, b):
        for _ in range(2):
            times.append(5.0 + pacer.wait(5.0))  # type: ignore[operator]
            pacer.spend()
    assert times == pytest.approx([5.0, 5.25, 5.5, 5.75])


def test_what_to_ask_and_when_to_ask_again() -> None:
    pacer = Pacer(rate=25, chunk=5)
    assert (pacer.want(40), pacer.want(3), pacer.want(0)) == (5, 3, 0)
    pacer.hold(Grant(12, 25, 0))  # refused: the second is full
    assert pacer.wait(12.3) is None
    assert Pacer.retry_in(12.3) == pytest.approx(0.7)
