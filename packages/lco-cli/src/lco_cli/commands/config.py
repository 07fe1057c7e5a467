"""``lco-reduce config show``: every setting, its value, default, type, unit, meaning and source."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any, TypeVar

import click

from lco_cli.errors import OK

# The pipeline is imported when the command runs, not when the command line is built.

F = TypeVar("F", bound=Callable[..., Any])

SET_HELP = (
    "change one stage setting, e.g. -p cosmic.sigclip=6 -p stack.nsigma=3.5 (repeatable; "
    "`lco-reduce config show` lists them all)"
)
CONFIG_HELP = "TOML file of settings ([section] tables of name = value); -p and the options win over it"


def settings_options(function: F) -> F:
    """Add ``-p/--set SECTION.NAME=VALUE`` (repeatable) and ``--config FILE`` to a command.

    Parameters
    ----------
    function : callable
        The command's function; it receives ``assignments`` (tuple of str) and ``config_file``
        (pathlib.Path or None).

    Returns
    -------
    callable
        The same function, with the two options.
    """
    function = click.option(
        "-p", "--set", "assignments", multiple=True, metavar="SECTION.NAME=VALUE", help=SET_HELP
    )(function)
    return click.option(
        "--config",
        "config_file",
        type=click.Path(dir_okay=False, path_type=Path),
        metavar="FILE",
        help=CONFIG_HELP,
    )(function)


@click.group()
def config() -> None:
    """The stage settings: what each one does, its default, and the value a run would use.

    Settings come from their defaults, then a TOML file (--config), then the command line
    (-p SECTION.NAME=VALUE, and the options of `lco-reduce run` that are settings, such as
    --min-frames for stack.min_frames).
    """


@config.command()
@settings_options
def show(assignments: tuple[str, ...], config_file: Path | None) -> int:
    """Print every setting as TOML: its value and where it came from, and above it what it does,
    its type, range, unit and default. The output is a valid --config file.

    \b
    Examples:
      lco-reduce config show
      lco-reduce config show --config night.toml -p cosmic.sigclip=6
      lco-reduce config show > night.toml      # a file to edit and pass to run --config
    """
    from lco_cli.settings import choose_settings, format_settings

    chosen = choose_settings(config_file, assignments)
    click.echo(format_settings(chosen), nl=False)
    return OK
