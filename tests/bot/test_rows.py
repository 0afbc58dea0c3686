"""A quick press's plain-row reads and Core writes (`bot.store.rows`, `bot.store.progress`,
`FloodLimit.merchant_row_and_over`, `save_merchant` of a `MerchantRow`), on SQLite and
PostgreSQL (statements on the driver: sqlite3, psycopg): the values the ORM reads."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import select

from bot.flood import FloodLimit
from bot.store import progress, rows, turns
from bot.store.database import Database
from bot.store.models import ChecklistProgress, ChecklistRun, DiagnosticResult, Merchant, Message

NOW = datetime(2026, 12, 4, 19, 41, 16, 123456, tzinfo=UTC)


@pytest.fixture()
def db(database_url: str) -> Iterator[Database]:
    database = Database(database_url)
    database.migrate()
    with database.session() as session:
        session.add(
            Merchant(
                channel="telegram",
                external_id="7",
                first_name="Léa",
                language="fr",
                flow="diagnostic",
                flow_state={"result": 3, "question": 1, "note": 'é"<b>'},
                unreachable_at=NOW,
            )
        )
    yield database
    database.dispose()


def _merchant(db: Database) -> Merchant:
    with db.session() as session:
        merchant = session.scalar(select(Merchant))
        assert merchant is not None
        return merchant


def test_merchant_row_reads_what_the_orm_reads(db: Database) -> None:
    orm = _merchant(db)
    with db.connection() as connection:
        row = rows.find_merchant(connection, db.driver, "telegram", "7")
        assert rows.find_merchant(connection, db.driver, "telegram", "8") is None
    assert row == rows.MerchantRow(
        id=orm.id,
        language="fr",
        flow="diagnostic",
        flow_state={"result": 3, "question": 1, "note": 'é"<b>'},
        handoff_active=False,
        unreachable_at=row.unreachable_at if row else None,
    )
    assert row is not None and row.unreachable_at is not None
    assert row.unreachable_at.replace(tzinfo=UTC) == orm.unreachable_at.replace(tzinfo=UTC)  # type: ignore[union-attr]


def test_merchant_row_with_the_flood_count(db: Database) -> None:
    merchant_id = _merchant(db).id
    limit = FloodLimit(max_messages=2, window=timedelta(seconds=10))
    with db.session() as session:
        for seconds in (30, 5):  # one outside the window, one inside
            session.add(
                Message(
                    merchant_id=merchant_id,
                    direction="in",
                    text="x",
                    created_at=NOW - timedelta(seconds=seconds),
                )
            )
    with db.connection() as connection:
        row, over = limit.merchant_row_and_over(connection, db.driver, "telegram", "7", NOW)
        assert row is not None and row.id == merchant_id and not over
        assert limit.merchant_row_and_over(connection, db.driver, "telegram", "9", NOW) == (
            None,
            False,
        )
    with db.session() as session:
        session.add(Message(merchant_id=merchant_id, direction="in", text="y", created_at=NOW))
    with db.connection() as connection:
        _, over = limit.merchant_row_and_over(connection, db.driver, "telegram", "7", NOW)
        assert over


def test_save_merchant_row_writes_flow_and_changes(db: Database) -> None:
    with db.connection() as connection:
        row = rows.find_merchant(connection, db.driver, "telegram", "7")
        assert row is not None
        row.flow, row.flow_state = "profile", {"step": "online"}
        row.changes.update(trade="resto", reminders=True)
        turns.save_merchant(connection, row, NOW, flow=True, driver=db.driver)
        assert row.changes == {}
    orm = _merchant(db)
    assert (orm.flow, orm.flow_state, orm.trade, orm.reminders) == (
        "profile",
        {"step": "online"},
        "resto",
        True,
    )
    assert orm.sells_online is None
    assert orm.last_seen_at.replace(tzinfo=UTC) == NOW


def test_diagnostic_rows(db: Database) -> None:
    merchant_id = _merchant(db).id
    with db.connection() as connection:
        assert rows.open_diagnostic(connection, db.driver, merchant_id) is None
        first = rows.new_diagnostic(connection, db.driver, merchant_id)
        rows.save_answers(connection, db.driver, first, {"q1": "a"})
        assert first.answers == {"q1": "a"}
        assert rows.open_diagnostic(connection, db.driver, merchant_id) == first
        assert rows.previous_scores(connection, db.driver, merchant_id, first.id) is None
        rows.complete(connection, db.driver, first.id, {"web": 40, "overall": 40})
        assert rows.open_diagnostic(connection, db.driver, merchant_id) is None
        second = rows.new_diagnostic(connection, db.driver, merchant_id)
        assert rows.open_diagnostic(connection, db.driver, merchant_id) == second
        assert rows.previous_scores(connection, db.driver, merchant_id, second.id) == {
            "web": 40,
            "overall": 40,
        }
    with db.session() as session:
        results = list(session.scalars(select(DiagnosticResult).order_by(DiagnosticResult.id)))
    assert [(r.answers, r.scores, r.completed) for r in results] == [
        ({"q1": "a"}, {"web": 40, "overall": 40}, True),
        ({}, {}, False),
    ]
    assert results[0].completed_at is not None and results[1].completed_at is None
    assert results[1].created_at is not None


def test_checklist_progress_and_runs(db: Database) -> None:
    merchant_id = _merchant(db).id
    later = NOW + timedelta(days=3)
    with db.connection() as connection:
        driver = db.driver
        assert not progress.touch_run(connection, driver, merchant_id, "site", NOW)
        progress.start_run(connection, driver, merchant_id, "site", NOW)
        progress.start_run(connection, driver, merchant_id, "site", later)  # kept as started
        assert progress.touch_run(connection, driver, merchant_id, "site", later)
        progress.set_status(connection, driver, merchant_id, "site", "s1", "later", NOW)
        progress.set_status(connection, driver, merchant_id, "site", "s1", "done", NOW)
        progress.set_status(connection, driver, merchant_id, "site", "s2", "skipped", NOW)
        assert progress.statuses(connection, driver, merchant_id, "site") == {
            "s1": "done",
            "s2": "skipped",
        }
        progress.remind_run(connection, driver, merchant_id, "site", NOW, later)
        progress.remind_run(connection, driver, merchant_id, "avis", NOW, later)  # starts it
        progress.finish_run(connection, driver, merchant_id, "site", NOW)
        progress.finish_run(connection, driver, merchant_id, "site", later)  # first end kept
    with db.session() as session:
        runs = {r.checklist_id: r for r in session.scalars(select(ChecklistRun))}
        assert (
            session.scalar(
                select(ChecklistProgress.status).where(ChecklistProgress.step_id == "s1")
            )
            == "done"
        )
    site, avis = runs["site"], runs["avis"]
    assert site.started_at.replace(tzinfo=UTC) == NOW
    assert site.updated_at.replace(tzinfo=UTC) == later
    assert site.finished_at is not None and site.finished_at.replace(tzinfo=UTC) == NOW
    assert site.remind_at is None
    assert avis.remind_at is not None and avis.remind_at.replace(tzinfo=UTC) == later
    assert avis.finished_at is None


def test_a_reply_written_as_a_row_is_the_message_the_orm_object_writes(db: Database) -> None:
    """A quick press's replies are written from plain values (`turns.message_row`), where
    other turns write `Message` objects: the same row either way."""
    merchant_id = _merchant(db).id
    values: dict[str, object] = {
        "merchant_id": merchant_id,
        "direction": "out",
        "author": "bot",
        "kind": "text",
        "text": "Question 2/9",
        "html": "<b>Question 2/9</b>",
        "buttons": [[{"text": "Oui", "data": "dg:a:1:0"}]],
        "delivered": False,
        "claimed_until": NOW + timedelta(seconds=60),
        "created_at": NOW,
    }
    with db.connection() as connection:
        ids = turns.insert_rows(
            connection, [turns.message_row(values), Message(**values)], db.driver
        )
    columns = [c for c in Message.__table__.columns if c.key != "id"]
    with db.session() as session:
        written = session.execute(
            select(*columns).where(Message.id.in_(ids)).order_by(Message.id)
        ).all()
    assert len(written) == 2 and written[0] == written[1]
    assert written[0].buttons == values["buttons"] and written[0].entities == []
