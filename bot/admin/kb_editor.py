"""Operators: browse, edit, validate, publish and restore knowledge-base items.

The model (see README, "Back office"): the content folder is what the bot serves and what
git tracks; the database keeps every revision (who, when, the full text) and unpublished
drafts. Publishing writes the item's file, rebuilds the index incrementally and swaps it
in. An editor starts from a fingerprint of the file; if the file changed on disk since
(a git deploy), publishing is refused and the operator's text is kept as a draft.
"""

from __future__ import annotations

import functools
from dataclasses import dataclass
from datetime import date
from typing import Any

from markdown_it import MarkdownIt
from sqlalchemy import func, select
from sqlalchemy.orm import Session
from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import HTMLResponse, Response
from starlette.routing import Route

from knowledge_base.editing import (
    ItemNotFound,
    delete_item,
    fingerprint,
    item_title,
    list_items,
    read_item,
    unified_diff,
    validate_item,
    write_item,
)
from knowledge_base.editing import item_id as declared_id
from knowledge_base.freshness import DEFAULT_MONTHS, stale_items
from knowledge_base.loader import ContentError, Problem
from nlu.intents import GUIDE_TOPICS, TOPIC_LABELS

from ..context import Services
from ..reload import reindex
from ..store.models import ContentRevision, utcnow
from . import audit
from .auth import Staff
from .kb_forms import faq_fields, faq_source, guide_fields, guide_source, tool_fields, tool_source
from .web import Endpoint, client_ip, ctx, form_data, page, redirect, render, staff_of

KIND_LABELS = {"guide": "Guide", "faq": "Fiche FAQ", "tool": "Outil", "checklist": "Checklist"}
HOSTING_REGION_LABELS = {
    "europe": "En Europe",
    "outside_europe": "Hors d'Europe",
    "unknown": "Inconnue (ou logiciel à installer)",
}
NEW_TEMPLATES = {
    "guide": guide_source(
        {
            "id": "",
            "title": "",
            "topic": "ask_website",
            "summary": "",
            "sources": "",
            "verified": "",
            "body": "## De quoi s'agit-il ?\n\n## Comment faire\n1. \n2. \n",
        }
    ),
    "faq": faq_source({"id": "", "topic": "ask_gdpr"}),
    "tool": tool_source({"id": "", "country": "FR", "parent_country": "FR"}),
    "checklist": "id: \ntitle: \nsummary: \nsteps:\n  - id: \n    title: \n    why: \n"
    "    how: \n    time: \n    done_when: \n",
}
_markdown = MarkdownIt("commonmark", {"html": False, "linkify": False})  # raw HTML escaped


def render_markdown(text: str) -> str:
    return _markdown.render(text)


@dataclass(frozen=True)
class EditorState:
    kind: str
    item_id: str | None  # None: a new item
    source: str
    base: str  # fingerprint of the file the editor started from ("" for a new item)
    draft: ContentRevision | None = None


def publish_source(services: Services, kind: str, item_id: str | None, source: str) -> None:
    """Write the item, rebuild the index (incremental: only changed passages are encoded)
    and swap both into the running bot. Raises ContentError if the content is invalid."""
    settings = services.settings
    write_item(settings.kb_content_dir, kind, item_id, source)  # type: ignore[arg-type]
    reindex(services)


def not_writable(services: Services, exc: OSError) -> str:
    return (
        f"Impossible d'écrire dans le dossier de contenu ({services.settings.kb_content_dir}) : "
        f"{exc.strerror or exc}. Votre texte est gardé en brouillon. Donnez au service le droit "
        "d'écrire dans ce dossier, ou pointez COMPTOIR_KB_CONTENT_DIR vers une copie modifiable."
    )


def published(kind: str, item_id: str, source: str, comment: str, staff: Staff) -> ContentRevision:
    return ContentRevision(
        kind=kind,
        item_id=item_id,
        source=source,
        base_fingerprint=fingerprint(source),
        status="published",
        comment=comment[:256],
        staff_email=staff.email,
        published_at=utcnow(),
    )


def known_kind(handler: Endpoint) -> Endpoint:
    """Every /kb/{kind}/… page: an unknown kind is a 404, checked here once."""

    @functools.wraps(handler)
    async def checked(request: Request) -> Response:
        if request.path_params.get("kind") not in KIND_LABELS:
            return render(request, "error.html", 404, message="Type de contenu inconnu.")
        return await handler(request)

    return checked


def _kind(request: Request) -> str:
    return request.path_params["kind"]


def _last_revision(session: Session, kind: str, item_id: str) -> ContentRevision | None:
    return session.scalar(
        select(ContentRevision)
        .where(ContentRevision.kind == kind, ContentRevision.item_id == item_id)
        .order_by(ContentRevision.id.desc())
        .limit(1)
    )


def _record_file_if_new(session: Session, kind: str, item_id: str, on_disk: str) -> None:
    """A file edited in git shows up in the history as an "imported" revision."""
    known = session.scalar(
        select(ContentRevision.source)
        .where(
            ContentRevision.kind == kind,
            ContentRevision.item_id == item_id,
            ContentRevision.status.in_(("published", "imported")),
        )
        .order_by(ContentRevision.id.desc())
        .limit(1)
    )
    if known != on_disk:
        session.add(
            ContentRevision(
                kind=kind,
                item_id=item_id,
                source=on_disk,
                base_fingerprint=fingerprint(on_disk),
                status="imported",
                comment="Version du dossier de contenu (git)",
            )
        )
        session.flush()


def _fields(kind: str, source: str) -> dict[str, str]:
    if kind == "guide":
        return guide_fields(source)
    if kind == "tool":
        return tool_fields(source)
    if kind == "faq":
        return faq_fields(source)
    return {"source": source}


def _source_from_form(kind: str, form: dict[str, str]) -> str:
    if form.get("mode") == "source" or kind == "checklist":
        return form.get("source", "").replace("\r\n", "\n")
    return {"guide": guide_source, "faq": faq_source}.get(kind, tool_source)(form)


def _editor(
    request: Request,
    state: EditorState,
    problems: list[Problem] | None = None,
    conflict: list[tuple[str, str]] | None = None,
    status_code: int = 200,
    message: str = "",
) -> HTMLResponse:
    admin = ctx(request)
    return render(
        request,
        "kb_edit.html",
        status_code,
        kind=state.kind,
        kind_label=KIND_LABELS[state.kind],
        item_id=state.item_id,
        source=state.source,
        fields=_fields(state.kind, state.source),
        base=state.base,
        draft=state.draft,
        problems=problems or [],
        conflict=conflict or [],
        message=message,
        topics=[(t, TOPIC_LABELS.get(t, t)) for t in GUIDE_TOPICS],
        categories=sorted(admin.services.kb.categories),
        hosting_regions=list(HOSTING_REGION_LABELS.items()),
        preview=render_markdown(guide_fields(state.source)["body"])
        if state.kind == "guide"
        else "",
    )


@page("operator")
async def kb_list(request: Request) -> Response:
    admin = ctx(request)
    query = request.query_params.get("q", "").strip().lower()[:100]
    kind = request.query_params.get("kind", "")
    items = [
        item
        for item in list_items(admin.services.kb)
        if (not kind or item.kind == kind)
        and (not query or query in item.title.lower() or query in item.id or query in item.group)
    ]
    with admin.services.db.session() as session:
        latest = (
            select(func.max(ContentRevision.id))
            .group_by(ContentRevision.kind, ContentRevision.item_id)
            .scalar_subquery()
        )
        drafts = {  # items whose latest revision is an unpublished draft
            (kind, item_id)
            for kind, item_id in session.execute(
                select(ContentRevision.kind, ContentRevision.item_id).where(
                    ContentRevision.id.in_(latest), ContentRevision.status == "draft"
                )
            )
        }
        recent = session.scalars(
            select(ContentRevision).order_by(ContentRevision.id.desc()).limit(8)
        ).all()
    return render(
        request,
        "kb_list.html",
        items=items,
        q=query,
        kind=kind,
        kinds=KIND_LABELS,
        drafts=drafts,
        recent=recent,
        topic_labels=TOPIC_LABELS,
        stale=stale_items(admin.services.kb, date.today()),
        stale_months=DEFAULT_MONTHS,
    )


@page("operator")
@known_kind
async def kb_new(request: Request) -> Response:
    kind = _kind(request)
    return _editor(request, EditorState(kind, None, NEW_TEMPLATES[kind], ""))


@page("operator")
@known_kind
async def kb_edit(request: Request) -> Response:
    admin = ctx(request)
    kind = _kind(request)
    item_id = request.path_params["item_id"]
    try:
        on_disk = read_item(admin.services.settings.kb_content_dir, kind, item_id)  # type: ignore[arg-type]
    except ItemNotFound:
        return render(
            request,
            "error.html",
            404,
            message="Cet élément n'existe pas (ou plus) dans le dossier de contenu.",
        )
    with admin.services.db.session() as session:
        last = _last_revision(session, kind, item_id)
        draft = last if last is not None and last.status == "draft" else None
        if draft is not None:
            session.expunge(draft)
    if draft is not None:
        return _editor(
            request, EditorState(kind, item_id, draft.source, draft.base_fingerprint, draft)
        )
    return _editor(request, EditorState(kind, item_id, on_disk, fingerprint(on_disk)))


@page("operator")
@known_kind
async def kb_save(request: Request) -> Response:
    """Save a draft or publish, for an existing item (item_id in the path) or a new one."""
    admin = ctx(request)
    staff = staff_of(request)
    kind = _kind(request)
    item_id: str | None = request.path_params.get("item_id")
    form = await form_data(request)
    source = _source_from_form(kind, form)
    base = form.get("base", "")
    action = form.get("action", "draft")
    content_dir = admin.services.settings.kb_content_dir
    problems = await run_in_threadpool(validate_item, content_dir, kind, item_id, source)
    target_id = item_id or declared_id(kind, source)  # type: ignore[arg-type]

    def save_draft(session: Session) -> ContentRevision:
        revision = ContentRevision(
            kind=kind,
            item_id=target_id or "(nouveau)",
            source=source,
            base_fingerprint=base,
            status="draft",
            comment=form.get("comment", "")[:256],
            staff_email=staff.email,
        )
        session.add(revision)
        audit.record(session, staff, "kb_save", f"{kind}:{target_id}", client_ip(request))
        session.flush()
        session.expunge(revision)
        return revision

    state = EditorState(kind, item_id, source, base)
    if action != "publish":
        with admin.services.db.session() as session:
            draft = save_draft(session)
        if item_id is None and not target_id:
            return _editor(
                request,
                state,
                problems,
                status_code=422,
                message="Brouillon enregistré, mais il faut un identifiant.",
            )
        if problems:
            return _editor(
                request,
                EditorState(kind, item_id, source, base, draft),
                problems,
                status_code=422,
                message="Brouillon enregistré. Corrigez ces points avant de publier.",
            )
        if item_id is None:
            return _editor(
                request,
                EditorState(kind, None, source, base, draft),
                message="Brouillon enregistré (non publié).",
            )
        return redirect(f"/kb/{kind}/{item_id}", "draft_saved")

    if problems:
        with admin.services.db.session() as session:
            save_draft(session)
        return _editor(
            request,
            state,
            problems,
            status_code=422,
            message="Rien n'a été publié : corrigez ces points (votre texte est "
            "gardé en brouillon).",
        )
    async with admin.publishing():
        if item_id is not None:
            on_disk = read_item(content_dir, kind, item_id)  # type: ignore[arg-type]
            if fingerprint(on_disk) != base:
                with admin.services.db.session() as session:
                    save_draft(session)
                return _editor(
                    request,
                    EditorState(kind, item_id, source, base),
                    conflict=unified_diff(source, on_disk, "votre version", "fichier actuel"),
                    status_code=409,
                    message="Le fichier a changé dans le dossier de contenu depuis que vous "
                    "avez ouvert l'éditeur (un déploiement git ou un collègue). Rien n'a été "
                    "écrasé : votre texte est gardé en brouillon. Comparez ci-dessous, puis "
                    "rechargez l'éditeur pour repartir de la version actuelle.",
                )
            with admin.services.db.session() as session:
                _record_file_if_new(session, kind, item_id, on_disk)
        try:
            await run_in_threadpool(publish_source, admin.services, kind, item_id, source)
        except ContentError as exc:
            return _editor(
                request,
                state,
                list(exc.problems),
                status_code=422,
                message="Rien n'a été publié : corrigez ces points.",
            )
        except OSError as exc:
            with admin.services.db.session() as session:
                save_draft(session)
            return _editor(
                request,
                state,
                status_code=500,
                message=not_writable(admin.services, exc),
            )
        final_id = item_id or target_id or ""
        with admin.services.db.session() as session:
            session.add(published(kind, final_id, source, form.get("comment", ""), staff))
            audit.record(session, staff, "kb_publish", f"{kind}:{final_id}", client_ip(request))
    return redirect(f"/kb/{kind}/{final_id}", "published")


@page("operator")
async def kb_preview(request: Request) -> Response:
    form = await form_data(request)
    return HTMLResponse(render_markdown(form.get("body", "")[:200_000]))


@page("operator")
@known_kind
async def kb_history(request: Request) -> Response:
    admin = ctx(request)
    kind = _kind(request)
    item_id = request.path_params["item_id"]
    with admin.services.db.session() as session:
        revisions = session.scalars(
            select(ContentRevision)
            .where(ContentRevision.kind == kind, ContentRevision.item_id == item_id)
            .order_by(ContentRevision.id.desc())
            .limit(50)
        ).all()
    entries: list[dict[str, Any]] = []
    for i, revision in enumerate(revisions):
        previous = revisions[i + 1].source if i + 1 < len(revisions) else ""
        entries.append({"revision": revision, "diff": unified_diff(previous, revision.source)})
    try:
        on_disk = read_item(admin.services.settings.kb_content_dir, kind, item_id)  # type: ignore[arg-type]
    except ItemNotFound:
        on_disk = None
    return render(
        request,
        "kb_history.html",
        kind=kind,
        kind_label=KIND_LABELS[kind],
        item_id=item_id,
        title=item_title(kind, on_disk) if on_disk else item_id,  # type: ignore[arg-type]
        entries=entries,
        exists=on_disk is not None,
    )


@page("operator")
@known_kind
async def kb_restore(request: Request) -> Response:
    admin = ctx(request)
    staff = staff_of(request)
    kind = _kind(request)
    item_id = request.path_params["item_id"]
    try:
        revision_id = int(request.path_params["revision_id"])
    except ValueError:
        revision_id = -1
    with admin.services.db.session() as session:
        revision = session.get(ContentRevision, revision_id)
        if revision is None or revision.kind != kind or revision.item_id != item_id:
            return render(request, "error.html", 404, message="Révision introuvable.")
        source = revision.source
    content_dir = admin.services.settings.kb_content_dir
    try:
        exists_now = True
        on_disk = read_item(content_dir, kind, item_id)  # type: ignore[arg-type]
    except ItemNotFound:
        exists_now, on_disk = False, ""
    problems = await run_in_threadpool(
        validate_item, content_dir, kind, item_id if exists_now else None, source
    )
    if problems:
        return _editor(
            request,
            EditorState(kind, item_id, source, fingerprint(on_disk)),
            problems,
            status_code=422,
            message="Cette révision n'est plus valide avec le contenu actuel : "
            "corrigez-la puis publiez.",
        )
    async with admin.publishing():
        if exists_now:
            with admin.services.db.session() as session:
                _record_file_if_new(session, kind, item_id, on_disk)
        await run_in_threadpool(
            publish_source, admin.services, kind, item_id if exists_now else None, source
        )
        with admin.services.db.session() as session:
            comment = f"Restauration de la révision {revision_id}"
            session.add(published(kind, item_id, source, comment, staff))
            audit.record(
                session,
                staff,
                "kb_restore",
                f"{kind}:{item_id}",
                client_ip(request),
                revision=revision_id,
            )
    return redirect(f"/kb/{kind}/{item_id}", "published")


@page("operator")
@known_kind
async def kb_delete(request: Request) -> Response:
    admin = ctx(request)
    staff: Staff = staff_of(request)
    kind = _kind(request)
    item_id = request.path_params["item_id"]
    content_dir = admin.services.settings.kb_content_dir
    async with admin.publishing():
        try:
            on_disk = read_item(content_dir, kind, item_id)  # type: ignore[arg-type]
            with admin.services.db.session() as session:
                _record_file_if_new(session, kind, item_id, on_disk)  # type: ignore[arg-type]
            await run_in_threadpool(delete_item, content_dir, kind, item_id)
            await run_in_threadpool(reindex, admin.services)
        except ItemNotFound:
            return render(request, "error.html", 404, message="Élément introuvable.")
        except ContentError as exc:
            return render(
                request,
                "error.html",
                409,
                message="Suppression impossible : " + " ; ".join(str(p) for p in exc.problems[:5]),
            )
        with admin.services.db.session() as session:
            session.add(
                ContentRevision(
                    kind=kind,
                    item_id=item_id,
                    source="",
                    status="deleted",
                    comment="Supprimé",
                    staff_email=staff.email,
                    published_at=utcnow(),
                )
            )
            audit.record(session, staff, "kb_delete", f"{kind}:{item_id}", client_ip(request))
    return redirect("/kb", "deleted")


@page("operator")
@known_kind
async def kb_discard(request: Request) -> Response:
    """Drop the unpublished draft: the editor shows the published file again."""
    admin = ctx(request)
    kind = _kind(request)
    item_id = request.path_params["item_id"]
    with admin.services.db.session() as session:
        last = _last_revision(session, kind, item_id)
        if last is not None and last.status == "draft":
            session.add(
                ContentRevision(
                    kind=kind,
                    item_id=item_id,
                    source=last.source,
                    base_fingerprint=last.base_fingerprint,
                    status="discarded",
                    comment="Brouillon abandonné",
                    staff_email=staff_of(request).email,
                )
            )
    return redirect(f"/kb/{kind}/{item_id}", "draft_discarded")


ROUTES = [
    Route("/kb", kb_list),
    Route("/kb/preview", kb_preview, methods=["POST"]),
    Route("/kb/{kind}/new", kb_new),
    Route("/kb/{kind}/new", kb_save, methods=["POST"]),
    Route("/kb/{kind}/{item_id}", kb_edit),
    Route("/kb/{kind}/{item_id}", kb_save, methods=["POST"]),
    Route("/kb/{kind}/{item_id}/history", kb_history),
    Route("/kb/{kind}/{item_id}/restore/{revision_id}", kb_restore, methods=["POST"]),
    Route("/kb/{kind}/{item_id}/delete", kb_delete, methods=["POST"]),
    Route("/kb/{kind}/{item_id}/discard", kb_discard, methods=["POST"]),
]
