"""Database engines for the calibration library: which URLs it accepts and each backend's settings."""

from __future__ import annotations

import functools
import math
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

#: How long a SQLite writer waits for another process's write transaction before giving up (s).
DEFAULT_BUSY_TIMEOUT_S = 30.0

#: How long opening a PostgreSQL connection may take, the whole handshake included (s).
DEFAULT_CONNECT_TIMEOUT_S = 5.0

#: How long one PostgreSQL statement may run, waiting for locks included (s).
DEFAULT_STATEMENT_TIMEOUT_S = 30.0

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


def open_engine(
    url: URL,
    *,
    connect_timeout_s: float = DEFAULT_CONNECT_TIMEOUT_S,
    statement_timeout_s: float = DEFAULT_STATEMENT_TIMEOUT_S,
    busy_timeout_s: float = DEFAULT_BUSY_TIMEOUT_S,
) -> Engine:
    """An engine for ``url``; a SQLite file's folder is created, the file is created on first connection.

    SQLite connections use WAL mode and wait up to ``busy_timeout_s`` for another process's write
    lock. PostgreSQL connections are pre-pinged, give up connecting after ``connect_timeout_s``
    and cancel any statement running longer than ``statement_timeout_s``; a ``connect_timeout``
    in the URL's query, or a ``statement_timeout`` in its ``options``, wins over these.

    Parameters
    ----------
    url : sqlalchemy.engine.URL
        From `parse_url`.
    connect_timeout_s : float
        PostgreSQL only, seconds; libpq counts whole seconds, rounds this up and waits at
        least 2 s.
    statement_timeout_s : float
        PostgreSQL only, seconds.
    busy_timeout_s : float
        SQLite only, seconds.

    Returns
    -------
    sqlalchemy.engine.Engine

    Raises
    ------
    LibraryError
        A timeout that is not a positive number of seconds (zero allowed for ``busy_timeout_s``),
        or the SQLite file's folder cannot be created.
    """
    _require_seconds(connect_timeout_s, "connect_timeout_s", positive=True)
    _require_seconds(statement_timeout_s, "statement_timeout_s", positive=True)
    _require_seconds(busy_timeout_s, "busy_timeout_s", positive=False)
    if url.get_backend_name() != "sqlite":
        # Pre-ping: a long night's run outlives server-side idle timeouts of pooled connections.
        return create_engine(
            url,
            pool_pre_ping=True,
            connect_args=postgresql_connect_args(
                url, connect_timeout_s=connect_timeout_s, statement_timeout_s=statement_timeout_s
            ),
        )
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
    # pysqlite's own timeout is the busy timeout too (5 s unless given); keep the two the same.
    engine = create_engine(url, connect_args={"timeout": busy_timeout_s})
    event.listen(engine, "connect", functools.partial(_sqlite_connect, busy_timeout_s=busy_timeout_s))
    event.listen(engine, "begin", _sqlite_begin)
    return engine


def postgresql_connect_args(
    url: URL, *, connect_timeout_s: float, statement_timeout_s: float
) -> dict[str, str]:
    """psycopg connection arguments setting the connect and statement timeouts ``url`` leaves unset.

    A ``connect_timeout`` in the URL's query is kept; so is a ``-c statement_timeout=...`` in its
    ``options``, whose other settings (e.g. ``-csearch_path=...``) are kept either way.

    Parameters
    ----------
    url : sqlalchemy.engine.URL
        A PostgreSQL URL.
    connect_timeout_s : float
        Seconds; rounded up to whole seconds, as libpq counts them.
    statement_timeout_s : float
        Seconds; sent in milliseconds.

    Returns
    -------
    dict of str to str
        ``connect_timeout`` and ``options`` where they are to be set.
    """
    args: dict[str, str] = {}
    if "connect_timeout" not in url.query:
        args["connect_timeout"] = str(max(1, math.ceil(connect_timeout_s)))
    given = url.query.get("options", "")
    # Several `options` in the query arrive as a tuple; libpq takes one space-separated string.
    options = " ".join(given) if isinstance(given, tuple) else given
    if "statement_timeout" not in options:
        statement = f"-c statement_timeout={max(1, round(statement_timeout_s * 1000))}"
        args["options"] = f"{options} {statement}".strip()
    return args


def _require_seconds(value: float, name: str, *, positive: bool) -> None:
    if not (math.isfinite(value) and (value > 0 if positive else value >= 0)):
        bound = "> 0" if positive else ">= 0"
        raise LibraryError(f"{name} {value!r} must be a finite number of seconds {bound}")


def _sqlite_connect(dbapi_connection: Any, connection_record: Any, *, busy_timeout_s: float) -> None:
    # The sqlite3 module's own implicit BEGIN would come too late for `_sqlite_begin` to choose
    # the kind of transaction; with it off, SQLAlchemy's "begin" event emits every BEGIN.
    dbapi_connection.isolation_level = None
    cursor = dbapi_connection.cursor()
    try:
        # Busy timeout first: switching to WAL itself needs a lock another process may hold.
        cursor.execute(f"PRAGMA busy_timeout = {round(busy_timeout_s * 1000)}")
        # WAL lets readers (selection, is_done) go on while another process writes. Switching a
        # new file to WAL needs it exclusively, and SQLite answers "database is locked" at once
        # (without its busy handler) while another process holds it: retry until the timeout.
        deadline = time.monotonic() + busy_timeout_s
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
