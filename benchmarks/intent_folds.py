"""The folds the intent cross-validations share, trained as `comptoir nlu train` trains.

`intent_levers_cv.py` (model-side levers) and `intent_data_cv.py` (does an added file help?)
both score the shipped model out of fold: n-grams fitted on the training part, the e5 vector
at its weight, LinearSVC with per-example weights, plus the nearest training examples'
scores (`nlu/neighbours.py`). Only the examples marked `held_out` are folded (5-fold
stratified, two seeds); every other example (the FAQ's questions at weight 0.2, an added
file under test) joins every training part at its weight, in the SVM and in the
neighbours. Sharing one class keeps the two scripts' figures on one protocol: the same
messages held out, the same training parts for the same seed.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
from scipy import sparse

from nlu.features import Featurizer

REPEATS, FOLDS = 2, 5
# (training texts, held-out texts) -> their n-gram matrices, fitted on the training texts.
NgramFeatures = Callable[[list[str], list[str]], tuple[sparse.csr_matrix, sparse.csr_matrix]]


def shipped_ngrams(
    train: list[str], held: list[str]
) -> tuple[sparse.csr_matrix, sparse.csr_matrix]:
    """The shipped Featurizer's three n-gram views."""
    featurizer = Featurizer().fit(train)
    return featurizer.transform_ngrams(train), featurizer.transform_ngrams(held)


class Folds:
    """Splits of the held-out examples; the others join every training part at their weight."""

    def __init__(
        self,
        texts: list[str],
        y: np.ndarray,
        weights: np.ndarray,
        held_out: np.ndarray,
        first_seed: int,
        ngram_variants: dict[str, NgramFeatures] | None = None,
    ):
        from sklearn.model_selection import StratifiedKFold

        self.texts, self.y, self.weights = texts, y, weights
        self.n_classes = int(y.max()) + 1
        self.hand = np.flatnonzero(held_out)
        extra = np.flatnonzero(~held_out)
        self.splits = [
            (r, np.concatenate([self.hand[tr], extra]), self.hand[he])
            for r in range(REPEATS)
            for tr, he in StratifiedKFold(
                n_splits=FOLDS, shuffle=True, random_state=first_seed + r
            ).split(self.hand, y[self.hand])
        ]
        self.ngram_variants = {"shipped": shipped_ngrams, **(ngram_variants or {})}
        self._ngrams: dict[tuple[str, int, bytes], tuple[sparse.csr_matrix, ...]] = {}

    def training_rows(self, s: int, weights: np.ndarray) -> np.ndarray:
        """Split s's training part without the examples weighted 0 (left out of a variant)."""
        tr = self.splits[s][1]
        return tr[weights[tr] > 0]

    def ngrams(self, name: str, s: int, rows: np.ndarray) -> tuple[sparse.csr_matrix, ...]:
        key = (name, s, rows.tobytes())
        if key not in self._ngrams:
            he = self.splits[s][2]
            self._ngrams[key] = self.ngram_variants[name](
                [self.texts[i] for i in rows], [self.texts[i] for i in he]
            )
        return self._ngrams[key]

    def linear(
        self,
        make: Callable[[], object],
        dense: list[tuple[np.ndarray, float]],
        ngrams: str = "shipped",
        weights: np.ndarray | None = None,
    ) -> np.ndarray:
        """Out-of-fold linear scores, (REPEATS, n, classes); dense = [(vectors, weight)]."""
        w_all = self.weights if weights is None else weights
        out = np.zeros((REPEATS, len(self.y), self.n_classes))
        for s, (r, _, he) in enumerate(self.splits):
            tr = self.training_rows(s, w_all)
            train_ng, held_ng = self.ngrams(ngrams, s, tr)
            x_tr = sparse.hstack(
                [train_ng, *(sparse.csr_matrix(v[tr] * w) for v, w in dense)], format="csr"
            )
            x_he = sparse.hstack(
                [held_ng, *(sparse.csr_matrix(v[he] * w) for v, w in dense)], format="csr"
            )
            model = make().fit(x_tr, self.y[tr], sample_weight=w_all[tr])  # type: ignore[attr-defined]
            out[r, he] = model.decision_function(x_he)  # type: ignore[attr-defined]
        return out

    def neighbours(
        self, vectors: np.ndarray, k: int, weights: np.ndarray | None = None
    ) -> np.ndarray:
        """Out-of-fold `Neighbours` scores at weight 1, over the examples weighted above 0."""
        from nlu.neighbours import Neighbours

        w_all = self.weights if weights is None else weights
        out = np.zeros((REPEATS, len(self.y), self.n_classes))
        for s, (r, _, he) in enumerate(self.splits):
            fit = self.training_rows(s, w_all)
            near = Neighbours.fit(vectors[fit], self.y[fit], self.n_classes, k, 1.0)
            out[r, he] = near.scores(vectors[he])
        return out

    def predictions(self, scores: np.ndarray) -> np.ndarray:
        """(REPEATS, held-out examples) predicted class indexes."""
        return scores[:, self.hand].argmax(axis=2)

    def accuracy(self, scores: np.ndarray) -> list[float]:
        """Per seed, in %, over the held-out examples."""
        correct = self.predictions(scores) == self.y[self.hand]
        return [round(float(a) * 100, 2) for a in correct.mean(axis=1)]
