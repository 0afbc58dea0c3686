"""Questions already answered, as evidence for the learned ranker.

The labelled merchant questions (the train split, the right answers staff and merchants
recorded) say which item answered which wording. An item's own wordings are a few (an FAQ
entry's variants, a guide's or checklist's `questions`): the nearest labelled questions add
more. Per candidate the ranker reads, from the e5 query vector the turn already computed:
- `memory_lift`: the best cosine of the query to that item's labelled questions, above the
  query's k-th nearest labelled question overall (0 if it is no nearer than that, or if the
  item has none: an item added after training is not pushed down, only not helped);
- `memory_gap`: that best cosine minus the best such cosine over the candidates (<= 0).
(The share of the k nearest labelled questions naming the item, a kNN vote, was tried out of
fold and dropped: more junk reached "sure", benchmarks/results/ranker-oof-memory12.json.)

One matrix product (n x 384) a turn, well under a millisecond. The vectors come from one
encoder: `encoder_id` is recorded, and a memory is not read with another encoder's vectors.

Leakage: a question must not find itself. Training rows are computed with `exclude_above`
(labelled questions nearer than that to the question are ignored: itself and near-copies),
and an out-of-fold evaluation builds each fold's memory from the other folds only
(`subset`).
"""

from __future__ import annotations

import base64
from collections.abc import Sequence

import numpy as np

MEMORY_FEATURES = ("memory_lift", "memory_gap")
NEIGHBOURS = 10  # k: the lift's floor is the query's k-th nearest labelled question
NEAR_COPY = 0.97  # training: a labelled question this close to the asked one is itself


class Memory:
    """Unit vectors of labelled questions (rows) and the item ids each names."""

    def __init__(
        self,
        vectors: np.ndarray,
        labels: Sequence[Sequence[str]],
        encoder_id: str,
        neighbours: int = NEIGHBOURS,
    ) -> None:
        self.neighbours = neighbours  # an out-of-fold evaluation may try another k
        self.vectors = np.ascontiguousarray(vectors, dtype=np.float32).reshape(len(labels), -1)
        self.labels = [tuple(label) for label in labels]
        self.encoder_id = encoder_id
        rows: dict[str, list[int]] = {}
        for i, label in enumerate(self.labels):
            for doc_id in label:
                rows.setdefault(doc_id, []).append(i)
        self._rows = {d: np.asarray(r, dtype=np.int64) for d, r in rows.items()}

    def __len__(self) -> int:
        return len(self.labels)

    def subset(self, keep: Sequence[bool] | np.ndarray) -> Memory:
        """The memory of the rows where `keep` is true (an out-of-fold memory)."""
        mask = np.asarray(keep, dtype=bool)
        labels = [label for label, k in zip(self.labels, mask.tolist(), strict=True) if k]
        return Memory(self.vectors[mask], labels, self.encoder_id, self.neighbours)

    def with_neighbours(self, k: int) -> Memory:
        """The same memory read with another k."""
        return Memory(self.vectors, self.labels, self.encoder_id, k)

    def evidence(
        self, vector: np.ndarray, doc_ids: Sequence[str], exclude_above: float | None = None
    ) -> np.ndarray:
        """MEMORY_FEATURES per candidate (rows in `doc_ids` order). `exclude_above`: ignore
        the labelled questions at least this close to `vector` (training rows)."""
        out = np.zeros((len(doc_ids), len(MEMORY_FEATURES)))
        if not len(self) or not len(doc_ids):
            return out
        sims = self.vectors @ np.asarray(vector, dtype=np.float32).reshape(-1)
        if exclude_above is not None:
            sims = np.where(sims >= exclude_above, -np.inf, sims)
        k = min(self.neighbours, len(sims))
        nearest = np.argpartition(-sims, k - 1)[:k]
        nearest = nearest[np.isfinite(sims[nearest])]
        floor = float(sims[nearest].min()) if len(nearest) else 0.0
        best = np.full(len(doc_ids), floor)
        for j, doc_id in enumerate(doc_ids):
            rows = self._rows.get(doc_id)
            if rows is not None:
                best[j] = max(floor, float(sims[rows].max()))
        out[:, 0] = best - floor
        out[:, 1] = best - best.max()
        return out

    def to_json(self) -> dict[str, object]:
        """Plain JSON (float16 vectors, base64): it travels inside the ranker's file."""
        data = self.vectors.astype("<f2").tobytes()
        return {
            "encoder_id": self.encoder_id,
            "dim": int(self.vectors.shape[1]) if len(self) else 0,
            "labels": [list(label) for label in self.labels],
            "vectors": base64.b64encode(data).decode("ascii"),
        }

    @classmethod
    def from_json(cls, data: dict[str, object]) -> Memory:
        labels = [tuple(str(d) for d in label) for label in data["labels"]]  # type: ignore[attr-defined]
        raw = np.frombuffer(base64.b64decode(str(data["vectors"])), dtype="<f2")
        dim = int(data["dim"]) or 1  # type: ignore[call-overload]
        vectors = raw.astype(np.float32).reshape(len(labels), dim)
        return cls(vectors, labels, str(data["encoder_id"]))
