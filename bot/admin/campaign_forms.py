"""The composer's form: read into a `Draft` (or a French error naming the field), and the
values to show it again, kept as typed when it is refused. A campaign or a nudge rule: the
rule's own criteria (idle checklist, diagnostic age, a date's window) and end date are
refused on a one-off campaign rather than silently dropped."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from starlette.datastructures import FormData

from ..campaign_admin import BUTTON_KINDS, Draft
from ..campaigns import PARIS, CampaignError, Segment, parse_when
from ..store.models import Campaign, as_utc

BUTTON_SLOTS = 4
FIELDS = (
    "title", "text", "sells_online", "seen_within_days", "unfinished_checklist",
    "not_started_checklist", "tags", "when", "at", "kind", "checklist_idle_days",
    "diagnostic_older_than_days", "no_diagnostic", "before_date", "days_before", "ends_at",
)  # fmt: skip
RULE_ONLY = (
    "checklist_idle_days", "diagnostic_older_than_days", "no_diagnostic", "before_date",
    "days_before", "ends_at",
)  # fmt: skip


def values_from_form(form: FormData, axes: list[str]) -> dict[str, Any]:
    """The form as typed: shown again as is when it is refused."""
    values: dict[str, Any] = {name: str(form.get(name) or "") for name in FIELDS}
    values["kind"] = values["kind"] or "campaign"
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
        "kind": campaign.kind if campaign else "campaign",
        "checklist_idle_days": _text(segment.checklist_idle_days),
        "diagnostic_older_than_days": _text(segment.diagnostic_older_than_days),
        "no_diagnostic": "oui" if segment.no_diagnostic else "",
        "before_date": segment.before_date or "",
        "days_before": _text(segment.days_before),
        "ends_at": paris_input(campaign.ends_at if campaign else None),
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


def _text(value: int | None) -> str:
    return "" if value is None else str(value)


def _days(values: dict[str, Any], name: str, label: str) -> int | None:
    raw = values[name].strip()
    if not raw:
        return None
    try:
        days = int(raw)
    except ValueError:
        raise CampaignError(f"« {label} » : indiquez un nombre de jours.") from None
    if days < 1:
        raise CampaignError(f"« {label} » : au moins 1 jour.")
    return days


def _number(value: float | None) -> str:
    if value is None:
        return ""
    return str(int(value)) if float(value).is_integer() else str(value)


def paris_input(moment: datetime | None) -> str:
    """A datetime-local value (Paris time) for a stored UTC moment."""
    if moment is None:
        return ""
    return as_utc(moment).astimezone(PARIS).strftime("%Y-%m-%dT%H:%M")


def draft_from(values: dict[str, Any]) -> Draft:
    """The typed values as a campaign draft; CampaignError names what to fix."""
    try:
        seen = int(values["seen_within_days"]) if values["seen_within_days"].strip() else None
    except ValueError:
        raise CampaignError("« Venu dans les N derniers jours » : indiquez un nombre.") from None
    rule = values["kind"] == "rule"
    if not rule and any(values[name].strip() for name in RULE_ONLY):
        raise CampaignError(
            "Les critères de relance (checklist en sommeil, âge du diagnostic, date butoir, fin) "
            "ne valent que pour une relance automatique : videz-les, ou choisissez « Relance "
            "automatique (règle) »."
        )
    if values["checklist_idle_days"].strip() and not values["unfinished_checklist"]:
        raise CampaignError(
            "« Sans avancer depuis N jours » : choisissez aussi la checklist commencée, pas "
            "terminée."
        )
    if values["no_diagnostic"] == "oui" and values["diagnostic_older_than_days"].strip():
        raise CampaignError(
            "« Jamais fait le diagnostic » et « diagnostic plus vieux que N jours » s'excluent : "
            "gardez l'un des deux."
        )
    if bool(values["before_date"].strip()) != bool(values["days_before"].strip()):
        raise CampaignError(
            "Date butoir : indiquez la date et le nombre de jours avant elle (ex. : 60 jours "
            "avant le 01/09/2026), ou aucun des deux."
        )
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
        checklist_idle_days=_days(values, "checklist_idle_days", "Sans avancer depuis"),
        diagnostic_older_than_days=_days(
            values, "diagnostic_older_than_days", "Diagnostic plus vieux que"
        ),
        no_diagnostic=values["no_diagnostic"] == "oui",
        before_date=values["before_date"].strip() or None,
        days_before=_days(values, "days_before", "Jours avant la date"),
    )
    scheduled = None
    if values["when"] == "at":
        if not values["at"].strip():
            raise CampaignError("Indiquez la date et l'heure d'envoi (heure de Paris).")
        scheduled = parse_when(values["at"].strip())
    ends = parse_when(values["ends_at"].strip()) if values["ends_at"].strip() else None
    return Draft(
        title=values["title"].strip(),
        text=values["text"].strip(),
        buttons=_button_rows(values["buttons"]),
        segment=segment,
        scheduled_at=scheduled,
        kind="rule" if rule else "campaign",
        ends_at=ends,
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
