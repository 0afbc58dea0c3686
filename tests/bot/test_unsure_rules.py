"""Issue 10's rules for questions nothing in the catalogue answers: when a confident intent
still gets the unsure turn, when that turn says plainly that no item fits, and how the
evaluation counts direct answers to such questions."""

from __future__ import annotations

from datetime import date

import pytest

from bot import answers
from bot.flows import clarify
from bot.kb_eval import Answered, answered_sure
from knowledge_base.content_model import Guide
from knowledge_base.loader import split_sections
from knowledge_base.search import Hit
from knowledge_base.sentences import split_sentences


def hit(confidence: float, kind: str = "guide", match: float = 0.5) -> Hit:
    return Hit("x", kind, "Titre", "", 1.0, (), match=match, confidence=confidence)


def test_the_unsure_turn_says_no_item_fits_only_when_the_best_is_far() -> None:
    assert clarify.far([hit(clarify.FAR_BELOW / 2), hit(0.01)])
    assert not clarify.far([hit(clarify.FAR_BELOW), hit(0.01)])
    assert not clarify.far([hit(0.0)])  # no ranker in service: nothing to say it with
    assert not clarify.far([])


def test_the_unsure_turn_quotes_the_sentence_that_fits_the_question() -> None:
    parts = split_sentences(
        [
            "Oui, le bandeau est obligatoire dès qu'un traceur non essentiel est déposé.",
            "Le refus doit être aussi simple que l'acceptation. Gardez le choix six mois.",
        ]
    )
    fits = clarify.fitting_sentence
    assert fits("refus des cookies aussi simple ?", parts) == (
        "Le refus doit être aussi simple que l'acceptation."
    )
    # Fewer than PREVIEW_STEMS of the question's words in any sentence: the answer's lead.
    assert fits("mon site et la pub", parts) == parts[0][0][0]
    assert fits("refus", parts) == parts[0][0][0]
    # A lead too short to read alone goes on to the next sentence.
    short_lead = split_sentences(["Non. Une vente à perte reste interdite hors des soldes."])
    assert fits("rien", short_lead) == "Non. Une vente à perte reste interdite hors des soldes."
    too_long = split_sentences(["Un mot " + "très " * 80 + "long."])
    assert fits("un mot long", too_long) is None
    assert fits("rien", ()) is None


def test_a_guide_is_never_quoted_from_its_list_of_mistakes() -> None:
    body = (
        "## Comment faire\n\nPubliez deux fois par semaine avec une photo de vos produits.\n\n"
        "## Les pièges\n\nPublier le même texte partout sans adapter le format au réseau.\n"
    )
    guide = Guide(
        "g",
        "Publier",
        "ask_social_media",
        "Un plan simple.",
        body,
        split_sections(body),
        (),
        date(2026, 12, 6),
    )
    parts = clarify.quotable_sentences(guide)
    assert [len(p) for p in parts] == [1, 1, 0]
    # The mistake holds the question's words; the guide's lead is quoted instead.
    assert clarify.fitting_sentence("publier le même texte partout", parts) == (
        "Un plan simple. Publiez deux fois par semaine avec une photo de vos produits."
    )


def test_a_confident_intent_is_doubted_only_below_the_abstain_threshold(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(answers, "ABSTAIN_BELOW", 0.4)
    assert answers.doubtful([hit(0.3)])
    assert not answers.doubtful([hit(0.4)])
    assert not answers.doubtful([hit(0.3, "faq", match=answers.VERBATIM_FAQ)])  # asked verbatim
    assert not answers.doubtful([hit(0.0)])  # no ranker
    assert not answers.doubtful([])
    monkeypatch.setattr(answers, "ABSTAIN_BELOW", 0.0)
    assert not answers.doubtful([hit(0.01)])


def test_direct_answers_to_questions_nothing_answers_are_counted() -> None:
    queries = [
        {"text": "a", "answers": []},
        {"text": "b", "answers": []},
        {"text": "c", "answers": ["guide-c"]},
        {"text": "salut", "answers": [], "negative": True},
    ]
    answered = [
        Answered([], "off target", 0.0, True),
        Answered([], "Vouliez-vous dire", 0.0, False),
        Answered([], "right", 0.0, True),
        Answered([], "Bonjour", 0.0, None),
    ]
    report = answered_sure(queries, answered)
    assert report == {"n": 2, "sure": 1, "rate": 0.5, "sure_texts": ["a"]}
