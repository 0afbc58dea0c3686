"""Whether a product may be used ("Zoom c'est américain, j'ai le droit ?") is a data
protection question, not a request for its replacements (issue 10): the sweep of
`benchmarks/tool_sweeps.py` found it answered with a list of European tools."""

from __future__ import annotations

from bot.question_shape import asks_for_alternative, asks_if_allowed
from tests.bot.test_assistant import Chat, chat  # noqa: F401 (the fixture)


def test_asking_whether_a_tool_may_be_used_is_read() -> None:
    for text in [
        "on m'a dit que Zoom c'était américain, j'ai le droit de l'utiliser pour mes clients ?",
        "Slack est américain, c'est interdit pour une entreprise française ?",
        "calendly c ok niveau rgpd ?",
        "mailchimp c'est légal ?",
        "shopify est-il conforme ?",
        "dropbox autorisé pour les fichiers clients ?",
    ]:
        assert asks_if_allowed(text), text
    for text in [
        "une alternative européenne à Zoom ?",
        "Slack c'est américain, quoi à la place ?",
        "c'est quoi Qonto ?",
        "droite ou gauche ?",
    ]:
        assert not asks_if_allowed(text), text


def test_through_the_assistant(chat: Chat) -> None:  # noqa: F811
    question = "on m'a dit que Zoom c'était américain, j'ai le droit de l'utiliser ?"
    assert asks_if_allowed(question) and not asks_for_alternative(question)
    [reply] = chat.say(question)
    assert "Data Privacy Framework" in reply.plain()
    assert not reply.plain().startswith("Des alternatives")
    # Asking for a replacement as well still gets the replacements.
    [reply] = chat.say("une alternative européenne à Zoom, c'est plus légal ?")
    assert "kMeet" in reply.plain() and "Data Privacy Framework" not in reply.plain()
