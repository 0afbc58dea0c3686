"""Edit the knowledge base from the browser: list, read, check, write and delete one item.

The admin web shows the source text of one item (a guide file, one tool of its category
file, one FAQ entry of its topic file, a checklist file), lets an operator change it and
saves it through this module.
Nothing reaches the content folder unless the whole knowledge base, rebuilt in a temporary
copy, loads without a new problem; every file is replaced atomically; and a tool or FAQ edit
leaves every other byte of its file alone, so reviews and diffs stay small.

Paths in `Problem.file` and `ItemSummary.path` are relative to the content folder;
`write_item` returns an absolute path.
"""

from __future__ import annotations

import contextlib
import difflib
import hashlib
import os
import re
import shutil
import tempfile
import threading
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

import yaml

from nlu.intents import GUIDE_TOPICS
from nlu.text import fold

from .checking import FRONT_MATTER, SLUG, ContentError, Problem, parse_yaml
from .content_model import KnowledgeBase
from .loader import load_knowledge_base

Kind = Literal["guide", "faq", "tool", "checklist"]
KINDS: tuple[Kind, ...] = ("guide", "faq", "tool", "checklist")
# Kinds whose items are entries of a YAML list file: (folder, the field naming the file).
LIST_KINDS: dict[str, tuple[str, str]] = {"tool": ("tools", "category"), "faq": ("faq", "topic")}

# French names of each kind: (with article, capitalised, for a new item's problems).
_NAMES: dict[str, tuple[str, str, str]] = {
    "guide": ("le guide", "Le guide", "nouveau guide"),
    "faq": ("la fiche FAQ", "La fiche FAQ", "nouvelle fiche FAQ"),
    "tool": ("l'outil", "L'outil", "nouvel outil"),
    "checklist": ("la checklist", "La checklist", "nouvelle checklist"),
}
# A top-level list item of a tools file: "- " (or a bare "-") at column 0.
_ITEM_START = re.compile(r"-(?:[ \t]|$)")
# The usual first line of a tool, read without a YAML parse: "- id: proton-mail".
_FIRST_ID = re.compile(r"-[ \t]+id:[ \t]*(['\"]?)([a-z0-9-]+)\1[ \t]*(?:#.*)?$")
_MAPPING_AFTER_DASH = re.compile(r"-[ \t]+(?=\S)")
# Guide folders are the topic without "ask_"; anything else never becomes a path.
_FOLDER = re.compile(r"^[a-z0-9_]+$")
_NO_TOPIC_FOLDER = "sans-theme"
NEW_FILE_MODE = 0o644
_DEFAULT_INDENT = 2

# One writer at a time in this process: a save is read, check, then replace.
_WRITE_LOCK = threading.Lock()
_BASELINE_LOCK = threading.Lock()
_BASELINE: dict[Path, tuple[tuple[Any, ...], frozenset[Problem]]] = {}
_BASELINE_SIZE = 8


class ItemNotFound(KeyError):
    """A KeyError (callers may catch either) whose text is a French sentence, not a repr."""

    def __init__(self, kind: str, item_id: str) -> None:
        super().__init__(item_id)
        self.kind = kind
        self.item_id = item_id
        name = _NAMES.get(kind, ("l'élément", "L'élément", ""))[1]
        self.message = (
            f"{name} « {item_id} » est introuvable : il a peut-être été supprimé, "
            "ou son identifiant est mal écrit."
        )

    def __str__(self) -> str:
        return self.message


class EditConflict(RuntimeError):
    """The item changed on disk since the operator opened it: saving would lose that change."""

    def __init__(self, kind: str, item_id: str) -> None:
        self.kind = kind
        self.item_id = item_id
        super().__init__(
            f"{_NAMES[kind][1]} « {item_id} » a été modifié depuis que vous l'avez ouvert. "
            "Rechargez la page pour voir la nouvelle version, puis refaites vos changements."
        )


@dataclass(frozen=True)
class ItemSummary:
    kind: Kind
    id: str
    title: str
    group: str  # guide or FAQ topic (ask_...), tool category, "" for a checklist
    path: str  # relative to the content folder


# --------------------------------------------------------------------------- public API


def list_items(kb: KnowledgeBase) -> list[ItemSummary]:
    """Every editable item, sorted by kind (guides, FAQ, tools, checklists) then title."""
    items = [ItemSummary("guide", g.id, g.title, g.topic, g.path) for g in kb.guides.values()]
    items += [ItemSummary("faq", f.id, f.question, f.topic, f.path) for f in kb.faq.values()]
    items += [ItemSummary("tool", t.id, t.name, t.category, t.path) for t in kb.tools.values()]
    items += [ItemSummary("checklist", c.id, c.title, "", c.path) for c in kb.checklists.values()]
    return sorted(items, key=lambda i: (KINDS.index(i.kind), fold(i.title), i.id))


def read_item(content_dir: Path, kind: Kind, item_id: str) -> str:
    """The item's editable source text, exactly as on disk (a tool: its block, de-indented)."""
    root = Path(content_dir)
    _check_kind(kind)
    location = _locate(root, kind, item_id)
    if location is None:
        raise ItemNotFound(kind, item_id)
    if location.block is not None:
        return location.block.source()
    return _read(root / location.rel)


def fingerprint(text: str) -> str:
    """sha256 of the text: the caller keeps it from `read_item` to detect a concurrent edit."""
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


def item_title(kind: Kind, source: str) -> str:
    """Best-effort title (a tool: its name) for headings and messages; "" if unparsable."""
    key = {"tool": "name", "faq": "question"}.get(kind, "title")
    return _field(kind, source, key)


def item_id(kind: Kind, source: str) -> str:
    """The id a source declares (a new item is named by it); "" if unparsable."""
    return _field(kind, source, "id")


def _field(kind: Kind, source: str, key: str) -> str:
    meta = _parse_quietly(kind, _normalise(source))
    value = meta.get(key) if meta else None
    if isinstance(value, str | int | float) and not isinstance(value, bool):
        return " ".join(str(value).split())
    return ""


def validate_item(content_dir: Path, kind: Kind, item_id: str | None, source: str) -> list[Problem]:
    """Problems the change would bring (empty: it can be saved); the folder is never touched.

    The change is applied to a temporary copy and the whole knowledge base is loaded from
    it. Problems already present before the change, in other items, are not reported: they
    are not this edit's fault, and refusing every save while one file is broken would stop
    the operator from repairing the files one by one.
    """
    root = Path(content_dir)
    _check_kind(kind)
    change = _prepare(root, kind, item_id, source)
    if isinstance(change, list):
        return change
    return _check(root, change)


def write_item(
    content_dir: Path,
    kind: Kind,
    item_id: str | None,
    source: str,
    *,
    expected_fingerprint: str | None = None,
) -> Path:
    """Validate then save (item_id None: create). Returns the absolute path of the item's file.

    Raises ContentError when the change does not validate, ItemNotFound when item_id names
    no item, EditConflict when `expected_fingerprint` (from `fingerprint(read_item(...))`)
    no longer matches what is on disk.
    """
    root = Path(content_dir)
    _check_kind(kind)
    with _WRITE_LOCK:
        if item_id is not None:
            _check_unchanged(root, kind, item_id, expected_fingerprint)
        change = _prepare(root, kind, item_id, source)
        if isinstance(change, list):
            raise ContentError(change)
        problems = _check(root, change)
        if problems:
            raise ContentError(problems)
        _apply(root, change, atomic=True)
    return (root / change.item_file).absolute()


def delete_item(
    content_dir: Path, kind: Kind, item_id: str, *, expected_fingerprint: str | None = None
) -> None:
    """Delete an item, unless the knowledge base would then break (e.g. a link to it)."""
    root = Path(content_dir)
    _check_kind(kind)
    with _WRITE_LOCK:
        location = _check_unchanged(root, kind, item_id, expected_fingerprint)
        files: dict[str, str | None]
        problems: list[Problem] = []
        if location.block is not None:
            old_text = _read(root / location.rel)
            new_text = location.block.removed()
            problems += _list_file_problems(location.rel, old_text, new_text, item_id, None)
            files = {location.rel: new_text}
        else:
            files = {location.rel: None}
        change = _Change(kind, item_id, "", files, own_files=())
        problems += _check(root, change)
        if problems:
            name = _NAMES[kind][0]
            refusal = Problem(
                location.rel,
                "",
                f"suppression refusée : sans {name} « {item_id} », le contenu ne serait plus "
                "valide (voir ci-dessous). Retirez d'abord les liens vers cet élément.",
            )
            raise ContentError([refusal, *problems])
        _apply(root, change, atomic=True)


def unified_diff(
    old: str, new: str, old_label: str = "avant", new_label: str = "après", context: int = 3
) -> list[tuple[str, str]]:
    """A unified diff as (kind, line) for rendering; [] when the texts are identical.

    kind is "add", "del", "ctx", or "hunk" for the meta lines (the two "---"/"+++" headers
    and each "@@" line). The line keeps its marker ("+", "-", " ") and is not escaped.
    """
    lines = difflib.unified_diff(
        old.splitlines(), new.splitlines(), old_label, new_label, n=context, lineterm=""
    )
    out: list[tuple[str, str]] = []
    for number, line in enumerate(lines):
        if number < 2 or line.startswith("@@"):
            out.append(("hunk", line))
        elif line.startswith("+"):
            out.append(("add", line))
        elif line.startswith("-"):
            out.append(("del", line))
        else:
            out.append(("ctx", line))
    return out


# --------------------------------------------------------------------------- locating items


@dataclass(frozen=True)
class _ListBlock:
    """One entry's lines inside its list file (tools, FAQ; lines keep their endings)."""

    rel: str
    lines: tuple[str, ...]  # the whole file
    start: int
    end: int  # exclusive; trailing blank and column-0 comment lines excluded
    indent: int  # column of the mapping's keys ("- id: x" -> 2)
    dash_alone: bool  # first line is a bare "-", the mapping starts on the next line

    def source(self) -> str:
        """The block as a mapping: the "- " and the indentation removed."""
        first, *rest = self.lines[self.start : self.end]
        head = [] if self.dash_alone else [first[self.indent :]]
        return "".join(head + [_dedent_line(line, self.indent) for line in rest])

    def replaced(self, source: str) -> str:
        """The whole file with this block replaced by `source` (a mapping) re-indented."""
        new = _as_list_item(source, self.indent, _newline("".join(self.lines)))
        if self.end == len(self.lines) and not self.lines[-1].endswith("\n"):
            new[-1] = new[-1].rstrip("\r\n")
        return "".join((*self.lines[: self.start], *new, *self.lines[self.end :]))

    def removed(self) -> str:
        """The whole file without this block, and without the blank lines that framed it."""
        lines = list(self.lines)
        end = self.end
        while end < len(lines) and not lines[end].strip():
            end += 1
        start = self.start
        if end == len(lines):  # last item: drop the blank lines before it instead
            while start > 0 and not lines[start - 1].strip():
                start -= 1
        return "".join(lines[:start] + lines[end:])


@dataclass(frozen=True)
class _Location:
    rel: str  # relative path of the file holding the item
    block: _ListBlock | None = None  # tools only


def _locate(root: Path, kind: Kind, item_id: str) -> _Location | None:
    if not isinstance(item_id, str) or not SLUG.match(item_id):
        return None  # also keeps "../" and other paths out of the file system calls
    if kind == "guide":
        found = sorted((root / "guides").rglob(f"{item_id}.md"))
        return _Location(_rel(found[0], root)) if found else None
    if kind == "checklist":
        path = root / "checklists" / f"{item_id}.yml"
        return _Location(_rel(path, root)) if path.is_file() else None
    for path in _list_files(root, kind):
        block = _find_block(path, root, item_id)
        if block is not None:
            return _Location(block.rel, block)
    return None


def _list_files(root: Path, kind: Kind) -> list[Path]:
    folder = LIST_KINDS[kind][0]
    return sorted(p for p in (root / folder).glob("*.yml") if p.name != "categories.yml")


def _find_block(path: Path, root: Path, item_id: str) -> _ListBlock | None:
    try:
        text = _read(path)
    except (OSError, UnicodeDecodeError):
        return None
    lines = tuple(_split_lines(text))
    for start, end in _item_spans(lines):
        block = _make_block(_rel(path, root), lines, start, end)
        if _block_id(block) == item_id:
            return block
    return None


def _item_spans(lines: tuple[str, ...]) -> Iterator[tuple[int, int]]:
    """(start, end) of each top-level "- " item: up to the next column-0 content."""
    starts = [i for i, line in enumerate(lines) if _ITEM_START.match(_bare(line))]
    for start in starts:
        end = start + 1
        while end < len(lines) and (lines[end][:1] in (" ", "\t", "#") or not _bare(lines[end])):
            end += 1
        while end > start + 1 and (not lines[end - 1].strip() or lines[end - 1].startswith("#")):
            end -= 1
        yield start, end


def _make_block(rel: str, lines: tuple[str, ...], start: int, end: int) -> _ListBlock:
    first = _bare(lines[start])
    match = _MAPPING_AFTER_DASH.match(first)
    if match:
        return _ListBlock(rel, lines, start, end, match.end(), dash_alone=False)
    indents = [
        len(line) - len(line.lstrip(" "))
        for line in lines[start + 1 : end]
        if line.strip() and not line.lstrip().startswith("#")
    ]
    return _ListBlock(rel, lines, start, end, min(indents, default=_DEFAULT_INDENT), True)


def _block_id(block: _ListBlock) -> str | None:
    match = _FIRST_ID.match(_bare(block.lines[block.start]))
    if match:
        return match.group(2)
    with contextlib.suppress(yaml.YAMLError):
        data = parse_yaml(block.source())
        if isinstance(data, dict) and isinstance(data.get("id"), str | int):
            return str(data["id"])
    return None


def _owner(root: Path, item_id: str) -> str | None:
    """Who already uses `item_id` (ids are unique across kinds), in French, or None."""
    for kind in KINDS:
        location = _locate(root, kind, item_id)
        if location is not None:
            return f"{_NAMES[kind][0]} {location.rel}"
    return None


def _check_unchanged(
    root: Path, kind: Kind, item_id: str, expected_fingerprint: str | None
) -> _Location:
    location = _locate(root, kind, item_id)
    if location is None:
        raise ItemNotFound(kind, item_id)
    if expected_fingerprint is not None:
        current = location.block.source() if location.block else _read(root / location.rel)
        if fingerprint(current) != expected_fingerprint:
            raise EditConflict(kind, item_id)
    return location


# --------------------------------------------------------------------------- planning a change


@dataclass(frozen=True)
class _Change:
    """The files a change writes (text) or removes (None), in the order to apply them."""

    kind: Kind
    item_id: str
    item_file: str  # where the item lives afterwards ("" for a deletion)
    files: dict[str, str | None]
    own_files: tuple[str, ...]  # the item's files: their problems are always reported


def _prepare(root: Path, kind: Kind, item_id: str | None, source: str) -> _Change | list[Problem]:
    """Turn an edited source into file changes, or the problems that prevent it."""
    location = None
    if item_id is not None:
        location = _locate(root, kind, item_id)
        if location is None:
            return [Problem(str(item_id), "id", str(ItemNotFound(kind, item_id)))]
    where = location.rel if location else _NAMES[kind][2]
    text = _normalise(source)
    meta, problems = _parse_source(kind, text, where)
    if meta is None:
        return problems
    raw_id = meta.get("id")
    new_id = str(raw_id) if isinstance(raw_id, str | int) and not isinstance(raw_id, bool) else ""
    if not SLUG.match(new_id):
        return [
            Problem(
                where,
                "id",
                "identifiant absent ou invalide : minuscules sans accents, chiffres et tirets "
                "(par exemple mon-nouveau-guide)",
            )
        ]
    if item_id is not None and new_id != item_id:
        return [
            Problem(
                where,
                "id",
                f"l'identifiant ne peut pas être changé ({item_id} → {new_id}) : d'autres "
                f"contenus peuvent y faire référence. Remettez « id: {item_id} », "
                "ou créez un nouvel élément puis supprimez l'ancien.",
            )
        ]
    if item_id is None:
        owner = _owner(root, new_id)
        if owner:
            return [
                Problem(
                    where,
                    "id",
                    f"l'identifiant « {new_id} » est déjà utilisé par {owner} : "
                    "choisissez-en un autre.",
                )
            ]
    if kind in LIST_KINDS:
        target_or_problem = _list_file_for(root, kind, meta, where)
        if isinstance(target_or_problem, Problem):
            return [target_or_problem]
        return _list_item_change(root, kind, target_or_problem, new_id, text, meta, location)
    if kind == "guide":
        topic = meta.get("topic")
        folder = topic.removeprefix("ask_") if isinstance(topic, str) else ""
        folder = folder if _FOLDER.match(folder) else _NO_TOPIC_FOLDER
        target = f"guides/{folder}/{new_id}.md"
        if location and Path(location.rel).parent.name == folder:
            target = location.rel  # already in the right topic folder: stay where it is
    else:
        target = f"checklists/{new_id}.yml"
    newline = _newline(_read(root / location.rel)) if location else "\n"
    files: dict[str, str | None] = {target: _ensure_final_newline(text).replace("\n", newline)}
    own = [target]
    if location and location.rel != target:  # a guide whose topic changed moves folder
        files[location.rel] = None
        own.append(location.rel)
    return _Change(kind, new_id, target, files, tuple(own))


def _list_file_for(root: Path, kind: Kind, entry: dict[str, Any], where: str) -> str | Problem:
    """The file an entry belongs in: its category's (tools) or its topic's (FAQ)."""
    if kind == "faq":
        topic = entry.get("topic")
        if not isinstance(topic, str) or topic not in GUIDE_TOPICS:
            return Problem(
                where,
                "topic",
                "thème absent ou invalide ; valeurs possibles : " + ", ".join(GUIDE_TOPICS),
            )
        return f"faq/{topic.removeprefix('ask_')}.yml"
    category = entry.get("category")
    categories = _categories(root)
    if not isinstance(category, str) or not SLUG.match(category):
        return Problem(
            where,
            "category",
            "catégorie absente ou invalide : indiquez l'identifiant d'une catégorie de "
            "tools/categories.yml (par exemple email)",
        )
    if categories is not None and category not in categories:
        return Problem(
            where,
            "category",
            f"catégorie inconnue « {category} » ; valeurs possibles : "
            + ", ".join(sorted(categories)),
        )
    return f"tools/{category}.yml"


def _list_item_change(
    root: Path,
    kind: Kind,
    target: str,
    item_id: str,
    text: str,
    entry: dict[str, Any],
    location: _Location | None,
) -> _Change | list[Problem]:
    files: dict[str, str | None] = {}
    old_texts: dict[str, str] = {}
    if location is not None and location.block is not None and location.rel == target:
        old_texts[target] = "".join(location.block.lines)
        files[target] = location.block.replaced(text)
    else:
        path = root / target
        old = _read(path) if path.is_file() else ""
        old_texts[target] = old
        files[target] = _appended(old, text)  # the new home first: a crash leaves a duplicate
        if location is not None and location.block is not None:
            old_texts[location.rel] = "".join(location.block.lines)
            files[location.rel] = location.block.removed()
    problems: list[Problem] = []
    for rel, new_text in files.items():
        expected = entry if rel == target else None
        problems += _list_file_problems(rel, old_texts[rel], new_text or "", item_id, expected)
    if problems:
        return problems
    return _Change(kind, item_id, target, files, tuple(files))


def _list_file_problems(
    rel: str, old_text: str, new_text: str, item_id: str, entry: dict[str, Any] | None
) -> list[Problem]:
    """Check that the rewritten file holds the same other entries, and this one as written.

    Re-indenting a block is text surgery; reading the result back proves it did not change
    the meaning of this tool or of its neighbours (a stray comment, an odd indentation).
    """
    try:
        old = parse_yaml(old_text) or []
        new = parse_yaml(new_text) or []
    except yaml.YAMLError:
        return []  # the file was already unreadable: the loader reports it on the copy
    if not isinstance(old, list) or not isinstance(new, list):
        return []

    def mine(e: Any) -> bool:
        return isinstance(e, dict) and str(e.get("id")) == item_id

    others_kept = [e for e in new if not mine(e)] == [e for e in old if not mine(e)]
    if others_kept and [e for e in new if mine(e)] == ([entry] if entry is not None else []):
        return []
    return [
        Problem(
            rel,
            item_id,
            "une fois replacé dans le fichier, le texte ne se relit pas à l'identique : "
            "vérifiez l'indentation (espaces, pas de tabulations) et les commentaires",
        )
    ]


def _parse_source(kind: Kind, text: str, where: str) -> tuple[dict[str, Any] | None, list[Problem]]:
    """The fields of the source, or the problem that prevents reading them (with its line)."""
    offset = 1
    if kind == "guide":
        match = FRONT_MATTER.match(_ensure_final_newline(text))
        if not match:
            message = (
                "en-tête YAML manquant : le guide doit commencer par une ligne ---, puis les "
                "champs (id, title, ...), puis une ligne ---, puis le texte"
            )
            return None, [Problem(where, "", message)]
        text, offset = match.group(1), 2
    try:
        data = parse_yaml(text)
    except yaml.MarkedYAMLError as exc:
        line = exc.problem_mark.line + offset if exc.problem_mark else "?"
        what = "en-tête YAML invalide" if kind == "guide" else "YAML invalide"
        context = f" ({exc.context})" if exc.context else ""
        return None, [Problem(where, f"ligne {line}", f"{what} : {exc.problem}{context}")]
    except yaml.YAMLError as exc:
        return None, [Problem(where, "", f"YAML illisible : {exc}")]
    if isinstance(data, dict):
        return data, []
    if kind in LIST_KINDS and isinstance(data, list):
        message = (
            f"{_NAMES[kind][1]} s'écrit comme un dictionnaire de champs, sans « - » devant "
            "« id: » : enlevez le tiret et décalez les lignes suivantes vers la gauche"
        )
    else:
        message = "dictionnaire de champs attendu (id: ..., title: ..., ...)"
    return None, [Problem(where, "", message)]


def _parse_quietly(kind: Kind, text: str) -> dict[str, Any] | None:
    meta, _ = _parse_source(kind, text, "")
    return meta


def _categories(root: Path) -> dict[str, Any] | None:
    """The category ids of tools/categories.yml, or None if it cannot be read."""
    try:
        data = parse_yaml(_read(root / "tools" / "categories.yml"))
    except (OSError, UnicodeDecodeError, yaml.YAMLError):
        return None
    return {str(k): v for k, v in data.items()} if isinstance(data, dict) else None


# --------------------------------------------------------------------------- checking, writing


def _check(root: Path, change: _Change) -> list[Problem]:
    """Apply the change to a temporary copy, load it, keep the problems this change causes."""
    baseline = _baseline(root)
    with tempfile.TemporaryDirectory(prefix="comptoir-kb-") as tmp:
        copy = Path(tmp) / "content"
        shutil.copytree(
            root, copy, ignore=shutil.ignore_patterns(".*"), copy_function=shutil.copyfile
        )
        _apply(copy, change, atomic=False)
        _, problems = load_knowledge_base(copy)
    return [p for p in problems if p not in baseline or _concerns(p, change)]


def _concerns(problem: Problem, change: _Change) -> bool:
    """Whether a problem is about the edited item itself (reported even if it was there)."""
    file = problem.file.split("#", 1)[0]
    if file not in change.own_files:
        return False
    if change.kind not in LIST_KINDS:
        return True
    return (
        problem.file.endswith(f"#{change.item_id}")
        or problem.field.startswith(f"{change.item_id}.")
        or problem.field == ""
        or problem.field.startswith("ligne ")
    )


def _baseline(root: Path) -> frozenset[Problem]:
    """Problems of the folder as it is, cached until a file in it changes."""
    key = root.resolve()
    signature = _signature(key)
    with _BASELINE_LOCK:
        cached = _BASELINE.get(key)
        if cached is not None and cached[0] == signature:
            return cached[1]
    _, problems = load_knowledge_base(root)
    result = frozenset(problems)
    with _BASELINE_LOCK:
        while len(_BASELINE) >= _BASELINE_SIZE:
            _BASELINE.pop(next(iter(_BASELINE)))
        _BASELINE[key] = (signature, result)
    return result


def _signature(root: Path) -> tuple[Any, ...]:
    entries = []
    for path in sorted(root.rglob("*")):
        if path.name.startswith(".") or not path.is_file():
            continue
        st = path.stat()
        entries.append((str(path.relative_to(root)), st.st_ino, st.st_size, st.st_mtime_ns))
    return tuple(entries)


def _apply(root: Path, change: _Change, atomic: bool) -> None:
    """Write every new text (skipping identical ones), then remove the files to remove."""
    for rel, text in change.files.items():
        if text is None:
            continue
        path = root / rel
        data = text.encode("utf-8")
        if path.is_file() and path.read_bytes() == data:
            continue
        path.parent.mkdir(parents=True, exist_ok=True)
        if atomic:
            _atomic_write(path, data)
        else:
            path.write_bytes(data)
    for rel, text in change.files.items():
        if text is None:
            (root / rel).unlink(missing_ok=True)


def _atomic_write(path: Path, data: bytes) -> None:
    """Readers (the bot reloading) see the old file or the new one, never half of it."""
    mode = path.stat().st_mode & 0o7777 if path.exists() else NEW_FILE_MODE
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "wb") as handle:
            handle.write(data)
            handle.flush()
            os.fsync(handle.fileno())
        os.chmod(tmp, mode)
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(tmp)
        raise
    with contextlib.suppress(OSError):
        directory = os.open(path.parent, os.O_RDONLY)
        try:
            os.fsync(directory)
        finally:
            os.close(directory)


# --------------------------------------------------------------------------- text helpers


def _check_kind(kind: str) -> None:
    if kind not in KINDS:
        raise ValueError(f"type de contenu inconnu : {kind!r} (guide, faq, tool ou checklist)")


def _read(path: Path) -> str:
    """The text exactly as on disk: no newline translation."""
    return path.read_bytes().decode("utf-8")


def _rel(path: Path, root: Path) -> str:
    return path.relative_to(root).as_posix()


def _normalise(source: str) -> str:
    """Browsers send textarea content with CRLF line breaks; files use the file's own."""
    return source.removeprefix("\ufeff").replace("\r\n", "\n").replace("\r", "\n")


def _newline(text: str) -> str:
    return "\r\n" if "\r\n" in text else "\n"


def _ensure_final_newline(text: str) -> str:
    return text if text.endswith("\n") or not text else text + "\n"


def _split_lines(text: str) -> list[str]:
    """Lines with their endings, split on "\\n" only (never on other Unicode breaks)."""
    parts = text.split("\n")
    lines = [part + "\n" for part in parts[:-1]]
    return [*lines, parts[-1]] if parts[-1] else lines


def _bare(line: str) -> str:
    return line.rstrip("\r\n")


def _dedent_line(line: str, indent: int) -> str:
    if _bare(line)[:indent] == " " * indent:
        return line[indent:]
    return line.lstrip(" ")  # a blank line, or a comment less indented than the keys


def _as_list_item(source: str, indent: int, newline: str) -> list[str]:
    """A mapping's text as a top-level list item: "- " on the first line, others indented."""
    lines = _normalise(source).split("\n")
    while lines and not lines[-1].strip():
        lines.pop()
    while lines and not lines[0].strip():
        lines.pop(0)
    if not lines:
        return []
    out = ["-" + " " * (indent - 1) + lines[0] + newline]
    out += [(" " * indent + line if line else "") + newline for line in lines[1:]]
    return out


def _appended(old: str, source: str) -> str:
    """`old` with a new item at the end, separated by one blank line; old bytes unchanged."""
    newline = _newline(old)
    item = "".join(_as_list_item(source, _DEFAULT_INDENT, newline))
    if not old.strip():
        return item
    if not old.endswith("\n"):
        old += newline
    if not old.endswith(newline * 2):
        old += newline
    return old + item
