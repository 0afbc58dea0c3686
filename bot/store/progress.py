"""A checklist press's reads and writes, as Core statements built once: the step's status in
one upsert, the run's "used now" in one UPDATE, the run started, finished or set to remind
by one statement each. Through the ORM the same press read the step's row, changed it or
added one, and flushed both objects: a unit of work that cost several times the statements
(benchmarks/RESULTS.md, issue 12). They run on the turn's connection (a quick press holds
no ORM session), on the driver: sqlite3 or psycopg (`bot.store.driver`)."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import Connection, bindparam, func, select, update
from sqlalchemy.dialects.postgresql import insert as postgresql_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert

from .driver import DriverStatements
from .models import ChecklistProgress, ChecklistRun

_PROGRESS = ChecklistProgress.__table__
_RUNS = ChecklistRun.__table__
_KEY = ("merchant_id", "checklist_id", "step_id")  # the table's unique constraint
_STATUS_COLUMNS = (*_KEY, "status", "updated_at")
_RUN_COLUMNS = ("merchant_id", "checklist_id", "started_at", "updated_at")


def _upsert(insert):  # type: ignore[no-untyped-def]
    statement = insert(_PROGRESS)
    return statement.on_conflict_do_update(
        index_elements=list(_KEY),
        set_={"status": statement.excluded.status, "updated_at": statement.excluded.updated_at},
    )


SET_STATUS = {"postgresql": _upsert(postgresql_insert), "sqlite": _upsert(sqlite_insert)}
STATUSES = select(_PROGRESS.c.step_id, _PROGRESS.c.status).where(
    _PROGRESS.c.merchant_id == bindparam("merchant"),
    _PROGRESS.c.checklist_id == bindparam("checklist"),
)
_THE_RUN = (
    _RUNS.c.merchant_id == bindparam("merchant"),
    _RUNS.c.checklist_id == bindparam("checklist"),
)
TOUCH_RUN = update(_RUNS).where(*_THE_RUN).values(updated_at=bindparam("now"))
# A run starts once (the table's unique constraint): a second start does nothing.
START_RUN = {
    "postgresql": postgresql_insert(_RUNS).on_conflict_do_nothing(),
    "sqlite": sqlite_insert(_RUNS).on_conflict_do_nothing(),
}
FINISH_RUN = (
    update(_RUNS)
    .where(*_THE_RUN)
    .values(finished_at=func.coalesce(_RUNS.c.finished_at, bindparam("now")), remind_at=None)
)
REMIND_RUN = update(_RUNS).where(*_THE_RUN).values(remind_at=bindparam("at"))


def set_status(
    connection: Connection,
    driver: DriverStatements,
    merchant_id: int,
    checklist_id: str,
    step_id: str,
    status: str,
    now: datetime,
) -> None:
    """The step's status (done, later, skipped), its row added on the first press."""
    values = {
        "merchant_id": merchant_id,
        "checklist_id": checklist_id,
        "step_id": step_id,
        "status": status,
        "updated_at": now,
    }
    statement = SET_STATUS[connection.dialect.name]
    driver.execute(connection, statement, values, _STATUS_COLUMNS)


def statuses(
    connection: Connection, driver: DriverStatements, merchant_id: int, checklist_id: str
) -> dict[str, str]:
    """Step id -> status: plain rows (never a stale object of a session's identity map)."""
    values = {"merchant": merchant_id, "checklist": checklist_id}
    rows = driver.execute(connection, STATUSES, values)
    return {step_id: status for step_id, status in rows}


def touch_run(
    connection: Connection,
    driver: DriverStatements,
    merchant_id: int,
    checklist_id: str,
    now: datetime,
) -> bool:
    """The run was used now; False when there is no run yet (the caller starts it)."""
    values = {"merchant": merchant_id, "checklist": checklist_id, "now": now}
    return driver.changed(connection, TOUCH_RUN, values) > 0


def start_run(
    connection: Connection,
    driver: DriverStatements,
    merchant_id: int,
    checklist_id: str,
    now: datetime,
) -> None:
    """The merchant's run of this checklist, started now unless it already was."""
    values = {
        "merchant_id": merchant_id,
        "checklist_id": checklist_id,
        "started_at": now,
        "updated_at": now,
    }
    driver.execute(connection, START_RUN[connection.dialect.name], values, _RUN_COLUMNS)


def finish_run(
    connection: Connection,
    driver: DriverStatements,
    merchant_id: int,
    checklist_id: str,
    now: datetime,
) -> None:
    """Every step finished: the run ends (its first end kept) and reminds no more."""
    start_run(connection, driver, merchant_id, checklist_id, now)
    values = {"merchant": merchant_id, "checklist": checklist_id, "now": now}
    driver.execute(connection, FINISH_RUN, values)


def remind_run(
    connection: Connection,
    driver: DriverStatements,
    merchant_id: int,
    checklist_id: str,
    now: datetime,
    at: datetime,
) -> None:
    """A reminder of this checklist due `at` (the run started now if it was not)."""
    start_run(connection, driver, merchant_id, checklist_id, now)
    values = {"merchant": merchant_id, "checklist": checklist_id, "at": at}
    driver.execute(connection, REMIND_RUN, values)
