"""Issue 11: one bad input never stops a night, and nothing is silently lost.

Each test names the item of the issue it covers. The expected outcomes come from the inputs
the test made (which frames are good, which copy which) and from the files on disk, never from
the code under test.
"""

from __future__ import annotations

import errno
import json
import os
import shutil
import sqlite3
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path
from typing import Any, TypeVar

import numpy as np
import pytest
from astropy.io import fits

from lco_cli import night as night_module
from lco_cli.library import CalibrationLibrary
from lco_cli.main import main
from lco_cli.night import NightReduction, RunOptions
from lco_cli.results import FrameResult
from lco_cli.runlock import hold_run_lock
from lco_cli.work import prepared_name
from lco_core import ObsType
from lco_core.io import read_master
from lco_instruments.simulate import Night, sbig, simulate_night

Task = TypeVar("Task")
Result = TypeVar("Result")

MIN_FRAMES = "3"


@pytest.fixture(scope="module")
def small_night(tmp_path_factory: pytest.TempPathFactory) -> Night:
    """One SBIG camera, 128x128 binned pixels: 3 biases, 3 darks, 3 flats, 2 science frames."""
    folder = tmp_path_factory.mktemp("raw") / "kb99"
    return simulate_night(
        folder, sbig(size=256), n_bias=3, n_dark=3, n_flat=3, n_science=2, seed=21, compress=False
    )


def _run(raw: Path | str, out: Path, *extra: str) -> int:
    return main(
        ["run", str(raw), "--out", str(out), "--min-frames", MIN_FRAMES, "--workers", "1", "--quiet", *extra]
    )


def _copy(source: Path, target: Path, data: Callable[[Any], Any] | None = None, /, **cards: object) -> Path:
    """A copy of an uncompressed raw frame with its pixels changed and keywords set (None: removed)."""
    with fits.open(source) as hdul:
        image = next(hdu for hdu in hdul if hdu.data is not None)
        header = image.header.copy()
        pixels = np.array(image.data)
    for key in ("BZERO", "BSCALE"):
        header.remove(key, ignore_missing=True)
    for key, value in cards.items():
        keyword = key.replace("_", "-") if key in ("DATE_OBS", "DAY_OBS") else key
        if value is None:
            header.remove(keyword, ignore_missing=True)
        else:
            header[keyword] = value
    target.parent.mkdir(parents=True, exist_ok=True)
    fits.PrimaryHDU(data(pixels) if data is not None else pixels, header).writeto(target)
    return target


def _replace_card(path: Path, keyword: str, card: str) -> None:
    """Overwrite the 80 bytes of ``keyword``'s card with ``card`` (what astropy would never write)."""
    content = bytearray(path.read_bytes())
    start = content.index(f"{keyword:<8}=".encode())
    content[start : start + 80] = card.ljust(80).encode("latin-1")
    path.write_bytes(bytes(content))


def _summary(out: Path) -> dict[str, Any]:
    document: dict[str, Any] = json.loads((out / "summary.json").read_text())
    return document


def _records(out: Path) -> dict[str, dict[str, Any]]:
    """Records by file: found files by their resolved path; links that lead nowhere as found."""
    return {str(r["file"]): r for r in _summary(out)["frames"]}


def _record(records: dict[str, dict[str, Any]], path: Path) -> dict[str, Any]:
    return records.get(str(path.resolve())) or records[str(path)]


def _science(night: Night) -> tuple[Path, ...]:
    return night.paths_of(ObsType.EXPOSE)


def _status_of(night: Night) -> dict[str, str]:
    """Each raw file's expected status, by name: the calibration frames ok; the science frames
    degraded, their products written without a WCS or a zero point, because the small night's
    field puts fewer stars on them than astrometry needs (6; the simulator's truth says so)."""
    expected = {}
    for path, truth in zip(night.paths, night.truths, strict=True):
        science = truth.obstype is ObsType.EXPOSE
        if science:
            assert len(truth.stars.keep_inside()) < 6, path.name
        expected[path.name] = "degraded" if science else "ok"
    return expected


# -- the whole night -------------------------------------------------------------------------


def test_a_night_with_one_of_each_bad_input_writes_every_good_product(
    small_night: Night, tmp_path: Path, capfd: pytest.CaptureFixture[str]
) -> None:
    """All items at once: every good frame is reduced, summary.json and report.html are written,
    exit 1, and each bad input has its own one-line reason (also under --quiet)."""
    raw = tmp_path / "raw"
    shutil.copytree(small_night.folder, raw / "night1")
    good_science = sorted((raw / "night1").glob("*e00.fits"))
    flats = sorted((raw / "night1").glob("*f00.fits"))
    biases = sorted((raw / "night1").glob("*b00.fits"))
    science = good_science[0]
    bad = raw / "bad"
    expected: dict[Path, tuple[str, str]] = {}  # file: (status, text its reason contains)

    # 1. a card astropy cannot parse
    broken = _copy(science, bad / "badcard-e00.fits", OBJECT="target")
    _replace_card(broken, "OBJECT", "OBJECT  = 'never closed")
    expected[broken] = ("failed", "OBJECT")
    # 2. a calibration frame of another size than its group
    odd = _copy(
        biases[0], bad / "odd-size-b00.fits", lambda d: d[:-8, :-8], DATASEC="[1:120,1:120]",
        TRIMSEC="[2:119,2:119]",
    )  # fmt: skip
    expected[odd] = ("skipped", "no master made")
    # 3. sky flats without a filter
    for n, flat in enumerate(flats):
        expected[_copy(flat, bad / f"nofilter-{n}-f00.fits", FILTER="UNKNOWN")] = ("failed", "FILTER")
    # 4. rich markup in a header value and in a path
    expected[_copy(science, bad / "markup-e00.fits", INSTRUME="[/]")] = ("failed", "[/]")
    expected[_copy(science, bad / "odd[" / "]path-e00.fits", INSTRUME="zz01")] = ("failed", "zz01")
    # 5. a 300-character filter: its flats make a master with a legal file name
    for n, flat in enumerate(flats):
        expected[_copy(flat, bad / f"longfilter-{n}-f00.fits", FILTER="x" * 300)] = ("ok", "")
    # 6. and 7. impossible dates and coordinates
    absurd: dict[str, tuple[str, object]] = {
        "year1": ("DATE_OBS", "0001-01-01T00:00:00"),
        "year9999": ("DATE_OBS", "9999-12-31T23:59:59"),
        "dec": ("DEC", 1e308),
        "pixscale": ("PIXSCALE", 1e308),
        "exptime": ("EXPTIME", 1e30),
        "gain": ("GAIN", 1e-30),
        "nsubread": ("NSUBREAD", 1e9),
    }
    for name, (keyword, value) in absurd.items():
        path = _copy(science, bad / f"{name}-e00.fits", **{keyword: value})
        expected[path] = ("failed", keyword.replace("_", "-"))
    scaled = _copy(science, bad / "bscale-e00.fits", lambda d: d.astype(np.uint16))
    _replace_card(scaled, "BSCALE", f"{'BSCALE':<8}= {-1.0:>20}")
    expected[scaled] = ("failed", "BSCALE")
    # 8. the same bytes twice, and another file of the same name in another folder
    copy = raw / "night2" / science.name
    copy.parent.mkdir()
    shutil.copy(science, copy)
    expected[copy] = ("skipped", "the same bytes")
    namesake = _copy(good_science[1], raw / "night3" / science.name)
    expected[namesake] = ("failed", "would overwrite")
    # frames of another site make their own master, never one with the first site's frames
    for n, bias in enumerate(biases):
        expected[_copy(bias, raw / "site2" / f"elp-{n}-b00.fits", SITEID="elp")] = ("ok", "")
    # unsearchable: a dangling link and a link loop
    (raw / "gone-e00.fits").symlink_to(tmp_path / "nowhere.fits")
    expected[raw / "gone-e00.fits"] = ("failed", "dangling")
    (raw / "night1" / "loop").symlink_to(raw)

    out = tmp_path / "out"
    code = _run(raw, out, "--catalog", str(small_night.catalog_path), "--offline")
    captured = capfd.readouterr()
    assert code == 1
    assert "Traceback" not in captured.out + captured.err
    records = _records(out)
    for path, (status, text) in expected.items():
        record = _record(records, path)
        assert record["status"] == status, (path.name, record["reason"])
        assert text in record["reason"], (path.name, record["reason"])
        assert "\n" not in record["reason"]
    for path in (raw / "night1").glob("*.fits"):
        record = _record(records, path)
        assert record["status"] == _status_of(small_night)[path.name], (path.name, record["reason"])
    assert any("already searched" in r["reason"] for r in records.values())  # the loop, reported
    # --quiet still prints each failure's line, markup as text
    assert "failed markup-e00.fits" in captured.err
    assert "[/]" in captured.err
    # every good science frame has its product
    products = sorted(p.name for p in out.glob("*-e91.fits.fz"))
    assert products == sorted(p.name.replace("e00.fits", "e91.fits.fz") for p in good_science)
    masters = [p.name for p in (out / "masters").glob("*.fits.fz")]
    assert all(len(name.encode()) <= 255 for name in masters)
    assert any("elp" in name and "bias" in name for name in masters)
    lsc_bias = read_master(next(out / "masters" / n for n in masters if n.startswith("lsc") and "bias" in n))
    assert sorted(lsc_bias.inputs) == sorted(p.name for p in biases)
    assert not any("UNKNOWN" in name for name in masters)  # no orphaned master
    assert len([n for n in masters if "skyflat" in n]) == 2  # rp and the long filter
    assert (out / "report.html").stat().st_size > 0
    assert not (out / ".work").exists()


# -- 2 and 7: a master group that fails fails only its frames -------------------------------


def test_a_master_that_cannot_be_written_fails_its_frames_only(
    small_night: Night, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Items 2 and 7: a full disk while writing the flat master (fault injected) fails the flats
    and the science frames that needed a flat; the bias and dark masters and the summary stand."""
    real_write = night_module.write_master  # type: ignore[attr-defined]

    def full_disk(target: Path, master: Any) -> Path:
        if "skyflat" in target.name:
            raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC), str(target))
        return real_write(target, master)

    monkeypatch.setattr(night_module, "write_master", full_disk)
    out = tmp_path / "out"
    assert _run(small_night.folder, out, "--catalog", str(small_night.catalog_path), "--offline") == 1
    by_type: dict[str, set[str]] = {}
    for record in _summary(out)["frames"]:
        by_type.setdefault(record["obstype"] or "?", set()).add(record["status"])
        if record["obstype"] == "SKYFLAT":
            assert "No space left on device" in record["reason"]
    assert by_type["BIAS"] == {"ok"}
    assert by_type["DARK"] == {"ok"}
    assert by_type["SKYFLAT"] == {"failed"}
    assert by_type["EXPOSE"] == {"failed"}
    assert sorted(p.name.split("-")[3] for p in (out / "masters").glob("*.fits.fz")) == ["bias", "dark"]
    assert (out / "report.html").exists()
    assert not (out / ".work").exists()


def test_a_stacking_error_fails_its_group_and_removes_its_work_files(
    small_night: Night, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Item 2: an error while stacking (ShapeMismatchError injected) fails that group only."""
    from lco_core.errors import ShapeMismatchError

    real_stack = night_module.stack_files  # type: ignore[attr-defined]

    def mismatched(paths: Sequence[str], **options: Any) -> Any:
        # "-d00." only in the raw name: a work file's hash prefix may hold "d00" by chance.
        if any("-d00." in Path(p).name for p in paths):
            raise ShapeMismatchError("frames of 128x128 and 120x120 pixels cannot be stacked")
        return real_stack(paths, **options)

    monkeypatch.setattr(night_module, "stack_files", mismatched)
    out = tmp_path / "out"
    assert _run(small_night.folder, out, "--offline") == 1
    statuses = {(r["obstype"], r["status"]) for r in _summary(out)["frames"]}
    assert ("BIAS", "ok") in statuses
    assert ("DARK", "failed") in statuses
    assert ("DARK", "ok") not in statuses
    assert not (out / ".work").exists()


# -- 8: identity by path and content ---------------------------------------------------------


def test_prepared_work_files_are_unique_per_input_path(tmp_path: Path) -> None:
    """Item 8: two inputs of one name in two folders never share a prepared work file."""
    first = prepared_name(str(tmp_path / "night1" / "x-b00.fits"))
    second = prepared_name(str(tmp_path / "night2" / "x-b00.fits"))
    assert first != second
    assert first == prepared_name(str(tmp_path / "night1" / "x-b00.fits"))
    assert len(prepared_name("y" * 250 + ".fits").encode()) <= 255


def test_a_compressed_and_a_plain_copy_make_one_product(small_night: Night, tmp_path: Path) -> None:
    """Item 8: ``x.fits`` beside ``x.fits.fz`` would write one product: the second is refused."""
    raw = tmp_path / "raw"
    shutil.copytree(small_night.folder, raw)
    science = _science(small_night)[0]
    with fits.open(raw / science.name) as hdul:
        fits.HDUList([fits.PrimaryHDU(), fits.CompImageHDU(hdul[1].data, hdul[1].header)]).writeto(
            raw / (science.name + ".fz")
        )
    out = tmp_path / "out"
    assert _run(raw, out, "--catalog", str(small_night.catalog_path), "--offline") == 1
    records = _records(out)
    assert _record(records, raw / science.name)["status"] == _status_of(small_night)[science.name]
    refused = _record(records, raw / (science.name + ".fz"))
    assert refused["status"] == "failed"
    assert "would overwrite" in refused["reason"]
    assert len(list(out.glob("*-e91.fits.fz"))) == 2


# -- 9: done means the products exist and match ----------------------------------------------


def test_done_means_the_products_exist_unchanged(small_night: Night, tmp_path: Path) -> None:
    """Item 9: a deleted product is remade; a new --out sharing --db makes its own products; a
    master changed on disk is not used."""
    out = tmp_path / "out"
    catalog = ("--catalog", str(small_night.catalog_path), "--offline")
    assert _run(small_night.folder, out, *catalog) == 0
    products = sorted(out.glob("*-e91.fits.fz"))
    assert len(products) == 2
    products[0].unlink()
    assert _run(small_night.folder, out, *catalog) == 0
    records = {Path(r["file"]).name: r for r in _summary(out)["frames"]}
    remade = products[0].name.replace("e91.fits.fz", "e00.fits")
    assert records[remade]["status"] == _status_of(small_night)[remade]
    # Only that one was redone; the others are reported as the first run recorded them.
    assert [name for name, record in records.items() if not record["reused"]] == [remade]
    assert {name: record["status"] for name, record in records.items()} == _status_of(small_night)
    assert products[0].exists()

    other = tmp_path / "other"
    db = str(out / "calibrations.db")
    assert _run(small_night.folder, other, "--db", db, *catalog) == 0
    assert sorted(p.name for p in other.glob("*-e91.fits.fz")) == [p.name for p in products]

    # One byte of every master flat changed, as a stray write would (both runs registered one).
    for flat in [
        *(out / "masters").glob("*skyflat*.fits.fz"),
        *(other / "masters").glob("*skyflat*.fits.fz"),
    ]:
        with open(flat, "r+b") as stream:
            stream.seek(-100, os.SEEK_END)
            byte = stream.read(1)
            stream.seek(-100, os.SEEK_END)
            stream.write(bytes([byte[0] ^ 0xFF]))
    third = tmp_path / "third"
    assert _run(_science(small_night)[0], third, "--db", db, *catalog) == 1
    (record,) = _summary(third)["frames"]
    assert record["status"] == "failed"
    assert "changed on disk" in record["reason"]


# -- 10: one run per output folder -----------------------------------------------------------


def test_a_second_run_into_the_same_folder_is_refused(
    small_night: Night, tmp_path: Path, capfd: pytest.CaptureFixture[str]
) -> None:
    """Item 10: while a run holds OUT, another run into it exits 2 with one line, touching nothing."""
    out = tmp_path / "out"
    out.mkdir()
    with hold_run_lock(out):
        (out / ".work").mkdir()
        marker = out / ".work" / "theirs.prepared.fits"
        marker.write_text("another run's work file")
        assert _run(small_night.folder, out, "--offline") == 2
        assert marker.exists()
    error = capfd.readouterr().err.strip()
    assert "another lco-reduce run" in error
    assert len(error.splitlines()) == 1
    assert not (out / "summary.json").exists()


# -- 7 and 12: a library that cannot be written ----------------------------------------------


def test_a_locked_library_fails_frames_not_the_night(small_night: Night, tmp_path: Path) -> None:
    """Item 7: a frame whose outcome cannot be recorded (the SQLite file locked by another
    process longer than the busy timeout) fails with that reason; the others are recorded."""
    out = tmp_path / "out"
    library = CalibrationLibrary.at(out)
    blocker = sqlite3.connect(out / "calibrations.db", timeout=0.1)
    real_record = library.record_frame
    locked: list[str] = []

    def record_frame(path: str, **values: Any) -> Any:
        if "e00" in Path(path).name and not locked:
            # A real lock held by another connection: the write below waits for the busy timeout.
            blocker.execute("BEGIN IMMEDIATE")
            try:
                locked.append(path)
                return CalibrationLibrary(library.url, busy_timeout_s=0.2).record_frame(path, **values)
            finally:
                blocker.rollback()
        return real_record(path, **values)

    library.record_frame = record_frame  # type: ignore[method-assign]
    options = RunOptions(
        out=out, catalog=small_night.catalog_path, offline=True, min_frames=3, thumbnails=False
    )
    result = NightReduction(options, library, _Serial()).run([small_night.folder])
    library.close()
    by_path = {r.path: r for r in result.frames}
    (path,) = locked
    assert by_path[path].status == "failed"
    assert "not recorded in the calibration library" in by_path[path].reason
    assert "locked" in by_path[path].reason
    expected = _status_of(small_night)
    assert [r.status for r in result.frames if r.path != path] == [
        expected[Path(r.path).name] for r in result.frames if r.path != path
    ]


# -- the order workers finish in -------------------------------------------------------------


class _Serial:
    """Frames reduced in this process, results given in order."""

    workers = 1

    def map(self, function: Callable[[Task], Result], tasks: Sequence[Task]) -> Iterator[Result]:
        return iter([function(task) for task in tasks])

    def close(self) -> None:
        return None


class _Reversed(_Serial):
    """Results given in the reverse order, as a pool whose last frame finished first would."""

    def map(self, function: Callable[[Task], Result], tasks: Sequence[Task]) -> Iterator[Result]:
        return iter(reversed([function(task) for task in tasks]))


def test_masters_do_not_depend_on_the_order_frames_finish_in(small_night: Night, tmp_path: Path) -> None:
    """Smaller item: the inputs are put in a fixed order before stacking."""
    raw = tmp_path / "raw"
    raw.mkdir()
    for path in small_night.paths:
        if "e00" not in path.name:
            shutil.copy(path, raw / path.name)
    masters = []
    for name, executor in (("forward", _Serial()), ("reversed", _Reversed())):
        out = tmp_path / name
        options = RunOptions(out=out, offline=True, min_frames=3, thumbnails=False)
        with CalibrationLibrary.at(out) as library:
            NightReduction(options, library, executor).run([raw])
        masters.append(
            {p.name: read_master(p) for p in (out / "masters").glob("*.fits.fz") if "bpm" not in p.name}
        )
    assert masters[0].keys() == masters[1].keys()
    assert len(masters[0]) == 3
    for name, master in masters[0].items():
        other = masters[1][name]
        assert master.inputs == other.inputs
        np.testing.assert_array_equal(master.frame.data, other.frame.data)
        np.testing.assert_array_equal(master.frame.uncertainty, other.frame.uncertainty)


# -- smaller items ---------------------------------------------------------------------------


def test_reasons_are_one_line() -> None:
    """Smaller item: a reason quoting a value with newlines or control bytes stays on one line."""
    result = FrameResult("x.fits", "failed", "x.fits: OBJECT 'a\nb\r\x1b[31mc' is odd\n")
    assert result.reason == "x.fits: OBJECT 'a b c' is odd"


def test_an_unwritable_thumbnail_does_not_fail_a_written_product(
    small_night: Night, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Smaller item: a thumbnails folder that cannot be written costs the picture, not the frame."""
    from lco_cli.report import thumbnails

    def read_only(*args: object, **kwargs: object) -> Path:
        raise PermissionError(errno.EACCES, os.strerror(errno.EACCES), "thumbnails")

    monkeypatch.setattr(thumbnails, "write_thumbnail", read_only)
    out = tmp_path / "out"
    assert _run(small_night.folder, out, "--catalog", str(small_night.catalog_path), "--offline") == 0
    science = [r for r in _summary(out)["frames"] if r["obstype"] == "EXPOSE"]
    assert len(science) == 2
    assert all(Path(r["products"][0]).exists() for r in science)
    assert all("Permission denied" in r["figures"]["thumbnail_error"] for r in science)


def test_an_unreadable_folder_is_reported(
    small_night: Night, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Smaller item: a folder that cannot be listed is a failure with its reason, not silence.

    (Permission bits do not stop root, which CI may be: the refusal is injected.)"""
    raw = tmp_path / "raw"
    shutil.copytree(small_night.folder, raw / "readable")
    (raw / "locked").mkdir()
    real_scandir = os.scandir

    def scandir(path: Any = ".") -> Any:
        if isinstance(path, str | os.PathLike) and Path(path).name == "locked":
            raise PermissionError(errno.EACCES, os.strerror(errno.EACCES), str(path))
        return real_scandir(path)

    monkeypatch.setattr(os, "scandir", scandir)
    out = tmp_path / "out"
    assert _run(raw, out, "--catalog", str(small_night.catalog_path), "--offline") == 1
    failed = [r for r in _summary(out)["frames"] if r["status"] == "failed"]
    assert len(failed) == 1
    assert failed[0]["file"].endswith("locked")
    assert "Permission denied" in failed[0]["reason"]


def test_an_unexpected_error_is_logged_in_the_output_folder(
    small_night: Night, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capfd: pytest.CaptureFixture[str]
) -> None:
    """Item 13: the details of an unexpected error go to this run's log in OUT (issue 13: the
    log replaces the separate error file), not to a fixed name in the temporary folder."""

    def broken(self: NightReduction, paths: Sequence[str | Path]) -> None:
        raise RuntimeError("a bug")

    monkeypatch.setattr(NightReduction, "run", broken)
    out = tmp_path / "out"
    assert _run(small_night.folder, out, "--offline") == 2
    log = out / "lco-reduce.log"
    assert "Traceback (most recent call last)" in log.read_text()
    assert "RuntimeError: a bug" in log.read_text()
    assert not list(out.glob("lco-reduce-error-*.txt"))
    error = capfd.readouterr().err
    assert f"(details in {log})" in error
    assert "Traceback" not in error
