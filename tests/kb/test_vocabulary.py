"""The question's rare words a candidate holds and its best rivals lack (ranker evidence)."""

from __future__ import annotations

import math

import pytest

from knowledge_base.lexical import tokens
from knowledge_base.vocabulary import RIVALS, Distinct, Vocabulary

ITEMS = {
    "faux-billet": "Un faux billet : que faire si un client paie avec un faux billet ?",
    "billet-dechire": "Billet déchiré ou abîmé : faut-il l'accepter en caisse ?",
    "especes": "Refuser le paiement en espèces : billet, pièces, ce que dit la loi.",
    "carte": "Paiement par carte bancaire : les frais du terminal.",
    "cheque": "Accepter un chèque : les précautions.",
    "virement": "Un virement reçu : délai et sécurité.",
    "colis": "Envoyer un colis : choisir un transporteur.",
}


@pytest.fixture(scope="module")
def vocabulary() -> Vocabulary:
    return Vocabulary(ITEMS.items())


def test_the_item_alone_in_holding_a_rare_word_of_the_question_has_it_as_its_own(
    vocabulary: Vocabulary,
) -> None:
    ids = ["faux-billet", "billet-dechire", "especes", "carte", "cheque"]
    found = dict(
        zip(
            ids,
            vocabulary.distinct(tokens("un client me tend un billet déchiré"), ids),
            strict=True,
        )
    )
    # "déchiré" is only in its entry; "billet" is in three items, "client" in one.
    assert found["billet-dechire"].own > 0
    assert found["billet-dechire"].missed > 0  # "client" is the fake-note entry's
    # Each of the two notes' entries owns the word the other misses.
    assert found["faux-billet"].own == found["billet-dechire"].missed
    assert found["faux-billet"].missed == found["billet-dechire"].own
    assert found["carte"] == Distinct(0.0, found["carte"].missed)
    assert found["carte"].missed > found["billet-dechire"].missed
    for distinct in found.values():
        assert 0.0 <= distinct.own <= 1.0 and 0.0 <= distinct.missed <= 1.0


def test_a_word_every_rival_holds_tells_nothing_apart(vocabulary: Vocabulary) -> None:
    ids = ["faux-billet", "billet-dechire", "especes"]
    for distinct in vocabulary.distinct(tokens("billet"), ids):
        assert distinct == Distinct(0.0, 0.0)


def test_the_words_are_weighted_by_how_few_items_hold_them(vocabulary: Vocabulary) -> None:
    asked = vocabulary.asked(tokens("billet transporteur"))
    assert asked["transporteur"] > asked["billet"]  # one item against three
    assert asked["transporteur"] == pytest.approx(math.log(1 + len(ITEMS) / 2))


def test_question_form_words_and_figures_are_not_what_is_asked(vocabulary: Vocabulary) -> None:
    assert vocabulary.asked(tokens("c'est légal ? je dois faire quoi, 50 €")) == {}
    ids = ["faux-billet", "billet-dechire"]
    assert vocabulary.distinct(tokens("c'est quoi ?"), ids) == [Distinct(0.0, 0.0)] * 2


def test_only_the_best_candidates_are_rivals(vocabulary: Vocabulary) -> None:
    """An item ranked beyond the rivals does not take a word from the first ones."""
    ids = ["carte", "cheque", "virement", "especes", "faux-billet", "colis", "billet-dechire"]
    assert ids.index("billet-dechire") >= RIVALS
    found = vocabulary.distinct(tokens("billet déchiré"), ids)
    dechire = vocabulary.asked(tokens("billet déchiré"))
    # "billet" is held by two rivals (espèces, faux billet): neither owns it; "déchiré" by
    # no rival: every rival misses nothing of it, and the item beyond them owns it.
    assert found[0] == Distinct(0.0, dechire["billet"] / sum(dechire.values()))
    assert found[-1].own == pytest.approx(dechire["dechir"] / sum(dechire.values()))
    assert found[-1].missed == 0.0


def test_an_item_unknown_to_the_index_holds_no_word(vocabulary: Vocabulary) -> None:
    found = vocabulary.distinct(tokens("billet déchiré"), ["ajoute-depuis", "billet-dechire"])
    assert found[0].own == 0.0 and found[0].missed == pytest.approx(1.0)
