from __future__ import annotations

import numpy as np
from sklearn.ensemble import HistGradientBoostingClassifier

from knowledge_base.trees import Forest


def test_the_trees_walked_with_numpy_give_scikit_learns_log_odds() -> None:
    rng = np.random.default_rng(0)
    x = rng.normal(size=(1500, 6))
    y = ((x[:, 0] > 0.2) ^ (x[:, 1] * x[:, 2] > 0)).astype(float)  # no linear rule
    model = HistGradientBoostingClassifier(max_iter=60, max_leaf_nodes=9, random_state=0)
    model.fit(x, y)
    forest = Forest.from_sklearn(model)
    unseen = rng.normal(size=(300, 6))
    assert np.allclose(forest.decision(unseen), model.decision_function(unseen))
    again = Forest.from_json(forest.to_json())
    assert np.array_equal(again.decision(unseen), forest.decision(unseen))
    assert forest.decision(unseen[:0]).shape == (0,)
