"""Build every service from the settings, once, at start."""

from __future__ import annotations

from collections.abc import Callable

from knowledge_base.search import KnowledgeSearch
from knowledge_base.service import ensure_index
from nlu.encoder import make_encoder
from nlu.factory import make_parser

from .config import Settings
from .context import Services
from .shared_state import pull_all, shared_settings
from .store.database import Database


def build_services(settings: Settings, log: Callable[[str], None] | None = None) -> Services:
    """Database migrated, encoder loaded, intent model and search index ready."""
    database = Database(settings.resolved_database_url)
    database.migrate()
    # Workers sharing PostgreSQL keep local copies of what the database holds.
    settings = shared_settings(settings, database)
    pull_all(settings, database)
    encoder = make_encoder(settings.encoder, settings.encoder_model, settings.encoder_threads)
    parser = make_parser(settings, encoder, settings.nlu_model_dir, log=log)
    kb = ensure_index(settings, encoder, log=log)
    search = KnowledgeSearch(settings.resolved_kb_index_dir)
    search.reload_ranker(settings.resolved_kb_ranker)
    search.reload()
    return Services(settings, database, encoder, parser, kb, search)
