"""A checklist step press's writes, as Core statements built once: the step's status in one
upsert, the run's "used now" in one UPDATE. Through the ORM the same press read the step's
row, changed it or added one, and flushed both objects: a unit of work that cost several
times the statements (benchmarks/RESULTS.md, issue 12)."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import bindparam, select, update
from sqlalchemy.dialects.postgresql import insert as postgresql_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.orm import Session

from .models import ChecklistProgress, ChecklistRun

_PROGRESS = ChecklistProgress.__table__
_RUNS = ChecklistRun.__table__
_KEY = ("merchant_id", "checklist_id", "step_id")  # the table's unique constraint


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
TOUCH_RUN = (
    update(_RUNS)
    .where(_RUNS.c.merchant_id == bindparam("merchant"))
    .where(_RUNS.c.checklist_id == bindparam("checklist"))
    .values(updated_at=bindparam("now"))
)


def set_status(
    session: Session, merchant_id: int, checklist_id: str, step_id: str, status: str, now: datetime
) -> None:
    """The step's status (done, later, skipped), its row added on the first press."""
    statement = SET_STATUS[session.get_bind().dialect.name]
    values = {
        "merchant_id": merchant_id,
        "checklist_id": checklist_id,
        "step_id": step_id,
        "status": status,
        "updated_at": now,
    }
    session.connection().execute(statement, values)


def statuses(session: Session, merchant_id: int, checklist_id: str) -> dict[str, str]:
    """Step id -> status: plain rows (never a stale object of the session's identity map)."""
    rows = session.connection().execute(
        STATUSES, {"merchant": merchant_id, "checklist": checklist_id}
    )
    return {step_id: status for step_id, status in rows}


def touch_run(session: Session, merchant_id: int, checklist_id: str, now: datetime) -> bool:
    """The run was used now; False when there is no run yet (the caller adds it)."""
    values = {"merchant": merchant_id, "checklist": checklist_id, "now": now}
    return session.connection().execute(TOUCH_RUN, values).rowcount > 0
