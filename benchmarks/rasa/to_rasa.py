"""Convert MASSIVE French ({"text", "intent"} JSON lines) into Rasa 3.x NLU YAML.

    python benchmarks/rasa/to_rasa.py [--data DIR] [--work DIR]

Writes <work>/train/nlu.yml and <work>/test/nlu.yml (default work folder:
benchmarks/rasa/work/, git-ignored). Runs with any Python 3 (standard library only).

Escaping: examples are written in Rasa's list form (`- text: "..."`), each text a
JSON-encoded (hence YAML 1.2 double-quoted) scalar, so quotes, colons, '#', leading
'-' or backslashes cannot break the YAML. Rasa still reads entity markup inside the
text (`[x](ent)`, `[x]{...}`, `[x][...]`), which always starts with '[': square
brackets are therefore mapped to parentheses (`neutralise`). run_diet.py applies the
same function to test texts before parsing so train and test see the same text.
"""

from __future__ import annotations

import argparse
import json
import sys
from collections import Counter, defaultdict
from pathlib import Path

HERE = Path(__file__).resolve().parent
ROOT = HERE.parents[1]  # /work/main
DEFAULT_DATA = ROOT.parent / "shared" / "data" / "massive_fr"
DEFAULT_WORK = HERE / "work"

_NEUTRAL = str.maketrans({"[": "(", "]": ")"})


def neutralise(text: str) -> str:
    """Text as given to Rasa: single line, no square brackets (no entity markup)."""
    return " ".join(text.translate(_NEUTRAL).split())


def load_jsonl(path: Path) -> list[dict[str, str]]:
    rows = []
    with path.open(encoding="utf-8") as handle:
        for number, line in enumerate(handle, 1):
            if not line.strip():
                continue
            row = json.loads(line)
            if not isinstance(row.get("text"), str) or not isinstance(row.get("intent"), str):
                raise ValueError(f"{path}:{number}: expected string 'text' and 'intent'")
            rows.append(row)
    return rows


def to_yaml(rows: list[dict[str, str]]) -> tuple[str, dict[str, int]]:
    by_intent: dict[str, list[str]] = defaultdict(list)
    stats = Counter()
    for row in rows:
        text = neutralise(row["text"])
        if text != row["text"]:
            stats["texts_changed"] += 1
        if not text:
            stats["empty_skipped"] += 1
            continue
        by_intent[row["intent"]].append(text)
    lines = ['version: "3.1"', "nlu:"]
    for intent in sorted(by_intent):
        lines.append(f"- intent: {json.dumps(intent)}")
        lines.append("  examples:")
        for text in by_intent[intent]:
            lines.append(f"  - text: {json.dumps(text, ensure_ascii=False)}")
            stats["examples"] += 1
    stats["intents"] = len(by_intent)
    return "\n".join(lines) + "\n", dict(stats)


def convert(data: Path, work: Path) -> dict[str, dict[str, int]]:
    report = {}
    for split in ("train", "test"):
        rows = load_jsonl(data / f"{split}.jsonl")
        text, stats = to_yaml(rows)
        pairs = Counter((neutralise(r["text"]), r["intent"]) for r in rows)
        labels = defaultdict(set)
        for t, i in pairs:
            labels[t].add(i)
        stats["duplicate_examples"] = sum(n - 1 for n in pairs.values())
        stats["texts_with_several_intents"] = sum(1 for s in labels.values() if len(s) > 1)
        out = work / split / "nlu.yml"
        out.parent.mkdir(parents=True, exist_ok=True)
        out.write_text(text, encoding="utf-8")
        report[split] = stats
        print(f"{split}: {stats} -> {out}", file=sys.stderr)
    return report


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", type=Path, default=DEFAULT_DATA)
    parser.add_argument("--work", type=Path, default=DEFAULT_WORK)
    args = parser.parse_args()
    print(json.dumps(convert(args.data, args.work)))


if __name__ == "__main__":
    main()
