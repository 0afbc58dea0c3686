"""The bot-wide send budget: workers taking slots together never pass the rate, answers
count into it, and the pacer sends each slot at its time (times are passed in: no clock)."""

from __future__ import annotations

import dataclasses
import threading
import time

import pytest
from sqlalchemy import select

from bot import send_budget
from bot.assistant import Assistant
from bot.channels.telegram import TelegramChannel
from bot.messages import Reply
from bot.send_budget import Grant, Pacer
from bot.store.models import SendBudget

RATE = 25
NOW = 1_800_000_000.0  # a Unix time: the budget's clock is the wall clock


def take(services, now: float, want: int, rate: int = RATE) -> Grant:  # type: ignore[no-untyped-def]
    with services.db.writing() as session:
        return send_budget.take(session, "telegram", now, want, rate)


def add(services, now: float, count: int, channel: str = "telegram") -> None:  # type: ignore[no-untyped-def]
    with services.db.writing() as session:
        send_budget.add(session, channel, now, count, RATE)


def next_at(services) -> float | None:  # type: ignore[no-untyped-def]
    with services.db.session() as session:
        return session.scalar(select(SendBudget.next_at).where(SendBudget.channel == "telegram"))


def slot_times(grants: list[Grant]) -> list[float]:
    return sorted(g.start + i * g.interval for g in grants for i in range(g.count))


def test_claimers_together_never_pass_the_rate(services) -> None:  # type: ignore[no-untyped-def]
    """Four workers (threads, each its own connection) take slots at the same moment until
    refused: the slots never overlap, one every 1/RATE seconds, so no second holds more
    than RATE of them; refused once the budget is a second ahead."""
    start = threading.Barrier(4)
    grants: list[Grant] = []
    lock = threading.Lock()

    def claimer(want: int) -> None:
        start.wait()
        while (grant := take(services, NOW, want)).count:
            with lock:
                grants.append(grant)

    threads = [threading.Thread(target=claimer, args=(want,)) for want in (1, 3, 5, 7)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()

    times = slot_times(grants)
    assert times == pytest.approx([NOW + i / RATE for i in range(len(times))])  # no overlap
    assert RATE < len(times) <= RATE + 7 + 1  # a second ahead, plus the last grant
    # (a microsecond short of a second: the sums of floats are not exact)
    assert max(sum(1 for t in times if s <= t < s + 1 - 1e-6) for s in times) == RATE
    assert next_at(services) == pytest.approx(times[-1] + 1 / RATE)


def test_slots_start_now_when_the_budget_was_idle(services) -> None:  # type: ignore[no-untyped-def]
    first = take(services, NOW, 5)
    assert first.start == pytest.approx(NOW) and first.count == 5
    # Ten seconds later, nothing was sent meanwhile: unused time is not saved up.
    later = take(services, NOW + 10, 2)
    assert later.start == pytest.approx(NOW + 10) and later.count == 2


def test_answers_push_the_campaign_back_and_are_never_held(services) -> None:  # type: ignore[no-untyped-def]
    add(services, NOW, 10)  # ten answers: 0.4 s of the budget
    grant = take(services, NOW, 5)
    assert grant.start == pytest.approx(NOW + 10 / RATE)  # the campaign comes after them
    add(services, NOW, 20)  # answers past the rate: counted, up to BACKLOG ahead
    assert next_at(services) == pytest.approx(NOW + 35 / RATE)
    add(services, NOW, 100)
    assert next_at(services) == pytest.approx(NOW + send_budget.BACKLOG)
    assert take(services, NOW, 1).count == 0  # the campaign waits while answers fill it
    assert take(services, NOW + send_budget.BACKLOG - send_budget.AHEAD, 1).count == 1
    add(services, NOW, 3, channel="other")  # another channel has its own budget
    assert next_at(services) == pytest.approx(NOW + send_budget.BACKLOG + 1 / RATE)


async def test_the_worker_adds_its_answers_once_per_tick(services) -> None:  # type: ignore[no-untyped-def]
    """What `_deliver` counted goes to the budget in one statement per tick, then restarts."""
    channel = TelegramChannel(Assistant(services))
    await channel._budget_job(None)  # type: ignore[arg-type]  # nothing sent: no write
    assert next_at(services) is None
    channel.sent_outside_budget = 5
    before = time.time()
    await channel._budget_job(None)  # type: ignore[arg-type]
    assert channel.sent_outside_budget == 0
    assert next_at(services) >= before + 5 / services.settings.campaign_rate


async def test_every_message_sent_outside_the_budget_is_counted(api, services) -> None:  # type: ignore[no-untyped-def]
    """Replies count where they are sent, in memory (no database work per answer): one per
    Telegram message, a long reply split in two counting two."""
    settings = services.settings.with_overrides(
        telegram_token=api.token,
        telegram_base_url=api.base_url,
        telegram_base_file_url=api.base_file_url,
    )
    channel = TelegramChannel(Assistant(dataclasses.replace(services, settings=settings)))
    application = channel.build()
    async with application:  # initialised, not started: no job resets the count
        sent = await channel._deliver(application, 4242, [Reply("Bonjour"), Reply("mot " * 1500)])
    assert sent == 2
    assert len(api.messages_to(4242)) == 3
    assert channel.sent_outside_budget == 3
    assert next_at(services) is None  # nothing written yet: the tick does it


# -- the pacer --------------------------------------------------------------------------


def test_slots_are_sent_at_their_time() -> None:
    pacer = Pacer(chunk=5)
    assert pacer.wait(100.0) is None  # nothing held: take some
    pacer.hold(Grant(100.4, 2, 0.04))
    assert pacer.wait(100.0) == pytest.approx(0.40)
    pacer.spend()
    assert pacer.wait(100.41) == pytest.approx(0.03)
    pacer.spend()
    assert pacer.wait(100.45) is None  # both used: take more


def test_a_late_slot_is_sent_at_once_but_a_passed_one_is_dropped() -> None:
    pacer = Pacer()
    pacer.hold(Grant(7.0, 3, 0.1))
    assert pacer.wait(7.05) == 0.0  # half an interval late: sent now
    pacer.spend()
    # A slow send: slot 1 (7.1) is past by more than an interval, slot 2 (7.2) is not.
    assert pacer.wait(7.25) == 0.0
    pacer.spend()
    assert pacer.wait(7.25) is None  # slot 2 was the one used: none left
    pacer.hold(Grant(9.0, 3, 0.1))
    assert pacer.wait(12.0) is None  # all passed: none sent late in a bunch


def test_two_workers_slots_interleave_evenly() -> None:
    """Whichever worker holds them, the bot's slots are 1/rate apart."""
    a, b = Pacer(chunk=2), Pacer(chunk=2)
    a.hold(Grant(5.0, 2, 0.25))
    b.hold(Grant(5.5, 2, 0.25))
    times = []
    for pacer in (a, b):
        for _ in range(2):
            times.append(5.0 + pacer.wait(5.0))  # type: ignore[operator]
            pacer.spend()
    assert times == pytest.approx([5.0, 5.25, 5.5, 5.75])


def test_what_to_ask_for() -> None:
    pacer = Pacer(chunk=5)
    assert (pacer.want(40), pacer.want(3), pacer.want(0)) == (5, 3, 0)
    pacer.hold(Grant(12.3, 0, 0.04))  # refused
    assert pacer.wait(12.3) is None
