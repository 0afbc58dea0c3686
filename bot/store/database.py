"""Engine, sessions and migrations. One session per unit of work (one merchant turn)."""

from __future__ import annotations

import hashlib
import select
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager, nullcontext
from pathlib import Path

from sqlalchemy import BigInteger, Connection, Engine, bindparam, create_engine, event, func, text
from sqlalchemy.engine import make_url
from sqlalchemy.exc import DBAPIError, DisconnectionError, SQLAlchemyError
from sqlalchemy.orm import Session, sessionmaker

from .driver import DriverStatements

MIGRATIONS = Path(__file__).resolve().parent / "migrations"
# The newest migration's revision (tests/bot/test_migrations.py checks it): a database
# already there starts without loading Alembic, a quarter of a second of every start.
SCHEMA_REVISION = "0008"


# The chat's lock (PostgreSQL), a prebuilt statement run on the driver (`bot.store.driver`).
_ADVISORY_XACT_LOCK = func.pg_advisory_xact_lock(bindparam("key", type_=BigInteger)).select()


class StoreUnavailable(RuntimeError):
    """The database cannot be reached; callers answer politely and retry later."""


class WriterBusy(RuntimeError):
    """Another writer of this process holds SQLite's write turn, and the caller asked not to
    wait for it (the event loop, which must not block: it hands the work to a thread)."""


def make_engine(url: str) -> Engine:
    parsed = make_url(url)
    if parsed.get_backend_name() == "sqlite":
        if parsed.database and parsed.database != ":memory:":
            Path(parsed.database).parent.mkdir(parents=True, exist_ok=True)
        # LIFO: the event loop's turns take back the connection they last used. Each
        # connection keeps its own page cache, which SQLite empties when another connection
        # wrote since (WAL): taken in turn from the pool (FIFO), every press read its pages
        # again from the files.
        engine = create_engine(
            url,
            connect_args={"check_same_thread": False, "timeout": 30},
            pool_use_lifo=True,
        )

        @event.listens_for(engine, "connect")
        def _sqlite_pragmas(dbapi_connection, _record) -> None:  # type: ignore[no-untyped-def]
            cursor = dbapi_connection.cursor()
            cursor.execute("PRAGMA foreign_keys=ON")  # ON DELETE CASCADE needs it
            cursor.execute("PRAGMA journal_mode=WAL")  # readers do not block the writer
            cursor.execute("PRAGMA synchronous=NORMAL")
            cursor.close()

        return engine
    engine = create_engine(url, pool_size=10, max_overflow=20)
    _ping_when_dropped(engine)
    return engine


# A connection idle in the pool longer than this is pinged at checkout whatever its socket
# says (a connection silently cut by the network sends nothing).
PING_AFTER_IDLE = 30.0


def _ping_when_dropped(engine: Engine) -> None:
    """SQLAlchemy's `pool_pre_ping`, only when it can find something: a connection the server
    dropped (a restart, a terminated backend) has its socket readable in the pool (the
    server's last message, then the end of the stream), where a live idle connection has
    nothing to read; one idle for long is pinged anyway. A failed ping raises
    `DisconnectionError`: the pool replaces the connection and checks out again.

    Why: the pre-ping's `SELECT 1` was a round trip of every checkout, two a PostgreSQL press
    (the turn and the delivery mark), for connections used milliseconds before (issue 12)."""

    @event.listens_for(engine, "checkin")
    def _idle_since(_dbapi_connection, record) -> None:  # type: ignore[no-untyped-def]
        record.info["idle_since"] = time.monotonic()

    @event.listens_for(engine, "checkout")
    def _ping(dbapi_connection, record, _proxy) -> None:  # type: ignore[no-untyped-def]
        idle_since = record.info.pop("idle_since", None)
        if idle_since is None:
            return  # just opened
        socket = select.poll()  # (not `select.select`: no limit on the descriptor's number)
        socket.register(dbapi_connection.fileno(), select.POLLIN)
        if not socket.poll(0) and time.monotonic() - idle_since < PING_AFTER_IDLE:
            return
        try:
            engine.dialect.do_ping(dbapi_connection)
        except engine.dialect.loaded_dbapi.Error as error:
            raise DisconnectionError(str(error)) from error


class Database:
    def __init__(self, url: str) -> None:
        self.url = url
        self.engine = make_engine(url)
        self._sessions = sessionmaker(self.engine, expire_on_commit=False)
        # SQLite has one writer at a time, and a writer that finds the file locked sleeps in
        # growing steps (up to 100 ms) before retrying: under load, turns spent most of their
        # time asleep. Writers of this process queue on a lock instead and start as soon as
        # the previous one commits. PostgreSQL locks rows, so its writers run side by side.
        self._write_turn = threading.Lock() if self.engine.dialect.name == "sqlite" else None
        self._exclusive_local = threading.Lock()
        # The turn's hot statements run on the driver directly (`bot.store.driver`).
        self.driver = DriverStatements(self.engine.dialect)
        # `connection(pipelined=True)` uses psycopg's pipeline mode (tests compare without).
        self.pipelines = True

    @property
    def shared_by_workers(self) -> bool:
        """True on PostgreSQL: several processes may serve the bot, and they coordinate
        through row locks and advisory locks. SQLite serves one process."""
        return self.engine.dialect.name == "postgresql"

    def migrate(self) -> None:
        """Bring the schema to the latest revision (safe to run at every start, by several
        workers at once: the first migrates, the others wait for it, then find nothing to do)."""
        if self.revision() == SCHEMA_REVISION:
            return
        from alembic import command
        from alembic.config import Config

        config = Config()
        config.set_main_option("script_location", str(MIGRATIONS))
        config.set_main_option("sqlalchemy.url", self.url.replace("%", "%%"))
        with self.engine.connect() as connection:
            if self.engine.dialect.name == "sqlite":
                # A migration that rebuilds a table drops the old one: with foreign keys on,
                # that would cascade to every row pointing at it. (Outside a transaction:
                # SQLite ignores this pragma inside one.)
                connection.exec_driver_sql("PRAGMA foreign_keys=OFF")
                connection.commit()
            try:
                with connection.begin():
                    if self.shared_by_workers:
                        connection.execute(
                            text("SELECT pg_advisory_xact_lock(:key)"), {"key": lock_key("migrate")}
                        )
                    config.attributes["connection"] = connection
                    command.upgrade(config, "head")
            finally:
                if self.engine.dialect.name == "sqlite":
                    connection.exec_driver_sql("PRAGMA foreign_keys=ON")
                    connection.commit()

    def lock_for_transaction(self, session: Session | Connection, name: str) -> None:
        """Hold the lock `name` until the session's transaction ends (PostgreSQL advisory
        lock; other workers asking for the same name wait). SQLite has one writer at a time
        and one process, so `writing()` already serialises."""
        if self.shared_by_workers:
            connection = session.connection() if isinstance(session, Session) else session
            # Sent without waiting for its reply in pipeline mode (`connection(pipelined=)`):
            # the statements after it still start once it is granted (the server runs them
            # in order, each READ COMMITTED statement with its own snapshot).
            self.driver.send(connection, _ADVISORY_XACT_LOCK, {"key": lock_key(name)})

    @contextmanager
    def exclusive(self, name: str) -> Iterator[None]:
        """Run a block alone across every process sharing the database (a publish in the back
        office). PostgreSQL: a session advisory lock on a connection of its own; SQLite: a lock
        of this process (one process writes a SQLite database)."""
        if not self.shared_by_workers:
            with self._exclusive_local:
                yield
            return
        with self.engine.connect() as connection:
            key = {"key": lock_key(name)}
            connection.execute(text("SELECT pg_advisory_lock(:key)"), key)
            connection.commit()
            try:
                yield
            finally:
                connection.execute(text("SELECT pg_advisory_unlock(:key)"), key)
                connection.commit()

    def revision(self) -> str | None:
        """The schema's migration revision, or None (new database, or unreachable)."""
        try:
            with self.engine.connect() as connection:
                return connection.execute(text("SELECT version_num FROM alembic_version")).scalar()
        except SQLAlchemyError:
            return None

    @contextmanager
    def session(self) -> Iterator[Session]:
        """A transaction: committed if the block succeeds, rolled back otherwise."""
        try:
            with self._sessions() as session, session.begin():
                yield session
        except SQLAlchemyError as exc:
            if _is_connection_error(exc):
                raise StoreUnavailable(str(exc)) from exc
            raise

    @contextmanager
    def writing(self, wait: bool = True) -> Iterator[Session]:
        """A transaction that writes (a merchant's turn): queued behind this process's other
        writers on SQLite, like `session()` otherwise. `wait=False`: `WriterBusy` at once
        instead of queueing."""
        with self._write_turn_held(wait), self.session() as session:
            yield session

    @contextmanager
    def connection(
        self, write: bool = True, wait: bool = True, pipelined: bool = False
    ) -> Iterator[Connection]:
        """A bare connection in a transaction, for statements that need no ORM object
        (marking replies sent, the flood count): no session to set up, nothing to flush.
        `write`: queued behind this process's other writers on SQLite, like `writing()`
        (`wait=False`: `WriterBusy` at once instead). `pipelined` (PostgreSQL): the
        transaction in psycopg's pipeline mode, for statements run on the driver only
        (`bot.store.driver`; SQLAlchemy's execution reads a result at once): a statement
        whose result is not read is sent with the next one whose result is, and the
        `BEGIN` with the first; a press waited for each reply in turn (issue 12)."""
        try:
            with (
                self._write_turn_held(wait) if write else nullcontext(),
                self.engine.connect() as connection,
                connection.begin(),
            ):
                if not (pipelined and self.shared_by_workers and self.pipelines):
                    yield connection
                    return
                with self._pipelined(connection):
                    yield connection
                    # The COMMIT queued with the last statements: the pipeline's end sends
                    # them with one Sync and reads every result, where psycopg's commit
                    # would sync, then the pipeline's end sync again (a round trip for
                    # nothing). SQLAlchemy's commit then finds no transaction to end.
                    self._driver_connection(connection).execute("COMMIT")
        except SQLAlchemyError as exc:
            if _is_connection_error(exc):
                raise StoreUnavailable(str(exc)) from exc
            raise

    @staticmethod
    def _driver_connection(connection: Connection):  # type: ignore[no-untyped-def]
        driver = connection.connection.driver_connection
        assert driver is not None
        return driver

    @contextmanager
    def _pipelined(self, connection: Connection) -> Iterator[None]:
        """psycopg's pipeline mode on `connection`. An error its end reads (a statement's,
        the COMMIT's, a dropped connection) is SQLAlchemy's, as its execution raises it,
        and a connection the server dropped is invalidated."""
        driver = self._driver_connection(connection)
        errors = self.engine.dialect.loaded_dbapi.Error
        try:
            with driver.pipeline():
                yield
        except errors as error:
            lost = self.engine.dialect.is_disconnect(error, driver, None)
            if lost:
                connection.invalidate(error)
            raise DBAPIError.instance(
                "COMMIT", None, error, errors, connection_invalidated=lost
            ) from error

    @contextmanager
    def _write_turn_held(self, wait: bool) -> Iterator[None]:
        """This process's write turn on SQLite (nothing to hold on PostgreSQL)."""
        lock = self._write_turn
        if lock is None:
            yield
            return
        if not lock.acquire(blocking=wait):
            raise WriterBusy
        try:
            yield
        finally:
            lock.release()

    def ping(self) -> bool:
        try:
            with self.engine.connect() as connection:
                connection.execute(text("SELECT 1"))
            return True
        except SQLAlchemyError:
            return False

    def dispose(self) -> None:
        self.engine.dispose()


def lock_key(name: str) -> int:
    """A stable signed 64-bit key for PostgreSQL's advisory locks (the same in every process,
    unlike Python's `hash`)."""
    digest = hashlib.blake2b(name.encode(), digest_size=8).digest()
    return int.from_bytes(digest, "big", signed=True)


def _is_connection_error(exc: SQLAlchemyError) -> bool:
    from sqlalchemy.exc import DBAPIError, OperationalError

    if isinstance(exc, OperationalError):
        return True
    return isinstance(exc, DBAPIError) and exc.connection_invalidated
