from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from nlu.default import DEFAULT_TEST_FILE, DEFAULT_TRAIN_DIR
from nlu.training_data import (
    TrainingDataError,
    dump_training_data,
    load_training_data,
    parse_example,
)
from tests.conftest import FIXTURES

SAMPLE = """\
version: "3.1"
nlu:
- intent: find_alternative
  examples: |
    - une alternative a [Gmail](tool)
    - remplacer [le drive de google]{"entity": "tool", "value": "Google Drive"} svp
    - pour ma [boulangerie](sector) un outil europeen
- intent: greet
  examples:
  - text: bonjour
  - text: salut
    metadata: {source: test}
- synonym: WhatsApp
  examples: |
    - whatsap
    - wattsap
- lookup: tool
  examples: |
    - Zoom
    - Slack
- regex: siren
  examples: |
    - \\b\\d{9}\\b
responses:
  utter_greet:
  - text: "Bonjour !"
"""


def write(tmp_path: Path, text: str, name: str = "nlu.yml") -> Path:
    path = tmp_path / name
    path.write_text(text, encoding="utf-8")
    return path


def test_loads_every_section_of_rasa_format(tmp_path: Path) -> None:
    data = load_training_data(write(tmp_path, SAMPLE))
    assert data.intent_counts() == {"find_alternative": 3, "greet": 2}
    first = data.examples[0]
    assert first.text == "une alternative a Gmail"
    assert [(s.start, s.end, s.entity, s.value) for s in first.entities] == [
        (18, 23, "tool", "Gmail")
    ]
    second = data.examples[1]
    span = second.entities[0]
    assert second.text[span.start : span.end] == "le drive de google"
    assert span.value == "Google Drive"
    # An annotated value also works as a synonym, as in Rasa.
    assert data.synonyms["le drive de google"] == "Google Drive"
    assert data.synonyms["whatsap"] == "WhatsApp"
    assert data.lookups == {"tool": ["Zoom", "Slack"]}
    assert data.regexes == {"siren": [r"\b\d{9}\b"]}
    assert data.examples[3].text == "bonjour"
    assert first.source.endswith("nlu.yml:5")


def test_round_trip_through_writer(tmp_path: Path) -> None:
    data = load_training_data(write(tmp_path, SAMPLE))
    again = load_training_data(write(tmp_path, dump_training_data(data), "again.yml"))
    assert [(e.text, e.intent, e.entities) for e in again.examples] == [
        (e.text, e.intent, e.entities) for e in data.examples
    ]
    assert again.synonyms == data.synonyms
    assert again.lookups == data.lookups
    assert again.regexes == data.regexes
    assert again.content_hash() == data.content_hash()


def test_legacy_short_entity_value_syntax() -> None:
    text, spans = parse_example("[gmal](tool:Gmail) et [zoom](tool)")
    assert text == "gmal et zoom"
    assert [(s.value, s.entity) for s in spans] == [("Gmail", "tool"), ("zoom", "tool")]


def test_real_rasa_project_file_loads() -> None:
    data = load_training_data(FIXTURES / "rasa_moodbot_nlu.yml")
    assert "mood_unhappy" in data.intents
    assert len(data.intents) == 7


def test_folder_loads_all_files_and_skips_non_nlu_files(tmp_path: Path) -> None:
    write(tmp_path, SAMPLE, "a.yml")
    write(
        tmp_path, 'version: "3.1"\nnlu:\n- intent: thanks\n  examples: |\n    - merci\n', "b.yaml"
    )
    write(tmp_path, 'version: "3.1"\nstories: []\n', "stories.yml")
    data = load_training_data(tmp_path)
    assert data.intent_counts()["thanks"] == 1
    assert len(data.examples) == 6


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        (
            "version: '3.1'\nnlu:\n- intent: greet\n  examples: |\n    - ok\n- intent: a: b\n",
            "nlu.yml:6: YAML invalide",
        ),
        ("version: '3.1'\nnlu:\n- intent: greet\n", "n'a pas de clé `examples`"),
        (
            "version: '3.1'\nnlu:\n- intent: greet\n  examples: |\n    - un [crochet ouvert\n",
            "nlu.yml:5: crochet non fermé",
        ),
        (
            "version: '3.1'\nnlu:\n- intent: greet\n  examples: |\n    - [x]{\"value\": 1}\n",
            'sans clé "entity"',
        ),
        (
            "version: '3.1'\nnlu:\n- intent: greet\n  examples: |\n    pas de tiret\n",
            "nlu.yml:5: un exemple doit commencer par",
        ),
        (
            "version: '3.1'\nnlu:\n- regex: r\n  examples: |\n    - (\n",
            "expression régulière invalide",
        ),
        ("version: '3.1'\nnlu: 12\n", "`nlu:` doit être une liste"),
    ],
)
def test_malformed_data_gives_file_and_line(tmp_path: Path, text: str, expected: str) -> None:
    with pytest.raises(TrainingDataError) as caught:
        load_training_data(write(tmp_path, text))
    assert expected in str(caught.value)


def test_every_problem_is_reported_at_once(tmp_path: Path) -> None:
    text = (
        "version: '3.1'\nnlu:\n- intent: a\n  examples: |\n    - [x\n"
        "- intent: b\n- intent: c\n  examples: |\n    - ok\n"
    )
    with pytest.raises(TrainingDataError) as caught:
        load_training_data(write(tmp_path, text))
    assert len(caught.value.problems) == 2


def test_missing_path_is_a_clear_error(tmp_path: Path) -> None:
    with pytest.raises(TrainingDataError, match="introuvable"):
        load_training_data(tmp_path / "absent")


def test_jsonl_benchmark_format(tmp_path: Path) -> None:
    path = write(
        tmp_path, '{"text": "allume la lumiere", "intent": "iot"}\n\n{"text": "x"}\n', "data.jsonl"
    )
    with pytest.raises(TrainingDataError, match=r"data\.jsonl:3"):
        load_training_data(path)


def test_shipped_data_covers_every_intent_of_the_contract() -> None:
    import yaml

    spec = (
        yaml.safe_load(
            (Path(__file__).parents[3] / "shared" / "spec" / "intents.yml").read_text(
                encoding="utf-8"
            )
        )
        if (Path(__file__).parents[3] / "shared").exists()
        else None
    )
    train = load_training_data(DEFAULT_TRAIN_DIR)
    test = load_training_data(DEFAULT_TEST_FILE)
    counts = train.intent_counts()
    if spec is not None:
        contract = set(spec["ask_intents"]) | set(spec["control_intents"])
        assert contract <= set(counts), contract - set(counts)
    assert min(counts.values()) >= 40
    assert min(test.intent_counts().values()) >= 15
    assert set(test.intents) == set(train.intents)
    # Held out means held out: no test sentence appears in the training data.
    assert not {t.lower() for t in test.texts()} & {t.lower() for t in train.texts()}
    assert len(train.lookups["tool"]) >= 150
    assert len(train.lookups["sector"]) >= 40


def test_an_intent_block_weight_applies_to_its_examples(tmp_path: Path) -> None:
    path = write(
        tmp_path,
        'version: "3.1"\nnlu:\n- intent: ask_payment\n  metadata: {weight: 0.25}\n'
        "  examples: |\n    - frais cb\n    - tpe pas cher\n"
        "- intent: greet\n  examples: |\n    - bonjour\n",
    )
    data = load_training_data(path)
    assert data.weights() == [0.25, 0.25, 1.0]
    back = write(tmp_path, dump_training_data(data), "back.yml")
    assert load_training_data(back).weights() == [0.25, 0.25, 1.0]
    unweighted = write(
        tmp_path, path.read_text(encoding="utf-8").replace("  metadata: {weight: 0.25}\n", "")
    )
    assert load_training_data(unweighted).content_hash() != data.content_hash()


@pytest.mark.parametrize("weight", ["0", "-1", "beaucoup"])
def test_a_weight_must_be_a_positive_number(tmp_path: Path, weight: str) -> None:
    path = write(
        tmp_path,
        f'version: "3.1"\nnlu:\n- intent: greet\n  metadata: {{weight: {weight}}}\n'
        "  examples: |\n    - bonjour\n",
    )
    with pytest.raises(TrainingDataError, match=r"nlu\.yml:4: `weight`"):
        load_training_data(path)


def test_the_faq_questions_in_the_training_data_are_up_to_date() -> None:
    """`nlu/data/train/knowledge_base.yml` is exported from the FAQ: an edited FAQ entry
    must be re-exported, or the intent model learns from stale questions."""
    root = Path(__file__).resolve().parents[2]
    done = subprocess.run(
        [sys.executable, str(root / "scripts" / "export_kb_questions.py"), "--check"],
        capture_output=True,
        text=True,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    exported = load_training_data(DEFAULT_TRAIN_DIR / "knowledge_base.yml")
    assert len(exported.examples) > 1000
    assert set(exported.weights()) == {0.2}
