"""Build every service from the settings, once, at start."""

from __future__ import annotations

from knowledge_base.search import KnowledgeSearch

from .config import Settings
from .context import Services
from .shared_state import pull_all, shared_settings
from .store.database import Database
from .wiring import Log, intent_parser, ready_knowledge_base, settings_encoder


def build_services(settings: Settings, log: Log | None = None) -> Services:
    """Database migrated, encoder loaded, intent model and search index ready."""
    database = Database(settings.resolved_database_url)
    database.migrate()
    # Workers sharing PostgreSQL keep local copies of what the database holds.
    settings = shared_settings(settings, database)
    pull_all(settings, database)
    encoder = settings_encoder(settings)
    parser = intent_parser(settings, encoder, settings.nlu_model_dir, log=log)
    kb = ready_knowledge_base(settings, encoder, log=log)
    kb.precompute()
    search = KnowledgeSearch(settings.resolved_kb_index_dir)
    search.reload_ranker(settings.resolved_kb_ranker)
    search.reload()
    return Services(settings, database, encoder, parser, kb, search)
