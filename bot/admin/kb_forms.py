"""Between an item's source text (what the content folder holds) and the editor's form
fields. Guides, FAQ entries and tools get fields; checklists are edited as YAML (their steps
nest)."""

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
    "parent_country",
    "category",
    "hosting",
    "hosting_region",
    "url",
    "description",
    "good_for",
)
FAQ_TEXT = ("id", "question", "answer", "topic", "review_by")
FAQ_LISTS = ("sectors", "guides", "tools", "checklists")


def _list(raw: str) -> list[str]:
    return [part.strip() for part in raw.replace("\n", ",").split(",") if part.strip()]


def _lines(raw: str) -> list[str]:
    return [line.strip() for line in raw.splitlines() if line.strip()]


def _joined(value: Any) -> str:
    if isinstance(value, list | tuple):
        return ", ".join(str(v) for v in value)
    return "" if value is None else str(value)


def _date_or_text(raw: str) -> date | str:
    try:
        return date.fromisoformat(raw.strip())
    except ValueError:
        return raw.strip()  # the validator explains the expected format


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
    meta["verified"] = _date_or_text(fields.get("verified", ""))
    for key in ("tools", "checklists", "related"):
        if values := _list(fields.get(key, "")):
            meta[key] = values
    body = fields.get("body", "").replace("\r\n", "\n").strip("\n")
    return f"---\n{_dump(meta)}---\n\n{body}\n"


def _mapping(source: str) -> dict[str, Any]:
    """The fields of a YAML source; {} when it does not parse (the form starts empty and the
    validator explains what is wrong)."""
    try:
        data = parse_yaml(source)
    except yaml.YAMLError:
        return {}
    return data if isinstance(data, dict) else {}


def tool_fields(source: str) -> dict[str, str]:
    data = _mapping(source)
    pricing = data.get("pricing") if isinstance(data.get("pricing"), dict) else {}
    fields = {key: _joined(data.get(key)) for key in TOOL_TEXT}
    fields["replaces"] = _joined(data.get("replaces"))
    fields["open_source"] = "on" if data.get("open_source") else ""
    fields["free_tier"] = "on" if pricing.get("free_tier") else ""
    fields["entry_price"] = _joined(pricing.get("entry_price"))
    fields["self_hostable"] = "on" if data.get("self_hostable") else ""
    fields["sources"] = "\n".join(str(s) for s in data.get("sources") or [])
    fields["verified"] = _joined(data.get("verified"))
    return fields


def tool_source(fields: dict[str, str]) -> str:
    data: dict[str, Any] = {
        "id": fields.get("id", "").strip(),
        "name": fields.get("name", "").strip(),
        "vendor": fields.get("vendor", "").strip(),
        "country": fields.get("country", "").strip().upper(),
        "parent_country": fields.get("parent_country", "").strip().upper(),
        "category": fields.get("category", "").strip(),
        "replaces": _list(fields.get("replaces", "")),
        "hosting": fields.get("hosting", "").strip(),
        "hosting_region": fields.get("hosting_region", "").strip() or "unknown",
        "self_hostable": fields.get("self_hostable") == "on",
        "open_source": fields.get("open_source") == "on",
        "pricing": {
            "free_tier": fields.get("free_tier") == "on",
            "entry_price": fields.get("entry_price", "").strip(),
        },
        "url": fields.get("url", "").strip(),
        "description": " ".join(fields.get("description", "").split()),
        "good_for": " ".join(fields.get("good_for", "").split()),
        "sources": _lines(fields.get("sources", "")),
        "verified": _date_or_text(fields.get("verified", "")),
    }
    return _dump(data)


def faq_fields(source: str) -> dict[str, str]:
    data = _mapping(source)
    fields = {key: _joined(data.get(key)) for key in FAQ_TEXT}
    for key in FAQ_LISTS:
        fields[key] = _joined(data.get(key))
    fields["variants"] = "\n".join(str(v) for v in data.get("variants") or [])
    fields["sources"] = "\n".join(str(s) for s in data.get("sources") or [])
    fields["verified"] = _joined(data.get("verified"))
    return fields


def faq_source(fields: dict[str, str]) -> str:
    data: dict[str, Any] = {
        "id": fields.get("id", "").strip(),
        "question": " ".join(fields.get("question", "").split()),
        "variants": _lines(fields.get("variants", "")),
        "answer": " ".join(fields.get("answer", "").split()),
        "topic": fields.get("topic", "").strip(),
    }
    if sectors := _list(fields.get("sectors", "")):
        data["sectors"] = sectors
    data["sources"] = _lines(fields.get("sources", ""))
    data["verified"] = _date_or_text(fields.get("verified", ""))
    if fields.get("review_by", "").strip():
        data["review_by"] = _date_or_text(fields["review_by"])
    for key in ("guides", "tools", "checklists"):
        if values := _list(fields.get(key, "")):
            data[key] = values
    return _dump(data)
