"""FAQ entries, tool sources and the computed "European" label, freshness of facts."""

from __future__ import annotations

import json
import shutil
from datetime import date
from pathlib import Path

import pytest
import yaml

from knowledge_base.content_model import Pricing, Tool
from knowledge_base.editing import list_items, read_item, write_item
from knowledge_base.freshness import months_before, stale_items
from knowledge_base.loader import ContentError, load_knowledge_base
from knowledge_base.passages import knowledge_base_passages
from nlu.intents import GUIDE_TOPICS
from tests.nlu.test_cli import comptoir

CONTENT = Path(__file__).parents[2] / "knowledge_base" / "content"

NEW_ENTRY = """id: faq-de-test-horaires
question: Dois-je afficher mes horaires sur la porte ?
variants:
  - faut il afficher les horaires du magasin
  - horaires boutique obligatoire affichage ?
answer: Une réponse courte de test, le fait d'abord.
topic: ask_local_visibility
sources:
  - https://www.economie.gouv.fr/
verified: 2026-11-30
guides: [horaires-informations-a-jour]
"""


@pytest.fixture()
def content(tmp_path: Path) -> Path:
    copy = tmp_path / "content"
    shutil.copytree(CONTENT, copy)
    return copy


def _tool(**changes: object) -> Tool:
    base: dict[str, object] = dict(
        id="t",
        name="T",
        vendor="V",
        country="FR",
        category="email",
        replaces=(),
        hosting="France",
        open_source=False,
        pricing=Pricing(False, ""),
        url="https://example.fr/",
        description="",
        good_for="",
        parent_country="FR",
        hosting_region="europe",
    )
    base.update(changes)
    return Tool(**base)  # type: ignore[arg-type]


def test_shipped_faq_covers_every_topic_with_sources_and_dates() -> None:
    kb, problems = load_knowledge_base(CONTENT)
    assert problems == []
    assert len(kb.faq) >= 300
    per_topic = kb.faq_by_topic()
    assert all(per_topic.get(topic, 0) >= 20 for topic in GUIDE_TOPICS), per_topic
    for entry in kb.faq.values():
        assert entry.sources and entry.verified > date(2000, 1, 1)
        assert len(entry.variants) >= 2
    # Every tool and guide carries sources and a verified date (issue: a catalogue to trust).
    assert all(t.sources and t.verified > date(2000, 1, 1) for t in kb.tools.values())
    assert all(g.sources and g.verified > date(2000, 1, 1) for g in kb.guides.values())


def test_european_label_is_computed_from_publisher_parent_and_hosting() -> None:
    assert _tool().european
    assert _tool(country="CH", parent_country="GB").european  # Europe is not only the EU
    assert not _tool(parent_country="US").european  # a European brand owned from abroad
    assert not _tool(hosting_region="outside_europe").european
    assert not _tool(hosting_region="unknown").european
    assert _tool(hosting_region="unknown", self_hostable=True).european
    matomo = _tool(country="NZ", parent_country="NZ", open_source=True, self_hostable=True)
    assert not matomo.european and matomo.libre_hostable_in_europe
    assert not _tool(country="US", parent_country="US").libre_hostable_in_europe


def test_shipped_catalogue_labels_matomo_as_libre_not_european() -> None:
    kb, _ = load_knowledge_base(CONTENT)
    matomo = kb.tools["matomo"]
    assert matomo.country == "NZ"
    assert not matomo.european and matomo.libre_hostable_in_europe
    passage = next(p for p in knowledge_base_passages(kb) if p.doc_id == "matomo")
    assert "Alternative européenne" not in passage.embed_text


def test_tool_without_sources_or_dates_fails_validation(content: Path) -> None:
    email = content / "tools" / "email.yml"
    data = yaml.safe_load(email.read_text(encoding="utf-8"))
    del data[0]["sources"]
    data[0]["verified"] = None
    data[0]["hosting_region"] = "mars"
    email.write_text(yaml.safe_dump(data, allow_unicode=True, sort_keys=False), "utf-8")
    _, problems = load_knowledge_base(content)
    tool = data[0]["id"]
    fields = {(p.file, p.field) for p in problems}
    assert ("tools/email.yml", f"{tool}.sources") in fields
    assert ("tools/email.yml", f"{tool}.verified") in fields
    assert ("tools/email.yml", f"{tool}.hosting_region") in fields


def test_each_faq_breakage_names_file_and_field(content: Path) -> None:
    broken = yaml.safe_load(NEW_ENTRY)
    broken.update(
        id="faq-cassee",
        variants=["une seule"],
        topic="ask_payment",
        sources=[],
        guides=["pas-de-guide"],
        answer="x" * 1200,
    )
    (content / "faq" / "local_visibility.yml").write_text(
        yaml.safe_dump([broken], allow_unicode=True), encoding="utf-8"
    )
    (content / "faq" / "meteo.yml").write_text("[]\n", encoding="utf-8")
    _, problems = load_knowledge_base(content)
    messages = [str(p) for p in problems]
    where = "faq/local_visibility.yml"
    for field, words in [
        ("faq-cassee.variants", "au moins 2"),
        ("faq-cassee.topic", "ask_payment mais la fiche est dans"),
        ("faq-cassee.sources", "au moins une source"),
        ("faq-cassee.answer", "900 au plus"),
        ("faq-cassee.guides", "guide 'pas-de-guide' inconnu"),
    ]:
        assert any(m.startswith(where) and f"[{field}]" in m and words in m for m in messages), (
            field,
            messages,
        )
    assert any(m.startswith("faq/meteo.yml") and "thème" in m for m in messages)


def test_months_before_keeps_the_day_or_the_month_end() -> None:
    assert months_before(date(2026, 12, 4), 12) == date(2025, 12, 4)
    assert months_before(date(2026, 3, 31), 1) == date(2026, 2, 28)
    assert months_before(date(2026, 1, 15), 3) == date(2025, 10, 15)


def test_stale_items_oldest_first_with_review_dates(content: Path) -> None:
    guide = content / "guides" / "payment" / "terminal-de-paiement-tpe.md"
    text = guide.read_text(encoding="utf-8")
    old_verified = next(line for line in text.splitlines() if line.startswith("verified:"))
    guide.write_text(text.replace(old_verified, "verified: 2024-05-02"), encoding="utf-8")
    entry = yaml.safe_load(NEW_ENTRY)
    entry["review_by"] = date(2026, 9, 1)
    faq_file = content / "faq" / "local_visibility.yml"
    entries = yaml.safe_load(faq_file.read_text(encoding="utf-8"))
    faq_file.write_text(
        yaml.safe_dump([*entries, entry], allow_unicode=True, sort_keys=False), encoding="utf-8"
    )
    kb, problems = load_knowledge_base(content)
    assert problems == []
    stale = stale_items(kb, date(2026, 12, 4))
    ids = [item.id for item in stale]
    assert ids[0] == "terminal-de-paiement-tpe"  # the oldest first
    assert "faq-de-test-horaires" in ids  # its announced change has come
    review = next(item for item in stale if item.id == "faq-de-test-horaires")
    assert "à revoir depuis le 01/09/2026" in review.reason
    assert [i.verified for i in stale] == sorted(i.verified for i in stale)
    # Not yet due a month earlier, and fresh: not listed.
    assert "faq-de-test-horaires" not in [i.id for i in stale_items(kb, date(2026, 8, 1))]


def test_kb_validate_json_counts_faq_and_stale(tmp_path: Path, content: Path) -> None:
    guide = content / "guides" / "payment" / "terminal-de-paiement-tpe.md"
    text = guide.read_text(encoding="utf-8")
    old_verified = next(line for line in text.splitlines() if line.startswith("verified:"))
    guide.write_text(text.replace(old_verified, "verified: 2020-01-01"), encoding="utf-8")
    env = {"COMPTOIR_KB_CONTENT_DIR": str(content)}
    result = comptoir("kb", "validate", "--json", data_dir=tmp_path / "data", **env)
    assert result.returncode == 0, result.stderr
    report = json.loads(result.stdout)
    kb, _ = load_knowledge_base(content)
    assert report["faq"] == len(kb.faq) and report["errors"] == []
    assert report["faq_by_topic"] == kb.faq_by_topic()
    assert report["stale"] >= 1
    assert "terminal-de-paiement-tpe" in [w["id"] for w in report["warnings"]]
    listed = comptoir("kb", "stale", "--json", data_dir=tmp_path / "data", **env)
    assert listed.returncode == 0, listed.stderr
    assert json.loads(listed.stdout)[0]["id"] == "terminal-de-paiement-tpe"
    human = comptoir("kb", "stale", "--months", "1", data_dir=tmp_path / "data", **env)
    assert "terminal-de-paiement-tpe" in human.stdout and "à revérifier" in human.stdout


def test_faq_entry_is_created_edited_and_moved_like_a_tool(content: Path) -> None:
    target = content / "faq" / "local_visibility.yml"
    before = target.read_text(encoding="utf-8")
    path = write_item(content, "faq", None, NEW_ENTRY)
    assert path == target.absolute()
    after = target.read_text(encoding="utf-8")
    assert after.startswith(before)  # the other entries keep every byte
    assert read_item(content, "faq", "faq-de-test-horaires") == NEW_ENTRY
    kb, problems = load_knowledge_base(content)
    assert problems == [] and kb.faq["faq-de-test-horaires"].topic == "ask_local_visibility"
    assert any(i.kind == "faq" and i.id == "faq-de-test-horaires" for i in list_items(kb))
    # Another topic: the entry moves to that topic's file.
    moved = NEW_ENTRY.replace("topic: ask_local_visibility", "topic: ask_website")
    write_item(content, "faq", "faq-de-test-horaires", moved)
    assert target.read_text(encoding="utf-8") == before
    kb, problems = load_knowledge_base(content)
    assert problems == [] and kb.faq["faq-de-test-horaires"].path == "faq/website.yml"
    # A broken link is refused, nothing written.
    with pytest.raises(ContentError) as refused:
        write_item(
            content,
            "faq",
            "faq-de-test-horaires",
            moved.replace("[horaires-informations-a-jour]", "[nulle-part]"),
        )
    assert "nulle-part" in str(refused.value)
