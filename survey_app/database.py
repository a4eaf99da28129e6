"""Engine set-up that differs per database, and the transaction helpers services share."""

from __future__ import annotations

from typing import Any

from flask import Flask
from sqlalchemy import event
from sqlalchemy.engine import Connection, Engine
from sqlalchemy.orm import Session, scoped_session

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
