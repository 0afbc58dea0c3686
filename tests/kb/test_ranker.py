"""The learned ranker: features, training with cross-validation, saving, re-ranking."""

from __future__ import annotations

import json
import random
from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest

from knowledge_base.ranker import (
    BASE_FEATURES,
    FEATURES,
    INTENT_FEATURES,
    LISTWISE_FEATURES,
    MEMORY_FEATURES,
    RERANK_DEPTH,
    WORD_FEATURES,
    Example,
    Ranker,
    asks_for_a_tool,
    examples,
    features,
    fit,
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


def test_intent_features_read_the_intent_model_on_each_item_and_the_tool_question() -> None:
    guide = replace(candidate("g", 1.0, 0.9), topic="ask_invoicing")
    tool = replace(candidate("t", 0.9, 0.8, kind="tool"), topic="find_alternative")
    entry = replace(candidate("f", 0.8, 0.8, kind="faq"), topic="ask_security")
    intents = {"ask_invoicing": 0.7, "find_alternative": 0.2}
    x = features([guide, tool, entry], "mon garagiste me facture quoi", intents)
    column = {name: x[:, FEATURES.index(name)].tolist() for name in INTENT_FEATURES}
    assert column["topic_p"] == [0.7, 0.2, 0.0]  # an intent outside the ranking: 0
    assert column["tool_p_x_tool"] == [0.0, 0.2, 0.0]
    assert column["tool_cue_x_tool"] == column["tool_cue_x_faq"] == [0.0, 0.0, 0.0]
    asked = features([guide, tool, entry], "Quel logiciel de caisse choisir ?", intents)
    assert asked[:, FEATURES.index("tool_cue_x_tool")].tolist() == [0.0, 1.0, 0.0]
    assert asked[:, FEATURES.index("tool_cue_x_faq")].tolist() == [0.0, 0.0, 1.0]
    # Without the intent model's view (a caller that has none), the topic reads 0.
    assert features([guide, tool], "x")[:, FEATURES.index("topic_p")].tolist() == [0.0, 0.0]


def test_asking_for_a_tool_is_read_in_the_questions_words() -> None:
    assert asks_for_a_tool("une appli pour gérer les rendez-vous ?")
    assert asks_for_a_tool("Quelle ALTERNATIVE à Doctolib ?")
    assert asks_for_a_tool("un logiciel de caisse certifié")
    assert not asks_for_a_tool("mon garage doit-il afficher ses tarifs ?")
    assert not asks_for_a_tool("je suis fleuriste, quelles mentions sur mes factures ?")


def test_a_format_2_model_loads_and_ignores_the_intent_features(tmp_path: Path) -> None:
    """The ranker shipped before the intent features (and one retrained in data_dir/models)
    stays in service and scores as it did."""
    width = len(LISTWISE_FEATURES)
    rng = np.random.default_rng(1)
    old = Ranker(
        rng.normal(size=width).tolist(),
        rng.uniform(0.5, 2, size=width).tolist(),
        rng.normal(size=width).tolist(),
        0.1,
        names=list(LISTWISE_FEATURES),
    )
    old.save(tmp_path / "ranker.json")
    assert json.loads((tmp_path / "ranker.json").read_text())["format"] == 2
    loaded = Ranker.load(tmp_path / "ranker.json")
    assert loaded is not None and loaded.names == list(LISTWISE_FEATURES)
    found, text = synthetic_queries(1, 6)[0]
    blind, informed = features(found, text), features(found, text, {"ask_invoicing": 1.0})
    assert np.allclose(loaded.scores(blind), loaded.scores(informed))


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


def two_right_answers(n: int, seed: int) -> list[Example]:
    """Two right answers per question: one states the fact (a weaker question match, a
    closer body), the other does not (the closest question); six wrong ones."""
    rng = random.Random(seed)
    text = "quel est le délai"
    rows = []
    for q in range(n):
        found = [
            candidate(f"d{q}-{i}", rng.uniform(0.5, 1.5), rng.uniform(0.70, 0.80)) for i in range(6)
        ]
        says = candidate(f"says-{q}", rng.uniform(0.5, 1.0), rng.uniform(0.83, 0.87))
        says = replace(says, body=rng.uniform(0.84, 0.88))
        silent = candidate(f"silent-{q}", rng.uniform(0.5, 1.0), rng.uniform(0.90, 0.96))
        found = sorted([*found, says, silent], key=lambda c: -c.score)
        query = {"text": text, "answers": [says.doc_id, silent.doc_id], "must_mention_any": ["x"]}
        rows += examples(
            [query], lambda _q, f=found: (f, text, {}, None), lambda d, _t: d.startswith("says")
        )
    return rows


def test_pairwise_training_prefers_the_right_answer_that_states_the_fact() -> None:
    rows = two_right_answers(60, 4)
    assert all(r.states is not None and r.states.sum() == 1 for r in rows)
    held_out = two_right_answers(30, 5)

    def stating_first(ranker: Ranker) -> float:
        firsts = [r.states[int(np.argmax(ranker.scores(r.x)))] for r in held_out]  # type: ignore[index]
        return float(np.mean(firsts))

    indifferent = train(rows, folds=3, objective="pairwise", prefer=0.0)
    preferring = train(rows, folds=3, objective="pairwise", prefer=1.0)
    assert preferring.report["objective"] == "pairwise"
    assert stating_first(preferring) > stating_first(indifferent)
    assert stating_first(preferring) >= 0.9


def test_pairwise_scores_are_probabilities_that_separate_right_from_wrong() -> None:
    rows = []
    for found, text in synthetic_queries(60, 6):
        y = np.asarray([1.0 if c.doc_id.startswith("right") else 0.0 for c in found])
        rows.append(Example(features(found, text), y))
    for objective in ("pairwise", "pointwise", "mixed"):
        ranker = fit(rows, 1.0, objective)
        p = np.concatenate([1 / (1 + np.exp(-ranker.scores(r.x))) for r in rows])
        y = np.concatenate([r.y for r in rows])
        assert p.min() > 0 and p.max() < 1
        # Platt scaling with the pointwise model's class balance: right answers sit high,
        # wrong ones low, on both sides of one half.
        assert p[y > 0].mean() > 0.5 > p[y == 0].mean()
    with pytest.raises(ValueError):
        fit(rows, 1.0, "listwise")


def test_questions_without_expected_terms_carry_no_fact_preference() -> None:
    found, text = synthetic_queries(1, 7)[0]
    rows = examples(
        [{"text": text, "answers": ["right-0"]}, {"text": "salut", "negative": True}],
        lambda _q: (found, text, {}, None),
        lambda _d, _t: True,
    )
    assert [r.states for r in rows] == [None, None]
    assert rows[1].y.sum() == 0  # a negative: every candidate wrong


def test_boosted_training_adds_trees_that_travel_in_the_json(tmp_path: Path) -> None:
    rows = []
    for found, text in synthetic_queries(60, 3):
        y = np.asarray([1.0 if c.doc_id.startswith("right") else 0.0 for c in found])
        rows.append(Example(features(found, text), y))
    ranker = train(rows, folds=3, objective="boosted")
    assert ranker.trees is not None
    best_c = str(ranker.report["C"])
    assert f"boosted@{best_c}" in ranker.report["cv"]  # type: ignore[operator]
    found, text = synthetic_queries(1, 98)[0]
    assert ranker.rerank(found, text)[0][0].doc_id.startswith("right")
    path = tmp_path / "ranker.json"
    ranker.save(path)
    loaded = Ranker.load(path)
    assert loaded is not None and loaded.trees is not None
    x = features(found, text)
    assert np.allclose(loaded.scores(x), ranker.scores(x))
    linear_only = replace(ranker, trees=None)
    assert not np.allclose(linear_only.scores(x), ranker.scores(x))


def test_the_word_columns_are_the_candidates_own_and_missed_words() -> None:
    found, text = synthetic_queries(1, 7)[0]
    found = [replace(c, own_words=0.1 * i, missed_words=1 - 0.1 * i) for i, c in enumerate(found)]
    x = features(found, text)
    assert x.shape == (len(found), len(FEATURES))
    assert np.allclose(x[:, FEATURES.index("own_words")], [c.own_words for c in found])
    assert np.allclose(x[:, FEATURES.index("missed_words")], [c.missed_words for c in found])
    assert FEATURES[-len(MEMORY_FEATURES) :] == MEMORY_FEATURES  # `remember` fills the last ones


def test_a_format_4_model_loads_and_ignores_the_word_columns(tmp_path: Path) -> None:
    """The ranker shipped before the word columns (and one retrained in data_dir/models)
    stays in service and scores as it did, whatever the candidates' words."""
    names = [n for n in FEATURES if n not in WORD_FEATURES]
    rng = np.random.default_rng(4)
    weights = rng.normal(size=len(names)).tolist()
    coef = [0.0 if n in MEMORY_FEATURES else w for n, w in zip(names, weights, strict=True)]
    old = Ranker(
        rng.normal(size=len(names)).tolist(),
        rng.uniform(0.5, 2, size=len(names)).tolist(),
        coef,  # no memory: its columns weigh nothing
        -0.2,
        names=names,
    )
    old.save(tmp_path / "ranker.json")
    assert json.loads((tmp_path / "ranker.json").read_text())["format"] == 4
    loaded = Ranker.load(tmp_path / "ranker.json")
    assert loaded is not None and loaded.names == names
    found, text = synthetic_queries(1, 8)[0]
    worded = [replace(c, own_words=1.0, missed_words=0.5) for c in found]
    assert np.allclose(loaded.scores(features(found, text)), loaded.scores(features(worded, text)))
