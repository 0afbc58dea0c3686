"""Between an item's source text (what the content folder holds) and the editor's form
fields. Guides and tools get fields; checklists are edited as YAML (their steps nest)."""

from __future__ import annotations

import re
from datetime import date
from typing import Any

import yaml

from knowledge_base.loader import parse_yaml

FRONT_MATTER = re.compile(r"\A---\s*\n(.*?)\n---\s*\n?(.*)\Z", re.S)
GUIDE_LISTS = ("sectors", "tags", "tools", "checklists", "related")
TOOL_TEXT = (
    "id",
    "name",
    "vendor",
    "country",
    "category",
    "hosting",
    "url",
    "description",
    "good_for",
)


def _list(raw: str) -> list[str]:
    return [part.strip() for part in raw.replace("\n", ",").split(",") if part.strip()]


def _lines(raw: str) -> list[str]:
    return [line.strip() for line in raw.splitlines() if line.strip()]


def _joined(value: Any) -> str:
    if isinstance(value, list | tuple):
        return ", ".join(str(v) for v in value)
    return "" if value is None else str(value)


def _dump(data: dict[str, Any]) -> str:
    return yaml.safe_dump(data, allow_unicode=True, sort_keys=False, width=100)


def guide_fields(source: str) -> dict[str, str]:
    """Form values from a guide file; unparsable front matter gives empty fields and the
    whole text as body, so nothing is lost."""
    match = FRONT_MATTER.match(source)
    meta: dict[str, Any] = {}
    body = source
    if match:
        try:
            loaded = parse_yaml(match.group(1))
            if isinstance(loaded, dict):
                meta, body = loaded, match.group(2)
        except yaml.YAMLError:
            pass
    fields = {key: _joined(meta.get(key)) for key in ("id", "title", "topic", "summary")}
    for key in GUIDE_LISTS:
        fields[key] = _joined(meta.get(key))
    fields["sources"] = "\n".join(str(s) for s in meta.get("sources") or [])
    fields["verified"] = _joined(meta.get("verified"))
    fields["body"] = body.lstrip("\n")
    return fields


def guide_source(fields: dict[str, str]) -> str:
    meta: dict[str, Any] = {
        "id": fields.get("id", "").strip(),
        "title": " ".join(fields.get("title", "").split()),
        "topic": fields.get("topic", "").strip(),
        "summary": " ".join(fields.get("summary", "").split()),
    }
    for key in ("sectors", "tags"):
        if values := _list(fields.get(key, "")):
            meta[key] = values
    meta["sources"] = _lines(fields.get("sources", ""))
    verified = fields.get("verified", "").strip()
    try:
        meta["verified"] = date.fromisoformat(verified)
    except ValueError:
        meta["verified"] = verified  # the validator explains the expected format
    for key in ("tools", "checklists", "related"):
        if values := _list(fields.get(key, "")):
            meta[key] = values
    body = fields.get("body", "").replace("\r\n", "\n").strip("\n")
    return f"---\n{_dump(meta)}---\n\n{body}\n"


def tool_fields(source: str) -> dict[str, str]:
    try:
        data = parse_yaml(source)
    except yaml.YAMLError:
        data = None
    if not isinstance(data, dict):
        data = {}
    pricing = data.get("pricing") if isinstance(data.get("pricing"), dict) else {}
    fields = {key: _joined(data.get(key)) for key in TOOL_TEXT}
    fields["replaces"] = _joined(data.get("replaces"))
    fields["open_source"] = "on" if data.get("open_source") else ""
    fields["free_tier"] = "on" if pricing.get("free_tier") else ""
    fields["entry_price"] = _joined(pricing.get("entry_price"))
    return fields


def tool_source(fields: dict[str, str]) -> str:
    data: dict[str, Any] = {
        "id": fields.get("id", "").strip(),
        "name": fields.get("name", "").strip(),
        "vendor": fields.get("vendor", "").strip(),
        "country": fields.get("country", "").strip().upper(),
        "category": fields.get("category", "").strip(),
        "replaces": _list(fields.get("replaces", "")),
        "hosting": fields.get("hosting", "").strip(),
        "open_source": fields.get("open_source") == "on",
        "pricing": {
            "free_tier": fields.get("free_tier") == "on",
            "entry_price": fields.get("entry_price", "").strip(),
        },
        "url": fields.get("url", "").strip(),
        "description": " ".join(fields.get("description", "").split()),
        "good_for": " ".join(fields.get("good_for", "").split()),
    }
    return _dump(data)
