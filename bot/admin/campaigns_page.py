"""Campaigns in the back office: list, composer (count and preview before anything is sent),
approval by a second person, pause / resume / cancel, test send, results and CSV export.
Nudge rules (kind "rule", `bot.nudges`) go through the same pages: the composer's extra
criteria and end date, "active" once approved and started, results as for a campaign.

The pages only read forms and render; every change goes through `bot.campaign_admin`, and
the figures through `bot.campaign_results`, as `comptoir campaign` does."""

from __future__ import annotations

from typing import Any

from sqlalchemy import func, select
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from .. import campaign_admin, campaigns
from ..campaign_admin import BUTTON_KINDS, KINDS, status_label
from ..campaign_results import delivery_rows, results, to_csv
from ..campaigns import CampaignError, Segment
from ..flows.profile import TRADES
from ..store.models import AuditEvent, Campaign, CampaignDelivery
from ..texts import text
from . import audit
from .campaign_forms import draft_from, paris_input, values_from_campaign, values_from_form
from .campaign_preview import telegram_html
from .web import attachment, client_ip, ctx, page, redirect, render, staff_of

NOTICES = {
    "saved": "Brouillon enregistré.",
    "submitted": "Campagne soumise : un administrateur (autre que vous) doit l'approuver.",
    "approved": "Campagne approuvée et programmée.",
    "rejected": "Campagne refusée : elle revient en brouillon avec votre motif.",
    "paused": "Campagne en pause : plus aucun envoi jusqu'à la reprise.",
    "resumed": "Campagne reprise.",
    "cancelled": "Campagne annulée : les messages pas encore envoyés ne le seront pas.",
    "test_sent": "Test mis en file : il arrive sur Telegram dans quelques secondes.",
}
RULE_NOTICES = {
    **NOTICES,
    "submitted": "Relance soumise : un administrateur (autre que vous) doit l'approuver.",
    "approved": "Relance approuvée : elle devient active à sa date de début.",
    "paused": "Relance en pause : plus aucun envoi jusqu'à la reprise.",
    "resumed": "Relance reprise.",
    "cancelled": "Relance annulée : elle n'enverra plus rien.",
}


def _id(request: Request) -> int:
    try:
        return int(request.path_params["campaign_id"])
    except ValueError:
        return -1


def _axes(request: Request) -> list[str]:
    diagnostic = ctx(request).services.kb.diagnostic
    return [a.id for a in diagnostic.axes] if diagnostic else []


def _choices(request: Request) -> dict[str, Any]:
    kb = ctx(request).services.kb
    diagnostic = kb.diagnostic
    return {
        "trades": TRADES,
        "kinds": BUTTON_KINDS,
        "checklists": sorted(kb.checklists),
        "axis_labels": {a.id: a.label for a in diagnostic.axes} if diagnostic else {},
    }


def _preview(campaign_text: str, buttons: list[list[dict[str, str]]]) -> dict[str, Any]:
    """The bubble: the text with the stop line, as Telegram renders it, and the buttons."""
    composed = campaigns.compose(campaign_text, [], "fr")  # text + stop line + stop button
    rows = [[b["label"] for b in row] for row in buttons] + [[text("fr", "news_stop")]]
    return {"html": telegram_html(composed.html), "rows": rows, "chars": len(composed.html)}


def _notice(request: Request, kind: str) -> str:
    notices = RULE_NOTICES if kind == "rule" else NOTICES
    return notices.get(request.query_params.get("done", ""), "")


@page("operator")
async def campaign_list(request: Request) -> Response:
    with ctx(request).services.db.session() as session:
        rows = session.scalars(
            select(Campaign).where(Campaign.kind.in_(KINDS)).order_by(Campaign.id.desc())
        ).all()
        sent: dict[int, int] = {}
        reached: dict[int, int] = {}  # a rule's targeted: the merchants it reached so far
        by_status = select(CampaignDelivery.campaign_id, CampaignDelivery.status, func.count())
        grouped = by_status.group_by(CampaignDelivery.campaign_id, CampaignDelivery.status)
        for campaign_id, status, copies in session.execute(grouped):  # one query in all
            reached[campaign_id] = reached.get(campaign_id, 0) + copies
            if status == "sent":
                sent[campaign_id] = copies
    return render(
        request,
        "campaigns.html",
        campaigns=rows,
        sent=sent,
        reached=reached,
        kinds_of=KINDS,
        label_of=status_label,
    )


def _composer(
    request: Request,
    values: dict[str, Any],
    campaign_id: int | None,
    error: str = "",
    matching: int | None = None,
    preview: dict[str, Any] | None = None,
) -> Response:
    return render(
        request,
        "campaign_edit.html",
        422 if error else 200,
        values=values,
        campaign_id=campaign_id,
        error=error,
        matching=matching,
        preview=preview,
        max_chars=campaigns.MAX_MESSAGE,
        kinds_of=KINDS,
        **_choices(request),
    )


@page("operator")
async def new_form(request: Request) -> Response:
    return _composer(request, values_from_campaign(None, _axes(request)), None)


@page("operator")
async def edit_form(request: Request) -> Response:
    with ctx(request).services.db.session() as session:
        campaign = session.get(Campaign, _id(request))
        if campaign is None or campaign.kind not in KINDS:
            return render(request, "error.html", 404, message="Campagne introuvable.")
        if campaign.status != "draft":
            return redirect(f"/campaigns/{campaign.id}")
        values = values_from_campaign(campaign, _axes(request))
        return _composer(request, values, campaign.id)


@page("operator")
async def save(request: Request) -> Response:
    """The composer's two buttons: « Compter et prévisualiser » shows the form again with the
    count and the preview, « Enregistrer » stores the draft; both check everything first, and
    the count is shown even when the text is refused."""
    services = ctx(request).services
    form = await request.form()
    values = values_from_form(form, _axes(request))
    campaign_id = _id(request) if "campaign_id" in request.path_params else None
    try:
        draft = draft_from(values)
    except CampaignError as exc:
        return _composer(request, values, campaign_id, str(exc))
    with services.db.session() as session:  # the count, even when the text is refused
        matching = campaigns.count(session, draft.segment)
    try:
        campaign_admin.check_draft(draft, services.kb)
        with services.db.session() as session:
            if form.get("action") != "save":
                preview = _preview(draft.text, draft.buttons)
                return _composer(request, values, campaign_id, "", matching, preview)
            campaign = campaign_admin.save(
                session, campaign_id, draft, services.kb, staff_of(request).email
            )
            audit.record(
                session,
                staff_of(request),
                "campaign_save",
                f"campaign:{campaign.id}",
                client_ip(request),
                **campaign_admin.summary(campaign),
                matching=matching,
            )
            saved_id = campaign.id
    except CampaignError as exc:
        return _composer(request, values, campaign_id, str(exc), matching)
    return redirect(f"/campaigns/{saved_id}?done=saved")


def _rejection(session: Any, campaign_id: int) -> str:
    event = session.scalars(
        select(AuditEvent)
        .where(
            AuditEvent.action == "campaign_reject",
            AuditEvent.target == f"campaign:{campaign_id}",
        )
        .order_by(AuditEvent.id.desc())
        .limit(1)
    ).first()
    return str((event.detail or {}).get("reason", "")) if event else ""


def _editors(session: Any, campaign_id: int) -> frozenset[str]:
    """Everyone who saved a version of the campaign: none of them may approve it."""
    return frozenset(
        session.scalars(
            select(AuditEvent.staff_email).where(
                AuditEvent.action == "campaign_save",
                AuditEvent.target == f"campaign:{campaign_id}",
            )
        )
    )


def _campaign_page(
    request: Request, campaign_id: int, error: str = "", reference: str = ""
) -> Response:
    with ctx(request).services.db.session() as session:
        campaign = session.get(Campaign, campaign_id)
        if campaign is None or campaign.kind not in KINDS:
            return render(request, "error.html", 404, message="Campagne introuvable.")
        segment = Segment.from_json(campaign.segment)
        reached = None
        if campaign.kind == "rule":  # who it would send to now, and whom it reached so far
            matching: int | None = None
            if campaign.status not in ("done", "cancelled"):
                matching = len(campaigns.matching(session, segment, None, campaign.id))
            reached = (campaigns.status(session, campaign.id) or {}).get("targeted", 0)
        else:
            matching = campaigns.count(session, segment) if campaign.started_at is None else None
        rejection = _rejection(session, campaign_id) if campaign.status == "draft" else ""
        return render(
            request,
            "campaign.html",
            422 if error else 200,
            campaign=campaign,
            segment=segment,
            matching=matching,
            reached=reached,
            rejection=rejection,
            preview=_preview(campaign.text, campaign.buttons),
            scheduled_input=paris_input(campaign.scheduled_at),
            can_approve=staff_of(request).can("admin")
            and staff_of(request).email not in _editors(session, campaign_id)
            and staff_of(request).email != campaign.created_by,
            label_of=status_label,
            kinds=BUTTON_KINDS,
            trades=TRADES,
            error=error,
            reference=reference,
            done=_notice(request, campaign.kind),
        )


@page("operator")
async def show(request: Request) -> Response:
    return _campaign_page(request, _id(request))


async def _transition(request: Request, action: str, done: str, **detail: Any) -> Response:
    """Run one lifecycle change, audit it, and come back to the campaign's page."""
    services = ctx(request).services
    form = await request.form()
    campaign_id, staff = _id(request), staff_of(request)
    try:
        with services.db.session() as session:
            if action == "campaign_submit":
                campaign = campaign_admin.submit(session, campaign_id)
            elif action == "campaign_approve":
                at = str(form.get("at") or "").strip()
                campaign = campaign_admin.approve(
                    session,
                    campaign_id,
                    staff.email,
                    campaigns.parse_when(at) if at else None,
                    _editors(session, campaign_id),
                )
                detail["scheduled_at"] = campaign.scheduled_at.isoformat()  # type: ignore[union-attr]
            elif action == "campaign_reject":
                reason = str(form.get("reason") or "").strip()[:500]
                campaign = campaign_admin.reject(session, campaign_id, staff.email, reason)
                detail["reason"] = reason
            elif action == "campaign_pause":
                campaign = campaign_admin.pause(session, campaign_id)
            elif action == "campaign_resume":
                campaign = campaign_admin.resume(session, campaign_id)
            else:
                detail["cancelled_copies"] = campaign_admin.cancel(session, campaign_id)
                campaign = session.get(Campaign, campaign_id)  # type: ignore[assignment]
            audit.record(
                session,
                staff,
                action,
                f"campaign:{campaign_id}",
                client_ip(request),
                title=campaign.title,
                **detail,
            )
    except CampaignError as exc:
        return _campaign_page(request, campaign_id, str(exc))
    return redirect(f"/campaigns/{campaign_id}?done={done}")


@page("operator")
async def submit(request: Request) -> Response:
    return await _transition(request, "campaign_submit", "submitted")


@page("admin")
async def approve(request: Request) -> Response:
    return await _transition(request, "campaign_approve", "approved")


@page("admin")
async def reject(request: Request) -> Response:
    return await _transition(request, "campaign_reject", "rejected")


@page("operator")
async def pause(request: Request) -> Response:
    return await _transition(request, "campaign_pause", "paused")


@page("operator")
async def resume(request: Request) -> Response:
    return await _transition(request, "campaign_resume", "resumed")


@page("operator")
async def cancel(request: Request) -> Response:
    return await _transition(request, "campaign_cancel", "cancelled")


@page("operator")
async def test_send(request: Request) -> Response:
    services = ctx(request).services
    form = await request.form()
    campaign_id, reference = _id(request), str(form.get("merchant") or "")
    try:
        with services.db.session() as session:
            merchant, row = campaign_admin.send_test(session, campaign_id, reference)
            audit.record(
                session,
                staff_of(request),
                "campaign_test",
                f"campaign:{campaign_id}",
                client_ip(request),
                merchant_id=merchant.id,
                outbox_id=row.id,
            )
    except CampaignError as exc:
        return _campaign_page(request, campaign_id, str(exc), reference)
    return redirect(f"/campaigns/{campaign_id}?done=test_sent")


@page("operator")
async def results_page(request: Request) -> Response:
    with ctx(request).services.db.session() as session:
        campaign = session.get(Campaign, _id(request))
        figures = results(session, _id(request)) if campaign else None
        if campaign is None or figures is None or campaign.kind not in KINDS:
            return render(request, "error.html", 404, message="Campagne introuvable.")
        return render(
            request,
            "campaign_results.html",
            campaign=campaign,
            figures=figures,
            label_of=status_label,
        )


@page("operator")
async def results_csv(request: Request) -> Response:
    with ctx(request).services.db.session() as session:
        campaign = session.get(Campaign, _id(request))
        if campaign is None or campaign.kind not in KINDS:
            return render(request, "error.html", 404, message="Campagne introuvable.")
        rows = delivery_rows(session, campaign.id)
        audit.record(
            session,
            staff_of(request),
            "campaign_export",
            f"campaign:{campaign.id}",
            client_ip(request),
            rows=len(rows),
        )
    return attachment(to_csv(rows), "text/csv", f"campagne-{campaign.id}.csv")


ROUTES = [
    Route("/campaigns", campaign_list),
    Route("/campaigns/new", new_form),
    Route("/campaigns/new", save, methods=["POST"]),
    Route("/campaigns/{campaign_id}", show),
    Route("/campaigns/{campaign_id}/edit", edit_form),
    Route("/campaigns/{campaign_id}/edit", save, methods=["POST"]),
    Route("/campaigns/{campaign_id}/submit", submit, methods=["POST"]),
    Route("/campaigns/{campaign_id}/approve", approve, methods=["POST"]),
    Route("/campaigns/{campaign_id}/reject", reject, methods=["POST"]),
    Route("/campaigns/{campaign_id}/pause", pause, methods=["POST"]),
    Route("/campaigns/{campaign_id}/resume", resume, methods=["POST"]),
    Route("/campaigns/{campaign_id}/cancel", cancel, methods=["POST"]),
    Route("/campaigns/{campaign_id}/test", test_send, methods=["POST"]),
    Route("/campaigns/{campaign_id}/results", results_page),
    Route("/campaigns/{campaign_id}/results.csv", results_csv),
]
