"""Precision and recall of the entity extractor (tools, sectors) on the annotated intent test set.

    PYTHONPATH=. .venv/bin/python benchmarks/entity_bench.py [--test nlu/data/test.yml]
        [--out benchmarks/results/entities.json]

The extractor is built from `nlu/data/train` as the intent model builds it, then read on
every example of the test file; an entity counts as found when its type and value (case
aside) match an annotation of that example. `without_plain_words` is the same gazetteer with
the typo-tolerant pass free to read any word as a misspelt name, as before the plain words
(`nlu.entities.plain_words`): the difference is what that guard removes. No encoder is
needed: extraction does not read the sentence vector.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from benchmarks.common import cpu_model  # noqa: E402
from nlu.entities import EntityExtractor  # noqa: E402
from nlu.training_data import TrainingData, load_training_data  # noqa: E402


def scores(extractor: EntityExtractor, test: TrainingData) -> dict[str, object]:
    """True and false positives, misses, precision and recall, and each false positive."""
    tp = fp = fn = 0
    wrong: list[list[str]] = []
    for example in test.examples:
        gold = {(s.entity, s.value.lower()) for s in example.entities}
        got = {(e.entity, e.value.lower()) for e in extractor.extract(example.text)}
        tp, fp, fn = tp + len(gold & got), fp + len(got - gold), fn + len(gold - got)
        wrong += [[example.text, value] for _, value in sorted(got - gold)]
    return {
        "found": tp,
        "false_positives": fp,
        "missed": fn,
        "precision": round(tp / max(tp + fp, 1), 3),
        "recall": round(tp / max(tp + fn, 1), 3),
        "false_positive_examples": wrong,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--train", type=Path, default=ROOT / "nlu/data/train")
    parser.add_argument("--test", type=Path, default=ROOT / "nlu/data/test.yml")
    parser.add_argument("--out", type=Path, default=ROOT / "benchmarks/results/entities.json")
    args = parser.parse_args()
    shipped = EntityExtractor.from_training_data(load_training_data(args.train))
    payload = shipped.to_dict()
    payload["words"] = []
    unguarded = EntityExtractor.from_dict(payload)
    test = load_training_data(args.test)
    report = {
        "cpu": cpu_model(),
        "examples": len(test.examples),
        "shipped": scores(shipped, test),
        "without_plain_words": scores(unguarded, test),
    }
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(report, ensure_ascii=False, indent=1) + "\n", encoding="utf-8")
    for name in ("shipped", "without_plain_words"):
        s = report[name]
        print(
            f"{name}: precision {s['precision']} recall {s['recall']} "  # type: ignore[index]
            f"({s['found']} found, {s['false_positives']} false, {s['missed']} missed)"  # type: ignore[index]
        )


if __name__ == "__main__":
    main()
