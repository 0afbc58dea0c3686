"""Back-office fixtures: services on a private copy of the content, index and model (the
tests publish and retrain), staff accounts, a signed-in HTTP client."""

from __future__ import annotations

import re
import shutil
from dataclasses import dataclass
from pathlib import Path

import pytest
from starlette.testclient import TestClient

from bot.config import Settings
from bot.context import Services
from bot.store.database import Database

PASSWORD = "un-mot-de-passe-solide"
CSRF = re.compile(r'name="csrf_token" value="([^"]+)"')


def private_services(ready, tmp_path: Path, database_url: str) -> Services:  # type: ignore[no-untyped-def]
    """Like the shared services, but everything an operator can change is a copy."""
    from knowledge_base.search import KnowledgeSearch
    from nlu.model import NLUModel

    shared, _nlu, kb, _search = ready
    data = tmp_path / "data"
    shutil.copytree(shared.resolved_nlu_model_dir, data / "models" / "nlu")
    if (shared.data_dir / "cache").is_dir():
        shutil.copytree(shared.data_dir / "cache", data / "cache")
    shutil.copytree(shared.resolved_kb_index_dir, data / "index")
    content = tmp_path / "content"
    shutil.copytree(shared.kb_content_dir, content)
    settings = Settings(data_dir=data, database_url=database_url, kb_content_dir=content)
    database = Database(database_url)
    database.migrate()
    encoder = _nlu.encoder
    search = KnowledgeSearch(settings.resolved_kb_index_dir, ranker=_search.ranker)
    search.reload()
    model = NLUModel.load(settings.resolved_nlu_model_dir, encoder)
    return Services(settings, database, encoder, model, kb, search)


@pytest.fixture()
def admin_services(ready, tmp_path: Path, database_url: str):  # type: ignore[no-untyped-def]
    services = private_services(ready, tmp_path, database_url)
    yield services
    services.db.dispose()


@dataclass
class Accounts:
    admin: str = "admin@cci.example.fr"
    operator: str = "operateur@cci.example.fr"
    support: str = "support@cci.example.fr"


def create_accounts(services: Services) -> Accounts:
    from bot.admin.auth import create_user

    accounts = Accounts()
    with services.db.session() as session:
        create_user(session, accounts.admin, PASSWORD, "admin", "Alice Admin")
        create_user(session, accounts.operator, PASSWORD, "operator", "Olivier Opérateur")
        create_user(session, accounts.support, PASSWORD, "support", "Sophie Support")
    return accounts


@pytest.fixture()
def accounts(admin_services: Services) -> Accounts:
    return create_accounts(admin_services)


@pytest.fixture()
def app(admin_services: Services):  # type: ignore[no-untyped-def]
    from bot.admin.app import create_app

    application = create_app(admin_services)
    yield application
    trainer = application.state.admin.trainer
    if trainer is not None:
        trainer.wait(120)


def sign_in(client: TestClient, email: str, password: str = PASSWORD) -> str:
    """Sign in through the form; returns the session's CSRF token for later POSTs."""
    page = client.get("/login")
    token = CSRF.search(page.text).group(1)  # type: ignore[union-attr]
    response = client.post(
        "/login", data={"csrf_token": token, "email": email, "password": password, "next": "/"}
    )
    assert response.status_code == 200, response.text[:500]
    return csrf_of(client)


def csrf_of(client: TestClient, path: str = "/conversations") -> str:
    match = CSRF.search(client.get(path).text)
    assert match, f"no CSRF token on {path}"
    return match.group(1)
