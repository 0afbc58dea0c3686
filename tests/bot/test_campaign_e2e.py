"""A campaign sent by the real python-telegram-bot stack to a Bot API server on loopback:
segment and consent respected, 429 and 5xx injected, chats that blocked the bot, and a
restart mid-campaign (a second application on the same database finishes the work); a
nudge rule fired by the workers' job, with a tracked content button."""

from __future__ import annotations

import asyncio
import dataclasses
import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from datetime import timedelta

from sqlalchemy import select

from bot import campaigns, nudges
from bot.assistant import Assistant
from bot.campaigns import Segment
from bot.channels.telegram import TelegramChannel
from bot.store.models import (
    CampaignDelivery,
    ChecklistRun,
    Merchant,
    Message,
    SendBudget,
    utcnow,
)
from tests.support.fake_bot_api import FakeBotAPI

FIRST_CHAT = 7_000_000
TEXT = "<b>Atelier facture électronique</b> jeudi 14 h à la CCI"
TRADES = ("resto", "alim", "boutique")


@asynccontextmanager
async def bot(api: FakeBotAPI, services, client: str) -> AsyncIterator[TelegramChannel]:  # type: ignore[no-untyped-def]
    """One worker: a PTB application polling the fake API, its calls tagged `client`."""
    settings = services.settings.with_overrides(
        telegram_token=api.token,
        telegram_base_url=api.base_url_for(client),
        telegram_base_file_url=api.base_file_url,
    )
    channel = TelegramChannel(Assistant(dataclasses.replace(services, settings=settings)))
    application = channel.build()
    async with application:
        await channel.on_start(application)
        await application.start()
        await application.updater.start_polling(poll_interval=0.0, timeout=1)
        yield channel
        await application.updater.stop()
        await application.stop()  # waits for the campaign batch in progress


def campaign_messages(api: FakeBotAPI, via: str | None = None) -> list:  # type: ignore[type-arg]
    with api._lock:
        return [
            s
            for s in api.sent
            if s.method == "sendMessage" and TEXT in s.text and (via is None or s.via == via)
        ]


def campaign_state(services, campaign_id: int) -> str:  # type: ignore[no-untyped-def]
    with services.db.session() as session:
        return campaigns.status(session, campaign_id)["status"]  # type: ignore[index]


async def until_done(services, campaign_id: int, timeout: float = 90.0) -> None:  # type: ignore[no-untyped-def]
    deadline = time.monotonic() + timeout
    while await asyncio.to_thread(campaign_state, services, campaign_id) != "done":
        assert time.monotonic() < deadline, "the campaign was not sent in time"
        await asyncio.sleep(0.1)


async def until_sent(services, campaign_id: int, timeout: float = 30.0) -> None:  # type: ignore[no-untyped-def]
    def sent() -> int:
        with services.db.session() as session:
            return campaigns.status(session, campaign_id)["sent"]  # type: ignore[index]

    deadline = time.monotonic() + timeout
    while not await asyncio.to_thread(sent):
        assert time.monotonic() < deadline, "the send was not recorded in time"
        await asyncio.sleep(0.05)


async def test_a_campaign_reaches_each_targeted_merchant_once(api: FakeBotAPI, services) -> None:  # type: ignore[no-untyped-def]
    chats = [FIRST_CHAT + i for i in range(200)]
    consenting = {c for i, c in enumerate(chats) if i % 5 < 3}  # 120 of 200
    trade = {c: TRADES[i % 3] for i, c in enumerate(chats)}
    with services.db.session() as session:
        for chat in chats:
            session.add(
                Merchant(
                    channel="telegram",
                    external_id=str(chat),
                    trade=trade[chat],
                    news_consent=chat in consenting,
                    flow_state={},
                )
            )
    targeted = sorted(c for c in consenting if trade[c] in ("resto", "alim"))
    blocked = set(targeted[::10])
    api.block(*blocked)
    with services.db.session() as session:
        campaign = campaigns.create(
            session, TEXT, Segment(sectors=("resto", "alim")), "test", approved_by="test"
        )
        assert campaign.targeted == len(targeted)  # the count shown before sending
        campaign_id = campaign.id
    # Four 429s in a row: the rate limiter retries three times, then the campaign sender
    # waits retry_after itself; then two server errors (that message is retried later).
    api.inject("sendMessage", *[{"status": 429, "retry_after": 1}] * 4)
    api.inject("sendMessage", {"status": 502}, {"status": 500})

    async with bot(api, services, "a"):
        # Stopped mid-campaign, once a third of it went out.
        await asyncio.to_thread(
            api.wait_for, lambda: len(campaign_messages(api)) >= len(targeted) // 3, 60
        )
    first = len(campaign_messages(api, "a"))
    assert first < len(targeted) - len(blocked)
    async with bot(api, services, "b"):
        await until_done(services, campaign_id)
        received = campaign_messages(api)[0]
        api.press(received, "Ne plus recevoir")
        await asyncio.to_thread(api.wait_messages, received.chat_id, 2, 30)

    assert campaign_messages(api, "b")  # the second worker finished the work
    sent_to = [s.chat_id for s in campaign_messages(api)]
    assert sorted(sent_to) == sorted(set(targeted) - blocked)  # each once, nobody else
    with services.db.session() as session:
        figures = campaigns.status(session, campaign_id)
        statuses = dict(
            session.execute(
                select(Merchant.external_id, CampaignDelivery.status).join(
                    Merchant, Merchant.id == CampaignDelivery.merchant_id
                )
            ).all()
        )
        unreachable = {
            int(m.external_id)
            for m in session.scalars(select(Merchant).where(Merchant.unreachable_at.isnot(None)))
        }
        stopped = session.scalar(
            select(Merchant).where(Merchant.external_id == str(received.chat_id))
        )
        stop_recorded = session.scalar(
            select(CampaignDelivery.stopped_at).where(CampaignDelivery.merchant_id == stopped.id)
        )
    assert figures is not None
    assert {k: figures[k] for k in ("targeted", "sent", "failed", "unreachable", "pending")} == {
        "targeted": len(targeted),
        "sent": len(targeted) - len(blocked),
        "failed": 0,
        "unreachable": len(blocked),
        "pending": 0,
    }
    assert unreachable == blocked
    assert {int(chat) for chat, status in statuses.items() if status == "unreachable"} == blocked
    assert sorted(int(chat) for chat in statuses) == targeted  # the frozen segment
    assert not api.faults["sendMessage"]  # every injected fault was met
    # The message: text, stop line, stop button; the press turned consent off.
    assert received.text.startswith(TEXT) and "/actus non" in received.text
    assert received.buttons[-1]["callback_data"] == f"nw:stop:{campaign_id}"
    assert stopped is not None and stopped.news_consent is False
    assert stop_recorded is not None  # on that merchant's delivery
    assert "ne recevrez pas" in api.messages_to(received.chat_id)[1].text


async def test_a_rule_fires_and_its_tracked_button_opens_a_guide(api: FakeBotAPI, services) -> None:  # type: ignore[no-untyped-def]
    """A nudge end to end: the workers' rule job picks the merchants entering the rule, the
    sending job delivers it, a content button opens the guide and the press is recorded."""
    chats = [FIRST_CHAT + 1000 + i for i in range(3)]
    guide = "reconnaitre-hameconnage"
    text = "Votre checklist <b>facture électronique</b> attend sa prochaine étape"
    now = utcnow()
    with services.db.session() as session:
        # idle 12 days and consenting; idle but no consent; consenting, a step 3 days ago
        for chat, consent, idle_days in (
            (chats[0], True, 12),
            (chats[1], False, 12),
            (chats[2], True, 3),
        ):
            row = Merchant(
                channel="telegram", external_id=str(chat), news_consent=consent, flow_state={}
            )
            session.add(row)
            session.flush()
            session.add(
                ChecklistRun(
                    merchant_id=row.id,
                    checklist_id="facture-electronique",
                    updated_at=now - timedelta(days=idle_days),
                )
            )
        rule = nudges.create_rule(
            session,
            text,
            Segment(unfinished_checklist="facture-electronique", checklist_idle_days=10),
            "test",
            approved_by="test",
            buttons=[[{"label": "Lire le guide", "kind": "guide", "target": guide}]],
        )
        rule_id = rule.id

    async with bot(api, services, "a"):
        (nudge,) = await asyncio.to_thread(api.wait_messages, chats[0], 1, 30)
        # A merchant reads before pressing: the send is recorded (and the message added to
        # the transcript) once Telegram confirmed it, a few milliseconds after it arrived.
        await until_sent(services, rule_id)
        api.press(nudge, "Lire le guide")
        opened = (await asyncio.to_thread(api.wait_messages, chats[0], 2, 30))[1]

    assert nudge.text.startswith(text) and "/actus non" in nudge.text
    assert nudge.buttons[0]["callback_data"] == f"nw:go:{rule_id}:0:0"
    assert services.kb.guides[guide].title in opened.text
    assert api.messages_to(chats[1]) == [] and api.messages_to(chats[2]) == []
    with services.db.session() as session:
        delivery = session.scalars(select(CampaignDelivery)).one()
        assert (delivery.campaign_id, delivery.status) == (rule_id, "sent")
        assert delivery.pressed_at is not None
        transcript = session.scalars(
            select(Message).where(Message.merchant_id == delivery.merchant_id).order_by(Message.id)
        ).all()
    # the nudge, the press, the guide: what support staff see
    assert [(m.direction, m.kind) for m in transcript] == [
        ("out", "campaign"),
        ("in", "button"),
        ("out", "text"),
    ]


def budget_next_at(services) -> float:  # type: ignore[no-untyped-def]
    with services.db.session() as session:
        return session.scalar(select(SendBudget.next_at)) or 0.0


async def test_two_workers_share_one_rate_and_answers_count_into_it(
    api: FakeBotAPI,
    services,  # type: ignore[no-untyped-def]
) -> None:
    """Two workers send one campaign together: each merchant gets it once, at the bot-wide
    rate (not twice it), every message through the one budget, answers counted into it."""
    rate = services.settings.campaign_rate
    chats = [FIRST_CHAT + i for i in range(90)]
    with services.db.session() as session:
        for chat in chats:
            session.add(
                Merchant(
                    channel="telegram", external_id=str(chat), news_consent=True, flow_state={}
                )
            )
        campaign_id = campaigns.create(session, TEXT, Segment(), "test", approved_by="test").id
    asking = FIRST_CHAT + 1_000
    began = time.time()
    async with bot(api, services, "a"), bot(api, services, "b"):
        await asyncio.to_thread(api.wait_for, lambda: len(campaign_messages(api)) >= 10, 60)
        api.push_text(asking, "une alternative a gmail")
        answers = len(await asyncio.to_thread(api.wait_messages, asking, 1, 30))
        await until_done(services, campaign_id)
        sent = len(campaign_messages(api))
        # Every campaign slot takes 1/rate of the budget, and each worker adds the answers
        # it sent within a second: wait for that, not for a time.
        deadline = time.monotonic() + 30
        while await asyncio.to_thread(budget_next_at, services) < began + (sent + answers) / rate:
            assert time.monotonic() < deadline, "the budget did not count every message"
            await asyncio.sleep(0.1)

    messages = campaign_messages(api)
    assert sorted(s.chat_id for s in messages) == chats  # once each
    assert campaign_messages(api, "a") and campaign_messages(api, "b")  # both sent some
    # Slots are 1/rate apart whoever holds them: 90 messages take at least 89/rate seconds
    # (two workers pacing themselves alone would take half that). A lower bound only.
    assert messages[-1].at - messages[0].at >= 0.9 * (len(messages) - 1) / rate
