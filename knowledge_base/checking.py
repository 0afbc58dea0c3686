"""The small checks every content loader shares: problems with file and field, typed
getters that report instead of raising, YAML, dates and source lists.

An operator who breaks a file must be told exactly where, in French, without a traceback.
"""

from __future__ import annotations

import re
from dataclasses import asdict, dataclass
from datetime import date
from pathlib import Path
from typing import Any

import yaml

from nlu.text import fold

SLUG = re.compile(r"^[a-z0-9]+(?:-[a-z0-9]+)*$")
URL = re.compile(r"^https?://[^\s/$.?#].[^\s]*$")
COUNTRY = re.compile(r"^[A-Z]{2}$")
FRONT_MATTER = re.compile(r"\A---\s*\n(.*?)\n---\s*\n(.*)\Z", re.DOTALL)

# libyaml (C) when PyYAML has it: loading the shipped content took 0.95 s with the pure
# Python parser, a good part of the bot's start.
YAML_LOADER: Any = getattr(yaml, "CSafeLoader", yaml.SafeLoader)


def parse_yaml(text: str) -> Any:
    """`yaml.safe_load`, with the C parser when available (same safe subset)."""
    return yaml.load(text, Loader=YAML_LOADER)


@dataclass(frozen=True)
class Problem:
    file: str
    field: str
    message: str

    def __str__(self) -> str:
        where = f"{self.file} [{self.field}]" if self.field else self.file
        return f"{where} : {self.message}"

    def to_dict(self) -> dict[str, str]:
        return asdict(self)


class ContentError(ValueError):
    def __init__(self, problems: list[Problem]) -> None:
        self.problems = problems
        listed = "\n".join(f"  - {p}" for p in problems[:60])
        super().__init__(f"{len(problems)} problème(s) dans le contenu :\n{listed}")


class Checker:
    """Collects problems for one file; typed getters that report instead of raising."""

    def __init__(self, file: str, problems: list[Problem]) -> None:
        self.file = file
        self.problems = problems

    def add(self, field: str, message: str) -> None:
        self.problems.append(Problem(self.file, field, message))

    def text(self, data: dict[str, Any], key: str, prefix: str = "", required: bool = True) -> str:
        value = data.get(key)
        if value is None or (isinstance(value, str) and not value.strip()):
            if required:
                self.add(prefix + key, "champ obligatoire vide ou absent")
            return ""
        if not isinstance(value, str | int | float):
            self.add(prefix + key, f"texte attendu, trouvé {type(value).__name__}")
            return ""
        return " ".join(str(value).split()) if "\n" not in str(value) else str(value).strip()

    def ids(self, data: dict[str, Any], key: str, prefix: str = "") -> tuple[str, ...]:
        value = data.get(key) or []
        if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
            self.add(prefix + key, "liste d'identifiants attendue, par exemple [a, b]")
            return ()
        return tuple(value)

    def file_named_after(self, path: Path, item_id: str) -> None:
        """Files are named after their id, so an operator finds an item from its id."""
        if item_id and path.stem != item_id:
            self.add("id", f"le fichier devrait s'appeler {item_id}{path.suffix}")

    def slug(self, data: dict[str, Any], key: str = "id", prefix: str = "") -> str:
        value = self.text(data, key, prefix)
        if value and not SLUG.match(value):
            self.add(
                prefix + key, f"identifiant {value!r} invalide : minuscules, chiffres et tirets"
            )
        return value


def read_yaml(path: Path, root: Path, problems: list[Problem]) -> Any:
    try:
        return parse_yaml(path.read_text(encoding="utf-8"))
    except yaml.MarkedYAMLError as exc:
        line = exc.problem_mark.line + 1 if exc.problem_mark else "?"
        problems.append(
            Problem(relative(path, root), f"ligne {line}", f"YAML invalide : {exc.problem}")
        )
    except (OSError, UnicodeDecodeError, yaml.YAMLError) as exc:
        problems.append(Problem(relative(path, root), "", f"fichier illisible : {exc}"))
    return None


def relative(path: Path, root: Path) -> str:
    try:
        return str(path.relative_to(root))
    except ValueError:
        return str(path)


def required_date(check: Checker, data: dict[str, Any], key: str, prefix: str = "") -> date | None:
    value = data.get(key)
    if isinstance(value, date):
        parsed = value
    else:
        try:
            parsed = date.fromisoformat(str(value))
        except ValueError:
            check.add(prefix + key, f"date invalide {value!r} : format AAAA-MM-JJ attendu")
            return None
    if parsed > date.today():
        check.add(prefix + key, f"date {parsed} dans le futur")
    return parsed


def sources(check: Checker, data: dict[str, Any], prefix: str = "") -> tuple[str, ...]:
    """At least one URL; "official or primary" is the writer's job, the form is checked here."""
    value = data.get("sources")
    if not isinstance(value, list) or not value:
        check.add(
            prefix + "sources", "au moins une source (URL officielle ou primaire) est obligatoire"
        )
        return ()
    for i, url in enumerate(value):
        if not isinstance(url, str) or not URL.match(url):
            check.add(f"{prefix}sources[{i}]", f"URL invalide : {url!r}")
    return tuple(str(url) for url in value)


def optional_date(check: Checker, data: dict[str, Any], key: str, prefix: str = "") -> date | None:
    """A date that may be absent (`review_by`); may lie in the future."""
    value = data.get(key)
    if value is None or value == "":
        return None
    if isinstance(value, date):
        return value
    try:
        return date.fromisoformat(str(value))
    except ValueError:
        check.add(prefix + key, f"date invalide {value!r} : format AAAA-MM-JJ attendu")
        return None


def text_list(check: Checker, data: dict[str, Any], key: str, prefix: str = "") -> tuple[str, ...]:
    value = data.get(key) or []
    if not isinstance(value, list) or not all(isinstance(v, str | int | float) for v in value):
        check.add(prefix + key, "liste de textes attendue")
        return ()
    return tuple(" ".join(str(v).split()) for v in value if str(v).strip())


MAX_QUESTION_CHARS = 200


def asked_questions(check: Checker, data: dict[str, Any], prefix: str = "") -> tuple[str, ...]:
    """A guide's or checklist's `questions`: optional, short, each once (compared without
    case or accents, as the search reads them)."""
    questions = text_list(check, data, "questions", prefix)
    kept: list[str] = []
    seen: set[str] = set()
    for question in questions:
        key = fold(question)
        if len(question) > MAX_QUESTION_CHARS:
            check.add(
                prefix + "questions",
                f"question de {len(question)} caractères : {MAX_QUESTION_CHARS} au plus "
                "(une question, telle qu'un commerçant la tape)",
            )
        elif key in seen:
            check.add(prefix + "questions", f"question en double : {question!r}")
        else:
            seen.add(key)
            kept.append(question)
    return tuple(kept)


def read_shaped(
    path: Path, root: Path, problems: list[Problem], shape: type, expected: str
) -> tuple[Checker, Any] | None:
    """A YAML file that must hold a `shape` (list or dict): its checker and data, or None
    when it cannot be read or has another shape (the problem is recorded, `expected` says
    what the operator should write)."""
    check = Checker(relative(path, root), problems)
    data = read_yaml(path, root, problems)
    if data is None:
        return None
    if not isinstance(data, shape):
        check.add("", expected)
        return None
    return check, data


def read_list(
    path: Path, root: Path, problems: list[Problem], what: str
) -> tuple[Checker, list[Any]] | None:
    """A list of entries (tools, FAQ entries), each starting with "- id:"."""
    expected = f"liste {what} attendue (chaque entrée commence par « - id: »)"
    return read_shaped(path, root, problems, list, expected)
