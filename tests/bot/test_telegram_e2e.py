"""The real python-telegram-bot stack against a Bot API server on loopback."""

from __future__ import annotations

import asyncio
import gc
import html
import signal
import time
import weakref
from collections.abc import AsyncIterator
from datetime import UTC, datetime
from pathlib import Path

import pytest
from sqlalchemy import func, select
from telegram import Chat, Update
from telegram import Message as TgMessage

from bot.assistant import Assistant
from bot.channels.telegram import (
    PerChatProcessor,
    TelegramChannel,
    freeze_startup_heap,
    split_message,
)
from bot.config import Settings
from bot.store.database import Database
from bot.store.models import (
    AnswerLabel,
    ChecklistProgress,
    DiagnosticResult,
    HandoffRequest,
    Merchant,
    Message,
    ProcessedUpdate,
)
from tests.support.fake_bot_api import FakeBotAPI, start_comptoir

CHAT = 5550001


@pytest.fixture()
async def running(api: FakeBotAPI, services) -> AsyncIterator[TelegramChannel]:  # type: ignore[no-untyped-def]
    services.settings = services.settings.with_overrides(
        telegram_token=api.token,
        telegram_base_url=api.base_url,
        telegram_base_file_url=api.base_file_url,
    )
    channel = TelegramChannel(Assistant(services))
    application = channel.build()
    async with application:
        await channel.on_start(application)
        await application.start()
        await application.updater.start_polling(poll_interval=0.0, timeout=1)
        yield channel
        await application.updater.stop()
        await application.stop()


async def wait(api: FakeBotAPI, count: int, chat: int = CHAT, timeout: float = 60.0):  # type: ignore[no-untyped-def]
    return await asyncio.to_thread(api.wait_messages, chat, count, timeout)


def turn_done(database: Database, update_id: int) -> bool:
    """The bot recorded the update and Telegram accepted every reply: its calls are over
    (replies are marked delivered after the last call of the turn)."""
    with database.session() as session:
        recorded = session.get(ProcessedUpdate, update_id) is not None
        return recorded and undelivered(database) == 0


async def settle(api: FakeBotAPI, database: Database, update_id: int) -> list[str]:
    """Wait for the turn of `update_id` to be over; the Bot API methods it called."""
    before = len(api.calls)
    deadline = time.monotonic() + 60.0
    while not await asyncio.to_thread(turn_done, database, update_id):
        assert time.monotonic() < deadline, f"update {update_id} not handled in time"
        await asyncio.sleep(0.005)
    return [method for method, _ in api.calls[before:] if method != "getUpdates"]


async def press(api: FakeBotAPI, database: Database, shown, label: str) -> list[str]:  # type: ignore[no-untyped-def]
    """Press a button of a message as the chat shows it; the calls that press cost."""
    before = len(api.calls)
    update_id = api.press(shown, label)
    await settle(api, database, update_id)
    return [method for method, _ in api.calls[before:] if method != "getUpdates"]


async def say(api: FakeBotAPI, database: Database, text: str) -> None:
    await settle(api, database, api.push_text(CHAT, text))


def last_with(api: FakeBotAPI, data_prefix: str):  # type: ignore[no-untyped-def]
    """The chat's last message offering a button whose data starts with `data_prefix`."""
    for shown in reversed(api.view(CHAT)):
        if any(b.get("callback_data", "").startswith(data_prefix) for b in shown.buttons):
            return shown
    raise LookupError(f"no message with a {data_prefix!r} button in {api.view(CHAT)}")


REPLACED = ["answerCallbackQuery", "editMessageText"]


async def test_journey_start_question_diagnostic_checklist(api: FakeBotAPI, running) -> None:  # type: ignore[no-untyped-def]
    assert {c["command"] for c in api.commands} >= {"start", "diagnostic", "checklists", "oublier"}
    assert all(c["description"] for c in api.commands)

    api.push_text(CHAT, "/start")
    sent = await wait(api, 2)
    assert "Comptoir" in sent[0].text and sent[0].params["parse_mode"] == "HTML"
    api.press(sent[1], "Artisan")  # the profile's next question replaces the first
    shown = await asyncio.to_thread(api.wait_changes, CHAT, 3)
    assert "Métier : Artisan" in shown[1].text and "en ligne" in shown[1].text
    api.press(shown[1], "Oui")
    shown = await asyncio.to_thread(api.wait_changes, CHAT, 4)
    assert "/diagnostic" in shown[1].text
    # The profile ends with the news question (off unless the merchant says yes).
    assert [b["callback_data"] for b in shown[1].buttons] == ["nw:on", "nw:off"]

    api.push_text(CHAT, "c quoi le click and collect")
    sent = await wait(api, 3)
    answer = sent[2]
    assert "<b>" in answer.text and "href=" in answer.text
    assert any("👍" in b["text"] for b in answer.buttons)
    api.press(answer, "👍")  # feedback on an answer: the answer stays, its keyboard goes
    await wait(api, 4)
    assert api.callback_answers  # every button press is acknowledged

    api.push_text(CHAT, "/diagnostic")
    sent = await wait(api, 6)
    assert "Question 1/" in sent[5].text
    api.press(sent[5], "Oui")
    await asyncio.to_thread(api.wait_for, lambda: "Question 2/" in api.view(CHAT)[5].text)
    assert "Question 1 : Oui" in api.view(CHAT)[5].text  # the answer given stays in view

    api.push_text(CHAT, "/checklists")
    sent = await wait(api, 7)
    api.press(sent[6], "newsletter")
    await asyncio.to_thread(api.wait_for, lambda: "Commencer" in str(api.view(CHAT)[6].buttons))
    api.press(api.view(CHAT)[6], "Commencer")
    await asyncio.to_thread(api.wait_for, lambda: "Étape 1/" in api.view(CHAT)[6].text)
    api.press(api.view(CHAT)[6], "Fait")
    await asyncio.to_thread(api.wait_for, lambda: "Étape 2/" in api.view(CHAT)[6].text)
    api.push_text(CHAT, "/progression")
    sent = await wait(api, 8)
    assert "1/" in sent[7].text
    # Pressed keyboards are removed: the answer rated keeps no 👍 to press twice.
    assert not api.view(CHAT)[2].buttons
    assert len(api.view(CHAT)) == 8


async def test_presses_whose_next_step_replaces_the_message_cost_two_calls(
    api: FakeBotAPI, running, services
) -> None:  # type: ignore[no-untyped-def]
    """The whole diagnostic and a whole checklist by presses: each press is acknowledged
    and edits the pressed message (2 Bot API calls); the chat ends up showing the result."""
    database = services.db
    await say(api, database, "/diagnostic")
    total = len(services.kb.diagnostic.questions)
    for n in range(1, total + 1):
        question = api.view(CHAT)[1]
        assert f"Question {n}/{total}" in question.text
        label = question.buttons[n % len(question.buttons)]["text"]
        assert await press(api, database, question, label) == REPLACED
        if n < total:  # the answer just given stays in view above the next question
            assert f"Question {n} : {html.escape(label, quote=False)}" in api.view(CHAT)[1].text
    intro, result = api.view(CHAT)
    assert "Votre diagnostic numérique" in result.text and "Score global" in result.text
    assert not any(b["callback_data"].startswith("dg:") for b in intro.buttons + result.buttons)
    with services.db.session() as session:
        done = session.scalar(select(DiagnosticResult).where(DiagnosticResult.completed))
        assert done is not None and len(done.answers) == total

    await say(api, database, "/checklists")
    menu = api.view(CHAT)[2]
    assert await press(api, database, menu, "site vitrine") == REPLACED  # the list gives way
    assert await press(api, database, api.view(CHAT)[2], "Commencer") == REPLACED
    steps = services.kb.checklists["site-vitrine"].steps
    for n, step in enumerate(steps, start=1):
        shown = api.view(CHAT)[2]
        assert f"Étape {n}/{len(steps)}" in shown.text
        assert await press(api, database, shown, "Fait") == REPLACED
        assert f"Étape {n} faite : {html.escape(step.title, quote=False)}" in api.view(CHAT)[2].text
        if n == 1:
            # A double tap: the second press finds the message already showing its outcome;
            # Telegram refuses the identical edit and nothing else happens.
            changes = api.changes(CHAT)
            assert await press(api, database, shown, "Fait") == REPLACED
            assert api.changes(CHAT) == changes
    finished = api.view(CHAT)
    assert len(finished) == 3 and "Bravo" in finished[2].text and not finished[2].buttons
    with services.db.session() as session:
        assert session.scalar(
            select(func.count())
            .select_from(ChecklistProgress)
            .where(ChecklistProgress.status == "done")
        ) == len(steps)

    # Feedback on an answer is not a next step: the answer stays, its keyboard goes.
    await say(api, database, "c quoi le click and collect")
    answer = api.view(CHAT)[3]
    assert await press(api, database, answer, "👍") == [
        "answerCallbackQuery",
        "editMessageReplyMarkup",
        "sendMessage",
    ]
    assert api.view(CHAT)[3].text == answer.text and not api.view(CHAT)[3].buttons


async def test_a_press_on_a_deleted_message_still_gets_its_reply(
    api: FakeBotAPI, running, services
) -> None:  # type: ignore[no-untyped-def]
    database = services.db
    await say(api, database, "/diagnostic")
    question = api.view(CHAT)[1]
    api.delete_message(CHAT, question.message_id)  # the merchant deleted it, or it is too old
    calls = await press(api, database, question, question.buttons[0]["text"])
    assert calls == [*REPLACED, "editMessageReplyMarkup", "sendMessage"]
    shown = api.view(CHAT)
    assert len(shown) == 2 and "Question 2/" in shown[1].text and shown[1].buttons


async def test_a_replacing_reply_telegram_refused_is_sent_again_as_a_new_message(
    api: FakeBotAPI, running, services
) -> None:  # type: ignore[no-untyped-def]
    database = services.db
    await say(api, database, "/diagnostic")
    question = api.view(CHAT)[1]
    api.inject("editMessageText", {"status": 502})
    api.inject("sendMessage", {"status": 502})
    api.press(question, question.buttons[0]["text"])
    await asyncio.to_thread(api.wait_for, lambda: not api.faults["sendMessage"])
    # The failed send releases the reply's claim after its 502: until then delivery skips the
    # row as held by the turn's worker (waiting for "undelivered" alone raced that release).
    await asyncio.to_thread(api.wait_for, lambda: waiting(database) == 1)
    # Telegram was unreachable: the stored reply waits; delivery sends it as a new message.
    await running.deliver_pending(running_app(running))
    shown = api.view(CHAT)
    assert len(shown) == 3 and "Question 2/" in shown[2].text
    assert not shown[1].buttons  # the pressed keyboard went before the send failed
    assert undelivered(database) == 0


async def test_other_content_and_edits_get_polite_answers(api: FakeBotAPI, running) -> None:  # type: ignore[no-untyped-def]
    api.push_sticker(CHAT)
    api.push_photo(CHAT)
    api.push_voice(CHAT)
    api.push_edited(CHAT, "modifié")
    sent = await wait(api, 4)
    assert all("message" in s.text for s in sent)
    api.push_callback(CHAT, "forged:data:!!")
    sent = await wait(api, 5)
    assert "plus valable" in sent[4].text


async def test_handoff_from_free_text_asks_first(api: FakeBotAPI, running, services) -> None:  # type: ignore[no-untyped-def]
    api.push_text(CHAT, "je voudrais parler a un conseiller svp")
    sent = await wait(api, 1)
    assert "Voulez-vous qu'un conseiller" in sent[0].text
    # The answer to a yes/no question takes its place.
    assert await press(api, services.db, sent[0], "Non, je continue") == REPLACED
    assert "je continue" in api.view(CHAT)[0].text
    with services.db.session() as session:
        assert session.scalar(select(func.count()).select_from(HandoffRequest)) == 0
    api.push_text(CHAT, "finalement oui je veux un conseiller humain")
    sent = await wait(api, 2)
    assert await press(api, services.db, sent[1], "Oui, un conseiller") == REPLACED
    shown = api.view(CHAT)[1]
    assert "conseiller" in shown.text and any("Annuler" in b["text"] for b in shown.buttons)
    with services.db.session() as session:
        request = session.scalar(select(HandoffRequest))
        assert request is not None and request.status == "open"
        assert request.reason == "finalement oui je veux un conseiller humain"


async def test_unsure_question_offers_candidates_and_records_the_choice(
    api: FakeBotAPI, running, services, monkeypatch
) -> None:  # type: ignore[no-untyped-def]
    services.settings = services.settings.with_overrides(nlu_fallback_threshold=1.01)
    monkeypatch.setattr(services.search, "ranker", None)  # nothing is sure: candidates
    api.push_text(CHAT, "combien de temps garder mes factures")
    sent = await wait(api, 1)
    assert "Vouliez-vous dire" in sent[0].text
    candidates = [b for b in sent[0].buttons if b["callback_data"].startswith("cl:")]
    assert len(candidates) == 3
    await press(api, services.db, sent[0], candidates[0]["text"])
    # The chosen answer in place of "Vouliez-vous dire…" (or after it, if it is too long).
    shown = api.view(CHAT)[-1]
    assert "Source" in shown.text and "<b>" in shown.text
    assert not any(b["callback_data"].startswith("cl:") for s in api.view(CHAT) for b in s.buttons)
    with services.db.session() as session:
        label = session.scalar(select(AnswerLabel))
        assert label is not None and label.source == "clarify"
        assert label.text == "combien de temps garder mes factures"


async def test_long_answers_are_split_and_names_escaped(api: FakeBotAPI, running) -> None:  # type: ignore[no-untyped-def]
    api.push_text(CHAT, "je veux vendre en ligne " * 600)
    sent = await wait(api, 2)
    assert all(len(s.text) <= 4096 for s in sent)
    parts = split_message("<b>a</b>\n\n" + ("x" * 3000 + "\n\n") * 4)
    assert len(parts) >= 3 and all(len(p) <= 4096 for p in parts)


async def test_rate_limit_errors_and_slow_answers_lose_nothing(
    api: FakeBotAPI, running, services
) -> None:  # type: ignore[no-untyped-def]
    api.inject("sendMessage", {"status": 429, "retry_after": 1}, {"delay": 1.5})
    api.push_text(CHAT, "bonjour")
    sent = await wait(api, 1)
    assert "Bonjour" in sent[0].text
    # A 5xx: the reply stays stored, undelivered, and is sent again later (at the next
    # start, or by the repeating job once it is old enough).
    api.inject("sendMessage", {"status": 502})
    api.push_text(CHAT, "merci")
    await asyncio.to_thread(api.wait_for, lambda: not api.faults["sendMessage"], 30)
    await asyncio.sleep(1.0)
    with services.db.session() as session:
        undelivered = session.scalar(
            select(func.count())
            .select_from(Message)
            .where(Message.direction == "out", Message.delivered.is_(False))
        )
    assert undelivered == 1
    await running.deliver_pending(running_app(running))
    sent = await wait(api, 2)
    assert "plaisir" in sent[1].text


async def test_a_flooding_chat_is_held_and_another_chat_is_still_answered(
    api: FakeBotAPI, running, services
) -> None:  # type: ignore[no-untyped-def]
    # The shipped limit (the suite turns it off), over a window far longer than the test,
    # so a slow machine cannot let the burst out of it.
    services.settings = services.settings.with_overrides(
        flood_max_messages=Settings().flood_max_messages, flood_window_seconds=600
    )
    flooder, other = CHAT, CHAT + 1
    for i in range(50):
        api.push_text(flooder, f"bonjour {i}")
        if i == 25:
            api.push_text(other, "une alternative a gmail")
    sent = await wait(api, 1, chat=other)
    assert "Gmail" in sent[0].text

    def settled() -> bool:
        """All 50 stored, and every reply stored for the flooder already sent."""
        with services.db.session() as session:
            merchant = (
                Message.merchant_id
                == select(Merchant.id).where(Merchant.external_id == str(flooder)).scalar_subquery()
            )
            stored = session.scalar(
                select(func.count()).select_from(Message).where(merchant, Message.direction == "in")
            )
            unsent = session.scalar(
                select(func.count())
                .select_from(Message)
                .where(merchant, Message.direction == "out", Message.delivered.is_(False))
            )
        return stored == 50 and unsent == 0

    await asyncio.to_thread(api.wait_for, settled, 120)
    sent = api.messages_to(flooder)
    assert len(sent) == 21  # 20 answers, then the notice; the surplus is not answered
    assert [i for i, s in enumerate(sent) if "Doucement" in s.text] == [20]
    with services.db.session() as session:
        flooded = session.scalar(
            select(func.count()).select_from(Message).where(Message.flooded.is_(True))
        )
    assert flooded == 30


def chat_update(chat_id: int, update_id: int) -> Update:
    chat = Chat(chat_id, "private")
    return Update(update_id, message=TgMessage(update_id, datetime.now(UTC), chat, text="x"))


async def test_a_chat_with_queued_updates_holds_one_slot_not_all() -> None:
    """Fifty queued updates of a flooding chat must not take every concurrency slot."""
    processor = PerChatProcessor(max_concurrent_updates=2)
    release, other_ran = asyncio.Event(), asyncio.Event()
    started: list[int] = []

    async def flood_turn(i: int) -> None:
        started.append(i)
        await release.wait()

    async def other_turn() -> None:
        other_ran.set()

    tasks = [
        asyncio.create_task(processor.process_update(chat_update(CHAT, i), flood_turn(i)))
        for i in range(50)
    ]
    tasks.append(
        asyncio.create_task(processor.process_update(chat_update(CHAT + 1, 99), other_turn()))
    )
    await asyncio.wait_for(other_ran.wait(), timeout=10)
    assert started == [0]  # the flooding chat's turns stay one at a time, in order
    release.set()
    await asyncio.gather(*tasks)
    assert started == list(range(50))


def running_app(channel: TelegramChannel):  # type: ignore[no-untyped-def]
    return channel._application  # set by build(); see TelegramChannel


async def test_staff_messages_are_delivered_from_the_outbox(
    api: FakeBotAPI, running, services
) -> None:  # type: ignore[no-untyped-def]
    from bot.store.models import OutboxMessage

    api.push_text(CHAT, "/humain")
    await wait(api, 1)
    with services.db.session() as session:
        merchant = session.scalar(select(Merchant))
        session.add(
            OutboxMessage(
                merchant_id=merchant.id,
                author="Julie",
                text="Bonjour <script>alert(1)</script>, je regarde.",
            )
        )
    sent = await wait(api, 2, timeout=20)
    assert "Message d'un conseiller" in sent[1].text
    assert "&lt;script&gt;" in sent[1].text and "<script>" not in sent[1].text


# -- a real process, killed with SIGKILL mid-checklist ---------------------------------------


def start_bot(api: FakeBotAPI, data_dir: Path, db_url: str, ready_dir: Path):  # type: ignore[no-untyped-def]
    return start_comptoir(api, ready_dir, db_url, cwd=data_dir)


def waiting(database: Database) -> int:
    """Replies not delivered and held by no worker: what delivery can claim now."""
    with database.session() as session:
        return session.scalar(
            select(func.count())
            .select_from(Message)
            .where(
                Message.direction == "out",
                Message.delivered.is_(False),
                Message.claimed_until.is_(None),
            )
        )


def undelivered(database: Database) -> int:
    with database.session() as session:
        return session.scalar(
            select(func.count())
            .select_from(Message)
            .where(Message.direction == "out", Message.delivered.is_(False))
        )


def test_sigkill_mid_checklist_loses_nothing_and_answers_nothing_twice(
    api: FakeBotAPI,
    ready,
    tmp_path: Path,  # type: ignore[no-untyped-def]
) -> None:
    settings = ready[0]
    db_url = f"sqlite:///{tmp_path / 'bot.sqlite3'}"
    bot = start_bot(api, tmp_path, db_url, settings.data_dir)
    try:
        api.push_text(CHAT, "/checklists")
        shown = api.wait_changes(CHAT, 1, timeout=90)
        api.press(shown[0], "RGPD")  # each press edits the same message in place
        shown = api.wait_changes(CHAT, 2)
        api.press(shown[0], "Commencer")
        shown = api.wait_changes(CHAT, 3)
        api.press(shown[0], "Fait")
        shown = api.wait_changes(CHAT, 4)
        assert "Étape 2/" in shown[0].text
        # Kill between turns, not inside the few microseconds between Telegram accepting a
        # message and the bot recording it as sent (that window is at-least-once: the
        # message would be sent again after the restart).
        database = Database(db_url)
        api.wait_for(lambda: undelivered(database) == 0, timeout=10)
    finally:
        bot.send_signal(signal.SIGKILL)
        bot.wait(timeout=30)
    # While the bot is down the merchant keeps going.
    api.press(shown[0], "Fait")
    api.push_text(CHAT, "/progression")
    bot = start_bot(api, tmp_path, db_url, settings.data_dir)
    try:
        shown = api.wait_changes(CHAT, 6, timeout=90)
        assert "Étape 3/" in shown[0].text
        assert "2/" in shown[1].text
        time.sleep(2.0)  # anything answered twice would show up now
        assert api.changes(CHAT) == 6 and len(api.view(CHAT)) == 2
    finally:
        bot.send_signal(signal.SIGTERM)
        bot.wait(timeout=30)
    database = Database(db_url)
    with database.session() as session:
        done = session.scalar(
            select(func.count())
            .select_from(ChecklistProgress)
            .where(ChecklistProgress.status == "done")
        )
        assert done == 2


def test_forget_through_telegram_leaves_no_row(api: FakeBotAPI, ready, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    db_url = f"sqlite:///{tmp_path / 'bot.sqlite3'}"
    bot = start_bot(api, tmp_path, db_url, ready[0].data_dir)
    try:
        api.push_text(CHAT, "/start")
        api.push_text(CHAT, "une alternative a whatsapp")
        api.push_text(CHAT, "/mesdonnees")
        sent = api.wait_messages(CHAT, 4, timeout=90)
        assert sent[3].method == "sendDocument"
        assert sent[3].params["document"]["filename"] == "comptoir-mes-donnees.json"
        api.push_text(CHAT, "/oublier")
        sent = api.wait_messages(CHAT, 5)
        api.press(sent[4], "Oui")  # the confirmation question becomes its outcome
        api.wait_for(lambda: "effacées" in api.view(CHAT)[4].text)
        assert not api.view(CHAT)[4].buttons
        time.sleep(1.0)
    finally:
        bot.send_signal(signal.SIGTERM)
        bot.wait(timeout=30)
    database = Database(db_url)
    with database.session() as session:
        for table in (
            "merchants",
            "messages",
            "processed_updates",
            "checklist_progress",
            "checklist_runs",
            "diagnostic_results",
            "handoff_requests",
            "outbox",
        ):
            from sqlalchemy import text

            assert session.scalar(text(f"SELECT count(*) FROM {table}")) == 0, table


class _Node:
    """A reference cycle, for the garbage collector."""

    def __init__(self) -> None:
        self.me = self


def test_startup_heap_is_frozen_and_later_cycles_are_still_collected() -> None:
    startup = _Node()  # built before the bot serves (a model, an index)
    try:
        freeze_startup_heap()
        # Out of every generation a collection walks, yet alive.
        assert all(obj is not startup for obj in gc.get_objects())
        assert startup.me is startup
        later = _Node()  # a cycle made while serving, then dropped
        dropped = weakref.ref(later)
        del later
        gc.collect()
        assert dropped() is None
    finally:
        gc.unfreeze()
