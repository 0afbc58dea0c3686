"""Serving the back office: alone (`comptoir admin serve`) or in a thread beside the bot."""

from __future__ import annotations

import logging

import uvicorn

from ..context import Services
from .app import create_app
from .auth import AccountError, create_user, staff_count

log = logging.getLogger(__name__)


def ensure_first_admin(services: Services) -> str:
    """Create the administrator named by COMPTOIR_ADMIN_EMAIL/PASSWORD if there is no staff
    account yet; returns a line telling the operator what to do next."""
    settings = services.settings
    with services.db.session() as session:
        if staff_count(session) > 0:
            return ""
        if not (settings.admin_email and settings.admin_password):
            return (
                "Aucun compte pour le back office : créez-en un avec "
                "`comptoir admin create-user VOTRE@ADRESSE --role admin`."
            )
        try:
            create_user(session, settings.admin_email, settings.admin_password, "admin")
        except AccountError as exc:
            return f"COMPTOIR_ADMIN_EMAIL/PASSWORD : {exc}"
    return f"Compte administrateur {settings.admin_email} créé (retirez le mot de passe du .env)."


def make_server(services: Services, host: str, port: int) -> uvicorn.Server:
    config = uvicorn.Config(
        create_app(services),
        host=host,
        port=port,
        log_level="warning",
        access_log=False,
        proxy_headers=True,  # behind a reverse proxy: HTTPS and the client's address seen as such
        forwarded_allow_ips=services.settings.admin_trusted_proxies,
        lifespan="on",
    )
    return uvicorn.Server(config)
