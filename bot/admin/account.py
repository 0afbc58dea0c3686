"""Every staff member: their own account (change their password)."""

from __future__ import annotations

from sqlalchemy import delete
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from ..store.models import StaffSession, StaffUser
from . import audit
from .auth import AccountError, set_password, verify_password
from .web import client_ip, ctx, form_data, page, redirect, render, staff_of


@page("support")
async def account(request: Request) -> Response:
    return render(request, "account.html", error="")


@page("support")
async def change_password(request: Request) -> Response:
    admin = ctx(request)
    staff = staff_of(request)
    form = await form_data(request)
    error = ""
    with admin.services.db.session() as session:
        user = session.get(StaffUser, staff.id)
        if user is None or not verify_password(user.password_hash, form.get("current", "")):
            error = "Le mot de passe actuel est incorrect."
        elif form.get("new", "") != form.get("confirm", ""):
            error = "Les deux nouveaux mots de passe ne sont pas identiques."
        else:
            try:
                set_password(user, form.get("new", ""))
            except AccountError as exc:
                error = str(exc)
        if not error:
            # Other browsers signed in with the old password are signed out.
            session.execute(
                delete(StaffSession).where(
                    StaffSession.user_id == staff.id, StaffSession.id != staff.session_id
                )
            )
            audit.record(session, staff, "password", f"staff:{staff.email}", client_ip(request))
    if error:
        return render(request, "account.html", 422, error=error)
    return redirect("/account", "password_changed")


ROUTES = [
    Route("/account", account),
    Route("/account", change_password, methods=["POST"]),
]
