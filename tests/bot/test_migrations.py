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


def test_flood_control_migration_keeps_existing_messages_as_answered(database_url: str) -> None:
    """0005 adds `messages.flooded` to a database with conversations: old rows read False."""
    from alembic import command
    from alembic.config import Config
    from sqlalchemy import text

    database = Database(database_url)
    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS))
    config.set_main_option("sqlalchemy.url", database_url.replace("%", "%%"))
    with database.engine.begin() as connection:
        config.attributes["connection"] = connection
        command.upgrade(config, "0004")
    with database.engine.begin() as connection:
        connection.execute(
            text(
                "INSERT INTO merchants (id, channel, external_id, first_name, language, "
                "flow_state, handoff_active, reminders, tags, staff_note, created_at, "
                "last_seen_at) VALUES (1, 'telegram', '9', '', 'fr', '{}', false, false, '[]', "
                "'', CURRENT_TIMESTAMP, CURRENT_TIMESTAMP)"
            )
        )
        connection.execute(
            text(
                "INSERT INTO messages (merchant_id, direction, author, kind, text, html, "
                "entities, hits, buttons, delivered, created_at) VALUES (1, 'in', 'merchant', "
                "'text', 'bonjour', '', '[]', '[]', '[]', true, CURRENT_TIMESTAMP)"
            )
        )
    database.migrate()
    assert database.revision() == SCHEMA_REVISION
    with database.engine.connect() as connection:
        flooded = connection.execute(text("SELECT flooded FROM messages")).scalar()
    assert flooded is not None and not flooded  # False on PostgreSQL, 0 on SQLite
    with database.engine.connect() as connection:
        # Later migrations add columns in place: no table rebuilt, no row lost to a cascade.
        assert connection.execute(text("SELECT count(*) FROM merchants")).scalar() == 1
        assert connection.execute(text("SELECT count(*) FROM messages")).scalar() == 1
        news = connection.execute(text("SELECT news_consent FROM merchants")).scalar()
    assert news is not None and not news  # consent is off until the merchant says yes
    database.dispose()


def test_workers_starting_together_migrate_once(tmp_path) -> None:  # type: ignore[no-untyped-def]
    """Three processes starting at once on a new PostgreSQL database: one migrates, the
    others wait on the advisory lock and find the schema current (no duplicate tables)."""
    import os
    import subprocess
    import sys

    from sqlalchemy import create_engine, text

    base = os.environ.get(
        "COMPTOIR_TEST_POSTGRES_URL", "postgresql+psycopg://postgres@127.0.0.1:5432/test"
    ).rsplit("/", 1)[0]
    name = f"comptoir_migrate_{os.getpid()}"
    admin = create_engine(base + "/postgres", isolation_level="AUTOCOMMIT")
    with admin.connect() as connection:
        connection.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        connection.execute(text(f'CREATE DATABASE "{name}"'))
    url = f"{base}/{name}"
    script = "import sys; from bot.store.database import Database; Database(sys.argv[1]).migrate()"
    try:
        workers = [
            subprocess.Popen([sys.executable, "-c", script, url], stderr=subprocess.PIPE)
            for _ in range(3)
        ]
        errors = [w.communicate(timeout=120)[1].decode() for w in workers]
        assert [w.returncode for w in workers] == [0, 0, 0], errors
        assert Database(url).revision() == SCHEMA_REVISION
    finally:
        with admin.connect() as connection:
            connection.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        admin.dispose()
