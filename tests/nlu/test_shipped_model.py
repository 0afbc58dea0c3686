"""The product's own model on its held-out test file: the quality bar of the issue."""

from __future__ import annotations

from pathlib import Path

import pytest

from nlu.default import DEFAULT_TEST_FILE, DEFAULT_TRAIN_DIR, load_or_train
from nlu.evaluation import report_from_predictions
from nlu.model import NLUModel
from nlu.text import fold
from nlu.training_data import load_training_data


@pytest.fixture(scope="module")
def shipped(encoder, session_data_dir: Path) -> NLUModel:  # type: ignore[no-untyped-def]
    return load_or_train(
        session_data_dir / "models" / "nlu", encoder, cache_dir=session_data_dir / "cache"
    )


def test_held_out_accuracy_and_macro_f1(shipped: NLUModel) -> None:
    test = load_training_data(DEFAULT_TEST_FILE)
    results = shipped.parse_batch(test.texts())
    report = report_from_predictions(test.texts(), test.labels(), [r.intent for r in results])
    assert report["accuracy"] >= 0.95, report["errors"]
    assert report["macro_f1"] >= 0.93


def test_entities_of_the_held_out_file_are_found(shipped: NLUModel) -> None:
    test = load_training_data(DEFAULT_TEST_FILE)
    synonyms = load_training_data(DEFAULT_TRAIN_DIR).synonyms

    def canonical(value: str) -> str:
        # The test file was written separately: "cafe" there is "café" in the lookup table.
        return fold(synonyms.get(" ".join(value.lower().split()), value))

    expected = found = 0
    for example in test.examples:
        wanted = {(s.entity, canonical(s.value)) for s in example.entities}
        got = {(e.entity, canonical(e.value)) for e in shipped.extractor.extract(example.text)}
        expected += len(wanted)
        found += len(wanted & got)
    assert expected > 50
    assert found / expected >= 0.9


def test_default_model_is_cached_until_the_data_changes(
    shipped: NLUModel,
    encoder,
    session_data_dir: Path,
    tmp_path: Path,  # type: ignore[no-untyped-def]
) -> None:
    again = load_or_train(session_data_dir / "models" / "nlu", encoder)
    assert again.manifest["created"] == shipped.manifest["created"]
    # Other data in the same folder: retrained, and the manifest says on what.
    data = tmp_path / "train"
    data.mkdir()
    (data / "nlu.yml").write_text(
        'version: "3.1"\nnlu:\n- intent: greet\n  examples: |\n    - bonjour\n    - salut\n'
        "- intent: thanks\n  examples: |\n    - merci\n    - merci bien\n",
        encoding="utf-8",
    )
    model_dir = tmp_path / "model"
    load_or_train(model_dir, encoder, data_dir=data)
    data.joinpath("nlu.yml").write_text(
        data.joinpath("nlu.yml").read_text(encoding="utf-8") + "    - merci beaucoup\n",
        encoding="utf-8",
    )
    other = load_or_train(model_dir, encoder, data_dir=data)
    assert other.intents == ["greet", "thanks"]
    assert other.manifest["n_examples"] == 5
    assert other.manifest["data_hash"] != shipped.manifest["data_hash"]
    assert DEFAULT_TRAIN_DIR.is_dir()
