"""Replies that state the fact (compose13, issue 10): an overview shows the guide's how-to
steps, and the FAQ entry ranked second follows a guide ranked first when the ranker cannot
tell them apart."""

from __future__ import annotations

import numpy as np

from bot import answers
from bot.answers import ABSTAIN_BELOW, entry_under_guide, guide_reply
from bot.kb_eval import mentions
from tests.bot.test_answer_shape import _hit, _turn

GUIDE = "nom-de-domaine-fr"
ENTRY = "changer-bureau-enregistrement-code-auth"


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


def _domain_hits(second: float):  # type: ignore[no-untyped-def]
    return [
        _hit(GUIDE, "guide", 0.88, 0.97),
        _hit(ENTRY, "faq", 0.90, second),
        _hit("site-vitrine", "checklist", 0.80, 0.50),
    ]


def test_the_entry_ranked_second_follows_a_guide_when_the_ranker_cannot_tell_them_apart(
    monkeypatch,  # type: ignore[no-untyped-def]
) -> None:
    monkeypatch.setattr(answers, "ENTRY_UNDER_GUIDE_GAP", 1.5)
    log: dict[str, object] = {}
    turn = _turn(log)
    shown = _domain_hits(0.93)
    # 0.97 against 0.93: log-odds 3.48 against 2.59, a gap of 0.89
    replies = entry_under_guide(turn, shown, shown[0])  # type: ignore[arg-type]
    assert len(replies) == 1 and log["runner_up"] == ENTRY
    assert mentions(replies[0].plain(), ["code d autorisation"])


def test_no_entry_under_a_guide_when_far_less_likely_doubted_or_not_second(
    monkeypatch,  # type: ignore[no-untyped-def]
) -> None:
    monkeypatch.setattr(answers, "ENTRY_UNDER_GUIDE_GAP", 1.5)
    turn = _turn()
    far = _domain_hits(0.80)  # log-odds 3.48 against 1.39
    assert entry_under_guide(turn, far, far[0]) == []  # type: ignore[arg-type]
    doubted = _domain_hits(ABSTAIN_BELOW - 0.01)
    assert entry_under_guide(turn, doubted, doubted[0]) == []  # type: ignore[arg-type]
    shown = _domain_hits(0.93)
    # the guide shown is not the one ranked first (a guide further down answers)
    assert entry_under_guide(turn, shown[1:], shown[0]) == []  # type: ignore[arg-type]
    monkeypatch.setattr(answers, "ENTRY_UNDER_GUIDE_GAP", 0.0)
    assert entry_under_guide(turn, shown, shown[0]) == []  # type: ignore[arg-type]


def test_a_sure_answer_with_a_guide_first_carries_the_entry_too(monkeypatch) -> None:  # type: ignore[no-untyped-def]
    monkeypatch.setattr(answers, "ENTRY_UNDER_GUIDE_GAP", 1.5)
    log: dict[str, object] = {}
    turn = _turn(log)
    turn.services = type("S", (), {"search": type("X", (), {"sections": lambda *_: []})()})()
    hits = _domain_hits(0.93)
    replies = answers.sure_answer(
        turn,  # type: ignore[arg-type]
        "changer de registrar pour mon .fr, il faut un code ?",
        np.zeros(4),
        hits,  # type: ignore[arg-type]
        answers.SURE_WHEN_INTENT_UNSURE,
    )
    assert log["guide"] == GUIDE and log["runner_up"] == ENTRY
    assert len(replies) == 2
