"""Add new labelled merchant questions to the train and test files, stratified by topic.

The ranker trains on `train.yml` only; every figure in benchmarks/RESULTS.md is measured on
`test.yml`. A question once held out must stay held out, so this script never re-splits: it
keeps both files as they are and appends only the questions they do not hold yet
(deterministic: the same input gives the same split):

    python scripts/split_eval.py new.yml [more.yml ...]
"""

from __future__ import annotations

import random
import sys
from collections import defaultdict
from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from knowledge_base.loader import load_knowledge_base  # noqa: E402

TEST_SHARE = 0.4
EVAL_DIR = ROOT / "knowledge_base" / "eval"

Query = dict  # type: ignore[type-arg]  # one labelled question as the YAML holds it


def topic_of(query: Query, kb) -> str:  # type: ignore[no-untyped-def]
    for doc_id in query.get("answers") or []:
        for store in (kb.guides, kb.faq, kb.checklists):
            if doc_id in store:
                return store[doc_id].topic
        if doc_id in kb.tools:
            return "find_alternative"
    return "unanswerable"


def load_queries(path: Path) -> list[Query]:
    if not path.is_file():
        return []
    return yaml.safe_load(path.read_text(encoding="utf-8")) or []


def split_new(
    candidates: list[Query], held: set[str], topic: dict[str, str]
) -> tuple[list[Query], list[Query]]:
    """The candidates neither file holds, once each, split train/test within each topic."""
    fresh: dict[str, Query] = {}
    for query in candidates:
        if query["text"] not in held:
            fresh.setdefault(query["text"], query)
    by_topic: dict[str, list[Query]] = defaultdict(list)
    for text in sorted(fresh):
        by_topic[topic[text]].append(fresh[text])
    rng = random.Random(0)
    train: list[Query] = []
    test: list[Query] = []
    for name in sorted(by_topic):
        group = by_topic[name]
        rng.shuffle(group)
        cut = round(len(group) * TEST_SHARE)
        test += group[:cut]
        train += group[cut:]
        print(f"{name:24} +{len(group) - cut:3} train +{cut:3} test")
    return train, test


def append(path: Path, part: list[Query]) -> None:
    """Append at the end, so the file's existing lines (and comments) stay as they are."""
    if not part:
        return
    text = yaml.safe_dump(part, allow_unicode=True, sort_keys=False, width=100)
    with path.open("a", encoding="utf-8") as out:
        out.write("# Added by scripts/split_eval.py (stratified by topic, seed 0).\n" + text)


def main(sources: list[Path]) -> None:
    if not sources:
        sys.exit(__doc__)
    kb, _ = load_knowledge_base(ROOT / "knowledge_base" / "content")
    train_file, test_file = EVAL_DIR / "train.yml", EVAL_DIR / "test.yml"
    held = {q["text"] for q in load_queries(train_file) + load_queries(test_file)}
    candidates = [query for source in sources for query in load_queries(source)]
    topics = {query["text"]: topic_of(query, kb) for query in candidates}
    train, test = split_new(candidates, held, topics)
    append(train_file, train)
    append(test_file, test)
    print(f"+{len(train)} train, +{len(test)} test")


if __name__ == "__main__":
    main([Path(arg) for arg in sys.argv[1:]])
