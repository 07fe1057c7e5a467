"""Upgrades of the calibration library's tables: each older schema version to the next, in place.

`~lco_cli.library.library.CalibrationLibrary` runs them when it opens a database whose version
row is older than `~lco_cli.library.schema.SCHEMA_VERSION`, in one write transaction (under an
advisory lock on PostgreSQL), so a database is either wholly upgraded or left as it was. Each
step spells out its own DDL rather than reading today's models: a step must do tomorrow what it
does today, whatever the models become.
"""

from __future__ import annotations

from collections.abc import Callable

from sqlalchemy import Connection, text

from lco_cli.library import schema
from lco_cli.library.errors import LibraryError

#: The statuses schema 2 allows a processed frame.
_STATUSES_2 = "status IN ('ok', 'degraded', 'failed', 'skipped')"

#: Schema 2's ``processed_frames`` on SQLite, as SQLAlchemy creates it from the models.
_FRAMES_2_SQLITE = f"""
CREATE TABLE processed_frames (
    id INTEGER NOT NULL,
    path TEXT NOT NULL,
    checksum VARCHAR NOT NULL,
    status VARCHAR NOT NULL,
    tries INTEGER NOT NULL,
    reason TEXT NOT NULL,
    products JSON NOT NULL,
    updated DATETIME NOT NULL,
    outcome JSON,
    PRIMARY KEY (id),
    CONSTRAINT ck_frames_status CHECK ({_STATUSES_2}),
    UNIQUE (path)
)
"""

_FRAMES_1_COLUMNS = "id, path, checksum, status, tries, reason, products, updated"


def _1_to_2(connection: Connection) -> None:
    """Schema 2: a processed frame may be 'degraded', and keeps its outcome in ``outcome`` (JSON).

    Rows of schema 1 keep every value; their ``outcome`` is null (read as no shortfalls, no
    details, run unknown).
    """
    if connection.dialect.name == "sqlite":
        # SQLite cannot alter a CHECK constraint: the table is rebuilt and its rows copied, ids
        # included (SQLite's documented way to change a table's definition).
        connection.execute(text("ALTER TABLE processed_frames RENAME TO processed_frames_schema_1"))
        connection.execute(text(_FRAMES_2_SQLITE))
        connection.execute(
            text(
                f"INSERT INTO processed_frames ({_FRAMES_1_COLUMNS}) "
                f"SELECT {_FRAMES_1_COLUMNS} FROM processed_frames_schema_1"
            )
        )
        connection.execute(text("DROP TABLE processed_frames_schema_1"))
        return
    connection.execute(text("ALTER TABLE processed_frames ADD COLUMN outcome JSON"))
    connection.execute(text("ALTER TABLE processed_frames DROP CONSTRAINT ck_frames_status"))
    connection.execute(
        text(f"ALTER TABLE processed_frames ADD CONSTRAINT ck_frames_status CHECK ({_STATUSES_2})")
    )


#: Each step, by the version it upgrades from.
MIGRATIONS: dict[int, Callable[[Connection], None]] = {1: _1_to_2}


def migrate(connection: Connection, version: int, *, database: str) -> int:
    """Upgrade a library at schema ``version`` to the current one, in ``connection``'s transaction.

    Parameters
    ----------
    connection : sqlalchemy.Connection
        In a write transaction that holds the database (the caller commits or rolls back).
    version : int
        The schema version the database's version row holds.
    database : str
        The database, for messages (password hidden).

    Returns
    -------
    int
        `lco_cli.library.schema.SCHEMA_VERSION`, now in the version row.

    Raises
    ------
    LibraryError
        No migration leads from ``version`` (a version this code never wrote).
    """
    start, target = version, schema.SCHEMA_VERSION
    while version < target:
        step = MIGRATIONS.get(version)
        if step is None:
            raise LibraryError(
                f"{database}: calibration library schema version {start} is older than {target} "
                f"and no migration exists from version {version}"
            )
        step(connection)
        version += 1
    connection.execute(text("UPDATE schema_version SET version = :version"), {"version": version})
    return version
