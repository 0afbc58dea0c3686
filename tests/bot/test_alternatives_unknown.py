"""A request for alternatives to a product the catalogue lists no replacement for (issue
10): said so, with the tools found only when the message says what they are for ("une
alternative à Xero ?" once got Wero, for its letters), and a European product the catalogue
knows under a longer name ("N26" for N26 Business) is that tool, not an unknown one."""

from __future__ import annotations

from bot.answers import answer_alternatives, catalogue_tool, says_what_for
from bot.store.models import Message
from nlu.entities import Entity
from nlu.model import ParseResult
from tests.bot.test_answer_shape import _hit, _turn
from tests.bot.test_assistant import Chat, chat, count  # noqa: F401 (the fixture)


def _parse(text: str, *tools: str) -> ParseResult:
    entities = []
    for name in tools:
        start = text.lower().index(name.lower())
        end = start + len(name)
        entities.append(Entity("tool", name, text[start:end], start, end, 1.0, "t"))
    return ParseResult(text, "find_alternative", 0.99, entities)


def test_what_the_tool_is_for_is_read_beyond_its_name_and_the_request() -> None:
    for text, tool in [
        ("une alternative européenne à Sage ?", "Sage"),
        ("un équivalent français de Sage svp, gratuit si possible", "Sage"),
        ("Sage c'est pas européen, quoi à la place ?", "Sage"),
    ]:
        assert not says_what_for(text, _parse(text, tool)), text
    for text, tool in [
        ("un équivalent français de Sage pour la paie ?", "Sage"),
        ("opentable francais pr les resas du resto ?", "OpenTable"),
    ]:
        assert says_what_for(text, _parse(text, tool)), text


def test_an_unknown_product_with_nothing_else_said_gets_no_lookalike_tools() -> None:
    turn = _turn()
    assert not turn.kb.tools_replacing("Sage"), "pick a product the catalogue lacks"
    hits = [_hit("zeeg", "tool", 0.0, 0.76), _hit("wix-europeen-alternatives", "faq", 0.8, 0.4)]
    [reply] = answer_alternatives(turn, ["Sage"], hits, what_for=lambda: False)  # type: ignore[arg-type]
    assert "pas encore d'alternative à <b>Sage</b>" in reply.html
    assert "Zeeg" not in reply.plain() and "• " not in reply.plain()
    assert turn.log["answered"] is False
    # Said what for: what the search found, said as the closest, still logged unanswered.
    turn = _turn()
    [reply] = answer_alternatives(turn, ["Sage"], hits, what_for=lambda: True)  # type: ignore[arg-type]
    assert "s'en rapproche" in reply.plain() and "Zeeg" in reply.plain()
    assert turn.log["answered"] is False
    # Asked about the product, not for others ("Sage c'est européen ?"): it is said to be
    # missing from the catalogue, not its alternatives.
    [reply] = answer_alternatives(turn, ["Sage"], hits, lambda: False, others=False)  # type: ignore[arg-type]
    assert reply.html.startswith("<b>Sage</b> n'est pas dans mon catalogue, et je n'y ai pas")
    [reply] = answer_alternatives(turn, ["Sage"], hits, lambda: True, others=False)  # type: ignore[arg-type]
    assert reply.plain().startswith("Sage n'est pas dans mon catalogue. Voici ce qui")


def test_a_product_named_by_its_short_name_is_the_catalogue_s_own_tool() -> None:
    turn = _turn()
    assert not turn.kb.tools_replacing("N26")
    hits = [_hit("n26-business", "tool", 0.0, 0.9), _hit("qonto", "tool", 0.0, 0.5)]
    [reply] = answer_alternatives(turn, ["N26"], hits, what_for=lambda: False)  # type: ignore[arg-type]
    assert reply.plain().startswith("N26 est dans mon catalogue")
    assert reply.plain().index("N26 Business") < reply.plain().index("Qonto")
    assert turn.log["answered"] is True
    # The tools listed with it are of its own kind, not those found for their letters.
    turn = _turn()
    hits = [_hit("qonto", "tool", 0.0, 0.99), _hit("qwant", "tool", 0.0, 0.6)]
    [reply] = answer_alternatives(turn, ["Qonto"], hits)  # type: ignore[arg-type]
    assert reply.plain().startswith("Qonto est dans mon catalogue")
    assert "Qwant" not in reply.plain() and "Shine" in reply.plain()
    # Asked about the tool itself ("Qonto c'est européen ?"): its card, no others added.
    [reply] = answer_alternatives(turn, ["Qonto"], hits, others=False)  # type: ignore[arg-type]
    assert reply.plain().startswith("Qonto est dans mon catalogue :")
    assert reply.plain().count("• ") == 1 and "Qwant" not in reply.plain()
    # A publisher's name stands for its tools: the one the search ranked first.
    ranked = [_hit("kdrive", "tool", 0.0, 0.9), _hit("ksuite", "tool", 0.0, 0.8)]
    found = catalogue_tool(turn, "Infomaniak", ranked)  # type: ignore[arg-type]
    assert found is not None and found.id == "kdrive"
    # Whole words only: a name inside another word is not that tool.
    assert catalogue_tool(turn, "Infoman", ranked) is None  # type: ignore[arg-type]


def test_through_the_assistant(chat: Chat, services) -> None:  # type: ignore[no-untyped-def]  # noqa: F811
    assert not services.kb.tools_replacing("Bolt")
    [reply] = chat.say("une alternative européenne à Bolt ?")
    assert "pas encore d'alternative à <b>Bolt</b>" in reply.html
    assert "• " not in reply.plain()  # not bol, the Dutch marketplace
    assert count(services, Message, answered=False) == 1
    [reply] = chat.say("une alternative européenne à N26 ?")
    assert reply.plain().startswith("N26 est dans mon catalogue")
    assert count(services, Message, answered=True) == 1
    # A catalogued tool the intent model does not know by name leads all the same, with
    # tools of its kind when others are asked for.
    [reply] = chat.say("une alternative à Zeeg ?")
    assert reply.plain().startswith("Zeeg est dans mon catalogue, avec des outils proches")
    assert reply.plain().count("• ") >= 2
    # Its own name in the catalogue comes before the one the intent model reads ("KeePass"
    # is also a way of writing KeePassXC, a product the catalogue does not list).
    [reply] = chat.say("une alternative à KeePass ?")
    assert reply.plain().startswith("KeePass est dans mon catalogue")
