"""Boosted trees read with numpy: the learned ranker's non-linear half.

scikit-learn's `HistGradientBoostingClassifier` is trained offline (`comptoir kb
train-ranker`, the back office's retraining); a turn only walks its trees. The nodes of all
trees are padded into arrays, so one walk moves every candidate down every tree at once: a
handful of numpy operations per level, no Python loop over trees.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np


@dataclass(frozen=True)
class Forest:
    """Binary-classification trees: the sum of the leaves reached, plus `baseline`, is a
    log-odds. Arrays are (trees, nodes); a leaf's children are itself, so a walk that has
    reached it stays there (and padding is a leaf worth 0, never reached)."""

    baseline: float
    feature: np.ndarray  # int: the column a split reads
    threshold: np.ndarray  # float: go left when x <= threshold
    left: np.ndarray  # int
    right: np.ndarray  # int
    value: np.ndarray  # float: a leaf's contribution
    depth: int  # the deepest leaf: how many steps a walk takes
    # The same nodes in one row, children as positions in it: a walk step is then a few
    # one-dimensional takes instead of two-dimensional fancy indexing (half the time).
    _flat: tuple[np.ndarray, ...] = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        trees, width = self.feature.shape
        start = (np.arange(trees) * width)[:, None]
        flat = (
            start.ravel(),
            self.feature.ravel(),
            self.threshold.ravel(),
            (self.left + start).ravel(),
            (self.right + start).ravel(),
            self.value.ravel(),
        )
        object.__setattr__(self, "_flat", flat)

    def decision(self, x: np.ndarray) -> np.ndarray:
        """Log-odds per row of `x`."""
        x = np.asarray(x, dtype=np.float64)
        roots, feature, threshold, left, right, value = self._flat
        row = np.arange(len(x))[:, None]
        node = np.broadcast_to(roots, (len(x), len(roots)))
        for _ in range(self.depth):
            go_left = x[row, feature[node]] <= threshold[node]
            node = np.where(go_left, left[node], right[node])
        return self.baseline + value[node].sum(axis=1)

    @classmethod
    def from_sklearn(cls, model: Any) -> Forest:
        """The trees of a fitted binary `HistGradientBoostingClassifier` (numeric features)."""
        trees = [predictors[0].nodes for predictors in model._predictors]
        width = max(len(nodes) for nodes in trees)
        shape = (len(trees), width)
        feature = np.zeros(shape, dtype=np.int64)
        threshold = np.zeros(shape)
        left, right = np.zeros(shape, dtype=np.int64), np.zeros(shape, dtype=np.int64)
        leaf = np.ones(shape, dtype=bool)
        value = np.zeros(shape)
        for t, nodes in enumerate(trees):
            n = len(nodes)
            feature[t, :n] = nodes["feature_idx"]
            threshold[t, :n] = nodes["num_threshold"]
            leaf[t, :n] = nodes["is_leaf"].astype(bool)
            left[t, :n] = np.where(leaf[t, :n], np.arange(n), nodes["left"])
            right[t, :n] = np.where(leaf[t, :n], np.arange(n), nodes["right"])
            value[t, :n] = np.where(leaf[t, :n], nodes["value"], 0.0)
        depth = max(int(nodes["depth"].max()) for nodes in trees)
        baseline = float(np.ravel(model._baseline_prediction)[0])
        return cls(baseline, feature, threshold, left, right, value, depth)

    def to_json(self) -> dict[str, object]:
        return {
            "baseline": self.baseline,
            "depth": self.depth,
            "feature": self.feature.tolist(),
            "threshold": self.threshold.tolist(),
            "left": self.left.tolist(),
            "right": self.right.tolist(),
            "value": self.value.tolist(),
        }

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> Forest:
        return cls(
            float(data["baseline"]),
            np.asarray(data["feature"], dtype=np.int64),
            np.asarray(data["threshold"], dtype=np.float64),
            np.asarray(data["left"], dtype=np.int64),
            np.asarray(data["right"], dtype=np.int64),
            np.asarray(data["value"], dtype=np.float64),
            int(data["depth"]),
        )
