"""The guide's sentence on a narrow question's own words, added when the reply lacks it."""

from __future__ import annotations

from datetime import date

import pytest

from bot.answers import guide_reply, key_sentence
from bot.passage_choice import reads_alone, scored_sentences
from knowledge_base.content_model import Guide, Section
from knowledge_base.sentences import plain_units

COOKIES = Guide(
    id="cookies",
    title="Le bandeau cookies",
    topic="ask_gdpr",
    summary="Les cookies non indispensables demandent l'accord du visiteur. Refuser doit être "
    "aussi simple qu'accepter.",
    body="",
    sections=(
        Section("Pourquoi c'est utile pour votre commerce", "Un bandeau clair rassure."),
        Section(
            "Les règles essentielles",
            "Les cookies de mesure d'audience peuvent être exemptés.\n"
            "- Un bouton « Tout refuser » au même niveau que « Tout accepter ».\n"
            "- Bonne pratique CNIL : conserver le choix, y compris un refus, environ six\n"
            "  mois avant de redemander.",
        ),
        Section(
            "Comment faire",
            "1. Faites l'inventaire des cookies.\n2. Installez un bandeau.\n3. Testez le refus.",
        ),
    ),
    sources=("https://www.cnil.fr/",),
    verified=date(2026, 12, 4),
)


def test_units_join_wrapped_lines_and_split_sentences_and_items() -> None:
    units = plain_units(
        "Une **phrase** longue\nqui continue. Une autre.\n\n- un point\n1. une étape"
    )
    assert units == ["Une phrase longue qui continue.", "Une autre.", "un point", "une étape"]


def test_a_rare_word_of_the_question_outweighs_the_guide_subject() -> None:
    question = "les cookies, je redemande au bout de combien de temps ?"
    best = scored_sentences(question, COOKIES.sentences)[0]
    assert "six mois avant de redemander" in best.text
    assert "redemand" in " ".join(best.shared) and best.part == 2


def test_only_a_whole_sentence_is_quoted_alone() -> None:
    assert reads_alone("Bonne pratique CNIL : conserver le choix, y compris un refus, six mois.")
    assert not reads_alone("Idéal seul, moins pratique en équipe.")
    assert not reads_alone("Quand un client paie par carte, plusieurs acteurs se rémunèrent :")
    assert not reads_alone("facturation et livre des recettes : gratuit à 15 € ;")


def test_the_sentence_on_the_question_is_added_to_an_overview_that_lacks_it() -> None:
    point = key_sentence(
        "le choix des cookies, je le redemande au bout de combien de mois", COOKIES, None
    )
    assert point is not None
    heading, sentence = point
    assert heading == "Les règles essentielles" and "six mois" in sentence


def test_nothing_is_added_when_the_reply_shows_the_sentence_or_no_word_is_rare() -> None:
    rules = COOKIES.sections[1]
    assert (
        key_sentence("je redemande le choix des cookies au bout de combien de mois", COOKIES, rules)
        is None
    )
    assert key_sentence("les cookies c'est obligatoire ?", COOKIES, None) is None


def test_the_added_sentence_follows_the_summary_with_its_section() -> None:
    from types import SimpleNamespace

    from bot.texts import text

    kb = SimpleNamespace(tools={}, checklists={}, checklists_for_topic=lambda topic: [])
    turn = SimpleNamespace(kb=kb, incoming_message_id=None, t=lambda k, **v: text("fr", k, **v))
    point = ("Les règles essentielles", "Bonne pratique CNIL : conserver le choix six mois.")
    reply = guide_reply(turn, COOKIES, point=point)  # type: ignore[arg-type]
    summary_at = reply.html.index("Refuser doit être")
    point_at = reply.html.index("🔎 Bonne pratique CNIL")
    assert summary_at < point_at < reply.html.index("Faites l'inventaire")
    assert "(« Les règles essentielles »)" in reply.html


def test_a_sentence_that_only_repeats_words_the_reply_shows_is_not_added(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """ "Un site vitrine affiche vos horaires": every word of the question it holds is in the
    summary already, so it would add nothing (the weight floor is lifted to see this rule)."""
    monkeypatch.setattr("bot.answers.KEY_SENTENCE_WEIGHT", 0.0)
    guide = Guide(
        id="vitrine",
        title="Le site vitrine",
        topic="ask_website",
        summary="Un site vitrine présente votre commerce. On y trouve vos horaires.",
        body="",
        sections=(
            Section("Détails", "Votre site vitrine affiche vos horaires à jour, même en vacances."),
        ),
        sources=(),
        verified=date(2026, 12, 4),
    )
    assert key_sentence("les horaires sur mon site vitrine ?", guide, None) is None
    assert key_sentence("des horaires à jour sur mon site ?", guide, None) is not None
