"""Retrieval metrics: hit@k, MRR, top-1/top-5, on labelled queries."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from pathlib import Path

import yaml


def load_queries(path: Path) -> list[dict[str, object]]:
    """`knowledge_base/eval/{train,test}.yml`: a list of {text, answers: [ids]}, optionally
    with `must_mention_any: [terms]` (any competent answer contains one of them)."""
    data = yaml.safe_load(path.read_text(encoding="utf-8"))
    queries: list[dict[str, object]] = []
    for q in data:
        query: dict[str, object] = {
            "text": str(q["text"]),
            "answers": [str(a) for a in q.get("answers") or []],
        }
        if q.get("must_mention_any"):
            query["must_mention_any"] = [str(t) for t in q["must_mention_any"]]
        queries.append(query)
    return queries


def retrieval_metrics(
    queries: Sequence[dict[str, object]],
    ranked_ids: Callable[[int, dict[str, object]], list[str]],
) -> dict[str, object]:
    """`ranked_ids(i, query)` returns the ranked document ids for query i."""
    first_ranks: list[int | None] = []
    misses = []
    for i, query in enumerate(queries):
        answers = set(query["answers"])  # type: ignore[arg-type]
        ids = ranked_ids(i, query)
        rank = next((r for r, doc_id in enumerate(ids) if doc_id in answers), None)
        first_ranks.append(rank)
        if rank is None or rank >= 3:
            misses.append({"text": query["text"], "answers": sorted(answers), "got": ids[:3]})
    n = len(first_ranks) or 1

    def hit(k: int) -> float:
        return round(sum(1 for r in first_ranks if r is not None and r < k) / n, 4)

    mrr = round(sum(1 / (r + 1) for r in first_ranks if r is not None) / n, 4)
    return {
        "n": len(first_ranks),
        "top1": hit(1),
        "hit@3": hit(3),
        "top5": hit(5),
        "hit@10": hit(10),
        "mrr": mrr,
        "misses": misses,
    }
