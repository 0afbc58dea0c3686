"""A guide's overview shows its how-to steps ("Comment faire"), not an earlier numbered list."""

from __future__ import annotations

from bot.answers import guide_reply
from bot.kb_eval import mentions
from tests.bot.test_answer_shape import _turn


def test_an_overview_shows_the_how_to_steps_not_an_earlier_numbered_list() -> None:
    """ "Droit à l'image, musique et influenceurs" numbers four rules on the right to one's
    image before its "Comment faire": "En pratique" shows what to do (the music library
    for professional accounts among it), not the image rules again."""
    turn = _turn()
    guide = turn.kb.guides["droit-image-musique-influenceurs"]
    assert guide.steps()[1].startswith("Dans chaque application, repérez la bibliothèque")
    reply = guide_reply(turn, guide)  # type: ignore[arg-type]
    assert mentions(reply.plain(), ["bibliothèque"])


def test_a_guide_without_a_how_to_heading_keeps_its_first_numbered_list() -> None:
    turn = _turn()
    guide = turn.kb.guides["choisir-plateforme-agreee"]  # "Comment choisir"
    assert len(guide.steps()) >= 2
