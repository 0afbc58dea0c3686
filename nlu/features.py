"""Features of a message for the intent model: sentence vector + sparse n-grams.

The sentence vector carries meaning (paraphrases, English); character n-grams carry typos
and SMS spellings ("factur", "intagram"); word and stemmed-word n-grams carry the exact
vocabulary. Measured on MASSIVE French: vector alone 81.4%, n-grams alone 83.5%, both 85%.
The fitted state is plain JSON + NumPy (no pickle), so artifacts load across versions.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass
from functools import lru_cache

import numpy as np
import Stemmer
from scipy import sparse
from sklearn.feature_extraction.text import TfidfVectorizer

from .text import fold

WORD_PATTERN = r"(?u)\b\w+\b"


@lru_cache(maxsize=1)
def _stemmer() -> Stemmer.Stemmer:
    return Stemmer.Stemmer("french")


def stemmed(text: str) -> str:
    return " ".join(_stemmer().stemWords(fold(text).split()))


def _vectorizers() -> dict[str, TfidfVectorizer]:
    return {
        "char": TfidfVectorizer(
            analyzer="char_wb", ngram_range=(2, 5), sublinear_tf=True, min_df=2, dtype=np.float32
        ),
        "word": TfidfVectorizer(
            analyzer="word",
            ngram_range=(1, 2),
            sublinear_tf=True,
            token_pattern=WORD_PATTERN,
            dtype=np.float32,
        ),
        "stem": TfidfVectorizer(
            analyzer="word",
            ngram_range=(1, 2),
            sublinear_tf=True,
            token_pattern=WORD_PATTERN,
            dtype=np.float32,
        ),
    }


@dataclass
class Featurizer:
    vector_weight: float = 2.0
    vectorizers: dict[str, TfidfVectorizer] | None = None

    @staticmethod
    def _views(texts: Sequence[str]) -> dict[str, list[str]]:
        folded = [fold(t) for t in texts]
        return {"char": folded, "word": folded, "stem": [stemmed(t) for t in texts]}

    def fit(self, texts: Sequence[str]) -> Featurizer:
        self.vectorizers = _vectorizers()
        views = self._views(texts)
        for name, vectorizer in self.vectorizers.items():
            # min_df=2 can empty the char vocabulary on tiny data sets: fall back to 1.
            try:
                vectorizer.fit(views[name])
            except ValueError:
                vectorizer.set_params(min_df=1)
                vectorizer.fit(views[name])
        return self

    def transform(self, texts: Sequence[str], vectors: np.ndarray) -> sparse.csr_matrix:
        if self.vectorizers is None:
            raise RuntimeError("Featurizer.fit() must run before transform()")
        views = self._views(texts)
        blocks = [self.vectorizers[name].transform(views[name]) for name in self.vectorizers]
        blocks.append(sparse.csr_matrix(np.asarray(vectors, dtype=np.float32) * self.vector_weight))
        return sparse.hstack(blocks, format="csr", dtype=np.float32)

    def transform_one(self, text: str, vector: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """One message as (feature indices, values): the same numbers as `transform`, without
        sklearn's per-call overhead (about 5 ms for three vectorizers, 0.3 ms here)."""
        if self.vectorizers is None:
            raise RuntimeError("Featurizer.fit() must run before transform()")
        folded = fold(text)
        views = {"char": folded, "word": folded, "stem": stemmed(text)}
        indices: list[np.ndarray] = []
        values: list[np.ndarray] = []
        offset = 0
        for name, vectorizer in self.vectorizers.items():
            vocabulary = vectorizer.vocabulary_
            counts = Counter(t for t in self._analyzer(name)(views[name]) if t in vocabulary)
            if counts:
                columns = np.fromiter((vocabulary[t] for t in counts), np.int64, len(counts))
                tf = 1.0 + np.log(np.fromiter(counts.values(), np.float64, len(counts)))
                weights = tf * vectorizer.idf_[columns]  # sublinear tf, idf, then l2
                weights /= np.linalg.norm(weights)
                indices.append(columns + offset)
                values.append(weights)
            offset += len(vocabulary)
        dense = np.asarray(vector, dtype=np.float64).reshape(-1) * self.vector_weight
        indices.append(np.arange(offset, offset + dense.size))
        values.append(dense)
        return np.concatenate(indices), np.concatenate(values)

    def _analyzer(self, name: str):  # type: ignore[no-untyped-def]
        cache = self.__dict__.setdefault("_analyzers", {})
        if name not in cache:
            assert self.vectorizers is not None
            cache[name] = self.vectorizers[name].build_analyzer()
        return cache[name]

    @property
    def n_features(self) -> int:
        assert self.vectorizers is not None
        return sum(len(v.vocabulary_) for v in self.vectorizers.values())

    def state(self) -> tuple[dict[str, object], dict[str, np.ndarray]]:
        """JSON-able description + arrays, for saving without pickle."""
        assert self.vectorizers is not None
        meta: dict[str, object] = {"vector_weight": self.vector_weight, "vocabularies": {}}
        arrays: dict[str, np.ndarray] = {}
        for name, vectorizer in self.vectorizers.items():
            terms = sorted(vectorizer.vocabulary_, key=vectorizer.vocabulary_.__getitem__)
            meta["vocabularies"][name] = terms  # type: ignore[index]
            arrays[f"idf_{name}"] = vectorizer.idf_.astype(np.float32)
        return meta, arrays

    @classmethod
    def from_state(cls, meta: dict, arrays: dict[str, np.ndarray]) -> Featurizer:  # type: ignore[type-arg]
        vectorizers = _vectorizers()
        for name, vectorizer in vectorizers.items():
            terms = meta["vocabularies"][name]
            # A fixed vocabulary plus the stored idf weights is the whole fitted state.
            vectorizer.set_params(vocabulary={t: i for i, t in enumerate(terms)})
            vectorizer.idf_ = np.asarray(arrays[f"idf_{name}"], dtype=np.float64)
        return cls(vector_weight=float(meta["vector_weight"]), vectorizers=vectorizers)
