"""Engine set-up that differs per database, and the transaction helpers services share."""

from __future__ import annotations

from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

from flask import Flask
from sqlalchemy import event
from sqlalchemy.engine import Connection, Dialect, Engine
from sqlalchemy.exc import DBAPIError
from sqlalchemy.orm import Session, scoped_session
from sqlalchemy.sql import Executable

from survey_app.extensions import db

SQLITE_BUSY_TIMEOUT_MS = 30_000
# The transaction modes a connection can ask for with execution_options(sqlite_begin=...): the
# default deferred BEGIN, or IMMEDIATE, which takes the write lock before anything is read.
BEGIN_STATEMENTS = {None: "BEGIN", "": "BEGIN", "DEFERRED": "BEGIN DEFERRED", "IMMEDIATE": "BEGIN IMMEDIATE",
                    "EXCLUSIVE": "BEGIN EXCLUSIVE"}


def configure_engines(app: Flask) -> None:
    """Give SQLite engines WAL, foreign keys, a busy timeout and real BEGIN statements."""
    with app.app_context():
        engine = db.engine
    if engine.dialect.name == "sqlite":
        configure_sqlite(engine)


def configure_sqlite(engine: Engine) -> None:
    """Apply the pragmas and transaction handling SQLite needs for concurrent writers."""

    @event.listens_for(engine, "connect")
    def on_connect(dbapi_connection: Any, _record: Any) -> None:
        # Let SQLAlchemy's "begin" event emit BEGIN itself (pysqlite would defer it), so a
        # service can ask for BEGIN IMMEDIATE and take the write lock before it reads.
        dbapi_connection.isolation_level = None
        cursor = dbapi_connection.cursor()
        cursor.execute(f"PRAGMA busy_timeout = {SQLITE_BUSY_TIMEOUT_MS}")
        cursor.execute("PRAGMA foreign_keys = ON")
        if engine.url.database not in (None, "", ":memory:"):
            cursor.execute("PRAGMA journal_mode = WAL")
            cursor.execute("PRAGMA synchronous = NORMAL")
        cursor.close()

    @event.listens_for(engine, "begin")
    def on_begin(connection: Connection) -> None:
        # Straight on the driver's connection: SQLAlchemy is already inside its begin and only
        # needs the statement sent, and a full exec_driver_sql (events, a cursor wrapper, a
        # result) cost more than the database's work on every survey request.
        mode = connection.get_execution_options().get("sqlite_begin")
        connection.connection.driver_connection.execute(BEGIN_STATEMENTS[mode])


def _plain(session: Session | scoped_session[Any]) -> Session:
    """Return the Session behind Flask-SQLAlchemy's scoped db.session."""
    return session() if isinstance(session, scoped_session) else session


def start_write(session: Session | scoped_session[Any]) -> None:
    """End whatever read transaction the session holds and start a write transaction.

    On SQLite a read transaction that later writes cannot wait for the lock: when another
    writer got there first it fails at once with "database is locked", busy timeout or not.
    Starting the write transaction up front makes it wait its turn instead.
    """
    session = _plain(session)
    if session.in_transaction():
        session.rollback()
    begin_write(session)


def begin_write(session: Session | scoped_session[Any]) -> None:
    """Start the session's transaction as a writer, before it reads what it will write.

    On SQLite this is BEGIN IMMEDIATE: it waits for the write lock up front instead of failing
    with "database is locked" when a read transaction later tries to write. PostgreSQL needs
    nothing here; row locks and constraints handle its concurrency.
    """
    session = _plain(session)
    if session.get_bind().dialect.name == "sqlite" and not session.in_transaction():
        session.connection(execution_options={"sqlite_begin": "IMMEDIATE"})


Processor = Callable[[Any], Any]


@dataclass(frozen=True)
class DriverSQL:
    """A statement as one dialect's driver takes it: its SQL with the driver's placeholders, and
    how to turn named values into the driver's parameters and a row into Python values."""

    sql: str
    # (placeholder name, default value or None, bind processor or None), in the SQL's order for
    # positional paramstyles (SQLite's ?), or keyed by name for named ones (psycopg's %(name)s).
    parameters: tuple[tuple[str, Any, Processor | None], ...]
    positional: bool
    # (column index, result processor) for the columns that have one.
    results: tuple[tuple[int, Processor], ...]

    def driver_parameters(self, values: Mapping[str, Any]) -> list[Any] | dict[str, Any]:
        processed = []
        for name, default, process in self.parameters:
            value = values.get(name, default)
            processed.append(process(value) if process else value)
        if self.positional:
            return processed
        return {name: value for (name, _default, _process), value in zip(self.parameters, processed, strict=True)}

    def python_row(self, row: tuple[Any, ...]) -> list[Any]:
        values = list(row)
        for index, process in self.results:
            values[index] = process(values[index])
        return values


class DriverStatement:
    """A Core statement compiled once per dialect and run straight on the driver's cursor.

    For the few statements every survey request runs: SQLAlchemy's execution of a prebuilt
    statement (its compiled-cache lookup, events, result objects and transaction bookkeeping)
    cost more than SQLite's own work. The SQL is still SQLAlchemy's, compiled for the dialect,
    with bound parameters in the driver's own placeholders (never values in the text), and each
    value passes the column type's bind and result processors as it would in SQLAlchemy
    (UTCDateTime's UTC handling among them).
    """

    def __init__(self, statement: Executable) -> None:
        self.statement = statement
        self._by_dialect: dict[str, DriverSQL] = {}

    def for_dialect(self, dialect: Dialect) -> DriverSQL:
        compiled = self._by_dialect.get(dialect.name)
        if compiled is None:
            compiled = self._by_dialect[dialect.name] = self._compile(dialect)
        return compiled

    def _compile(self, dialect: Dialect) -> DriverSQL:
        compiled = self.statement.compile(dialect=dialect)
        binds = {name: bind for bind, name in compiled.bind_names.items()}
        positional = bool(dialect.positional)
        names = list(compiled.positiontup or ()) if positional else list(binds)
        escaped = compiled.escaped_bind_names or {}
        parameters = tuple(
            (
                name if positional else escaped.get(name, name),
                None if binds[name].required else binds[name].effective_value,
                binds[name].type.dialect_impl(dialect).bind_processor(dialect),
            )
            for name in names
        )
        columns = getattr(self.statement, "selected_columns", ())
        processors = (column.type.dialect_impl(dialect).result_processor(dialect, None) for column in columns)
        results = tuple((index, process) for index, process in enumerate(processors) if process is not None)
        return DriverSQL(compiled.string, parameters, positional, results)


class DriverConnection:
    """A pooled connection used through its driver's cursor, for DriverStatements.

    Errors leave as SQLAlchemy's exceptions (the 503 handler and logging expect those), and a
    connection the driver reports as lost is dropped from the pool, as SQLAlchemy's own execution
    does. SQLite runs in autocommit mode here (configure_sqlite), so a read is its own snapshot
    and a write asks for its transaction (begin_write); PostgreSQL's driver opens one itself.
    """

    def __init__(self, engine: Engine) -> None:
        self.engine = engine
        self.dialect = engine.dialect
        try:
            # Unlike Connection's, raw_connection's errors come from the driver unwrapped.
            self.pooled = engine.raw_connection()
        except self.dialect.loaded_dbapi.Error as error:
            raise self._wrapped(error, lost=self.dialect.is_disconnect(error, None, None)) from error
        try:
            self.cursor = self.pooled.cursor()
        except BaseException:
            self.pooled.close()
            raise

    def execute(self, statement: DriverStatement, values: Mapping[str, Any]) -> None:
        """Run a statement whose result is not needed."""
        compiled = statement.for_dialect(self.dialect)
        self._run(compiled.sql, compiled.driver_parameters(values))

    def first(self, statement: DriverStatement, values: Mapping[str, Any]) -> list[Any] | None:
        """Run a query and return its first row in Python values, or None."""
        compiled = statement.for_dialect(self.dialect)
        self._run(compiled.sql, compiled.driver_parameters(values))
        row = self._call(self.cursor.fetchone)
        return None if row is None else compiled.python_row(row)

    def begin_write(self) -> None:
        """Start a transaction as a writer: BEGIN IMMEDIATE on SQLite (see start_write for why).
        PostgreSQL's driver has a transaction open already, and row locks need no more."""
        if self.dialect.name == "sqlite":
            self._run(BEGIN_STATEMENTS["IMMEDIATE"], ())

    def commit(self) -> None:
        self._call(self.pooled.commit)

    def close(self) -> None:
        """Return the connection to the pool, which rolls back whatever was not committed."""
        try:
            if self.pooled.is_valid:  # an invalidated connection was closed with its cursor
                self.cursor.close()
        finally:
            self.pooled.close()

    def _run(self, sql: str, parameters: Any) -> None:
        self._call(self.cursor.execute, sql, parameters, statement=sql, parameters=parameters)

    def _call(self, method: Callable[..., Any], *args: Any, statement: str | None = None,
              parameters: Any = None) -> Any:
        try:
            return method(*args)
        except self.dialect.loaded_dbapi.Error as error:
            lost = self.dialect.is_disconnect(error, self.pooled.dbapi_connection, self.cursor)
            if lost:
                self.pooled.invalidate(error)
            raise self._wrapped(error, lost, statement, parameters) from error

    def _wrapped(self, error: Exception, lost: bool, statement: str | None = None,
                 parameters: Any = None) -> Exception:
        return DBAPIError.instance(
            statement, parameters, error, self.dialect.loaded_dbapi.Error,
            hide_parameters=self.engine.hide_parameters, connection_invalidated=lost, dialect=self.dialect,
        )


@contextmanager
def driver_connection(engine: Engine) -> Iterator[DriverConnection]:
    """Check a connection out of the engine's pool for DriverStatements; return it at the end."""
    connection = DriverConnection(engine)
    try:
        yield connection
    finally:
        connection.close()
