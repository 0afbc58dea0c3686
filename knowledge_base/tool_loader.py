"""European tools: one YAML list per category, each tool with its sources and the facts the
"European" label is computed from (publisher, parent company, hosting)."""

from __future__ import annotations

from datetime import date
from pathlib import Path

from .checking import COUNTRY, URL, Problem, read_list, required_date, sources
from .content_model import HOSTING_REGIONS, Pricing, Tool


def load_tools(
    path: Path, root: Path, categories: dict[str, str], problems: list[Problem]
) -> list[Tool]:
    loaded = read_list(path, root, problems, "d'outils")
    if loaded is None:
        return []
    check, data = loaded
    rel = check.file
    category = path.stem
    if category not in categories:
        check.add("", f"catégorie {category!r} absente de tools/categories.yml")
    tools = []
    for i, entry in enumerate(data):
        prefix = f"[{i}]."
        if not isinstance(entry, dict):
            check.add(f"[{i}]", "chaque outil doit être un dictionnaire de champs")
            continue
        tool_id = check.slug(entry, prefix=prefix)
        prefix = f"{tool_id or i}."
        if entry.get("category") != category:
            check.add(
                prefix + "category", f"{entry.get('category')!r} ≠ nom du fichier {category!r}"
            )
        country = check.text(entry, "country", prefix)
        if country and not COUNTRY.match(country):
            check.add(
                prefix + "country", f"code pays ISO à deux lettres attendu, trouvé {country!r}"
            )
        url = check.text(entry, "url", prefix)
        if url and not URL.match(url):
            check.add(prefix + "url", f"URL invalide : {url!r}")
        pricing = entry.get("pricing")
        if not isinstance(pricing, dict) or not isinstance(pricing.get("free_tier"), bool):
            check.add(prefix + "pricing", 'attendu : {free_tier: true/false, entry_price: "..."}')
            pricing = {"free_tier": False, "entry_price": ""}
        open_source = entry.get("open_source")
        if not isinstance(open_source, bool):
            check.add(prefix + "open_source", "true ou false attendu")
        replaces = entry.get("replaces") or []
        if not isinstance(replaces, list):
            check.add(prefix + "replaces", "liste de noms d'outils attendue")
            replaces = []
        parent_country = check.text(entry, "parent_country", prefix)
        if parent_country and not COUNTRY.match(parent_country):
            check.add(
                prefix + "parent_country",
                f"code pays ISO à deux lettres attendu, trouvé {parent_country!r}",
            )
        region = check.text(entry, "hosting_region", prefix)
        if region and region not in HOSTING_REGIONS:
            check.add(
                prefix + "hosting_region",
                f"{region!r} inconnu ; valeurs possibles : {', '.join(HOSTING_REGIONS)}",
            )
        self_hostable = entry.get("self_hostable")
        if not isinstance(self_hostable, bool):
            check.add(prefix + "self_hostable", "true ou false attendu")
        tool = Tool(
            id=tool_id,
            name=check.text(entry, "name", prefix),
            vendor=check.text(entry, "vendor", prefix),
            country=country,
            category=category,
            replaces=tuple(str(r) for r in replaces),
            hosting=check.text(entry, "hosting", prefix),
            open_source=bool(open_source),
            pricing=Pricing(bool(pricing.get("free_tier")), str(pricing.get("entry_price") or "")),
            url=url,
            description=check.text(entry, "description", prefix),
            good_for=check.text(entry, "good_for", prefix),
            sources=sources(check, entry, prefix),
            verified=required_date(check, entry, "verified", prefix) or date.min,
            parent_country=parent_country,
            hosting_region=region or "unknown",
            self_hostable=bool(self_hostable),
            path=rel,
        )
        if tool_id:
            tools.append(tool)
    return tools
