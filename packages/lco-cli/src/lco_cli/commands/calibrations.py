"""``lco-reduce calibrations list|mark-bad|mark-good``: look after the calibration library."""

from __future__ import annotations

from pathlib import Path

import click

from lco_cli.library import CalibrationLibrary, MasterKind

DB_HELP = "calibration library: a SQLite file (default: ./calibrations.db) or a PostgreSQL URL"


def open_library(db: str | None) -> CalibrationLibrary:
    """The library a --db option names: a URL, a SQLite file path, or ./calibrations.db.

    Parameters
    ----------
    db : str or None
        A URL (``postgresql://...``, ``sqlite:///...``), a SQLite file, a folder holding
        ``calibrations.db``, or None for ``./calibrations.db``.

    Returns
    -------
    CalibrationLibrary

    Raises
    ------
    LibraryError
        The database cannot be opened.
    """
    if db is None:
        return CalibrationLibrary.at(Path.cwd())
    if "://" in db:
        return CalibrationLibrary(db)
    path = Path(db)
    if path.is_dir():
        return CalibrationLibrary.at(path)
    return CalibrationLibrary(f"sqlite:///{path.resolve()}")


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
@click.option("--kind", type=click.Choice([k.value for k in MasterKind]), help="only this kind of master")
def list_masters(db: str | None, camera: str | None, kind: str | None) -> None:
    """Every master in the library, oldest first."""
    with open_library(db) as library:
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
    with open_library(db) as library:
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
