"""Rasa 3.x YAML training data: load (one file or a folder), validate, write back.

Comptoir keeps its training data in Rasa's format so that operators can reuse Rasa tools and
data sets, and so that any Rasa `nlu.yml` trains here. Supported, as in Rasa 3.x:
`intent` + `examples` (a block of `- ` lines, or a list of `{text, metadata}`), inline
entities `[Gmail](tool)` and `[gmail]{"entity": "tool", "value": "Gmail"}`, `synonym`,
`lookup` and `regex` sections. Other top-level keys (stories, rules, responses) are ignored.
One Comptoir reading of Rasa's intent-level `metadata`: `weight` (a number > 0, default 1)
is how much each example of that block counts in training, for examples borrowed from
elsewhere (`knowledge_base.yml`, the FAQ's questions); Rasa itself ignores it.
Every problem is reported with its file and line, all at once.
"""

from __future__ import annotations

import hashlib
import json
import re
from collections import Counter, defaultdict
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

import yaml

ENTITY_MARKUP = re.compile(
    r"\[(?P<text>[^\[\]]+)\]"
    r"(?:\((?P<short>[^()]+)\)|(?P<json>\{[^{}]*\}))"
)
YAML_SUFFIXES = (".yml", ".yaml")


@dataclass(frozen=True)
class EntitySpan:
    start: int
    end: int
    entity: str
    value: str
    role: str | None = None
    group: str | None = None


@dataclass(frozen=True)
class Example:
    text: str
    intent: str
    entities: tuple[EntitySpan, ...] = ()
    source: str = ""  # "file:line", for error messages and the operator's inbox
    weight: float = 1.0  # how much the example counts in training (intent-level metadata)


@dataclass
class TrainingData:
    examples: list[Example] = field(default_factory=list)
    synonyms: dict[str, str] = field(default_factory=dict)  # folded variant -> canonical value
    lookups: dict[str, list[str]] = field(default_factory=dict)  # entity/table -> values
    regexes: dict[str, list[str]] = field(default_factory=dict)  # name -> patterns

    @property
    def intents(self) -> list[str]:
        return sorted({e.intent for e in self.examples})

    def intent_counts(self) -> Counter[str]:
        return Counter(e.intent for e in self.examples)

    def texts(self) -> list[str]:
        return [e.text for e in self.examples]

    def labels(self) -> list[str]:
        return [e.intent for e in self.examples]

    def weights(self) -> list[float]:
        return [e.weight for e in self.examples]

    def merge(self, other: TrainingData) -> TrainingData:
        lookups: dict[str, list[str]] = defaultdict(list)
        for table in (self.lookups, other.lookups):
            for name, values in table.items():
                lookups[name].extend(v for v in values if v not in lookups[name])
        regexes: dict[str, list[str]] = defaultdict(list)
        for table in (self.regexes, other.regexes):
            for name, patterns in table.items():
                regexes[name].extend(p for p in patterns if p not in regexes[name])
        return TrainingData(
            examples=[*self.examples, *other.examples],
            synonyms={**self.synonyms, **other.synonyms},
            lookups=dict(lookups),
            regexes=dict(regexes),
        )

    def content_hash(self) -> str:
        """Stable over file order and layout: what a trained model was trained on."""
        payload = {
            "examples": sorted(
                (e.intent, e.text, [(s.start, s.end, s.entity, s.value) for s in e.entities])
                # A weight other than 1 is part of what was trained on (the default keeps
                # the hashes of unweighted data as they were).
                + ((e.weight,) if e.weight != 1.0 else ())
                for e in self.examples
            ),
            "synonyms": sorted(self.synonyms.items()),
            "lookups": {k: sorted(v) for k, v in sorted(self.lookups.items())},
            "regexes": {k: sorted(v) for k, v in sorted(self.regexes.items())},
        }
        blob = json.dumps(payload, ensure_ascii=False, sort_keys=True).encode()
        return hashlib.sha256(blob).hexdigest()[:16]


class TrainingDataError(ValueError):
    """The data cannot be used; `problems` lists every one as "file:line: message"."""

    def __init__(self, problems: list[str]) -> None:
        self.problems = problems
        shown = "\n".join(f"  - {p}" for p in problems[:50])
        more = f"\n  ... et {len(problems) - 50} autres" if len(problems) > 50 else ""
        super().__init__(f"{len(problems)} problème(s) dans les données :\n{shown}{more}")


def fold(text: str) -> str:
    """Case and space folding used for synonym look-ups."""
    return " ".join(text.lower().split())


def parse_example(markup: str) -> tuple[str, tuple[EntitySpan, ...]]:
    """`je veux [Gmail](tool)` -> ("je veux Gmail", (EntitySpan(8, 13, "tool", "Gmail"),))."""
    text_parts: list[str] = []
    spans: list[EntitySpan] = []
    cursor = 0
    length = 0
    for match in ENTITY_MARKUP.finditer(markup):
        before = markup[cursor : match.start()]
        text_parts.append(before)
        length += len(before)
        surface = match.group("text")
        entity, value, role, group = _entity_annotation(match)
        spans.append(
            EntitySpan(length, length + len(surface), entity, value or surface, role, group)
        )
        text_parts.append(surface)
        length += len(surface)
        cursor = match.end()
    text_parts.append(markup[cursor:])
    return "".join(text_parts), tuple(spans)


def _entity_annotation(match: re.Match[str]) -> tuple[str, str | None, str | None, str | None]:
    if match.group("json") is not None:
        try:
            data = json.loads(match.group("json"))
        except json.JSONDecodeError as exc:
            raise ValueError(f"annotation d'entité JSON invalide {match.group('json')!r}") from exc
        if not isinstance(data, dict) or not isinstance(data.get("entity"), str):
            raise ValueError(f'annotation sans clé "entity" : {match.group("json")!r}')
        value = data.get("value")
        return (
            data["entity"],
            None if value is None else str(value),
            data.get("role"),
            data.get("group"),
        )
    short = match.group("short").strip()
    # Rasa 1.x/2.x short form `[text](entity:value)`, still found in older data sets.
    entity, _, value = short.partition(":")
    if not entity:
        raise ValueError(f"nom d'entité vide dans {match.group(0)!r}")
    return entity.strip(), value.strip() or None, None, None


def render_example(example: Example) -> str:
    """The inverse of `parse_example`, in Rasa 3.x markup."""
    out: list[str] = []
    cursor = 0
    for span in sorted(example.entities, key=lambda s: s.start):
        surface = example.text[span.start : span.end]
        out.append(example.text[cursor : span.start])
        extra = {k: v for k, v in (("role", span.role), ("group", span.group)) if v}
        if span.value == surface and not extra:
            out.append(f"[{surface}]({span.entity})")
        else:
            payload = {
                "entity": span.entity,
                **({"value": span.value} if span.value != surface else {}),
                **extra,
            }
            out.append(f"[{surface}]{json.dumps(payload, ensure_ascii=False)}")
        cursor = span.end
    out.append(example.text[cursor:])
    return "".join(out)


def iter_data_files(path: Path) -> Iterator[Path]:
    """One file, or the YAML files under a folder (JSONL only when named explicitly)."""
    if path.is_file():
        yield path
        return
    if not path.is_dir():
        raise TrainingDataError([f"{path}: fichier ou dossier introuvable"])
    yield from sorted(p for p in path.rglob("*") if p.suffix in YAML_SUFFIXES and p.is_file())


def load_training_data(path: str | Path, *, exclude: Iterable[Path] = ()) -> TrainingData:
    """Load one Rasa YAML file or every YAML file under a folder; raise on any problem."""
    path = Path(path)
    excluded = {p.resolve() for p in exclude}
    data = TrainingData()
    problems: list[str] = []
    for file in iter_data_files(path):
        if file.resolve() in excluded:
            continue
        loader = _load_jsonl if file.suffix == ".jsonl" else _load_file
        part, file_problems = loader(file)
        problems.extend(file_problems)
        data = data.merge(part)
    if not problems and not data.examples:
        problems.append(f"{path}: aucun exemple d'intention trouvé (section `nlu:` attendue)")
    if problems:
        raise TrainingDataError(problems)
    return data


def _load_file(file: Path) -> tuple[TrainingData, list[str]]:
    problems: list[str] = []
    data = TrainingData()
    try:
        root = yaml.compose(file.read_text(encoding="utf-8"))
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark
        line = f"{mark.line + 1}" if mark is not None else "?"
        return data, [f"{file}:{line}: YAML invalide : {exc.problem}"]
    except (OSError, UnicodeDecodeError) as exc:
        return data, [f"{file}: illisible : {exc}"]
    if root is None:
        return data, []
    if not isinstance(root, yaml.MappingNode):
        return data, [f"{file}:1: le fichier doit être un dictionnaire YAML (version, nlu, ...)"]
    top = {key.value: value for key, value in root.value}
    nlu = top.get("nlu")
    if nlu is None:
        return data, []  # a domain, stories or rules file: nothing for the NLU
    if not isinstance(nlu, yaml.SequenceNode):
        return data, [f"{file}:{nlu.start_mark.line + 1}: `nlu:` doit être une liste"]
    for item in nlu.value:
        where = f"{file}:{item.start_mark.line + 1}"
        if not isinstance(item, yaml.MappingNode):
            problems.append(f"{where}: chaque élément de `nlu:` doit être un dictionnaire")
            continue
        fields = {key.value: value for key, value in item.value}
        kinds = [k for k in ("intent", "synonym", "lookup", "regex") if k in fields]
        if len(kinds) != 1:
            problems.append(
                f"{where}: un élément doit avoir exactement une clé parmi intent, "
                f"synonym, lookup, regex (trouvé : {sorted(fields)})"
            )
            continue
        kind = kinds[0]
        name_node = fields[kind]
        name = str(name_node.value).strip() if isinstance(name_node, yaml.ScalarNode) else ""
        if not name:
            problems.append(f"{where}: nom de {kind} vide")
            continue
        if "examples" not in fields:
            problems.append(f"{where}: `{kind}: {name}` n'a pas de clé `examples`")
            continue
        lines = list(_example_lines(fields["examples"], file, problems))
        if not lines:
            problems.append(f"{where}: `{kind}: {name}` n'a aucun exemple")
        weight = _block_weight(fields.get("metadata"), f"{file}", problems)
        for line_no, raw in lines:
            if kind == "intent":
                try:
                    text, spans = parse_example(raw)
                except ValueError as exc:
                    problems.append(f"{file}:{line_no}: {exc}")
                    continue
                if "[" in text or "]" in text:
                    problems.append(
                        f"{file}:{line_no}: crochet non fermé ou annotation "
                        f"d'entité mal formée : {raw!r}"
                    )
                    continue
                data.examples.append(Example(text, name, spans, f"{file}:{line_no}", weight))
            elif kind == "synonym":
                data.synonyms[fold(raw)] = name
            elif kind == "lookup":
                data.lookups.setdefault(name, []).append(raw)
            else:
                try:
                    re.compile(raw)
                except re.error as exc:
                    problems.append(f"{file}:{line_no}: expression régulière invalide : {exc}")
                    continue
                data.regexes.setdefault(name, []).append(raw)
    # Synonym values named in examples also count, as in Rasa.
    for example in data.examples:
        for span in example.entities:
            surface = example.text[span.start : span.end]
            if span.value != surface:
                data.synonyms.setdefault(fold(surface), span.value)
    return data, problems


def _block_weight(node: yaml.Node | None, file: str, problems: list[str]) -> float:
    """`metadata: {weight: 0.25}` of an intent block; 1 when absent."""
    if not isinstance(node, yaml.MappingNode):
        return 1.0
    fields = {key.value: value for key, value in node.value}
    raw = fields.get("weight")
    if raw is None:
        return 1.0
    try:
        weight = float(raw.value) if isinstance(raw, yaml.ScalarNode) else 0.0
    except ValueError:
        weight = 0.0
    if not weight > 0:
        problems.append(f"{file}:{raw.start_mark.line + 1}: `weight` doit être un nombre > 0")
        return 1.0
    return weight


def _load_jsonl(file: Path) -> tuple[TrainingData, list[str]]:
    """`{"text", "intent"}` lines, the shape of public benchmark sets such as MASSIVE."""
    data, problems = TrainingData(), []
    for line_no, line in enumerate(file.read_text(encoding="utf-8").splitlines(), start=1):
        if not line.strip():
            continue
        try:
            row = json.loads(line)
            text, intent = str(row["text"]).strip(), str(row["intent"]).strip()
        except (ValueError, KeyError, TypeError):
            problems.append(f'{file}:{line_no}: ligne JSON attendue avec "text" et "intent"')
            continue
        if text and intent:
            data.examples.append(Example(text, intent, (), f"{file}:{line_no}"))
    return data, problems


def _example_lines(node: yaml.Node, file: Path, problems: list[str]) -> Iterator[tuple[int, str]]:
    """Yield (line number, example) from a `|` block or a list of strings / {text: ...}."""
    if isinstance(node, yaml.ScalarNode):
        # Block scalars start on the line after the `|` indicator.
        first_line = node.start_mark.line + (2 if node.style in ("|", ">") else 1)
        for offset, line in enumerate(str(node.value).splitlines()):
            stripped = line.strip()
            if not stripped or stripped.startswith("#"):
                continue
            if not stripped.startswith("- ") and stripped != "-":
                problems.append(
                    f"{file}:{first_line + offset}: un exemple doit commencer par "
                    f"« - » : {stripped!r}"
                )
                continue
            value = stripped[1:].strip()
            if value:
                yield first_line + offset, _unquote(value)
        return
    if isinstance(node, yaml.SequenceNode):
        for child in node.value:
            line = child.start_mark.line + 1
            if isinstance(child, yaml.ScalarNode) and str(child.value).strip():
                yield line, str(child.value).strip()
            elif isinstance(child, yaml.MappingNode):
                sub = {k.value: v for k, v in child.value}
                text = sub.get("text")
                if isinstance(text, yaml.ScalarNode) and str(text.value).strip():
                    yield line, str(text.value).strip()
                else:
                    problems.append(f"{file}:{line}: exemple sans `text`")
        return
    problems.append(
        f"{file}:{node.start_mark.line + 1}: `examples` doit être un bloc « | » ou une liste"
    )


def _unquote(value: str) -> str:
    if len(value) >= 2 and value[0] == value[-1] and value[0] in "\"'":
        return value[1:-1]
    return value


def dump_training_data(data: TrainingData) -> str:
    """Rasa 3.x YAML for `data` (round-trips through `load_training_data`)."""
    lines = ['version: "3.1"', "nlu:"]
    by_intent: dict[tuple[str, float], list[Example]] = defaultdict(list)
    for example in data.examples:
        by_intent[(example.intent, example.weight)].append(example)
    for (intent, weight), examples in by_intent.items():
        lines.append(f"- intent: {_yaml_scalar(intent)}")
        if weight != 1.0:
            lines.append(f"  metadata: {{weight: {weight:g}}}")
        lines.append("  examples: |")
        lines.extend(f"    - {render_example(e)}" for e in examples)
    canonical: dict[str, list[str]] = defaultdict(list)
    for variant, value in data.synonyms.items():
        canonical[value].append(variant)
    for value, variants in canonical.items():
        lines.append(f"- synonym: {_yaml_scalar(value)}")
        lines.append("  examples: |")
        lines.extend(f"    - {v}" for v in variants)
    for kind, table in (("lookup", data.lookups), ("regex", data.regexes)):
        for name, values in table.items():
            lines.append(f"- {kind}: {_yaml_scalar(name)}")
            lines.append("  examples: |")
            lines.extend(f"    - {v}" for v in values)
    return "\n".join(lines) + "\n"


def _yaml_scalar(value: str) -> str:
    return (
        json.dumps(value, ensure_ascii=False)
        if re.search(r"[:#\[\]{}&*!|>'\"%@`,]", value)
        else value
    )
