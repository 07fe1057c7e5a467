"""Issue 13: nothing found is a usage error (exit 2, one line), and nothing is created by it.

`lco-reduce run` on folders without a FITS file writes nothing into OUT; a `--db` that names no
calibration library is refused by the commands that only read or mark one, and never created.
The expectations come from the files the tests made (or did not make), not from the code.
"""

from __future__ import annotations

import sqlite3
from pathlib import Path

import pytest

from lco_cli.commands.calibrations import MASTER_KINDS
from lco_cli.library import CalibrationLibrary
from lco_cli.main import main
from lco_core.master import MasterKind
from lco_instruments.simulate import sbig, simulate_night


def _one_line(capsys: pytest.CaptureFixture[str]) -> str:
    """The one stderr line a usage error printed (and that nothing went to stdout)."""
    captured = capsys.readouterr()
    assert captured.out == ""
    assert captured.err.count("\n") == 1, captured.err
    assert captured.err.startswith("lco-reduce: ")
    assert "Traceback" not in captured.err
    return captured.err.strip()


def _tree(folder: Path) -> list[Path]:
    return sorted(folder.rglob("*"))


@pytest.mark.parametrize("content", ["nothing", "other files"])
def test_run_on_folders_without_fits_is_a_usage_error_that_writes_nothing(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], content: str
) -> None:
    empty, notes = tmp_path / "empty", tmp_path / "notes"
    empty.mkdir()
    notes.mkdir()
    if content == "other files":
        (notes / "log.txt").write_text("not a frame")
        (notes / "sub").mkdir()
        (notes / "sub" / "frame.fits.bz2").write_bytes(b"SIMPLE")  # not a name searched for
        (notes / ".hidden.fits").write_bytes(b"SIMPLE")  # hidden files are never searched
    before = _tree(tmp_path)
    out = tmp_path / "o"
    assert main(["run", str(empty), str(notes), "--out", str(out)]) == 2
    line = _one_line(capsys)
    assert line == (
        f"lco-reduce: no FITS files under {empty}, {notes}: nothing matching "
        f".fits/.fits.fz/.fits.gz/.fit/.fts was found there (nothing was written to {out})"
    )
    assert not out.exists()  # no calibrations.db, no summary, no log, not even the folder
    assert _tree(tmp_path) == before


def test_run_into_an_existing_out_without_inputs_leaves_it_untouched(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    out = tmp_path / "out"
    out.mkdir()
    (out / "keep.txt").write_text("mine")
    (tmp_path / "raw").mkdir()
    assert main(["run", str(tmp_path / "raw"), "--out", str(out)]) == 2
    assert "no FITS files under" in _one_line(capsys)
    assert [p.name for p in out.iterdir()] == ["keep.txt"]


def test_the_output_folder_is_never_its_own_input(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    # A folder whose only FITS files are inside OUT: those are this run's products, not inputs.
    raw = tmp_path / "raw"
    (raw / "reduced").mkdir(parents=True)
    (raw / "reduced" / "x-e91.fits").write_bytes(b"SIMPLE")
    assert main(["run", str(raw), "--out", str(raw / "reduced")]) == 2
    assert "no FITS files under" in _one_line(capsys)
    assert sorted(p.name for p in (raw / "reduced").iterdir()) == ["x-e91.fits"]


@pytest.mark.parametrize(
    "command",
    [
        ["calibrations", "list"],
        ["calibrations", "mark-bad", "1"],
        ["calibrations", "mark-good", "cpt1m010-fa99-20260101-bias-bin1x1.fits"],
    ],
)
def test_a_db_that_is_not_there_is_refused_and_not_created(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch, command: list[str]
) -> None:
    monkeypatch.chdir(tmp_path)
    assert main([*command, "--db", "typo"]) == 2
    assert _one_line(capsys) == (
        "lco-reduce: typo: no calibration library there (run `lco-reduce run ... --out typo` first)"
    )
    assert main([*command, "--db", "reduced/night.db"]) == 2
    assert _one_line(capsys) == (
        "lco-reduce: reduced/night.db: no calibration library there "
        "(run `lco-reduce run ... --db reduced/night.db` first)"
    )
    url = f"sqlite:///{tmp_path / 'elsewhere' / 'calibrations.db'}"
    assert main([*command, "--db", url]) == 2
    assert _one_line(capsys).startswith(f"lco-reduce: {url}: no calibration library there")
    # Without --db: ./calibrations.db, which is not there either.
    assert main(command) == 2
    assert "./calibrations.db: no calibration library there" in _one_line(capsys)
    assert _tree(tmp_path) == []


def test_an_empty_folder_or_file_is_no_library_and_stays_as_it_was(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    folder = tmp_path / "out"
    folder.mkdir()
    assert main(["calibrations", "list", "--db", str(folder)]) == 2
    assert f"{folder}: no calibration library there (run `lco-reduce run ... --out {folder}` first)" in (
        _one_line(capsys)
    )
    assert list(folder.iterdir()) == []
    # A SQLite database that exists but was never a library: no tables are made in it.
    other = tmp_path / "other.db"
    sqlite3.connect(other).close()
    assert main(["calibrations", "list", "--db", str(other)]) == 2
    assert "no calibration library there" in _one_line(capsys)
    with sqlite3.connect(other) as connection:
        assert connection.execute("SELECT name FROM sqlite_master").fetchall() == []


def test_info_with_a_db_that_is_not_there(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    night = simulate_night(
        tmp_path / "raw", sbig(size=256), n_bias=1, n_dark=0, n_flat=0, n_science=0, seed=5
    )
    frame = next(night.folder.glob("*-b00.fits*"))
    assert main(["info", str(frame), "--db", str(tmp_path / "typo")]) == 2
    assert _one_line(capsys).endswith(
        f"typo: no calibration library there (run `lco-reduce run ... --out {tmp_path / 'typo'}` first)"
    )
    assert not (tmp_path / "typo").exists()
    # Without --db and no ./calibrations.db, info describes the frame and creates no library.
    assert main(["info", str(frame)]) == 0
    assert capsys.readouterr().out.startswith(f"{frame.name}: BIAS 0 s")
    assert not (tmp_path / "calibrations.db").exists()


def test_an_existing_library_is_read_as_before(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    CalibrationLibrary.at(tmp_path).close()  # what a run leaves: the file and its tables
    assert main(["calibrations", "list", "--db", str(tmp_path)]) == 0
    assert capsys.readouterr().out == "no masters\n"
    assert main(["calibrations", "list", "--db", str(tmp_path / "calibrations.db")]) == 0
    assert capsys.readouterr().out == "no masters\n"


def test_syntax_errors_are_one_line_with_where_to_find_help(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["run", "--out", str(tmp_path / "o")]) == 2
    assert _one_line(capsys) == "lco-reduce: Missing argument 'PATHS...'. (see 'lco-reduce run --help')"
    assert main(["run", str(tmp_path), "--out", str(tmp_path / "o"), "--forc"]) == 2
    assert _one_line(capsys) == (
        "lco-reduce: No such option '--forc'. Did you mean '--force'? (see 'lco-reduce run --help')"
    )
    assert not (tmp_path / "o").exists()


def test_the_kinds_offered_are_the_library_kinds() -> None:
    # `calibrations list --kind` spells the kinds out so that --help imports no pipeline code.
    assert tuple(kind.value for kind in MasterKind) == MASTER_KINDS
