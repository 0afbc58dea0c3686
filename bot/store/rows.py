"""A quick press's reads as plain rows, on the turn's connection: no ORM session, no object.

Why: a diagnostic answer's turn spent about half its time in the ORM, not in the database:
loading the merchant as an object (with the flood count) a quarter, opening and committing
a session a seventh, loading the open diagnostic another seventh (benchmarks/RESULTS.md,
issue 12). The flows a quick press reaches read and change these dataclasses; the turn
writes them back with Core statements (`bot.store.turns.save_merchant`, below).
The statements run on the driver, sqlite3 or psycopg (`bot.store.driver`).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from sqlalchemy import Connection, bindparam, insert, select, update

from .driver import DriverStatements
from .models import DiagnosticResult, Merchant, utcnow

_MERCHANTS = Merchant.__table__
# What the flows of a quick press read of the merchant (in this order: `MerchantRow`'s).
MERCHANT_COLUMNS = (
    _MERCHANTS.c.id,
    _MERCHANTS.c.language,
    _MERCHANTS.c.flow,
    _MERCHANTS.c.flow_state,
    _MERCHANTS.c.handoff_active,
    _MERCHANTS.c.unreachable_at,
)
MERCHANT_ROW = select(*MERCHANT_COLUMNS).where(
    _MERCHANTS.c.channel == bindparam("channel"),
    _MERCHANTS.c.external_id == bindparam("external_id"),
)


@dataclass
class MerchantRow:
    """The merchant as a quick press's flows see it. `changes`: columns a flow set (a
    profile's trade, a reminder's opt-in), written with the turn's UPDATE of the row."""

    id: int
    language: str
    flow: str | None
    flow_state: dict[str, Any]
    handoff_active: bool
    unreachable_at: datetime | None
    changes: dict[str, Any] = field(default_factory=dict)

    @classmethod
    def of(cls, row: Any) -> MerchantRow:
        """From a row of `MERCHANT_COLUMNS` (first six values)."""
        return cls(
            row[0], row[1], row[2], dict(row[3] or {}), bool(row[4]), row[5]
        )  # flow_state: a copy


def find_merchant(
    connection: Connection, driver: DriverStatements, channel: str, external_id: str
) -> MerchantRow | None:
    rows = driver.execute(
        connection, MERCHANT_ROW, {"channel": channel, "external_id": external_id}
    )
    return MerchantRow.of(rows[0]) if rows else None


@dataclass
class DiagnosticRow:
    """A diagnostic in progress: its id and the answers so far (question id -> option id)."""

    id: int
    answers: dict[str, str]


_RESULTS = DiagnosticResult.__table__
OPEN_DIAGNOSTIC = (
    select(_RESULTS.c.id, _RESULTS.c.answers)
    .where(_RESULTS.c.merchant_id == bindparam("merchant"), _RESULTS.c.completed.is_(False))
    .order_by(_RESULTS.c.id.desc())
    .limit(1)
)
PREVIOUS_SCORES = (
    select(_RESULTS.c.scores)
    .where(
        _RESULTS.c.merchant_id == bindparam("merchant"),
        _RESULTS.c.completed.is_(True),
        _RESULTS.c.id != bindparam("result"),
    )
    .order_by(_RESULTS.c.id.desc())
    .limit(1)
)
_NEW_DIAGNOSTIC_COLUMNS = ("merchant_id", "answers", "scores", "completed", "created_at")
NEW_DIAGNOSTIC = insert(_RESULTS).returning(_RESULTS.c.id)
SAVE_ANSWERS = (
    update(_RESULTS).where(_RESULTS.c.id == bindparam("result")).values(answers=bindparam("new"))
)
COMPLETE = (
    update(_RESULTS)
    .where(_RESULTS.c.id == bindparam("result"))
    .values(scores=bindparam("new_scores"), completed=True, completed_at=bindparam("at"))
)


def open_diagnostic(
    connection: Connection, driver: DriverStatements, merchant_id: int
) -> DiagnosticRow | None:
    """The merchant's latest unfinished diagnostic, if any."""
    rows = driver.execute(connection, OPEN_DIAGNOSTIC, {"merchant": merchant_id})
    return DiagnosticRow(rows[0][0], dict(rows[0][1] or {})) if rows else None


def previous_scores(
    connection: Connection, driver: DriverStatements, merchant_id: int, result_id: int
) -> dict[str, Any] | None:
    """The scores of the merchant's latest completed diagnostic other than `result_id`."""
    values = {"merchant": merchant_id, "result": result_id}
    rows = driver.execute(connection, PREVIOUS_SCORES, values)
    return rows[0][0] if rows else None


def new_diagnostic(
    connection: Connection, driver: DriverStatements, merchant_id: int
) -> DiagnosticRow:
    values = {
        "merchant_id": merchant_id,
        "answers": {},
        "scores": {},
        "completed": False,
        "created_at": utcnow(),
    }
    rows = driver.execute(connection, NEW_DIAGNOSTIC, values, _NEW_DIAGNOSTIC_COLUMNS)
    return DiagnosticRow(rows[0][0], {})


def save_answers(
    connection: Connection, driver: DriverStatements, result: DiagnosticRow, answers: dict[str, str]
) -> None:
    """One press's answer recorded (the row and `result` both)."""
    driver.execute(connection, SAVE_ANSWERS, {"result": result.id, "new": answers})
    result.answers = answers


def complete(
    connection: Connection, driver: DriverStatements, result_id: int, scores: dict[str, int]
) -> None:
    values = {"result": result_id, "new_scores": scores, "at": utcnow()}
    driver.execute(connection, COMPLETE, values)
