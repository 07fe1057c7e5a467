"""Database engines for the calibration library: which URLs it accepts and each backend's settings."""

from __future__ import annotations

import sqlite3
import time
from pathlib import Path
from typing import Any

from sqlalchemy import Connection, Engine, create_engine, event
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.engine import URL, make_url
from sqlalchemy.exc import ArgumentError

from lco_cli.library.errors import LibraryError
from lco_cli.library.schema import Base

#: Execution option marking a session's transaction as one that writes (see `_sqlite_begin`).
WRITE_OPTION = "lco_library_write"

#: How long a SQLite writer waits for another process's write transaction before giving up (ms).
SQLITE_BUSY_TIMEOUT_MS = 30_000

_EXAMPLES = "e.g. sqlite:///path/to/calibrations.db or postgresql://user:password@host:5432/database"


def parse_url(url: str) -> URL:
    """The SQLAlchemy URL of a library: SQLite or PostgreSQL; ``postgresql://`` means psycopg 3.

    Parameters
    ----------
    url : str
        E.g. ``sqlite:///path/calibrations.db`` or ``postgresql://user:password@host/db``.

    Returns
    -------
    sqlalchemy.engine.URL

    Raises
    ------
    LibraryError
        Text that is not a URL, or names another kind of database.
    """
    try:
        parsed = make_url(url)
    except ArgumentError:
        raise LibraryError(f"{url!r} is not a database URL ({_EXAMPLES})") from None
    backend = parsed.get_backend_name()
    if backend not in ("sqlite", "postgresql"):
        raise LibraryError(
            f"{parsed.render_as_string(hide_password=True)}: the calibration library runs on SQLite or "
            f"PostgreSQL, not {backend} ({_EXAMPLES})"
        )
    if parsed.drivername == "postgresql":
        # SQLAlchemy's default PostgreSQL driver is psycopg2, which lco-cli does not install.
        parsed = parsed.set(drivername="postgresql+psycopg")
    return parsed


def open_engine(url: URL) -> Engine:
    """An engine for ``url``; a SQLite file's folder is created, the file is created on first connection.

    SQLite connections use WAL mode and a 30 s busy timeout; PostgreSQL connections are
    pre-pinged.

    Parameters
    ----------
    url : sqlalchemy.engine.URL
        From `parse_url`.

    Returns
    -------
    sqlalchemy.engine.Engine

    Raises
    ------
    LibraryError
        The SQLite file's folder cannot be created.
    """
    if url.get_backend_name() != "sqlite":
        # Pre-ping: a long night's run outlives server-side idle timeouts of pooled connections.
        return create_engine(url, pool_pre_ping=True)
    database = url.database or ""
    if database and database != ":memory:" and not database.startswith("file:"):
        folder = Path(database).parent
        try:
            folder.mkdir(parents=True, exist_ok=True)
        except OSError as error:
            raise LibraryError(
                f"{database}: cannot create the calibration library's folder {folder}: "
                f"{error.strerror or error}"
            ) from error
    engine = create_engine(url)
    event.listen(engine, "connect", _sqlite_connect)
    event.listen(engine, "begin", _sqlite_begin)
    return engine


def _sqlite_connect(dbapi_connection: Any, connection_record: Any) -> None:
    # The sqlite3 module's own implicit BEGIN would come too late for `_sqlite_begin` to choose
    # the kind of transaction; with it off, SQLAlchemy's "begin" event emits every BEGIN.
    dbapi_connection.isolation_level = None
    cursor = dbapi_connection.cursor()
    try:
        # Busy timeout first: switching to WAL itself needs a lock another process may hold.
        cursor.execute(f"PRAGMA busy_timeout = {SQLITE_BUSY_TIMEOUT_MS}")
        # WAL lets readers (selection, is_done) go on while another process writes. Switching a
        # new file to WAL needs it exclusively, and SQLite answers "database is locked" at once
        # (without its busy handler) while another process holds it: retry until the timeout.
        deadline = time.monotonic() + SQLITE_BUSY_TIMEOUT_MS / 1000
        pause = 0.01
        while True:
            try:
                cursor.execute("PRAGMA journal_mode = WAL")
                break
            except sqlite3.OperationalError as error:
                if "locked" not in str(error) or time.monotonic() > deadline:
                    raise
                time.sleep(pause)
                pause = min(pause * 2, 0.5)
    finally:
        cursor.close()


def _sqlite_begin(connection: Connection) -> None:
    # A deferred transaction that reads and then writes fails at once with "database is locked"
    # when another process wrote in between (the busy timeout cannot help it); taking the write
    # lock up front makes such a writer wait its turn instead.
    write = connection.get_execution_options().get(WRITE_OPTION, False)
    connection.exec_driver_sql("BEGIN IMMEDIATE" if write else "BEGIN")


def dialect_insert(engine: Engine, model: type[Base]) -> sqlite.Insert | postgresql.Insert:
    """An INSERT with the backend's ``ON CONFLICT`` (upsert) clause available.

    Parameters
    ----------
    engine : sqlalchemy.engine.Engine
        The library's engine.
    model : type
        A table class of `lco_cli.library.schema`.

    Returns
    -------
    sqlalchemy.dialects.sqlite.Insert or sqlalchemy.dialects.postgresql.Insert
    """
    if engine.dialect.name == "postgresql":
        return postgresql.insert(model)
    return sqlite.insert(model)
