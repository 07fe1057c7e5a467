"""Entry point of the ``lco-reduce`` command: a click group whose commands live in lco_cli.commands."""

from __future__ import annotations

import sys
from collections.abc import Sequence

import click

# The commands' modules import only click when the command line is built (the pipeline when a
# command runs), so `lco-reduce --help` answers at once; tests/test_help_speed.py keeps it so.
from lco_cli.commands.calibrations import calibrations
from lco_cli.commands.config import config
from lco_cli.commands.demo import demo
from lco_cli.commands.info import info
from lco_cli.commands.run import run
from lco_cli.commands.stack import stack
from lco_cli.errors import run_safely


@click.group(context_settings={"help_option_names": ["-h", "--help"], "max_content_width": 100})
@click.version_option(package_name="lco-cli", prog_name="lco-reduce")
def cli() -> None:
    """Reduce raw LCO imaging frames (bias, dark, flat, science) into science products.

    \b
    Examples:
      lco-reduce demo                          simulate a small night and reduce it
      lco-reduce run /data/raw/20260101 --out reduced
      lco-reduce stack reduced/*-e91.fits.fz --out stacks
      lco-reduce calibrations list --db reduced/calibrations.db
    """


cli.add_command(run)
cli.add_command(demo)
cli.add_command(info)
cli.add_command(calibrations)
cli.add_command(config)
cli.add_command(stack)


def main(argv: Sequence[str] | None = None) -> int:
    """Run the command line; returns the exit code (0 ok, 1 some frames failed, 2 usage error).

    Parameters
    ----------
    argv : sequence of str, optional
        The arguments (default: ``sys.argv[1:]``), e.g. ``["run", "raw", "--out", "reduced"]``.

    Returns
    -------
    int
    """
    return run_safely(cli, list(sys.argv[1:] if argv is None else argv))


if __name__ == "__main__":
    sys.exit(main())
