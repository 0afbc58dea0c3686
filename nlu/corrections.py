"""Corrections made by support staff: (merchant message, right intent) pairs in Rasa YAML.

The back office writes them to one file (`Settings.resolved_nlu_corrections_file`), kept
apart from the shipped data so that an upgrade never overwrites them and an operator can read,
diff or reuse them with Rasa tools. The default model is trained on shipped data + this file.

Merchant text is free text. Comptoir's loader reads `[...]` as entity markup and refuses any
other bracket, and the YAML reader refuses control characters, so `clean_text` turns brackets
into parentheses and control characters into spaces: the stored text is what the model learns
and what `load_training_data` gives back, character for character.
"""

from __future__ import annotations

import os
import re
import tempfile
from collections.abc import Iterable
from pathlib import Path

from .training_data import Example, TrainingData, fold, load_training_data

# What PyYAML accepts in a stream (its reader's printable set); anything else breaks the file.
_NOT_PRINTABLE = re.compile(
    "[^\x09\x0a\x0d\x20-\x7e\x85\xa0-\ud7ff\ue000-\ufffd\U00010000-\U0010ffff]"
)
_BRACKETS = str.maketrans({"[": "(", "]": ")"})
_INTENT_NAME = re.compile(r"^[\w.\-/]+$")
_QUOTES = "\"'"


def clean_text(text: str) -> str:
    """The form a correction is stored and trained in (show it to staff as such).

    One line, single spaces, no control characters, brackets as parentheses (the loader has
    no escape for a literal bracket: `[x](y)` would become an entity).
    """
    text = _NOT_PRINTABLE.sub(" ", text).translate(_BRACKETS)
    return " ".join(text.split())


def clean_intent(intent: str) -> str:
    """The intent name, checked: it is written unquoted as a YAML key value."""
    name = intent.strip()
    if not _INTENT_NAME.match(name):
        raise ValueError(f"nom d'intention invalide pour une correction : {intent!r}")
    return name


def normalise_corrections(corrections: Iterable[tuple[str, str]]) -> list[tuple[str, str]]:
    """Cleaned, one per folded text (the last one given wins: it is the latest decision),
    sorted by intent then text. Empty texts are dropped: there is nothing to learn."""
    latest: dict[str, tuple[str, str]] = {}
    for text, intent in corrections:
        name = clean_intent(intent)
        cleaned = clean_text(text)
        if cleaned:
            key = fold(cleaned)
            latest.pop(key, None)  # re-insert: a later correction of the same text wins
            latest[key] = (cleaned, name)
    return sorted(latest.values(), key=lambda pair: (pair[1], fold(pair[0]), pair[0]))


def render_corrections(corrections: list[tuple[str, str]]) -> str:
    """Rasa 3.x YAML for already normalised corrections (see `normalise_corrections`)."""
    lines = ['version: "3.1"', "nlu:"]
    current = None
    for text, intent in corrections:
        if intent != current:
            lines += [f"- intent: {intent}", "  examples: |"]
            current = intent
        lines.append(f"    - {_protect(text)}")
    return "\n".join(lines) + "\n"


def _protect(text: str) -> str:
    """The loader strips one pair of matching outer quotes: add a pair when the text has one."""
    if len(text) >= 2 and text[0] == text[-1] and text[0] in _QUOTES:
        return f'"{text}"'
    return text


def write_corrections(path: Path, corrections: Iterable[tuple[str, str]]) -> None:
    """Replace the corrections file atomically (readers see the old or the new file, never
    half); no correction left removes it. The written file is loaded back and checked first."""
    path = Path(path)
    rows = normalise_corrections(corrections)
    if not rows:
        path.unlink(missing_ok=True)
        return
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, name = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    tmp = Path(name)
    try:
        with os.fdopen(fd, "w", encoding="utf-8", newline="\n") as handle:
            handle.write(render_corrections(rows))
            handle.flush()
            os.fsync(handle.fileno())
        written = load_training_data(tmp)
        if sorted((e.text, e.intent) for e in written.examples) != sorted(rows):
            raise ValueError(f"{path} : les corrections ne se relisent pas à l'identique")
        os.replace(tmp, path)
    finally:
        tmp.unlink(missing_ok=True)


def read_corrections(path: Path) -> list[tuple[str, str]]:
    """(text, intent) pairs of the file, or [] when there is none."""
    data = _load_corrections(Path(path))
    return [(e.text, e.intent) for e in data.examples]


def _load_corrections(path: Path) -> TrainingData:
    if not path.is_file() or not path.read_text(encoding="utf-8").strip():
        return TrainingData()
    return load_training_data(path)


def training_data_with_corrections(train_dir: Path, corrections_file: Path) -> TrainingData:
    """Shipped data + corrections. A corrected text that is also a shipped example takes the
    staff's intent (the human is right) and keeps the example's entity annotations; without
    a corrections file the data, and so its hash, is exactly the shipped data."""
    shipped = load_training_data(train_dir, exclude=(Path(corrections_file),))
    corrections = _load_corrections(Path(corrections_file))
    if not corrections.examples:
        return shipped
    wanted = {fold(e.text): e for e in corrections.examples}  # the last one of a text wins
    matched: set[str] = set()
    examples: list[Example] = []
    for example in shipped.examples:
        key = fold(example.text)
        fix = wanted.get(key)
        if fix is None:
            examples.append(example)
        elif key not in matched:
            # The shipped example carries the entity spans: keep it, relabelled.
            matched.add(key)
            examples.append(
                example
                if fix.intent == example.intent
                else Example(example.text, fix.intent, example.entities, fix.source)
            )
    base = TrainingData(examples, shipped.synonyms, shipped.lookups, shipped.regexes)
    extra = TrainingData(
        [e for key, e in wanted.items() if key not in matched],
        corrections.synonyms,
        corrections.lookups,
        corrections.regexes,
    )
    return base.merge(extra)
