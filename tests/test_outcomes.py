"""Issue 13: a run says what really happened (ok, degraded, failed), and reruns finish what is not done.

One small simulated night (SBIG, 256x256 binned pixels, a rich star field so astrometry and the
zero point succeed when reference stars are given) is reduced four times into one folder:

1. offline, without a catalogue: the science frames' products are written without a WCS or a
   zero point, so they are *degraded*, naming the missing catalogue;
2. the same again with ``--strict``: nothing new is given, nothing is redone, exit code 1;
3. with ``--catalog``: the degraded frames are redone and become ok; the masters are reused;
4. the same again: everything is done, and the summary still describes the whole night.

Truth comes from outside the code under test: the inputs written (which files, which types),
the products' own FITS headers, the files' bytes and times on disk, and the simulator's
injected zero point and seeing.
"""

from __future__ import annotations

import contextlib
import functools
import hashlib
import io
import json
import re
import statistics
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import attrs
import pytest
from astropy.io import fits
from rich.console import Console
from sqlalchemy import (
    JSON,
    Boolean,
    CheckConstraint,
    Column,
    DateTime,
    Float,
    Integer,
    MetaData,
    String,
    Table,
    Text,
    create_engine,
    inspect,
    text,
)
from sqlalchemy.engine import make_url

from lco_cli.commands.run import in_progress, reduce_night
from lco_cli.library import SCHEMA_VERSION, CalibrationLibrary
from lco_cli.main import main
from lco_cli.results import NEED_CATALOG, FrameResult, Shortfall, group_shortfalls
from lco_core import ObsType
from lco_instruments.simulate import Night, make_field, sbig, simulate_night

CALIBRATIONS = ("BIAS", "DARK", "SKYFLAT")


@pytest.fixture(scope="module")
def night(tmp_path_factory: pytest.TempPathFactory) -> Night:
    """3 biases, 3 darks, 3 flats and 2 science frames of 20-30 stars each (seeing 2.0 arcsec)."""
    sim = sbig(size=512)
    field = make_field(sim, seed=32, stars_per_square_degree=40000)
    folder = tmp_path_factory.mktemp("raw") / "kb99"
    return simulate_night(
        folder, sim, n_bias=3, n_dark=3, n_flat=3, n_science=2, seed=32, compress=False, field=field
    )


@attrs.frozen
class Snapshot:
    """What one run left: its exit code, what it printed, its summary and report, and the files."""

    code: int
    printed: str
    summary: dict[str, Any]
    report: str
    files: dict[str, tuple[str, int]]  # name -> (SHA-256, mtime in ns), products and masters
    library: dict[str, Any]  # raw name -> the library's record
    headers: dict[str, fits.Header]  # raw name -> its product's SCI header, as this run left it

    def records(self) -> dict[str, dict[str, Any]]:
        return {Path(record["file"]).name: record for record in self.summary["frames"]}


def _files(out: Path) -> dict[str, tuple[str, int]]:
    return {
        path.name: (hashlib.sha256(path.read_bytes()).hexdigest(), path.stat().st_mtime_ns)
        for path in [*out.glob("*-e91.fits*"), *(out / "masters").glob("*.fits*")]
    }


def _snapshot(out: Path, night: Night, code: int, printed: str) -> Snapshot:
    with CalibrationLibrary.at(out) as library:
        records = {path.name: library.frame(str(path)) for path in night.paths}
    summary = json.loads((out / "summary.json").read_text())
    headers = {}
    for record in summary["frames"]:
        if record["obstype"] == "EXPOSE":
            (product,) = record["products"]
            with fits.open(product) as hdul:
                headers[Path(record["file"]).name] = hdul["SCI"].header.copy()
    return Snapshot(code, printed, summary, (out / "report.html").read_text(), _files(out), records, headers)


def _run(night: Night, out: Path, *extra: str) -> tuple[int, str]:
    """``lco-reduce run`` as typed, what it printed on stderr (the terminal) returned too."""
    printed = io.StringIO()
    with contextlib.redirect_stderr(printed):
        code = main(
            ["run", str(night.folder), "--out", str(out), "--min-frames", "3", "--workers", "1", *extra]
        )
    return code, printed.getvalue()


@pytest.fixture(scope="module")
def runs(night: Night, tmp_path_factory: pytest.TempPathFactory) -> list[Snapshot]:
    out = tmp_path_factory.mktemp("reduced")
    catalog = ("--catalog", str(night.catalog_path))
    snapshots = []
    # 1: no catalogue; through reduce_night, on a terminal-like console, to see the progress bar
    printed = io.StringIO()
    console = Console(file=printed, force_terminal=True, color_system=None, width=400)
    result, code = reduce_night(
        (str(night.folder),), out=out, offline=True, workers=1, min_frames=3, console=console
    )
    assert len(result.frames) == len(night.paths)
    snapshots.append(_snapshot(out, night, code, printed.getvalue()))
    snapshots.append(_snapshot(out, night, *_run(night, out, "--offline", "--strict", "--quiet")))  # 2
    snapshots.append(_snapshot(out, night, *_run(night, out, "--offline", *catalog)))  # 3
    snapshots.append(_snapshot(out, night, *_run(night, out, "--offline", *catalog)))  # 4
    return snapshots


def _science(night: Night) -> list[str]:
    return [path.name for path in night.paths_of(ObsType.EXPOSE)]


def _product(out_files: dict[str, tuple[str, int]], raw: str) -> str:
    stem = raw.removesuffix(".fits").removesuffix("00")
    (name,) = [name for name in out_files if name.startswith(stem + "91")]
    return name


# -- 1: without a catalogue, degraded, and said ----------------------------------------------


def test_without_a_catalogue_science_frames_are_degraded_with_the_reason(
    night: Night, runs: list[Snapshot]
) -> None:
    first = runs[0]
    assert first.code == 0  # degraded is not failed: the products are written
    records = first.records()
    assert set(records) == {path.name for path in night.paths}
    for name in _science(night):
        record = records[name]
        assert record["status"] == "degraded", record["reason"]
        assert "reference catalogue missing" in record["reason"]
        assert "--offline" in record["reason"]  # why it was missing: Gaia not asked
        steps = {shortfall["step"]: shortfall for shortfall in record["shortfalls"]}
        assert set(steps) == {"astrometry", "photometry"}
        assert all(shortfall["needs"] == NEED_CATALOG for shortfall in steps.values())
        header = first.headers[name]  # the product itself: no WCS, no zero point
        assert header["WCSERR"] == 4
        assert "L1ZP" not in header
    for name, record in records.items():
        if record["obstype"] in CALIBRATIONS:
            assert record["status"] == "ok", (name, record["reason"])
    assert first.summary["counts"] == {
        "ok": len(night.paths) - 2, "degraded": 2, "failed": 0, "skipped": 0, "reused": 0,
    }  # fmt: skip


def test_the_library_records_what_a_degraded_frame_lacked(night: Night, runs: list[Snapshot]) -> None:
    for name in _science(night):
        before, after = runs[0].library[name], runs[2].library[name]
        assert before.status == "degraded"
        assert before.needs == frozenset({NEED_CATALOG})
        assert {s.step for s in before.shortfalls} == {"astrometry", "photometry"}
        assert before.details["figures"]["WCSERR"] == 4
        assert after.status == "ok"
        assert after.needs == frozenset()
        assert after.tries == 2  # redone once, by the run with the catalogue


def test_the_closing_summary_groups_degraded_frames_and_says_what_to_do(
    night: Night, runs: list[Snapshot]
) -> None:
    printed = " ".join(runs[0].printed.split())
    (head,) = [line for line in runs[0].printed.splitlines() if "type" in line and "skipped" in line]
    assert head.split() == ["┃", "type", "┃", "ok", "┃", "degraded", "┃", "failed", "┃", "skipped", "┃"]
    # One line per group, not per frame; each says how many, what is missing and what to do.
    for what in ("without an astrometric solution", "without a zero point"):
        (line,) = [line for line in runs[0].printed.splitlines() if f"degraded 2 frames {what}" in line]
        assert f"no {NEED_CATALOG}" in line
        assert "--catalog FILE" in line
    assert "degraded 2 frames in all: products written, without what is said above; --strict makes" in printed
    groups = runs[0].summary["degraded"]
    assert [(g["step"], g["frames"], g["needs"]) for g in groups] == [
        ("astrometry", 2, NEED_CATALOG), ("photometry", 2, NEED_CATALOG),
    ]  # fmt: skip
    assert sorted(Path(name).name for name in groups[0]["files"]) == sorted(_science(night))


def test_strict_makes_degraded_frames_exit_1_and_nothing_new_redoes_nothing(
    night: Night, runs: list[Snapshot]
) -> None:
    first, strict = runs[0], runs[1]
    assert strict.code == 1
    assert (first.summary["options"]["strict"], strict.summary["options"]["strict"]) == (False, True)
    # Still offline without a catalogue: what the frames lacked is not given, so they are not
    # redone; their recorded outcome is reported (and --quiet still says they are degraded).
    assert strict.files == first.files
    assert {n: r["status"] for n, r in strict.records().items()} == {
        n: r["status"] for n, r in first.records().items()
    }
    assert all(record["reused"] for record in strict.records().values())
    assert "degraded 2 frames without a zero point" in strict.printed
    assert "--strict makes" not in strict.printed


def test_groups_of_other_causes_are_kept_apart() -> None:
    sparse = Shortfall("astrometry", "only 3 sources on the image (need 6)")
    missing = Shortfall("astrometry", "no reference stars around the pointing", NEED_CATALOG, "Gaia offline")
    frames = [
        FrameResult("/raw/a.fits", "degraded", shortfalls=(missing,)),
        FrameResult("/raw/b.fits", "degraded", shortfalls=(missing,)),
        FrameResult("/raw/c.fits", "degraded", shortfalls=(sparse,)),
        FrameResult("/raw/d.fits", "ok"),
    ]
    lines = [group.line() for group in group_shortfalls(frames)]
    assert lines == [
        "2 frames without an astrometric solution (WCSERR 4): no reference catalogue: Gaia offline; "
        "pass --catalog FILE, or run online so Gaia DR3 can be queried",
        "1 frame without an astrometric solution (WCSERR 4): only 3 sources on the image (need 6)",
    ]


# -- 3: a rerun with a catalogue finishes the job ----------------------------------------------


def test_a_rerun_with_a_catalogue_makes_degraded_frames_ok_without_rebuilding_masters(
    night: Night, runs: list[Snapshot]
) -> None:
    first, rerun = runs[0], runs[2]
    assert rerun.code == 0
    records = rerun.records()
    for name in _science(night):
        assert records[name]["status"] == "ok", records[name]["reason"]
        assert not records[name]["reused"]
        header = rerun.headers[name]
        assert header["WCSERR"] == 0
        assert header["L1ZP"] == pytest.approx(night.field.zero_points["rp"], abs=0.05)
        assert first.files[_product(first.files, name)] != rerun.files[_product(rerun.files, name)]
    # The bad pixel mask is written again with each run's science frames (same pixels, new DATE).
    masters = [name for name in first.files if "-e91" not in name and "-bpm-" not in name]
    assert sorted(name.split("-")[3] for name in masters) == ["bias", "dark", "skyflat"]
    assert {name: rerun.files[name] for name in masters} == {name: first.files[name] for name in masters}
    for name, record in records.items():
        if record["obstype"] in CALIBRATIONS:
            assert record["reused"], name
            assert record["run"] == first.summary["run"]  # the run that made the master
    assert rerun.summary["degraded"] == []


def test_every_rerun_describes_the_whole_night(night: Night, runs: list[Snapshot]) -> None:
    names = {path.name for path in night.paths}
    master_names = sorted(n for n in runs[0].files if "-e91" not in n and "-bpm-" not in n)
    for which, snapshot in enumerate(runs):
        assert set(snapshot.records()) == names, which
        assert sorted(Path(m["file"]).name for m in snapshot.summary["masters"]) == master_names, which
        assert all(m["figures"] for m in snapshot.summary["masters"]), which
        assert all(m["reused"] == (which > 0) for m in snapshot.summary["masters"]), which
        for name in [*names, *master_names]:
            assert name in snapshot.report, (which, name)
        assert f"{len(names)} files" in snapshot.report
    assert "done by earlier runs" in runs[3].report


def test_a_rerun_with_nothing_new_reuses_everything_and_reports_the_same(
    night: Night, runs: list[Snapshot]
) -> None:
    before, again = runs[2], runs[3]
    assert again.code == 0
    assert again.files == before.files  # nothing rewritten
    for name, record in again.records().items():
        previous = before.records()[name]
        assert record["reused"], name
        assert (record["status"], record["reason"], record["products"]) == (
            previous["status"], previous["reason"], previous["products"],
        )  # fmt: skip
        assert record["figures"] == previous["figures"]
    assert again.summary["counts"]["reused"] == len(night.paths)
    assert again.summary["cameras"] == before.summary["cameras"]


# -- the closing summary's figures and the progress bar --------------------------------------


def test_the_closing_summary_gives_each_cameras_median_figures(night: Night, runs: list[Snapshot]) -> None:
    rerun = runs[2]
    science = [r for r in rerun.summary["frames"] if r["obstype"] == "EXPOSE"]
    cameras = rerun.summary["cameras"]
    assert set(cameras) == {"kb99"}
    medians = cameras["kb99"]["median"]
    for key in ("L1FWHM", "L1ZP", "WCSRMS"):
        assert medians[key] == pytest.approx(statistics.median(r["figures"][key] for r in science))
    # Against the simulator: its seeing and its zero point.
    assert medians["L1FWHM"] == pytest.approx(night.field.seeing_arcsec, rel=0.1)
    assert medians["L1ZP"] == pytest.approx(night.field.zero_points["rp"], abs=0.05)
    assert medians["WCSRMS"] < 0.3
    (row,) = [line for line in rerun.printed.splitlines() if line.lstrip("│ ").startswith("kb99")]
    assert re.findall(r"\d+\.\d+|\b\d+\b", row.replace("kb99", "")) == [
        "2", f"{medians['L1FWHM']:.2f}", f"{medians['L1ZP']:.2f}", f"{medians['WCSRMS']:.2f}",
    ]  # fmt: skip


def test_the_progress_bar_shows_frames_in_progress_and_time_left(runs: list[Snapshot]) -> None:
    assert in_progress(0, 2) == ""
    assert in_progress(1, 2) == "1 in progress"
    assert in_progress(5, 2) == "2 in progress, 3 queued"
    assert "1 in progress" in runs[0].printed  # one worker
    assert "left" in runs[0].printed


# -- the library's schema ----------------------------------------------------------------------


def _schema_1(metadata: MetaData) -> None:
    """The tables as lco-reduce wrote them at schema version 1 (git history of library/schema.py)."""
    Table("schema_version", metadata, Column("id", Integer, primary_key=True), Column("version", Integer))
    Table(
        "masters", metadata, Column("id", Integer, primary_key=True), Column("kind", String),
        Column("site", String), Column("telescope", String), Column("camera", String),
        Column("binning", String), Column("configuration_mode", String), Column("filter", String),
        Column("set_temperature", Float), Column("date_obs", DateTime(timezone=True)),
        Column("path", Text, unique=True), Column("checksum", String), Column("good", Boolean),
        Column("created", DateTime(timezone=True)),
    )  # fmt: skip
    Table(
        "processed_frames", metadata, Column("id", Integer, primary_key=True),
        Column("path", Text, unique=True, nullable=False), Column("checksum", String, nullable=False),
        Column("status", String, nullable=False), Column("tries", Integer, nullable=False),
        Column("reason", Text, nullable=False), Column("products", JSON, nullable=False),
        Column("updated", DateTime(timezone=True), nullable=False),
        CheckConstraint("status IN ('ok', 'failed', 'skipped')", name="ck_frames_status"),
    )  # fmt: skip


@pytest.fixture(params=["sqlite", "postgresql"])
def old_library(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    """The URL of a library at schema 1 holding one ok frame (PostgreSQL as test_library.py has it)."""
    if request.param == "sqlite":
        url = f"sqlite:///{tmp_path / 'calibrations.db'}"
        cleanup = None
    else:
        from test_library import _postgres_base_url  # the same server, and the same skip rules

        base = _postgres_base_url()
        schema = f"lco_test_{uuid.uuid4().hex}"
        admin = create_engine(base)
        with admin.begin() as connection:
            connection.exec_driver_sql(f'CREATE SCHEMA "{schema}"')
        url = (
            make_url(base)
            .update_query_dict({"options": f"-csearch_path={schema}"})
            .render_as_string(hide_password=False)
        )
        cleanup = (admin, schema)
    engine = create_engine(url)
    metadata = MetaData()
    _schema_1(metadata)
    with engine.begin() as connection:
        metadata.create_all(connection)
        connection.execute(text("INSERT INTO schema_version (id, version) VALUES (1, 1)"))
        connection.execute(
            text(
                "INSERT INTO processed_frames (id, path, checksum, status, tries, reason, products, updated) "
                "VALUES (7, '/raw/a-e00.fits', :checksum, 'ok', 3, '', :products, :updated)"
            ),
            {
                "checksum": "a" * 64,
                "products": json.dumps([{"path": "/out/a-e91.fits", "sha256": "b" * 64}]),
                "updated": "2026-01-02 03:04:05",
            },
        )
    engine.dispose()
    try:
        yield url
    finally:
        if cleanup is not None:
            admin, schema = cleanup
            with admin.begin() as connection:
                connection.exec_driver_sql(f'DROP SCHEMA IF EXISTS "{schema}" CASCADE')
            admin.dispose()


def test_a_schema_1_library_is_migrated_keeping_its_records(old_library: str, tmp_path: Path) -> None:
    assert SCHEMA_VERSION == 2
    with CalibrationLibrary(old_library) as library:
        kept = library.frame("/raw/a-e00.fits")
        assert kept is not None
        assert (kept.status, kept.tries, kept.checksum, kept.products) == (
            "ok",
            3,
            "a" * 64,
            ("/out/a-e91.fits",),
        )
        assert (kept.shortfalls, kept.details, kept.run) == ((), {}, None)  # schema 1 had none
        shortfall = Shortfall("photometry", "no astrometric solution", NEED_CATALOG, "offline")
        library.record_frame(
            "/raw/b-e00.fits", checksum="c" * 64, status="degraded", reason="photometry: ...",
            shortfalls=(shortfall,), details={"figures": {"L1ZP": float("nan")}},
        )  # fmt: skip
        degraded = library.frame("/raw/b-e00.fits")
        assert degraded is not None
        assert degraded.status == "degraded"
        assert degraded.shortfalls == (shortfall,)
        assert degraded.details == {"figures": {"L1ZP": None}}
    engine = create_engine(old_library)
    try:
        with engine.connect() as connection:
            assert connection.execute(text("SELECT version FROM schema_version")).scalar() == SCHEMA_VERSION
            assert connection.execute(text("SELECT id FROM processed_frames WHERE tries = 3")).scalar() == 7
        migrated = inspect(engine)
        columns = {c["name"]: c["nullable"] for c in migrated.get_columns("processed_frames")}
    finally:
        engine.dispose()
    # The same table a new library gets.
    fresh_url = f"sqlite:///{tmp_path / 'fresh.db'}" if old_library.startswith("sqlite") else None
    if fresh_url is not None:
        CalibrationLibrary(fresh_url).close()
        fresh = create_engine(fresh_url)
        try:
            assert columns == {
                c["name"]: c["nullable"] for c in inspect(fresh).get_columns("processed_frames")
            }
        finally:
            fresh.dispose()
    assert columns["outcome"] is True


def test_a_degraded_record_is_done_until_what_it_lacked_is_given(tmp_path: Path) -> None:
    product = tmp_path / "out" / "a-e91.fits"
    product.parent.mkdir()
    product.write_bytes(b"a product")
    asked: list[str] = []

    def given(answer: bool) -> Any:
        def ask(need: str) -> bool:
            asked.append(need)
            return answer

        return ask

    lacking = Shortfall("astrometry", "no reference stars around the pointing", NEED_CATALOG, "offline")
    sparse = Shortfall("astrometry", "only 3 sources on the image (need 6)")
    with CalibrationLibrary.at(tmp_path / "library") as library:
        record = functools.partial(
            library.record_frame, "/raw/a.fits", checksum="a" * 64, products=[str(product)]
        )
        record(status="degraded", shortfalls=(lacking,))
        assert library.is_done("/raw/a.fits", "a" * 64)  # nothing new given
        assert library.is_done("/raw/a.fits", "a" * 64, given=given(False))
        assert not library.is_done("/raw/a.fits", "a" * 64, given=given(True))  # now it can do better
        assert asked == [NEED_CATALOG, NEED_CATALOG]
        # Degraded for a reason no input cures (too few stars): done, and nothing is asked.
        record(status="degraded", shortfalls=(sparse,))
        assert library.is_done("/raw/a.fits", "a" * 64, given=given(True))
        record(status="ok")
        assert library.is_done("/raw/a.fits", "a" * 64, given=given(True))
        assert asked == [NEED_CATALOG, NEED_CATALOG]
        product.write_bytes(b"changed")  # done still needs the product as written
        assert not library.is_done("/raw/a.fits", "a" * 64)
