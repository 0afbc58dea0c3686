"""A question that asks for a figure gets the passage that states one (probe10, issue 10)."""

from __future__ import annotations

from types import SimpleNamespace

import numpy as np
import pytest

from bot.figures import DATE, DURATION, MONEY, NUMBER, asked_figure, states_figure
from tests.bot.test_answer_shape import _hit, _turn


@pytest.mark.parametrize(
    ("question", "kind"),
    [
        ("facture electronique obligatoire quand pr une micro qui facture des pros", DATE),
        ("c'est quand la réforme ?", DATE),
        ("amende si j oublie le numero siren sur une facture", MONEY),
        ("frais sumup c combien par transaction", MONEY),
        ("une cliente veut que j efface sa fiche, j ai combien de temps", DURATION),
        ("quel délai pour répondre ?", DURATION),
        ("mailchimp gratuit jusqu a combien de contacts", NUMBER),
        ("seuil franchise tva", NUMBER),
        # "quand" followed by its subject is a conjunction: nothing is asked of a calendar
        ("quel outil pour facturer quand on est micro-entrepreneur", None),
        ("que faire quand un client ne paie pas", None),
        ("c'est quoi le RGPD ?", None),
    ],
)
def test_the_figure_a_question_asks_for(question: str, kind: str | None) -> None:
    assert asked_figure(question) == kind


def test_a_text_states_a_figure_of_one_kind_not_another() -> None:
    fine = "Une mention manquante est sanctionnée de 15 € par omission."
    assert states_figure(fine, MONEY) and not states_figure(fine, DATE)
    assert states_figure("jusqu'à 75 000 euros d'amende", MONEY)
    calendar = "à partir du 1er septembre 2027, vos factures devront être électroniques"
    assert states_figure(calendar, DATE) and not states_figure(calendar, MONEY)
    assert states_figure("Dans un délai d'un mois à compter de la demande.", DURATION)
    assert not states_figure("Un logiciel qui produit du Factur-X.", DURATION)
    assert states_figure("jusqu'à 500 contacts", NUMBER)


def test_a_paraphrase_without_the_date_asked_does_not_overrule_the_guide_that_states_it() -> None:
    """ "facture électronique obligatoire quand ?": the guide ranked first gives the dates;
    the entry on which tool a micro-entrepreneur uses reads close but states none. Asked
    which tool, the same entry still wins over the guide."""
    from bot.answers import _matching_faq

    turn = _turn()
    guide = _hit("facture-electronique-ce-qui-change-tpe", "guide", 0.894, 0.99)
    entry = _hit("fe-quel-outil-micro-entrepreneur", "faq", 0.93, 0.98)
    when = "facture electronique obligatoire quand pr une micro qui facture des pros"
    assert _matching_faq(turn, [guide, entry], False, asked_figure(when)) is None  # type: ignore[arg-type]
    which = "quel logiciel pour la facture electronique pr une micro"
    found = _matching_faq(turn, [guide, entry], False, asked_figure(which))  # type: ignore[arg-type]
    assert found is not None and found.id == "fe-quel-outil-micro-entrepreneur"


def test_a_paraphrase_that_states_the_figure_asked_still_wins() -> None:
    """ "j'ai combien de temps ?" and an entry that says "un mois": the entry answers."""
    from bot.answers import _matching_faq

    turn = _turn()
    guide = _hit("fichier-clients-durees-conservation", "guide", 0.877, 0.97)
    entry = _hit("droit-acces-delai-reponse-un-mois", "faq", 0.93, 0.96)
    question = "une cliente veut que j efface sa fiche, j ai combien de temps"
    found = _matching_faq(turn, [guide, entry], False, asked_figure(question))  # type: ignore[arg-type]
    assert found is not None and found.id == "droit-acces-delai-reponse-un-mois"


def _sections_turn(scores: dict[str, float]):  # type: ignore[no-untyped-def]
    """The real content, with the section cosines a search would give."""
    turn = _turn()
    search = SimpleNamespace(sections=lambda guide_id, vector: list(scores.items()))
    turn.services = SimpleNamespace(search=search)
    return turn


def test_a_question_on_a_fine_leads_with_the_section_that_states_it() -> None:
    """ "amende si j'oublie le SIREN": the summary (on the mentions) matches as well as the
    section "Combien ça coûte" (15 € par omission); the section leads. A question asking for
    no figure keeps the overview, and one the overview already answers keeps it too."""
    from bot.answers import _answering_section

    guide_id = "mentions-obligatoires-conservation-factures"
    turn = _sections_turn(
        {
            "": 0.873,
            "De quoi s'agit-il ?": 0.841,
            "Les mentions obligatoires": 0.871,
            "Combien ça coûte": 0.873,
            "Les pièges à éviter": 0.85,
        }
    )
    guide = turn.kb.guides[guide_id]
    fine = "amende si j oublie le numero siren sur une facture"
    section = _answering_section(turn, guide, np.zeros(4), asked_figure(fine))
    assert section is not None and section.heading == "Combien ça coûte"
    assert states_figure(section.text, MONEY)
    plain = "il faut mettre le numero siren sur une facture ?"
    assert _answering_section(turn, guide, np.zeros(4), asked_figure(plain)) is None
    # The summary already gives the date of the reform: the overview answers "quand".
    assert states_figure(guide.summary, DATE)
    when = "le siren du client sur la facture c est obligatoire quand"
    assert _answering_section(turn, guide, np.zeros(4), asked_figure(when)) is None


def test_a_section_far_below_the_overview_does_not_lead_for_its_figure() -> None:
    from bot.answers import FIGURE_SECTION_MARGIN, _answering_section

    turn = _sections_turn({"": 0.90, "Combien ça coûte": 0.90 - 2 * FIGURE_SECTION_MARGIN})
    guide = turn.kb.guides["mentions-obligatoires-conservation-factures"]
    fine = "amende si j oublie le numero siren sur une facture"
    assert _answering_section(turn, guide, np.zeros(4), asked_figure(fine)) is None


def test_a_question_that_states_its_own_figure_does_not_ask_for_one() -> None:
    """The merchant's own figure is what they know ("1,5 %"): they ask how to compare."""
    question = "les frais cb me prennent 1,5% de ma marge, comment comparer les offres ?"
    assert asked_figure(question) is None
    assert asked_figure("les frais cb, comment comparer les offres ?") == MONEY
