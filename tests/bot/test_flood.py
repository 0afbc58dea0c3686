"""Flood control (issue 12): a chat over its limit gets one notice, its surplus is stored and
not answered, priority requests still go through, answers resume after a quiet window.
Time is a clock the test moves, never a sleep; SQLite and PostgreSQL."""

from __future__ import annotations

from datetime import datetime, timedelta

import pytest
from sqlalchemy import func, select

from bot.assistant import Assistant
from bot.config import Settings
from bot.messages import Incoming, Reply
from bot.store.models import HandoffRequest, Merchant, Message, utcnow
from bot.texts import text
from tests.bot.test_assistant import Chat
from tests.conftest import make_services

NOTICE = text("fr", "flood")
HELP = Reply(text("fr", "help")).plain()


class Clock:
    """The assistant's clock, moved by the test."""

    def __init__(self) -> None:
        self.now = utcnow()

    def __call__(self) -> datetime:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += timedelta(seconds=seconds)


def stored(services, **where) -> list[Message]:  # type: ignore[no-untyped-def]
    with services.db.session() as session:
        query = select(Message).order_by(Message.id)
        for key, value in where.items():
            query = query.where(getattr(Message, key) == value)
        return list(session.scalars(query))


def plain(replies: list[Reply]) -> list[str]:
    return [r.plain() for r in replies]


@pytest.fixture()
def services(ready, database_url: str):  # type: ignore[no-untyped-def]
    """Flood control as shipped (the shared fixture turns it off for robot merchants)."""
    defaults = Settings()
    services = make_services(
        ready,
        database_url,
        flood_max_messages=defaults.flood_max_messages,
        flood_window_seconds=defaults.flood_window_seconds,
    )
    yield services
    services.db.dispose()


def test_fifty_messages_in_ten_seconds_get_one_notice_and_the_rest_is_stored(
    services, monkeypatch
) -> None:  # type: ignore[no-untyped-def]
    assert (services.settings.flood_max_messages, services.settings.flood_window_seconds) == (
        20,
        10,
    )
    clock = Clock()
    assistant = Assistant(services, clock=clock)
    understood: list[str] = []
    understand = assistant._understand

    def counted(incoming: Incoming):  # type: ignore[no-untyped-def]
        understood.append(incoming.text)
        return understand(incoming)

    monkeypatch.setattr(assistant, "_understand", counted)
    chat = Chat(assistant)
    replies = []
    for i in range(50):  # one every 0.2 s: 50 messages within 9.8 s
        replies.append(plain(chat.say(f"bonjour {i}")))
        clock.advance(0.2)

    assert all(r and NOTICE not in r for r in replies[:20])  # the limit's worth is answered
    assert replies[20] == [NOTICE]
    assert replies[21:] == [[]] * 29
    assert len(understood) == 20  # the surplus is never encoded
    incoming = stored(services, direction="in")
    assert [m.text for m in incoming] == [f"bonjour {i}" for i in range(50)]
    assert [m.flooded for m in incoming] == [False] * 20 + [True] * 30
    assert all(m.intent is None and m.answered is None for m in incoming[20:])
    assert sum(m.text == NOTICE for m in stored(services, direction="out")) == 1

    # Five seconds later the window still holds 24 of them: held, and no second notice.
    clock.advance(5.0)
    assert chat.say("toujours là ?") == []
    # A whole quiet window later, answers resume.
    clock.advance(10.0)
    assert "Bonjour" in " ".join(plain(chat.say("bonjour")))
    last = stored(services, direction="in")[-1]
    assert last.text == "bonjour" and last.flooded is False and last.intent == "greet"
    assert sum(m.text == NOTICE for m in stored(services, direction="out")) == 1


def test_the_window_is_shared_by_every_worker(services) -> None:  # type: ignore[no-untyped-def]
    """Two workers (no memory shared, one database) count a chat's messages together."""
    services.settings = services.settings.with_overrides(flood_max_messages=6)
    clock = Clock()
    first, second = Chat(Assistant(services, clock=clock)), Chat(Assistant(services, clock=clock))
    for worker in (first, second, first, second, first, second):
        assert worker.say("/aide")
        clock.advance(0.1)
    assert plain(second.say("/aide")) == [NOTICE]
    assert first.say("/aide") == []
    assert Chat(first.assistant, user="someone-else").say("/aide")  # other chats: unaffected


def test_priority_requests_go_through_a_flood_once_and_forged_presses_do_not(services) -> None:  # type: ignore[no-untyped-def]
    services.settings = services.settings.with_overrides(flood_max_messages=3)
    clock = Clock()
    chat = Chat(Assistant(services, clock=clock))
    for _ in range(3):
        chat.say("/aide")
    assert plain(chat.say("/progression")) == [NOTICE]
    faq_id = next(iter(services.kb.faq))
    for forged in (f"fq:{faq_id}", "fg:no", "dg:a:0:0", "ck:o:rgpd", "hf:start"):
        assert chat.data(forged) == [], forged
    assert chat.say("/mesdonnees") == []  # an export can wait for the window to pass

    assert "effacer" in " ".join(plain(chat.say("/oublier")))
    assert any(b["data"] == "fg:yes" for r in chat.last for b in r.button_list())
    assert chat.say("/oublier") == []  # once per window: a flood of them is still a flood
    assert "conseiller" in " ".join(plain(chat.say("/humain je suis bloqué")))
    assert chat.say("/humain") == []
    with services.db.session() as session:
        assert session.scalar(select(func.count()).select_from(HandoffRequest)) == 1
        held = session.scalars(
            select(Message.text).where(Message.direction == "in", Message.flooded.is_(True))
        ).all()
    assert len(held) == 11 and "/oublier" in held and "fg:no" in held

    replies = chat.data("fg:yes")  # the erasure itself, never held back
    assert plain(replies) == [text("fr", "forget_done")]
    with services.db.session() as session:
        assert session.scalar(select(func.count()).select_from(Merchant)) == 0
        assert session.scalar(select(func.count()).select_from(Message)) == 0


def test_no_notice_while_an_adviser_has_the_conversation(services) -> None:  # type: ignore[no-untyped-def]
    services.settings = services.settings.with_overrides(flood_max_messages=2)
    chat = Chat(Assistant(services, clock=Clock()))
    chat.say("/humain")
    chat.say("allo ?")
    assert chat.say("allo ??") == []  # the bot stays quiet: the adviser reads everything
    assert [m.flooded for m in stored(services, direction="in")] == [False, False, True]


@pytest.mark.parametrize("setting", ["flood_max_messages", "flood_window_seconds"])
def test_zero_turns_flood_control_off(services, setting: str) -> None:  # type: ignore[no-untyped-def]
    services.settings = services.settings.with_overrides(**{setting: 0})
    chat = Chat(Assistant(services, clock=Clock()))
    assert all(plain(chat.say("/aide")) == [HELP] for _ in range(30))
    assert not any(m.flooded for m in stored(services, direction="in"))


def test_settings_come_from_the_environment() -> None:
    settings = Settings.from_env(
        {"COMPTOIR_FLOOD_MAX_MESSAGES": "50", "COMPTOIR_FLOOD_WINDOW_SECONDS": "30"}, env_file=None
    )
    assert (settings.flood_max_messages, settings.flood_window_seconds) == (50, 30)
    assert Settings.from_env({}, env_file=None).flood_max_messages == 20


def test_a_redelivered_update_during_a_flood_is_not_stored_twice(services) -> None:  # type: ignore[no-untyped-def]
    services.settings = services.settings.with_overrides(flood_max_messages=1)
    assistant = Assistant(services, clock=Clock())
    first = Incoming("test", "7", "command", "aide", update_id=1)
    assistant.handle(first)
    over = Incoming("test", "7", "command", "aide", update_id=2)
    assert plain(assistant.handle(over)) == [NOTICE]
    assert assistant.handle(over) == []
    assert len(stored(services, direction="in")) == 2
