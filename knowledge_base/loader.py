"""Load the content folder and check it: every problem at once, with file and field.

An operator who breaks a file must be told exactly where, in French, without a traceback;
and a broken file must never take the running bot down (the caller keeps the last good
knowledge base and index).
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import date
from pathlib import Path
from typing import Any

import yaml

from nlu.intents import ASK_INTENTS, GUIDE_TOPICS
from nlu.text import fold

from .checking import (
    FRONT_MATTER,
    Checker,
    ContentError,
    Problem,
    asked_questions,
    parse_yaml,
    read_shaped,
    read_yaml,
    relative,
    required_date,
    sources,
)
from .content_model import (
    Axis,
    Band,
    Checklist,
    ChecklistStep,
    Diagnostic,
    Guide,
    KnowledgeBase,
    Option,
    Question,
    Section,
)
from .faq_loader import load_faq_file
from .tool_loader import load_tools

MIN_STEPS, MAX_STEPS = 5, 12


def split_sections(body: str) -> tuple[Section, ...]:
    sections: list[Section] = []
    heading, lines = "", []
    for line in body.splitlines():
        if line.startswith("## "):
            if heading or "".join(lines).strip():
                sections.append(Section(heading, "\n".join(lines).strip()))
            heading, lines = line[3:].strip(), []
        else:
            lines.append(line)
    if heading or "".join(lines).strip():
        sections.append(Section(heading, "\n".join(lines).strip()))
    return tuple(s for s in sections if s.text)


def _load_guide(path: Path, root: Path, problems: list[Problem]) -> Guide | None:
    rel = relative(path, root)
    check = Checker(rel, problems)
    try:
        raw = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        check.add("", f"fichier illisible : {exc}")
        return None
    match = FRONT_MATTER.match(raw)
    if not match:
        check.add("", "en-tête YAML manquant : le fichier doit commencer par --- ... ---")
        return None
    try:
        meta = parse_yaml(match.group(1))
    except yaml.MarkedYAMLError as exc:
        line = exc.problem_mark.line + 2 if exc.problem_mark else "?"
        check.add(f"ligne {line}", f"en-tête YAML invalide : {exc.problem}")
        return None
    if not isinstance(meta, dict):
        check.add("", "l'en-tête YAML doit être un dictionnaire de champs")
        return None
    guide_id = check.slug(meta)
    check.file_named_after(path, guide_id)
    topic = check.text(meta, "topic")
    if topic and topic not in GUIDE_TOPICS:
        check.add(
            "topic", f"thème inconnu {topic!r} ; valeurs possibles : {', '.join(GUIDE_TOPICS)}"
        )
    elif topic and path.parent.name != topic.removeprefix("ask_"):
        check.add("topic", f"{topic} mais le guide est rangé dans {path.parent.name}/")
    guide_sources = sources(check, meta)
    verified = required_date(check, meta, "verified")
    body = match.group(2).strip()
    sections = split_sections(body)
    if not any(s.heading for s in sections):
        check.add("corps", "le guide doit avoir au moins une section « ## Titre »")
    tags = meta.get("tags") or []
    if not isinstance(tags, list):
        check.add("tags", "liste attendue")
        tags = []
    sectors = meta.get("sectors") or []
    if not isinstance(sectors, list):
        check.add("sectors", "liste attendue")
        sectors = []
    guide = Guide(
        id=guide_id,
        title=check.text(meta, "title"),
        topic=topic,
        summary=check.text(meta, "summary"),
        body=body,
        sections=sections,
        sources=guide_sources,
        verified=verified or date.min,
        tags=tuple(str(t) for t in tags),
        sectors=tuple(str(s) for s in sectors),
        tools=check.ids(meta, "tools"),
        checklists=check.ids(meta, "checklists"),
        related=check.ids(meta, "related"),
        questions=asked_questions(check, meta),
        path=rel,
    )
    return guide if guide_id else None


def _read_mapping(
    path: Path, root: Path, problems: list[Problem], fields: str
) -> tuple[Checker, dict[str, Any]] | None:
    """A YAML file that must hold a dictionary (`fields` names the expected keys)."""
    return read_shaped(path, root, problems, dict, f"dictionnaire attendu ({fields})")


def _load_checklist(path: Path, root: Path, problems: list[Problem]) -> Checklist | None:
    loaded = _read_mapping(path, root, problems, "id, title, topic, goal, steps")
    if loaded is None:
        return None
    check, data = loaded
    rel = check.file
    checklist_id = check.slug(data)
    check.file_named_after(path, checklist_id)
    topic = check.text(data, "topic")
    if topic and topic not in ASK_INTENTS:
        check.add("topic", f"thème inconnu {topic!r}")
    raw_steps = data.get("steps")
    if not isinstance(raw_steps, list):
        check.add("steps", "liste d'étapes attendue")
        raw_steps = []
    elif not MIN_STEPS <= len(raw_steps) <= MAX_STEPS:
        check.add("steps", f"{len(raw_steps)} étapes : il en faut entre {MIN_STEPS} et {MAX_STEPS}")
    steps, seen = [], set()
    for i, raw in enumerate(raw_steps):
        prefix = f"steps[{i}]."
        if not isinstance(raw, dict):
            check.add(f"steps[{i}]", "étape vide ou mal formée")
            continue
        step_id = check.slug(raw, prefix=prefix)
        if step_id in seen:
            check.add(prefix + "id", f"identifiant d'étape {step_id!r} en double")
        seen.add(step_id)
        steps.append(
            ChecklistStep(
                id=step_id,
                title=check.text(raw, "title", prefix),
                why=check.text(raw, "why", prefix),
                how=check.text(raw, "how", prefix),
                time=check.text(raw, "time", prefix),
                done_when=check.text(raw, "done_when", prefix),
                guides=check.ids(raw, "guides", prefix),
                tools=check.ids(raw, "tools", prefix),
            )
        )
    checklist = Checklist(
        checklist_id,
        check.text(data, "title"),
        topic,
        check.text(data, "goal"),
        tuple(steps),
        rel,
        asked_questions(check, data),
    )
    return checklist if checklist_id else None


def _load_diagnostic(path: Path, root: Path, problems: list[Problem]) -> Diagnostic | None:
    loaded = _read_mapping(path, root, problems, "id, title, axes, bands, questions")
    if loaded is None:
        return None
    check, data = loaded
    axes = []
    for i, raw in enumerate(data.get("axes") or []):
        if not isinstance(raw, dict):
            check.add(f"axes[{i}]", "axe mal formé")
            continue
        recommend = raw.get("recommend") or {}
        axes.append(
            Axis(
                check.slug(raw, prefix=f"axes[{i}]."),
                check.text(raw, "label", f"axes[{i}]."),
                check.ids(recommend, "checklists", f"axes[{i}].recommend."),
                check.ids(recommend, "guides", f"axes[{i}].recommend."),
            )
        )
    if not axes:
        check.add("axes", "au moins un axe est nécessaire")
    bands = []
    for i, raw in enumerate(data.get("bands") or []):
        try:
            bands.append(
                Band(
                    int(raw["min"]), int(raw["max"]), str(raw["label"]), str(raw.get("advice", ""))
                )
            )
        except (KeyError, TypeError, ValueError):
            check.add(f"bands[{i}]", "attendu : {min: 0, max: 39, label: ..., advice: ...}")
    covered = sorted((b.min, b.max) for b in bands)
    expected_start = 0
    for low, high in covered:
        if low != expected_start:
            check.add(
                "bands",
                f"les paliers doivent couvrir 0 à 100 sans trou ni chevauchement (vers {low})",
            )
            break
        expected_start = high + 1
    else:
        if covered and expected_start != 101:
            check.add("bands", "le dernier palier doit finir à 100")
    axis_ids = {a.id for a in axes}
    questions, seen = [], set()
    for i, raw in enumerate(data.get("questions") or []):
        prefix = f"questions[{i}]."
        if not isinstance(raw, dict):
            check.add(f"questions[{i}]", "question mal formée")
            continue
        question_id = check.slug(raw, prefix=prefix)
        if question_id in seen:
            check.add(prefix + "id", f"question {question_id!r} en double")
        seen.add(question_id)
        axis = check.text(raw, "axis", prefix)
        if axis and axis not in axis_ids:
            check.add(prefix + "axis", f"axe inconnu {axis!r}")
        options = []
        for j, option in enumerate(raw.get("options") or []):
            try:
                options.append(
                    Option(str(option["id"]), str(option["label"]), int(option["score"]))
                )
            except (KeyError, TypeError, ValueError):
                check.add(f"{prefix}options[{j}]", "attendu : {id: ..., label: ..., score: 0}")
        if not 2 <= len(options) <= 4:
            check.add(prefix + "options", f"{len(options)} réponses : il en faut de 2 à 4")
        for option in options:
            if len(option.label) > 40:
                check.add(
                    prefix + "options", f"libellé trop long pour un bouton : {option.label!r}"
                )
        if len({o.id for o in options}) != len(options):
            check.add(prefix + "options", "identifiants de réponse en double")
        questions.append(
            Question(question_id, axis, check.text(raw, "text", prefix), tuple(options))
        )
    for axis in axes:
        if not any(q.axis == axis.id for q in questions):
            check.add("questions", f"l'axe {axis.id!r} n'a aucune question")
    return Diagnostic(
        check.slug(data),
        check.text(data, "title"),
        check.text(data, "intro", required=False),
        tuple(axes),
        tuple(bands),
        tuple(questions),
    )


def load_knowledge_base(content_dir: Path) -> tuple[KnowledgeBase, list[Problem]]:
    """Everything under `content_dir`, and every problem found (empty list: all good)."""
    root = Path(content_dir)
    problems: list[Problem] = []
    kb = KnowledgeBase()
    if not root.is_dir():
        return kb, [Problem(str(root), "", "dossier de contenu introuvable")]

    categories = read_yaml(root / "tools" / "categories.yml", root, problems) or {}
    if not isinstance(categories, dict):
        problems.append(Problem("tools/categories.yml", "", "dictionnaire id: libellé attendu"))
        categories = {}
    kb.categories = {str(k): str(v) for k, v in categories.items()}

    owners: dict[str, str] = {}

    def register(kind: str, item_id: str, rel: str) -> bool:
        if item_id in owners:
            problems.append(
                Problem(rel, "id", f"identifiant {item_id!r} déjà utilisé par {owners[item_id]}")
            )
            return False
        owners[item_id] = f"{kind} {rel}"
        return True

    for path in sorted((root / "guides").rglob("*.md")):
        guide = _load_guide(path, root, problems)
        if guide and register("le guide", guide.id, guide.path):
            kb.guides[guide.id] = guide
    for path in sorted((root / "tools").glob("*.yml")):
        if path.name == "categories.yml":
            continue
        for tool in load_tools(path, root, kb.categories, problems):
            if register("l'outil", tool.id, f"{tool.path}#{tool.id}"):
                kb.tools[tool.id] = tool
    for path in sorted((root / "faq").glob("*.yml")):
        for entry in load_faq_file(path, root, problems):
            if register("la fiche FAQ", entry.id, f"{entry.path}#{entry.id}"):
                kb.faq[entry.id] = entry
    for path in sorted((root / "checklists").glob("*.yml")):
        checklist = _load_checklist(path, root, problems)
        if checklist and register("la checklist", checklist.id, checklist.path):
            kb.checklists[checklist.id] = checklist
    diagnostic_file = root / "diagnostic.yml"
    if diagnostic_file.is_file():
        kb.diagnostic = _load_diagnostic(diagnostic_file, root, problems)
    else:
        problems.append(Problem("diagnostic.yml", "", "fichier du diagnostic absent"))

    _check_links(kb, problems)
    _check_questions(kb, problems)
    return kb, problems


def _check_questions(kb: KnowledgeBase, problems: list[Problem]) -> None:
    """A question (an FAQ entry's own or a variant, case and accents aside) belongs to one
    entry: two entries asking it split its answer, and the reply showed the second under
    the first as a neighbouring entry, the same question twice on the merchant's screen."""
    owners: dict[str, str] = {}
    for entry in kb.faq.values():
        for field, question in (
            ("question", entry.question),
            *(("variants", variant) for variant in entry.variants),
        ):
            owner = owners.setdefault(fold(question), entry.id)
            if owner != entry.id:
                problems.append(
                    Problem(
                        f"{entry.path}#{entry.id}",
                        f"{entry.id}.{field}",
                        f"« {question} » est déjà une question de la fiche {owner!r} : "
                        "gardez-la dans une seule fiche (fusionnez-les si elles répondent "
                        "à la même chose)",
                    )
                )


def _check_links(kb: KnowledgeBase, problems: list[Problem]) -> None:
    def dangling(
        file: str, field: str, ids: tuple[str, ...], known: dict[str, Any], kind: str
    ) -> None:
        for item_id in ids:
            if item_id not in known:
                problems.append(Problem(file, field, f"{kind} {item_id!r} inconnu(e)"))

    for guide in kb.guides.values():
        dangling(guide.path, "tools", guide.tools, kb.tools, "outil")
        dangling(guide.path, "checklists", guide.checklists, kb.checklists, "checklist")
        dangling(guide.path, "related", guide.related, kb.guides, "guide")
    for entry in kb.faq.values():
        where = f"{entry.path}#{entry.id}"
        dangling(where, f"{entry.id}.guides", entry.guides, kb.guides, "guide")
        dangling(where, f"{entry.id}.tools", entry.tools, kb.tools, "outil")
        dangling(where, f"{entry.id}.checklists", entry.checklists, kb.checklists, "checklist")
    for checklist in kb.checklists.values():
        for i, step in enumerate(checklist.steps):
            dangling(checklist.path, f"steps[{i}].guides", step.guides, kb.guides, "guide")
            dangling(checklist.path, f"steps[{i}].tools", step.tools, kb.tools, "outil")
    if kb.diagnostic is not None:
        for i, axis in enumerate(kb.diagnostic.axes):
            dangling(
                "diagnostic.yml",
                f"axes[{i}].recommend.checklists",
                axis.checklists,
                kb.checklists,
                "checklist",
            )
            dangling(
                "diagnostic.yml", f"axes[{i}].recommend.guides", axis.guides, kb.guides, "guide"
            )


def load_or_raise(
    content_dir: Path, on_problem: Callable[[Problem], None] | None = None
) -> KnowledgeBase:
    kb, problems = load_knowledge_base(content_dir)
    if problems:
        if on_problem is not None:
            for problem in problems:
                on_problem(problem)
        raise ContentError(problems)
    return kb
