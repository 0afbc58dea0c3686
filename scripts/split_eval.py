"""Split the labelled merchant questions into train and test files, stratified by topic.

The ranker trains on `train.yml` only; every figure in benchmarks/RESULTS.md is measured on
`test.yml`. Run once when questions are added (deterministic: the same input gives the same
split): `python scripts/split_eval.py knowledge_base/eval/train.yml knowledge_base/eval/test.yml
new.yml` merges the files (a question once), sorts them by text and splits them again.
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


def topic_of(query: dict, kb) -> str:  # type: ignore[no-untyped-def, type-arg]
    for doc_id in query.get("answers") or []:
        for store in (kb.guides, kb.faq, kb.checklists):
            if doc_id in store:
                return store[doc_id].topic
        if doc_id in kb.tools:
            return "find_alternative"
    return "unanswerable"


def main(sources: list[Path]) -> None:
    kb, _ = load_knowledge_base(ROOT / "knowledge_base" / "content")
    merged: dict[str, dict] = {}  # type: ignore[type-arg]
    for source in sources:
        for query in yaml.safe_load(source.read_text(encoding="utf-8")) or []:
            merged.setdefault(query["text"], query)
    queries = [merged[text] for text in sorted(merged)]
    by_topic: dict[str, list[dict]] = defaultdict(list)  # type: ignore[type-arg]
    for query in queries:
        by_topic[topic_of(query, kb)].append(query)
    rng = random.Random(0)
    train, test = [], []
    for topic in sorted(by_topic):
        group = by_topic[topic]
        rng.shuffle(group)
        cut = round(len(group) * TEST_SHARE)
        test += group[:cut]
        train += group[cut:]
        print(f"{topic:24} {len(group) - cut:4} train {cut:4} test")
    header = (
        "# Merchant questions written apart from the content, labelled with every id that\n"
        "# answers them; `must_mention_any`: terms any competent answer contains.\n"
        "# Made by scripts/split_eval.py (stratified by topic, seed 0). {part}\n"
    )
    for name, part, note in (
        ("train.yml", train, "The ranker trains on this file."),
        ("test.yml", test, "Held out: never trained on; figures are measured here."),
    ):
        text = yaml.safe_dump(part, allow_unicode=True, sort_keys=False, width=100)
        (EVAL_DIR / name).write_text(header.format(part=note) + text, encoding="utf-8")
    print(f"{len(train)} train, {len(test)} test")


if __name__ == "__main__":
    main([Path(arg) for arg in sys.argv[1:]])
