"""CalibrationLibrary: registers masters, selects the one a frame needs, and records processed frames."""

from __future__ import annotations

import contextlib
import datetime as dt
import hashlib
import os
import re
from collections.abc import Callable, Iterator, Mapping, Sequence
from pathlib import Path
from types import TracebackType
from typing import Any

from sqlalchemy import Column, ColumnElement, case, func, inspect, or_, select
from sqlalchemy.engine import URL
from sqlalchemy.exc import DBAPIError, OperationalError, SQLAlchemyError
from sqlalchemy.orm import Session, sessionmaker

from lco_cli.library.engine import (
    DEFAULT_BUSY_TIMEOUT_S,
    DEFAULT_CONNECT_TIMEOUT_S,
    DEFAULT_STATEMENT_TIMEOUT_S,
    WRITE_OPTION,
    dialect_insert,
    open_engine,
    parse_url,
)
from lco_cli.library.errors import (
    LibraryError,
    LibraryNotFoundError,
    MasterChangedError,
    MasterNotFoundError,
    SchemaTooNewError,
    master_facts,
)
from lco_cli.library.migrations import migrate
from lco_cli.library.records import FRAME_STATUSES, FrameRecord, MasterEntry
from lco_cli.library.schema import SCHEMA_VERSION, Base, MasterRow, ProcessedFrameRow, SchemaVersionRow
from lco_cli.results import Shortfall, json_value
from lco_core.calibration_rules import SET_TEMPERATURE, Fact, FactValue, MasterRule, rule_for
from lco_core.master import MasterKind
from lco_core.section import Binning

#: File name of the SQLite library that `CalibrationLibrary.at` keeps in a folder.
DEFAULT_DATABASE_NAME = "calibrations.db"

#: PostgreSQL advisory lock key held while creating the schema, so that processes opening a new
#: database at the same moment create it once (any constant unlikely to be used by others).
_SCHEMA_LOCK_KEY = 0x4C434F5F4C4942

_BINNING = re.compile(r"^[1-9][0-9]*x[1-9][0-9]*$")
_CHUNK = 1 << 20


def file_checksum(path: str | os.PathLike[str]) -> str:
    """SHA-256 of a file's contents as 64 hex digits, read in 1 MiB chunks (memory stays bounded).

    Parameters
    ----------
    path : str or os.PathLike
        The file.

    Returns
    -------
    str
    """
    digest = hashlib.sha256()
    with open(path, "rb") as stream:
        while chunk := stream.read(_CHUNK):
            digest.update(chunk)
    return digest.hexdigest()


def _utcnow() -> dt.datetime:
    return dt.datetime.now(dt.UTC)


class CalibrationLibrary:
    """The calibration library: masters and processed frames in a SQLite file or a PostgreSQL database.

    Parameters
    ----------
    url
        A SQLAlchemy URL: ``sqlite:///path/to/calibrations.db`` (the file and its folder are
        created on first use) or ``postgresql://user:password@host:5432/database`` (psycopg 3;
        ``postgresql+psycopg://`` is the same). The tables and their version row are created
        when absent.
    connect_timeout_s : float
        PostgreSQL: seconds to open a connection, the whole handshake included (libpq counts
        whole seconds and waits at least 2). A ``connect_timeout`` in the URL's query wins.
    statement_timeout_s : float
        PostgreSQL: seconds one statement may run, waiting for locks included. A
        ``-c statement_timeout=...`` in the URL's ``options`` wins.
    busy_timeout_s : float
        SQLite: seconds a writer waits for another process's write lock before
        `~lco_cli.library.errors.LibraryError` says the library is locked (0 fails at once).
    create : bool
        Create the SQLite file, its folder and the tables when absent (the default, as a run
        needs). False opens only a library that exists: nothing is created, and a missing file
        or a database without the library's tables is `LibraryNotFoundError`.

    Raises
    ------
    LibraryNotFoundError
        ``create=False`` and there is no library there.
    SchemaTooNewError
        The database was written by a newer lco-reduce.
    LibraryError
        The URL is not SQLite or PostgreSQL, a timeout is not a number of seconds, or the
        database cannot be reached in time.

    Notes
    -----
    Every method runs its own short transaction, so several processes (or Dask workers, each
    opening the library by `url`) can share one database. Open one library per process.

    The SHA-256 of product and master files is computed at most once per file version in a
    library's lifetime: a file whose device, inode, size, modification and change times are
    unchanged since it was last hashed is taken to have unchanged contents.
    """

    def __init__(
        self,
        url: str,
        *,
        connect_timeout_s: float = DEFAULT_CONNECT_TIMEOUT_S,
        statement_timeout_s: float = DEFAULT_STATEMENT_TIMEOUT_S,
        busy_timeout_s: float = DEFAULT_BUSY_TIMEOUT_S,
        create: bool = True,
    ) -> None:
        self._url: URL = parse_url(url)
        self._display = self._url.render_as_string(hide_password=True)
        self._create = create
        if not create and _missing_sqlite_file(self._url):
            # Checked before connecting: SQLite creates a file it is asked to connect to.
            raise LibraryNotFoundError(self._display)
        self._busy_timeout_s = busy_timeout_s
        # path -> (what `_file_version` said when it was hashed, its SHA-256)
        self._checksums: dict[str, tuple[tuple[int, ...], str]] = {}
        self._engine = open_engine(
            self._url,
            connect_timeout_s=connect_timeout_s,
            statement_timeout_s=statement_timeout_s,
            busy_timeout_s=busy_timeout_s,
        )
        self._sessions = sessionmaker(self._engine, expire_on_commit=False)
        try:
            self._ensure_schema()
        except BaseException:
            self._engine.dispose()
            raise

    @classmethod
    def at(
        cls, folder: Path, *, busy_timeout_s: float = DEFAULT_BUSY_TIMEOUT_S, create: bool = True
    ) -> CalibrationLibrary:
        """The SQLite library ``folder/calibrations.db`` (the default of ``lco-reduce``); folder created.

        Parameters
        ----------
        folder : pathlib.Path
            The folder (made absolute, so worker processes open the same file).
        busy_timeout_s : float
            Seconds a writer waits for another process's write lock.
        create : bool
            False: only an existing library is opened (`LibraryNotFoundError` otherwise) and
            neither the folder nor the file is created.

        Returns
        -------
        CalibrationLibrary
        """
        # Absolute, so that `url` opens the same file from worker processes in other folders.
        folder = Path(folder).absolute()
        url = URL.create("sqlite", database=str(folder / DEFAULT_DATABASE_NAME)).render_as_string()
        return cls(url, busy_timeout_s=busy_timeout_s, create=create)

    @property
    def url(self) -> str:
        """The URL this library was opened with, password included (to open it in another process)."""
        return self._url.render_as_string(hide_password=False)

    def __repr__(self) -> str:
        return f"CalibrationLibrary({self._display!r})"

    def close(self) -> None:
        """Close the pooled database connections."""
        self._engine.dispose()

    def __enter__(self) -> CalibrationLibrary:
        return self

    def __exit__(
        self, kind: type[BaseException] | None, error: BaseException | None, traceback: TracebackType | None
    ) -> None:
        self.close()

    # -- masters ---------------------------------------------------------------------------------

    def register_master(
        self,
        *,
        kind: MasterKind,
        site: str,
        telescope: str,
        camera: str,
        binning: str | Binning,
        configuration_mode: str,
        filter: str | None,
        set_temperature: float | None,
        date_obs: dt.datetime,
        path: str,
        checksum: str,
    ) -> MasterEntry:
        """Register a master file, or update its row when ``path`` is already registered.

        Parameters
        ----------
        kind, site, telescope, camera, configuration_mode
            What the master calibrates (``camera`` is INSTRUME, e.g. 'fa99').
        binning
            '1x1', '2x2', ... or a `Binning`.
        filter
            The filter of a sky flat (required for one); stored but not matched for other kinds.
        set_temperature
            CCD set temperature, deg C; matched for darks only.
        date_obs
            Mean DATE-OBS of the inputs, time-zone aware.
        path, checksum
            Where the master file is (pass absolute paths: the path is the master's identity)
            and the SHA-256 of its contents (`file_checksum`).

        Returns
        -------
        MasterEntry
            The stored row. Re-registering the same file (same checksum) keeps its ``good`` mark
            and ``created`` time; a rebuilt file (new checksum) is a new master: good again, created now.

        Raises
        ------
        LibraryError
            Incomplete input, or the database cannot be written (on SQLite: another process held
            its write lock longer than ``busy_timeout_s``).
        """
        binning = _binning(binning)
        _require_aware(date_obs, "date_obs", path)
        if kind is MasterKind.SKYFLAT and not filter:
            raise LibraryError(f"{path}: a skyflat master needs its filter to be registered")
        if not path or not checksum:
            raise LibraryError(
                f"{path or '(no path)'}: a master needs a path and a checksum to be registered"
            )
        values = {
            "kind": kind.value,
            "site": site,
            "telescope": telescope,
            "camera": camera,
            "binning": binning,
            "configuration_mode": configuration_mode,
            "filter": filter,
            "set_temperature": set_temperature,
            "date_obs": date_obs,
            "path": path,
            "checksum": checksum,
        }
        with self._errors(f"register master {path}"), self._write() as session:
            insert = dialect_insert(self._engine, MasterRow).values(**values, good=True, created=_utcnow())
            same_file = MasterRow.checksum == insert.excluded.checksum
            # A single upsert: two processes registering the same path at once end with one row.
            upsert = insert.on_conflict_do_update(
                index_elements=["path"],
                set_={
                    **{name: insert.excluded[name] for name in values if name != "path"},
                    "good": case((same_file, MasterRow.good), else_=True),
                    "created": case((same_file, MasterRow.created), else_=insert.excluded.created),
                },
            ).returning(MasterRow)
            row = session.scalars(upsert, execution_options={"populate_existing": True}).one()
            return _master_entry(row)

    def select_master(
        self,
        kind: MasterKind,
        *,
        camera: str,
        binning: str | Binning,
        configuration_mode: str,
        date_obs: dt.datetime,
        filter: str | None = None,
        set_temperature: float | None = None,
        site: str | None = None,
        telescope: str | None = None,
        temperature_tolerance: float | None = None,
    ) -> MasterEntry:
        """The good master of ``kind`` a frame needs: the suitable one closest in time to its DATE-OBS.

        Which masters suit a frame is the kind's rule, `lco_core.calibration_rules.rule_for`
        (tabled in docs/calibration-library.rst); the query is built from it. A master marked
        bad never suits. Equally close masters are separated by the newest ``created``, then the
        highest id.

        Parameters
        ----------
        kind : MasterKind
            Bias, dark or sky flat.
        camera : str
            INSTRUME.
        binning : str or Binning
            E.g. '1x1'.
        configuration_mode : str
            CONFMODE.
        date_obs : datetime.datetime
            The frame's DATE-OBS, time-zone aware.
        filter : str, optional
            FILTER (matched when the rule says so: sky flats).
        set_temperature : float, optional
            CCDSTEMP, degrees Celsius (matched when the rule says so: darks).
        site, telescope : str, optional
            SITEID and TELESCOP (needed only by a rule that matches them).
        temperature_tolerance : float, optional
            Degrees Celsius, instead of the rule's.

        Returns
        -------
        MasterEntry

        Raises
        ------
        MasterNotFoundError
            No good master matches; the message names the closest candidate and how it differs.
        LibraryError
            A negative tolerance, or the rule matches a fact the call did not give.

        See Also
        --------
        verify_master : Check the chosen file is still the one registered before reading it.
        """
        rule = rule_for(kind)
        if temperature_tolerance is not None:
            if not temperature_tolerance >= 0:
                raise LibraryError(f"temperature tolerance {temperature_tolerance} must be >= 0 deg C")
            rule = rule.with_tolerance(SET_TEMPERATURE, temperature_tolerance)
        binning = _binning(binning)
        _require_aware(date_obs, "date_obs", camera)
        given: dict[str, FactValue] = {
            "camera": camera,
            "binning": binning,
            "configuration_mode": configuration_mode,
            "filter": filter,
            "set_temperature": set_temperature,
            "site": site,
            "telescope": telescope,
        }
        wanted = {match.fact.name: given.get(match.fact.name) for match in rule.match}
        conditions = [
            MasterRow.kind == kind.value,
            MasterRow.good.is_(True),
            *_rule_conditions(rule, wanted, camera),
        ]
        time = _column(rule.closest_in)
        newest_first = (MasterRow.created.desc(), MasterRow.id.desc())
        # The closest master is the latest one at or before date_obs or the earliest one after it:
        # two indexed single-row queries instead of reading every match.
        latest_before = (
            select(MasterRow)
            .where(*conditions, time <= date_obs)
            .order_by(time.desc(), *newest_first)
            .limit(1)
        )
        earliest_after = (
            select(MasterRow).where(*conditions, time > date_obs).order_by(time.asc(), *newest_first).limit(1)
        )
        near_misses: list[MasterEntry] = []
        with self._errors(f"select a master {kind.value} for {camera}"), self._read() as session:
            found = [
                _master_entry(row)
                for query in (latest_before, earliest_after)
                if (row := session.scalars(query).first()) is not None
            ]
            if not found:
                candidates = session.scalars(
                    select(MasterRow).where(MasterRow.camera == camera, MasterRow.kind == kind.value)
                )
                near_misses = [_master_entry(row) for row in candidates]
        if not found:
            raise MasterNotFoundError(
                kind,
                wanted=wanted,
                date_obs=date_obs,
                closest=_closest(near_misses, rule, wanted, date_obs),
                rule=rule,
            )
        return max(
            found,
            key=lambda entry: (-abs(_moment(entry, rule.closest_in) - date_obs), entry.created, entry.id),
        )

    def verify_master(self, entry: MasterEntry) -> None:
        """Check that a master's file exists and its SHA-256 is still the registered ``checksum``.

        Call it before reading a master `select_master` returned: a file rebuilt, truncated or
        edited since registration would otherwise calibrate frames silently. The file is hashed
        once per version in this library's lifetime (see the class notes), so checking it for
        every frame of a night costs a ``stat``.

        Parameters
        ----------
        entry : MasterEntry
            From `select_master` or `masters`.

        Raises
        ------
        MasterChangedError
            The file is missing, or its contents differ from the registered ones.
        LibraryError
            The file exists but cannot be read.
        """
        try:
            digest = self._checksum(entry.path)
        except FileNotFoundError:
            raise MasterChangedError(entry.path, entry.id, missing=True) from None
        except OSError as error:
            raise LibraryError(
                f"{entry.path}: master file cannot be read ({error.strerror or error})"
            ) from error
        if digest != entry.checksum:
            raise MasterChangedError(entry.path, entry.id, missing=False)

    def mark(self, path_or_id: str | int, *, good: bool) -> MasterEntry:
        """Mark a master (by path or id) good or bad; a bad master is never selected.

        Parameters
        ----------
        path_or_id : str or int
            The master's registered path, or its id.
        good : bool
            Good (selectable) or bad.

        Returns
        -------
        MasterEntry
            The updated row.

        Raises
        ------
        LibraryError
            No master has that path or id.
        """
        which = MasterRow.id == path_or_id if isinstance(path_or_id, int) else MasterRow.path == path_or_id
        label = "good" if good else "bad"
        with self._errors(f"mark master {path_or_id!r} {label}"), self._write() as session:
            row = session.scalars(select(MasterRow).where(which)).one_or_none()
            if row is None:
                what = f"id {path_or_id}" if isinstance(path_or_id, int) else f"path {path_or_id!r}"
                raise LibraryError(f"{self._display}: no master with {what} to mark {label}")
            row.good = good
            session.flush()
            return _master_entry(row)

    def masters(
        self, *, camera: str | None = None, kind: MasterKind | None = None
    ) -> tuple[MasterEntry, ...]:
        """Registered masters (good and bad), optionally of one camera and kind, ordered by DATE-OBS.

        Parameters
        ----------
        camera : str, optional
            Only this INSTRUME.
        kind : MasterKind, optional
            Only this kind.

        Returns
        -------
        tuple of MasterEntry
        """
        query = select(MasterRow).order_by(MasterRow.date_obs, MasterRow.id)
        if camera is not None:
            query = query.where(MasterRow.camera == camera)
        if kind is not None:
            query = query.where(MasterRow.kind == kind.value)
        with self._errors("list masters"), self._read() as session:
            return tuple(_master_entry(row) for row in session.scalars(query))

    # -- processed frames ------------------------------------------------------------------------

    def record_frame(
        self,
        path: str,
        *,
        checksum: str,
        status: str,
        reason: str = "",
        products: Sequence[str] = (),
        shortfalls: Sequence[Shortfall] = (),
        details: Mapping[str, object] | None = None,
        run: dt.datetime | None = None,
    ) -> FrameRecord:
        """Record the outcome of processing the file ``path`` (SHA-256 ``checksum``).

        The record replaces the previous one for ``path``; ``tries`` counts every call. The
        SHA-256 of each product that exists is stored with it (read before the write
        transaction begins, so hashing holds no lock), which is what `is_done` checks later;
        so are a degraded frame's shortfalls, each naming the input it lacked, which is how a
        later run knows whether it can now do better.

        Parameters
        ----------
        path : str
            The raw file.
        checksum : str
            Its SHA-256 (`file_checksum`).
        status : str
            'ok', 'degraded', 'failed' or 'skipped'.
        reason : str
            Why it was not ok.
        products : sequence of str
            The files written (absolute paths: a product's path is compared with
            ``products_under`` in `is_done`). A calibration frame's product is the master it
            went into.
        shortfalls : sequence of Shortfall
            A degraded frame's steps that did not succeed, with the input each lacked.
        details : mapping, optional
            The rest of the outcome, kept as given (made JSON values: NaN becomes null), so that
            a later run can report the frame without reducing it again.
        run : datetime.datetime, optional
            When the run recording it started, time-zone aware (default: now).

        Returns
        -------
        FrameRecord

        Raises
        ------
        LibraryError
            An unknown status, or the database cannot be written (on SQLite: another process
            held its write lock longer than ``busy_timeout_s``).
        """
        if status not in FRAME_STATUSES:
            raise LibraryError(f"{path}: frame status {status!r} is not one of {', '.join(FRAME_STATUSES)}")
        if run is not None:
            _require_aware(run, "run", path)
        stored = [
            {"path": str(product), "sha256": self._checksum_or_none(str(product))} for product in products
        ]
        updated = _utcnow()
        values = {
            "checksum": checksum,
            "status": status,
            "reason": reason,
            "products": stored,
            "updated": updated,
            "outcome": {
                "shortfalls": [shortfall.to_json() for shortfall in shortfalls],
                "details": json_value(dict(details or {})),
                "run": (run or updated).astimezone(dt.UTC).isoformat(),
            },
        }
        with self._errors(f"record frame {path}"), self._write() as session:
            insert = dialect_insert(self._engine, ProcessedFrameRow).values(path=path, tries=1, **values)
            upsert = insert.on_conflict_do_update(
                index_elements=["path"],
                set_={
                    **{name: insert.excluded[name] for name in values},
                    "tries": ProcessedFrameRow.tries + 1,
                },
            ).returning(ProcessedFrameRow)
            row = session.scalars(upsert, execution_options={"populate_existing": True}).one()
            return _frame_record(row)

    def frame(self, path: str) -> FrameRecord | None:
        """The last recorded outcome for ``path``, or None if it was never recorded.

        Parameters
        ----------
        path : str
            The raw file.

        Returns
        -------
        FrameRecord or None
        """
        with self._errors(f"read the record of frame {path}"), self._read() as session:
            row = session.scalars(
                select(ProcessedFrameRow).where(ProcessedFrameRow.path == path)
            ).one_or_none()
            return None if row is None else _frame_record(row)

    def is_done(
        self,
        path: str,
        checksum: str,
        *,
        products_under: Path | None = None,
        given: Callable[[str], bool] | None = None,
    ) -> bool:
        """Whether a previous run finished this exact file and its products are still as written.

        Done means all of: the record's status is 'ok', or 'degraded' with none of the inputs it
        lacked now ``given``; its checksum is ``checksum``; it names at least one product (every
        frame that ends ok or degraded writes one, so a record without products is not
        trusted); every product exists and its SHA-256 now is the one recorded (a record
        written before product checksums were kept has none, so it is not done); and, when
        ``products_under`` is given, every product lies inside that folder, so that a run into a
        new output folder sharing the library redoes the frame rather than pointing at the
        products of another.

        Parameters
        ----------
        path : str
            The raw file.
        checksum : str
            Its SHA-256 now.
        products_under : pathlib.Path, optional
            The output folder the products must be in (compared after resolving symbolic
            links and relative paths).
        given : callable, optional
            Called with each input a degraded record lacked (`FrameRecord.needs`, e.g.
            `~lco_cli.results.NEED_CATALOG`), last and only then: True when this run has it, so
            the frame is to be redone. None: nothing new is given.

        Returns
        -------
        bool

        See Also
        --------
        done : The record itself.
        """
        return self.done(path, checksum, products_under=products_under, given=given) is not None

    def done(
        self,
        path: str,
        checksum: str,
        *,
        products_under: Path | None = None,
        given: Callable[[str], bool] | None = None,
    ) -> FrameRecord | None:
        """The record of a frame that `is_done`, or None when it is to be reduced (again).

        Parameters
        ----------
        path : str
            The raw file.
        checksum : str
            Its SHA-256 now.
        products_under : pathlib.Path, optional
            The output folder the products must be in.
        given : callable, optional
            Whether this run has an input a degraded record lacked (see `is_done`).

        Returns
        -------
        FrameRecord or None
        """
        record = self.frame(path)
        if (
            record is None
            or record.status not in ("ok", "degraded")
            or record.checksum != checksum
            or not record.products
        ):
            return None
        if products_under is not None:
            folder = Path(products_under).resolve()
            if not all(Path(product).resolve().is_relative_to(folder) for product in record.products):
                return None
        if not all(
            stored is not None and self._checksum_or_none(product) == stored
            for product, stored in zip(record.products, record.product_checksums, strict=True)
        ):
            return None
        # Last: finding out whether an input is now given may cost a catalogue query.
        if record.status == "degraded" and given is not None and any(given(n) for n in sorted(record.needs)):
            return None
        return record

    # -- plumbing --------------------------------------------------------------------------------

    def _ensure_schema(self) -> None:
        with self._errors("open the calibration library"):
            with self._read() as session:
                version = self._stored_version(session)
            if version is None and not self._create:
                raise LibraryNotFoundError(self._display)
            if version is None:
                with self._write() as session:
                    if self._engine.dialect.name == "postgresql":
                        # PostgreSQL runs concurrent CREATE TABLEs side by side (and one fails);
                        # SQLite's write transaction already serialises them.
                        session.execute(select(func.pg_advisory_xact_lock(_SCHEMA_LOCK_KEY)))
                    version = self._stored_version(session)
                    if version is None:
                        Base.metadata.create_all(session.connection())
                        session.add(SchemaVersionRow(id=1, version=SCHEMA_VERSION))
                        version = SCHEMA_VERSION
        if version > SCHEMA_VERSION:
            raise SchemaTooNewError(self._display, version, SCHEMA_VERSION)
        if version < SCHEMA_VERSION:
            self._migrate()

    def _migrate(self) -> None:
        """Upgrade an older schema in one write transaction (`lco_cli.library.migrations`)."""
        with self._errors("upgrade the calibration library's schema"), self._write() as session:
            if self._engine.dialect.name == "postgresql":
                session.execute(select(func.pg_advisory_xact_lock(_SCHEMA_LOCK_KEY)))
            # Again inside the transaction: another process may have upgraded it meanwhile.
            version = self._stored_version(session)
            if version is not None and version < SCHEMA_VERSION:
                migrate(session.connection(), version, database=self._display)

    def _checksum(self, path: str) -> str:
        """SHA-256 of ``path``, hashed again only when `_file_version` says the file changed.

        Raises
        ------
        OSError
            The file cannot be read (FileNotFoundError when it is missing).
        """
        version = _file_version(path)
        cached = self._checksums.get(path)
        if cached is not None and cached[0] == version:
            return cached[1]
        digest = file_checksum(path)
        # Stat again: a file rewritten while it was read must not be cached under its new version.
        if _file_version(path) == version:
            self._checksums[path] = (version, digest)
        return digest

    def _checksum_or_none(self, path: str) -> str | None:
        try:
            return self._checksum(path)
        except OSError:
            # A product that cannot be read is one a rerun must write again.
            return None

    def _stored_version(self, session: Session) -> int | None:
        if not inspect(session.connection()).has_table(SchemaVersionRow.__tablename__):
            return None
        version = session.scalars(select(SchemaVersionRow.version)).one_or_none()
        if version is None:
            raise LibraryError(
                f"{self._display}: has a schema_version table but no version row; "
                "it is not a calibration library lco-reduce wrote"
            )
        return version

    @contextlib.contextmanager
    def _read(self) -> Iterator[Session]:
        with self._sessions.begin() as session:
            yield session

    @contextlib.contextmanager
    def _write(self) -> Iterator[Session]:
        with self._sessions.begin() as session:
            # Must be the session's first use: the option only applies when its connection begins.
            session.connection(execution_options={WRITE_OPTION: True})
            yield session

    @contextlib.contextmanager
    def _errors(self, what: str) -> Iterator[None]:
        try:
            yield
        except SQLAlchemyError as error:
            reason = _first_line(error)
            if (
                isinstance(error, OperationalError)
                and self._engine.dialect.name == "sqlite"
                and "locked" in reason
            ):
                reason = (
                    f"the library is locked by another process (waited {self._busy_timeout_s:g} s "
                    "for its write lock); try again when that process finishes, or raise busy_timeout_s"
                )
            raise LibraryError(f"{self._display}: cannot {what}: {reason}") from error


def _missing_sqlite_file(url: URL) -> bool:
    """Whether ``url`` names a SQLite file that does not exist (never for memory or URI databases)."""
    database = url.database or ""
    if url.get_backend_name() != "sqlite" or database in ("", ":memory:") or database.startswith("file:"):
        return False
    return not Path(database).is_file()


def _binning(binning: str | Binning) -> str:
    text = str(binning)
    if not _BINNING.match(text):
        raise LibraryError(f"binning {text!r} is not of the form '1x1', '2x2' (str of lco_core Binning)")
    return text


def _require_aware(moment: dt.datetime, name: str, what: str) -> None:
    if moment.tzinfo is None or moment.utcoffset() is None:
        raise LibraryError(f"{what}: {name} {moment.isoformat()} has no time zone; pass a UTC datetime")


def _first_line(error: SQLAlchemyError) -> str:
    # SQLAlchemy appends the statement and a help link on further lines; the driver's own
    # message is what says what went wrong.
    text = str(error.orig) if isinstance(error, DBAPIError) else str(error)
    lines = [line.strip() for line in text.splitlines() if line.strip()]
    return lines[0] if lines else type(error).__name__


def _column(fact: Fact) -> Column[Any]:
    """The masters table's column of a fact."""
    return MasterRow.__mapper__.columns[fact.name]


def _rule_conditions(
    rule: MasterRule, wanted: Mapping[str, FactValue], what: str
) -> list[ColumnElement[bool]]:
    """The SQL conditions of a rule's matches for a frame's facts (the same on SQLite and PostgreSQL)."""
    conditions: list[ColumnElement[bool]] = []
    for match in rule.match:
        column = _column(match.fact)
        value = wanted.get(match.fact.name)
        if match.tolerance is None:
            if value is None and not column.nullable:
                raise LibraryError(
                    f"{what}: a master {rule.kind.value} must match the frame's {match.fact.title} "
                    f"({match.fact.keyword}); pass it to select_master"
                )
            conditions.append(column.is_(None) if value is None else column == value)
        elif isinstance(value, int | float):
            # Unknown on either side matches: the rule can only be applied when both are known.
            low, high = value - match.tolerance, value + match.tolerance
            conditions.append(or_(column.is_(None), column.between(low, high)))
    return conditions


def _moment(entry: MasterEntry, fact: Fact) -> dt.datetime:
    moment = master_facts(entry)[fact.name]
    assert isinstance(moment, dt.datetime), f"{fact.title} of a master is not a time"
    return moment


def _closest(
    entries: Sequence[MasterEntry], rule: MasterRule, wanted: Mapping[str, FactValue], date_obs: dt.datetime
) -> MasterEntry | None:
    """The near miss most worth naming: fewest unmet rules (a bad mark is one), then closest in time."""
    if not entries:
        return None
    return min(
        entries,
        key=lambda entry: (
            len(rule.unmet(master_facts(entry), wanted)) + (not entry.good),
            abs(_moment(entry, rule.closest_in) - date_obs),
            -entry.id,
        ),
    )


def _master_entry(row: MasterRow) -> MasterEntry:
    return MasterEntry(
        id=row.id,
        kind=MasterKind(row.kind),
        site=row.site,
        telescope=row.telescope,
        camera=row.camera,
        binning=row.binning,
        configuration_mode=row.configuration_mode,
        filter=row.filter,
        set_temperature=row.set_temperature,
        date_obs=row.date_obs,
        path=row.path,
        checksum=row.checksum,
        good=row.good,
        created=row.created,
    )


def _frame_record(row: ProcessedFrameRow) -> FrameRecord:
    # Rows migrated from schema 1 have no outcome.
    outcome: Mapping[str, Any] = row.outcome if isinstance(row.outcome, Mapping) else {}
    shortfalls = outcome.get("shortfalls")
    details = outcome.get("details")
    run = outcome.get("run")
    return FrameRecord(
        path=row.path,
        checksum=row.checksum,
        status=row.status,
        tries=row.tries,
        reason=row.reason,
        products=tuple(_product_path(product) for product in row.products),
        product_checksums=tuple(_product_checksum(product) for product in row.products),
        updated=row.updated,
        shortfalls=tuple(Shortfall.from_json(item) for item in shortfalls or () if isinstance(item, Mapping)),
        details=dict(details) if isinstance(details, Mapping) else {},
        run=_instant(run),
    )


def _instant(text: object) -> dt.datetime | None:
    """An ISO 8601 instant stored as text, UTC; None for anything else."""
    try:
        moment = dt.datetime.fromisoformat(text) if isinstance(text, str) else None
    except ValueError:
        return None
    if moment is None or moment.tzinfo is None:
        return None
    return moment.astimezone(dt.UTC)


def _product_path(stored: str | dict[str, str | None]) -> str:
    # Rows written before product checksums were kept hold plain path strings.
    return stored if isinstance(stored, str) else str(stored["path"])


def _product_checksum(stored: str | dict[str, str | None]) -> str | None:
    return None if isinstance(stored, str) else stored.get("sha256")


def _file_version(path: str) -> tuple[int, ...]:
    """What changes when a file is rewritten or replaced: device, inode, size, mtime, ctime (ns)."""
    info = os.stat(path)
    return (info.st_dev, info.st_ino, info.st_size, info.st_mtime_ns, info.st_ctime_ns)
