"""``lco-reduce demo``: simulate a small night with known truth, reduce it, and compare."""

from __future__ import annotations

import shutil
import sys
import time
from pathlib import Path

import click

from lco_cli.errors import OK, SOME_FAILED


@click.command()
@click.option(
    "--out",
    type=click.Path(file_okay=False, path_type=Path),
    default=Path("demo-night"),
    show_default=True,
    help="folder for the simulated raw frames (OUT/raw) and the products",
)
@click.option("--workers", type=click.IntRange(min=1), help="local worker processes (default: one per core)")
@click.option(
    "--size", type=click.IntRange(min=256), default=1024, show_default=True, help="image side, pixels"
)
@click.option("--quiet", is_flag=True, help="only the comparison with the truth")
def demo(out: Path, workers: int | None, size: int, quiet: bool) -> int:
    """Simulate a night (SBIG and Sinistro: biases, darks, sky flats and science frames of a star
    field with its reference catalogue), reduce it with `run`, and show how the products compare
    with the injected truth.

    \b
    Example:
      lco-reduce demo --out demo-night
    """
    # Imported here, not when the command line is built, so that `--help` answers at once.
    from rich.console import Console

    from lco_cli.commands.run import reduce_night
    from lco_cli.demo import compare_with_truth, simulate_demo

    # Piped to a file or a CI log, rich would wrap the tables at 80 columns.
    console = Console(width=None if sys.stdout.isatty() else 140)
    start = time.perf_counter()
    if out.exists():
        shutil.rmtree(out)  # a demo always starts from a fresh night
    console.print(f"simulating a night in {out / 'raw'} ...")
    night = simulate_demo(out / "raw", size=size)
    console.print(f"simulated in {time.perf_counter() - start:.0f} s; reducing ...")
    result, code = reduce_night(
        (str(out / "raw"),), out=out / "reduced", catalog=night.catalog, offline=True, workers=workers,
        quiet=quiet, console=Console(stderr=True, quiet=quiet),
    )  # fmt: skip
    worst = compare_with_truth(night, result, console)
    console.print(
        f"worst: master bias {worst['bias_ratio']:.2f} x ideal, "
        f'astrometry {worst["astrometry_arcsec"]:.3f}", '
        f"zero point {worst['zero_point_mag']:.3f} mag, "
        f"FWHM {100 * worst['fwhm_fraction']:.1f}%; "
        f"total {time.perf_counter() - start:.0f} s. Products: {out / 'reduced'} (report.html, summary.json)",
        highlight=False,
    )
    return SOME_FAILED if code != OK else OK
