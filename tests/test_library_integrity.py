"""Issue 11 in the calibration library: done means the products still match, masters are checked
before use, and a silent PostgreSQL server or a held SQLite lock costs seconds, not minutes."""

from __future__ import annotations

import datetime as dt
import os
import pickle
import socket
import sqlite3
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import create_engine, text
from sqlalchemy.engine import make_url
from test_library import _postgres_base_url

import lco_cli.library.library as library_module
from lco_cli.library import (
    CalibrationLibrary,
    LibraryError,
    MasterChangedError,
    MasterEntry,
    MasterKind,
    file_checksum,
)
from lco_cli.library.engine import postgresql_connect_args

RAW = "/raw/cpt1m010-fa99-20260101-0042-e00.fits.fz"
RAW_SHA = "a" * 64


@pytest.fixture
def library(tmp_path: Path) -> Iterator[CalibrationLibrary]:
    with CalibrationLibrary.at(tmp_path / "db") as opened:
        yield opened


def _product(
    folder: Path, name: str = "cpt1m010-fa99-20260101-0042-e91.fits", data: bytes = b"x" * 100
) -> str:
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / name
    path.write_bytes(data)
    return str(path)


def _register(library: CalibrationLibrary, path: str) -> MasterEntry:
    return library.register_master(
        kind=MasterKind.BIAS, site="cpt", telescope="1m0-10", camera="fa99", binning="1x1",
        configuration_mode="full_frame", filter=None, set_temperature=None,
        date_obs=dt.datetime(2026, 1, 1, 12, tzinfo=dt.UTC), path=path, checksum=file_checksum(path),
    )  # fmt: skip


def _rewrite(path: str, data: bytes) -> None:
    """Rewrite in place and move the mtime on, as a second write within one clock tick may not."""
    before = os.stat(path).st_mtime_ns
    Path(path).write_bytes(data)
    os.utime(path, ns=(before + 10**9, before + 10**9))


# -- item 9: done ignores outputs -----------------------------------------------------------------


def test_done_needs_every_product_present_and_unchanged(library: CalibrationLibrary, tmp_path: Path) -> None:
    """Issue 11 item 9 (done ignores outputs): a deleted or altered product makes the frame not done."""
    science = _product(tmp_path / "out")
    master = _product(tmp_path / "out" / "masters", "bias.fits", b"m" * 50)
    record = library.record_frame(RAW, checksum=RAW_SHA, status="ok", products=[science, master])
    assert record.products == (science, master)
    assert record.product_checksums == (file_checksum(science), file_checksum(master))
    assert library.frame(RAW) == record
    assert library.is_done(RAW, RAW_SHA)
    assert not library.is_done(RAW, "b" * 64)  # the raw file changed

    _rewrite(science, b"y" * 100)  # same size, other contents
    assert not library.is_done(RAW, RAW_SHA)
    _rewrite(science, b"x" * 100)  # the recorded contents again
    assert library.is_done(RAW, RAW_SHA)
    Path(master).unlink()
    assert not library.is_done(RAW, RAW_SHA)


def test_ok_without_products_or_with_a_product_never_written_is_not_done(
    library: CalibrationLibrary, tmp_path: Path
) -> None:
    """Issue 11 item 9 (done ignores outputs): an ok record that proves no output is redone."""
    library.record_frame(RAW, checksum=RAW_SHA, status="ok")
    assert not library.is_done(RAW, RAW_SHA)
    missing = str(tmp_path / "out" / "never-written.fits")
    record = library.record_frame(RAW, checksum=RAW_SHA, status="ok", products=[missing])
    assert record.product_checksums == (None,)
    # Writing the file afterwards does not make it the product that was recorded.
    _product(tmp_path / "out", "never-written.fits")
    assert not library.is_done(RAW, RAW_SHA)


def test_done_only_for_products_under_the_output_folder(library: CalibrationLibrary, tmp_path: Path) -> None:
    """Issue 11 item 9 (done ignores outputs): a new --out sharing --db redoes the frame."""
    first = tmp_path / "reduced"
    library.record_frame(RAW, checksum=RAW_SHA, status="ok", products=[_product(first)])
    assert library.is_done(RAW, RAW_SHA, products_under=first)
    assert library.is_done(RAW, RAW_SHA, products_under=tmp_path)
    # The same folder named another way (relative, through a symbolic link) is still it.
    (tmp_path / "link").symlink_to(first)
    assert library.is_done(RAW, RAW_SHA, products_under=tmp_path / "link")
    assert library.is_done(RAW, RAW_SHA, products_under=Path(os.path.relpath(first)))
    assert not library.is_done(RAW, RAW_SHA, products_under=tmp_path / "reduced-again")
    assert not library.is_done(RAW, RAW_SHA, products_under=tmp_path / "red")  # a prefix is not a folder


def test_rows_written_before_product_checksums_read_and_are_not_done(
    library: CalibrationLibrary, tmp_path: Path
) -> None:
    """Issue 11 item 9 (done ignores outputs): old rows (plain path strings) read, but prove nothing."""
    product = _product(tmp_path / "out")
    library.record_frame(RAW, checksum=RAW_SHA, status="failed", reason="first try")
    engine = create_engine(library.url)
    try:
        with engine.begin() as connection:
            connection.execute(
                text("UPDATE processed_frames SET status = 'ok', products = :products"),
                {"products": f'["{product}"]'},
            )
    finally:
        engine.dispose()
    record = library.frame(RAW)
    assert record is not None
    assert (record.products, record.product_checksums) == ((product,), (None,))
    assert not library.is_done(RAW, RAW_SHA)


# -- item 9: master changed on disk ---------------------------------------------------------------


def test_a_master_changed_or_missing_on_disk_is_refused(library: CalibrationLibrary, tmp_path: Path) -> None:
    """Issue 11 item 9 (master changed on disk): verify_master raises a one-line MasterChangedError."""
    path = _product(tmp_path / "masters", "bias.fits", b"m" * 1000)
    entry = _register(library, path)
    library.verify_master(entry)

    _rewrite(path, b"n" * 1000)
    with pytest.raises(MasterChangedError) as changed:
        library.verify_master(entry)
    assert str(changed.value) == (
        f"{path}: master file changed on disk since it was registered (SHA-256 differs); "
        f"re-run its night or `lco-reduce calibrations mark-bad {entry.id}`"
    )
    assert isinstance(changed.value, LibraryError)
    copy = pickle.loads(pickle.dumps(changed.value))  # process pools pickle errors
    assert (type(copy), str(copy)) == (MasterChangedError, str(changed.value))

    Path(path).unlink()
    with pytest.raises(MasterChangedError, match=r"bias\.fits: master file is missing; re-run its night"):
        library.verify_master(entry)
    # Registering the rebuilt file makes it the master again.
    Path(path).write_bytes(b"n" * 1000)
    library.verify_master(_register(library, path))


def test_a_master_is_hashed_once_per_version_of_its_file(
    library: CalibrationLibrary, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Issue 11 item 9 (master changed on disk): a night's thousand checks of one master hash it once."""
    path = _product(tmp_path / "masters", "bias.fits", b"m" * 1000)
    entry = _register(library, path)
    calls: list[str] = []

    def counting(name: str) -> str:
        calls.append(name)
        return file_checksum(name)

    monkeypatch.setattr(library_module, "file_checksum", counting)
    for _ in range(1000):
        library.verify_master(entry)
    assert calls == [path]
    _rewrite(path, b"m" * 999 + b"n")
    with pytest.raises(MasterChangedError):
        library.verify_master(entry)
    assert calls == [path, path]
    # Each library keeps its own cache: another process (a new library) hashes the file itself.
    with CalibrationLibrary(library.url) as other, pytest.raises(MasterChangedError):
        other.verify_master(entry)
    assert len(calls) == 3


# -- item 12: PostgreSQL connect timeout ----------------------------------------------------------


@pytest.fixture
def silent_server() -> Iterator[int]:
    """The port of a TCP server that accepts connections and never says a word."""
    server = socket.create_server(("127.0.0.1", 0))
    accepted: list[socket.socket] = []
    stop = threading.Event()

    def accept() -> None:
        server.settimeout(0.1)
        while not stop.is_set():
            try:
                accepted.append(server.accept()[0])
            except TimeoutError:
                continue

    thread = threading.Thread(target=accept, daemon=True)
    thread.start()
    try:
        yield server.getsockname()[1]
    finally:
        stop.set()
        thread.join(timeout=5)
        for connection in accepted:
            connection.close()
        server.close()


def test_a_postgresql_server_that_never_answers_fails_within_seconds(silent_server: int) -> None:
    """Issue 11 item 12 (PostgreSQL connect timeout): libpq's default waited 130 s; now ~2 s."""
    started = time.monotonic()
    with pytest.raises(LibraryError) as raised:
        CalibrationLibrary(f"postgresql://lco:secret@127.0.0.1:{silent_server}/db", connect_timeout_s=1)
    elapsed = time.monotonic() - started
    assert elapsed < 3.5  # libpq's least timeout is 2 s
    message = str(raised.value)
    assert "\n" not in message
    assert message.startswith(f"postgresql+psycopg://lco:***@127.0.0.1:{silent_server}/db: cannot open")
    assert "timeout" in message


def test_a_connect_timeout_in_the_url_wins(silent_server: int) -> None:
    """Issue 11 item 12 (PostgreSQL connect timeout): the URL's connect_timeout beats the keyword."""
    started = time.monotonic()
    with pytest.raises(LibraryError, match="timeout"):
        CalibrationLibrary(
            f"postgresql://lco:secret@127.0.0.1:{silent_server}/db?connect_timeout=2", connect_timeout_s=60
        )
    assert time.monotonic() - started < 3.5


def test_postgresql_timeouts_default_and_yield_to_the_url() -> None:
    """Issue 11 item 12 (PostgreSQL connect timeout): 5 s to connect, 30 s a statement, unless the
    URL says."""
    plain = make_url("postgresql+psycopg://u:p@host/db")
    assert postgresql_connect_args(plain, connect_timeout_s=5.0, statement_timeout_s=30.0) == {
        "connect_timeout": "5",
        "options": "-c statement_timeout=30000",
    }
    assert postgresql_connect_args(plain, connect_timeout_s=0.2, statement_timeout_s=1.5) == {
        "connect_timeout": "1",
        "options": "-c statement_timeout=1500",
    }
    schema = make_url("postgresql+psycopg://u:p@host/db?connect_timeout=9&options=-csearch_path%3Dx")
    assert postgresql_connect_args(schema, connect_timeout_s=5.0, statement_timeout_s=30.0) == {
        "options": "-csearch_path=x -c statement_timeout=30000"
    }
    own = make_url("postgresql+psycopg://u:p@host/db?options=-c%20statement_timeout%3D100")
    assert postgresql_connect_args(own, connect_timeout_s=5.0, statement_timeout_s=30.0) == {
        "connect_timeout": "5"
    }
    for keyword in ("connect_timeout_s", "statement_timeout_s", "busy_timeout_s"):
        timeout: dict[str, Any] = {keyword: -1}  # one timeout at a time, by name
        with pytest.raises(LibraryError, match=rf"^{keyword} -1 must be a finite number of seconds"):
            CalibrationLibrary("postgresql://u:p@127.0.0.1:1/db", **timeout)


def test_a_postgresql_statement_waiting_on_a_lock_is_cancelled(tmp_path: Path) -> None:
    """Issue 11 item 12 (PostgreSQL timeouts): a statement blocked by another session's lock stops
    after statement_timeout_s (runs when LCO_TEST_POSTGRES_URL is set, like tests/test_library.py)."""
    base = _postgres_base_url()
    schema = f"lco_test_timeout_{os.getpid()}_{time.monotonic_ns()}"
    admin = create_engine(base)
    try:
        with admin.begin() as connection:
            connection.exec_driver_sql(f'CREATE SCHEMA "{schema}"')
        url = make_url(base).update_query_dict({"options": f"-csearch_path={schema}"})
        url_text = url.render_as_string(hide_password=False)
        with CalibrationLibrary(url_text, statement_timeout_s=1) as library:
            locker = create_engine(url_text)
            try:
                with locker.begin() as holding:
                    holding.exec_driver_sql("LOCK TABLE processed_frames IN ACCESS EXCLUSIVE MODE")
                    started = time.monotonic()
                    with pytest.raises(LibraryError, match="statement timeout") as raised:
                        library.record_frame(RAW, checksum=RAW_SHA, status="failed")
                    assert time.monotonic() - started < 5
                    assert "\n" not in str(raised.value)
            finally:
                locker.dispose()
    finally:
        with admin.begin() as connection:
            connection.exec_driver_sql(f'DROP SCHEMA IF EXISTS "{schema}" CASCADE')
        admin.dispose()


# -- item 7: SQLite lock held over 30 s -----------------------------------------------------------


def test_a_sqlite_write_lock_held_too_long_is_a_one_line_error(tmp_path: Path) -> None:
    """Issue 11 item 7 (SQLite lock held over 30 s): the wait is busy_timeout_s, then a clear error."""
    database = tmp_path / "calibrations.db"
    CalibrationLibrary.at(tmp_path).close()
    holder = sqlite3.connect(database, isolation_level=None)
    try:
        holder.execute("BEGIN IMMEDIATE")
        with CalibrationLibrary.at(tmp_path, busy_timeout_s=0.3) as library:
            assert library.masters() == ()  # reading goes on beside a writer (WAL)
            for write in (
                lambda: library.record_frame(RAW, checksum=RAW_SHA, status="failed"),
                lambda: _register(library, _product(tmp_path / "masters", "bias.fits")),
            ):
                started = time.monotonic()
                with pytest.raises(LibraryError) as raised:
                    write()
                assert 0.25 < time.monotonic() - started < 2
                message = str(raised.value)
                assert "\n" not in message
                assert "locked by another process (waited 0.3 s for its write lock)" in message
        holder.execute("COMMIT")
        with CalibrationLibrary.at(tmp_path, busy_timeout_s=0.3) as library:
            assert library.record_frame(RAW, checksum=RAW_SHA, status="failed").tries == 1
    finally:
        holder.close()
