"""``lco-reduce calibrations list|mark-bad|mark-good``: look after the calibration library."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

import click

if TYPE_CHECKING:
    from lco_cli.library import CalibrationLibrary

# Only click is imported when the command line is built, so that `--help` answers at once:
# the library (SQLAlchemy) is imported when a command runs.

DB_HELP = "calibration library: a SQLite file (default: ./calibrations.db) or a PostgreSQL URL"

#: The kinds of master (`lco_core.master.MasterKind` values), spelled out so that building the
#: command line imports nothing of the pipeline; a test keeps the two the same.
MASTER_KINDS = ("bias", "dark", "skyflat")


def open_library(db: str | None, *, must_exist: bool = False) -> CalibrationLibrary:
    """The library a --db option names: a URL, a SQLite file path, or ./calibrations.db.

    Parameters
    ----------
    db : str or None
        A URL (``postgresql://...``, ``sqlite:///...``), a SQLite file, a folder holding
        ``calibrations.db``, or None for ``./calibrations.db``.
    must_exist : bool
        For commands that only read or mark a library: open it only if it is there, and create
        nothing (no folder, no file, no tables).

    Returns
    -------
    CalibrationLibrary

    Raises
    ------
    LibraryNotFoundError
        ``must_exist`` and there is no library there; the message names ``db`` as given and
        the run that would make it.
    LibraryError
        The database cannot be opened.
    """
    from lco_cli.library import DEFAULT_DATABASE_NAME, CalibrationLibrary, LibraryNotFoundError

    create = not must_exist
    try:
        if db is None:
            return CalibrationLibrary.at(Path.cwd(), create=create)
        if "://" in db:
            return CalibrationLibrary(db, create=create)
        path = Path(db)
        if path.is_dir():
            return CalibrationLibrary.at(path, create=create)
        return CalibrationLibrary(f"sqlite:///{path.resolve()}", create=create)
    except LibraryNotFoundError:
        given = db if db is not None else f"./{DEFAULT_DATABASE_NAME}"
        raise LibraryNotFoundError(given, _how_to_make(db, DEFAULT_DATABASE_NAME)) from None


def _how_to_make(db: str | None, default_name: str) -> str:
    """The run that makes the library ``--db db`` names: a folder is a run's --out, a file its --db."""
    if db is None:
        return "run `lco-reduce run ... --out .` first, or pass --db"
    path = Path(db)
    if "://" in db or (path.suffix and path.name != default_name):
        return f"run `lco-reduce run ... --db {db}` first"
    folder = path.parent if path.name == default_name else path
    return f"run `lco-reduce run ... --out {folder}` first"


@click.group()
def calibrations() -> None:
    """List master calibrations, or mark one bad (never used again) or good.

    \b
    Examples:
      lco-reduce calibrations list --db reduced/calibrations.db --camera fa99
      lco-reduce calibrations mark-bad cpt1m010-fa99-20260101-skyflat-bin1x1-rp.fits.fz --db reduced
    """


@calibrations.command("list")
@click.option("--db", help=DB_HELP)
@click.option("--camera", help="only this camera (INSTRUME, e.g. fa05)")
@click.option("--kind", type=click.Choice(MASTER_KINDS), help="only this kind of master")
def list_masters(db: str | None, camera: str | None, kind: str | None) -> None:
    """Every master in the library, oldest first."""
    from lco_cli.library import MasterKind

    with open_library(db, must_exist=True) as library:
        entries = library.masters(camera=camera, kind=MasterKind(kind) if kind else None)
    if not entries:
        click.echo("no masters")
        return
    for entry in entries:
        details = [entry.binning, entry.configuration_mode]
        if entry.filter:
            details.append(f"filter {entry.filter}")
        if entry.set_temperature is not None:
            details.append(f"{entry.set_temperature:g} C")
        state = "good" if entry.good else "BAD"
        click.echo(
            f"{entry.id:5d} {state:4s} {entry.kind.value:8s} {entry.camera:6s} "
            f"{entry.date_obs:%Y-%m-%d %H:%M} {' '.join(details):30s} {entry.path}"
        )


def _mark(master: str, db: str | None, *, good: bool) -> None:
    key: str | int = int(master) if master.isdigit() else master
    with open_library(db, must_exist=True) as library:
        if isinstance(key, str) and "/" not in key:
            matches = [e for e in library.masters() if Path(e.path).name == key]
            key = matches[0].path if len(matches) == 1 else key
        entry = library.mark(key, good=good)
    click.echo(f"{entry.path}: marked {'good' if good else 'bad'}")


@calibrations.command("mark-bad")
@click.argument("master")
@click.option("--db", help=DB_HELP)
def mark_bad(master: str, db: str | None) -> None:
    """Never select MASTER again (an id, a path, or a file name from `list`)."""
    _mark(master, db, good=False)


@calibrations.command("mark-good")
@click.argument("master")
@click.option("--db", help=DB_HELP)
def mark_good(master: str, db: str | None) -> None:
    """Allow MASTER to be selected again (an id, a path, or a file name from `list`)."""
    _mark(master, db, good=True)
