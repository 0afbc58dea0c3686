"""Staff corrections file: written atomically, read back exactly, merged over shipped data."""

from __future__ import annotations

from pathlib import Path

import pytest

from nlu.corrections import (
    clean_text,
    read_corrections,
    training_data_with_corrections,
    write_corrections,
)
from nlu.default import DEFAULT_TRAIN_DIR
from nlu.training_data import load_training_data

# Texts a merchant may type, that YAML or the Rasa markup would otherwise misread.
VERBATIM = [
    '"bonjour"',
    "'salut'",
    '""',
    "''",
    '"',
    'l\'appli "Caisse+" : ça marche ?',
    "# pas un commentaire",
    "prix #1 : 20 € # vraiment",
    "- tiret en tête",
    "-",
    "--",
    "---",
    "...",
    "a: b",
    "clé: {valeur: 1}",
    "{{ modèle }} et (parenthèses)",
    "| > & * ! % @ ` ~",
    "null",
    "true",
    "~",
    "123",
    "C:\\chemin\\vers\\fichier \\",
    "emoji 🍕 et accents éèàç œ",
    "zéro\u200blargeur et\ufeffBOM",
]
# Texts stored in a cleaned form: one line, single spaces, no control characters, no brackets.
CLEANED = [
    "tabulation\tet  espaces   multiples",
    "  espaces autour  ",
    "ligne une\nligne deux\r\nligne trois\u2028quatre\x85cinq",
    "contrôle\x00\x1b\x7f\x9fsupprimé",
    "[Gmail](tool) ne marche plus",
    '[caisse]{"entity": "tool"} en panne',
    "crochet ouvert [ seul",
    "crochet fermé ] seul",
    "[[double]]",
]


def test_tricky_texts_round_trip(tmp_path: Path) -> None:
    file = tmp_path / "nlu" / "corrections.yml"
    texts = VERBATIM + CLEANED
    write_corrections(file, [(text, "ask_payment") for text in texts])
    data = load_training_data(file)
    assert sorted(data.texts()) == sorted({clean_text(t) for t in texts})
    assert all(e.entities == () for e in data.examples)  # never read as entity markup
    assert data.intents == ["ask_payment"]
    for text in VERBATIM:  # back character for character
        assert clean_text(text) == text
        assert text in data.texts()
    assert "Gmail ne marche plus" not in data.texts()
    assert "(Gmail)(tool) ne marche plus" in data.texts()
    assert "ligne une ligne deux ligne trois quatre cinq" in data.texts()
    assert "contrôle supprimé" in data.texts()
    assert read_corrections(file) == [(e.text, e.intent) for e in data.examples]
    assert [p.name for p in file.parent.iterdir()] == ["corrections.yml"]  # no temp file left


def test_file_is_deduplicated_sorted_and_removed_when_empty(tmp_path: Path) -> None:
    file = tmp_path / "corrections.yml"
    write_corrections(
        file,
        [
            ("Mon site est lent", "ask_website"),
            ("payer par carte", "ask_payment"),
            ("mon  SITE est lent", "ask_cybersecurity"),  # same folded text: the later wins
            ("   ", "ask_gdpr"),  # nothing to learn
            ("le rgpd", "ask_gdpr"),
        ],
    )
    text = file.read_text(encoding="utf-8")
    assert text.startswith('version: "3.1"\nnlu:\n- intent: ask_cybersecurity\n')
    assert text.index("intent: ask_cybersecurity") < text.index("intent: ask_gdpr")
    assert text.index("intent: ask_gdpr") < text.index("intent: ask_payment")
    assert read_corrections(file) == [
        ("mon SITE est lent", "ask_cybersecurity"),
        ("le rgpd", "ask_gdpr"),
        ("payer par carte", "ask_payment"),
    ]
    with pytest.raises(ValueError):
        write_corrections(file, [("bonjour", "intent: pirate\n- x")])
    assert len(read_corrections(file)) == 3  # a refused write leaves the file as it was
    write_corrections(file, [])
    assert not file.exists()
    write_corrections(file, [])  # no file, no error
    assert read_corrections(file) == []


def _shipped(tmp_path: Path) -> Path:
    train = tmp_path / "train"
    train.mkdir()
    (train / "nlu.yml").write_text(
        'version: "3.1"\nnlu:\n'
        "- intent: ask_payment\n  examples: |\n"
        "    - payer par carte\n    - un terminal de paiement pour ma [boulangerie](sector)\n"
        "- intent: ask_website\n  examples: |\n    - créer mon site\n    - mon site est lent\n"
        "- lookup: sector\n  examples: |\n    - boulangerie\n",
        encoding="utf-8",
    )
    return train


def test_correction_replaces_a_shipped_example(tmp_path: Path) -> None:
    train = _shipped(tmp_path)
    corrections = tmp_path / "corrections.yml"
    write_corrections(
        corrections,
        [
            ("Un terminal de paiement  pour ma boulangerie", "ask_website"),  # relabelled
            ("payer par carte", "ask_payment"),  # already right: no duplicate
            ("mes avis google", "ask_local_visibility"),  # new
        ],
    )
    data = training_data_with_corrections(train, corrections)
    by_text = {e.text: e for e in data.examples}
    assert len(data.examples) == len(by_text) == 5
    relabelled = by_text["un terminal de paiement pour ma boulangerie"]
    assert relabelled.intent == "ask_website"
    assert [s.entity for s in relabelled.entities] == ["sector"]  # the annotation is kept
    assert by_text["payer par carte"].intent == "ask_payment"
    assert by_text["mes avis google"].intent == "ask_local_visibility"
    assert data.lookups == {"sector": ["boulangerie"]}
    # Only "already right" corrections: the data, hence the model, is unchanged.
    write_corrections(corrections, [("PAYER par carte", "ask_payment")])
    assert (
        training_data_with_corrections(train, corrections).content_hash()
        == load_training_data(train).content_hash()
    )


def test_without_corrections_the_data_hash_is_unchanged(tmp_path: Path) -> None:
    shipped = load_training_data(DEFAULT_TRAIN_DIR).content_hash()
    missing = tmp_path / "nlu" / "corrections.yml"
    assert training_data_with_corrections(DEFAULT_TRAIN_DIR, missing).content_hash() == shipped
    missing.parent.mkdir()
    missing.write_text("", encoding="utf-8")  # an empty file counts as no file
    assert training_data_with_corrections(DEFAULT_TRAIN_DIR, missing).content_hash() == shipped


def test_corrections_file_inside_the_train_folder_is_not_read_twice(tmp_path: Path) -> None:
    train = _shipped(tmp_path)
    write_corrections(train / "corrections.yml", [("mon site est lent", "ask_cybersecurity")])
    data = training_data_with_corrections(train, train / "corrections.yml")
    assert [e.intent for e in data.examples if e.text == "mon site est lent"] == [
        "ask_cybersecurity"
    ]
