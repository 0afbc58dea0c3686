"""A guide's or checklist's `questions`: checked when loaded, searched as FAQ variants are."""

from __future__ import annotations

import dataclasses
import shutil
from pathlib import Path

import numpy as np
import pytest

from knowledge_base.index import build_index
from knowledge_base.loader import load_knowledge_base
from knowledge_base.passages import knowledge_base_passages
from knowledge_base.search import SearchIndex
from nlu.encoder import encode_query
from tests.kb.test_validation import CONTENT, edit, problems_of

GUIDE = "guides/payment/terminal-de-paiement-tpe.md"
CHECKLIST = "checklists/vendre-en-ligne.yml"


def test_shipped_guides_and_checklists_carry_merchant_questions() -> None:
    kb, problems = load_knowledge_base(CONTENT)
    assert problems == []
    assert all(len(g.questions) >= 6 for g in kb.guides.values()), [
        g.id for g in kb.guides.values() if len(g.questions) < 6
    ]
    assert all(len(c.questions) >= 4 for c in kb.checklists.values())
    # Written as merchants type them, not as the title again.
    for item in [*kb.guides.values(), *kb.checklists.values()]:
        assert item.title not in item.questions


@pytest.fixture()
def content(tmp_path: Path) -> Path:
    copy = tmp_path / "content"
    shutil.copytree(CONTENT, copy)
    return copy


@pytest.mark.parametrize(
    ("file", "old", "new", "expected"),
    [
        (GUIDE, "questions:\n", "questions: pas une liste\nold_q:\n", "liste de textes attendue"),
        (
            GUIDE,
            "questions:\n",
            "questions:\n  - Mon TPE coûte cher ?\n  - mon tpe coute cher\n",
            "question en double : 'mon tpe coute cher'",
        ),
        (
            CHECKLIST,
            "questions:\n",
            "questions:\n  - " + "vendre " * 40 + "\n",
            "question de 279 caractères : 200 au plus",
        ),
    ],
)
def test_a_broken_question_list_names_file_and_field(
    content: Path, file: str, old: str, new: str, expected: str
) -> None:
    edit(content / file, old, new)
    found = problems_of(content)
    assert any(file in p and "[questions]" in p and expected in p for p in found), found


def test_questions_are_searched_as_the_items_title() -> None:
    kb, _ = load_knowledge_base(CONTENT)
    guide = kb.guides["terminal-de-paiement-tpe"]
    asked = [
        p
        for p in knowledge_base_passages(kb)
        if p.doc_id == guide.id and p.zone == "title" and p.embed_text in guide.questions
    ]
    assert {p.embed_text for p in asked} == set(guide.questions)
    # Encoded as questions (question to question is a symmetric match); the merchant reads
    # the title, never the wording that matched.
    assert {(p.encode_as, p.text, p.kind) for p in asked} == {("query", guide.title, "guide")}


def test_a_merchants_wording_finds_the_guide_through_its_questions(
    encoder,  # type: ignore[no-untyped-def]
    tmp_path: Path,
) -> None:
    """Two payment guides; the wording of one's question is nearer to that guide with the
    question indexed than without it, and the guide ranks first."""
    kb, _ = load_knowledge_base(CONTENT)
    kb.tools, kb.faq, kb.checklists = {}, {}, {}
    kb.guides = {k: g for k, g in kb.guides.items() if g.topic == "ask_payment"}
    target = kb.guides["terminal-de-paiement-tpe"]
    asked = target.questions[-1]
    title_cosine = {}
    for name, questions in (("without", ()), ("with", target.questions)):
        kb.guides[target.id] = dataclasses.replace(target, questions=questions)
        index_dir = tmp_path / name
        build_index(knowledge_base_passages(kb), encoder, index_dir)
        hits = SearchIndex.load(index_dir).search(asked, encode_query(encoder, asked), k=6)
        by_id = {h.id: h for h in hits}
        title_cosine[name] = by_id[target.id].match if target.id in by_id else -1.0
        if name == "with":
            assert hits[0].id == target.id, [h.id for h in hits]
    assert np.isclose(title_cosine["with"], 1.0, atol=0.01)
    assert title_cosine["without"] < title_cosine["with"]
