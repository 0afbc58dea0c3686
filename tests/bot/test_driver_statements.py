"""The turn's statements run on SQLite's driver store exactly what SQLAlchemy's execution
stores: two databases, one written each way, compared row by row as SQLite holds them."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

import pytest
from sqlalchemy.dialects import postgresql
from sqlalchemy.exc import IntegrityError

from bot.store import turns
from bot.store.database import Database
from bot.store.driver import DriverStatements
from bot.store.models import Merchant, Message

NOW = datetime(2026, 12, 4, 19, 41, 16, 123456, tzinfo=UTC)


def _database(path: Path) -> Database:
    db = Database(f"sqlite:///{path}")
    db.migrate()
    with db.session() as session:
        session.add(Merchant(channel="telegram", external_id="7", first_name="Léa", flow_state={}))
    return db


def _turn(db: Database, driver: bool) -> list[int]:
    # Statements for another dialect are never run on SQLite's driver: SQLAlchemy runs them.
    statements = db.driver if driver else DriverStatements(postgresql.dialect())
    with db.writing() as session:
        merchant = turns.find_merchant(session, "telegram", "7", lock=False)
        assert merchant is not None
        assert turns.record_update(session, 41, merchant.id, statements)
        assert not turns.record_update(session, 41, merchant.id, statements)  # re-delivery
        merchant.flow = "diagnostic"
        merchant.flow_state = {"step": 2, "note": 'é"<b>'}
        turns.save_merchant(session, merchant, NOW, flow=True, driver=statements)
        messages = [
            Message(merchant_id=merchant.id, direction="in", kind="button", text="dg:a:1:2"),
            Message(
                merchant_id=merchant.id,
                direction="out",
                author="bot",
                html="<b>Question 2</b>",
                buttons=[[{"label": "Oui", "data": "dg:a:2:y"}]],
                delivered=False,
                claimed_until=NOW,
            ),
        ]
        for message in messages:
            message.created_at = NOW
        ids = turns.insert_messages(session, messages, statements)
    with db.connection() as connection:
        turns.mark(connection, ids[1:], delivered=True, driver=statements)
    return ids


def _rows(db: Database, table: str, columns: str = "*") -> list[tuple[object, ...]]:
    with db.engine.connect() as connection:
        rows = connection.exec_driver_sql(f"SELECT {columns} FROM {table} ORDER BY 1").fetchall()
    return [tuple(row) for row in rows]


def test_driver_statements_store_what_sqlalchemy_stores(tmp_path: Path) -> None:
    by_sqlalchemy = _database(tmp_path / "a.sqlite3")
    by_driver = _database(tmp_path / "b.sqlite3")
    assert _turn(by_sqlalchemy, driver=False) == _turn(by_driver, driver=True) == [1, 2]
    assert _rows(by_driver, "messages") == _rows(by_sqlalchemy, "messages")
    # (A merchant's created_at is when each test database was made.)
    seen = "id, flow, flow_state, last_seen_at"
    assert _rows(by_driver, "merchants", seen) == _rows(by_sqlalchemy, "merchants", seen)
    assert _rows(by_driver, "merchants", seen)[0][1:] == (
        "diagnostic",
        '{"step": 2, "note": "\\u00e9\\"<b>"}',
        "2026-12-04 19:41:16.123456",
    )
    # processed_at is the time of the insert: the same format, not the same instant.
    (a,), (b,) = _rows(by_sqlalchemy, "processed_updates"), _rows(by_driver, "processed_updates")
    assert (a[0], a[1]) == (b[0], b[1]) == (41, 1)
    assert len(str(a[2])) == len(str(b[2])) and str(b[2])[4] == "-" and str(b[2])[10] == " "


def test_driver_errors_are_sqlalchemys(tmp_path: Path) -> None:
    """Callers tell an integrity error (or a locked database) from SQLAlchemy's exceptions."""
    db = _database(tmp_path / "c.sqlite3")
    with pytest.raises(IntegrityError), db.writing() as session:
        turns.record_update(session, 5, 999, db.driver)  # no merchant 999: foreign key


def test_postgresql_keeps_sqlalchemys_execution() -> None:
    assert DriverStatements(postgresql.dialect()).get(turns.SEEN) is None
