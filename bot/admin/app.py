"""The back-office web application: routes, sign-in, health and metrics, security headers.

`create_app(services)` builds it around the same `Services` the bot uses, so a publish or
a retrain in the back office switches the bot in the same process at once (another
process picks the change up from disk, see bot.reload).
"""

from __future__ import annotations

import asyncio
import secrets
import time

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import PlainTextResponse, RedirectResponse, Response
from starlette.routing import Mount, Route
from starlette.staticfiles import StaticFiles
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from ..context import Services
from ..health import database_gauges, health_response, vector_cache_lines
from ..store.database import StoreUnavailable
from . import (
    account,
    administration,
    campaigns_page,
    conversations,
    dashboard,
    kb_editor,
    ranking_page,
    training,
)
from .audit import record
from .auth import normalise_email, same_token, sign_in, sign_out
from .web import (
    LOGIN_CSRF_COOKIE,
    SESSION_COOKIE,
    STATIC,
    AdminContext,
    client_ip,
    ctx,
    form_data,
    make_templates,
    page,
    redirect,
    render,
    safe_next,
)

FAILED_SIGN_IN_DELAY = 0.5  # seconds added to every failed attempt
CSP = (
    "default-src 'self'; img-src 'self' data:; style-src 'self'; script-src 'self'; "
    "form-action 'self'; frame-ancestors 'none'; base-uri 'none'"
)


class SecurityHeaders:
    """Headers on every response, and request metrics (pure ASGI: no body buffering)."""

    def __init__(self, app: ASGIApp, admin: AdminContext) -> None:
        self.app = app
        self.admin = admin

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = time.perf_counter()
        status = 500

        async def send_with_headers(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
                headers = list(message.get("headers", []))
                headers += [
                    (b"content-security-policy", CSP.encode()),
                    (b"x-content-type-options", b"nosniff"),
                    (b"x-frame-options", b"DENY"),
                    (b"referrer-policy", b"same-origin"),
                    (b"cache-control", b"no-store"),
                ]
                message["headers"] = headers
            await send(message)

        try:
            await self.app(scope, receive, send_with_headers)
        finally:
            self.admin.metrics.requests.labels(scope.get("method", ""), str(status)).inc()
            self.admin.metrics.latency.observe(time.perf_counter() - started)


def _secure(request: Request) -> bool:
    return request.url.scheme == "https"


async def login_form(request: Request) -> Response:
    token = request.cookies.get(LOGIN_CSRF_COOKIE) or secrets.token_urlsafe(32)
    response = render(
        request,
        "login.html",
        csrf=token,
        error="",
        next=safe_next(request.query_params.get("next")),
        email="",
    )
    response.set_cookie(
        LOGIN_CSRF_COOKIE,
        token,
        httponly=True,
        samesite="strict",
        secure=_secure(request),
        max_age=3600,
    )
    return response


async def login(request: Request) -> Response:
    admin = ctx(request)
    form = await form_data(request)
    cookie = request.cookies.get(LOGIN_CSRF_COOKIE, "")
    target = safe_next(form.get("next"))
    email = form.get("email", "")[:254]
    if not cookie or not same_token(cookie, form.get("csrf_token")):
        return render(
            request,
            "login.html",
            403,
            csrf=cookie or secrets.token_urlsafe(32),
            next=target,
            email=email,
            error="Formulaire expiré : rechargez la page et recommencez.",
        )
    with admin.services.db.session() as session:
        result = sign_in(session, email, form.get("password", ""), client_ip(request))
        if not result.throttled:  # the attempt itself is recorded by sign_in
            action = "login" if result.token else "login_failed"
            record(session, None, action, ip=client_ip(request), email=normalise_email(email))
    if result.token is None:
        if not result.throttled:
            await asyncio.sleep(FAILED_SIGN_IN_DELAY)
        return render(
            request,
            "login.html",
            429 if result.throttled else 401,
            csrf=cookie,
            next=target,
            email=email,
            error=result.error,
        )
    response = RedirectResponse(target, status_code=303)
    response.set_cookie(
        SESSION_COOKIE,
        result.token,
        httponly=True,
        samesite="lax",
        secure=_secure(request),
        max_age=12 * 3600,
    )
    response.delete_cookie(LOGIN_CSRF_COOKIE)
    return response


@page("support")
async def logout(request: Request) -> Response:
    admin = ctx(request)
    with admin.services.db.session() as session:
        record(session, request.state.staff, "logout", ip=client_ip(request))
        sign_out(session, request.cookies.get(SESSION_COOKIE))
    response = redirect("/login", "signed_out")
    response.delete_cookie(SESSION_COOKIE)
    return response


@page("support")
async def home(request: Request) -> Response:
    staff = request.state.staff
    return redirect("/dashboard" if staff.can("operator") else "/conversations")


async def healthz(request: Request) -> Response:
    return health_response(ctx(request).services)


async def metrics(request: Request) -> Response:
    from prometheus_client import generate_latest

    admin = ctx(request)
    lines = database_gauges(admin.services) + vector_cache_lines(admin.services)
    body = generate_latest(admin.metrics.registry).decode() + "\n".join(lines) + "\n"
    return PlainTextResponse(body, media_type="text/plain; version=0.0.4; charset=utf-8")


async def store_unavailable(request: Request, exc: Exception) -> Response:
    # Plain text: the page template reads the database for its header.
    return PlainTextResponse(
        "La base de données ne répond pas. Réessayez dans un instant ; si cela dure, "
        "prévenez l'administrateur (vérifiez COMPTOIR_DATABASE_URL).",
        status_code=503,
    )


def create_app(services: Services, *, with_trainer: bool = True) -> Starlette:
    admin = AdminContext(services=services, templates=make_templates())
    if with_trainer:
        admin.trainer = training.Trainer(services)

    routes = [
        Route("/", home),
        Route("/login", login_form),
        Route("/login", login, methods=["POST"]),
        Route("/logout", logout, methods=["POST"]),
        Route("/healthz", healthz),
        Route("/metrics", metrics),
        Mount("/static", StaticFiles(directory=STATIC), name="static"),
        *dashboard.ROUTES,
        *conversations.ROUTES,
        *training.ROUTES,
        *ranking_page.ROUTES,
        *kb_editor.ROUTES,
        *administration.ROUTES,
        *campaigns_page.ROUTES,
        *account.ROUTES,
    ]
    app = Starlette(
        routes=routes,
        exception_handlers={StoreUnavailable: store_unavailable},
    )
    app.state.admin = admin
    app.add_middleware(SecurityHeaders, admin=admin)
    return app
