"""The learned ranker: features, training with cross-validation, saving, re-ranking."""

from __future__ import annotations

import json
import random
from pathlib import Path

import numpy as np

from knowledge_base.ranker import (
    BASE_FEATURES,
    FEATURES,
    RERANK_DEPTH,
    Example,
    Ranker,
    features,
    train,
)
from knowledge_base.search import Candidate


def candidate(doc_id: str, score: float, title: float, kind: str = "guide") -> Candidate:
    return Candidate(
        doc_id=doc_id,
        kind=kind,
        shown=0,
        score=score,
        meaning=0.8,
        title=title,
        title_p=0.8,
        body=0.8,
        words=0.5,
        dense_rank=0,
        lexical_rank=0,
        boost=0.0,
        on_topic=True,
        section_rank=0,
    )


def synthetic_queries(n: int, seed: int) -> list[tuple[list[Candidate], str]]:
    """The right answer has the best question match but is rarely first by fused score."""
    rng = random.Random(seed)
    queries = []
    for q in range(n):
        found = [
            candidate(f"d{q}-{i}", rng.uniform(0.5, 1.5), rng.uniform(0.80, 0.88)) for i in range(8)
        ]
        found.append(candidate(f"right-{q}", rng.uniform(0.3, 1.0), rng.uniform(0.90, 0.97)))
        found.sort(key=lambda c: -c.score)
        queries.append((found, "combien de temps garder les factures"))
    return queries


def test_features_have_one_row_per_candidate_and_named_columns() -> None:
    found, text = synthetic_queries(1, 0)[0]
    x = features(found, text)
    assert x.shape == (len(found), len(FEATURES))
    assert x[0, FEATURES.index("fused_ratio")] == 1.0  # the first is the best fused
    assert x[0, FEATURES.index("kind_guide")] == 1.0


def test_training_learns_what_fusion_misses_and_reranks(tmp_path: Path) -> None:
    rows = []
    for found, text in synthetic_queries(60, 1):
        y = np.asarray([1.0 if c.doc_id.startswith("right") else 0.0 for c in found])
        rows.append(Example(features(found, text), y))
    ranker = train(rows, folds=3)
    best_c = str(ranker.report["C"])
    cv = ranker.report["cv"][best_c]  # type: ignore[index]
    assert cv["top1"] > ranker.report["fused_only"]["top1"]  # type: ignore[index]
    assert cv["top1"] >= 0.9
    found, text = synthetic_queries(1, 99)[0]
    reranked = [c for c, _ in ranker.rerank(found, text)]
    assert reranked[0].doc_id.startswith("right")
    probabilities = [p for _, p in ranker.rerank(found, text)]
    assert probabilities == sorted(probabilities, reverse=True) and 0 < probabilities[0] < 1
    assert sorted(c.doc_id for c in reranked) == sorted(c.doc_id for c in found)
    # Saved as JSON, loaded without scikit-learn, same scores.
    path = tmp_path / "ranker.json"
    ranker.save(path)
    loaded = Ranker.load(path)
    assert loaded is not None
    x = features(found, text)
    assert np.allclose(loaded.scores(x), ranker.scores(x))
    data = json.loads(path.read_text())
    data["features"] = data["features"][:-1]
    path.write_text(json.dumps(data))
    assert Ranker.load(path) is None  # written for other features: not used
    assert Ranker.load(tmp_path / "absent.json") is None


def test_only_the_head_is_reordered() -> None:
    found = [candidate(f"d{i}", 100 - i, 0.8) for i in range(RERANK_DEPTH + 5)]
    flip = Ranker(
        mean=[0.0] * len(FEATURES),
        scale=[1.0] * len(FEATURES),
        coef=[-1.0 if f == "fused" else 0.0 for f in FEATURES],
        intercept=0.0,
    )
    reranked = [c for c, _ in flip.rerank(found, "x")]
    assert reranked[0].doc_id == f"d{RERANK_DEPTH - 1}"
    assert [c.doc_id for c in reranked[RERANK_DEPTH:]] == [c.doc_id for c in found[RERANK_DEPTH:]]


def test_listwise_features_read_each_score_against_the_same_list() -> None:
    found, text = synthetic_queries(1, 3)[0]
    x = features(found, text)
    best_title = max(range(len(found)), key=lambda i: found[i].title)
    assert x[best_title, FEATURES.index("title_gap")] == 0.0
    assert x[best_title, FEATURES.index("title_rank")] == 0.0
    assert (x[:, FEATURES.index("title_gap")] <= 0).all()
    assert abs(x[:, FEATURES.index("title_z")].mean()) < 1e-9
    assert x[0, FEATURES.index("position")] == 0.0 < x[1, FEATURES.index("position")]
    # The same candidate among stronger rivals reads weaker: the list, not the value.
    rivals = [candidate(f"r{i}", 2.0, 0.99) for i in range(3)]
    alone, among = features(found[:1], text), features([*rivals, found[0]], text)
    assert alone[0, FEATURES.index("title")] == among[-1, FEATURES.index("title")]
    assert among[-1, FEATURES.index("title_gap")] < alone[0, FEATURES.index("title_gap")]
    assert features([], text).shape == (0, len(FEATURES))
    one = features(found[:1], text)  # a one-candidate list: no spread, no NaN
    assert np.isfinite(one).all()


def test_a_format_1_model_still_loads_and_reads_the_base_features(tmp_path: Path) -> None:
    """A ranker retrained before the listwise features (data_dir/models) stays in service."""
    rng = np.random.default_rng(0)
    old = {
        "format": 1,
        "features": list(BASE_FEATURES),
        "mean": rng.normal(size=len(BASE_FEATURES)).tolist(),
        "scale": rng.uniform(0.5, 2, size=len(BASE_FEATURES)).tolist(),
        "coef": rng.normal(size=len(BASE_FEATURES)).tolist(),
        "intercept": 0.3,
        "report": {"C": 1.0},
    }
    path = tmp_path / "ranker.json"
    path.write_text(json.dumps(old))
    loaded = Ranker.load(path)
    assert loaded is not None and loaded.names == list(BASE_FEATURES)
    found, text = synthetic_queries(1, 5)[0]
    x = features(found, text)
    base = x[:, : len(BASE_FEATURES)]
    expected = (base - np.asarray(old["mean"])) / np.asarray(old["scale"]) @ np.asarray(
        old["coef"]
    ) + 0.3
    assert np.allclose(loaded.scores(x), expected)
    loaded.save(tmp_path / "again.json")  # saved again, it stays a base-feature model
    again = Ranker.load(tmp_path / "again.json")
    assert again is not None and again.names == list(BASE_FEATURES)
    old["format"] = 2  # format 2 with the base features only is not a known layout
    path.write_text(json.dumps(old))
    assert Ranker.load(path) is None
