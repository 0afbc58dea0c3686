"""The write path of the store: turns of one process queue on SQLite, run side by side elsewhere."""

from __future__ import annotations

import threading

from sqlalchemy import select

from bot.store.database import Database
from bot.store.models import Merchant


def _second_writer_waited(db: Database) -> bool:
    """Hold a write transaction open; report whether another writer had to wait for it."""
    first_inside, release = threading.Event(), threading.Event()
    second_done = threading.Event()

    def first() -> None:
        with db.writing() as session:
            session.add(Merchant(channel="test", external_id="first", flow_state={}))
            session.flush()
            first_inside.set()
            release.wait(10)

    def second() -> None:
        first_inside.wait(10)
        with db.writing() as session:
            session.add(Merchant(channel="test", external_id="second", flow_state={}))
        second_done.set()

    threads = [threading.Thread(target=first), threading.Thread(target=second)]
    for thread in threads:
        thread.start()
    waited = not second_done.wait(0.5)
    release.set()
    for thread in threads:
        thread.join(10)
    return waited


def test_writers_queue_on_sqlite_and_both_commit(database_url: str) -> None:
    db = Database(database_url)
    db.migrate()
    waited = _second_writer_waited(db)
    assert waited is (db.engine.dialect.name == "sqlite")
    with db.session() as session:
        ids = set(session.scalars(select(Merchant.external_id).where(Merchant.channel == "test")))
    assert ids == {"first", "second"}
    db.engine.dispose()
