"""The calibration library on SQLite and, when LCO_TEST_POSTGRES_URL is set, on PostgreSQL."""

from __future__ import annotations

import datetime as dt
import hashlib
import itertools
import multiprocessing
import os
import pickle
import threading
import uuid
from collections.abc import Iterator
from multiprocessing.synchronize import Barrier
from pathlib import Path

import pytest
from sqlalchemy import Engine, create_engine, inspect, text
from sqlalchemy.engine import make_url

import lco_cli.library.library as library_module
from lco_cli.library import (
    SCHEMA_VERSION,
    CalibrationLibrary,
    LibraryError,
    LibraryNotFoundError,
    MasterEntry,
    MasterKind,
    MasterNotFoundError,
    SchemaTooNewError,
    file_checksum,
)
from lco_core.errors import LcoError
from lco_core.section import Binning

#: e.g. postgresql+psycopg://lco:lco@localhost:5432/lco_test (`.ci/postgres.sh` prints it).
POSTGRES_ENV = "LCO_TEST_POSTGRES_URL"

T0 = dt.datetime(2026, 1, 1, 12, 0, tzinfo=dt.UTC)
HOUR = dt.timedelta(hours=1)
DAY = dt.timedelta(days=1)


def _postgres_base_url() -> str:
    url = os.environ.get(POSTGRES_ENV, "")
    if not url:
        if os.environ.get("CI") == "true":
            pytest.fail(f"{POSTGRES_ENV} is not set in CI: .ci/run must start PostgreSQL (.ci/postgres.sh)")
        pytest.skip(f"{POSTGRES_ENV} is not set; run .ci/postgres.sh and export the URL it prints")
    parsed = make_url(url)
    if parsed.drivername == "postgresql":
        parsed = parsed.set(drivername="postgresql+psycopg")
    return parsed.render_as_string(hide_password=False)


@pytest.fixture(params=["sqlite", "postgresql"])
def database_url(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    """A URL of an empty database: a new SQLite file, or a new PostgreSQL schema dropped afterwards."""
    if request.param == "sqlite":
        yield f"sqlite:///{tmp_path / 'library' / 'calibrations.db'}"
        return
    base = _postgres_base_url()
    schema = f"lco_test_{uuid.uuid4().hex}"
    admin = create_engine(base)
    try:
        with admin.begin() as connection:
            connection.exec_driver_sql(f'CREATE SCHEMA "{schema}"')
        # libpq's options put every connection of the library (and of its worker processes) in
        # the test's own schema, so each test starts empty.
        url = make_url(base).update_query_dict({"options": f"-csearch_path={schema}"})
        yield url.render_as_string(hide_password=False)
    finally:
        with admin.begin() as connection:
            connection.exec_driver_sql(f'DROP SCHEMA IF EXISTS "{schema}" CASCADE')
        admin.dispose()


@pytest.fixture
def library(database_url: str) -> Iterator[CalibrationLibrary]:
    with CalibrationLibrary(database_url) as opened:
        yield opened


def _raw_engine(url: str) -> Engine:
    return create_engine(url)


def _register(
    library: CalibrationLibrary,
    *,
    kind: MasterKind = MasterKind.BIAS,
    camera: str = "fa99",
    binning: str = "1x1",
    mode: str = "full_frame",
    filter: str | None = None,
    set_temperature: float | None = None,
    date_obs: dt.datetime = T0,
    path: str | None = None,
    checksum: str = "c" * 64,
) -> MasterEntry:
    if path is None:
        path = (
            f"/data/masters/{camera}-{kind.value}-{binning}-{mode}-{filter}-{set_temperature}-"
            f"{date_obs:%Y%m%dT%H%M%S%f}.fits"
        )
    return library.register_master(
        kind=kind,
        site="cpt",
        telescope="1m0-10",
        camera=camera,
        binning=binning,
        configuration_mode=mode,
        filter=filter,
        set_temperature=set_temperature,
        date_obs=date_obs,
        path=path,
        checksum=checksum,
    )


def _select(
    library: CalibrationLibrary,
    kind: MasterKind = MasterKind.BIAS,
    *,
    date_obs: dt.datetime = T0,
    camera: str = "fa99",
    binning: str = "1x1",
    mode: str = "full_frame",
    filter: str | None = None,
    set_temperature: float | None = None,
    temperature_tolerance: float = 1.0,
) -> MasterEntry:
    return library.select_master(
        kind,
        camera=camera,
        binning=binning,
        configuration_mode=mode,
        date_obs=date_obs,
        filter=filter,
        set_temperature=set_temperature,
        temperature_tolerance=temperature_tolerance,
    )


# -- schema ---------------------------------------------------------------------------------------


def test_schema_is_created_on_first_use_with_its_version_row(database_url: str) -> None:
    if database_url.startswith("sqlite"):
        assert not Path(make_url(database_url).database or "").exists()
    with CalibrationLibrary(database_url):
        pass
    engine = _raw_engine(database_url)
    try:
        inspector = inspect(engine)
        assert {"schema_version", "masters", "processed_frames"} <= set(inspector.get_table_names())
        assert "ix_masters_selection" in {index["name"] for index in inspector.get_indexes("masters")}
        with engine.connect() as connection:
            assert connection.execute(text("SELECT id, version FROM schema_version")).all() == [
                (1, SCHEMA_VERSION)
            ]
            if engine.dialect.name == "sqlite":
                assert connection.exec_driver_sql("PRAGMA journal_mode").scalar() == "wal"
    finally:
        engine.dispose()


def test_reopening_keeps_masters_and_one_version_row(database_url: str) -> None:
    with CalibrationLibrary(database_url) as first:
        entry = _register(first)
    with CalibrationLibrary(database_url) as second:
        assert second.masters() == (entry,)
    engine = _raw_engine(database_url)
    try:
        with engine.connect() as connection:
            assert connection.execute(text("SELECT count(*) FROM schema_version")).scalar() == 1
    finally:
        engine.dispose()


def test_newer_schema_is_refused_with_one_line(database_url: str) -> None:
    CalibrationLibrary(database_url).close()
    engine = _raw_engine(database_url)
    try:
        with engine.begin() as connection:
            connection.execute(text("UPDATE schema_version SET version = :v"), {"v": SCHEMA_VERSION + 1})
    finally:
        engine.dispose()
    with pytest.raises(SchemaTooNewError) as raised:
        CalibrationLibrary(database_url)
    message = str(raised.value)
    assert "\n" not in message
    assert f"schema version {SCHEMA_VERSION + 1} is newer" in message
    assert f"understands ({SCHEMA_VERSION})" in message
    assert isinstance(raised.value, LibraryError)
    assert isinstance(raised.value, LcoError)
    password = make_url(database_url).password
    if password:
        assert f":{password}@" not in message


# -- registration ---------------------------------------------------------------------------------


def test_registration_round_trip_with_utc_datetimes(library: CalibrationLibrary) -> None:
    chile = dt.timezone(dt.timedelta(hours=-3))
    before = dt.datetime.now(dt.UTC)
    entry = library.register_master(
        kind=MasterKind.DARK,
        site="lsc",
        telescope="1m0-05",
        camera="fa15",
        binning=Binning(2, 2),
        configuration_mode="central_2k_2x2",
        filter=None,
        set_temperature=-100.0,
        date_obs=dt.datetime(2026, 1, 2, 0, 30, 15, 250_000, tzinfo=chile),
        path="/data/masters/lsc1m005-fa15-20260101-dark-bin2x2.fits",
        checksum="ab" * 32,
    )
    after = dt.datetime.now(dt.UTC)
    assert isinstance(entry.id, int)
    assert (entry.kind, entry.site, entry.telescope, entry.camera) == (
        MasterKind.DARK,
        "lsc",
        "1m0-05",
        "fa15",
    )
    assert (entry.binning, entry.configuration_mode) == ("2x2", "central_2k_2x2")
    assert entry.filter is None
    assert entry.set_temperature == -100.0
    assert entry.date_obs == dt.datetime(2026, 1, 2, 3, 30, 15, 250_000, tzinfo=dt.UTC)
    assert entry.date_obs.utcoffset() == dt.timedelta(0)
    assert entry.created.utcoffset() == dt.timedelta(0)
    assert before <= entry.created <= after
    assert (entry.path, entry.checksum, entry.good) == (
        "/data/masters/lsc1m005-fa15-20260101-dark-bin2x2.fits",
        "ab" * 32,
        True,
    )
    assert library.masters() == (entry,)


def test_reregistering_a_path_updates_its_row(library: CalibrationLibrary) -> None:
    path = "/data/masters/bias.fits"
    first = _register(library, path=path, checksum="1" * 64, date_obs=T0)
    library.mark(path, good=False)
    # The same file again (e.g. a rerun): its row is updated, its bad mark and creation time kept.
    again = _register(library, path=path, checksum="1" * 64, date_obs=T0 + HOUR)
    assert (again.id, again.date_obs, again.good, again.created) == (
        first.id,
        T0 + HOUR,
        False,
        first.created,
    )
    # A rebuilt file at the same path is a new master: good again, created now.
    rebuilt = _register(library, path=path, checksum="2" * 64, date_obs=T0 + 2 * HOUR)
    assert (rebuilt.id, rebuilt.checksum, rebuilt.good) == (first.id, "2" * 64, True)
    assert rebuilt.created > first.created
    assert library.masters() == (rebuilt,)


def test_registration_refuses_what_it_cannot_store(library: CalibrationLibrary) -> None:
    with pytest.raises(LibraryError, match="has no time zone"):
        _register(library, date_obs=dt.datetime(2026, 1, 1, 12))
    with pytest.raises(LibraryError, match="needs its filter"):
        _register(library, kind=MasterKind.SKYFLAT, filter=None)
    with pytest.raises(LibraryError, match="binning '1 1'"):
        _register(library, binning="1 1")
    assert library.masters() == ()


# -- selection ------------------------------------------------------------------------------------


def test_selection_needs_the_same_camera_binning_and_mode(library: CalibrationLibrary) -> None:
    wanted = _register(library, date_obs=T0)
    near = T0 + DAY
    other_camera = _register(library, camera="fa98", date_obs=near)
    other_binning = _register(library, binning="2x2", date_obs=near)
    other_mode = _register(library, mode="central_2k_2x2", date_obs=near)
    other_kind = _register(library, kind=MasterKind.DARK, date_obs=near)
    assert _select(library, date_obs=near) == wanted
    # Each near miss is what its own frames get.
    assert _select(library, camera="fa98", date_obs=near) == other_camera
    assert _select(library, binning="2x2", date_obs=near) == other_binning
    assert _select(library, mode="central_2k_2x2", date_obs=near) == other_mode
    assert _select(library, MasterKind.DARK, date_obs=near) == other_kind


def test_filter_matters_for_flats_only(library: CalibrationLibrary) -> None:
    rp = _register(library, kind=MasterKind.SKYFLAT, filter="rp", date_obs=T0)
    ip = _register(library, kind=MasterKind.SKYFLAT, filter="ip", date_obs=T0 + HOUR)
    assert _select(library, MasterKind.SKYFLAT, filter="rp", date_obs=T0 + HOUR) == rp
    assert _select(library, MasterKind.SKYFLAT, filter="ip", date_obs=T0) == ip
    bias = _register(library, kind=MasterKind.BIAS, filter="air", date_obs=T0)
    assert _select(library, MasterKind.BIAS, filter="rp", date_obs=T0) == bias
    dark = _register(library, kind=MasterKind.DARK, filter="air", date_obs=T0)
    assert _select(library, MasterKind.DARK, filter="rp", date_obs=T0) == dark


def test_set_temperature_matters_for_darks_only(library: CalibrationLibrary) -> None:
    cold = _register(library, kind=MasterKind.DARK, set_temperature=-100.0, date_obs=T0)
    warm = _register(library, kind=MasterKind.DARK, set_temperature=-20.0, date_obs=T0 + HOUR)
    at = T0 + HOUR
    assert _select(library, MasterKind.DARK, set_temperature=-100.0, date_obs=at) == cold
    assert _select(library, MasterKind.DARK, set_temperature=-99.2, date_obs=at) == cold
    assert _select(library, MasterKind.DARK, set_temperature=-21.0, date_obs=T0) == warm
    with pytest.raises(MasterNotFoundError):
        _select(library, MasterKind.DARK, set_temperature=-99.2, temperature_tolerance=0.5, date_obs=at)
    # A frame of unknown set temperature takes the closest dark in time.
    assert _select(library, MasterKind.DARK, set_temperature=None, date_obs=at) == warm
    # A dark of unknown set temperature serves any frame.
    unknown = _register(library, kind=MasterKind.DARK, set_temperature=None, date_obs=T0 + 2 * HOUR)
    assert _select(library, MasterKind.DARK, set_temperature=-100.0, date_obs=T0 + 2 * HOUR) == unknown
    bias = _register(library, kind=MasterKind.BIAS, set_temperature=-100.0, date_obs=T0)
    assert _select(library, MasterKind.BIAS, set_temperature=-20.0, date_obs=T0) == bias


def test_selection_is_the_closest_in_time(library: CalibrationLibrary) -> None:
    offsets_hours = (-300, -40, -39, 0, 7, 8, 30, 200)
    entries = [_register(library, date_obs=T0 + hours * HOUR) for hours in offsets_hours]
    moments = [T0 - 1000 * HOUR, T0 + 1000 * HOUR]
    for entry in entries:
        moments += [entry.date_obs, entry.date_obs - dt.timedelta(seconds=1), entry.date_obs + HOUR / 3]
    for left, right in itertools.pairwise(entries):
        moments.append(left.date_obs + (right.date_obs - left.date_obs) / 2)  # equally close: a tie
    for moment in moments:
        expected = max(entries, key=lambda e: (-abs(e.date_obs - moment), e.created, e.id))
        assert _select(library, date_obs=moment) == expected, moment


def test_ties_go_to_the_newest_created_then_the_highest_id(
    library: CalibrationLibrary, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Equally close before and after: the one registered last wins, wherever it lies.
    after = _register(library, camera="fa01", date_obs=T0 + HOUR)
    before = _register(library, camera="fa01", date_obs=T0 - HOUR)
    assert before.created > after.created
    assert _select(library, camera="fa01", date_obs=T0) == before
    first = _register(library, camera="fa02", date_obs=T0 - HOUR)
    second = _register(library, camera="fa02", date_obs=T0 + HOUR)
    assert _select(library, camera="fa02", date_obs=T0) == second != first
    # Same DATE-OBS and same creation time: the highest id.
    frozen = dt.datetime(2026, 2, 1, tzinfo=dt.UTC)
    monkeypatch.setattr(library_module, "_utcnow", lambda: frozen)
    one = _register(library, camera="fa03", date_obs=T0, path="/m/one.fits")
    two = _register(library, camera="fa03", date_obs=T0, path="/m/two.fits")
    assert one.created == two.created == frozen
    assert two.id > one.id
    assert _select(library, camera="fa03", date_obs=T0 + DAY) == two
    assert _select(library, camera="fa03", date_obs=T0 - DAY) == two


def test_bad_masters_are_not_selected(library: CalibrationLibrary) -> None:
    older = _register(library, date_obs=T0)
    newer = _register(library, date_obs=T0 + DAY)
    assert _select(library, date_obs=T0 + DAY) == newer
    marked = library.mark(newer.path, good=False)
    assert (marked.id, marked.good) == (newer.id, False)
    assert _select(library, date_obs=T0 + DAY) == older
    assert library.mark(newer.id, good=True).good
    assert _select(library, date_obs=T0 + DAY) == newer
    library.mark(older.id, good=False)
    library.mark(newer.id, good=False)
    with pytest.raises(MasterNotFoundError, match=r"\(closest: 2026-01-02, marked bad\)$"):
        _select(library, date_obs=T0 + DAY)
    assert [entry.good for entry in library.masters()] == [False, False]


def test_not_found_names_the_request_and_the_closest_candidate(library: CalibrationLibrary) -> None:
    ip = _register(
        library, kind=MasterKind.SKYFLAT, filter="ip", date_obs=dt.datetime(2026, 1, 2, tzinfo=dt.UTC)
    )
    # Closer in time but wrong in two ways: not the one worth naming.
    _register(
        library, kind=MasterKind.SKYFLAT, filter="rp", binning="2x2", mode="central_2k_2x2", date_obs=T0
    )
    with pytest.raises(MasterNotFoundError) as raised:
        _select(library, MasterKind.SKYFLAT, filter="rp", date_obs=T0)
    error = raised.value
    assert str(error) == (
        "no good master skyflat for fa99 binning 1x1 mode full_frame filter 'rp' "
        "(closest: 2026-01-02 for filter 'ip')"
    )
    assert error.closest == ip
    # Process pools pickle errors: the copy says the same and keeps its fields.
    copy = pickle.loads(pickle.dumps(error))
    assert isinstance(copy, MasterNotFoundError)
    assert (str(copy), copy.closest, copy.kind) == (str(error), ip, MasterKind.SKYFLAT)

    _register(library, kind=MasterKind.DARK, set_temperature=-20.0, binning="2x2", date_obs=T0)
    with pytest.raises(MasterNotFoundError) as dark:
        _select(library, MasterKind.DARK, set_temperature=-100.0, date_obs=T0)
    assert str(dark.value) == (
        "no good master dark for fa99 binning 1x1 mode full_frame set temperature -100+/-1 C "
        "(closest: 2026-01-01 for binning 2x2, set temperature -20 C)"
    )
    with pytest.raises(MasterNotFoundError, match=r"\(no bias masters registered for fa42\)$"):
        _select(library, camera="fa42")


def test_mark_names_what_is_missing(library: CalibrationLibrary) -> None:
    entry = _register(library)
    with pytest.raises(LibraryError, match=r"no master with path '/nowhere.fits' to mark bad$"):
        library.mark("/nowhere.fits", good=False)
    with pytest.raises(LibraryError, match=rf"no master with id {entry.id + 1} to mark good$"):
        library.mark(entry.id + 1, good=True)
    assert library.masters() == (entry,)


def test_masters_are_listed_by_date_and_filtered(library: CalibrationLibrary) -> None:
    late = _register(library, camera="fa01", date_obs=T0 + DAY)
    early = _register(library, camera="fa02", date_obs=T0 - DAY)
    dark = _register(library, camera="fa01", kind=MasterKind.DARK, date_obs=T0)
    assert library.masters() == (early, dark, late)
    assert library.masters(camera="fa01") == (dark, late)
    assert library.masters(camera="fa01", kind=MasterKind.BIAS) == (late,)
    assert library.masters(kind=MasterKind.SKYFLAT) == ()


# -- processed frames -----------------------------------------------------------------------------


def test_frame_records_and_is_done(library: CalibrationLibrary, tmp_path: Path) -> None:
    path = "/raw/cpt1m010-fa99-20260101-0042-e00.fits.fz"
    assert library.frame(path) is None
    assert not library.is_done(path, "a" * 64)

    failed = library.record_frame(path, checksum="a" * 64, status="failed", reason="no master bias")
    assert (failed.status, failed.tries, failed.reason, failed.products) == (
        "failed",
        1,
        "no master bias",
        (),
    )
    assert failed.updated.utcoffset() == dt.timedelta(0)
    assert not library.is_done(path, "a" * 64)

    # A real file: done also means the products exist as written (tests/test_library_integrity.py).
    product = tmp_path / "out" / "cpt1m010-fa99-20260101-0042-e91.fits"
    product.parent.mkdir()
    product.write_bytes(b"product")
    products = (str(product),)
    ok = library.record_frame(path, checksum="a" * 64, status="ok", products=products)
    assert (ok.status, ok.tries, ok.reason, ok.products) == ("ok", 2, "", products)
    assert ok.product_checksums == (file_checksum(product),)
    assert ok.updated >= failed.updated
    assert library.frame(path) == ok
    assert library.is_done(path, "a" * 64)
    assert not library.is_done(path, "b" * 64)  # the file changed since
    assert not library.is_done("/raw/other.fits.fz", "a" * 64)

    skipped = library.record_frame(path, checksum="b" * 64, status="skipped", reason="duplicate")
    assert (skipped.tries, skipped.checksum) == (3, "b" * 64)
    assert not library.is_done(path, "a" * 64)
    with pytest.raises(LibraryError, match="status 'done' is not one of ok, degraded, failed, skipped"):
        library.record_frame(path, checksum="a" * 64, status="done")
    assert library.frame(path) == skipped


# -- several processes at once --------------------------------------------------------------------

PER_PROCESS = 40
PROCESSES = 3


def _register_concurrently(url: str, worker: int, same_paths: bool, barrier: Barrier) -> None:
    """Run in a spawned process: open the library when all are ready, then register and record."""
    barrier.wait(timeout=120)
    with CalibrationLibrary(url) as library:
        for n in range(PER_PROCESS):
            path = f"/m/shared-{n:03d}.fits" if same_paths else f"/m/worker{worker}-{n:03d}.fits"
            _register(library, date_obs=T0 + n * HOUR, path=path, checksum=f"{worker:064d}")
            if same_paths:
                library.record_frame(f"/raw/{n:03d}.fits", checksum="f" * 64, status="ok")


def _run_workers(url: str, *, same_paths: bool) -> None:
    context = multiprocessing.get_context("spawn")
    barrier = context.Barrier(PROCESSES)
    workers = [
        context.Process(target=_register_concurrently, args=(url, worker, same_paths, barrier))
        for worker in range(PROCESSES)
    ]
    for process in workers:
        process.start()
    for process in workers:
        process.join(timeout=180)
    codes = [process.exitcode for process in workers]
    for process in workers:
        if process.is_alive():
            process.kill()
    assert codes == [0] * PROCESSES, f"worker exit codes {codes} (tracebacks above)"


def test_concurrent_registration_loses_nothing(database_url: str) -> None:
    # The processes also race to create the schema: nothing exists before they start.
    _run_workers(database_url, same_paths=False)
    with CalibrationLibrary(database_url) as library:
        entries = library.masters()
    expected = {f"/m/worker{w}-{n:03d}.fits" for w in range(PROCESSES) for n in range(PER_PROCESS)}
    assert len(entries) == PROCESSES * PER_PROCESS
    assert {entry.path for entry in entries} == expected
    assert len({entry.id for entry in entries}) == len(entries)
    for entry in entries:
        worker = int(entry.path.split("worker")[1][0])
        assert entry.checksum == f"{worker:064d}"


def test_concurrent_registration_of_the_same_paths_keeps_one_row_each(database_url: str) -> None:
    CalibrationLibrary(database_url).close()
    _run_workers(database_url, same_paths=True)
    with CalibrationLibrary(database_url) as library:
        entries = library.masters()
        frames = [library.frame(f"/raw/{n:03d}.fits") for n in range(PER_PROCESS)]
    assert sorted(entry.path for entry in entries) == [f"/m/shared-{n:03d}.fits" for n in range(PER_PROCESS)]
    assert all(entry.checksum in {f"{w:064d}" for w in range(PROCESSES)} for entry in entries)
    # Every process's attempt was counted: no increment was lost to another's.
    assert [None if frame is None else frame.tries for frame in frames] == [PROCESSES] * PER_PROCESS


def test_simultaneous_first_opens_create_the_schema_once(database_url: str) -> None:
    openers = 8
    barrier = threading.Barrier(openers)
    errors: list[str] = []

    def open_library() -> None:
        barrier.wait(timeout=60)
        try:
            CalibrationLibrary(database_url).close()
        except LibraryError as error:
            errors.append(str(error))

    threads = [threading.Thread(target=open_library) for _ in range(openers)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=120)
    assert errors == []
    engine = _raw_engine(database_url)
    try:
        with engine.connect() as connection:
            assert connection.execute(text("SELECT version FROM schema_version")).scalars().all() == [
                SCHEMA_VERSION
            ]
    finally:
        engine.dispose()


# -- URLs, files ----------------------------------------------------------------------------------


def test_at_keeps_a_sqlite_file_in_a_new_folder(tmp_path: Path) -> None:
    folder = tmp_path / "night" / "calibrations"
    with CalibrationLibrary.at(folder) as library:
        entry = _register(library)
        assert library.url.startswith("sqlite:///")
    assert (folder / "calibrations.db").is_file()
    with CalibrationLibrary(library.url) as reopened:
        assert reopened.masters() == (entry,)


def test_unusable_urls_are_one_line_errors() -> None:
    with pytest.raises(LibraryError, match="runs on SQLite or PostgreSQL, not mysql"):
        CalibrationLibrary("mysql://user:secret@localhost/db")
    with pytest.raises(LibraryError, match="is not a database URL"):
        CalibrationLibrary("calibrations.db")
    with pytest.raises(LibraryError, match="cannot create the calibration library's folder"):
        CalibrationLibrary(f"sqlite:///{Path(os.devnull) / 'library' / 'calibrations.db'}")
    # Nothing listens on port 1: the error names the server, never the password.
    with pytest.raises(LibraryError) as raised:
        CalibrationLibrary("postgresql://lco:secret@localhost:1/lco_test")
    message = str(raised.value)
    assert "\n" not in message
    assert message.startswith("postgresql+psycopg://lco:***@localhost:1/lco_test: cannot open")
    assert "secret" not in message


def test_file_checksum_is_the_sha256_of_the_contents(tmp_path: Path) -> None:
    data = os.urandom(2 * (1 << 20) + 12345)  # more than two 1 MiB chunks
    path = tmp_path / "master.fits"
    path.write_bytes(data)
    assert file_checksum(path) == hashlib.sha256(data).hexdigest()
    empty = tmp_path / "empty.fits"
    empty.write_bytes(b"")
    assert file_checksum(str(empty)) == hashlib.sha256(b"").hexdigest()


def test_opening_without_create_makes_nothing(database_url: str) -> None:
    """Issue 13: commands that only read a library never create one (the file, or the tables)."""
    with pytest.raises(LibraryNotFoundError, match="no calibration library there"):
        CalibrationLibrary(database_url, create=False)
    engine = create_engine(database_url)
    try:
        # No table (SQLite: not even the file) was made by the refused open.
        if engine.dialect.name == "sqlite":
            assert not Path(str(engine.url.database)).exists()
        else:
            with engine.connect() as connection:
                assert inspect(connection).get_table_names() == []
    finally:
        engine.dispose()
    CalibrationLibrary(database_url).close()  # a run makes it
    with CalibrationLibrary(database_url, create=False) as opened:
        assert opened.masters() == ()
