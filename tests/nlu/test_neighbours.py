"""The nearest-neighbour scores beside the linear intent model, and format 3 folders."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from nlu.default import load_or_train
from nlu.model import FORMAT_VERSION, MANIFEST, NLUModel
from nlu.neighbours import Neighbours


def test_each_intent_scores_the_mean_similarity_of_its_k_nearest_examples() -> None:
    vectors = np.array([[1, 0], [0.8, 0.6], [0, 1], [-1, 0], [0.6, 0.8]], dtype=np.float32)
    y = np.array([0, 0, 1, 1, 1])
    near = Neighbours.fit(vectors, y, n_classes=3, k=2, weight=2.0)
    scores = near.scores(np.array([2.0, 0.0]))  # not unit length: normalised
    # intent 0: similarities 1.0 and 0.8; intent 1: 0.0, -1.0, 0.6 -> the two best 0.6, 0.0;
    # intent 2 has no example: 0.
    assert scores.shape == (1, 3)
    assert scores[0] == pytest.approx([2.0 * 0.9, 2.0 * 0.3, 0.0])
    batch = near.scores(vectors)
    assert batch.shape == (5, 3)
    assert batch[2] == pytest.approx(near.scores(vectors[2])[0])


def test_one_message_and_a_batch_get_the_same_confidences(encoder, session_data_dir: Path) -> None:  # type: ignore[no-untyped-def]
    model = load_or_train(
        session_data_dir / "models" / "nlu", encoder, cache_dir=session_data_dir / "cache"
    )
    assert model.classifier.neighbours is not None
    texts = ["bonjour", "mon site ne s'affiche plus sur mobile", "vous êtes un robot ?"]
    vectors = encoder.encode_queries(texts)
    batch = model.classifier.predict_proba(texts, vectors)
    for row, text, vector in zip(batch, texts, vectors, strict=True):
        top = model.classifier.rank(text, vector, top=1)[0]
        assert top.intent == model.classifier.classes[int(row.argmax())]
        assert top.confidence == pytest.approx(float(row.max()), abs=2e-4)


def test_a_version_3_model_parses_without_neighbours_and_the_default_is_retrained(
    encoder, session_data_dir: Path, tmp_path: Path
) -> None:  # type: ignore[no-untyped-def]
    shipped = load_or_train(
        session_data_dir / "models" / "nlu", encoder, cache_dir=session_data_dir / "cache"
    )
    folder = tmp_path / "model"
    shipped.save(folder)
    classifier = json.loads((folder / "classifier.json").read_text(encoding="utf-8"))
    del classifier["neighbours"]
    (folder / "classifier.json").write_text(json.dumps(classifier), encoding="utf-8")
    manifest = json.loads((folder / MANIFEST).read_text(encoding="utf-8"))
    manifest["format_version"] = 3
    (folder / MANIFEST).write_text(json.dumps(manifest), encoding="utf-8")

    old = NLUModel.load(folder, encoder)
    assert old.classifier.neighbours is None
    vector = encoder.encode_queries(["je veux parler à un conseiller"])[0]
    assert old.parse("je veux parler à un conseiller", vector).intent == "human_handoff"

    retrained = load_or_train(folder, encoder, cache_dir=session_data_dir / "cache")
    assert retrained.manifest["format_version"] == FORMAT_VERSION == 6
    assert retrained.classifier.neighbours is not None
