"""The webhook worker in process: the real python-telegram-bot stack fed by the ASGI app,
replies sent to the Bot API server on loopback (SQLite and PostgreSQL)."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from datetime import timedelta
from typing import Any

import httpx
import pytest
from sqlalchemy import func, select

from bot import outbox
from bot.assistant import Assistant
from bot.channels.telegram import TelegramChannel
from bot.channels.webhook import SECRET_HEADER, create_webhook_app
from bot.jobs import (
    claim_periodic,
    claim_undelivered,
    queue_due_reminders,
    renew_undelivered,
)
from bot.store.database import Database
from bot.store.models import ChecklistRun, Merchant, Message, OutboxMessage, utcnow
from tests.support.fake_bot_api import FakeBotAPI

CHAT = 5550101
SECRET = "un-secret-de-test"
URL = "https://bot.example.invalid/telegram/abc123"


@pytest.fixture()
async def worker(api: FakeBotAPI, services) -> AsyncIterator[tuple[httpx.AsyncClient, Any]]:  # type: ignore[no-untyped-def]
    services.settings = services.settings.with_overrides(
        telegram_token=api.token,
        telegram_base_url=api.base_url,
        telegram_base_file_url=api.base_file_url,
        webhook_url=URL,
        webhook_secret=SECRET,
    )
    channel = TelegramChannel(Assistant(services))
    application = channel.build(webhook=True)
    app = create_webhook_app(channel, application)
    async with application:
        await application.start()
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://worker") as client:
            yield client, channel
        await application.stop()


async def post(client: httpx.AsyncClient, update: dict[str, Any], secret: str = SECRET) -> int:
    response = await client.post("/telegram/abc123", json=update, headers={SECRET_HEADER: secret})
    return response.status_code


async def test_an_update_is_answered_once_and_acknowledged_after_it_is_stored(
    api: FakeBotAPI,
    worker,
    services,  # type: ignore[no-untyped-def]
) -> None:
    client, _ = worker
    update = api.text_update(CHAT, "/aide")
    assert await post(client, update) == 200
    # 200 came after the turn was committed: the message is already in the database.
    with services.db.session() as session:
        stored = session.scalars(select(Message.text).where(Message.direction == "in")).all()
    assert stored == ["/aide"]
    assert len(api.messages_to(CHAT)) == 1
    # Telegram re-delivers (the 200 was lost): acknowledged again, not answered again.
    assert await post(client, update) == 200
    assert len(api.messages_to(CHAT)) == 1


async def test_wrong_secret_and_garbage_are_refused(api: FakeBotAPI, worker) -> None:  # type: ignore[no-untyped-def]
    client, _ = worker
    assert await post(client, api.text_update(CHAT, "bonjour"), secret="faux") == 403
    response = await client.post(
        "/telegram/abc123", content=b"{not json", headers={SECRET_HEADER: SECRET}
    )
    assert response.status_code == 400
    assert (await client.get("/telegram/abc123")).status_code == 405
    assert api.messages_to(CHAT) == []


async def test_health_and_metrics_per_worker(api: FakeBotAPI, worker) -> None:  # type: ignore[no-untyped-def]
    client, _ = worker
    await post(client, api.text_update(CHAT, "/aide"))
    health = await client.get("/healthz")
    assert health.status_code == 200 and health.json()["database"] is True
    metrics = (await client.get("/metrics")).text
    assert 'comptoir_webhook_updates_total{outcome="handled"} 1.0' in metrics
    assert "comptoir_database_up 1" in metrics
    assert "comptoir_vector_cache_misses_total 0" in metrics  # a command needs no vector
    await post(client, api.text_update(CHAT, "bonjour"))
    metrics = (await client.get("/metrics")).text
    assert "comptoir_vector_cache_misses_total 0" in metrics  # a greeting is not encoded
    assert "comptoir_text_turns_total 1\n" in metrics
    assert "comptoir_text_turns_encoded_total 0\n" in metrics
    await post(client, api.text_update(CHAT, "une alternative à gmail ?"))
    metrics = (await client.get("/metrics")).text
    assert "comptoir_vector_cache_misses_total 1" in metrics  # a question is
    assert "comptoir_text_turns_encoded_total 1\n" in metrics


async def test_database_down_answers_503_so_telegram_retries(api: FakeBotAPI, worker) -> None:  # type: ignore[no-untyped-def]
    client, channel = worker
    services = channel.assistant.services
    working = services.db
    services.db = Database("postgresql+psycopg://postgres@127.0.0.1:1/nothing_listens_here")
    try:
        update = api.text_update(CHAT, "/aide")
        assert await post(client, update) == 503
        assert "problème technique passager" in api.messages_to(CHAT)[0].text
    finally:
        services.db = working
    # Telegram retries once the database is back: now it is stored and answered.
    assert await post(client, update) == 200
    with working.session() as session:
        assert session.scalar(select(func.count()).select_from(Message)) == 2


def test_reminders_go_through_the_outbox_and_periodic_jobs_run_once(services) -> None:  # type: ignore[no-untyped-def]
    now = utcnow()
    with services.db.session() as session:
        merchant = Merchant(
            channel="telegram", external_id=str(CHAT), flow_state={}, reminders=True
        )
        session.add(merchant)
        session.flush()
        checklist_id = next(iter(services.kb.checklists))
        session.add(
            ChecklistRun(
                merchant_id=merchant.id,
                checklist_id=checklist_id,
                remind_at=now - timedelta(minutes=1),
            )
        )
    assert queue_due_reminders(services, now) == 1
    assert queue_due_reminders(services, now) == 0  # cleared in the same transaction
    with services.db.session() as session:
        row = session.scalars(select(OutboxMessage)).one()
        assert row.kind == "reminder" and row.status == "pending" and row.buttons
        assert session.scalar(select(ChecklistRun.remind_at)) is None
    # Two workers asking for the daily purge at the same moment: one runs it.
    with services.db.session() as session:
        assert claim_periodic(session, "purge-test", timedelta(days=1), now) is True
    with services.db.session() as session:
        assert claim_periodic(session, "purge-test", timedelta(days=1), now) is False
    later = now + timedelta(days=1, seconds=1)
    with services.db.session() as session:
        assert claim_periodic(session, "purge-test", timedelta(days=1), later) is True


def test_a_row_held_too_long_behind_its_batch_is_sent_by_one_worker(services) -> None:  # type: ignore[no-untyped-def]
    """A worker sends a claimed batch one row after the other; when it reaches a row after
    its lease ran out and another worker took that row, it leaves it to that worker."""
    lease = timedelta(seconds=3)
    now = utcnow()
    with services.db.session() as session:
        merchant = Merchant(channel="telegram", external_id=str(CHAT), flow_state={})
        session.add(merchant)
        session.flush()
        for n in range(3):
            session.add(OutboxMessage(merchant_id=merchant.id, text=f"Message {n}"))
    with services.db.session() as session:
        first, second, third = outbox.claim(session, "telegram", now=now, lease=lease)
    with services.db.session() as session:  # in time: renewed, sent, recorded
        held = outbox.renew(session, first, lease, now + timedelta(seconds=1))
        assert held is not None
        outbox.record(session, held.outbox_id, True, held.reply)
    later = now + timedelta(seconds=5)  # the first worker's lease on the others ran out
    with services.db.session() as session:
        taken = outbox.claim(session, "telegram", now=later, lease=lease, limit=1)
    assert [t.outbox_id for t in taken] == [second.outbox_id]
    with services.db.session() as session:
        assert outbox.renew(session, second, lease, later) is None  # the other one sends it
        assert outbox.renew(session, taken[0], lease, later) is not None
        # Out of time but taken by nobody: still this worker's to send.
        assert outbox.renew(session, third, lease, later) is not None
        assert outbox.renew(session, first, lease, later) is None  # already sent


def test_unsent_replies_held_too_long_behind_their_batch_go_to_one_worker(services) -> None:  # type: ignore[no-untyped-def]
    """The same for replies a crashed worker left unsent: claimed by chat in a batch, each
    chat's replies renewed just before they are sent, or left to the worker that took them."""
    lease = timedelta(seconds=3)
    now = utcnow()
    with services.db.session() as session:
        for chat in (CHAT, CHAT + 1):
            merchant = Merchant(channel="telegram", external_id=str(chat), flow_state={})
            session.add(merchant)
            session.flush()
            session.add(
                Message(
                    merchant_id=merchant.id,
                    direction="out",
                    author="bot",
                    html="Réponse",
                    delivered=False,
                )
            )
    with services.db.session() as session:
        first, second = claim_undelivered(session, "telegram", lease, now)
    later = now + timedelta(seconds=5)
    with services.db.session() as session:
        taken = claim_undelivered(session, "telegram", lease, later, limit=1)
    assert [g.message_ids for g in taken] == [first.message_ids]
    with services.db.session() as session:
        assert renew_undelivered(session, first, lease, later) is None  # the other one sends
        assert renew_undelivered(session, taken[0], lease, later) is not None
        assert renew_undelivered(session, second, lease, later) is not None  # still ours


async def test_a_reminder_survives_a_telegram_outage(api: FakeBotAPI, worker, services) -> None:  # type: ignore[no-untyped-def]
    client, channel = worker
    assert await post(client, api.text_update(CHAT, "/aide")) == 200
    with services.db.session() as session:
        merchant = session.scalars(select(Merchant)).one()
        merchant.reminders = True
        session.add(
            ChecklistRun(
                merchant_id=merchant.id,
                checklist_id=next(iter(services.kb.checklists)),
                remind_at=utcnow() - timedelta(minutes=1),
            )
        )
    assert queue_due_reminders(services) == 1
    application = channel._application
    api.inject("sendMessage", {"status": 502})
    await channel.deliver_outbox(application)  # Telegram down: the row stays pending
    with services.db.session() as session:
        assert session.scalar(select(OutboxMessage.status)) == "pending"
        session.execute(OutboxMessage.__table__.update().values(claimed_until=None))
    await channel.deliver_outbox(application)
    await asyncio.sleep(0)
    reminders = [m for m in api.messages_to(CHAT) if "Reprendre" in str(m.buttons)]
    assert len(reminders) == 1
    with services.db.session() as session:
        assert session.scalar(select(OutboxMessage.status)) == "sent"
