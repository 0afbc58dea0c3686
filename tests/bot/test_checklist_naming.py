"""Which checklist a message names: by a word of its id or title, else none in particular."""

from __future__ import annotations

from pathlib import Path

import pytest

from bot.flows.checklists import asks_for_none_in_particular, named_in, searched
from knowledge_base.content_model import Checklist
from knowledge_base.loader import load_knowledge_base
from knowledge_base.search import Hit

CONTENT = Path(__file__).resolve().parents[2] / "knowledge_base" / "content"


@pytest.fixture(scope="module")
def shipped() -> list[Checklist]:
    kb, _ = load_knowledge_base(CONTENT)
    return list(kb.checklists.values())


@pytest.mark.parametrize(
    ("message", "expected"),
    [
        ("checklist rgpd", "rgpd-essentiel"),
        ("check list rgpd pr un cabinet de kine", "rgpd-essentiel"),
        ("checklist site vitrine", "site-vitrine"),
        ("check list newsletter", "lancer-newsletter"),
        ("checklist pour quitter google", "quitter-outils-americains"),
        ("une checklist pour vendre en ligne stp", "vendre-en-ligne"),
        ("Checklist Réseaux Sociaux pour ma boulangerie", "reseaux-sociaux"),
        ("checklist rgpd pour mon entreprise", "rgpd-essentiel"),
    ],
)
def test_a_word_of_one_title_names_it(
    shipped: list[Checklist], message: str, expected: str
) -> None:
    assert named_in(message, shipped) == expected


@pytest.mark.parametrize(
    "message",
    ["checklist", "mes checklists", "je voudrais les étapes", "un plan pour mon commerce"],
)
def test_words_that_only_ask_name_none(shipped: list[Checklist], message: str) -> None:
    assert asks_for_none_in_particular(message)
    assert named_in(message, shipped) is None


def test_a_word_two_titles_share_names_neither(shipped: list[Checklist]) -> None:
    # "en ligne" is in "Vendre en ligne" and in the online payment checklist's id.
    assert named_in("checklist en ligne", shipped) is None
    assert not asks_for_none_in_particular("checklist en ligne")


def _hit(doc_id: str, kind: str, score: float, confidence: float) -> Hit:
    return Hit(doc_id, kind, doc_id, "", score, (), confidence=confidence)


@pytest.mark.parametrize(
    ("hits", "expected"),
    [
        # the ranker trusts one plan far more than the others: it opens
        (
            [
                ("lancer-newsletter", "checklist", 0.84, 1.0),
                ("site-vitrine", "checklist", 0.35, 0.16),
            ],
            "lancer-newsletter",
        ),
        # three plans alike ("suivre un plan étape par étape"): the list
        (
            [
                ("site-vitrine", "checklist", 0.46, 0.94),
                ("visibilite-locale", "checklist", 0.76, 0.92),
            ],
            None,
        ),
        # a high fused score the ranker doubts ("les étapes pour me lancer"): the list
        (
            [
                ("lancer-newsletter", "checklist", 1.39, 0.78),
                ("site-vitrine", "checklist", 0.7, 0.29),
            ],
            None,
        ),
        # a guide ranked first: no checklist opens
        (
            [("creer-site-vitrine", "guide", 2.0, 0.99), ("site-vitrine", "checklist", 1.5, 0.5)],
            None,
        ),
        # no ranker in service (probability 0): the fused score decides
        ([("site-vitrine", "checklist", 1.5, 0.0)], "site-vitrine"),
        ([("site-vitrine", "checklist", 0.9, 0.0)], None),
        ([], None),
    ],
)
def test_a_searched_checklist_opens_only_when_it_stands_out(
    hits: list[tuple[str, str, float, float]], expected: str | None
) -> None:
    assert searched([_hit(*h) for h in hits]) == expected
