"""Browser editing of the knowledge base: real files in a copy of the shipped content."""

from __future__ import annotations

import re
import shutil
from pathlib import Path

import pytest
import yaml

from knowledge_base.editing import (
    EditConflict,
    ItemNotFound,
    _locate,
    delete_item,
    fingerprint,
    item_title,
    list_items,
    read_item,
    unified_diff,
    validate_item,
    write_item,
)
from knowledge_base.loader import ContentError, load_knowledge_base

CONTENT = Path(__file__).parents[2] / "knowledge_base" / "content"

NEW_GUIDE = """---
id: encaisser-avec-un-telephone
title: Encaisser avec votre téléphone
topic: ask_payment
summary: >-
  Une application et un petit lecteur suffisent pour accepter la carte sur un marché ou en
  tournée, pour quelques dizaines d'euros.
tags: [paiement mobile, marché]
sources:
  - https://www.economie.gouv.fr/
verified: 2026-11-01
tools: [sumup]
related: [terminal-de-paiement-tpe]
---

## De quoi s'agit-il ?
Un lecteur de carte relié à votre téléphone remplace le terminal classique.

## Comment faire
1. Choisissez une offre.
2. Commandez le lecteur.
"""

NEW_TOOL = """id: outil-de-test
name: Outil de test
vendor: Test SAS
country: FR
category: email
replaces: [Gmail]
hosting: France
open_source: false
pricing:
  free_tier: false
  entry_price: "sur devis"
url: https://example.fr/
description: Un outil inventé pour les tests.
good_for: Les tests.
parent_country: FR
hosting_region: europe
self_hostable: false
sources: [https://example.fr/mentions-legales]
verified: 2026-11-01
"""


@pytest.fixture()
def content(tmp_path: Path) -> Path:
    copy = tmp_path / "content"
    shutil.copytree(CONTENT, copy)
    return copy


def snapshot(root: Path) -> dict[str, bytes]:
    return {str(p.relative_to(root)): p.read_bytes() for p in root.rglob("*") if p.is_file()}


def as_list_item(mapping: str) -> str:
    """How a tool's mapping text sits in its category file: "- " then two-space indent."""
    first, *rest = mapping.splitlines(keepends=True)
    return "- " + first + "".join("  " + line if line.strip() else line for line in rest)


def replace_once(text: str, old: str, new: str) -> str:
    assert text.count(old) == 1, f"{old!r} should occur once"
    return text.replace(old, new)


def test_list_items_covers_the_knowledge_base_sorted(content: Path) -> None:
    kb, _ = load_knowledge_base(content)
    items = list_items(kb)
    assert len(items) == len(kb.guides) + len(kb.faq) + len(kb.tools) + len(kb.checklists)
    assert [i.kind for i in items] == sorted(
        (i.kind for i in items), key=["guide", "faq", "tool", "checklist"].index
    )
    proton = next(i for i in items if i.id == "proton-mail")
    assert (proton.title, proton.group, proton.path) == ("Proton Mail", "email", "tools/email.yml")
    assert all((content / i.path).is_file() for i in items)


def test_read_item_for_each_kind(content: Path) -> None:
    guide = content / "guides" / "sell_online" / "click-and-collect.md"
    assert read_item(content, "guide", "click-and-collect") == guide.read_text(encoding="utf-8")
    checklist = content / "checklists" / "vendre-en-ligne.yml"
    assert read_item(content, "checklist", "vendre-en-ligne") == checklist.read_text("utf-8")

    tool = read_item(content, "tool", "infomaniak-kmail")
    assert tool.startswith("id: infomaniak-kmail\nname: kMail\n")
    assert tool.endswith("\n") and not tool.endswith("\n\n")
    assert "\npricing:\n  free_tier: true\n" in tool  # de-indented by the "- " width only
    data = yaml.safe_load(tool)
    assert isinstance(data, dict) and data["category"] == "email"
    assert "- id:" not in tool  # the next tool is not part of the block
    assert item_title("tool", tool) == "kMail"
    assert item_title("guide", read_item(content, "guide", "click-and-collect")).startswith(
        "Mettre en place le click"
    )
    assert item_title("checklist", "steps: [oops") == ""


def test_read_item_unknown_or_unsafe_id(content: Path) -> None:
    for kind, item_id in [
        ("tool", "absent"),
        ("guide", "proton-mail"),
        ("checklist", "../diagnostic"),
    ]:
        with pytest.raises(ItemNotFound) as caught:
            read_item(content, kind, item_id)  # type: ignore[arg-type]
        assert isinstance(caught.value, KeyError)
        assert "introuvable" in str(caught.value)


def test_every_tool_block_round_trips_byte_for_byte(content: Path) -> None:
    kb, _ = load_knowledge_base(content)
    for tool_id in kb.tools:
        location = _locate(content, "tool", tool_id)
        assert location is not None and location.block is not None
        source = read_item(content, "tool", tool_id)
        assert location.block.replaced(source) == "".join(location.block.lines), tool_id


def test_saving_an_unchanged_tool_leaves_its_file_identical(content: Path) -> None:
    before = snapshot(content)
    source = read_item(content, "tool", "proton-mail")
    path = write_item(content, "tool", "proton-mail", source)
    assert path == (content / "tools" / "email.yml").absolute()
    # A browser textarea sends CRLF line breaks: still the same file.
    write_item(content, "tool", "proton-mail", source.replace("\n", "\r\n"))
    assert snapshot(content) == before


def test_edit_guide_summary(content: Path) -> None:
    source = read_item(content, "guide", "click-and-collect")
    marker = "  Le click & collect permet à vos clients"
    edited = replace_once(
        source, marker, "  Avec le retrait en magasin, vous permettez à vos clients"
    )
    assert validate_item(content, "guide", "click-and-collect", edited) == []
    path = write_item(content, "guide", "click-and-collect", edited)
    assert path == (content / "guides" / "sell_online" / "click-and-collect.md").absolute()
    kb, problems = load_knowledge_base(content)
    assert problems == []
    assert kb.guides["click-and-collect"].summary.startswith("Avec le retrait en magasin")
    assert read_item(content, "guide", "click-and-collect") == edited


def test_edit_one_tool_leaves_other_bytes_identical(content: Path) -> None:
    before = snapshot(content)
    email = (content / "tools" / "email.yml").read_text(encoding="utf-8")
    old_block = read_item(content, "tool", "infomaniak-kmail")
    new_block = replace_once(old_block, "hosting: Suisse", "hosting: Suisse (Genève)")
    write_item(content, "tool", "infomaniak-kmail", new_block)

    expected = replace_once(email, as_list_item(old_block), as_list_item(new_block))
    after = snapshot(content)
    assert after.pop("tools/email.yml").decode("utf-8") == expected
    before.pop("tools/email.yml")
    assert after == before
    kb, problems = load_knowledge_base(content)
    assert problems == []
    assert kb.tools["infomaniak-kmail"].hosting == "Suisse (Genève)"


def test_create_guide_goes_to_its_topic_folder(content: Path) -> None:
    assert validate_item(content, "guide", None, NEW_GUIDE) == []
    path = write_item(content, "guide", None, NEW_GUIDE.replace("\n", "\r\n"))
    assert path == (content / "guides" / "payment" / "encaisser-avec-un-telephone.md").absolute()
    assert path.read_bytes() == NEW_GUIDE.encode("utf-8")  # LF as the other files
    assert not list(path.parent.glob(".*"))  # no temporary file left behind
    kb, problems = load_knowledge_base(content)
    assert problems == []
    assert kb.guides["encaisser-avec-un-telephone"].topic == "ask_payment"


def test_create_tool_is_appended_to_its_category_file(content: Path) -> None:
    email = (content / "tools" / "email.yml").read_bytes()
    path = write_item(content, "tool", None, NEW_TOOL)
    assert path == (content / "tools" / "email.yml").absolute()
    after = path.read_bytes().decode("utf-8")
    assert after.startswith(
        email.decode("utf-8") + "\n- id: outil-de-test\n  name: Outil de test\n"
    )
    assert after.endswith("  verified: 2026-11-01\n")
    kb, problems = load_knowledge_base(content)
    assert problems == []
    assert kb.tools["outil-de-test"].category == "email"
    assert read_item(content, "tool", "outil-de-test") == NEW_TOOL


def test_create_with_an_existing_id_is_refused(content: Path) -> None:
    clash = NEW_TOOL.replace("id: outil-de-test", "id: click-and-collect")
    problems = validate_item(content, "tool", None, clash)
    assert [p.field for p in problems] == ["id"]
    assert (
        "déjà utilisé par le guide guides/sell_online/click-and-collect.md" in problems[0].message
    )


def test_id_rename_is_refused(content: Path) -> None:
    before = snapshot(content)
    source = read_item(content, "guide", "click-and-collect")
    renamed = replace_once(source, "id: click-and-collect", "id: retrait-en-magasin")
    problems = validate_item(content, "guide", "click-and-collect", renamed)
    assert len(problems) == 1 and problems[0].field == "id"
    assert "ne peut pas être changé" in problems[0].message
    with pytest.raises(ContentError):
        write_item(content, "guide", "click-and-collect", renamed)
    assert snapshot(content) == before


def test_broken_yaml_gives_a_clear_problem_and_touches_nothing(content: Path) -> None:
    before = snapshot(content)
    broken_tool = re.sub(  # the list's closing bracket dropped
        r"(replaces: \[[^\]\n]*)\]", r"\1", read_item(content, "tool", "proton-mail"), count=1
    )
    problems = validate_item(content, "tool", "proton-mail", broken_tool)
    assert len(problems) == 1
    assert problems[0].file == "tools/email.yml"
    assert problems[0].field.startswith("ligne ") and "YAML invalide" in problems[0].message

    guide = read_item(content, "guide", "click-and-collect")
    broken_guide = replace_once(guide, "topic: ask_sell_online", "topic: ask: sell_online")
    problems = validate_item(content, "guide", "click-and-collect", broken_guide)
    assert [p.field for p in problems] == ["ligne 4"]  # line 4 of the file the operator sees
    assert "en-tête YAML invalide" in problems[0].message
    no_header = validate_item(content, "guide", None, "Juste du texte.\n")
    assert "en-tête YAML manquant" in no_header[0].message
    listed = validate_item(content, "tool", None, "- id: x\n  name: X\n")
    assert "sans « - » devant « id: »" in listed[0].message

    with pytest.raises(ContentError) as caught:
        write_item(content, "tool", "proton-mail", broken_tool)
    assert "YAML invalide" in str(caught.value)
    assert snapshot(content) == before


def test_guide_missing_required_field_is_refused(content: Path) -> None:
    before = snapshot(content)
    source = read_item(content, "guide", "click-and-collect")
    head, body = source.split("\nsectors:", 1)
    without_summary = head.split("\nsummary:")[0] + "\nsectors:" + body
    problems = validate_item(content, "guide", "click-and-collect", without_summary)
    assert [(p.file, p.field) for p in problems] == [
        ("guides/sell_online/click-and-collect.md", "summary")
    ]
    assert "obligatoire" in problems[0].message
    with pytest.raises(ContentError):
        write_item(content, "guide", "click-and-collect", without_summary)
    assert snapshot(content) == before


def test_move_tool_to_another_category(content: Path) -> None:
    email = (content / "tools" / "email.yml").read_text(encoding="utf-8")
    messaging = (content / "tools" / "messaging.yml").read_text(encoding="utf-8")
    source = read_item(content, "tool", "mailo")
    moved = replace_once(source, "category: email", "category: messaging")
    path = write_item(content, "tool", "mailo", moved)
    assert path == (content / "tools" / "messaging.yml").absolute()

    kb, problems = load_knowledge_base(content)
    assert problems == []
    assert kb.tools["mailo"].category == "messaging"
    assert kb.tools["mailo"].path == "tools/messaging.yml"
    assert (content / "tools" / "messaging.yml").read_text("utf-8").startswith(messaging + "\n")
    new_email = (content / "tools" / "email.yml").read_text(encoding="utf-8")
    assert new_email == replace_once(email, as_list_item(source) + "\n", "")


def test_guide_topic_change_moves_the_file(content: Path) -> None:
    source = read_item(content, "guide", "click-and-collect")
    moved = replace_once(source, "topic: ask_sell_online", "topic: ask_payment")
    path = write_item(content, "guide", "click-and-collect", moved)
    assert path == (content / "guides" / "payment" / "click-and-collect.md").absolute()
    assert not (content / "guides" / "sell_online" / "click-and-collect.md").exists()
    kb, problems = load_knowledge_base(content)
    assert problems == []
    assert kb.guides["click-and-collect"].topic == "ask_payment"


def test_delete_refused_when_linked_then_allowed_when_not(content: Path) -> None:
    before = snapshot(content)
    with pytest.raises(ContentError) as caught:
        delete_item(content, "tool", "proton-mail")
    message = str(caught.value)
    assert "suppression refusée" in message and "outil 'proton-mail' inconnu" in message
    with pytest.raises(ContentError):
        delete_item(content, "guide", "click-and-collect")
    assert snapshot(content) == before

    write_item(content, "tool", None, NEW_TOOL)
    delete_item(content, "tool", "outil-de-test")
    assert snapshot(content) == before  # appended then removed: back to the same bytes
    with pytest.raises(ItemNotFound):
        delete_item(content, "tool", "outil-de-test")


def test_stale_fingerprint_is_a_conflict(content: Path) -> None:
    opened = fingerprint(read_item(content, "tool", "mailo"))
    assert opened == fingerprint(read_item(content, "tool", "mailo"))
    source = read_item(content, "tool", "mailo")
    write_item(content, "tool", "mailo", source.replace("hosting: France", "hosting: Paris"))
    with pytest.raises(EditConflict) as caught:
        write_item(content, "tool", "mailo", source, expected_fingerprint=opened)
    assert "Rechargez la page" in str(caught.value)


def test_unrelated_broken_file_does_not_block_other_edits(content: Path) -> None:
    other = content / "checklists" / "lancer-newsletter.yml"
    other.write_text(other.read_text("utf-8").replace("title:", "titre:", 1), encoding="utf-8")
    source = read_item(content, "tool", "mailo")
    assert validate_item(content, "tool", "mailo", source.replace("France", "Paris")) == []
    broken = read_item(content, "checklist", "lancer-newsletter")
    problems = validate_item(content, "checklist", "lancer-newsletter", broken)
    assert [p.field for p in problems] == ["title"]  # its own problems are still reported


def test_unified_diff() -> None:
    assert unified_diff("a\nb\n", "a\nb\n") == []
    lines = unified_diff("a\nb\nc\n", "a\nB\nc\nd\n")
    assert lines == [
        ("hunk", "--- avant"),
        ("hunk", "+++ après"),
        ("hunk", "@@ -1,3 +1,4 @@"),
        ("ctx", " a"),
        ("del", "-b"),
        ("add", "+B"),
        ("ctx", " c"),
        ("add", "+d"),
    ]
    assert unified_diff("x\n", "y\n", "v1", "v2")[:2] == [("hunk", "--- v1"), ("hunk", "+++ v2")]
