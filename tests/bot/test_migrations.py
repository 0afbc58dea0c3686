"""The Alembic migrations build exactly the schema the models describe (SQLite and PostgreSQL):
a model changed without its migration fails here, not in production."""

from __future__ import annotations

from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext

from bot.store.database import MIGRATIONS, SCHEMA_REVISION, Database
from bot.store.models import Base


def test_migrations_match_the_models(database_url: str) -> None:
    database = Database(database_url)
    database.migrate()
    with database.engine.connect() as connection:
        differences = compare_metadata(MigrationContext.configure(connection), Base.metadata)
    database.dispose()
    assert differences == []


def test_schema_revision_is_the_newest_migration(database_url: str) -> None:
    """`migrate()` skips Alembic when the database is at SCHEMA_REVISION: that constant must
    name the newest migration, or a new one would never run."""
    from alembic.config import Config
    from alembic.script import ScriptDirectory

    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS))
    assert ScriptDirectory.from_config(config).get_current_head() == SCHEMA_REVISION
    database = Database(database_url)
    assert database.revision() is None  # a new database
    database.migrate()
    assert database.revision() == SCHEMA_REVISION
    database.migrate()  # the fast path: nothing to do
    assert database.revision() == SCHEMA_REVISION
    database.dispose()
