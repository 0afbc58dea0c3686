"""`benchmarks/ranker_oof.py`: every train question is answered once, by a ranker trained
on the other folds only (with the production training code), through the assistant."""

from __future__ import annotations

from collections import Counter

import numpy as np
import pytest

from benchmarks.ranker_oof import (
    abstained,
    aggregate,
    assign_folds,
    first_rank,
    fold_memories,
    fold_rankers,
    held_rows,
    memory_variant,
    miss_details,
    oof_pass,
    recipe_rows,
    thresholds,
    without,
)
from bot import answers, kb_eval
from bot.kb_eval import EVAL_DIR
from bot.ranking import negative_queries, training_rows
from knowledge_base.evaluation import load_queries
from knowledge_base.memory import MEMORY_FEATURES
from knowledge_base.ranker import FEATURES, Example


def test_folds_cover_every_item_once_and_spread_each_stratum_evenly() -> None:
    strata = ["a"] * 13 + ["b"] * 7 + ["c"] * 2
    folds = assign_folds(strata, 5, seed=0)
    assert len(folds) == len(strata) and set(folds) == set(range(5))
    sizes = Counter(folds).values()
    assert max(sizes) - min(sizes) <= 1
    for stratum in "abc":
        counts = Counter(f for f, s in zip(folds, strata, strict=True) if s == stratum)
        assert max(counts.values()) - min(counts.get(f, 0) for f in range(5)) <= 1
    assert assign_folds(strata, 5, seed=0) == folds
    assert assign_folds(strata, 5, seed=1) != folds


def _fold_report(
    n: int, ranks: tuple[float, float, float], mention: dict, unanswerable: dict
) -> dict[str, object]:
    """One fold's `kb_eval.evaluate` report, as much of it as `aggregate` reads."""
    top1, hit3, mrr = ranks
    return {
        "n": n,
        "top1": top1,
        "hit@3": hit3,
        "mrr": mrr,
        "mention": mention,
        "unanswerable": unanswerable,
    }


def test_fold_figures_add_up_to_the_figures_over_all_questions() -> None:
    first = _fold_report(3, (2 / 3, 1.0, 0.8333), {"n": 2, "misses": [{}]}, {"n": 2, "sure": 1})
    second = _fold_report(1, (0.0, 0.0, 0.0), {"n": 1, "misses": []}, {"n": 3, "sure": 0})
    both = aggregate([first, second])
    assert both["n"] == 4 and both["top1"] == 0.5 and both["top1_count"] == 2
    assert both["mrr"] == round(0.8333 * 3 / 4, 4)
    assert both["facts"] == "2/3" and both["fact_rate"] == round(2 / 3, 4)
    assert both["unanswerable_sure"] == "1/5" and both["unanswerable_sure_rate"] == 0.2


def test_the_shipped_recipe_leaves_the_unanswerable_questions_out() -> None:
    queries = [{"text": "a", "answers": ["x"]}, {"text": "b", "answers": []}]
    rows = [["row-a"], ["row-b"]]
    assert recipe_rows("indomain", queries, rows) == rows  # type: ignore[arg-type]
    assert recipe_rows("shipped", queries, rows) == [["row-a"], []]  # type: ignore[arg-type]


def test_an_abstain_threshold_turns_the_doubted_answers_into_unsure_turns() -> None:
    held = [
        {"text": "a", "answers": ["x"], "must_mention_any": ["t"]},  # stated, doubted at 0.2
        {"text": "b", "answers": ["y"], "must_mention_any": ["t"]},  # stated, sure at 0.9
        {"text": "c", "answers": []},  # answered off target at 0.1
        {"text": "d", "answers": []},  # answered off target at 0.7
    ]
    report = _fold_report(
        2, (1.0, 1.0, 1.0), {"n": 2, "misses": []}, {"n": 2, "sure": 2, "sure_texts": ["c", "d"]}
    )
    seen = {"a": 0.2, "b": 0.9, "c": 0.1, "d": 0.7}
    at = abstained(report, held, seen, 0.3)
    assert aggregate([at])["facts"] == "1/2" and at["top1"] == 1.0
    assert at["unanswerable"]["sure_texts"] == ["d"] and at["unanswerable"]["sure"] == 1
    off = abstained(report, held, seen, 0.0)
    assert aggregate([off])["facts"] == "2/2" and off["unanswerable"]["sure"] == 2


def test_a_questions_first_right_answer_is_found_among_the_ids_it_got() -> None:
    query = {"text": "q", "answers": ["b", "c"]}
    assert first_rank(query, ["a", "c", "b"]) == 1
    assert first_rank(query, ["a", "d"]) is None
    assert first_rank({"text": "q", "answers": []}, ["a"]) is None


def test_a_memory_variant_names_the_columns_kept_and_the_neighbours() -> None:
    assert memory_variant("on") == (MEMORY_FEATURES, 10)
    assert memory_variant("lift@5") == (("memory_lift",), 5)
    with pytest.raises(SystemExit):
        memory_variant("lift+share@5")
    row = Example(np.ones((2, len(FEATURES))), np.asarray([1.0, 0.0]))
    x = without([row], ["memory_gap"])[0].x
    assert not x[:, FEATURES.index("memory_gap")].any()
    assert x[:, FEATURES.index("memory_lift")].all() and x[:, 0].all()


def test_thresholds_are_restored_after_the_block() -> None:
    shipped = answers.SURE_WHEN_INTENT_UNSURE
    with thresholds({"SURE_WHEN_INTENT_UNSURE": 0.5}):
        assert answers.SURE_WHEN_INTENT_UNSURE == 0.5
    assert shipped == answers.SURE_WHEN_INTENT_UNSURE


def test_a_held_out_question_never_finds_its_own_label_in_its_folds_memory() -> None:
    """Each question is the only one naming its item: whatever leaks shows as evidence."""
    rng = np.random.default_rng(0)
    n, width = 24, len(FEATURES)
    queries = [{"text": f"q{i}", "answers": [f"d{i}"]} for i in range(n)]
    vectors = rng.normal(size=(n, 16))
    vectors /= np.linalg.norm(vectors, axis=1, keepdims=True)
    rows = []
    for i in range(n):
        doc_ids = (f"d{i}", f"d{(i + 1) % n}", f"d{(i + 2) % n}")
        y = np.asarray([1.0, 0.0, 0.0])
        x = rng.normal(size=(3, width))
        rows.append([Example(x, y, None, doc_ids, vectors[i].astype(np.float32))])
    folds = assign_folds(["all"] * n, 3, seed=0)
    memories = fold_memories(queries, rows, folds, 3, "e5")
    rankers = fold_rankers(rows, folds, [], [], 3, "pointwise", memories)
    start = FEATURES.index(MEMORY_FEATURES[0])
    for f, memory in enumerate(memories):
        held = {i for i in range(n) if folds[i] == f}
        assert rankers[f].memory is memory and len(memory) == n - len(held)
        assert not {label for labels in memory.labels for label in labels} & {f"d{i}" for i in held}
        assert (memory.vectors @ vectors[sorted(held)].T).max() < 0.99
    seen = held_rows(rows, folds, rankers)
    for i, r in enumerate(seen):
        own = r[0].x[0, start:]
        assert own[0] == 0.0 and own[1] <= 0.0  # its own item: no lift over the floor
        assert np.array_equal(r[0].x[:, :start], rows[i][0].x[:, :start])
    # Answered as new questions, the memory does speak: some candidates get a lift.
    assert any(r[0].x[:, start].any() for r in seen)


@pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)
def test_each_question_is_answered_by_a_ranker_that_never_saw_it(services) -> None:  # type: ignore[no-untyped-def]
    queries = [q for q in load_queries(EVAL_DIR / "train.yml") if q["answers"]][:12]
    negatives = negative_queries()[:40]
    folds = assign_folds(["all"] * len(queries), 2, seed=0)
    negative_folds = assign_folds(["negative"] * len(negatives), 2, seed=0)
    rows = training_rows(services, queries)
    negative_rows = training_rows(services, negatives)
    rankers = fold_rankers(rows, folds, negative_rows, negative_folds, 2, "pointwise")

    for f, ranker in enumerate(rankers):  # trained on the other fold's rows, nothing else
        other = [e for q, fold in zip(rows, folds, strict=True) if fold != f for e in q]
        other_negatives = [
            e for q, fold in zip(negative_rows, negative_folds, strict=True) if fold != f for e in q
        ]
        assert ranker.report["queries"] == len(other) + len(other_negatives)
    assert rankers[0].coef != rankers[1].coef

    shipped = services.search.ranker
    report = oof_pass(services, queries, folds, rankers, "test")
    assert services.search.ranker is shipped
    assert report["n"] == len(queries)
    assert [f["n"] for f in report["folds"]] == [folds.count(0), folds.count(1)]
    assert 0.0 <= report["top1"] <= report["hit@3"] <= 1.0
    details = report["mention_miss_details"]
    assert [m["text"] for m in details] == [m["text"] for m in report["mention_misses"]]


def test_miss_details_keep_the_whole_reply_and_the_ranking_of_each_miss() -> None:
    """A triage reads why a labelled reply lacks its fact: all of the reply (the report's
    misses cut it at 300 characters), the ranked ids and where the labelled one stands."""
    held = [
        {"text": "q1", "answers": ["b"], "must_mention_any": ["72 heures"]},
        {"text": "q2", "answers": ["a"], "must_mention_any": ["cnil"]},
        {"text": "q3", "answers": ["a"]},
    ]
    long_reply = "x " * 400 + "fin"
    got = {
        "q1": kb_eval.Answered(["a", "b", "c"], long_reply, 0.0, True),
        "q2": kb_eval.Answered(["a"], "Prévenez la CNIL.", 0.0, True),
        "q3": kb_eval.Answered(["a"], "", 0.0, True),
    }
    found = miss_details(held, got, fold=3)
    assert [m["text"] for m in found] == ["q1"]
    assert found[0]["reply"] == long_reply
    assert found[0]["hits"] == ["a", "b", "c"] and found[0]["first_rank"] == 1
    assert found[0]["answered"] is True and found[0]["fold"] == 3
