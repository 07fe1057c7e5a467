"""Issue 13: a log a bug can be reported from; -v and -q on the terminal.

`lco-reduce run` appends to OUT/lco-reduce.log (or --log-file) every frame's outcome, the
timings and the full traceback of every unexpected error, the ones raised inside worker
processes included; the terminal keeps one line per problem. The bugs are injected by the
tests (a function that raises), so what the log must hold is known from the injection.
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
import tempfile
import textwrap
from pathlib import Path

import click
import pytest

import lco_cli.work
import lco_stages.keywords
from lco_cli.errors import USAGE, run_safely
from lco_cli.logs import LOG_NAME, log_to_file
from lco_cli.main import main
from lco_cli.night import describe_error
from lco_instruments.simulate import Night, sbig, simulate_night

#: A raised error's message, one per test, so nothing else could have written it.
BUG = "injected bug 7f3a"


@pytest.fixture(scope="module")
def small_night(tmp_path_factory: pytest.TempPathFactory) -> Night:
    """One SBIG camera: 3 biases, 3 darks, 3 flats, 2 science frames."""
    folder = tmp_path_factory.mktemp("raw") / "kb99"
    return simulate_night(
        folder, sbig(size=256), n_bias=3, n_dark=3, n_flat=3, n_science=2, seed=13, compress=False
    )


def _arguments(night: Night, out: Path, *extra: str) -> list[str]:
    return [
        "run", str(night.folder), "--out", str(out), "--min-frames", "3",
        "--catalog", str(night.catalog_path), "--offline", *extra,
    ]  # fmt: skip


def _frames(night: Night) -> list[Path]:
    return sorted(p for p in night.folder.iterdir() if p.name.endswith(".fits"))


def _status(frame: Path, victim: Path) -> str:
    """The victim failed; the other science frame is degraded (the small night's field leaves it
    too few stars for astrometry: its product has no WCS and no zero point); the rest are ok."""
    if frame == victim:
        return "failed"
    return "degraded" if frame.name.endswith("-e00.fits") else "ok"


def _traceback_blocks(log: str) -> dict[str, str]:
    """Each frame's traceback in the log: the path on the line before it, up to the next log line."""
    blocks = re.findall(
        r" ERROR   (\S+): the unexpected error's traceback:\n(Traceback .*?)(?=\n\d{4}-\d\d-\d\dT|\Z)",
        log,
        re.S,
    )
    return dict(blocks)


@pytest.mark.slow  # two spawned workers: about 25 s
def test_a_workers_bug_leaves_its_whole_traceback_in_the_log(small_night: Night, tmp_path: Path) -> None:
    """Two spawned worker processes; one science frame meets a bug inside the worker."""
    victim = next(p for p in _frames(small_night) if p.name.endswith("-e00.fits"))
    hook = tmp_path / "hook"
    hook.mkdir()
    # Python imports sitecustomize at start-up in every process, the spawned workers included.
    (hook / "sitecustomize.py").write_text(
        textwrap.dedent(f"""
        import lco_cli.work

        _keywords = lco_cli.work.product_keywords

        def exploding_keywords(frame, **options):
            if frame.meta.filename == {victim.name!r}:
                raise RuntimeError({BUG!r} + " in " + frame.meta.filename)
            return _keywords(frame, **options)

        lco_cli.work.product_keywords = exploding_keywords
        """)
    )
    out = tmp_path / "out"
    path = os.pathsep.join(p for p in (str(hook), os.environ.get("PYTHONPATH", "")) if p)
    done = subprocess.run(
        [sys.executable, "-m", "lco_cli.main", *_arguments(small_night, out, "--workers", "2", "--quiet")],
        capture_output=True, text=True, env={**os.environ, "PYTHONPATH": path}, timeout=300,
    )  # fmt: skip
    assert done.returncode == 1, done.stderr
    # The terminal: the failure's one line and where its traceback is; never the traceback.
    log = out / LOG_NAME
    assert "Traceback" not in done.stderr
    # (the other science frame's lines say it is degraded, even with --quiet)
    assert [line for line in done.stderr.splitlines() if not line.startswith("degraded ")] == [
        f"failed {victim.name}: {victim.name}: internal error RuntimeError: {BUG} in {victim.name} "
        f"(sitecustomize.py:8)",
        f"1 unexpected error: traceback in {log}",
    ]
    text = log.read_text()
    blocks = _traceback_blocks(text)
    assert list(blocks) == [str(victim)]
    traceback = blocks[str(victim)]
    # The whole traceback, from the worker's entry down to the line that raised.
    assert re.search(r'lco_cli/work\.py", line \d+, in _guarded\n', traceback)
    assert re.search(r'lco_cli/work\.py", line \d+, in work\n.*product_keywords\(', traceback)
    assert "in exploding_keywords" in traceback
    assert traceback.rstrip().endswith(f"RuntimeError: {BUG} in {victim.name}")
    # Every frame's outcome, with its time; the run's counts and phase timings.
    for frame in _frames(small_night):
        line = rf" (INFO|WARNING) +\w+ {_status(frame, victim)} {re.escape(str(frame))} \(\d+\.\d\d s\)"
        assert re.search(line, text), frame
    assert re.search(
        r"finished 11 files \(1 degraded, 1 failed, 9 ok\) in [\d.]+ s; 3 masters; phases: inspect ", text
    )


@pytest.fixture
def exploding_science(monkeypatch: pytest.MonkeyPatch, small_night: Night) -> Path:
    """The first science frame meets a bug (in this process: --workers 1 reduces here)."""
    victim = next(p for p in _frames(small_night) if p.name.endswith("-e00.fits"))
    keywords = lco_stages.keywords.product_keywords

    def exploding_keywords(frame: object, **options: object) -> object:
        if frame.meta.filename == victim.name:  # type: ignore[attr-defined]
            raise RuntimeError(f"{BUG} in {victim.name}")
        return keywords(frame, **options)  # type: ignore[arg-type]

    monkeypatch.setattr(lco_cli.work, "product_keywords", exploding_keywords)
    return victim


@pytest.mark.parametrize("verbosity", [[], ["-v"], ["-q"], ["-q", "-v"]])
def test_verbosity_on_the_terminal(
    small_night: Night,
    tmp_path: Path,
    capfd: pytest.CaptureFixture[str],
    exploding_science: Path,
    verbosity: list[str],
) -> None:
    out = tmp_path / "out"
    assert main(_arguments(small_night, out, "--workers", "1", *verbosity)) == 1
    err = capfd.readouterr().err
    lines = err.splitlines()
    victim = exploding_science
    # Whatever the verbosity: the failure once, where its traceback is, and no traceback.
    assert "Traceback" not in err
    assert [line for line in lines if victim.name in line] == [
        f"failed {victim.name}: {victim.name}: internal error RuntimeError: {BUG} in {victim.name} "
        f"(test_logging.py:{exploding_science_line()})"
    ]
    assert lines[-1] == f"1 unexpected error: traceback in {out / LOG_NAME}"
    ok_lines = [line for line in lines if re.fullmatch(r"\w+ ok \S+ \(\d+\.\d\d s\)", line)]
    others = [p for p in _frames(small_night) if _status(p, victim) == "ok"]
    if "-v" in verbosity:  # each frame's outcome and the timings
        assert sorted(line.split()[2] for line in ok_lines) == [str(p) for p in others]
        assert any(line.startswith("finished 11 files (1 degraded, 1 failed, 9 ok)") for line in lines)
    else:
        assert ok_lines == []
    table = any("┃ type" in line or "| type" in line for line in lines)
    assert table is ("-q" not in verbosity)  # --quiet: no closing table
    # The log has it all whatever the terminal showed.
    log = (out / LOG_NAME).read_text()
    assert list(_traceback_blocks(log)) == [str(victim)]
    assert len(re.findall(r" INFO +\w+ ok ", log)) == len(others)


def exploding_science_line() -> int:
    """The line of the fixture's ``raise`` (the one-line reason names it)."""
    source = Path(__file__).read_text().splitlines()
    statement = 'raise RuntimeError(f"{BUG} in {victim.name}")'
    return next(n for n, line in enumerate(source, 1) if statement in line)


def test_a_rerun_appends_and_log_file_moves_the_log(small_night: Night, tmp_path: Path) -> None:
    out = tmp_path / "out"
    assert main(_arguments(small_night, out, "--workers", "1", "--quiet")) == 0
    assert main(_arguments(small_night, out, "--workers", "1", "--quiet")) == 0
    text = (out / LOG_NAME).read_text()
    assert len(re.findall(r"lco-reduce \S+ started \(PID \d+", text)) == 2
    # The rerun found every frame done, and says so frame by frame, with the outcome recorded.
    assert len(re.findall(r" INFO +done (ok|degraded) \S+ \(\d+\.\d\d s\)", text)) == 11
    elsewhere = tmp_path / "logs" / "night.log"
    assert main(_arguments(small_night, out, "--workers", "1", "--quiet", "--log-file", str(elsewhere))) == 0
    assert "started" in elsewhere.read_text()
    assert (out / LOG_NAME).read_text() == text  # the default log was not written this time


def test_a_log_file_that_cannot_be_written_is_a_usage_error(
    small_night: Night, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    blocker = tmp_path / "a-file"
    blocker.write_text("")
    out = tmp_path / "out"
    assert main(_arguments(small_night, out, "--log-file", str(blocker / "run.log"))) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1
    assert err.startswith(f"lco-reduce: {blocker / 'run.log'}: cannot write the log file (")
    assert not (out / "calibrations.db").exists()


def test_an_error_that_stops_the_command_is_in_its_log_not_in_a_separate_file(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    temporary = tmp_path / "tmp"
    temporary.mkdir()
    monkeypatch.setattr(tempfile, "tempdir", str(temporary))
    log = tmp_path / "out" / LOG_NAME

    @click.command()
    def stops() -> None:
        with log_to_file(log):
            raise KeyError(BUG)

    assert run_safely(stops, []) == USAGE
    err = capsys.readouterr().err
    assert err == f"lco-reduce: internal error KeyError: '{BUG}' (details in {log})\n"
    text = log.read_text()
    assert "stopped by an internal error KeyError" in text
    assert "Traceback (most recent call last):" in text
    assert f"raise KeyError(BUG)\nKeyError: '{BUG}'" in text
    assert list(temporary.iterdir()) == []  # no lco-reduce-error-*.txt beside it
    # Without a log, the separate file is still written, as before.

    @click.command()
    def fails() -> None:
        raise KeyError(BUG)

    assert run_safely(fails, []) == USAGE
    assert "details in " + str(temporary) in capsys.readouterr().err
    assert len(list(temporary.glob("lco-reduce-error-*.txt"))) == 1


def test_a_parent_side_bug_is_logged_with_the_frame(tmp_path: Path) -> None:
    log = tmp_path / LOG_NAME
    table: dict[str, int] = {}
    with log_to_file(log) as opened:
        try:
            table["key"]
        except KeyError as error:
            line = describe_error(error, where="/data/x-e00.fits")
    assert line == "internal error KeyError: 'key'"
    assert opened.tracebacks == 1
    text = log.read_text()
    assert "ERROR   /data/x-e00.fits: internal error KeyError: 'key'\nTraceback (most recent call" in text
    assert 'table["key"]' in text
