"""The turn's statements run on the driver (sqlite3, psycopg) store exactly what SQLAlchemy's
execution stores: the same turn written each way, compared row by row as the database holds
them (SQLite: two files; PostgreSQL: one database, emptied between the two)."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

import pytest
from sqlalchemy import insert, text
from sqlalchemy.dialects import mysql
from sqlalchemy.exc import IntegrityError

from bot.store import rows, turns
from bot.store.database import Database, StoreUnavailable
from bot.store.driver import DriverStatements
from bot.store.models import Merchant, Message, ProcessedUpdate

NOW = datetime(2026, 12, 4, 19, 41, 16, 123456, tzinfo=UTC)
_RECORD = insert(ProcessedUpdate.__table__)  # no ON CONFLICT: a foreign key error to read late


def _database(url: str) -> Database:
    db = Database(url)
    db.migrate()
    with db.session() as session:
        session.add(Merchant(channel="telegram", external_id="7", first_name="Léa", flow_state={}))
    return db


def _turn(db: Database, driver: bool) -> list[int]:
    statements = db.driver if driver else DriverStatements(db.engine.dialect, direct=False)
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
    by_sqlalchemy = _database(f"sqlite:///{tmp_path / 'a.sqlite3'}")
    by_driver = _database(f"sqlite:///{tmp_path / 'b.sqlite3'}")
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


def _written(db: Database, driver: bool) -> dict[str, list[tuple[object, ...]]]:
    """The rows one turn writes on PostgreSQL, from an empty database."""
    with db.engine.begin() as connection:
        connection.execute(
            text("TRUNCATE merchants, messages, processed_updates RESTART IDENTITY CASCADE")
        )
    with db.session() as session:
        session.add(
            Merchant(
                channel="telegram", external_id="7", first_name="Léa", flow_state={}, created_at=NOW
            )
        )
    assert _turn(db, driver) == [1, 2]
    seen = "id, flow, flow_state::text, last_seen_at"
    return {
        "messages": _rows(db, "messages"),
        "merchants": _rows(db, "merchants", seen),
        "processed_updates": _rows(db, "processed_updates", "update_id, merchant_id"),
    }


@pytest.mark.parametrize("database_url", ["postgresql"], indirect=True)
def test_psycopg_statements_store_what_sqlalchemy_stores(database_url: str) -> None:
    db = _database(database_url)
    try:
        assert db.driver.get(turns.SEEN) is not None  # run on psycopg's connection
        by_sqlalchemy = _written(db, driver=False)
        by_driver = _written(db, driver=True)
    finally:
        db.dispose()
    assert by_driver == by_sqlalchemy
    note = '{"step": 2, "note": "\\u00e9\\"<b>"}'  # as SQLAlchemy's JSON writes it
    assert by_driver["merchants"][0][1:] == ("diagnostic", note, NOW)
    assert by_driver["processed_updates"] == [(41, 1)]


def test_driver_errors_are_sqlalchemys(database_url: str) -> None:
    """Callers tell an integrity error (or a locked database) from SQLAlchemy's exceptions;
    in psycopg's pipeline mode too, where it comes back with the first result read."""
    db = _database(database_url)
    try:
        with pytest.raises(IntegrityError), db.writing() as session:
            turns.record_update(session, 5, 999, db.driver)  # no merchant 999: foreign key
        with pytest.raises(IntegrityError), db.connection(pipelined=True) as connection:
            db.lock_for_transaction(connection, "chat:test:7")
            turns.record_update(connection, 5, 999, db.driver)
        with pytest.raises(IntegrityError), db.connection(pipelined=True) as connection:
            merchant = rows.find_merchant(connection, db.driver, "telegram", "7")
            assert merchant is not None
            merchant.flow_state = {"step": 1}
            turns.save_merchant(connection, merchant, NOW, flow=True, driver=db.driver)  # sent
            turns.record_update(connection, 5, 999, db.driver)  # its error read here
        # An error read only at the transaction's end (nothing read after the statement:
        # in pipeline mode the COMMIT is queued with it, and the pipeline's end reads both).
        with pytest.raises(IntegrityError), db.connection(pipelined=True) as connection:
            merchant = rows.find_merchant(connection, db.driver, "telegram", "7")
            assert merchant is not None
            merchant.flow_state = {"step": 1}
            turns.save_merchant(connection, merchant, NOW, flow=True, driver=db.driver)
            db.driver.send(
                connection, _RECORD, {"update_id": 6, "merchant_id": 999, "processed_at": NOW}
            )
        # Nothing of those transactions was kept, and the connections work.
        with db.connection(pipelined=True) as connection:
            merchant = rows.find_merchant(connection, db.driver, "telegram", "7")
            assert merchant is not None and merchant.flow_state == {}
            assert turns.record_update(connection, 5, merchant.id, db.driver)
    finally:
        db.dispose()


def test_other_dialects_keep_sqlalchemys_execution() -> None:
    assert DriverStatements(mysql.dialect()).get(turns.SEEN) is None


def _terminate_others(db: Database) -> None:
    """End every other session on the database, as a PostgreSQL restart does."""
    with db.engine.connect() as connection:
        connection.execute(
            text(
                # (Waiting up to 5 s for each to end, as a restart ends them all.)
                "SELECT pg_terminate_backend(pid, 5000) FROM pg_stat_activity "
                "WHERE datname = current_database() AND pid <> pg_backend_pid()"
            )
        )


@pytest.mark.parametrize("pipelined", [False, True])
@pytest.mark.parametrize("database_url", ["postgresql"], indirect=True)
def test_a_connection_lost_under_the_driver_is_replaced(database_url: str, pipelined: bool) -> None:
    """A backend gone mid-turn: SQLAlchemy's OperationalError (the turn answers "store
    down"), the connection invalidated, and the next turn runs on a new one; in pipeline
    mode too."""
    db = _database(database_url)
    try:
        with db.connection() as connection:
            pid = connection.exec_driver_sql("SELECT pg_backend_pid()").scalar()
        with pytest.raises(StoreUnavailable), db.connection(pipelined=pipelined) as connection:
            assert connection.connection.driver_connection.info.backend_pid == pid
            _terminate_others_from_new_engine(database_url)
            db.lock_for_transaction(connection, "chat:telegram:7")
            rows.find_merchant(connection, db.driver, "telegram", "7")
        with db.connection() as connection:
            assert connection.exec_driver_sql("SELECT pg_backend_pid()").scalar() != pid
            found = rows.find_merchant(connection, db.driver, "telegram", "7")
            assert found is not None and found.language == "fr"
        # Dropped while idle in the pool (a restart between turns): the checkout sees its
        # socket readable and pings it.
        _terminate_others_from_new_engine(database_url)
        with db.connection(pipelined=pipelined) as connection:
            assert rows.find_merchant(connection, db.driver, "telegram", "7") is not None
            pid = connection.connection.driver_connection.info.backend_pid
        # Gone before a transaction that reads nothing (in pipeline mode its statements and
        # its COMMIT all go at its end): the same.
        with pytest.raises(StoreUnavailable), db.connection(pipelined=pipelined) as connection:
            _terminate_others_from_new_engine(database_url)
            db.lock_for_transaction(connection, "chat:telegram:7")
            turns.mark(connection, [1], delivered=True, driver=db.driver)
        with db.connection(pipelined=pipelined) as connection:
            assert connection.connection.driver_connection.info.backend_pid != pid
            assert rows.find_merchant(connection, db.driver, "telegram", "7") is not None
    finally:
        db.dispose()


def _terminate_others_from_new_engine(url: str) -> None:
    other = Database(url)
    try:
        _terminate_others(other)
    finally:
        other.dispose()


@pytest.mark.parametrize("database_url", ["postgresql"], indirect=True)
def test_a_checkout_pings_only_a_dropped_or_long_idle_connection(
    database_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A connection used a moment ago, with nothing to read on its socket, is handed out
    without a round trip; one idle longer than `PING_AFTER_IDLE` is pinged first."""
    from bot.store import database

    db = _database(database_url)
    pings: list[object] = []
    ping = db.engine.dialect.do_ping
    monkeypatch.setattr(db.engine.dialect, "do_ping", lambda c: pings.append(c) or ping(c))
    try:
        for _ in range(3):
            with db.connection() as connection:
                assert rows.find_merchant(connection, db.driver, "telegram", "7") is not None
        assert pings == []
        monkeypatch.setattr(database, "PING_AFTER_IDLE", 0.0)
        with db.connection() as connection:
            assert rows.find_merchant(connection, db.driver, "telegram", "7") is not None
        assert len(pings) == 1
    finally:
        db.dispose()
