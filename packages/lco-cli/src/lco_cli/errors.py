"""Turning every error into one line for the person at the terminal, and into an exit code."""

from __future__ import annotations

import tempfile
import traceback
from pathlib import Path

import click

from lco_core.errors import LcoError

#: Exit codes: everything done; some frames failed (the rest done); the command was misused.
OK, SOME_FAILED, USAGE = 0, 1, 2


def run_safely(command: click.Command, arguments: list[str]) -> int:
    """Run a click command; typed pipeline errors print one line and exit 2 instead of a traceback.

    Parameters
    ----------
    command : click.Command
        The command (group).
    arguments : list of str
        Its arguments.

    Returns
    -------
    int
        The exit code: the command's own (0 or 1), or 2 for a usage error, an interruption, a
        typed error or an unexpected one (whose traceback goes to ``lco-reduce-error.txt`` in
        the temporary folder).
    """
    try:
        result = command.main(args=arguments, prog_name="lco-reduce", standalone_mode=False)
    except click.exceptions.Exit as done:
        return int(done.exit_code)
    except click.ClickException as error:
        error.show()
        return USAGE
    except click.exceptions.Abort:
        click.echo("lco-reduce: interrupted", err=True)
        return USAGE
    except LcoError as error:
        click.echo(f"lco-reduce: {error}", err=True)
        return USAGE
    except (FileNotFoundError, PermissionError) as error:
        click.echo(f"lco-reduce: {error}", err=True)
        return USAGE
    except Exception as error:  # never a traceback on the terminal: one line, the details in a file
        log = Path(tempfile.gettempdir()) / "lco-reduce-error.txt"
        log.write_text("".join(traceback.format_exception(error)))
        click.echo(f"lco-reduce: internal error {type(error).__name__}: {error} (details in {log})", err=True)
        return USAGE
    return int(result) if isinstance(result, int) else OK
