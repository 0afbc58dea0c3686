"""Free-text turns that need no search are understood without encoding the message.

The encoder is the real one, wrapped to count what it is asked (never a mock): a greeting,
thanks, a hand-off request or "lancer le diagnostic" ask it nothing; a question is encoded
once and that one vector serves both the intent model and the search.
"""

from __future__ import annotations

import dataclasses

import pytest
from sqlalchemy import select

from bot.assistant import Assistant
from bot.health import vector_cache_lines
from bot.messages import Incoming
from bot.store.models import DiagnosticResult, Message
from bot.texts import text
from tests.conftest import make_services
from tests.support.counting_encoder import CountingEncoder


@pytest.fixture()
def counted(ready, database_url: str):  # type: ignore[no-untyped-def]
    settings, nlu, kb, search = ready
    counting = CountingEncoder(nlu.encoder)
    services = make_services(
        (settings, dataclasses.replace(nlu, encoder=counting), kb, search), database_url
    )
    assert services.encoder is counting and services.nlu.encoder is counting
    yield services, counting
    services.db.dispose()


def say(assistant: Assistant, message: str, user: str = "7"):  # type: ignore[no-untyped-def]
    return assistant.process(Incoming("test", user, "text", message))


def test_turns_that_search_nothing_do_not_encode(counted) -> None:  # type: ignore[no-untyped-def]
    services, counting = counted
    assistant = Assistant(services)

    greeting = say(assistant, "Bonjour !")
    assert [r.plain() for r in greeting.replies] == [text("fr", "greet", name="")]
    thanks = say(assistant, "merci beaucoup")
    assert [r.plain() for r in thanks.replies] == [text("fr", "thanks")]
    handoff = say(assistant, "je veux parler à un conseiller")
    assert handoff.replies[0].plain() == text("fr", "handoff_confirm")
    diagnostic = say(assistant, "lancer le diagnostic")
    assert diagnostic.replies and diagnostic.replies[-1].buttons  # its first question

    assert counting.asked == []
    assert [o.encoded for o in (greeting, thanks, handoff, diagnostic)] == [False] * 4
    assert services.understanding.snapshot() == (4, 0)
    assert services.query_vectors.stats().misses == 0
    with services.db.session() as session:
        intents = session.scalars(
            select(Message.intent).where(Message.direction == "in").order_by(Message.id)
        ).all()
        assert intents == ["greet", "thanks", "human_handoff", "start_diagnostic"]
        assert session.scalar(select(DiagnosticResult)) is not None
    assert "comptoir_text_turns_total 4" in vector_cache_lines(services)
    assert "comptoir_text_turns_encoded_total 0" in vector_cache_lines(services)


def test_asking_for_the_checklists_lists_them_without_encoding(counted) -> None:  # type: ignore[no-untyped-def]
    services, counting = counted
    outcome = say(Assistant(services), "checklist")
    assert outcome.replies and outcome.replies[-1].buttons  # the checklists, one per button
    assert counting.asked == [] and outcome.encoded is False
    with services.db.session() as session:
        asked = session.scalar(select(Message).where(Message.direction == "in"))
        assert asked.intent == "start_checklist" and not asked.hits


def test_a_question_is_encoded_once_and_still_answered(counted) -> None:  # type: ignore[no-untyped-def]
    services, counting = counted
    outcome = say(Assistant(services), "c'est quoi le click and collect pour ma boulangerie")
    [reply] = outcome.replies
    assert "Source" in reply.plain() and "http" in reply.html
    # One encoding, of the question, shared by the intent model (if it asked) and the search.
    assert len(counting.asked) == 1 and "click and collect" in counting.asked[0]
    assert outcome.encoded is True
    assert services.understanding.snapshot() == (1, 1)
    with services.db.session() as session:
        question = session.scalar(select(Message).where(Message.direction == "in"))
        assert question.intent == "ask_sell_online" and question.hits and question.answered


def test_an_unsure_message_is_encoded_once_for_the_intent_and_the_clarification(counted) -> None:  # type: ignore[no-untyped-def]
    services, counting = counted
    outcome = say(Assistant(services), "et pour le reste ?")
    assert outcome.replies  # the bot is unsure: it clarifies (candidates or help)
    assert counting.asked == ["et pour le reste ?"]
    assert outcome.encoded is True


def test_every_way_of_asking_for_the_diagnostic_asks_for_it_only() -> None:
    """The intent data's own requests for the diagnostic start it without a search (so without
    an encoding); a request with another subject in it is searched first."""
    from bot.flows.diagnostic import asks_for_it_only
    from bot.ranking import TRAIN_DIR
    from nlu.training_data import load_training_data

    asked = [
        e.text for e in load_training_data(TRAIN_DIR).examples if e.intent == "start_diagnostic"
    ]
    assert len(asked) > 50
    assert [t for t in asked if not asks_for_it_only(t)] == []
    assert not asks_for_it_only(
        "tester le niveau informatique de ma secretaire, un test officiel ?"
    )
