"""An unexpected error: one line on the terminal, its traceback in a new file of its own."""

from __future__ import annotations

import re
import tempfile
from pathlib import Path

import click
import pytest

from lco_cli.errors import USAGE, run_safely, set_error_log_folder


@click.command()
@click.option("--log-folder", type=click.Path(path_type=Path))
def fail(log_folder: Path | None) -> None:
    """Name the log's folder, then fail as no pipeline error would."""
    if log_folder is not None:
        set_error_log_folder(log_folder)
    raise RuntimeError("the unexpected\nover two lines")


LOG = re.compile(r"lco-reduce-error-\d{8}T\d{6}-\d+(-\d+)?\.txt")


@pytest.fixture(autouse=True)
def temporary_folder(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A temporary folder of this test's own, so no other run's logs are seen or left."""
    folder = tmp_path / "tmp"
    folder.mkdir()
    monkeypatch.setattr(tempfile, "tempdir", str(folder))
    return folder


def _fail(capsys: pytest.CaptureFixture[str], *arguments: str) -> tuple[str, Path | None]:
    """Run the failing command: its one stderr line, and the log that line names."""
    assert run_safely(fail, list(arguments)) == USAGE
    captured = capsys.readouterr()
    assert captured.out == ""
    assert captured.err.count("\n") == 1, captured.err
    assert "Traceback" not in captured.err
    named = re.search(r"details in (.+)\)$", captured.err.strip())
    return captured.err.strip(), Path(named.group(1)) if named else None


def test_the_log_goes_to_the_folder_the_command_names(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], temporary_folder: Path
) -> None:
    out = tmp_path / "out"
    out.mkdir()
    line, log = _fail(capsys, "--log-folder", str(out))
    assert line.startswith(
        "lco-reduce: internal error RuntimeError: the unexpected over two lines (details in "
    )
    assert log is not None
    assert log.parent == out
    assert LOG.fullmatch(log.name)
    assert "Traceback" in log.read_text()
    assert 'raise RuntimeError("the unexpected' in log.read_text()
    assert list(temporary_folder.iterdir()) == []


def test_each_failure_has_its_own_log(capsys: pytest.CaptureFixture[str], temporary_folder: Path) -> None:
    _, first = _fail(capsys)
    _, second = _fail(capsys)
    assert first is not None
    assert second is not None
    assert first != second
    assert {first.parent, second.parent} == {temporary_folder}
    assert all(LOG.fullmatch(log.name) for log in (first, second))
    assert all("RuntimeError" in log.read_text() for log in (first, second))


def test_the_folder_is_forgotten_when_the_command_ends(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], temporary_folder: Path
) -> None:
    _fail(capsys, "--log-folder", str(tmp_path))
    _, log = _fail(capsys)
    assert log is not None
    assert log.parent == temporary_folder


def test_anothers_file_under_the_old_fixed_name_changes_nothing(
    capsys: pytest.CaptureFixture[str], temporary_folder: Path
) -> None:
    # Where no one may write (even root cannot write a file that is a folder): it once turned
    # the one line into a traceback.
    (temporary_folder / "lco-reduce-error.txt").mkdir()
    _, log = _fail(capsys)
    assert log is not None
    assert log.parent == temporary_folder


def test_a_log_nowhere_to_go_still_gives_one_line(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    not_a_folder = tmp_path / "a-file"
    not_a_folder.write_text("")
    monkeypatch.setattr(tempfile, "tempdir", str(tmp_path / "gone"))
    line, log = _fail(capsys, "--log-folder", str(not_a_folder))
    assert log is None
    assert line.startswith("lco-reduce: internal error RuntimeError: the unexpected over two lines")
    assert "(details could not be saved: " in line


def test_a_named_folder_that_fails_falls_back_to_the_temporary_one(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], temporary_folder: Path
) -> None:
    _, log = _fail(capsys, "--log-folder", str(tmp_path / "no-such-folder"))
    assert log is not None
    assert log.parent == temporary_folder
