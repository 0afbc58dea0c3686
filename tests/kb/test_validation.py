"""The shipped content is valid and complete; each kind of breakage is reported clearly."""

from __future__ import annotations

import json
import shutil
from collections import Counter
from pathlib import Path

import pytest

from knowledge_base.loader import load_knowledge_base
from nlu.default import DEFAULT_TRAIN_DIR
from nlu.entities import EntityExtractor
from nlu.intents import GUIDE_TOPICS
from nlu.training_data import load_training_data
from tests.nlu.test_cli import comptoir

CONTENT = Path(__file__).parents[2] / "knowledge_base" / "content"
# The tools every merchant names (shared/spec/knowledge-base.md): each needs an alternative.
COMMON_US_TOOLS = [
    "Gmail",
    "Outlook",
    "Google Drive",
    "Dropbox",
    "WhatsApp",
    "Messenger",
    "Zoom",
    "Teams",
    "Shopify",
    "Wix",
    "Amazon",
    "Google Analytics",
    "Mailchimp",
    "Stripe",
    "PayPal",
    "Calendly",
    "Canva",
    "Slack",
    "Google Maps",
    "Google Business Profile",
    # QuickBooks is not here: Intuit closed it in France on 29 December 2023, so no tool
    # lists it in `replaces` (only products a French merchant can buy today).
    "Trello",
    "Notion",
    "Doodle",
]


def test_shipped_content_is_valid_and_covers_the_spec() -> None:
    kb, problems = load_knowledge_base(CONTENT)
    assert problems == []
    counts = kb.counts()
    assert counts["guides"] >= 60
    per_topic = Counter(g.topic for g in kb.guides.values())
    assert all(per_topic[topic] >= 4 for topic in GUIDE_TOPICS), per_topic
    assert counts["tools"] >= 100 and counts["categories"] >= 15
    assert counts["checklists"] >= 8
    assert all(5 <= len(c.steps) <= 12 for c in kb.checklists.values())
    assert kb.diagnostic is not None
    assert len(kb.diagnostic.questions) >= 12 and len(kb.diagnostic.axes) >= 5
    missing = [name for name in COMMON_US_TOOLS if not kb.tools_replacing(name)]
    assert missing == []
    assert all(g.sources and g.summary for g in kb.guides.values())


# Products a tool `replaces` whose name is an everyday word: the search still finds them in a
# message by name (`knowledge_base.search._MentionMatcher`); the entity extractor does not.
EVERYDAY_WORDS = {"Later", "Toast", "UPS"}


def test_every_replaced_product_is_read_by_its_own_name() -> None:
    """ "une alternative à Zettle": the chat lists the tools whose `replaces` holds the name
    the entity extractor read, its canonical value. A catalogue that wrote "Zettle (PayPal)"
    or "Copilot" (read as "Microsoft Copilot") made the chat say it knew no alternative."""
    kb, _ = load_knowledge_base(CONTENT)
    extractor = EntityExtractor.from_training_data(load_training_data(DEFAULT_TRAIN_DIR), ["tool"])
    replaced = {name for tool in kb.tools.values() for name in tool.replaces} - EVERYDAY_WORDS
    unread = {
        name: [e.value for e in extractor.extract(f"une alternative à {name} ?")]
        for name in sorted(replaced)
    }
    assert {name: read for name, read in unread.items() if read != [name]} == {}


@pytest.fixture()
def content(tmp_path: Path) -> Path:
    copy = tmp_path / "content"
    shutil.copytree(CONTENT, copy)
    return copy


def edit(path: Path, old: str, new: str) -> None:
    text = path.read_text(encoding="utf-8")
    assert old in text, f"{old!r} not in {path}"
    path.write_text(text.replace(old, new, 1), encoding="utf-8")


def problems_of(content: Path) -> list[str]:
    _, problems = load_knowledge_base(content)
    return [str(p) for p in problems]


GUIDE = "guides/payment/terminal-de-paiement-tpe.md"
CHECKLIST = "checklists/vendre-en-ligne.yml"


@pytest.mark.parametrize(
    ("file", "old", "new", "expected"),
    [
        (GUIDE, "topic: ask_payment", "topic: ask_payments", f"{GUIDE} [topic] : thème inconnu"),
        (GUIDE, "tools: [sumup,", "tools: [no-such-tool, sumup,", "outil 'no-such-tool' inconnu"),
        (
            GUIDE,
            "verified: 2026-12-04",
            "verified: 04/12/2026",
            f"{GUIDE} [verified] : date invalide",
        ),
        (
            GUIDE,
            "sources:\n",
            "sources: []\nold_sources:\n",
            f"{GUIDE} [sources] : au moins une source",
        ),
        (
            GUIDE,
            "related: [frais-de-paiement-comparer,",
            "related: [absent,",
            "guide 'absent' inconnu",
        ),
        (GUIDE, "title: ", "title: [unclosed\n#", f"{GUIDE} [ligne"),
        (
            CHECKLIST,
            "    done_when: Vous avez choisi",
            "    done_when: ''\n    x_: Vous avez choisi",
            f"{CHECKLIST} [steps[0].done_when] : champ obligatoire vide",
        ),
        (
            CHECKLIST,
            "id: vendre-en-ligne",
            "id: site-vitrine",
            "identifiant 'site-vitrine' déjà utilisé",
        ),
        ("diagnostic.yml", "axis: visibilite", "axis: nulle-part", "axe inconnu 'nulle-part'"),
        (
            "faq/gdpr.yml",
            "    - combien de temps garder les donnees de geolocalisation 2 mois\n",
            "    - combien de temps garder les donnees de geolocalisation 2 mois\n"
            "    - dois-je declarer mon fichier clients a la cnil ?\n",
            "[declaration-cnil-fichier-clients.question] : « Dois-je déclarer mon fichier "
            "clients à la CNIL ? » est déjà une question de la fiche "
            "'geolocalisation-vehicule-salarie'",
        ),
    ],
)
def test_each_kind_of_breakage_names_file_and_field(
    content: Path, file: str, old: str, new: str, expected: str
) -> None:
    edit(content / file, old, new)
    found = problems_of(content)
    assert any(expected in p for p in found), found


def test_every_problem_is_reported_at_once(content: Path) -> None:
    edit(content / GUIDE, "topic: ask_payment", "topic: nope")
    edit(content / CHECKLIST, "tools: [prestashop,", "tools: [ghost,")
    (content / "tools" / "broken.yml").write_text("- id: [\n", encoding="utf-8")
    found = problems_of(content)
    assert len(found) >= 3
    assert any("tools/broken.yml" in p for p in found)


def test_cli_validate_json_and_exit_code(content: Path, tmp_path: Path) -> None:
    ok = comptoir(
        "kb", "validate", "--json", data_dir=tmp_path, COMPTOIR_KB_CONTENT_DIR=str(content)
    )
    assert ok.returncode == 0, ok.stderr
    report = json.loads(ok.stdout)
    assert report["errors"] == [] and report["guides"] >= 60 and report["categories"] >= 15
    edit(content / GUIDE, "topic: ask_payment", "topic: nope")
    bad = comptoir(
        "kb", "validate", "--json", data_dir=tmp_path, COMPTOIR_KB_CONTENT_DIR=str(content)
    )
    assert bad.returncode == 1
    errors = json.loads(bad.stdout)["errors"]
    assert errors[0]["file"] == GUIDE and errors[0]["field"] == "topic"
