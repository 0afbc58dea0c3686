"""FAQ entries: short, sourced answers to narrow questions, one YAML list per topic
(`faq/<topic without ask_>.yml`), the same path guides take through search and the editor."""

from __future__ import annotations

from datetime import date
from pathlib import Path

from nlu.intents import GUIDE_TOPICS

from .checking import (
    Checker,
    Problem,
    optional_date,
    read_list,
    required_date,
    sources,
    text_list,
)
from .content_model import FaqEntry

MIN_VARIANTS = 2
MAX_ANSWER_CHARS = 900  # 2 to 6 sentences: it must read on a phone at a glance


def load_faq_file(path: Path, root: Path, problems: list[Problem]) -> list[FaqEntry]:
    loaded = read_list(path, root, problems, "de fiches")
    if loaded is None:
        return []
    check, data = loaded
    rel = check.file
    file_topic = f"ask_{path.stem}"
    if file_topic not in GUIDE_TOPICS:
        check.add(
            "", f"fichier {path.name} : le nom doit être un thème ({', '.join(GUIDE_TOPICS)})"
        )
    entries = []
    for i, raw in enumerate(data):
        if not isinstance(raw, dict):
            check.add(f"[{i}]", "chaque fiche doit être un dictionnaire de champs")
            continue
        entry = _entry(check, raw, i, file_topic, rel)
        if entry is not None:
            entries.append(entry)
    return entries


def _entry(check: Checker, raw: dict, i: int, file_topic: str, rel: str) -> FaqEntry | None:  # type: ignore[type-arg]
    entry_id = check.slug(raw, prefix=f"[{i}].")
    prefix = f"{entry_id or i}."
    topic = check.text(raw, "topic", prefix)
    if topic and topic != file_topic:
        check.add(prefix + "topic", f"{topic} mais la fiche est dans {rel}")
    variants = text_list(check, raw, "variants", prefix)
    if len(variants) < MIN_VARIANTS:
        check.add(
            prefix + "variants",
            f"{len(variants)} variante(s) : il en faut au moins {MIN_VARIANTS}, "
            "écrites comme un commerçant les tape",
        )
    answer = check.text(raw, "answer", prefix)
    if len(answer) > MAX_ANSWER_CHARS:
        check.add(
            prefix + "answer",
            f"réponse de {len(answer)} caractères : {MAX_ANSWER_CHARS} au plus "
            "(le fait d'abord ; le détail va dans un guide)",
        )
    entry = FaqEntry(
        id=entry_id,
        question=check.text(raw, "question", prefix),
        variants=variants,
        answer=answer,
        topic=topic,
        sources=sources(check, raw, prefix),
        verified=required_date(check, raw, "verified", prefix) or date.min,
        sectors=text_list(check, raw, "sectors", prefix),
        review_by=optional_date(check, raw, "review_by", prefix),
        guides=check.ids(raw, "guides", prefix),
        tools=check.ids(raw, "tools", prefix),
        checklists=check.ids(raw, "checklists", prefix),
        path=rel,
    )
    return entry if entry_id else None
