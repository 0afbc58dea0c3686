"""The composer's form: read into a `Draft` (or a French error naming the field), and the
values to show it again, kept as typed when it is refused."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from starlette.datastructures import FormData

from ..campaign_admin import BUTTON_KINDS, Draft
from ..campaigns import PARIS, CampaignError, Segment, parse_when
from ..store.models import Campaign

BUTTON_SLOTS = 4
FIELDS = (
    "title", "text", "sells_online", "seen_within_days", "unfinished_checklist",
    "not_started_checklist", "tags", "when", "at",
)  # fmt: skip


def values_from_form(form: FormData, axes: list[str]) -> dict[str, Any]:
    """The form as typed: shown again as is when it is refused."""
    values: dict[str, Any] = {name: str(form.get(name) or "") for name in FIELDS}
    values["sectors"] = [str(v) for v in form.getlist("sector")]
    values["axes"] = {axis: str(form.get(f"axis_{axis}") or "") for axis in axes}
    values["buttons"] = [
        {
            "label": str(form.get(f"button_label_{i}") or ""),
            "kind": str(form.get(f"button_kind_{i}") or "url"),
            "target": str(form.get(f"button_target_{i}") or ""),
            "row": str(form.get(f"button_row_{i}") or i),
        }
        for i in range(1, BUTTON_SLOTS + 1)
    ]
    return values


def values_from_campaign(campaign: Campaign | None, axes: list[str]) -> dict[str, Any]:
    """The form filled from a stored campaign (empty for a new one)."""
    segment = Segment.from_json(campaign.segment) if campaign else Segment()
    slots: list[dict[str, str]] = []
    for row_number, row in enumerate(campaign.buttons if campaign else [], start=1):
        for button in row:
            target = button.get("target") or button.get("url", "")
            kind = button.get("kind") or "url"
            slots.append(
                {"label": button["label"], "kind": kind, "target": target, "row": str(row_number)}
            )
    while len(slots) < BUTTON_SLOTS:
        slots.append({"label": "", "kind": "url", "target": "", "row": str(len(slots) + 1)})
    scheduled = campaign.scheduled_at if campaign else None
    online = {True: "oui", False: "non", None: ""}[segment.sells_online]
    return {
        "title": campaign.title if campaign else "",
        "text": campaign.text if campaign else "",
        "sectors": list(segment.sectors),
        "sells_online": online,
        "seen_within_days": "" if segment.seen_within_days is None else segment.seen_within_days,
        "axes": {a: _number(segment.axis_below.get(a)) for a in axes},
        "unfinished_checklist": segment.unfinished_checklist or "",
        "not_started_checklist": segment.not_started_checklist or "",
        "tags": ", ".join(segment.tags),
        "when": "at" if scheduled else "approval",
        "at": paris_input(scheduled),
        "buttons": slots[:BUTTON_SLOTS],
    }


def _number(value: float | None) -> str:
    if value is None:
        return ""
    return str(int(value)) if float(value).is_integer() else str(value)


def paris_input(moment: datetime | None) -> str:
    """A datetime-local value (Paris time) for a stored UTC moment."""
    if moment is None:
        return ""
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    return moment.astimezone(PARIS).strftime("%Y-%m-%dT%H:%M")


def draft_from(values: dict[str, Any]) -> Draft:
    """The typed values as a campaign draft; CampaignError names what to fix."""
    try:
        seen = int(values["seen_within_days"]) if values["seen_within_days"].strip() else None
    except ValueError:
        raise CampaignError("« Venu dans les N derniers jours » : indiquez un nombre.") from None
    axis_below: dict[str, float] = {}
    for axis, raw in values["axes"].items():
        if raw.strip():
            try:
                axis_below[axis] = float(raw.replace(",", "."))
            except ValueError:
                message = f"Score du diagnostic « {axis} » : un nombre de 0 à 100."
                raise CampaignError(message) from None
    segment = Segment(
        sectors=tuple(values["sectors"]),
        sells_online={"oui": True, "non": False}.get(values["sells_online"]),
        seen_within_days=seen,
        axis_below=axis_below,
        unfinished_checklist=values["unfinished_checklist"] or None,
        not_started_checklist=values["not_started_checklist"] or None,
        tags=tuple(t.strip() for t in values["tags"].split(",") if t.strip()),
    )
    scheduled = None
    if values["when"] == "at":
        if not values["at"].strip():
            raise CampaignError("Indiquez la date et l'heure d'envoi (heure de Paris).")
        scheduled = parse_when(values["at"].strip())
    return Draft(
        title=values["title"].strip(),
        text=values["text"].strip(),
        buttons=_button_rows(values["buttons"]),
        segment=segment,
        scheduled_at=scheduled,
    )


def _button_rows(slots: list[dict[str, str]]) -> list[list[dict[str, str]]]:
    rows: dict[int, list[dict[str, str]]] = {}
    for slot in slots:
        label, target, kind = slot["label"].strip(), slot["target"].strip(), slot["kind"]
        if not label and not target:
            continue
        if kind not in BUTTON_KINDS:
            raise CampaignError(f"Bouton « {label} » : type inconnu.")
        if kind != "diagnostic" and not target:
            raise CampaignError(f"Bouton « {label} » : indiquez sa cible ({BUTTON_KINDS[kind]}).")
        try:
            row = int(slot["row"])
        except ValueError:
            row = len(rows) + 1
        rows.setdefault(row, []).append(
            {"label": label, "kind": kind, "target": "" if kind == "diagnostic" else target}
        )
    return [rows[n] for n in sorted(rows)]
