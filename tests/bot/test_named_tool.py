"""A question naming a catalogued tool, outside a request for alternatives, is answered by
that tool's card when the ranker puts it first and trusts it (issue 10: "adyen c pour les
petits commerces ?" got the guide on public aid ranked behind it)."""

from __future__ import annotations

import numpy as np

from bot.answers import (
    ABSTAIN_BELOW,
    NAMED_TOOL_LOGIT_GAP,
    _logit,
    _named_tool_first,
    tool_answer,
)
from bot.store.models import Message
from tests.bot.test_answer_shape import _hit, _turn
from tests.bot.test_assistant import Chat, chat, count  # noqa: F401 (the fixture)

ADYEN = "adyen c pour les petits commerces ou que pr les grosses enseignes ?"


def _adyen_hits(confidence: float, guide_confidence: float = 0.37):  # type: ignore[no-untyped-def]
    return [
        _hit("adyen", "tool", 0.0, confidence),
        _hit("aides-publiques-numerisation", "guide", 0.91, guide_confidence),
        _hit("accepter-paiement-carte-en-ligne", "guide", 0.90, 0.30),
    ]


def test_a_named_tool_ranked_first_and_trusted_answers() -> None:
    turn = _turn()
    tool = _named_tool_first(turn, ADYEN, _adyen_hits(0.985), [], ABSTAIN_BELOW)  # type: ignore[arg-type]
    assert tool is not None and tool.id == "adyen"
    # Named through the intent model's entity only ("viva.com" written another way).
    hits = [_hit("viva-com", "tool", 0.0, 0.99)]
    found = _named_tool_first(turn, "le tpe de viva c fiable ?", hits, ["Viva.com"], ABSTAIN_BELOW)  # type: ignore[arg-type]
    assert found is not None and found.id == "viva-com"


def test_no_card_when_the_tool_is_doubted_not_first_or_not_named() -> None:
    turn = _turn()
    doubted = _adyen_hits(ABSTAIN_BELOW - 0.01)
    assert _named_tool_first(turn, ADYEN, doubted, [], ABSTAIN_BELOW) is None  # type: ignore[arg-type]
    behind = list(reversed(_adyen_hits(0.985)))
    assert _named_tool_first(turn, ADYEN, behind, [], ABSTAIN_BELOW) is None  # type: ignore[arg-type]
    # Ranked first and trusted, but the merchant did not name it: the usual answer.
    unnamed = "quel prestataire de paiement pour une grosse enseigne ?"
    assert _named_tool_first(turn, unnamed, _adyen_hits(0.985), [], ABSTAIN_BELOW) is None  # type: ignore[arg-type]


def test_no_card_when_a_guide_or_plan_is_nearly_as_likely() -> None:
    """ "les versements sumup arrivent groupés, comment je retrouve les ventes ?" asks how to
    do something: the payment plan, nearly as likely as the SumUp card, answers it."""
    turn = _turn()
    question = "les versements sumup arrivent groupes, je retrouve les ventes comment ?"
    top = 0.933

    def hits(plan: float):  # type: ignore[no-untyped-def]
        return [
            _hit("sumup", "tool", 0.0, top),
            _hit("mollie", "tool", 0.0, 0.99),  # another tool does not count
            _hit("paiement-en-ligne", "checklist", 0.88, plan),
        ]

    near = _probability(_logit(top) - NAMED_TOOL_LOGIT_GAP + 0.1)
    far = _probability(_logit(top) - NAMED_TOOL_LOGIT_GAP - 0.1)
    assert _named_tool_first(turn, question, hits(near), [], ABSTAIN_BELOW) is None  # type: ignore[arg-type]
    tool = _named_tool_first(turn, question, hits(far), [], ABSTAIN_BELOW)  # type: ignore[arg-type]
    assert tool is not None and tool.id == "sumup"


def _probability(logit: float) -> float:
    return float(1 / (1 + np.exp(-logit)))


def test_the_card_says_what_the_tool_is_for_whom_and_its_sources() -> None:
    log: dict[str, object] = {}
    turn = _turn(log)
    adyen = turn.kb.tools["adyen"]
    reply = tool_answer(turn, adyen, _adyen_hits(0.985))  # type: ignore[arg-type]
    text = reply.plain()
    assert text.startswith("• Adyen (")
    assert adyen.good_for in text and "Pour qui" in text
    assert "📚" in text and f"{adyen.verified:%d/%m/%Y}" in text
    assert log["answered"] is True and log["tools"] == ["adyen"]
    # The guide behind it is unrelated (rated 0.37): no button to it.
    assert not any(b.data.startswith("gd:") for row in reply.buttons for b in row)
    trusted_guide = tool_answer(turn, adyen, _adyen_hits(0.985, guide_confidence=0.9))  # type: ignore[arg-type]
    assert [b.data for row in trusted_guide.buttons for b in row] == [
        "gd:aides-publiques-numerisation"
    ]


def test_the_merchant_reads_the_card_through_the_assistant(chat: Chat, services) -> None:  # type: ignore[no-untyped-def]  # noqa: F811
    [reply] = chat.say(ADYEN)
    assert reply.plain().startswith("• Adyen (")
    assert "Pour qui" in reply.plain()
    assert count(services, Message, answered=True) == 1


def test_an_unsure_intent_still_gets_the_card_of_a_named_tool() -> None:
    """ "sylius c quoi ?": the intent model is unsure, the ranker sure of the tool named
    (0.991, the next item 0.015). Not named, a tool never answers from the unsure turn."""
    from bot.answers import SURE_WHEN_INTENT_UNSURE, sure_answer

    turn = _turn()
    hits = [
        _hit("sylius", "tool", 0.0, 0.991),
        _hit("paiement-c-est-quoi-wero", "faq", 0.80, 0.015),
    ]
    vector = np.zeros(384, dtype=np.float32)
    question = "sylius c quoi ? le dev qui me fait la boutique en ligne me le propose"
    [reply] = sure_answer(turn, question, vector, hits, SURE_WHEN_INTENT_UNSURE)  # type: ignore[arg-type]
    assert reply.plain().startswith("• Sylius (")
    unnamed = "un logiciel libre pour une boutique en ligne ?"
    assert sure_answer(turn, unnamed, vector, hits, SURE_WHEN_INTENT_UNSURE) == []  # type: ignore[arg-type]
