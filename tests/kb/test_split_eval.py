"""scripts/split_eval.py adds new questions without ever moving one already split."""

from __future__ import annotations

import importlib.util
from pathlib import Path

import yaml

SCRIPT = Path(__file__).resolve().parents[2] / "scripts" / "split_eval.py"


def _script():  # type: ignore[no-untyped-def]
    spec = importlib.util.spec_from_file_location("split_eval", SCRIPT)
    assert spec and spec.loader
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_only_questions_neither_file_holds_are_split_once_each() -> None:
    split_eval = _script()
    candidates = [{"text": f"q{i}"} for i in range(10)] + [{"text": "q3"}, {"text": "old"}]
    topics = {q["text"]: ("a" if q["text"] < "q5" else "b") for q in candidates}
    train, test = split_eval.split_new(candidates, {"old"}, topics)
    texts = [q["text"] for q in train + test]
    assert sorted(texts) == sorted(f"q{i}" for i in range(10))
    # 40 % of each topic's five new questions is held out
    assert sorted(topics[q["text"]] for q in test) == ["a", "a", "b", "b"]
    again = split_eval.split_new(list(reversed(candidates)), {"old"}, topics)
    assert (train, test) == again


def test_append_keeps_the_existing_lines(tmp_path: Path) -> None:
    split_eval = _script()
    existing = "# a comment the file keeps\n- text: ancienne question\n  answers: [x]\n"
    path = tmp_path / "train.yml"
    path.write_text(existing, encoding="utf-8")
    split_eval.append(path, [{"text": "nouvelle question", "answers": ["y"]}])
    text = path.read_text(encoding="utf-8")
    assert text.startswith(existing)
    assert [q["text"] for q in yaml.safe_load(text)] == ["ancienne question", "nouvelle question"]
    split_eval.append(path, [])
    assert path.read_text(encoding="utf-8") == text
