"""``lco-reduce run``: reduce everything given, in dependency order, and report."""

from __future__ import annotations

import sys
import time
import warnings
from collections import Counter
from pathlib import Path
from typing import TYPE_CHECKING

import click

from lco_cli.commands.config import settings_options
from lco_cli.errors import OK, SOME_FAILED, InputUsageError, set_error_log_folder

if TYPE_CHECKING:
    from rich.console import Console

    from lco_cli.logs import RunLog
    from lco_cli.night import NightResult
    from lco_cli.results import FrameResult
    from lco_cli.settings import ChosenSettings
    from lco_stages.wcs import AstrometrySearch

# The pipeline, rich and astropy are imported when a night is reduced, not when the command line
# is built: `lco-reduce --help` and `lco-reduce run --help` answer at once.


def reduce_night(
    paths: tuple[str, ...],
    *,
    out: Path,
    db: str | None = None,
    catalog: Path | None = None,
    offline: bool = False,
    workers: int | None = None,
    scheduler: str | None = None,
    force: bool = False,
    quiet: bool = False,
    min_frames: int | None = None,
    thumbnails: bool = True,
    astrometry: AstrometrySearch | None = None,
    compress: bool = True,
    console: Console | None = None,
    settings: ChosenSettings | None = None,
    verbosity: int = 0,
    log_file: Path | None = None,
    strict: bool = False,
    stack: bool = True,
) -> tuple[NightResult, int]:
    """Run a night (the ``run`` command's body, callable from Python and the demo).

    Parameters
    ----------
    paths : tuple of str
        Raw files or folders (searched recursively).
    out : pathlib.Path
        Folder for products, masters, ``summary.json`` and ``report.html``.
    db : str, optional
        Calibration library (default ``OUT/calibrations.db``).
    catalog : pathlib.Path, optional
        Reference catalogue file.
    offline : bool
        Never query Gaia.
    workers : int, optional
        Local worker processes (default: one per core).
    scheduler : str, optional
        Address of a Dask scheduler (then ``workers`` is ignored).
    force : bool
        Reduce frames the library says are done.
    quiet : bool
        No progress display and no closing table (each failure still has its line).
    min_frames : int, optional
        Frames a master needs: the ``stack.min_frames`` setting (None: as ``settings`` say).
    thumbnails : bool
        Write thumbnails for the report.
    astrometry : AstrometrySearch, optional
        How far astrometry searches from each header's pointing and orientation: the
        ``astrometry.*`` settings (None: as ``settings`` say).
    compress : bool
        Write products and masters tile-compressed (``.fits.fz``); False: plain ``.fits``.
    console : rich.console.Console, optional
        Where progress and the summary go (default: stderr).
    settings : ChosenSettings, optional
        Every stage's settings and where each came from (`lco_cli.settings.choose_settings`;
        default: every default); recorded in ``summary.json``.
    verbosity : int
        Extra terminal lines (`lco_cli.logs.verbosity_level`): 1, each frame's outcome and the
        timings; 2, the debugging lines too.
    log_file : pathlib.Path, optional
        The log (default ``OUT/lco-reduce.log``, appended to): every frame's outcome, the
        timings and the full traceback of every unexpected error, the workers' included.
    strict : bool
        A degraded frame (a product without sources, WCS or zero point) makes the exit code 1.
    stack : bool
        Stack each group of repeated science exposures into a coadd (`lco_cli.stacking`);
        False: ``--no-stack``.

    Returns
    -------
    result : NightResult
        Every input's latest outcome (frames done by earlier runs as recorded) and the
        night's masters.
    code : int
        The exit code: 0 all succeeded (degraded frames included, unless ``strict``), 1 some
        failed (or, with ``strict``, are degraded).

    Raises
    ------
    click.BadParameter
        A path does not exist.
    InputUsageError
        No FITS file under the paths: nothing is written, OUT is not even created.
    LogFileError
        The log file cannot be written.
    """
    for name in paths:
        if not Path(name).exists():
            raise click.BadParameter(f"{name}: no such file or folder", param_hint="PATH")
    require_raw_files(paths, out)
    out.mkdir(parents=True, exist_ok=True)
    # An unexpected error's traceback goes to the log; if that cannot be written, beside the
    # products in a file of its own.
    set_error_log_folder(out)
    from lco_cli.logs import LOG_NAME, log_to_file

    with log_to_file(log_file if log_file is not None else out / LOG_NAME, command=" ".join(sys.argv)) as log:
        return _reduce_night(
            paths, out=out, db=db, catalog=catalog, offline=offline, workers=workers, scheduler=scheduler,
            force=force, quiet=quiet, min_frames=min_frames, thumbnails=thumbnails, astrometry=astrometry,
            compress=compress, console=console, settings=settings, verbosity=verbosity, log=log,
            strict=strict, stack=stack,
        )  # fmt: skip


def require_raw_files(paths: tuple[str, ...], out: Path) -> None:
    """Refuse a night with nothing to reduce before anything is written.

    Parameters
    ----------
    paths : tuple of str
        Raw files or folders, as given.
    out : pathlib.Path
        The output folder (its files are never inputs).

    Raises
    ------
    InputUsageError
        No file under ``paths`` has a raw frame's name (and none is named directly), nor is
        there anything to report (another run's output, a folder that cannot be read).
    """
    from lco_cli.discovery import RAW_SUFFIXES, find_raw_files

    found = find_raw_files(paths, exclude=[out])
    if found.files or found.skipped or found.problems:
        return
    shown = ", ".join(paths[:3]) + (f" and {len(paths) - 3} more" if len(paths) > 3 else "")
    suffixes = "/".join(RAW_SUFFIXES)
    raise InputUsageError(
        f"no FITS files under {shown}: nothing matching {suffixes} was found there "
        f"(nothing was written to {out})"
    )


def print_plan(
    paths: tuple[str, ...],
    *,
    out: Path,
    db: str | None = None,
    catalog: Path | None = None,
    offline: bool = False,
    force: bool = False,
    compress: bool = True,
    settings: ChosenSettings | None = None,
    as_json: bool = False,
) -> None:
    """Print the plan a run would carry out (``run --plan``), reducing nothing and writing nothing.

    The files' headers and checksums are read, and the calibration library when it exists
    (``--db``, else ``OUT/calibrations.db``); OUT is not created, no lock is taken, no log kept.

    Parameters
    ----------
    paths : tuple of str
        Raw files or folders (searched recursively).
    out : pathlib.Path
        The folder the run would write into.
    db : str, optional
        Calibration library (default ``OUT/calibrations.db``); none there: planned as empty.
    catalog : pathlib.Path, optional
        Reference catalogue file (whether degraded frames are redone).
    offline : bool
        As the run would be given it (Gaia is never queried for a plan).
    force : bool
        Plan to redo frames the library says are done.
    compress : bool
        Products and masters tile-compressed (their names).
    settings : ChosenSettings, optional
        The run's settings (the reference stars' search radius).
    as_json : bool
        Print the plan as JSON (`lco_cli.plan.plan_as_json`) instead of lines
        (`lco_cli.plan.describe_plan`).

    Raises
    ------
    click.BadParameter
        A path does not exist.
    InputUsageError
        No FITS file under the paths.
    """
    import json

    from lco_cli.commands.calibrations import open_library
    from lco_cli.library import CalibrationLibrary, LibraryNotFoundError
    from lco_cli.night import RunOptions, plan_run
    from lco_cli.plan import describe_plan, plan_as_json
    from lco_cli.settings import default_settings

    for name in paths:
        if not Path(name).exists():
            raise click.BadParameter(f"{name}: no such file or folder", param_hint="PATH")
    require_raw_files(paths, out)
    options = RunOptions(
        out=out, catalog=catalog, offline=offline, force=force, compress=compress,
        settings=(settings or default_settings()).settings,
    )  # fmt: skip
    try:
        library = open_library(db, must_exist=True) if db else CalibrationLibrary.at(out, create=False)
    except LibraryNotFoundError:
        library = None  # the run would create it: nothing registered, nothing done
    try:
        plan = plan_run(paths, options, library)
    finally:
        if library is not None:
            library.close()
    if as_json:
        click.echo(json.dumps(plan_as_json(plan), indent=1))
        return
    where = f"library {library}" if library is not None else "no calibration library yet"
    click.echo(f"plan of `lco-reduce run` into {out} ({where}); nothing reduced, nothing written")
    for line in describe_plan(plan):
        click.echo(line)


def _reduce_night(
    paths: tuple[str, ...],
    *,
    out: Path,
    db: str | None,
    catalog: Path | None,
    offline: bool,
    workers: int | None,
    scheduler: str | None,
    force: bool,
    quiet: bool,
    min_frames: int | None,
    thumbnails: bool,
    astrometry: AstrometrySearch | None,
    compress: bool,
    console: Console | None,
    settings: ChosenSettings | None,
    verbosity: int,
    log: RunLog,
    strict: bool = False,
    stack: bool = True,
) -> tuple[NightResult, int]:
    """`reduce_night`'s body, with its log file open."""
    from astropy.utils.exceptions import AstropyWarning
    from rich.console import Console
    from rich.progress import (
        BarColumn,
        MofNCompleteColumn,
        Progress,
        TextColumn,
        TimeElapsedColumn,
        TimeRemainingColumn,
    )
    from rich.text import Text

    from lco_cli.commands.calibrations import open_library
    from lco_cli.executors import make_executor
    from lco_cli.library import CalibrationLibrary
    from lco_cli.logs import LOGGER, log_to_terminal
    from lco_cli.night import NightReduction, RunOptions
    from lco_cli.report.html import write_report
    from lco_cli.settings import default_settings, summary_of
    from lco_cli.summary import write_summary

    # --quiet hides the progress and the closing table, never the one-line failures.
    console = console or Console(stderr=True)
    clock = time.perf_counter()
    library = open_library(db) if db else CalibrationLibrary.at(out)
    chosen = settings or default_settings()
    options = RunOptions(
        out=out, catalog=catalog, offline=offline, force=force, min_frames=min_frames, thumbnails=thumbnails,
        astrometry=astrometry, compress=compress, settings=chosen.settings, stack=stack,
    )  # fmt: skip
    try:
        executor = make_executor(workers=workers, scheduler=scheduler)
    except BaseException:
        library.close()
        raise
    # Frames in progress (handed to the workers, not yet finished) and an estimate of the time left.
    progress = Progress(
        TextColumn("[progress.description]{task.description}"), BarColumn(), MofNCompleteColumn(),
        TextColumn("{task.fields[running]}"), TimeElapsedColumn(), TextColumn("left"), TimeRemainingColumn(),
        console=console, disable=quiet, transient=True,
    )  # fmt: skip
    task = progress.add_task("reducing", total=None, running="")

    def on_total(total: int) -> None:
        progress.update(task, total=total)

    def on_running(count: int) -> None:
        progress.update(task, running=in_progress(count, executor.workers))

    def on_frame(phase: str, result: FrameResult) -> None:
        progress.update(task, advance=1, description=f"{phase:8s}")
        if result.status == "failed":
            # Text, not markup: a reason quotes header values and paths, which may hold '[/]'.
            line = Text.assemble(("failed", "red"), f" {Path(result.path).name}: {result.reason}")
            progress.console.print(line, highlight=False, soft_wrap=True)

    def print_line(line: str) -> None:
        progress.console.print(Text(line), highlight=False, soft_wrap=True)

    LOGGER.debug(
        "options: out %s, library %s, workers %d%s, log %s", out, library, executor.workers,
        f", scheduler {scheduler}" if scheduler else "", log.path,
    )  # fmt: skip
    try:
        with progress, warnings.catch_warnings(), log_to_terminal(print_line, verbosity):
            # astropy's warnings about odd headers are about files whose outcome is reported.
            warnings.simplefilter("ignore", AstropyWarning)
            result = NightReduction(options, library, executor, on_frame, on_total, on_running).run(paths)
            _log_timings(result, time.perf_counter() - clock)
    finally:
        executor.close()
        library.close()
    summary = write_summary(
        result,
        out / "summary.json",
        options={
            "paths": list(paths), "out": str(out), "db": db or str(out / "calibrations.db"),
            "catalog": str(catalog) if catalog else None, "offline": offline, "workers": executor.workers,
            "scheduler": scheduler, "force": force, "strict": strict, "compress": compress, "stack": stack,
            **summary_of(chosen, options.run_settings),
        },
    )  # fmt: skip
    report = write_report(result, out / "report.html", thumbnails_dir=out / "thumbnails")
    LOGGER.info("summary %s; report %s", summary, report)
    if not quiet:
        _print_summary(console, result, summary, report)
        _print_warnings(console, result)
    # Even with --quiet: a product without a WCS or a zero point is not what was asked for.
    _print_degraded(console, result, strict=strict)
    _print_coadds(console, result, quiet=quiet)
    if log.tracebacks:
        # Even with --quiet: the one place that says where a bug's traceback is.
        plural = "s" if log.tracebacks > 1 else ""
        console.print(
            f"{log.tracebacks} unexpected error{plural}: traceback{plural} in {log.path}",
            highlight=False, markup=False, soft_wrap=True,
        )  # fmt: skip
    return result, SOME_FAILED if result.failed or (strict and result.degraded) else OK


def in_progress(count: int, workers: int) -> str:
    """The progress bar's words for ``count`` frames handed to ``workers`` workers and not finished.

    Parameters
    ----------
    count : int
        Frames submitted and not yet finished.
    workers : int
        Frames the executor runs at once.

    Returns
    -------
    str
        E.g. '2 in progress, 30 queued' ('' for none): a pool takes every frame at once, but
        runs only as many as it has workers.
    """
    if count <= 0:
        return ""
    running = min(count, max(workers, 1))
    return f"{running} in progress" + (f", {count - running} queued" if count > running else "")


def _print_warnings(console: Console, result: NightResult) -> None:
    """One line per header gain or read noise the night's photon transfer disagrees with, and one
    per quality test that warned about frames (how many, the first one's reason)."""
    from rich.text import Text

    from lco_cli.quality import notes_of, verdict_of

    lines = [line for record in result.photon_transfer for line in record.warnings]
    warned: dict[str, list[str]] = {}
    for frame in result.frames:
        if verdict_of(frame) == "warn":
            for note in notes_of(frame):
                warned.setdefault(note.split(":", 1)[0], []).append(note)
    for test, notes in warned.items():
        plural = "s" if len(notes) != 1 else ""
        lines.append(f"{len(notes)} frame{plural} warned by the {test} test (e.g. {notes[0]})")
    for line in lines:
        console.print(Text.assemble(("warning", "bold yellow"), f" {line}"), highlight=False, soft_wrap=True)


def _print_degraded(console: Console, result: NightResult, *, strict: bool) -> None:
    """One line per group of degraded frames (what they lack, why, what to do), in colour."""
    from rich.text import Text

    from lco_cli.results import group_shortfalls

    groups = group_shortfalls(result.frames)
    for group in groups:
        console.print(
            Text.assemble(("degraded", "bold yellow"), f" {group.line()}"), highlight=False, soft_wrap=True
        )
    if groups and not strict:
        plural = "s" if result.degraded != 1 else ""
        line = f"{result.degraded} frame{plural} in all: products written, without what is said above"
        console.print(
            Text.assemble(("degraded", "bold yellow"), f" {line}; --strict makes degraded frames exit 1"),
            highlight=False, soft_wrap=True,
        )  # fmt: skip


def _print_coadds(console: Console, result: NightResult, *, quiet: bool) -> None:
    """One line per coadd that failed or is degraded (also with --quiet), and the coadds made."""
    from rich.text import Text

    for coadd in result.coadds:
        if coadd.status in ("failed", "degraded"):
            colour = "red" if coadd.status == "failed" else "bold yellow"
            console.print(
                Text.assemble((coadd.status, colour), f" coadd {Path(coadd.path).name}: {coadd.reason}"),
                highlight=False, soft_wrap=True,
            )  # fmt: skip
    made = [c for c in result.coadds if c.status != "failed"]
    if made and not quiet:
        names = ", ".join(Path(c.path).name for c in made[:3]) + (" ..." if len(made) > 3 else "")
        console.print(f"{len(made)} coadds: {names}", highlight=False, markup=False, soft_wrap=True)


def _log_timings(result: NightResult, seconds: float) -> None:
    """The night's counts and where its time went, into the log (and on the terminal with -v)."""
    from lco_cli.logs import LOGGER

    counts = Counter(frame.status for frame in result.frames)
    phases = ", ".join(f"{phase} {spent:.1f} s" for phase, spent in result.phases.items())
    LOGGER.info(
        "finished %d files (%s) in %.1f s; %d masters; phases: %s",
        len(result.frames), ", ".join(f"{n} {status}" for status, n in sorted(counts.items())) or "none",
        seconds, len(result.masters), phases or "none",
    )  # fmt: skip


def _print_summary(console: Console, result: NightResult, summary: Path, report: Path) -> None:
    from rich.table import Table

    from lco_cli.results import CAMERA_FIGURES, STATUSES, camera_figures

    table = Table(
        title=f"{len(result.frames)} files in {(result.finished - result.started).total_seconds():.0f} s"
    )
    table.add_column("type")
    for status in STATUSES:
        table.add_column(status, justify="right")
    # A file with no OBSTYPE was either not understood (failed) or recognised as no raw frame
    # at all, such as a catalogue (skipped).
    counts = Counter(
        (frame.obstype or ("unreadable" if frame.status == "failed" else "not a frame"), frame.status)
        for frame in result.frames
    )
    for obstype in sorted({o for o, _ in counts}):
        table.add_row(obstype, *(str(counts.get((obstype, s), 0)) for s in STATUSES))
    console.print(table)
    cameras = camera_figures(result.frames)
    if cameras:
        figures = Table(title="science frames, median per camera")
        figures.add_column("camera")
        figures.add_column("frames", justify="right")
        for _, label, unit in CAMERA_FIGURES:
            figures.add_column(f"{label} ({unit})", justify="right")
        for camera in cameras:
            medians = (camera.medians[key] for key, _, _ in CAMERA_FIGURES)
            figures.add_row(
                camera.camera, str(camera.frames), *("-" if m is None else f"{m:.2f}" for m in medians)
            )
        console.print(figures)
    if result.reused:
        console.print(
            f"{result.reused} of these were done by earlier runs: their recorded outcome is shown "
            "(--force redoes them)",
            highlight=False, markup=False,
        )  # fmt: skip
    console.print(
        f"{len(result.masters)} masters; summary: {summary}; report: {report}", highlight=False, markup=False
    )


@click.command()
@click.argument("paths", nargs=-1, required=True)
@click.option(
    "--out",
    required=True,
    type=click.Path(file_okay=False, path_type=Path),
    help="folder for products, masters, summary.json and report.html",
)
@click.option(
    "--db", help="calibration library: SQLite file or PostgreSQL URL (default: OUT/calibrations.db)"
)
@click.option(
    "--catalog",
    type=click.Path(exists=True, dir_okay=False, path_type=Path),
    help="reference catalogue file (FITS/ECSV/CSV with ra, dec, mag)",
)
@click.option("--offline", is_flag=True, help="never query Gaia; use --catalog or the cache")
@click.option("--workers", type=click.IntRange(min=1), help="local worker processes (default: one per core)")
@click.option("--scheduler", help="address of a Dask scheduler, e.g. tcp://10.0.0.5:8786")
@click.option("--force", is_flag=True, help="reduce frames the library says are done")
@click.option(
    "--strict",
    is_flag=True,
    help="exit 1 when a frame is degraded (its product lacks sources, a WCS or a zero point)",
)
@settings_options
@click.option(
    "--min-frames", type=click.IntRange(min=1), help="frames a master needs (= -p stack.min_frames=N)"
)
@click.option(
    "--astrometry-radius",
    type=click.FloatRange(min=0.0, max=600.0),
    metavar="ARCMIN",
    help="largest pointing error the astrometric solution searches (= -p astrometry.radius_arcmin=X)",
)
@click.option(
    "--astrometry-rotation",
    type=click.FloatRange(min=0.0, max=180.0),
    metavar="DEG",
    help="largest rotation from the header's (or camera's) orientation searched; 180: any "
    "(= -p astrometry.max_rotation_deg=X)",
)
@click.option(
    "--astrometry-scale",
    type=click.FloatRange(min=0.0, max=0.5),
    metavar="FRACTION",
    help="largest relative error of the nominal pixel scale (= -p astrometry.scale_tolerance=X)",
)
@click.option(
    "--astrometry-no-mirror",
    is_flag=True,
    help="never search the mirror image of the header's orientation (= -p astrometry.allow_mirror=false)",
)
@click.option(
    "--no-compress",
    is_flag=True,
    help="write plain .fits products and masters (default: tile-compressed .fits.fz, as LCO ships them)",
)
@click.option(
    "--no-stack",
    is_flag=True,
    help="make no coadds (default: each group of 2 or more science frames of one target and filter "
    "is stacked into ...-{first}-{last}-e92.fits.fz)",
)
@click.option(
    "-q", "--quiet", is_flag=True, help="no progress and no closing table; each failure still has its line"
)
@click.option(
    "-v",
    "--verbose",
    "verbosity",
    count=True,
    help="more lines on the terminal: -v each frame's outcome and the timings, -vv debugging lines too",
)
@click.option(
    "--plan",
    "show_plan",
    is_flag=True,
    help="print what the run would do (master groups, each science frame's masters, frames done "
    "and refused) and stop: nothing is reduced and nothing written to OUT",
)
@click.option("--json", "as_json", is_flag=True, help="with --plan: print the plan as JSON")
@click.option(
    "--log-file",
    type=click.Path(dir_okay=False, path_type=Path),
    help="append the run's log here: every frame's outcome, timings, full tracebacks "
    "(default: OUT/lco-reduce.log)",
)
def run(
    paths: tuple[str, ...], out: Path, db: str | None, catalog: Path | None, offline: bool,
    workers: int | None, scheduler: str | None, force: bool, strict: bool, assignments: tuple[str, ...],
    config_file: Path | None, min_frames: int | None, astrometry_radius: float | None,
    astrometry_rotation: float | None, astrometry_scale: float | None, astrometry_no_mirror: bool,
    no_compress: bool, no_stack: bool, show_plan: bool, as_json: bool,
    quiet: bool, verbosity: int, log_file: Path | None,
) -> int:  # fmt: skip
    """Reduce raw frames (files or folders, searched recursively) into products in OUT.

    Biases, darks and sky flats become masters (registered in the calibration library); science
    frames are calibrated with the closest suitable masters, cleaned of cosmic rays, catalogued,
    solved astrometrically and photometrically, and written as ...-e91.fits.fz: tile-compressed like
    LCO's own products, SCI and ERR quantised to within 1% of each pixel's ERR, BPM lossless
    (--no-compress: plain ...-e91.fits). Exits 0 when every
    frame succeeded, 1 when some failed (the others are still done), 2 on a usage error
    (no FITS file under PATHS: nothing is written). A frame whose product was written without
    sources, a WCS or a zero point is "degraded": said with its reason, exit 0 (--strict: 1).
    The log, OUT/lco-reduce.log (--log-file),
    keeps every frame's outcome, the timings and the full traceback of any unexpected error.

    \b
    A rerun skips what is done and redoes what is not: failed frames, and degraded frames
    whose missing input is now given (--catalog, or Gaia reachable). summary.json and
    report.html always describe every input, frames done earlier as their run recorded them.

    \b
    Repeated science exposures of one target and filter (one MOLUID or REQNUM, else within
    coadd.max_separation_arcsec and coadd.max_gap_minutes) are then stacked into a coadd each:
    aligned, flux-scaled, weighted and clipped, solved and calibrated again, written as
    ...-{first}-{last}-e92.fits.fz (--no-stack: none; `lco-reduce stack` stacks products you choose).

    \b
    Astrometry starts from each header's pointing and orientation (else the camera's known
    mounting) and, like a plate solver, finds any rotation and either parity within the
    --astrometry-* limits.

    \b
    Every stage's settings (cosmic-ray threshold, detection threshold, stacking, ...) are
    listed by `lco-reduce config show`; --config FILE and -p SECTION.NAME=VALUE change them
    (defaults < file < command line), and summary.json records them. --min-frames and the
    --astrometry-* options are the same settings under their own names.

    \b
    --plan prints what the run would do and stops: the master groups in the order they are
    made, each science frame's masters (this night's group #N or the library's), the frames
    done and those refused, with the reason; nothing is reduced and OUT is not touched.

    \b
    Example:
      lco-reduce run /data/lco/20260101 --out reduced --catalog refcat.ecsv --offline
    """
    from lco_cli.settings import choose_settings

    # The options that are settings, as the command line gave them (None: not given).
    aliases = {
        "stack.min_frames": ("--min-frames", min_frames),
        "astrometry.radius_arcmin": ("--astrometry-radius", astrometry_radius),
        "astrometry.max_rotation_deg": ("--astrometry-rotation", astrometry_rotation),
        "astrometry.scale_tolerance": ("--astrometry-scale", astrometry_scale),
        "astrometry.allow_mirror": ("--astrometry-no-mirror", False if astrometry_no_mirror else None),
    }
    settings = choose_settings(
        config_file, assignments, {k: (o, v) for k, (o, v) in aliases.items() if v is not None}
    )
    if as_json and not show_plan:
        raise click.UsageError("--json goes with --plan")
    if show_plan:
        print_plan(
            paths, out=out, db=db, catalog=catalog, offline=offline, force=force, compress=not no_compress,
            settings=settings, as_json=as_json,
        )  # fmt: skip
        return OK
    _, code = reduce_night(
        paths, out=out, db=db, catalog=catalog, offline=offline, workers=workers, scheduler=scheduler,
        force=force, quiet=quiet, settings=settings, compress=not no_compress,
        verbosity=verbosity, log_file=log_file, strict=strict, stack=not no_stack,
    )  # fmt: skip
    return code
