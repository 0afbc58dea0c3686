"""The intent cross-validations' shared folds: what is held out, what is trained on."""

from __future__ import annotations

import numpy as np
from sklearn.svm import LinearSVC

from benchmarks.intent_folds import FOLDS, REPEATS, Folds

WORDS = ("facture", "bonjour", "merci")
TEXTS = [f"{word} numero {i}" for i in range(15) for word in WORDS]
Y = np.array([0, 1, 2] * 15)


def _folds(weights: np.ndarray) -> Folds:
    return Folds(TEXTS, Y, weights, weights == 1.0, first_seed=0)


def test_only_hand_written_examples_are_held_out_and_each_once_per_seed() -> None:
    weights = np.where(np.arange(len(TEXTS)) < 36, 1.0, 0.2)
    folds = _folds(weights)
    assert len(folds.splits) == REPEATS * FOLDS
    for seed in range(REPEATS):
        held = np.concatenate([he for r, _, he in folds.splits if r == seed])
        assert sorted(held) == list(range(36))
    for _, train, held in folds.splits:
        assert not set(train) & set(held)
        assert set(range(36, 45)) <= set(train)  # the weighted ones train in every part


def test_a_variant_leaves_out_the_examples_it_weighs_zero() -> None:
    weights = np.where(np.arange(len(TEXTS)) < 36, 1.0, 0.2)
    folds = _folds(weights)
    without = np.where(np.arange(len(TEXTS)) < 36, 1.0, 0.0)
    rows = folds.training_rows(0, without)
    assert rows.size and (rows < 36).all()
    assert set(range(36, 45)) <= set(folds.training_rows(0, weights))


def test_scores_cover_every_held_out_example_and_separate_the_intents() -> None:
    folds = _folds(np.ones(len(TEXTS)))
    vectors = np.eye(3, dtype=np.float32)[Y]
    scores = folds.linear(lambda: LinearSVC(C=1.0, random_state=0), [(vectors, 1.0)])
    scores += folds.neighbours(vectors, k=1)
    assert scores.shape == (REPEATS, len(TEXTS), 3)
    assert folds.predictions(scores).shape == (REPEATS, len(TEXTS))
    assert folds.accuracy(scores) == [100.0, 100.0]
