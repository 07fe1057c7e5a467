"""The calibration library's tables (SQLAlchemy 2 declarative models) and their schema version."""

from __future__ import annotations

import datetime as dt
from typing import Any

from sqlalchemy import JSON, CheckConstraint, DateTime, Dialect, Index, String, Text, TypeDecorator
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column

#: The schema this code writes and understands. Bump it (and add a migration to
#: `lco_cli.library.migrations`) with every change to the tables below; a database holding a
#: larger number is refused rather than misread, a smaller one is migrated when opened.
#: 1: the first. 2: processed frames may be 'degraded' and keep their outcome (``outcome``).
SCHEMA_VERSION = 2


class UtcDateTime(TypeDecorator[dt.datetime]):
    """A UTC instant: time-zone aware in Python on every backend.

    PostgreSQL stores ``timestamp with time zone``; SQLite has no time zone type, so the value is
    stored as naive UTC, which keeps its text form ordered like the instants it names.
    """

    #: The column type underneath: ``DateTime(timezone=True)``.
    impl = DateTime(timezone=True)
    #: Safe for SQLAlchemy's statement cache (the type has no per-instance state).
    cache_ok = True

    def process_bind_param(self, value: dt.datetime | None, dialect: Dialect) -> dt.datetime | None:
        """The value to store: UTC (naive on SQLite).

        Parameters
        ----------
        value : datetime.datetime or None
            A time-zone aware instant.
        dialect : sqlalchemy.engine.Dialect
            The backend.

        Returns
        -------
        datetime.datetime or None

        Raises
        ------
        ValueError
            A naive datetime (it could be local time or UTC).
        """
        if value is None:
            return None
        if value.tzinfo is None:
            # A naive time could be local time or UTC; storing it would silently guess.
            raise ValueError(f"{value.isoformat()} has no time zone; pass a UTC datetime")
        utc = value.astimezone(dt.UTC)
        return utc.replace(tzinfo=None) if dialect.name == "sqlite" else utc

    def process_result_value(self, value: dt.datetime | None, dialect: Dialect) -> dt.datetime | None:
        """The stored value as a time-zone aware UTC instant.

        Parameters
        ----------
        value : datetime.datetime or None
            As the backend returns it.
        dialect : sqlalchemy.engine.Dialect
            The backend.

        Returns
        -------
        datetime.datetime or None
        """
        if value is None:
            return None
        return value.replace(tzinfo=dt.UTC) if value.tzinfo is None else value.astimezone(dt.UTC)


class Base(DeclarativeBase):
    """Declarative base of the library's tables."""


class SchemaVersionRow(Base):
    """The one row saying which `SCHEMA_VERSION` wrote the database."""

    __tablename__ = "schema_version"
    __table_args__ = (CheckConstraint("id = 1", name="ck_schema_version_single_row"),)

    #: Always 1: the table holds one row.
    id: Mapped[int] = mapped_column(primary_key=True)
    #: The `SCHEMA_VERSION` that wrote the database.
    version: Mapped[int]


class MasterRow(Base):
    """A registered master calibration file (`lco_cli.library.MasterEntry` is its public form)."""

    __tablename__ = "masters"
    __table_args__ = (
        CheckConstraint("kind IN ('bias', 'dark', 'skyflat')", name="ck_masters_kind"),
        # Selection filters on these columns by equality and then orders by date_obs.
        Index(
            "ix_masters_selection", "camera", "kind", "binning", "configuration_mode", "filter", "date_obs"
        ),
    )

    #: Row id (``lco-reduce calibrations mark-bad ID``).
    id: Mapped[int] = mapped_column(primary_key=True)
    #: 'bias', 'dark' or 'skyflat'.
    kind: Mapped[str] = mapped_column(String)
    #: SITEID.
    site: Mapped[str] = mapped_column(String)
    #: TELESCOP.
    telescope: Mapped[str] = mapped_column(String)
    #: INSTRUME.
    camera: Mapped[str] = mapped_column(String)
    #: '1x1', '2x2', ...
    binning: Mapped[str] = mapped_column(String)
    #: CONFMODE.
    configuration_mode: Mapped[str] = mapped_column(String)
    #: FILTER (matched for sky flats).
    filter: Mapped[str | None] = mapped_column(String)
    #: CCDSTEMP, degrees Celsius (matched for darks).
    set_temperature: Mapped[float | None]
    #: Mean DATE-OBS of the inputs, UTC.
    date_obs: Mapped[dt.datetime] = mapped_column(UtcDateTime())
    # Unique so that two processes registering the same file cannot both insert it.
    #: The master file.
    path: Mapped[str] = mapped_column(Text, unique=True)
    #: SHA-256 of the file.
    checksum: Mapped[str] = mapped_column(String)
    #: False once marked bad (never selected).
    good: Mapped[bool]
    #: When the file was registered, UTC.
    created: Mapped[dt.datetime] = mapped_column(UtcDateTime())


class ProcessedFrameRow(Base):
    """The last outcome of processing one input file (`lco_cli.library.FrameRecord` is its public form)."""

    __tablename__ = "processed_frames"
    __table_args__ = (
        CheckConstraint("status IN ('ok', 'degraded', 'failed', 'skipped')", name="ck_frames_status"),
    )

    #: Row id.
    id: Mapped[int] = mapped_column(primary_key=True)
    #: The raw file.
    path: Mapped[str] = mapped_column(Text, unique=True)
    #: SHA-256 of the file processed.
    checksum: Mapped[str] = mapped_column(String)
    #: 'ok', 'degraded', 'failed' or 'skipped'.
    status: Mapped[str] = mapped_column(String)
    #: Attempts recorded.
    tries: Mapped[int]
    #: Why it was not ok.
    reason: Mapped[str] = mapped_column(Text)
    # Objects since checksums were kept; the plain path strings older rows hold still read (as
    # products without a checksum), so this needed no schema version of its own.
    #: The files written: a JSON list of ``{"path": ..., "sha256": ...}`` (sha256 null for a file
    #: that did not exist when recorded), or of plain path strings in rows written before that.
    products: Mapped[list[str | dict[str, str | None]]] = mapped_column(JSON)
    #: When the record was written, UTC.
    updated: Mapped[dt.datetime] = mapped_column(UtcDateTime())
    # Schema 2. Null in rows migrated from schema 1.
    #: The outcome in full, a JSON object: ``shortfalls`` (a degraded frame's steps that did not
    #: succeed, each with the input it lacked: ``[{"step", "reason", "needs", "detail"}]``),
    #: ``details`` (OBSTYPE, camera, masters, figures, thumbnail, seconds) and ``run`` (when the
    #: run that recorded it started, ISO 8601 UTC).
    outcome: Mapped[dict[str, Any] | None] = mapped_column(JSON, nullable=True)
