"""A question naming a catalogued tool, outside a request for alternatives, is answered by
that tool's card when the ranker puts it first and trusts it (issue 10: "adyen c pour les
petits commerces ?" got the guide on public aid ranked behind it)."""

from __future__ import annotations

import numpy as np
from sqlalchemy import select

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


def _reads_as(intent: str, confidence: float, entities=()):  # type: ignore[no-untyped-def]
    """An intent model that reads every message as `intent` with `entities`."""
    from nlu.classifier import IntentScore
    from nlu.model import ParseResult

    def parse(text: str, encode=None, intent_text=None) -> ParseResult:  # type: ignore[no-untyped-def]
        ranking = [IntentScore(intent, confidence)]
        return ParseResult(text, intent, confidence, list(entities), ranking)

    return parse


def test_small_talk_that_asks_about_a_tool_gets_the_tool(
    chat: Chat,  # noqa: F811 (the fixture)
    services,
    monkeypatch,
) -> None:  # type: ignore[no-untyped-def]
    """ "c'est quoi Qonto ?" reads like "c'est quoi toi ?" to the intent model (a bot
    challenge at 0.47 before this rule, so 76 of the catalogue's 202 tools asked that way got
    "je suis un assistant automatique"): a message that names a catalogued tool and asks
    something is searched, and the tool's card answers it."""
    monkeypatch.setattr(services.nlu, "parse", _reads_as("bot_challenge", 0.47))
    chat.say("c'est quoi Qonto ?")
    assert "assistant automatique" not in chat.text() and "Qonto" in chat.text()
    with services.db.session() as session:
        asked = session.scalars(select(Message).where(Message.direction == "in")).all()[-1]
        assert asked.intent == "bot_challenge" and asked.hits[0]["id"] == "qonto"


def test_small_talk_keeps_its_reply_when_certain_or_naming_nothing(
    chat: Chat,  # noqa: F811 (the fixture)
    services,
    monkeypatch,
) -> None:  # type: ignore[no-untyped-def]
    """ "t'es chatgpt ?" names a tool but asks the bot what it is, and the intent model is
    certain of it; "salut ça vaa ?" holds a typo-tolerant guess (Canva), no name; "c'est
    quoi ton nom ?" names nothing. Each keeps its small-talk reply, with no search."""
    from nlu.entities import Entity

    chatgpt = Entity("tool", "ChatGPT", "chatgpt", 5, 12, 1.0, "lookup")
    monkeypatch.setattr(services.nlu, "parse", _reads_as("bot_challenge", 0.9998, [chatgpt]))
    chat.say("t'es chatgpt ?")
    assert "assistant automatique" in chat.text()
    canva = Entity("tool", "Canva", "vaa", 9, 12, 0.67, "fuzzy")
    monkeypatch.setattr(services.nlu, "parse", _reads_as("greet", 0.6, [canva]))
    chat.say("salut ca vaa ?")
    assert "Bonjour" in chat.text()
    monkeypatch.setattr(services.nlu, "parse", _reads_as("bot_challenge", 0.6))
    chat.say("c'est quoi ton nom ?")
    assert "assistant automatique" in chat.text()
    with services.db.session() as session:
        incoming = session.scalars(select(Message).where(Message.direction == "in")).all()
        assert len(incoming) == 3 and all(not m.hits for m in incoming)


def test_the_catalogue_finds_tools_by_their_whole_name() -> None:
    """Case and accents aside, on word boundaries; a name inside a longer word is no name."""
    turn = _turn()
    named = turn.kb.tools_named_in("vous connaissez QONTO et recèto ?")
    assert {t.id for t in named} == {"qonto", "receto"}
    assert turn.kb.tools_named_in("une qontoise et un chat") == []


def test_off_topic_that_asks_about_a_catalogued_tool_gets_the_tool(
    chat: Chat,  # noqa: F811 (the fixture)
    services,
    monkeypatch,
) -> None:  # type: ignore[no-untyped-def]
    """ "combien coûte Zelty ?" read as off topic got "je suis spécialisé dans le numérique
    des commerces" (26 of the catalogue's 202 tools asked that way): a catalogued tool named
    is in scope. A product the catalogue does not hold ("Uber") keeps the off-topic reply."""
    from nlu.entities import Entity

    monkeypatch.setattr(services.nlu, "parse", _reads_as("out_of_scope", 0.88))
    chat.say("combien coûte Zelty ?")
    assert "spécialisé" not in chat.text() and "Zelty" in chat.text()
    uber = Entity("tool", "Uber", "uber", 14, 18, 1.0, "lookup")
    monkeypatch.setattr(services.nlu, "parse", _reads_as("out_of_scope", 0.88, [uber]))
    chat.say("combien coûte un Uber pour l'aéroport ?")
    assert "spécialisé" in chat.text()


def test_a_price_asked_by_the_tool_s_name_gets_its_card_even_doubted() -> None:
    """ "Pennylane c'est gratuit ?", "c'est quoi Pennylane ?": the card states its price and
    what it is; a guide nearly as likely, or the ranker's doubt, no longer turns it into "Je
    ne suis pas sûr d'avoir compris"."""
    turn = _turn()
    doubted = [
        _hit("pennylane", "tool", 0.0, ABSTAIN_BELOW - 0.2),
        _hit("logiciel-comptabilite-tpe", "guide", 0.88, 0.6),
    ]
    for question in [
        "Pennylane c'est gratuit ?",
        "combien coûte pennylane par mois",
        "c'est quoi pennylane ?",
    ]:
        tool = _named_tool_first(turn, question, doubted, [], ABSTAIN_BELOW)  # type: ignore[arg-type]
        assert tool is not None and tool.id == "pennylane", question
    # Not its price, or not named, or not first: as before.
    for question in ["Pennylane c'est français ?", "un logiciel de compta gratuit ?"]:
        assert _named_tool_first(turn, question, doubted, [], ABSTAIN_BELOW) is None  # type: ignore[arg-type]
    behind = list(reversed(doubted))
    assert _named_tool_first(turn, "Pennylane c'est gratuit ?", behind, [], ABSTAIN_BELOW) is None  # type: ignore[arg-type]


def test_a_price_asked_through_the_assistant(chat: Chat, services) -> None:  # type: ignore[no-untyped-def]  # noqa: F811
    [reply] = chat.say("Pennylane c'est gratuit ?")
    assert reply.plain().startswith("• Pennylane")
    assert services.kb.tools["pennylane"].pricing.entry_price in reply.plain()
    assert count(services, Message, answered=True) == 1


def test_two_tools_named_to_choose_between_get_both_cards() -> None:
    """ "Qonto ou Shine ?" got Shine's card alone (the one ranked first), "Tiime ou Indy ?"
    the unsure turn: both cards now, in the order the message names them."""
    from bot.answers import compared_answer, tools_compared

    turn = _turn()
    hits = [_hit("shine", "tool", 0.0, 0.6), _hit("qonto", "tool", 0.0, 0.5)]
    tools = tools_compared(turn, "Qonto ou Shine, lequel choisir ?", hits)  # type: ignore[arg-type]
    assert [t.id for t in tools] == ["qonto", "shine"]
    reply = compared_answer(turn, tools)  # type: ignore[arg-type]
    assert reply.plain().index("Qonto") < reply.plain().index("Shine")
    assert turn.log["answered"] is True and turn.log["tools"] == ["qonto", "shine"]
    # A name inside a longer one is that one: "Caisse SumUp Pro (ex-Tiller)" is not SumUp too.
    hits = [_hit("tiller", "tool", 0.0, 0.9), _hit("zelty", "tool", 0.0, 0.8)]
    question = "Caisse SumUp Pro (ex-Tiller) ou Zelty ?"
    assert [t.id for t in tools_compared(turn, question, hits)] == ["tiller", "zelty"]  # type: ignore[arg-type]
    # One tool named, no choice asked, or a guide ranked first: not a comparison.
    first = [_hit("qonto", "tool", 0.0, 0.9), _hit("shine", "tool", 0.0, 0.5)]
    assert tools_compared(turn, "Qonto c'est européen ?", first) == []  # type: ignore[arg-type]
    assert tools_compared(turn, "j'ai Qonto et Shine", first) == []  # type: ignore[arg-type]
    guide = [_hit("logiciel-comptabilite-tpe", "guide", 0.9, 0.9), *first]
    assert tools_compared(turn, "Qonto ou Shine ?", guide) == []  # type: ignore[arg-type]


def test_a_comparison_through_the_assistant(chat: Chat, services) -> None:  # type: ignore[no-untyped-def]  # noqa: F811
    [reply] = chat.say("Mollie ou Adyen, lequel choisir pour mon commerce ?")
    assert reply.plain().startswith("Les outils que vous comparez")
    assert "Mollie" in reply.plain() and "Adyen" in reply.plain()
    assert count(services, Message, answered=True) == 1
