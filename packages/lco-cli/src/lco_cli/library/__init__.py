"""The calibration library: masters and processed frames in SQLite (default) or PostgreSQL.

A master serves a frame when camera, kind, binning and configuration mode match, plus the
filter for sky flats and the set temperature for darks; it must not be marked bad, and among
matches the one closest in time to the frame's DATE-OBS wins (docs/architecture.rst, "Calibration library").

``CalibrationLibrary.at(folder)`` keeps a SQLite file ``folder/calibrations.db`` (WAL mode, safe
for several processes on one machine). ``CalibrationLibrary(url)`` opens any SQLAlchemy URL of
SQLite or PostgreSQL, e.g. ``postgresql://user:password@host:5432/database`` (psycopg 3); the
tables are created on first use. With ``create=False`` (commands that only read or mark a library)
nothing is created: a library that is not there is `LibraryNotFoundError`.
"""

from lco_cli.library.engine import (
    DEFAULT_BUSY_TIMEOUT_S,
    DEFAULT_CONNECT_TIMEOUT_S,
    DEFAULT_STATEMENT_TIMEOUT_S,
)
from lco_cli.library.errors import (
    LibraryError,
    LibraryNotFoundError,
    MasterChangedError,
    MasterNotFoundError,
    SchemaTooNewError,
)
from lco_cli.library.library import DEFAULT_DATABASE_NAME, CalibrationLibrary, file_checksum
from lco_cli.library.records import FRAME_STATUSES, FrameRecord, MasterEntry
from lco_cli.library.schema import SCHEMA_VERSION
from lco_core.master import MasterKind

__all__ = [
    "DEFAULT_BUSY_TIMEOUT_S",
    "DEFAULT_CONNECT_TIMEOUT_S",
    "DEFAULT_DATABASE_NAME",
    "DEFAULT_STATEMENT_TIMEOUT_S",
    "FRAME_STATUSES",
    "SCHEMA_VERSION",
    "CalibrationLibrary",
    "FrameRecord",
    "LibraryError",
    "LibraryNotFoundError",
    "MasterChangedError",
    "MasterEntry",
    "MasterKind",
    "MasterNotFoundError",
    "SchemaTooNewError",
    "file_checksum",
]
