"""The intent model: a linear classifier over `Featurizer` features, with calibrated confidence.

Why linear: on 2 CPU cores it trains in seconds on thousands of examples, predicts in well
under a millisecond once the message vector exists, and its weights are a plain matrix that
saves to `.npz` without pickle. Confidence is a softmax over the decision scores with a
temperature fitted on out-of-fold scores, so "0.8" means roughly "right 8 times in 10".

A second linear model over the n-grams alone (`NgramCascade`, same features but the sentence
vector) answers first when it is sure enough: then the message is never encoded, which is
most of the cost of a parse. "Sure enough" is a threshold chosen on the same out-of-fold
predictions, so that the cascade costs at most `DEFAULT_CASCADE_MARGIN` of accuracy there.

The full model's scores are completed by the nearest training examples
(`neighbours.Neighbours`): chosen by cross-validation on the training data only
(`benchmarks/intent_cv.py`), 87.96 % -> 88.56 % out of fold, and 87.64 % -> 88.72 % on
fresh folds checked once after the choice. The cascade's n-gram model has none.
"""

from __future__ import annotations

import json
import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from .features import Featurizer
from .neighbours import Neighbours

if TYPE_CHECKING:
    from sklearn.svm import LinearSVC

DEFAULT_C = 0.3
# Out-of-fold accuracy the cascade may cost against the full model (0.005: half a point).
DEFAULT_CASCADE_MARGIN = 0.005
Progress = Callable[[str, float], None]  # (stage, fraction done)


@dataclass(frozen=True)
class IntentScore:
    intent: str
    confidence: float


@dataclass
class NgramCascade:
    """The n-gram-only model that decides alone when its confidence reaches `threshold`.

    Its columns are the first `Featurizer.n_features` of the full model's (the same
    vocabularies and idf), so a message's n-grams are cut once for both models."""

    coef: np.ndarray  # (n_classes, n_ngram_features) float32
    intercept: np.ndarray  # (n_classes,)
    temperature: float
    threshold: float | None  # None: never sure enough (the full model always decides)
    # Out-of-fold figures the threshold was chosen on (for the manifest and the report).
    selection: dict[str, float] = field(default_factory=dict)

    def probabilities(self, columns: np.ndarray, values: np.ndarray) -> np.ndarray:
        return softmax((self.coef[:, columns] @ values + self.intercept) * self.temperature)

    def sure(self, confidence: float) -> bool:
        return self.threshold is not None and confidence >= self.threshold


@dataclass
class IntentClassifier:
    featurizer: Featurizer
    classes: list[str]
    coef: np.ndarray  # (n_classes, n_features) float32
    intercept: np.ndarray  # (n_classes,)
    temperature: float = 1.0
    meta: dict[str, object] = field(default_factory=dict)
    cascade: NgramCascade | None = None
    # None for models saved before format 4: the linear scores alone.
    neighbours: Neighbours | None = None

    # -- training ---------------------------------------------------------------------
    @classmethod
    def train(
        cls,
        texts: Sequence[str],
        vectors: np.ndarray,
        labels: Sequence[str],
        *,
        c: float = DEFAULT_C,
        calibration_folds: int = 3,
        seed: int = 0,
        progress: Progress | None = None,
        cascade_margin: float = DEFAULT_CASCADE_MARGIN,
        weights: Sequence[float] | None = None,
    ) -> IntentClassifier:
        """`weights`: how much each example counts (1 by default) in the SVM's loss, the
        calibration and the cascade's threshold; the nearest-neighbour scores use every
        example alike."""
        if len(texts) != len(labels) or len(texts) != len(vectors):
            raise ValueError("texts, vectors and labels must have the same length")
        w = np.ones(len(texts)) if weights is None else np.asarray(weights, dtype=np.float64)
        if len(w) != len(texts) or not (w > 0).all():
            raise ValueError("one positive weight per example")
        classes = sorted(set(labels))
        if len(classes) < 2:
            raise ValueError("il faut au moins deux intentions pour entraîner un modèle")
        y = np.array([classes.index(label) for label in labels])
        report = progress or (lambda stage, fraction: None)

        report("calibration", 0.0)
        out_of_fold = _out_of_fold_scores(
            list(texts), vectors, y, w, c, calibration_folds, seed, report
        )
        temperature, cascade_temperature, threshold = 1.0, 1.0, None
        selection: dict[str, float] = {}
        if out_of_fold is not None:
            full_scores, ngram_scores = out_of_fold
            temperature = _fit_temperature(full_scores, y, w)
            cascade_temperature = _fit_temperature(ngram_scores, y, w)
            threshold, selection = choose_threshold(
                softmax(ngram_scores * cascade_temperature, axis=1),
                softmax(full_scores * temperature, axis=1),
                y,
                cascade_margin,
                w,
            )
        report("entraînement final", 0.9)
        featurizer = Featurizer().fit(texts)
        features = featurizer.transform(texts, vectors)
        from sklearn.svm import LinearSVC  # training only: the bot starts without sklearn

        svm = LinearSVC(C=c, random_state=seed).fit(features, y, sample_weight=w)
        coef, intercept = _as_multiclass(svm, len(classes))
        neighbours = Neighbours.fit(vectors, y, len(classes))
        cascade = None
        if out_of_fold is not None:
            ngram_svm = LinearSVC(C=c, random_state=seed).fit(
                features[:, : featurizer.n_features], y, sample_weight=w
            )
            ngram_coef, ngram_intercept = _as_multiclass(ngram_svm, len(classes))
            cascade = NgramCascade(
                ngram_coef, ngram_intercept, cascade_temperature, threshold, selection
            )
        report("terminé", 1.0)
        return cls(
            featurizer,
            classes,
            coef,
            intercept,
            temperature,
            cascade=cascade,
            neighbours=neighbours,
        )

    # -- prediction -------------------------------------------------------------------
    def scores(self, texts: Sequence[str], vectors: np.ndarray) -> np.ndarray:
        features = self.featurizer.transform(texts, vectors)
        return self._with_neighbours(np.asarray(features @ self.coef.T) + self.intercept, vectors)

    def _with_neighbours(self, scores: np.ndarray, vectors: np.ndarray) -> np.ndarray:
        if self.neighbours is None:
            return scores
        extra = self.neighbours.scores(vectors)
        return scores + (extra if scores.ndim == 2 else extra[0])

    def predict_proba(self, texts: Sequence[str], vectors: np.ndarray) -> np.ndarray:
        return softmax(self.scores(texts, vectors) * self.temperature, axis=1)

    def rank(self, text: str, vector: np.ndarray, top: int = 5) -> list[IntentScore]:
        """One message (the bot's hot path): gathered columns, no sparse matrices."""
        columns, values = self.featurizer.transform_one(text, vector)
        scores = self._with_neighbours(self.coef[:, columns] @ values + self.intercept, vector)
        probabilities = softmax(scores * self.temperature)
        order = np.argsort(-probabilities)[:top]
        return [IntentScore(self.classes[i], round(float(probabilities[i]), 4)) for i in order]

    def rank_ngrams(
        self, text: str, top: int = 5
    ) -> tuple[list[IntentScore] | None, tuple[np.ndarray, np.ndarray]]:
        """The cascade's ranking when it is sure (else None), and the message's n-gram
        columns, which `rank_with` completes with the vector when the cascade is unsure."""
        columns, values = self.featurizer.ngrams_one(text)
        if self.cascade is None:
            return None, (columns, values)
        probabilities = self.cascade.probabilities(columns, values)
        order = np.argsort(-probabilities)[:top]
        if not self.cascade.sure(float(probabilities[order[0]])):
            return None, (columns, values)
        return [IntentScore(self.classes[i], round(float(probabilities[i]), 4)) for i in order], (
            columns,
            values,
        )

    def rank_with(
        self, ngrams: tuple[np.ndarray, np.ndarray], vector: np.ndarray, top: int = 5
    ) -> list[IntentScore]:
        """The full model on n-gram columns already cut (`rank_ngrams`) plus the vector."""
        columns, values = self.featurizer.with_vector(*ngrams, vector)
        scores = self._with_neighbours(self.coef[:, columns] @ values + self.intercept, vector)
        probabilities = softmax(scores * self.temperature)
        order = np.argsort(-probabilities)[:top]
        return [IntentScore(self.classes[i], round(float(probabilities[i]), 4)) for i in order]

    def cascade_proba(self, texts: Sequence[str]) -> np.ndarray | None:
        """The cascade's probabilities for many messages (None without a cascade)."""
        if self.cascade is None:
            return None
        features = self.featurizer.transform_ngrams(texts)
        scores = np.asarray(features @ self.cascade.coef.T) + self.cascade.intercept
        return softmax(scores * self.cascade.temperature, axis=1)

    def predict(self, texts: Sequence[str], vectors: np.ndarray) -> list[str]:
        return [self.classes[i] for i in self.scores(texts, vectors).argmax(axis=1)]

    # -- persistence ------------------------------------------------------------------
    def save(self, directory: Path) -> None:
        directory.mkdir(parents=True, exist_ok=True)
        featurizer_meta, arrays = self.featurizer.state()
        payload: dict[str, object] = {
            "classes": self.classes,
            "temperature": self.temperature,
            "featurizer": featurizer_meta,
        }
        if self.cascade is not None:
            arrays["cascade_coef"] = self.cascade.coef
            arrays["cascade_intercept"] = self.cascade.intercept
            payload["cascade"] = {
                "temperature": self.cascade.temperature,
                "threshold": self.cascade.threshold,
                "selection": self.cascade.selection,
            }
        if self.neighbours is not None:
            arrays["neighbour_vectors"] = self.neighbours.vectors
            arrays["neighbour_starts"] = self.neighbours.starts
            payload["neighbours"] = {"k": self.neighbours.k, "weight": self.neighbours.weight}
        np.savez_compressed(
            directory / "weights.npz", coef=self.coef, intercept=self.intercept, **arrays
        )
        (directory / "classifier.json").write_text(
            json.dumps(payload, ensure_ascii=False), encoding="utf-8"
        )

    @classmethod
    def load(cls, directory: Path) -> IntentClassifier:
        payload = json.loads((directory / "classifier.json").read_text(encoding="utf-8"))
        with np.load(directory / "weights.npz") as weights:
            arrays = {k: weights[k] for k in weights.files}
        featurizer = Featurizer.from_state(payload["featurizer"], arrays)
        cascade = None
        if "cascade" in payload:  # models saved before the cascade have none
            stored = payload["cascade"]
            threshold = stored["threshold"]
            cascade = NgramCascade(
                arrays["cascade_coef"],
                arrays["cascade_intercept"],
                float(stored["temperature"]),
                None if threshold is None else float(threshold),
                dict(stored.get("selection", {})),
            )
        neighbours = None
        if "neighbours" in payload:  # format 4 on
            neighbours = Neighbours(
                np.asarray(arrays["neighbour_vectors"], dtype=np.float32),
                np.asarray(arrays["neighbour_starts"], dtype=np.int64),
                int(payload["neighbours"]["k"]),
                float(payload["neighbours"]["weight"]),
            )
        return cls(
            featurizer,
            list(payload["classes"]),
            arrays["coef"],
            arrays["intercept"],
            float(payload["temperature"]),
            cascade=cascade,
            neighbours=neighbours,
        )


def softmax(scores: np.ndarray, axis: int = -1) -> np.ndarray:
    shifted = np.exp(scores - scores.max(axis=axis, keepdims=True))
    return shifted / shifted.sum(axis=axis, keepdims=True)


def _as_multiclass(svm: LinearSVC, n_classes: int) -> tuple[np.ndarray, np.ndarray]:
    coef = np.asarray(svm.coef_, dtype=np.float32)
    intercept = np.asarray(svm.intercept_, dtype=np.float32)
    if n_classes == 2:  # sklearn keeps one row for binary problems
        coef = np.vstack([-coef[0], coef[0]])
        intercept = np.array([-intercept[0], intercept[0]], dtype=np.float32)
    return coef, intercept


def _out_of_fold_scores(
    texts: list[str],
    vectors: np.ndarray,
    y: np.ndarray,
    weights: np.ndarray,
    c: float,
    folds: int,
    seed: int,
    report: Progress,
) -> tuple[np.ndarray, np.ndarray] | None:
    """Out-of-fold decision scores of the full model and of the n-gram-only model (the same
    folds and featurizers), or None when a class has too few examples for two folds."""
    # Training only: the bot answers without importing scikit-learn.
    from sklearn.model_selection import StratifiedKFold
    from sklearn.svm import LinearSVC

    smallest = int(np.bincount(y).min())
    folds = min(folds, smallest)
    if folds < 2:
        return None
    n_classes = int(y.max()) + 1
    full = np.zeros((len(y), n_classes), dtype=np.float64)
    ngrams = np.zeros((len(y), n_classes), dtype=np.float64)
    splitter = StratifiedKFold(n_splits=folds, shuffle=True, random_state=seed)
    for k, (train_idx, held_idx) in enumerate(splitter.split(texts, y)):
        featurizer = Featurizer().fit([texts[i] for i in train_idx])
        n_ngrams = featurizer.n_features
        train_x = featurizer.transform([texts[i] for i in train_idx], vectors[train_idx])
        held_x = featurizer.transform([texts[i] for i in held_idx], vectors[held_idx])
        # folds <= the smallest class count, so every class is in every training fold.
        fold_weights = weights[train_idx]
        svm = LinearSVC(C=c, random_state=seed).fit(
            train_x, y[train_idx], sample_weight=fold_weights
        )
        coef, intercept = _as_multiclass(svm, n_classes)
        neighbours = Neighbours.fit(vectors[train_idx], y[train_idx], n_classes)
        full[held_idx] = (
            np.asarray(held_x @ coef.T) + intercept + neighbours.scores(vectors[held_idx])
        )
        svm = LinearSVC(C=c, random_state=seed).fit(
            train_x[:, :n_ngrams], y[train_idx], sample_weight=fold_weights
        )
        coef, intercept = _as_multiclass(svm, n_classes)
        ngrams[held_idx] = np.asarray(held_x[:, :n_ngrams] @ coef.T) + intercept
        report("calibration", 0.8 * (k + 1) / folds)
    return full, ngrams


def _fit_temperature(
    out_of_fold: np.ndarray, y: np.ndarray, weights: np.ndarray | None = None
) -> float:
    """Temperature minimising the (weighted) log-loss of out-of-fold decision scores."""
    from scipy.optimize import minimize_scalar
    from scipy.special import log_softmax

    def nll(log_t: float) -> float:
        logp = log_softmax(out_of_fold * math.exp(log_t), axis=1)
        return float(-np.average(logp[np.arange(len(y)), y], weights=weights))

    result = minimize_scalar(nll, bounds=(-3.0, 4.0), method="bounded")
    return float(math.exp(result.x))


def choose_threshold(
    cascade_proba: np.ndarray,
    full_proba: np.ndarray,
    y: np.ndarray,
    margin: float,
    weights: np.ndarray | None = None,
) -> tuple[float | None, dict[str, float]]:
    """The lowest cascade confidence to trust, from out-of-fold probabilities.

    Messages are taken in decreasing cascade confidence (ties together): each one the cascade
    decides swaps the full model's answer for the cascade's. The threshold stops before the
    first point where the cascaded accuracy would fall more than `margin` below the full
    model's, so every higher threshold keeps within the margin too. None when even the
    cascade's surest group costs too much. Accuracies count each example's weight."""
    n = len(y)
    w = np.ones(n) if weights is None else np.asarray(weights, dtype=np.float64)
    total = float(w.sum())
    confidence = cascade_proba.max(axis=1)
    cascade_right = (cascade_proba.argmax(axis=1) == y) * w
    full_right = (full_proba.argmax(axis=1) == y) * w
    full_accuracy = float(full_right.sum() / total)
    order = np.argsort(-confidence, kind="stable")
    sorted_confidence = confidence[order]
    # Accuracy when the k surest go to the cascade: its right answers among them plus the
    # full model's among the rest.
    gain = np.cumsum(cascade_right[order] - full_right[order])
    accuracy = (full_right.sum() + gain) / total
    ends = np.flatnonzero(np.append(sorted_confidence[1:] != sorted_confidence[:-1], True))
    target = full_accuracy - margin - 1e-12
    chosen = -1
    for end in ends:  # the last message of each group of equal confidence
        if accuracy[end] < target:
            break
        chosen = int(end)
    figures = {
        "full_accuracy": round(full_accuracy, 4),
        "cascade_alone_accuracy": round(float(cascade_right.sum() / total), 4),
        "margin": margin,
        "examples": n,
    }
    if chosen < 0:
        return None, {**figures, "cascaded_accuracy": round(full_accuracy, 4), "decided": 0.0}
    threshold = float(sorted_confidence[chosen])
    return threshold, {
        **figures,
        "cascaded_accuracy": round(float(accuracy[chosen]), 4),
        "decided": round(float(w[order][: chosen + 1].sum() / total), 4),
    }
