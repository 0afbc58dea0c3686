"""A merchant's introduction, however typed, does not change the answer to the question after
it: "J’ai une boulangerie à Lyon, sumup ou zettle pour encaisser ?" is answered as the
question alone (issue 10, "real first messages")."""

from __future__ import annotations

import pytest

from bot.assistant import Assistant
from tests.bot.test_assistant import Chat

INTRODUCED = [
    # apostrophes and accents as a phone types them
    ("J’ai une boulangerie à Lyon, ", "sumup ou zettle pour encaisser ?"),
    # several clauses
    (
        "Bonjour, je suis fleuriste à Nantes, je tiens une petite boutique, ",
        "sumup ou zettle pour encaisser ?",
    ),
    ("Moi c’est Julie, je gère un salon de coiffure. ", "sumup ou zettle pour encaisser ?"),
    ("Hello, I'm a baker in Lyon. ", "which European tool can replace Mailchimp?"),
    # a greeting alone: not answered "Bonjour ! Quelle est votre question ?"
    ("Bonjour ! ", "coffre fort de mdp pr l equipe"),
    ("Bonsoir madame, ", "site pr mon resto"),
    ("Bonjour ! ", "visio francaise securisee"),
]


@pytest.mark.parametrize(("introduction", "question"), INTRODUCED)
def test_an_introduction_does_not_change_the_answer(
    services,  # type: ignore[no-untyped-def]
    introduction: str,
    question: str,
) -> None:
    alone = Chat(Assistant(services), user="alone")
    introduced = Chat(Assistant(services), user="introduced")
    expected = alone.say(question)[0].plain().splitlines()[0]
    assert introduced.say(introduction + question)[0].plain().splitlines()[0] == expected
