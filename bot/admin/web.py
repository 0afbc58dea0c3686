"""What every back-office page shares: the context object, sign-in and role checks, CSRF,
rendering. Pages are plain Starlette endpoints wrapped by `page(role)`."""

from __future__ import annotations

import asyncio
import functools
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any
from urllib.parse import quote
from zoneinfo import ZoneInfo

from jinja2 import Environment, FileSystemLoader, select_autoescape
from prometheus_client import CollectorRegistry, Counter, Histogram
from sqlalchemy import func, select
from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import HTMLResponse, RedirectResponse, Response

from ..context import Services
from ..reload import reindex
from ..shared_state import publish_content, pull_all
from ..store.models import HandoffRequest, as_utc
from .auth import ROLE_LABELS, Staff, same_token, staff_for_token

TEMPLATES = Path(__file__).resolve().parent / "templates"
STATIC = Path(__file__).resolve().parent / "static"
SESSION_COOKIE = "comptoir_session"
LOGIN_CSRF_COOKIE = "comptoir_login_csrf"
PAGE_SIZE = 25
PARIS = ZoneInfo("Europe/Paris")

# Messages shown after a redirect: pages pass a key, never free text (nothing to inject).
NOTICES = {
    "replied": "Message mis en file : le bot le remet au commerçant dans quelques secondes.",
    "handed_back": "Main rendue : le bot reprend la conversation.",
    "taken_over": "Vous avez la main : le bot se tait dans cette conversation.",
    "tags_saved": "Étiquettes enregistrées.",
    "note_saved": "Note enregistrée.",
    "erased": "Le commerçant et toutes ses données ont été effacés.",
    "corrected": "Correction enregistrée.",
    "training_started": "Réentraînement lancé.",
    "training_running": "Un réentraînement est déjà en cours.",
    "ranker_switched": (
        "Classement réentraîné : le nouveau modèle, pas moins bon sur les questions de test, "
        "est en service."
    ),
    "ranker_kept": (
        "Classement réentraîné, mais le nouveau modèle était moins bon sur les questions de "
        "test : l'actuel reste en service."
    ),
    "draft_saved": "Brouillon enregistré (non publié).",
    "draft_discarded": "Brouillon abandonné : voici la version publiée.",
    "published": "Publié : le bot utilise déjà la nouvelle version.",
    "deleted": "Élément supprimé et index mis à jour.",
    "user_created": "Compte créé.",
    "user_updated": "Compte modifié.",
    "settings_saved": "Réglages enregistrés.",
    "purged": "Purge effectuée.",
    "signed_out": "Vous êtes déconnecté.",
    "password_changed": "Mot de passe changé ; vos autres sessions ont été fermées.",
}


class Metrics:
    """Per-application Prometheus registry (no process-wide default registry)."""

    def __init__(self) -> None:
        self.registry = CollectorRegistry()
        self.requests = Counter(
            "comptoir_admin_requests",
            "Requêtes HTTP du back office",
            ["method", "status"],
            registry=self.registry,
        )
        self.latency = Histogram(
            "comptoir_admin_request_seconds",
            "Durée de traitement des pages du back office",
            registry=self.registry,
        )


@dataclass
class AdminContext:
    """Built once by create_app and reached through request.app.state.admin."""

    services: Services
    templates: Environment
    metrics: Metrics = field(default_factory=Metrics)
    local_publish: asyncio.Lock = field(default_factory=asyncio.Lock)
    trainer: Any = None  # bot.admin.training.Trainer

    @asynccontextmanager
    async def publishing(self) -> AsyncIterator[None]:
        """One publish at a time, across every back office sharing the database (PostgreSQL
        advisory lock), without blocking this process's event loop while waiting."""
        services = self.services
        async with self.local_publish:
            held = services.db.exclusive("kb_publish")
            await run_in_threadpool(held.__enter__)
            try:
                # Start from what the other back offices published (PostgreSQL), and share
                # what this one publishes with every worker.
                if "content" in await run_in_threadpool(pull_all, services.settings, services.db):
                    await run_in_threadpool(reindex, services)
                yield
                await run_in_threadpool(publish_content, services.settings, services.db)
            finally:
                await run_in_threadpool(held.__exit__, None, None, None)


def make_templates() -> Environment:
    env = Environment(
        loader=FileSystemLoader(TEMPLATES),
        autoescape=select_autoescape(["html", "xml"], default=True),
        trim_blocks=True,
        lstrip_blocks=True,
    )
    env.filters["when"] = format_when
    env.filters["paris"] = format_paris
    env.filters["pct"] = lambda v: "—" if v is None else f"{v * 100:.0f} %"
    # One decimal, French style (96,6 %): model accuracies differ by tenths.
    env.filters["pct1"] = lambda v: "—" if v is None else f"{v * 100:.1f} %".replace(".", ",")
    env.globals["ROLE_LABELS"] = ROLE_LABELS
    return env


def format_when(moment: datetime | None) -> str:
    if moment is None:
        return "—"
    return as_utc(moment).astimezone(UTC).strftime("%d/%m/%Y %H:%M UTC")


def format_paris(moment: datetime | None) -> str:
    """Campaigns are scheduled in Paris time: shown so, summer time included."""
    if moment is None:
        return "—"
    return as_utc(moment).astimezone(PARIS).strftime("%d/%m/%Y %H:%M (heure de Paris)")


def ctx(request: Request) -> AdminContext:
    return request.app.state.admin  # type: ignore[no-any-return]


def client_ip(request: Request) -> str:
    return request.client.host if request.client else ""


def render(request: Request, template: str, status_code: int = 200, **values: Any) -> HTMLResponse:
    admin = ctx(request)
    staff: Staff | None = getattr(request.state, "staff", None)
    open_handoffs = 0
    if staff is not None:
        with admin.services.db.session() as session:
            open_handoffs = (
                session.scalar(
                    select(func.count())
                    .select_from(HandoffRequest)
                    .where(HandoffRequest.status == "open")
                )
                or 0
            )
    notice = NOTICES.get(request.query_params.get("ok", ""), "")
    html = admin.templates.get_template(template).render(
        request=request,
        staff=staff,
        open_handoffs=open_handoffs,
        notice=notice,
        path=request.url.path,
        **values,
    )
    return HTMLResponse(html, status_code=status_code)


Endpoint = Callable[[Request], Awaitable[Response]]


def page(role: str = "support") -> Callable[[Endpoint], Endpoint]:
    """Signed-in staff with at least `role`; POSTs must carry the session's CSRF token."""

    def decorate(endpoint: Endpoint) -> Endpoint:
        @functools.wraps(endpoint)
        async def wrapper(request: Request) -> Response:
            admin = ctx(request)
            with admin.services.db.session() as session:
                staff = staff_for_token(session, request.cookies.get(SESSION_COOKIE))
            if staff is None:
                if request.method == "GET":
                    target = quote(str(request.url.path), safe="/")
                    return RedirectResponse(f"/login?next={target}", status_code=303)
                return render(
                    request,
                    "error.html",
                    401,
                    message="Session expirée : "
                    "reconnectez-vous (votre saisie n'a pas été enregistrée).",
                )
            request.state.staff = staff
            if not staff.can(role):
                return render(
                    request,
                    "error.html",
                    403,
                    message="Cette page est réservée au rôle "
                    f"« {ROLE_LABELS[role]} » ou supérieur.",
                )
            if request.method == "POST":
                form = await request.form()
                given = form.get("csrf_token") or request.headers.get("x-csrf-token")
                if not same_token(staff.csrf_token, str(given) if given else None):
                    return render(
                        request,
                        "error.html",
                        403,
                        message="Formulaire expiré ou invalide (jeton de sécurité absent). "
                        "Rechargez la page et recommencez.",
                    )
            return await endpoint(request)

        return wrapper

    return decorate


def redirect(url: str, notice: str = "") -> RedirectResponse:
    if notice:
        url = f"{url}{'&' if '?' in url else '?'}ok={notice}"
    return RedirectResponse(url, status_code=303)


def safe_next(target: str | None) -> str:
    """Only local paths: no open redirect after sign-in."""
    if not target or not target.startswith("/") or target.startswith("//") or "\\" in target:
        return "/"
    return target


def attachment(body: str, media_type: str, filename: str) -> Response:
    """A download (the browser saves it under `filename`)."""
    return Response(
        body,
        media_type=f"{media_type}; charset=utf-8",
        headers={"Content-Disposition": f'attachment; filename="{filename}"'},
    )


async def form_data(request: Request) -> dict[str, str]:
    form = await request.form()
    return {k: str(v) for k, v in form.items() if isinstance(v, str)}


def staff_of(request: Request) -> Staff:
    return request.state.staff  # type: ignore[no-any-return]
