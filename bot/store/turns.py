"""The statements every turn runs, built once: a turn's storage is a few round-trips, and
building SQLAlchemy expressions anew for each message was a visible part of its CPU.

Plain statements with bound parameters (thread-safe, immutable), executed on the turn's
session or on a bare connection where no ORM object is involved.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from datetime import datetime
from itertools import combinations

from sqlalchemy import BigInteger, Connection, Integer, any_, bindparam, insert, select, update
from sqlalchemy.dialects.postgresql import ARRAY
from sqlalchemy.dialects.postgresql import insert as postgresql_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.orm import Session, make_transient_to_detached
from sqlalchemy.orm.attributes import set_committed_value

from .driver import DriverStatements
from .models import Merchant, Message, ProcessedUpdate
from .rows import MerchantRow

MERCHANT = select(Merchant).where(
    Merchant.channel == bindparam("channel"), Merchant.external_id == bindparam("external_id")
)
# Locked, and the row's values loaded afresh: the turn may have read it unlocked before (with
# the flood count), and another transaction may have changed it since.
MERCHANT_LOCKED = MERCHANT.with_for_update().execution_options(populate_existing=True)

# ON CONFLICT DO NOTHING: a re-delivered update inserts (and returns) nothing, in one
# statement instead of a read then a write; on PostgreSQL a concurrent insert of the same
# update_id waits for the other transaction and then finds it, instead of failing.
_UPDATES = ProcessedUpdate.__table__
_RECORD_UPDATE_COLUMNS = ("update_id", "merchant_id")
_RECORD_UPDATE = {
    "postgresql": postgresql_insert(_UPDATES)
    .on_conflict_do_nothing()
    .returning(_UPDATES.c.update_id),
    "sqlite": sqlite_insert(_UPDATES).on_conflict_do_nothing().returning(_UPDATES.c.update_id),
}

# The same with the chat's merchant found by the statement itself (PostgreSQL, a quick
# press in pipeline mode): queued with the merchant's read, it needs no round trip of its own.
_MERCHANTS_TABLE = Merchant.__table__
RECORD_CHAT_UPDATE = (
    postgresql_insert(_UPDATES)
    .from_select(
        ["update_id", "merchant_id"],
        select(bindparam("update_id", type_=BigInteger), _MERCHANTS_TABLE.c.id).where(
            _MERCHANTS_TABLE.c.channel == bindparam("channel"),
            _MERCHANTS_TABLE.c.external_id == bindparam("external_id"),
        ),
    )
    .on_conflict_do_nothing()
    .returning(_UPDATES.c.update_id)
)

# A turn's new messages by Core statements, where the ORM's unit of work cost more than
# the statements: on the driver a row at a time (`insert_rows`), else (SQLAlchemy's
# execution, which tests compare with) one INSERT … RETURNING, ids in the rows' order.
_MESSAGES = Message.__table__
INSERT_MESSAGES = insert(_MESSAGES).returning(_MESSAGES.c.id, sort_by_parameter_order=True)
# One statement needs the same columns in every row: each row names these, with the model's
# defaults where the message left them unset (merchant_id, direction, created_at are set).
_MESSAGE_DEFAULTS: dict[str, object] = {
    "author": "merchant",
    "kind": "text",
    "text": "",
    "html": "",
    "intent": None,
    "confidence": None,
    "entities": [],
    "hits": [],
    "buttons": [],
    "answered": None,
    "delivered": True,
    "claimed_until": None,
    "flooded": False,
}

_MESSAGE_COLUMNS = ("merchant_id", "direction", "created_at", *_MESSAGE_DEFAULTS)
_INSERT_MESSAGE = insert(_MESSAGES).returning(_MESSAGES.c.id)  # one row (SQLite's driver)

DELIVERED = (
    update(Message)
    .where(Message.id.in_(bindparam("ids", expanding=True)))
    .values(delivered=True, claimed_until=None)
)
RELEASED = (
    update(Message)
    .where(Message.id.in_(bindparam("ids", expanding=True)))
    .values(claimed_until=None)
)
# The same, one id at a time (executemany on SQLite's driver: no expanding parameter).
_DELIVERED_ONE = (
    update(_MESSAGES)
    .where(_MESSAGES.c.id == bindparam("message_id"))
    .values(delivered=True, claimed_until=None)
)
_RELEASED_ONE = (
    update(_MESSAGES).where(_MESSAGES.c.id == bindparam("message_id")).values(claimed_until=None)
)
# The same on psycopg's driver: the ids as one array parameter (no expanding parameter).
_ANY_ID = _MESSAGES.c.id == any_(bindparam("ids", type_=ARRAY(Integer)))
_DELIVERED_ANY = update(_MESSAGES).where(_ANY_ID).values(delivered=True, claimed_until=None)
_RELEASED_ANY = update(_MESSAGES).where(_ANY_ID).values(claimed_until=None)


# The end of a turn: when the merchant was seen, and (when a flow moved on) its flow. One
# Core UPDATE: the ORM's unit of work for the same row cost several times the statement.
_MERCHANTS = Merchant.__table__
_SEEN = update(_MERCHANTS).where(_MERCHANTS.c.id == bindparam("merchant_id"))
SEEN = _SEEN.values(last_seen_at=bindparam("now"))
SEEN_IN_FLOW = _SEEN.values(
    last_seen_at=bindparam("now"), flow=bindparam("new_flow"), flow_state=bindparam("new_state")
)


def find_merchant(session: Session, channel: str, external_id: str, lock: bool) -> Merchant | None:
    """`lock`: FOR UPDATE (PostgreSQL), so a flooding chat's turns queue on its row."""
    statement = MERCHANT_LOCKED if lock else MERCHANT
    return session.scalar(statement, {"channel": channel, "external_id": external_id})


# A new merchant, every column written (the model's defaults where the turn sets nothing):
# the object attached afterwards has them all loaded, so reading one runs no SELECT.
_INSERT_MERCHANT = insert(_MERCHANTS_TABLE).returning(_MERCHANTS_TABLE.c.id)
_MERCHANT_COLUMNS = tuple(
    column.key for column in _MERCHANTS_TABLE.columns if not column.primary_key
)


def add_merchant(session: Session, values: dict[str, object], driver: DriverStatements) -> Merchant:
    """Insert a new merchant (`values`: its channel, external_id and any other column) by a
    Core statement, and attach it to the session as the unit of work would have: persistent,
    with its id and every value written, so that what changes on it later is flushed as an
    UPDATE. Why: the ORM's INSERT of one object (a flush) cost several times the statement,
    and every merchant's first message pays it (issue 12)."""
    row = {key: values[key] if key in values else _default(key) for key in _MERCHANT_COLUMNS}
    session.flush()  # pending changes first, as a flush would order them
    [[merchant_id]] = driver.execute(session.connection(), _INSERT_MERCHANT, row, _MERCHANT_COLUMNS)
    merchant = Merchant(id=merchant_id, **row)
    merchant.messages = []  # a new merchant has none: reading them runs no SELECT
    make_transient_to_detached(merchant)
    session.add(merchant)
    return merchant


def _default(key: str) -> object:
    """The model's default for a merchant's column, as the ORM computes it."""
    default = _MERCHANTS_TABLE.columns[key].default
    if default is None:
        return None
    return default.arg(None) if default.is_callable else default.arg  # type: ignore[attr-defined]


def _connection(target: Session | Connection) -> Connection:
    """The connection (and transaction) of a session, or the bare connection itself."""
    return target.connection() if isinstance(target, Session) else target


def record_update(
    target: Session | Connection, update_id: int, merchant_id: int, driver: DriverStatements
) -> bool:
    """Record a Telegram update as handled; False if it already was (a re-delivery)."""
    connection = _connection(target)
    statement = _RECORD_UPDATE[connection.dialect.name]
    values = {"update_id": update_id, "merchant_id": merchant_id}
    # (The row count is no answer: psycopg reports -1 for this statement.)
    return bool(driver.execute(connection, statement, values, _RECORD_UPDATE_COLUMNS))


def start_recording(
    connection: Connection, update_id: int, channel: str, external_id: str, driver: DriverStatements
) -> Callable[[], bool] | None:
    """`record_update` for the chat's merchant, queued now (psycopg's pipeline mode: sent
    with the next statement whose result is read, the merchant's read); the function
    returned tells whether it was new. None where this cannot be queued (SQLite, outside
    pipeline mode): call `record_update` once the merchant is read. The caller rolls back
    if the merchant read is not one the turn goes on with (the update was recorded)."""
    if connection.dialect.name != "postgresql" or not driver.pipelined(connection):
        return None
    direct = driver.get(RECORD_CHAT_UPDATE)
    if direct is None:
        return None
    values = {"update_id": update_id, "channel": channel, "external_id": external_id}
    rows = direct.start(connection, values)
    return lambda: bool(rows())


# The columns a quick press's flows may set on a `MerchantRow` (its `changes`), and the
# turn's UPDATE for each set of them, with or without the flow: built once.
_CHANGEABLE = ("reminders", "sells_online", "trade")
_SEEN_WITH = {
    (flow, changed): _SEEN.values(
        last_seen_at=bindparam("now"),
        **({"flow": bindparam("new_flow"), "flow_state": bindparam("new_state")} if flow else {}),
        **{name: bindparam(f"new_{name}") for name in changed},
    )
    for flow in (False, True)
    for size in range(1, len(_CHANGEABLE) + 1)
    for changed in combinations(_CHANGEABLE, size)
}


def save_merchant(
    target: Session | Connection,
    merchant: Merchant | MerchantRow,
    now: datetime,
    flow: bool,
    driver: DriverStatements,
) -> None:
    """Write when the merchant was seen and, with `flow`, its flow and flow_state as they are
    on the object (set there with `set_committed_value`, so the unit of work, which flushes
    only what an object was told changed, does not write them again); a `MerchantRow`'s
    `changes` with them."""
    connection = _connection(target)  # Core: no autoflush, no ORM bulk-update bookkeeping
    values: dict[str, object] = {"merchant_id": merchant.id, "now": now}
    if flow:
        values.update(new_flow=merchant.flow, new_state=merchant.flow_state)
    statement = SEEN_IN_FLOW if flow else SEEN
    if isinstance(merchant, MerchantRow) and merchant.changes:
        statement = _SEEN_WITH[flow, tuple(sorted(merchant.changes))]
        values.update({f"new_{name}": value for name, value in merchant.changes.items()})
        merchant.changes = {}
    driver.execute(connection, statement, values)
    if isinstance(merchant, Merchant):
        set_committed_value(merchant, "last_seen_at", now)


def mark(connection: Connection, ids: list[int], delivered: bool, driver: DriverStatements) -> None:
    """Replies sent (delivered) or given back to every worker's delivery job (released).
    On SQLite's driver one id at a time (it takes no list parameter); on PostgreSQL one
    statement for them all, the ids as an array."""
    name = connection.dialect.name
    if name == "sqlite":
        direct = driver.get(_DELIVERED_ONE if delivered else _RELEASED_ONE)
        if direct is not None:
            direct.execute_many(connection, [{"message_id": i} for i in ids])
            return
    elif name == "postgresql":
        statement = _DELIVERED_ANY if delivered else _RELEASED_ANY
        if driver.get(statement) is not None:
            driver.send(connection, statement, {"ids": ids})
            return
    connection.execute(DELIVERED if delivered else RELEASED, {"ids": ids})


def insert_messages(
    session: Session, messages: Sequence[Message | dict[str, object]], driver: DriverStatements
) -> list[int]:
    """Insert new messages (not added to the session; a message as an object or as its row,
    `message_row`) after the session's pending changes; their ids, in order."""
    if not messages:
        return []
    session.flush()
    return insert_rows(session.connection(), messages, driver)


def message_row(values: dict[str, object]) -> dict[str, object]:
    """A new message as `insert_rows` writes it, from the values set on it (the rest the
    model's defaults): what `Message(**values)` would be written as, without the object."""
    row = dict(values)
    for name, default in _MESSAGE_DEFAULTS.items():
        if row.get(name) is None:  # left out, or set to None as the ORM's default would be
            row[name] = default
    return row


def insert_rows(
    connection: Connection,
    messages: Sequence[Message | dict[str, object]],
    driver: DriverStatements,
) -> list[int]:
    """`insert_messages` on a bare connection (a quick press: no session to flush), a row
    at a time on the driver. On PostgreSQL every row is sent before the first id is read
    (one round trip, with the pending statements in pipeline mode): SQLAlchemy's multi-row
    INSERT, which keeps the rows' order by its own means, cost 0.2 ms more a call (issue 12)."""
    rows = [message if isinstance(message, dict) else _row(message) for message in messages]
    direct = driver.get(_INSERT_MESSAGE, _MESSAGE_COLUMNS)
    if direct is None:
        return [row.id for row in connection.execute(INSERT_MESSAGES, rows)]
    if connection.dialect.name == "postgresql" and len(rows) > 1:
        return [returned[0] for returned in direct.returning_each(connection, rows)]
    return [direct.execute(connection, row)[0][0] for row in rows]


def insert_now(session: Session, message: Message, driver: DriverStatements) -> int:
    """Insert a new message (not in the session yet) now, after the session's pending
    changes, by `insert_messages`' Core statement, and attach it to the session as the unit
    of work would have: with its id and the values written, so that what changes on it later
    is flushed as an UPDATE of those columns. Its id.

    Why: a reply's buttons need the merchant's message id before the turn ends, and the ORM's
    INSERT of one object cost several times the statement (issue 12)."""
    row = _row(message)
    for name, value in row.items():
        if getattr(message, name) is None:
            setattr(message, name, value)  # the default written, as the ORM sets it
    if message.feedback is None:
        message.feedback = None  # loaded (not expired): reading it runs no SELECT
    [message.id] = insert_messages(session, [message], driver)
    make_transient_to_detached(message)
    session.add(message)
    return message.id


def _row(message: Message) -> dict[str, object]:
    row: dict[str, object] = {
        "merchant_id": message.merchant_id,
        "direction": message.direction,
        "created_at": message.created_at,
    }
    for name, default in _MESSAGE_DEFAULTS.items():
        value = getattr(message, name)
        row[name] = default if value is None else value
    return row
