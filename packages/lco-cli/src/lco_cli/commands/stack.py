"""``lco-reduce stack``: coadds of reduced science products the user chooses."""

from __future__ import annotations

import sys
from pathlib import Path

import click

from lco_cli.commands.config import settings_options
from lco_cli.errors import OK, SOME_FAILED, set_error_log_folder

# The pipeline is imported when the command runs, not when the command line is built.


@click.command()
@click.argument("products", nargs=-1, required=True, type=click.Path(exists=True, path_type=Path))
@click.option(
    "--out",
    required=True,
    type=click.Path(file_okay=False, path_type=Path),
    help="folder for the coadds, their thumbnails and the log",
)
@click.option(
    "--catalog",
    type=click.Path(exists=True, dir_okay=False, path_type=Path),
    help="reference catalogue file (FITS/ECSV/CSV with ra, dec, mag)",
)
@click.option(
    "--offline", is_flag=True, help="never query Gaia; use --catalog or the cache in OUT/catalog-cache"
)
@click.option(
    "--one-group",
    is_flag=True,
    help="stack every product given into one coadd, whatever their headers and pointings say "
    "(one camera, binning and filter still)",
)
@click.option(
    "--no-compress", is_flag=True, help="write a plain .fits coadd (default: tile-compressed .fits.fz)"
)
@settings_options
@click.option("-q", "--quiet", is_flag=True, help="only the problems, one line each")
def stack(
    products: tuple[Path, ...], out: Path, catalog: Path | None, offline: bool, one_group: bool,
    no_compress: bool, assignments: tuple[str, ...], config_file: Path | None, quiet: bool,
) -> int:  # fmt: skip
    """Stack reduced science products (...-e91.fits.fz, or folders of them) into coadds in OUT.

    The products are grouped as `lco-reduce run` groups a night's frames: one camera, binning
    and filter, one MOLUID (else REQNUM) when the headers name one, centres within
    coadd.max_separation_arcsec of the group's first frame, and no gap longer than
    coadd.max_gap_minutes; --one-group stacks them all together. Each group of coadd.min_frames
    (2) or more is resampled onto one north-up TAN grid, scaled to its first frame's zero point,
    weighted by inverse sky variance, sigma-clipped per pixel and averaged; the coadd is
    catalogued, solved, calibrated and written as
    {site}{telescope}-{camera}-{DAY-OBS}-{first}-{last}-e92.fits.fz (SCI, CAT, BPM, ERR; EXPTIME
    the inputs' total), its inputs and their weights in its header (IMCOMnnn, PROVnnnn).

    \b
    A file that cannot be stacked (a raw frame, a master, a coadd, a product without an
    astrometric solution or zero point) is said in one line and left out. Exit 0 when every
    group of enough frames made its coadd, 1 when a file was refused, a coadd failed or there
    was nothing to stack. The log is OUT/lco-reduce.log.

    \b
    Examples:
      lco-reduce stack reduced/cpt1m010-fa05-20260101-004[2-7]-e91.fits.fz --out stacks
      lco-reduce stack reduced/ --out stacks --catalog refcat.ecsv --offline -p coadd.nsigma=4
    """
    from lco_cli.logs import LOG_NAME, LOGGER, log_outcome, log_to_file
    from lco_cli.settings import choose_settings
    from lco_cli.stacking import stack_products
    from lco_stages.coadd import CoaddSettings

    chosen = choose_settings(config_file, assignments)
    paths = _expand(products)
    out.mkdir(parents=True, exist_ok=True)
    set_error_log_folder(out)
    with log_to_file(out / LOG_NAME, command=" ".join(sys.argv)) as log:
        result = stack_products(
            [str(p) for p in paths], out=out, catalog=catalog, offline=offline, settings=chosen.settings,
            one_group=one_group, compress=not no_compress,
        )  # fmt: skip
        for path, reason in result.refused:
            LOGGER.warning("stack: left out %s: %s", path, reason)
            click.echo(f"lco-reduce stack: {reason}", err=True)
        minimum = chosen.settings.of(CoaddSettings).min_frames
        for group in result.alone:
            line = f"not stacked: {group.describe()}: fewer than coadd.min_frames = {minimum}"
            LOGGER.info("stack: %s", line)
            if not quiet:
                click.echo(line)
        for coadd in result.coadds:
            log_outcome("stack", coadd)
            if coadd.status == "failed":
                click.echo(f"lco-reduce stack: {Path(coadd.path).name}: {coadd.reason}", err=True)
            elif not quiet or coadd.status == "degraded":
                click.echo(_made(coadd))
        if not result.coadds:
            click.echo(
                f"lco-reduce stack: nothing stacked: no group of {minimum} or more usable products", err=True
            )
        if log.tracebacks:
            click.echo(f"unexpected error: traceback in {log.path}", err=True)
    failed = any(c.status == "failed" for c in result.coadds)
    return SOME_FAILED if failed or result.refused or not result.coadds else OK


def _expand(products: tuple[Path, ...]) -> list[Path]:
    """Files as given; a folder gives its FITS files (not its sub-folders), in name order."""
    paths: list[Path] = []
    for product in products:
        if product.is_dir():
            paths += sorted(
                p for p in product.iterdir() if p.is_file() and p.name.endswith((".fits", ".fits.fz"))
            )
        else:
            paths.append(product)
    return paths


def _made(coadd: object) -> str:
    from lco_cli.results import FrameResult, finite_number

    assert isinstance(coadd, FrameResult)
    figures = coadd.figures
    parts = [
        f"{coadd.status} {coadd.path}: {figures.get('NCOMBINE')} frames, EXPTIME {figures.get('EXPTIME')} s"
    ]
    for key, label in (("L1ZP", "zero point"), ("L1DEPTH", "5-sigma depth"), ("L1FWHM", "FWHM")):
        value = finite_number(figures.get(key))
        if value is not None:
            parts.append(f"{label} {value:.2f}")
    text = ", ".join(parts)
    return f"{text} ({coadd.reason})" if coadd.reason else text
