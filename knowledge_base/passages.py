"""Cut the knowledge base (or any FAQ) into search passages.

A guide gives one passage for its title and summary and one per `##` section, each carrying
the title so it still makes sense alone, and its `questions` (merchants' wordings) as
questions, as an FAQ entry's variants are; an FAQ entry gives its question and each variant as
questions and its answer as the passage; a tool gives one passage naming what it replaces; a
checklist one passage with its steps. Short question-like titles are encoded with e5's
`query:` prefix (question-to-question is a symmetric match), the rest with `passage:`.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import asdict, dataclass, field
from pathlib import Path

from nlu.intents import TOPIC_LABELS

from .content_model import FaqEntry, KnowledgeBase

MAX_WORDS = 120  # e5-small reads 512 tokens; shorter passages also rank more sharply
FAQ_CHUNK_WORDS = 120  # `kb build`: answer passages (benchmarks/faq_selection.py)


@dataclass(frozen=True)
class Passage:
    doc_id: str
    kind: str  # guide | tool | checklist | faq
    title: str
    text: str  # what a person reads
    embed_text: str  # what the encoder reads
    lexical_text: str  # what BM25 indexes
    encode_as: str = "passage"  # or "query" for question-like titles
    topic: str = ""
    urls: tuple[str, ...] = ()
    section: str = ""
    zone: str = "body"  # title | title_p | body: scored separately, then summed per document
    extra: dict[str, str] = field(default_factory=dict)

    @property
    def key(self) -> str:
        """Content hash of what the encoder sees: unchanged key, reusable vector."""
        blob = f"{self.encode_as}\x00{self.embed_text}".encode()
        return hashlib.blake2b(blob, digest_size=12).hexdigest()

    def to_json(self) -> str:
        data = asdict(self)
        data["urls"] = list(self.urls)
        return json.dumps(data, ensure_ascii=False)

    @classmethod
    def from_json(cls, line: str) -> Passage:
        data = json.loads(line)
        data["urls"] = tuple(data.get("urls") or ())
        return cls(**data)


def _clip(text: str, words: int = MAX_WORDS) -> str:
    tokens = text.split()
    return " ".join(tokens[:words]) + (" …" if len(tokens) > words else "")


def _plain(markdown: str) -> str:
    """Markdown to plain text good enough for embeddings and BM25."""
    text = markdown.replace("**", "").replace("__", "").replace("`", "")
    lines = [line.strip().lstrip("-*").strip() for line in text.splitlines()]
    return " ".join(line for line in lines if line)


def knowledge_base_passages(kb: KnowledgeBase) -> list[Passage]:
    passages: list[Passage] = []
    for guide in kb.guides.values():
        tags = ", ".join(guide.tags)
        head = f"{guide.title}. {guide.summary}"
        passages.extend(_title_passages(guide.id, "guide", guide.title, guide.topic, guide.sources))
        passages.extend(
            _asked_passages(
                guide.id, "guide", guide.title, guide.questions, guide.topic, guide.sources
            )
        )
        passages.append(
            Passage(
                doc_id=guide.id,
                kind="guide",
                title=guide.title,
                text=guide.summary,
                embed_text=_clip(f"{head} Mots-clés : {tags}."),
                lexical_text=f"{guide.title} {guide.title} {guide.summary} {tags}",
                topic=guide.topic,
                urls=guide.sources,
                section="",
            )
        )
        for section in guide.sections:
            body = _plain(section.text)
            passages.append(
                Passage(
                    doc_id=guide.id,
                    kind="guide",
                    title=guide.title,
                    text=_clip(body, 80),
                    embed_text=_clip(f"{guide.title} — {section.heading} : {body}"),
                    lexical_text=f"{guide.title} {section.heading} {body}",
                    topic=guide.topic,
                    urls=guide.sources,
                    section=section.heading,
                )
            )
    for entry in kb.faq.values():
        passages.extend(_faq_entry_passages(entry))
    for tool in kb.tools.values():
        category = kb.categories.get(tool.category, tool.category)
        replaces = ", ".join(tool.replaces)
        label = "Alternative européenne" if tool.european else "Alternative"
        alternative = f" {label} à {replaces}." if replaces else ""
        text = (
            f"{tool.name} ({tool.vendor}, {tool.country}) — {category}.{alternative} "
            f"{tool.description} Pour : {tool.good_for}"
        )
        passages.append(
            Passage(
                doc_id=tool.id,
                kind="tool",
                title=tool.name,
                text=tool.description,
                embed_text=_clip(text),
                lexical_text=f"{tool.name} {tool.name} {category} {replaces} {replaces} "
                f"{tool.description} {tool.good_for}",
                topic="find_alternative",
                urls=(tool.url,),
                extra={
                    "category": tool.category,
                    "country": tool.country,
                    "replaces": "|".join(tool.replaces),
                },
            )
        )
    for checklist in kb.checklists.values():
        steps = "; ".join(step.title for step in checklist.steps)
        label = TOPIC_LABELS.get(checklist.topic, "")
        passages.extend(
            _title_passages(checklist.id, "checklist", checklist.title, checklist.topic)
        )
        passages.extend(
            _asked_passages(
                checklist.id, "checklist", checklist.title, checklist.questions, checklist.topic
            )
        )
        passages.append(
            Passage(
                doc_id=checklist.id,
                kind="checklist",
                title=checklist.title,
                text=checklist.goal,
                embed_text=_clip(
                    f"Checklist étape par étape ({label}) : {checklist.title}. "
                    f"{checklist.goal} Étapes : {steps}."
                ),
                lexical_text=f"checklist étapes {checklist.title} {label} {checklist.goal} {steps}",
                topic=checklist.topic,
            )
        )
    return passages


def _faq_entry_passages(entry: FaqEntry) -> list[Passage]:
    """The question and every variant as `query:` texts (a merchant's paraphrase matches
    one of them), the question as a passage, and the answer as the body."""
    asked = (entry.question, *entry.variants)
    shared = {"topic": entry.topic, "urls": entry.sources}
    passages = _asked_passages(entry.id, "faq", entry.question, asked, entry.topic, entry.sources)
    passages.append(
        Passage(
            entry.id,
            "faq",
            entry.question,
            entry.question,
            entry.question,
            "",
            zone="title_p",
            **shared,
        )
    )
    passages.append(
        Passage(
            entry.id,
            "faq",
            entry.question,
            entry.answer,
            _clip(f"{entry.question} {entry.answer}"),
            f"{' '.join(asked)} {entry.answer}",
            **shared,
        )
    )
    return passages


def faq_passages(docs_file: Path, words: int = FAQ_CHUNK_WORDS) -> list[Passage]:
    """Passages for a generic FAQ, one `{"id","title","text"[,"url"]}` JSON object a line;
    answers are cut into passages of about `words` words."""
    passages: list[Passage] = []
    for line_no, line in enumerate(docs_file.read_text(encoding="utf-8").splitlines(), start=1):
        if not line.strip():
            continue
        try:
            doc = json.loads(line)
            doc_id, title, text = str(doc["id"]), str(doc["title"]).strip(), str(doc["text"])
        except (ValueError, KeyError, TypeError):
            raise ValueError(
                f'{docs_file}:{line_no}: objet JSON {{"id", "title", "text"}} attendu'
            ) from None
        urls = (str(doc["url"]),) if doc.get("url") else ()
        passages.extend(_title_passages(doc_id, "faq", title, "", urls))
        for chunk in _chunks(text, words):
            passages.append(
                Passage(
                    doc_id,
                    "faq",
                    title,
                    chunk,
                    f"{title}\n{chunk}",
                    f"{title} {chunk}",
                    "passage",
                    urls=urls,
                )
            )
    return passages


def _title_passages(
    doc_id: str, kind: str, title: str, topic: str, urls: tuple[str, ...] = ()
) -> list[Passage]:
    """The title twice: as a question (`query:`, matches paraphrased questions) and as a
    passage (`passage:`, matches descriptions of the need)."""
    return [
        Passage(doc_id, kind, title, title, title, title, "query", topic, urls, zone="title"),
        Passage(doc_id, kind, title, title, title, "", "passage", topic, urls, zone="title_p"),
    ]


def _asked_passages(
    doc_id: str,
    kind: str,
    title: str,
    questions: tuple[str, ...],
    topic: str,
    urls: tuple[str, ...] = (),
) -> list[Passage]:
    """Question wordings (an FAQ entry's question and variants, a guide's or checklist's
    `questions`) as `query:` texts in the item's title zone: a merchant's paraphrase matches
    one of them. A person is shown the title, never the wording that matched."""
    return [
        Passage(doc_id, kind, title, title, q, q, "query", topic, urls, zone="title")
        for q in questions
    ]


def _chunks(text: str, words: int = 120) -> list[str]:
    """Paragraphs grouped up to about `words` words."""
    chunks: list[str] = []
    current: list[str] = []
    for paragraph in (p.strip() for p in text.splitlines()):
        if not paragraph:
            continue
        size = sum(len(p.split()) for p in current)
        if current and size + len(paragraph.split()) > words:
            chunks.append(" ".join(current))
            current = []
        current.append(paragraph)
    if current:
        chunks.append(" ".join(current))
    return [_clip(c, words * 2) for c in chunks]
