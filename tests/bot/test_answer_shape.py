"""Reading a message before answering it, and composing the parts of a reply."""

from __future__ import annotations

import pytest

from bot.answers import excerpt, source_label, source_links
from bot.question_shape import is_broad, shape


@pytest.mark.parametrize(
    ("message", "focus", "other"),
    [
        (
            "bonjour, je suis boulangère à Lyon et je voudrais vendre mes gâteaux en ligne, "
            "je commence par quoi ?",
            "je voudrais vendre mes gâteaux en ligne, je commence par quoi ?",
            "",
        ),
        (
            "jsuis coiffeuse, je dois garder combien de temps les factures ?",
            "je dois garder combien de temps les factures ?",
            "",
        ),
        ("je suis perdu", "je suis perdu", ""),  # nothing left to ask without the intro
        (
            "faut il un bandeau cookies ? et combien coute un nom de domaine en .fr ?",
            "faut il un bandeau cookies ?",
            "combien coute un nom de domaine en .fr ?",
        ),
        ("c'est quoi ? bof", "c'est quoi ? bof", ""),  # too short to be two questions
    ],
)
def test_introduction_and_second_question_are_read_apart(
    message: str, focus: str, other: str
) -> None:
    shaped = shape(message)
    assert shaped.focus == focus
    assert shaped.other == other
    assert focus in shaped.asked  # the intent model still reads the introduction


@pytest.mark.parametrize(
    ("question", "broad"),
    [
        ("c quoi le rgpd", True),
        ("par où commencer pour vendre en ligne", True),
        ("newsletter", True),
        ("combien de temps garder les factures", False),
        ("quelle amende si ma caisse n'est pas certifiée", False),
    ],
)
def test_broad_questions_get_an_overview(question: str, broad: bool) -> None:
    assert is_broad(question) is broad


def test_excerpt_cuts_at_a_sentence_and_keeps_lists() -> None:
    text = "**Dix ans** pour les factures. " + "Une phrase de plus. " * 60 + "\n- un point"
    cut = excerpt(text, limit=120)
    assert cut.startswith("Dix ans pour les factures.") and cut.endswith(" …")
    assert len(cut) <= 125 and "**" not in cut
    assert excerpt("Intro.\n- premier\n- second") == "Intro.\n• premier\n• second"


def test_sources_name_each_publisher_once() -> None:
    assert source_label("https://www.cnil.fr/fr/cookies") == "CNIL"
    assert source_label("https://entreprendre.service-public.fr/vosdroits/F1") == (
        "Entreprendre.Service-Public"
    )
    assert source_label("https://docs.example.org/page") == "docs.example.org"
    html = source_links(
        ("https://www.cnil.fr/a", "https://www.cnil.fr/b", "https://www.urssaf.fr/c")
    )
    assert html.count("CNIL") == 1 and ">1</a>" in html and ">2</a>" in html
    assert '<a href="https://www.urssaf.fr/c">Urssaf</a>' in html
    assert "&lt;" in source_links(("https://x.fr/<script>",))  # escaped


def test_tools_are_listed_under_the_label_their_data_earns() -> None:
    from types import SimpleNamespace

    from bot.answers import tools_lines
    from bot.texts import text
    from knowledge_base.loader import load_knowledge_base
    from tests.kb.test_validation import CONTENT

    kb, _ = load_knowledge_base(CONTENT)
    turn = SimpleNamespace(t=lambda key, **values: text("fr", key, **values))
    matomo, proton = kb.tools["matomo"], kb.tools["proton-mail"]
    assert not matomo.european and proton.european
    lines = tools_lines(turn, [matomo, proton])  # type: ignore[arg-type]
    assert lines[0].startswith("🇪🇺 Outils européens") and "Proton Mail" in lines[0]
    assert "Matomo" not in lines[0]
    assert lines[1].startswith("🔓 Libres, hébergeables en Europe") and "Matomo" in lines[1]
    unverified = next(t for t in kb.tools.values() if t.country == "FR" and not t.european)
    [other] = tools_lines(turn, [unverified])  # type: ignore[arg-type]
    assert other.startswith("🧭 Autres outils cités") and "(" in other
