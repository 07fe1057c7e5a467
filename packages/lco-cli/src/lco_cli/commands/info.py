"""``lco-reduce info``: what the pipeline understands of a frame, without reducing it."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

import click

from lco_cli.commands.calibrations import DB_HELP, open_library
from lco_cli.errors import OK, SOME_FAILED

if TYPE_CHECKING:
    from lco_cli.library import CalibrationLibrary

# The pipeline is imported when the command runs, not when the command line is built.


def describe_file(path: Path, library: CalibrationLibrary | None) -> list[str]:
    """The lines ``lco-reduce info`` prints for one file.

    Parameters
    ----------
    path : pathlib.Path
        A raw file.
    library : CalibrationLibrary or None
        Where to look for the masters it would use.

    Returns
    -------
    list of str

    Raises
    ------
    LcoError
        A file it cannot understand (unreadable, unknown camera, ...).
    """
    from lco_cli.library import MasterNotFoundError
    from lco_core.calibration_rules import masters_needed, rule_for
    from lco_core.io import read_raw
    from lco_instruments.describe import camera_for

    raw = read_raw(path)
    meta = raw.meta
    camera = camera_for(raw)
    lines = [
        f"{path.name}: {meta.obstype.value} {meta.exptime:g} s, filter {meta.filter or '-'}, "
        f"{meta.date_obs:%Y-%m-%d %H:%M:%S} UTC",
        f"  camera {camera.name} ({camera.family.value}), binning {camera.binning}, "
        f"mode {camera.configuration_mode}, mosaic {camera.mosaic_shape[1]}x{camera.mosaic_shape[0]}, "
        f"trim {camera.trim_section}",
    ]
    for amp in camera.amplifiers:
        lines.append(
            f"  amplifier {amp.index}: readout {amp.readout_shape[1]}x{amp.readout_shape[0]}, "
            f"DATASEC {amp.data_section}, BIASSEC {amp.bias_section or 'none'}, "
            f"DETSEC {amp.detector_section}, "
            f"gain {amp.gain:g} e-/ADU, read noise {amp.read_noise:g} e-, saturation {amp.saturation:g} ADU"
        )
    if any(any(row) for row in camera.crosstalk):
        pairs = [
            f"{i + 1}->{j + 1} {c:g}"
            for i, row in enumerate(camera.crosstalk)
            for j, c in enumerate(row)
            if c
        ]
        lines.append("  crosstalk: " + ", ".join(pairs))
    if camera.fixes:
        lines.append(f"  fixes: {', '.join(camera.fixes)}")
    # Values not from the header: the camera's facts and section fixes, each with its source.
    for fact in camera.applied_facts:
        lines.append(f"  {fact.fact} (not from the header): {fact.value} [source: {fact.source}]")
    lines += [f"  {line}" for line in camera.provenance]
    for kind in masters_needed(meta.obstype):
        # What the frame asks of this master, in the words of the rule the library applies.
        asked = f"  master {kind.value} for {rule_for(kind).request(rule_for(kind).wanted(meta))}:"
        if library is None:
            lines.append(f"{asked} (no calibration library given)")
            continue
        try:
            entry = library.select_master(
                kind, camera=meta.camera, binning=meta.binning, configuration_mode=meta.configuration_mode,
                date_obs=meta.date_obs, filter=meta.filter, set_temperature=meta.ccd_set_temperature,
                site=meta.site, telescope=meta.telescope,
            )  # fmt: skip
            lines.append(f"{asked} {Path(entry.path).name} ({entry.date_obs:%Y-%m-%d %H:%M})")
        except MasterNotFoundError as error:
            lines.append(f"{asked} none ({error.near_miss})")
    return lines


@click.command()
@click.argument(
    "files", nargs=-1, required=True, type=click.Path(exists=True, dir_okay=False, path_type=Path)
)
@click.option("--db", help=DB_HELP + " (used only when given or present)")
def info(files: tuple[Path, ...], db: str | None) -> int:
    """Show what the pipeline understands of FILES: camera, type, geometry per amplifier,
    binning, and which masters it would use.

    \b
    Example:
      lco-reduce info raw/cpt1m010-fa99-20260101-0042-e00.fits.fz --db reduced
    """
    from lco_core.errors import LcoError

    # A --db that names no library is a usage error, never an empty library made by mistake.
    library = open_library(db, must_exist=True) if db or (Path.cwd() / "calibrations.db").exists() else None
    failed = False
    try:
        for path in files:
            try:
                click.echo("\n".join(describe_file(path, library)))
            except LcoError as error:
                failed = True
                click.echo(f"lco-reduce: {error}", err=True)
    finally:
        if library is not None:
            library.close()
    return SOME_FAILED if failed else OK
