"""Storage: SQLAlchemy models, sessions, migrations, retention."""

import logging

# Migrations run at every start and alembic logs routine INFO lines as soon as it is
# imported: quiet them before any module here imports alembic (they clutter the chat).
logging.getLogger("alembic").setLevel(logging.WARNING)
