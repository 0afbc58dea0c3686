"""What a turn writes, and in how many statements (SQLite and PostgreSQL): the merchant's
message inserted once with what the turn learnt, before its replies; the update_id recorded
once; a diagnostic press kept to a handful of statements."""

from __future__ import annotations

import json
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager

from sqlalchemy import event, select
from sqlalchemy.orm import Session

from bot.assistant import Assistant
from bot.messages import Incoming
from bot.store.models import ChecklistProgress, ChecklistRun, Merchant, Message, ProcessedUpdate


@contextmanager
def statements(services) -> Iterator[list[str]]:  # type: ignore[no-untyped-def]
    """The SQL statements sent to the database while the block runs (first word and table)."""
    sent: list[str] = []
    engine = services.db.engine
    if engine.dialect.name == "sqlite":
        # What SQLite itself runs: the statements a turn sends on the driver directly
        # (`bot.store.driver`) are no SQLAlchemy execution.
        def trace(statement: str) -> None:
            sent.append(" ".join(statement.split()[:4]))

        def checkout(dbapi_connection, record, proxy) -> None:  # type: ignore[no-untyped-def]
            dbapi_connection.set_trace_callback(trace)

        def checkin(dbapi_connection, record) -> None:  # type: ignore[no-untyped-def]
            dbapi_connection.set_trace_callback(None)

        hooks = [("checkout", checkout), ("checkin", checkin)]
    else:
        # What psycopg's cursors run, SQLAlchemy's execution and the driver's alike.
        import psycopg

        class Traced(psycopg.Cursor):  # type: ignore[type-arg]
            def execute(self, query, params=None, **kwargs):  # type: ignore[no-untyped-def]
                sent.append(" ".join(str(query).split()[:4]))
                return super().execute(query, params, **kwargs)

            def executemany(self, query, params_seq, **kwargs):  # type: ignore[no-untyped-def]
                sent.append(" ".join(str(query).split()[:4]))
                return super().executemany(query, params_seq, **kwargs)

        def traced(dbapi_connection, record, proxy) -> None:  # type: ignore[no-untyped-def]
            dbapi_connection.cursor_factory = Traced

        def untraced(dbapi_connection, record) -> None:  # type: ignore[no-untyped-def]
            dbapi_connection.cursor_factory = psycopg.Cursor

        hooks = [("checkout", traced), ("checkin", untraced)]
    for name, hook in hooks:
        event.listen(engine, name, hook)
    try:
        yield sent
    finally:
        for name, hook in hooks:
            event.remove(engine, name, hook)


def message_inserts(services, rows: int) -> int:  # type: ignore[no-untyped-def]
    """INSERT statements for `rows` new messages: one on PostgreSQL (psycopg sends the rows
    in one round trip), one per row on SQLite."""
    return 1 if services.db.shared_by_workers else rows


def rows(services, user: str) -> list[Message]:  # type: ignore[no-untyped-def]
    with services.db.session() as session:
        return list(session.scalars(select(Message).order_by(Message.id)))


def test_a_question_is_stored_once_with_what_was_understood(services) -> None:  # type: ignore[no-untyped-def]
    assistant = Assistant(services)
    assistant.process(Incoming("test", "7", "text", "bonjour", update_id=1))
    flushed: list[str] = []

    def before_flush(session, context, instances) -> None:  # type: ignore[no-untyped-def]
        flushed.extend(type(o).__name__ for o in (*session.new, *session.dirty))

    event.listen(Session, "before_flush", before_flush)
    try:
        with statements(services) as sent:
            outcome = assistant.process(
                Incoming("test", "7", "text", "comment accepter la carte bancaire", update_id=2)
            )
    finally:
        event.remove(Session, "before_flush", before_flush)
    # Stored early (for its buttons) with what the turn had learnt, then left unchanged: the
    # ORM is not asked to compare it again at the end (a flush of nothing, 0.4 ms).
    assert "Message" not in flushed
    inserts = [s for s in sent if s.startswith("INSERT INTO messages")]
    updates = [s for s in sent if s.startswith("UPDATE messages")]
    # The question first (the feedback buttons carry its id), then its replies.
    assert len(inserts) == 1 + message_inserts(services, len(outcome.replies))
    assert updates == []
    question, *replies = rows(services, "7")[2:]
    assert question.direction == "in" and question.intent == outcome.intent
    assert question.hits and question.confidence is not None and question.answered is not None
    # The feedback buttons carry the question's id; the replies come after it.
    assert [r.id for r in replies] == outcome.reply_ids
    assert all(r.id > question.id for r in replies)
    buttons = json.dumps([r.buttons for r in replies])
    assert f"fb:{question.id}:+" in buttons


def test_a_new_merchant_is_written_in_one_statement_as_the_orm_writes_it(services) -> None:  # type: ignore[no-untyped-def]
    """A merchant's first message inserts the merchant by one Core INSERT (the ORM's flush of
    one object cost several times the statement); the row holds what the ORM writes, and the
    object the turn goes on with is loaded (no SELECT) and updated like any other."""
    from bot.store import turns

    with statements(services) as sent:
        outcome = Assistant(services).process(
            Incoming("test", "20", "text", "bonjour", first_name="Léa", update_id=40)
        )
    assert outcome.replies
    [inserted] = [i for i, s in enumerate(sent) if s.startswith("INSERT INTO merchants")]
    assert not any(s.startswith("SELECT merchants") for s in sent[inserted:])
    with services.db.session() as session:
        by_orm = Merchant(channel="test", external_id="21", first_name="Léa", language="fr")
        session.add(by_orm)
    with services.db.session() as session:
        first, second = session.scalars(
            select(Merchant).where(Merchant.external_id.in_(["20", "21"])).order_by(Merchant.id)
        )
        skipped = {"id", "external_id", "created_at", "last_seen_at"}
        columns = [c.key for c in Merchant.__table__.columns if c.key not in skipped]
        assert [getattr(first, c) for c in columns] == [getattr(second, c) for c in columns]
        assert first.created_at is not None and first.last_seen_at is not None

    with statements(services) as sent, services.db.writing() as session:
        added = turns.add_merchant(
            session, {"channel": "test", "external_id": "22"}, services.db.driver
        )
        assert sent[-1].startswith("INSERT INTO merchants")
        loaded = (added.id, added.flow_state, added.tags, added.messages, added.news_consent)
        assert sent[-1].startswith("INSERT INTO merchants")  # read without a SELECT
        assert loaded[1:] == ({}, [], [], False)
        added.trade = "fleuriste"
    with services.db.session() as session:
        assert session.get(Merchant, added.id).trade == "fleuriste"  # type: ignore[union-attr]


def test_a_greeting_inserts_its_message_with_its_reply(services) -> None:  # type: ignore[no-untyped-def]
    assistant = Assistant(services)
    assistant.process(Incoming("test", "8", "text", "bonjour", update_id=10))
    with statements(services) as sent:
        outcome = assistant.process(Incoming("test", "8", "text", "merci beaucoup", update_id=11))
    assert outcome.replies
    inserts = sum(s.startswith("INSERT INTO messages") for s in sent)
    assert inserts == message_inserts(services, 1 + len(outcome.replies))
    assert not any(s.startswith(("UPDATE messages", "SELECT processed_updates")) for s in sent)
    stored = rows(services, "8")[-1 - len(outcome.replies)]
    assert stored.text == "merci beaucoup" and stored.intent == outcome.intent


def test_a_diagnostic_press_takes_a_few_statements_and_an_update_is_answered_once(services) -> None:  # type: ignore[no-untyped-def]
    assistant = Assistant(services)
    outcome = assistant.process(Incoming("test", "9", "command", "diagnostic", update_id=20))
    assistant.mark_delivered(outcome.reply_ids)
    answer = next(
        b.data for row in outcome.replies[-1].buttons for b in row if b.data.startswith("dg:a:0:")
    )
    press = Incoming("test", "9", "button", answer, update_id=21)
    with statements(services) as sent:
        outcome = assistant.process(press)
        assistant.mark_delivered(outcome.reply_ids)
    assert outcome.replies[0].replaces_pressed
    # The merchant with the flood count, update_id, the open diagnostic, its answers, the
    # merchant's flow, the press and its reply (one INSERT on PostgreSQL), replies marked
    # sent (PostgreSQL: plus the chat's lock).
    queries = [s for s in sent if not s.startswith(("BEGIN", "COMMIT", "ROLLBACK", "SAVEPOINT"))]
    locks = sum("pg_advisory_xact_lock" in s for s in queries)
    assert len(queries) - locks <= 6 + message_inserts(services, 2), queries
    assert sum(s.startswith("INSERT INTO messages") for s in queries) == message_inserts(
        services, 2
    )
    # Telegram re-delivers the same update: nothing is answered or stored again.
    before = len(rows(services, "9"))
    assert assistant.process(press).replies == []
    assert len(rows(services, "9")) == before
    with services.db.session() as session:
        assert session.get(ProcessedUpdate, 21) is not None


def test_the_export_lists_the_request_itself(services) -> None:  # type: ignore[no-untyped-def]
    assistant = Assistant(services)
    assistant.process(Incoming("test", "11", "text", "bonjour"))
    [export] = assistant.process(Incoming("test", "11", "command", "mesdonnees")).replies
    assert export.attachment is not None
    texts = [m["text"] for m in json.loads(export.attachment.content)["messages"]]
    assert texts[0] == "bonjour" and "/mesdonnees" in texts


def test_a_flow_step_runs_in_the_callers_thread_only_when_it_need_not_wait(services) -> None:  # type: ignore[no-untyped-def]
    """`process_now` (the Telegram channel's event loop): a diagnostic answer on SQLite with
    the write turn free; otherwise None and nothing stored, so the caller hands the same
    update to `process` in a thread, which answers it once."""
    assistant = Assistant(services)
    started = assistant.process(Incoming("test", "12", "command", "diagnostic", update_id=40))
    assistant.mark_delivered(started.reply_ids)
    answer = next(
        b.data for row in started.replies[-1].buttons for b in row if b.data.startswith("dg:a:0:")
    )
    press = Incoming("test", "12", "button", answer, update_id=41)
    # A press that searches (a topic chosen for a pending question) always goes to a thread.
    assert assistant.process_now(Incoming("test", "12", "button", "tp:ask_payment")) is None
    if services.db.shared_by_workers:
        # PostgreSQL: round trips and the chat's lock would hold the event loop up.
        assert assistant.process_now(press) is None
        assert assistant.mark_delivered(started.reply_ids, wait=False) is False
        return
    stored = len(rows(services, "12"))
    # Another writer of this process holds the write turn.
    with services.db.writing(), ThreadPoolExecutor(1) as loop_thread:
        busy = loop_thread.submit(assistant.process_now, press).result(timeout=30)
        marked = loop_thread.submit(assistant.mark_delivered, [1], False).result(timeout=30)
    assert busy is None and marked is False
    assert len(rows(services, "12")) == stored
    outcome = assistant.process_now(press)
    assert outcome is not None and outcome.replies[0].replaces_pressed
    assert assistant.mark_delivered(outcome.reply_ids, wait=False)
    assert assistant.process(press).replies == []  # the same update again: answered once
    assert all(message.delivered for message in rows(services, "12"))


def test_a_checklist_step_is_written_in_one_statement_and_a_second_press_overwrites_it(
    services,  # type: ignore[no-untyped-def]
) -> None:
    """A step's status is one upsert (no read of the step's row first), the run's "used now"
    one UPDATE; pressing the same step again ("later", then "done") keeps one row."""
    assistant = Assistant(services)
    checklist = sorted(services.kb.checklists)[0]
    assistant.process(Incoming("test", "13", "button", f"ck:o:{checklist}", update_id=50))
    assistant.process(Incoming("test", "13", "button", f"ck:g:{checklist}:0", update_id=51))
    with statements(services) as sent:
        later = assistant.process(
            Incoming("test", "13", "button", f"ck:l:{checklist}:0", update_id=52)
        )
    assert later.replies[0].replaces_pressed
    assert sum(s.startswith("INSERT INTO checklist_progress") for s in sent) == 1
    assert sum(s.startswith("SELECT checklist_progress") for s in sent) == 1  # the next step's
    assert not any(s.startswith("UPDATE checklist_progress") for s in sent)
    assert sum(s.startswith("UPDATE checklist_runs") for s in sent) == 1
    assistant.process(Incoming("test", "13", "button", f"ck:d:{checklist}:0", update_id=53))
    with services.db.session() as session:
        steps = session.execute(
            select(ChecklistProgress.step_id, ChecklistProgress.status).where(
                ChecklistProgress.checklist_id == checklist
            )
        ).all()
        [run] = session.scalars(select(ChecklistRun)).all()
    first = services.kb.checklists[checklist].steps[0].id
    assert steps == [(first, "done")]
    assert run.updated_at >= run.started_at


def test_quick_presses_open_no_orm_session_and_write_what_the_orm_did(services) -> None:  # type: ignore[no-untyped-def]
    """A known merchant's diagnostic answer, checklist step, reminder and profile choice run
    on a bare connection (plain rows, Core statements): no ORM session begins; the rows they
    leave are the flows' usual ones."""
    from sqlalchemy.orm import Session

    assistant = Assistant(services)
    checklist = sorted(services.kb.checklists)[0]
    assistant.process(Incoming("test", "14", "command", "start"))
    assistant.process(Incoming("test", "14", "command", "diagnostic"))
    begun: list[object] = []

    def on_begin(session, transaction, connection) -> None:  # type: ignore[no-untyped-def]
        begun.append(session)

    event.listen(Session, "after_begin", on_begin)
    try:
        profile = assistant.process(Incoming("test", "14", "button", "pf:t:resto"))
        answer = assistant.process(Incoming("test", "14", "button", "dg:a:0:x"))  # stale option
        step = assistant.process(Incoming("test", "14", "button", f"ck:g:{checklist}:0"))
        later = assistant.process(Incoming("test", "14", "button", f"ck:l:{checklist}:0"))
        remind = assistant.process(Incoming("test", "14", "button", f"rm:{checklist}"))
    finally:
        event.remove(Session, "after_begin", on_begin)
    assert begun == []
    assert profile.replies[0].replaces_pressed and "Question" in answer.replies[-1].plain()
    assert step.replies[0].replaces_pressed and later.replies[0].replaces_pressed
    assert remind.replies and remind.reply_ids
    with services.db.session() as session:
        merchant = session.scalar(select(Merchant).where(Merchant.external_id == "14"))
        assert merchant is not None
        assert (merchant.trade, merchant.reminders, merchant.flow) == ("resto", True, "checklist")
        [run] = session.scalars(select(ChecklistRun).where(ChecklistRun.merchant_id == merchant.id))
        assert run.remind_at is not None and run.finished_at is None
        texts = session.scalars(
            select(Message.text).where(
                Message.merchant_id == merchant.id, Message.direction == "in"
            )
        ).all()
    assert texts[-3:] == [f"ck:g:{checklist}:0", f"ck:l:{checklist}:0", f"rm:{checklist}"]


def _press_rows(services, user: str) -> dict[str, object]:  # type: ignore[no-untyped-def]
    """What a merchant's presses left, without ids and times: the merchant's flow and
    choices, the messages, the diagnostics, the checklist's steps and run."""
    from bot.store.models import DiagnosticResult

    with services.db.session() as session:
        merchant = session.scalar(select(Merchant).where(Merchant.external_id == user))
        assert merchant is not None
        messages = session.scalars(
            select(Message).where(Message.merchant_id == merchant.id).order_by(Message.id)
        ).all()
        results = session.scalars(
            select(DiagnosticResult)
            .where(DiagnosticResult.merchant_id == merchant.id)
            .order_by(DiagnosticResult.id)
        ).all()
        steps = session.execute(
            select(ChecklistProgress.step_id, ChecklistProgress.status)
            .where(ChecklistProgress.merchant_id == merchant.id)
            .order_by(ChecklistProgress.step_id)
        ).all()
        runs = session.scalars(select(ChecklistRun).where(ChecklistRun.merchant_id == merchant.id))
        return {
            "merchant": (merchant.flow, merchant.flow_state, merchant.trade, merchant.reminders),
            "messages": [
                (m.direction, m.kind, m.text, m.html, m.buttons, m.delivered) for m in messages
            ],
            "results": [(r.answers, r.scores, r.completed) for r in results],
            "steps": [tuple(step) for step in steps],
            "runs": [(r.finished_at is None, r.remind_at is None) for r in runs],
            "released": [m.claimed_until is None for m in messages],
        }


def test_a_pipelined_press_writes_what_a_plain_one_writes(services) -> None:  # type: ignore[no-untyped-def]
    """PostgreSQL: a quick press's transaction in psycopg's pipeline mode (statements sent
    without waiting for each reply) leaves the rows the same presses leave with every
    statement waited for; SQLite has no pipeline (both runs are the same path there)."""
    assistant = Assistant(services)
    checklist = sorted(services.kb.checklists)[0]
    for user, pipelines in (("30", True), ("31", False)):
        services.db.pipelines = pipelines
        outcome = assistant.process(Incoming("test", user, "command", "diagnostic"))
        assistant.mark_delivered(outcome.reply_ids)
        update_id = 3000 + 100 * int(user == "31")
        for step in range(len(services.kb.diagnostic.questions)):
            buttons = [b.data for row in outcome.replies[-1].buttons for b in row]
            answer = next(d for d in buttons if d.startswith(f"dg:a:{step}:"))
            outcome = assistant.process(Incoming("test", user, "button", answer))
            assistant.mark_delivered(outcome.reply_ids)
        presses = ["pf:t:resto", f"ck:g:{checklist}:0", f"ck:l:{checklist}:1", f"rm:{checklist}"]
        for data in presses:
            update_id += 1
            outcome = assistant.process(Incoming("test", user, "button", data, update_id=update_id))
            assert outcome.replies and outcome.reply_ids
            assistant.mark_delivered(outcome.reply_ids[:1])
            assistant.release(outcome.reply_ids[1:])
        # The same update again: answered once.
        again = assistant.process(Incoming("test", user, "button", data, update_id=update_id))
        assert again.replies == [] and again.reply_ids == []
    assert _press_rows(services, "30") == _press_rows(services, "31")
    assert _press_rows(services, "30")["results"][0][2] is True  # the diagnostic completed


def test_a_press_that_needs_the_orm_turn_records_its_update_once(services) -> None:  # type: ignore[no-untyped-def]
    """On PostgreSQL a quick press records its update with the merchant's read (one
    statement queued with it); a press that then needs the ORM turn (here, the merchant
    writes in another language) rolls that back, and the ORM turn records it: once."""
    assistant = Assistant(services)
    outcome = assistant.process(Incoming("test", "16", "command", "diagnostic", update_id=70))
    assistant.mark_delivered(outcome.reply_ids)
    answer = next(
        b.data for row in outcome.replies[-1].buttons for b in row if b.data.startswith("dg:a:0:")
    )
    press = Incoming("test", "16", "button", answer, update_id=71, language="en")
    answered = assistant.process(press)
    assert answered.replies and answered.stored
    with services.db.session() as session:
        assert session.get(ProcessedUpdate, 71) is not None
        merchant = session.scalar(select(Merchant).where(Merchant.external_id == "16"))
        assert merchant is not None and merchant.language == "en"
    stored = len(rows(services, "16"))
    assert assistant.process(press).replies == []  # the same update again: answered once
    assert len(rows(services, "16")) == stored
