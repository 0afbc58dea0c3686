"""Support staff: the conversation list, a transcript, replying as a human, handing back,
tags, internal notes, export and erasure."""

from __future__ import annotations

import json
import math
from collections.abc import Callable
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta
from typing import Any

from sqlalchemy import Select, String, and_, cast, exists, func, or_, select
from sqlalchemy.orm import Session
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from nlu.intents import ALL_INTENTS, TOPIC_LABELS

from ..flows import handoff
from ..flows.data_rights import erase as erase_merchant
from ..flows.data_rights import export as export_payload
from ..store.models import (
    HandoffRequest,
    Merchant,
    Message,
    OutboxMessage,
)
from . import audit
from .web import PAGE_SIZE, attachment, client_ip, ctx, form_data, page, redirect, render, staff_of

FILTERS = {
    "": "Toutes",
    "handoff": "Conseiller demandé",
    "unanswered": "Sans réponse / peu sûr",
    "negative": "Avis négatif",
}
MAX_REPLY = 4000
TRANSCRIPT_LIMIT = 300


@dataclass(frozen=True)
class ConversationFilters:
    status: str = ""
    topic: str = ""
    since: date | None = None
    until: date | None = None
    q: str = ""
    tag: str = ""
    page: int = 1

    @classmethod
    def from_query(cls, params: Any) -> ConversationFilters:
        def day(name: str) -> date | None:
            try:
                return date.fromisoformat(params.get(name, ""))
            except ValueError:
                return None

        try:
            number = max(1, int(params.get("page", "1")))
        except ValueError:
            number = 1
        status = params.get("status", "")
        topic = params.get("topic", "")
        return cls(
            status=status if status in FILTERS else "",
            topic=topic if topic in ALL_INTENTS else "",
            since=day("since"),
            until=day("until"),
            q=params.get("q", "").strip()[:200],
            tag=params.get("tag", "").strip()[:40],
            page=number,
        )


@dataclass(frozen=True)
class ConversationRow:
    merchant: Merchant
    last_text: str
    last_author: str
    messages: int
    open_handoff: bool


def _filtered(filters: ConversationFilters, threshold: float) -> Select[tuple[Merchant]]:
    query = select(Merchant)
    incoming = and_(Message.merchant_id == Merchant.id, Message.direction == "in")
    if filters.status == "handoff":
        query = query.where(
            exists().where(
                HandoffRequest.merchant_id == Merchant.id, HandoffRequest.status == "open"
            )
        )
    elif filters.status == "unanswered":
        query = query.where(
            exists().where(
                incoming,
                Message.kind == "text",
                or_(Message.answered.is_(False), Message.confidence < threshold),
            )
        )
    elif filters.status == "negative":
        query = query.where(
            exists().where(Message.merchant_id == Merchant.id, Message.feedback == -1)
        )
    if filters.topic:
        query = query.where(exists().where(incoming, Message.intent == filters.topic))
    if filters.q:
        pattern = f"%{_escape_like(filters.q)}%"
        query = query.where(
            or_(
                Merchant.first_name.ilike(pattern, escape="\\"),
                exists().where(
                    Message.merchant_id == Merchant.id,
                    Message.text.ilike(pattern, escape="\\"),
                ),
            )
        )
    if filters.tag:
        # The JSON list as text holds the tag as a JSON string (same encoding on SQLite and
        # PostgreSQL): an exact element match, not a substring of another tag.
        element = f"%{_escape_like(json.dumps(filters.tag))}%"
        query = query.where(cast(Merchant.tags, String).like(element, escape="\\"))
    if filters.since:
        query = query.where(Merchant.last_seen_at >= datetime.combine(filters.since, time.min))
    if filters.until:
        end = datetime.combine(filters.until + timedelta(days=1), time.min)
        query = query.where(Merchant.last_seen_at < end)
    return query


def _escape_like(text: str) -> str:
    return text.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")


def list_conversations(
    session: Session, filters: ConversationFilters, threshold: float
) -> tuple[list[ConversationRow], int]:
    query = _filtered(filters, threshold)
    merchants = list(
        session.scalars(
            query.order_by(Merchant.last_seen_at.desc(), Merchant.id.desc())
            .offset((filters.page - 1) * PAGE_SIZE)
            .limit(PAGE_SIZE)
        )
    )
    total = session.scalar(select(func.count()).select_from(query.subquery())) or 0
    ids = [m.id for m in merchants]
    if not ids:
        return [], total
    last_ids = session.execute(
        select(Message.merchant_id, func.max(Message.id))
        .where(Message.merchant_id.in_(ids))
        .group_by(Message.merchant_id)
    ).all()
    counts = dict(
        session.execute(
            select(Message.merchant_id, func.count())
            .where(Message.merchant_id.in_(ids))
            .group_by(Message.merchant_id)
        ).all()
    )
    last = {
        m.merchant_id: m
        for m in session.scalars(select(Message).where(Message.id.in_([i for _, i in last_ids])))
    }
    handoffs = set(
        session.scalars(
            select(HandoffRequest.merchant_id).where(
                HandoffRequest.merchant_id.in_(ids), HandoffRequest.status == "open"
            )
        )
    )
    rows = [
        ConversationRow(
            merchant=m,
            last_text=(last[m.id].text if m.id in last else "")[:160],
            last_author=last[m.id].author if m.id in last else "",
            messages=counts.get(m.id, 0),
            open_handoff=m.id in handoffs,
        )
        for m in merchants
    ]
    return rows, total


@page("support")
async def conversation_list(request: Request) -> Response:
    admin = ctx(request)
    filters = ConversationFilters.from_query(request.query_params)
    with admin.services.db.session() as session:
        rows, total = list_conversations(
            session, filters, admin.services.settings.nlu_fallback_threshold
        )
    pages = max(1, math.ceil(total / PAGE_SIZE))
    query = {k: v for k, v in request.query_params.items() if k != "page"}
    return render(
        request,
        "conversations.html",
        rows=rows,
        total=total,
        filters=filters,
        pages=pages,
        query=query,
        statuses=FILTERS,
        topics=[(i, TOPIC_LABELS.get(i, i)) for i in ALL_INTENTS],
    )


def _merchant_or_404(session: Session, request: Request) -> Merchant | None:
    try:
        merchant_id = int(request.path_params["merchant_id"])
    except ValueError:
        return None
    return session.get(Merchant, merchant_id)


def _not_found(request: Request) -> Response:
    return render(
        request,
        "error.html",
        404,
        message="Cette conversation n'existe pas ou a été effacée.",
    )


@page("support")
async def conversation_detail(request: Request) -> Response:
    admin = ctx(request)
    with admin.services.db.session() as session:
        merchant = _merchant_or_404(session, request)
        if merchant is None:
            return _not_found(request)
        total = (
            session.scalar(
                select(func.count()).select_from(Message).where(Message.merchant_id == merchant.id)
            )
            or 0
        )
        messages = list(
            reversed(
                session.scalars(
                    select(Message)
                    .where(Message.merchant_id == merchant.id)
                    .order_by(Message.id.desc())
                    .limit(TRANSCRIPT_LIMIT)
                ).all()
            )
        )
        pending = session.scalars(
            select(OutboxMessage)
            .where(OutboxMessage.merchant_id == merchant.id, OutboxMessage.status != "sent")
            .order_by(OutboxMessage.id)
        ).all()
        handoffs = session.scalars(
            select(HandoffRequest)
            .where(HandoffRequest.merchant_id == merchant.id)
            .order_by(HandoffRequest.id.desc())
            .limit(10)
        ).all()
    return render(
        request,
        "conversation.html",
        merchant=merchant,
        messages=messages,
        hidden=max(0, total - len(messages)),
        pending=pending,
        handoffs=handoffs,
        topic_labels=TOPIC_LABELS,
        threshold=admin.services.settings.nlu_fallback_threshold,
        max_reply=MAX_REPLY,
    )


async def _merchant_action(
    request: Request,
    action: str,
    notice: str,
    change: Callable[[Session, Merchant, dict[str, str]], dict[str, Any] | None],
) -> Response:
    """Apply a staff action to the conversation's merchant, audit it, back to the transcript."""
    admin = ctx(request)
    form = await form_data(request)
    with admin.services.db.session() as session:
        merchant = _merchant_or_404(session, request)
        if merchant is None:
            return _not_found(request)
        detail = change(session, merchant, form) or {}
        target = f"merchant:{merchant.id}"
        audit.record(session, staff_of(request), action, target, client_ip(request), **detail)
        merchant_id = merchant.id
    return redirect(f"/conversations/{merchant_id}", notice)


@page("support")
async def reply(request: Request) -> Response:
    """Queue an adviser's message (the bot delivers it) and keep the bot quiet."""
    body = (await form_data(request)).get("text", "").strip()
    if not body or len(body) > MAX_REPLY:
        return render(
            request,
            "error.html",
            400,
            message=f"Le message doit contenir entre 1 et {MAX_REPLY} caractères.",
        )
    author = staff_of(request).display_name[:128]

    def queue(session: Session, merchant: Merchant, _form: dict[str, str]) -> dict[str, Any]:
        if not merchant.handoff_active:
            handoff.take_over(merchant)
        session.add(OutboxMessage(merchant_id=merchant.id, author=author, text=body))
        return {"length": len(body)}

    return await _merchant_action(request, "reply", "replied", queue)


@page("support")
async def take_over(request: Request) -> Response:
    return await _merchant_action(
        request, "take_over", "taken_over", lambda _s, merchant, _f: handoff.take_over(merchant)
    )


@page("support")
async def hand_back(request: Request) -> Response:
    def back(session: Session, merchant: Merchant, _form: dict[str, str]) -> None:
        if handoff.hand_back(session, merchant):  # the merchant is told the bot is back
            session.add(OutboxMessage(merchant_id=merchant.id, kind="handback", text=""))

    return await _merchant_action(request, "hand_back", "handed_back", back)


def parse_tags(raw: str) -> list[str]:
    tags: list[str] = []
    for part in raw.replace(";", ",").split(","):
        tag = " ".join(part.split())[:40]
        if tag and tag not in tags:
            tags.append(tag)
    return tags[:12]


@page("support")
async def save_tags(request: Request) -> Response:
    def tag(_session: Session, merchant: Merchant, form: dict[str, str]) -> dict[str, Any]:
        merchant.tags = parse_tags(form.get("tags", ""))
        return {"tags": merchant.tags}

    return await _merchant_action(request, "tags", "tags_saved", tag)


@page("support")
async def save_note(request: Request) -> Response:
    def note(_session: Session, merchant: Merchant, form: dict[str, str]) -> None:
        merchant.staff_note = form.get("note", "")[:5000]

    return await _merchant_action(request, "note", "note_saved", note)


@page("support")
async def export(request: Request) -> Response:
    admin = ctx(request)
    with admin.services.db.session() as session:
        merchant = _merchant_or_404(session, request)
        if merchant is None:
            return _not_found(request)
        payload = export_payload(session, merchant)
        audit.record(
            session, staff_of(request), "export", f"merchant:{merchant.id}", client_ip(request)
        )
        merchant_id = merchant.id
    body = json.dumps(payload, ensure_ascii=False, indent=2, default=str)
    return attachment(body, "application/json", f"conversation-{merchant_id}.json")


@page("admin")
async def erase(request: Request) -> Response:
    admin = ctx(request)
    form = await form_data(request)
    with admin.services.db.session() as session:
        merchant = _merchant_or_404(session, request)
        if merchant is None:
            return _not_found(request)
        if form.get("confirm") != "EFFACER":
            return render(
                request,
                "error.html",
                400,
                message="Pour effacer, tapez EFFACER dans la case de confirmation.",
            )
        merchant_id = merchant.id
        erase_merchant(session, merchant)  # the same erasure as the merchant's /oublier
        audit.record(
            session, staff_of(request), "erase", f"merchant:{merchant_id}", client_ip(request)
        )
    return redirect("/conversations", "erased")


@page("support")
async def latest(request: Request) -> Response:
    """Polled by the transcript page: is there anything newer than what is shown?"""
    admin = ctx(request)
    with admin.services.db.session() as session:
        merchant = _merchant_or_404(session, request)
        if merchant is None:
            return JSONResponse({"error": "effacé"}, status_code=404)
        last_id = session.scalar(
            select(func.max(Message.id)).where(Message.merchant_id == merchant.id)
        )
        open_handoffs = session.scalar(
            select(func.count()).select_from(HandoffRequest).where(HandoffRequest.status == "open")
        )
    return JSONResponse({"last_id": last_id or 0, "open_handoffs": open_handoffs or 0})


ROUTES = [
    Route("/conversations", conversation_list),
    Route("/conversations/{merchant_id}", conversation_detail),
    Route("/conversations/{merchant_id}/reply", reply, methods=["POST"]),
    Route("/conversations/{merchant_id}/take-over", take_over, methods=["POST"]),
    Route("/conversations/{merchant_id}/hand-back", hand_back, methods=["POST"]),
    Route("/conversations/{merchant_id}/tags", save_tags, methods=["POST"]),
    Route("/conversations/{merchant_id}/note", save_note, methods=["POST"]),
    Route("/conversations/{merchant_id}/export", export),
    Route("/conversations/{merchant_id}/latest", latest),
    Route("/conversations/{merchant_id}/erase", erase, methods=["POST"]),
]
