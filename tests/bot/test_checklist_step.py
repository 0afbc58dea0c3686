"""A narrow question served a plan gets the step that answers it, not the plan's first
three titles (issue 10, passage-level answers: "combien de photos par produit sur ma
boutique en ligne ?" got "Vendre en ligne en 10 étapes" and its first steps)."""

from __future__ import annotations

import pytest

from bot.answers import FIRST_STEPS, checklist_answer
from bot.passage_choice import STEP_STEMS, answering_step
from knowledge_base.lexical import tokens
from tests.bot.test_answer_shape import _turn

STEPS = [
    "Choisir votre canal. Une boutique à vous ou une place de marché, selon votre budget.",
    "Faire les photos. Photographiez chaque produit sous deux ou trois angles, à la lumière "
    "du jour. Chaque produit a au moins deux photos nettes.",
    "Mettre en place le paiement. Activez la carte bancaire et un paiement sûr pour la boutique.",
    "Organiser la livraison. Choisissez un transporteur et des frais de port clairs.",
    "Rédiger vos conditions de vente. Délai de rétractation, garanties, médiateur.",
    "Publier les mentions légales. Nom, adresse, numéro SIREN, hébergeur.",
    "Tester une commande. Passez une vraie commande du panier à la livraison.",
    "Annoncer l'ouverture. Prévenez vos clients en boutique et sur les réseaux.",
]
TITLE = "Vendre en ligne en 8 étapes"


def _stems(steps: list[str]) -> list[frozenset[str]]:
    return [frozenset(tokens(text)) for text in steps]


@pytest.mark.parametrize(
    ("question", "step"),
    [
        ("combien de photos par produit sur ma boutique en ligne ?", 1),
        ("quel transporteur et quels frais de port pour mes colis ?", 3),
        # the plan's own subject, or a question's form words, point to no step
        ("vendre en ligne, je commence par quoi ?", None),
        ("combien ça coûte, pourquoi faut-il le faire ?", None),
        # one shared word is not enough ("boutique" is in two steps, "photos" alone is one)
        ("des photos ?", None),
        # nothing the plan says
        ("mes newsletters arrivent dans les spams, pourquoi ?", None),
    ],
)
def test_the_step_holding_the_questions_rare_words_answers(question: str, step: int | None) -> None:
    assert answering_step(question, _stems(STEPS), TITLE) == step


def test_no_step_when_two_steps_hold_the_question_as_much() -> None:
    tied = [
        "Photographier la vitrine. Des photos de la façade.",
        "Photographier les produits. Des photos de la façade aussi.",
    ]
    assert STEP_STEMS == 2  # both hold the question's two words
    assert answering_step("photos de la façade", _stems(tied), "Vitrine et produits") is None


def test_a_narrow_question_gets_the_step_with_its_plan_one_press_away() -> None:
    log: dict[str, object] = {}
    turn = _turn(log)
    checklist = turn.kb.checklists["vendre-en-ligne"]
    reply = checklist_answer(  # type: ignore[arg-type]
        turn, checklist, "combien de photos par produit sur ma boutique en ligne ?"
    )
    index = next(i for i, s in enumerate(checklist.steps) if s.id == "photos-descriptions")
    step = checklist.steps[index]
    assert reply.html.startswith(f"<b>{step.title}</b>")
    assert "deux ou trois angles" in reply.html  # the step's "how", which holds the fact
    assert f"Étape {index + 1} sur {len(checklist.steps)}" in reply.html
    assert checklist.steps[0].title not in reply.html  # not the plan's first titles
    data = [button.data for row in reply.buttons for button in row]
    assert data[0] == "ck:o:vendre-en-ligne"
    assert f"gd:{step.guides[0]}" in data
    assert log == {"answered": True, "checklist": "vendre-en-ligne"}
    assert len(reply.html) < 1250  # fits a phone


def test_a_broad_question_or_none_keeps_the_first_steps() -> None:
    turn = _turn()
    checklist = turn.kb.checklists["vendre-en-ligne"]
    for question in (None, "je voudrais vendre mes gâteaux en ligne, je commence par quoi ?"):
        reply = checklist_answer(turn, checklist, question)  # type: ignore[arg-type]
        assert reply.html.startswith(f"<b>{checklist.title}</b>")
        shown = [step.title in reply.html for step in checklist.steps]
        assert shown == [True] * FIRST_STEPS + [False] * (len(checklist.steps) - FIRST_STEPS)
