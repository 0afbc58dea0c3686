"""Nearest training examples as a second opinion beside the linear intent model.

The linear model draws one boundary per intent; a message that closely paraphrases a few
training examples of an intent ("allez ciao" next to "ciao", "bye") is better judged by
those examples themselves. For each intent, the score is the mean cosine similarity of the
message's sentence vector to its `NEIGHBOURS_K` closest training examples of that intent,
added to the linear scores with `NEIGHBOUR_WEIGHT`. Both numbers were chosen by
cross-validation on `nlu/data/train` only (`benchmarks/intent_cv.py`, 5 folds x seeds 0-1):
87.96 % -> 88.56 % out of fold; on fresh folds (seeds 2-3), checked once after the choice,
87.64 % -> 88.72 %.

Only used when the message is encoded (the n-gram cascade never needs it). The training
vectors are stored in the model folder, grouped by intent (about 3 MB for 2,000 examples).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

NEIGHBOURS_K = 3
NEIGHBOUR_WEIGHT = 12.0


def _unit(vectors: np.ndarray) -> np.ndarray:
    vectors = np.asarray(vectors, dtype=np.float32)
    norms = np.linalg.norm(vectors, axis=-1, keepdims=True)
    return vectors / np.where(norms == 0, 1.0, norms)


@dataclass
class Neighbours:
    vectors: np.ndarray  # (n_examples, dim) float32, unit length, grouped by class
    starts: np.ndarray  # (n_classes + 1,) int64: class k owns rows starts[k]:starts[k+1]
    k: int = NEIGHBOURS_K
    weight: float = NEIGHBOUR_WEIGHT

    @classmethod
    def fit(
        cls,
        vectors: np.ndarray,
        y: np.ndarray,
        n_classes: int,
        k: int = NEIGHBOURS_K,
        weight: float = NEIGHBOUR_WEIGHT,
    ) -> Neighbours:
        order = np.argsort(y, kind="stable")
        counts = np.bincount(y, minlength=n_classes)
        starts = np.concatenate([[0], np.cumsum(counts)]).astype(np.int64)
        return cls(_unit(vectors)[order], starts, k, weight)

    def scores(self, vectors: np.ndarray) -> np.ndarray:
        """(n, n_classes): `weight` x the mean similarity to each class's k nearest."""
        queries = _unit(np.atleast_2d(vectors))
        if len(queries) == 1:
            # One message (the bot's path): einsum, not BLAS, whose threads cost 1-2 ms of
            # CPU for this small product on a busy machine (0.1 ms here).
            similarity = np.einsum("ij,kj->ki", self.vectors, queries)
        else:
            similarity = queries @ self.vectors.T
        n_classes = len(self.starts) - 1
        out = np.zeros((similarity.shape[0], n_classes), dtype=np.float64)
        for c in range(n_classes):
            block = similarity[:, self.starts[c] : self.starts[c + 1]]
            if block.shape[1] == 0:
                continue
            k = min(self.k, block.shape[1])
            top = np.partition(block, block.shape[1] - k, axis=1)[:, -k:]
            out[:, c] = top.mean(axis=1)
        return out * self.weight
