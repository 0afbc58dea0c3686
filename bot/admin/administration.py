"""Administrators: staff accounts, the retention period, the audit log."""

from __future__ import annotations

from sqlalchemy import select
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from ..store.models import AppSetting, AuditEvent, StaffUser, utcnow
from ..store.retention import (
    MAX_RETENTION_DAYS,
    MIN_RETENTION_DAYS,
    RETENTION_SETTING,
    effective_retention_days,
    purge_as_configured,
)
from . import audit
from .audit import ACTION_LABELS
from .auth import ROLES, AccountError, create_user, end_sessions, set_password
from .web import client_ip, ctx, form_data, page, redirect, render, staff_of


@page("admin")
async def users(request: Request) -> Response:
    return _users_page(request)


def _users_page(request: Request, error: str = "") -> Response:
    with ctx(request).services.db.session() as session:
        rows = session.scalars(select(StaffUser).order_by(StaffUser.email)).all()
    return render(
        request, "users.html", 422 if error else 200, users=rows, roles=ROLES, error=error
    )


@page("admin")
async def create(request: Request) -> Response:
    admin = ctx(request)
    form = await form_data(request)
    try:
        with admin.services.db.session() as session:
            user = create_user(
                session,
                form.get("email", ""),
                form.get("password", ""),
                form.get("role", ""),
                form.get("name", ""),
            )
            audit.record(
                session,
                staff_of(request),
                "user_create",
                f"staff:{user.email}",
                client_ip(request),
                role=user.role,
            )
    except AccountError as exc:
        return _users_page(request, str(exc))
    return redirect("/admin/users", "user_created")


@page("admin")
async def update(request: Request) -> Response:
    admin = ctx(request)
    me = staff_of(request)
    form = await form_data(request)
    try:
        user_id = int(request.path_params["user_id"])
    except ValueError:
        user_id = -1
    error = ""
    with admin.services.db.session() as session:
        user = session.get(StaffUser, user_id)
        if user is None:
            return render(request, "error.html", 404, message="Compte introuvable.")
        role = form.get("role", user.role)
        active = form.get("active") == "on"
        if user.id == me.id and (role != "admin" or not active):
            error = "Vous ne pouvez pas retirer vos propres droits d'administrateur."
        elif role not in ROLES:
            error = "Rôle inconnu."
        else:
            try:
                if form.get("password"):
                    set_password(user, form["password"])
                    end_sessions(session, user.id)
            except AccountError as exc:
                error = str(exc)
        if not error:
            user.role, user.active = role, active
            if not active:
                end_sessions(session, user.id)
            audit.record(
                session,
                me,
                "user_update",
                f"staff:{user.email}",
                client_ip(request),
                role=role,
                active=active,
                password=bool(form.get("password")),
            )
    if error:
        return _users_page(request, error)
    return redirect("/admin/users", "user_updated")


def _settings_page(request: Request, days: object, error: str = "") -> Response:
    return render(
        request,
        "settings.html",
        422 if error else 200,
        retention_days=days,
        error=error,
        default_days=ctx(request).services.settings.retention_days,
        minimum=MIN_RETENTION_DAYS,
        maximum=MAX_RETENTION_DAYS,
    )


@page("admin")
async def settings_page(request: Request) -> Response:
    admin = ctx(request)
    with admin.services.db.session() as session:
        days = effective_retention_days(session, admin.services.settings.retention_days)
    return _settings_page(request, days)


@page("admin")
async def save_settings(request: Request) -> Response:
    admin = ctx(request)
    form = await form_data(request)
    try:
        days = int(form.get("retention_days", ""))
    except ValueError:
        days = -1
    if not MIN_RETENTION_DAYS <= days <= MAX_RETENTION_DAYS:
        return _settings_page(
            request,
            form.get("retention_days"),
            f"Indiquez un nombre de jours entre {MIN_RETENTION_DAYS} et {MAX_RETENTION_DAYS}.",
        )
    with admin.services.db.session() as session:
        row = session.get(AppSetting, RETENTION_SETTING)
        if row is None:
            session.add(AppSetting(key=RETENTION_SETTING, value=str(days)))
        else:
            row.value, row.updated_at = str(days), utcnow()
        audit.record(
            session,
            staff_of(request),
            "settings",
            RETENTION_SETTING,
            client_ip(request),
            value=days,
        )
    return redirect("/admin/settings", "settings_saved")


@page("admin")
async def purge_now(request: Request) -> Response:
    admin = ctx(request)
    with admin.services.db.session() as session:
        counts = purge_as_configured(session, admin.services.settings.retention_days)
        audit.record(session, staff_of(request), "purge", "", client_ip(request), **counts)
    return redirect("/admin/settings", "purged")


@page("admin")
async def audit_log(request: Request) -> Response:
    admin = ctx(request)
    action = request.query_params.get("action", "")
    query = select(AuditEvent).order_by(AuditEvent.id.desc()).limit(200)
    if action in ACTION_LABELS:
        query = query.where(AuditEvent.action == action)
    with admin.services.db.session() as session:
        events = session.scalars(query).all()
    return render(request, "audit.html", events=events, labels=ACTION_LABELS, action=action)


ROUTES = [
    Route("/admin/users", users),
    Route("/admin/users", create, methods=["POST"]),
    Route("/admin/users/{user_id}", update, methods=["POST"]),
    Route("/admin/settings", settings_page),
    Route("/admin/settings", save_settings, methods=["POST"]),
    Route("/admin/settings/purge", purge_now, methods=["POST"]),
    Route("/admin/audit", audit_log),
]
