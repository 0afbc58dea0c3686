"""Questions about tools, asked of the whole catalogue through the assistant (the path
`comptoir reply` takes), and how each was answered.

Five sweeps, generated from the catalogue and the intent data's table of tool names, not
from any labelled set:
- `alternatives`: "une alternative européenne à {produit} ?" for every product the chat
  recognises that is not a catalogued tool's name;
- `about`: "c'est quoi {outil} ?", "{outil} c'est européen ?", "une alternative à {outil} ?"
  for every catalogued tool;
- `price`: "combien coûte {outil} ?", "{outil} c'est gratuit ?";
- `compare`: "{A} ou {B} ?" and "{A} ou {B}, lequel choisir pour mon commerce ?" for
  neighbours of each category;
- `gdpr`: "{produit} c'est ok pour le rgpd ?" and "on m'a dit que {produit} c'était américain,
  j'ai le droit de l'utiliser pour mes clients ?" for every product the chat recognises that
  some catalogued tool replaces: it asks whether it may be used, not for a replacement.

Each reply's kind and the item served first (`first`) are kept.

Usage: `python benchmarks/tool_sweeps.py [--out FILE]` (the data directory of
`comptoir kb reindex`, as `comptoir kb eval` uses).
"""

from __future__ import annotations

import argparse
import json
import tempfile
from collections import Counter, defaultdict
from pathlib import Path

import yaml

from benchmarks.common import cpu_model
from bot import kb_eval
from bot.assistant import Assistant
from bot.config import Settings
from bot.services import build_services
from knowledge_base.content_model import KnowledgeBase
from nlu.text import fold

ENTITIES = Path(__file__).resolve().parents[1] / "nlu" / "data" / "train" / "entities.yml"


def product_names() -> list[str]:
    data = yaml.safe_load(ENTITIES.read_text(encoding="utf-8"))
    lookup = next(b for b in data["nlu"] if b.get("lookup") == "tool")["examples"]
    return [line.strip()[2:] for line in lookup.splitlines() if line.strip().startswith("- ")]


def sweeps(kb: KnowledgeBase) -> dict[str, list[str]]:
    catalogued = {fold(t.name) for t in kb.tools.values()}
    replaced = [n for n in product_names() if fold(n) not in catalogued and kb.tools_replacing(n)]
    tools = list(kb.tools.values())
    by_category: dict[str, list[str]] = defaultdict(list)
    for tool in tools:
        by_category[tool.category].append(tool.name)
    pairs = [  # each tool with the next, for the first three of each category
        (names[i], names[i + 1])
        for names in by_category.values()
        for i in range(min(2, len(names) - 1))
    ]
    return {
        "alternatives": [
            f"une alternative européenne à {name} ?"
            for name in product_names()
            if fold(name) not in catalogued
        ],
        "about": [
            text
            for t in tools
            for text in (
                f"c'est quoi {t.name} ?",
                f"{t.name} c'est européen ?",
                f"une alternative à {t.name} ?",
            )
        ],
        "price": [
            text
            for t in tools
            for text in (f"combien coûte {t.name} ?", f"{t.name} c'est gratuit ?")
        ],
        "compare": [
            text
            for a, b in pairs
            for text in (f"{a} ou {b} ?", f"{a} ou {b}, lequel choisir pour mon commerce ?")
        ],
        "gdpr": [
            text
            for name in replaced
            for text in (
                f"{name} c'est ok pour le rgpd ?",
                f"on m'a dit que {name} c'était américain, j'ai le droit de l'utiliser pour mes "
                "clients ?",
            )
        ],
    }


def kind(reply: str) -> str:
    """What the merchant read first: the unsure turn, cards (how many), or an entry/guide."""
    head = reply.split("\n", 1)[0]
    cards = sum(1 for line in reply.splitlines() if line.startswith("• "))
    if head.startswith(("Je ne suis pas sûr", "Je n'ai pas de fiche")):
        return "unsure"
    if "pas encore d'alternative" in head or "n'est pas dans mon catalogue" in head:
        return f"none known, {cards} closest" if cards else "none known"
    if cards and (head.startswith("• ") or head.endswith(":")):
        return f"{cards} card" + ("s" if cards > 1 else "")
    return "entry or guide"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--out", type=Path, default=None)
    args = parser.parse_args()
    tmp = tempfile.mkdtemp()
    settings = Settings().with_overrides(database_url=f"sqlite:///{tmp}/sweeps.db")
    assistant = Assistant(build_services(settings))
    report: dict[str, object] = {"cpu": cpu_model()}
    for name, texts in sweeps(assistant.services.kb).items():
        answers = [kb_eval.ask(assistant, f"{name}-{i}", t) for i, t in enumerate(texts)]
        kinds = Counter(kind(a.reply) for a in answers)
        firsts = Counter(a.hits[0] if a.hits else "" for a in answers)
        report[name] = {
            "n": len(texts),
            "kinds": dict(kinds.most_common()),
            "first": dict(firsts.most_common(10)),
        }
        report[f"{name}_replies"] = [
            {
                "text": t,
                "kind": kind(a.reply),
                "first": a.hits[0] if a.hits else None,
                "head": a.reply.split("\n", 1)[0][:120],
            }
            for t, a in zip(texts, answers, strict=True)
        ]
        print(name, len(texts), dict(kinds.most_common()), dict(firsts.most_common(5)))
    if args.out:
        args.out.write_text(json.dumps(report, ensure_ascii=False, indent=1), encoding="utf-8")


if __name__ == "__main__":
    main()
