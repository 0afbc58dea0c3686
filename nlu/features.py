"""Features of a message for the intent model: sentence vector + sparse n-grams.

The sentence vector carries meaning (paraphrases, English); character n-grams carry typos
and SMS spellings ("factur", "intagram"); word and stemmed-word n-grams carry the exact
vocabulary. Measured on MASSIVE French: vector alone 81.4%, n-grams alone 83.5%, both 85%.
The vector's weight beside the n-grams (`VECTOR_WEIGHT`) is chosen by cross-validation on
Comptoir's own training data (`benchmarks/intent_cv.py`, never the test file): 3.5 gives
87.6% out of fold where 2.0 gave 85.8%.
The fitted state is plain JSON + NumPy (no pickle), so artifacts load across versions.

Training fits scikit-learn's TfidfVectorizer (fast on thousands of texts). Answering one
message does not import scikit-learn at all (about a second of the bot's start): the
n-grams are cut by `_ANALYZERS`, which reproduce the vectorizers' analyzers exactly
(tests/nlu compares them on real messages).
"""

from __future__ import annotations

import re
from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from functools import lru_cache
from typing import TYPE_CHECKING, Any

import numpy as np
import Stemmer

from .text import fold

if TYPE_CHECKING:
    from scipy import sparse

WORD_PATTERN = r"(?u)\b\w+\b"
CHAR_RANGE = (2, 5)
WORD_RANGE = (1, 2)
VECTOR_WEIGHT = 3.5  # benchmarks/intent_cv.py: the argmax of its grid, on nlu/data/train
_WORD = re.compile(WORD_PATTERN)
_WHITE_SPACES = re.compile(r"\s\s+")


@lru_cache(maxsize=1)
def _stemmer() -> Stemmer.Stemmer:
    return Stemmer.Stemmer("french")


def stemmed(text: str) -> str:
    return " ".join(_stemmer().stemWords(fold(text).split()))


def char_wb_ngrams(text: str, low: int = CHAR_RANGE[0], high: int = CHAR_RANGE[1]) -> list[str]:
    """Character n-grams inside word boundaries, padded with a space (sklearn's `char_wb`)."""
    grams: list[str] = []
    for word in _WHITE_SPACES.sub(" ", text.lower()).split():
        padded = f" {word} "
        for n in range(low, high + 1):
            if len(padded) <= n:  # a short word counts once, whole
                grams.append(padded)
                break
            grams.extend(padded[i : i + n] for i in range(len(padded) - n + 1))
    return grams


def word_ngrams(text: str, low: int = WORD_RANGE[0], high: int = WORD_RANGE[1]) -> list[str]:
    """Word n-grams joined by a space (sklearn's `word` analyzer with WORD_PATTERN)."""
    tokens = _WORD.findall(text.lower())
    grams = list(tokens) if low == 1 else []
    for n in range(max(low, 2), min(high, len(tokens)) + 1):
        grams.extend(" ".join(tokens[i : i + n]) for i in range(len(tokens) - n + 1))
    return grams


_ANALYZERS: dict[str, Callable[[str], list[str]]] = {
    "char": char_wb_ngrams,
    "word": word_ngrams,
    "stem": word_ngrams,
}


def _vectorizers() -> dict[str, Any]:
    from sklearn.feature_extraction.text import TfidfVectorizer

    return {
        "char": TfidfVectorizer(
            analyzer="char_wb",
            ngram_range=CHAR_RANGE,
            sublinear_tf=True,
            min_df=2,
            dtype=np.float32,
        ),
        "word": TfidfVectorizer(
            analyzer="word",
            ngram_range=WORD_RANGE,
            sublinear_tf=True,
            token_pattern=WORD_PATTERN,
            dtype=np.float32,
        ),
        "stem": TfidfVectorizer(
            analyzer="word",
            ngram_range=WORD_RANGE,
            sublinear_tf=True,
            token_pattern=WORD_PATTERN,
            dtype=np.float32,
        ),
    }


@dataclass
class Featurizer:
    vector_weight: float = VECTOR_WEIGHT
    # The fitted state: each view's vocabulary (term -> column) and idf weights.
    vocabularies: dict[str, dict[str, int]] = field(default_factory=dict)
    idf: dict[str, np.ndarray] = field(default_factory=dict)
    _sklearn_vectorizers: dict[str, Any] | None = field(default=None, repr=False)

    @staticmethod
    def _views(texts: Sequence[str]) -> dict[str, list[str]]:
        folded = [fold(t) for t in texts]
        return {"char": folded, "word": folded, "stem": [stemmed(t) for t in texts]}

    def fit(self, texts: Sequence[str]) -> Featurizer:
        vectorizers = _vectorizers()
        views = self._views(texts)
        for name, vectorizer in vectorizers.items():
            # min_df=2 can empty the char vocabulary on tiny data sets: fall back to 1.
            try:
                vectorizer.fit(views[name])
            except ValueError:
                vectorizer.set_params(min_df=1)
                vectorizer.fit(views[name])
            self.vocabularies[name] = dict(vectorizer.vocabulary_)
            self.idf[name] = np.asarray(vectorizer.idf_, dtype=np.float64)
        self._sklearn_vectorizers = vectorizers
        return self

    def _fitted(self) -> None:
        if not self.vocabularies:
            raise RuntimeError("Featurizer.fit() must run before transform()")

    def transform_ngrams(self, texts: Sequence[str]) -> sparse.csr_matrix:
        """The n-gram columns only (the cascade's features): no sentence vector needed."""
        from scipy import sparse

        self._fitted()
        if self._sklearn_vectorizers is None:  # a loaded model: rebuild them from the state
            self._sklearn_vectorizers = _vectorizers()
            for name, vectorizer in self._sklearn_vectorizers.items():
                vectorizer.set_params(vocabulary=self.vocabularies[name])
                vectorizer.idf_ = self.idf[name]
        views = self._views(texts)
        blocks = [self._sklearn_vectorizers[name].transform(views[name]) for name in _ANALYZERS]
        return sparse.hstack(blocks, format="csr", dtype=np.float32)

    def transform(self, texts: Sequence[str], vectors: np.ndarray) -> sparse.csr_matrix:
        """Many messages at once (training, evaluation): scikit-learn's vectorizers."""
        from scipy import sparse

        dense = sparse.csr_matrix(np.asarray(vectors, dtype=np.float32) * self.vector_weight)
        return sparse.hstack([self.transform_ngrams(texts), dense], format="csr", dtype=np.float32)

    def ngrams_one(self, text: str) -> tuple[np.ndarray, np.ndarray]:
        """One message's n-gram columns as (indices, values), below `n_features`."""
        self._fitted()
        folded = fold(text)
        views = {"char": folded, "word": folded, "stem": stemmed(text)}
        indices: list[np.ndarray] = []
        values: list[np.ndarray] = []
        offset = 0
        for name, analyzer in _ANALYZERS.items():
            vocabulary = self.vocabularies[name]
            counts = Counter(t for t in analyzer(views[name]) if t in vocabulary)
            if counts:
                columns = np.fromiter((vocabulary[t] for t in counts), np.int64, len(counts))
                tf = 1.0 + np.log(np.fromiter(counts.values(), np.float64, len(counts)))
                weights = tf * self.idf[name][columns]  # sublinear tf, idf, then l2
                weights /= np.linalg.norm(weights)
                indices.append(columns + offset)
                values.append(weights)
            offset += len(vocabulary)
        if not indices:
            return np.zeros(0, np.int64), np.zeros(0, np.float64)
        return np.concatenate(indices), np.concatenate(values)

    def transform_one(self, text: str, vector: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """One message as (feature indices, values): the same numbers as `transform`, without
        sklearn's per-call overhead (about 5 ms for three vectorizers, 0.3 ms here)."""
        columns, values = self.ngrams_one(text)
        return self.with_vector(columns, values, vector)

    def with_vector(
        self, columns: np.ndarray, values: np.ndarray, vector: np.ndarray
    ) -> tuple[np.ndarray, np.ndarray]:
        """`ngrams_one`'s columns completed with the sentence vector's (the full features)."""
        dense = np.asarray(vector, dtype=np.float64).reshape(-1) * self.vector_weight
        offset = self.n_features
        return (
            np.concatenate([columns, np.arange(offset, offset + dense.size)]),
            np.concatenate([values, dense]),
        )

    @property
    def n_features(self) -> int:
        return sum(len(vocabulary) for vocabulary in self.vocabularies.values())

    def state(self) -> tuple[dict[str, object], dict[str, np.ndarray]]:
        """JSON-able description + arrays, for saving without pickle."""
        self._fitted()
        meta: dict[str, object] = {"vector_weight": self.vector_weight, "vocabularies": {}}
        arrays: dict[str, np.ndarray] = {}
        for name, vocabulary in self.vocabularies.items():
            meta["vocabularies"][name] = sorted(vocabulary, key=vocabulary.__getitem__)  # type: ignore[index]
            arrays[f"idf_{name}"] = self.idf[name].astype(np.float32)
        return meta, arrays

    @classmethod
    def from_state(cls, meta: dict, arrays: dict[str, np.ndarray]) -> Featurizer:  # type: ignore[type-arg]
        # A fixed vocabulary plus the stored idf weights is the whole fitted state.
        return cls(
            vector_weight=float(meta["vector_weight"]),
            vocabularies={
                name: {term: i for i, term in enumerate(terms)}
                for name, terms in meta["vocabularies"].items()
            },
            idf={name: np.asarray(arrays[f"idf_{name}"], dtype=np.float64) for name in _ANALYZERS},
        )
