"""A turn's prebuilt Core statements, compiled once for SQLite and run on the driver's cursor.

Why: SQLAlchemy's execution of an already compiled statement (cache lookup, parameters,
execution context, result) cost about 50 µs a statement against 10–25 µs this way (sqlite3's
own `execute`, with the conversions), and a button press on the event loop runs six
(benchmarks/results/press-session5.json, issue 12). The SQL and the parameters'
conversions are SQLAlchemy's own, taken once from the compiled statement: the same SQL runs
with the same values, on the connection (and in the transaction) the caller already holds.
On PostgreSQL the same runs on psycopg's connection (named `%(name)s` parameters): a press
there runs in a worker thread whose CPU is most of the gap to a bare bot (issue 12); psycopg
prepares a statement on the server after a few executions on a connection. In psycopg's
pipeline mode (`Database.connection(pipelined=True)`, a quick press) a statement whose
result is not read is only queued (`send`). A turn's messages are inserted a row at a time,
all sent before the first id is read (`returning_each`: psycopg's `executemany`, which uses
a pipeline of its own outside one); SQLAlchemy's one multi-row INSERT cost more CPU for the
ids' order it keeps. Other dialects keep SQLAlchemy's execution.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping, Sequence
from typing import Any

from sqlalchemy import Connection
from sqlalchemy.engine import Dialect
from sqlalchemy.exc import DBAPIError
from sqlalchemy.sql.expression import Executable, Insert

# The dialects whose driver runs the statements directly.
DIRECT_DIALECTS = frozenset({"sqlite", "postgresql"})


class DriverStatement:
    """One statement compiled for a dialect whose driver takes positional (`?`, sqlite3)
    or named (`%(name)s`, psycopg) parameters.

    Literal values of the statement (`.values(delivered=True)`) are bound like the caller's;
    an INSERT's Python-side column defaults (`default=utcnow`) are computed per row, as
    SQLAlchemy does for the columns a row leaves out."""

    def __init__(
        self, statement: Executable, dialect: Dialect, columns: Iterable[str] | None = None
    ) -> None:
        keys = list(columns) if columns is not None else None
        compiled = statement.compile(dialect=dialect, column_keys=keys)  # type: ignore[attr-defined]
        # Positional (sqlite3): a tuple in `positiontup`'s order; named (psycopg): a dict.
        self._positional = compiled.positiontup is not None
        if not self._positional and dialect.paramstyle != "pyformat":
            raise ValueError(f"{dialect.name}: positional or pyformat parameters expected")
        if any(bind.expanding for bind in compiled.binds.values()):
            raise ValueError("expanding parameters are rendered per execution")
        self.sql = str(compiled)
        # Known from the statement, not from the cursor: in psycopg's pipeline mode a
        # cursor has no description until its result comes back.
        self.returns_rows = bool(compiled._result_columns)
        self._errors: type[Exception] = dialect.loaded_dbapi.Error
        self._dialect = dialect
        self._fixed = {
            name: bind.effective_value for name, bind in compiled.binds.items() if not bind.required
        }
        self._names = list(
            compiled.positiontup if compiled.positiontup is not None else compiled.binds
        )
        # SQLAlchemy's own conversions for this dialect (dates as its text format, JSON).
        processors = compiled._bind_processors
        self._processors: list[Callable[[Any], Any] | None] = [
            processors.get(name) for name in self._names
        ]
        # The rows' conversions (JSON text, dates, booleans), as SQLAlchemy's results apply
        # them: a SELECT read this way gives the values SQLAlchemy's execution gives.
        results = [
            entry.type._cached_result_processor(dialect, None) for entry in compiled._result_columns
        ]
        self._results: list[Callable[[Any], Any] | None] | None = results if any(results) else None
        self._defaults: dict[str, Callable[[], Any]] = {}
        if isinstance(statement, Insert):
            for column in compiled.insert_prefetch:
                default = column.default
                if default is None or not (default.is_scalar or default.is_callable):
                    raise ValueError(f"{column.key}: default not computable before the insert")
                if default.is_scalar:
                    self._defaults[column.key] = lambda value=default.arg: value
                else:
                    self._defaults[column.key] = lambda fn=default.arg: fn(None)

    def parameters(self, values: Mapping[str, Any]) -> tuple[Any, ...] | dict[str, Any]:
        merged = {**self._fixed, **values}
        for name, make in self._defaults.items():
            if name not in values:
                merged[name] = make()
        converted = [
            merged[name] if process is None else process(merged[name])
            for name, process in zip(self._names, self._processors, strict=True)
        ]
        if self._positional:
            return tuple(converted)
        return dict(zip(self._names, converted, strict=True))

    def execute(self, connection: Connection, values: Mapping[str, Any]) -> list[tuple[Any, ...]]:
        """Run on `connection`'s driver connection, in its transaction; the rows returned
        (all read: a RETURNING statement is finished before the transaction goes on)."""
        parameters = self.parameters(values)
        with self._translated(connection, parameters):
            cursor = _driver(connection).execute(self.sql, parameters)
            # (psycopg refuses `fetchall` after a statement that returns no rows.)
            rows = cursor.fetchall() if self.returns_rows else []
        if self._results is None:
            return rows
        return [self._converted(row) for row in rows]

    def send(self, connection: Connection, values: Mapping[str, Any]) -> None:
        """Run without reading what it returns: in psycopg's pipeline mode the statement is
        only queued, and goes with the next one whose result is read (its errors come back
        there, or at the commit)."""
        parameters = self.parameters(values)
        with self._translated(connection, parameters):
            _driver(connection).execute(self.sql, parameters)

    def start(
        self, connection: Connection, values: Mapping[str, Any]
    ) -> Callable[[], list[tuple[Any, ...]]]:
        """Run now, read later: in psycopg's pipeline mode the statement is only queued, and
        its rows come back with the next statement whose result is read; the function
        returned gives them (no round trip of its own once that one was read)."""
        parameters = self.parameters(values)
        with self._translated(connection, parameters):
            cursor = _driver(connection).execute(self.sql, parameters)

        def rows() -> list[tuple[Any, ...]]:
            with self._translated(connection, parameters):
                found = cursor.fetchall()
            return found if self._results is None else [self._converted(row) for row in found]

        return rows

    def changed(self, connection: Connection, values: Mapping[str, Any]) -> int:
        """Run an UPDATE or DELETE on `connection`'s driver connection; the rows it changed."""
        parameters = self.parameters(values)
        driver = _driver(connection)
        with self._translated(connection, parameters):
            if not _pipelined(driver):
                return int(driver.execute(self.sql, parameters).rowcount)
            with driver.pipeline():  # its end waits for the count (a nested pipeline)
                cursor = driver.execute(self.sql, parameters)
            return int(cursor.rowcount)

    def returning_each(
        self, connection: Connection, rows: Sequence[Mapping[str, Any]]
    ) -> list[tuple[Any, ...]]:
        """Run once per row (psycopg: all sent before the first result is read); each run's
        first returned row, in the rows' order."""
        parameters = [self.parameters(row) for row in rows]
        with self._translated(connection, parameters):
            cursor = _driver(connection).cursor()
            cursor.executemany(self.sql, parameters, returning=True)
            returned = []
            for _ in parameters:
                returned.append(cursor.fetchone())
                cursor.nextset()
        return returned

    def _converted(self, row: tuple[Any, ...]) -> tuple[Any, ...]:
        assert self._results is not None
        return tuple(
            value if process is None or value is None else process(value)
            for value, process in zip(row, self._results, strict=True)
        )

    def execute_many(self, connection: Connection, rows: Iterable[Mapping[str, Any]]) -> None:
        parameters = [self.parameters(row) for row in rows]
        with self._translated(connection, parameters):
            _driver(connection).executemany(self.sql, parameters)

    def _translated(self, connection: Connection, parameters: Any) -> _DriverErrors:
        """The driver's errors raised as SQLAlchemy's (`_wrapped`)."""
        return _DriverErrors(self, connection, parameters)

    def _wrapped(self, connection: Connection, error: Exception, parameters: Any) -> DBAPIError:
        """SQLAlchemy's exception for the driver's, as its own execution raises (callers
        tell a locked or missing database, `StoreUnavailable`, from an integrity error); a
        connection the server dropped is invalidated as SQLAlchemy's execution does, so the
        pool opens a new one instead of handing it out again."""
        driver = connection.connection.driver_connection
        lost = self._dialect.is_disconnect(error, driver, None)  # type: ignore[arg-type]
        if lost:
            connection.invalidate(error)
        return DBAPIError.instance(
            self.sql, parameters, error, self._errors, connection_invalidated=lost
        )


class _DriverErrors:
    """The context of one statement's driver calls: an error of the driver leaves it as
    SQLAlchemy's. A class rather than `@contextmanager`: it wraps every statement of a
    turn, and a generator's context costs about 3 µs against under 1 µs."""

    __slots__ = ("_connection", "_parameters", "_statement")

    def __init__(self, statement: DriverStatement, connection: Connection, parameters: Any):
        self._statement, self._connection, self._parameters = statement, connection, parameters

    def __enter__(self) -> None:
        return None

    def __exit__(self, kind: object, error: BaseException | None, traceback: object) -> None:
        if isinstance(error, self._statement._errors):
            raise self._statement._wrapped(self._connection, error, self._parameters) from error


def _driver(connection: Connection) -> Any:
    """The driver's own connection (sqlite3's or psycopg's) under SQLAlchemy's."""
    driver = connection.connection.driver_connection
    assert driver is not None
    return driver


def _pipelined(driver: Any) -> bool:
    """Whether a psycopg connection is in pipeline mode (sqlite3's never is)."""
    pgconn = getattr(driver, "pgconn", None)
    return pgconn is not None and pgconn.pipeline_status != 0


class DriverStatements:
    """A database's compiled statements, by statement (and columns), compiled on first use.
    None where the dialect keeps SQLAlchemy's execution."""

    # (Compiling twice in racing threads is harmless: both results are the same.)

    def __init__(self, dialect: Dialect, direct: bool = True) -> None:
        """`direct=False`: every statement by SQLAlchemy (tests compare the two ways)."""
        self._dialect = dialect
        self._direct = direct and dialect.name in DIRECT_DIALECTS
        self._compiled: dict[tuple[int, tuple[str, ...] | None], DriverStatement] = {}
        self._kept: list[Executable] = []  # the statements keyed by id() stay alive

    def execute(
        self,
        connection: Connection,
        statement: Executable,
        values: Mapping[str, Any],
        columns: Iterable[str] | None = None,
    ) -> Sequence[Any]:
        """Run `statement` with `values` on `connection`: on the driver (SQLite, PostgreSQL),
        else by SQLAlchemy; the rows it returns (none for a statement without RETURNING)."""
        direct = self.get(statement, columns)
        if direct is not None:
            return direct.execute(connection, values)
        result = connection.execute(statement, values)
        return result.all() if result.returns_rows else []

    def send(
        self, connection: Connection, statement: Executable, values: Mapping[str, Any]
    ) -> None:
        """Run `statement` whose result the caller does not read (`DriverStatement.send`)."""
        direct = self.get(statement)
        if direct is not None:
            direct.send(connection, values)
        else:
            connection.execute(statement, values)

    def changed(
        self, connection: Connection, statement: Executable, values: Mapping[str, Any]
    ) -> int:
        """Run an UPDATE or DELETE like `execute`; the number of rows it changed."""
        direct = self.get(statement)
        if direct is not None:
            return direct.changed(connection, values)
        return int(connection.execute(statement, values).rowcount)  # type: ignore[attr-defined]

    @staticmethod
    def pipelined(connection: Connection) -> bool:
        """Whether `connection` is in psycopg's pipeline mode (`Database.connection`)."""
        return _pipelined(connection.connection.driver_connection)

    def get(
        self, statement: Executable, columns: Iterable[str] | None = None
    ) -> DriverStatement | None:
        if not self._direct:
            return None
        key = (id(statement), tuple(columns) if columns is not None else None)
        compiled = self._compiled.get(key)
        if compiled is None:
            compiled = DriverStatement(statement, self._dialect, key[1])
            self._compiled[key] = compiled
            self._kept.append(statement)
        return compiled
