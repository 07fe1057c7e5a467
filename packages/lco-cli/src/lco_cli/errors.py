"""Turning every error into one line for the person at the terminal, and into an exit code."""

from __future__ import annotations

import os
import tempfile
import traceback
from contextvars import ContextVar
from datetime import UTC, datetime
from pathlib import Path

import click

from lco_core.errors import LcoError

#: Exit codes: everything done; some frames failed (the rest done); the command was misused.
OK, SOME_FAILED, USAGE = 0, 1, 2

#: Where the running command wants an unexpected error's details (None: the temporary folder).
_error_log_folder: ContextVar[Path | None] = ContextVar("lco_reduce_error_log_folder", default=None)


def set_error_log_folder(folder: Path | None) -> None:
    """Name the folder for the details of an unexpected error in the running command.

    `run_safely` writes them there (else in the temporary folder) and forgets the folder when
    the command ends. ``lco-reduce run`` names its output folder, beside the products.

    Parameters
    ----------
    folder : pathlib.Path or None
        The folder (None: the temporary folder).
    """
    _error_log_folder.set(folder)


def write_error_log(error: BaseException) -> Path:
    """Write an error's traceback to a new file of its own.

    The file is ``lco-reduce-error-<UTC yyyymmddTHHMMSS>-<PID>.txt`` (``-2``, ``-3``... if that
    exists), created exclusively in the folder `set_error_log_folder` named, else (or if that
    fails) in the temporary folder.

    Parameters
    ----------
    error : BaseException
        The error.

    Returns
    -------
    pathlib.Path
        The file written.

    Raises
    ------
    OSError
        Neither folder took the file.
    """
    text = "".join(traceback.format_exception(error))
    folder = _error_log_folder.get()
    if folder is not None:
        try:
            return _write_new(folder, text)
        except OSError:
            pass  # the named folder may be what failed (full, read-only): the temporary one remains
    return _write_new(Path(tempfile.gettempdir()), text)


def _write_new(folder: Path, text: str) -> Path:
    """Write ``text`` to a log file of a name nobody has used in ``folder``."""
    stem = f"lco-reduce-error-{datetime.now(UTC):%Y%m%dT%H%M%S}-{os.getpid()}"
    # Exclusive creation, never an existing file: the temporary folder is shared, and a file
    # (or symbolic link) someone else left under a name must neither be written through nor
    # stop the message; a second failure of this process in the same second gets its own file.
    for number in range(1, 1000):
        path = folder / (f"{stem}.txt" if number == 1 else f"{stem}-{number}.txt")
        try:
            descriptor = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_CLOEXEC, 0o600)
        except FileExistsError:
            continue
        with open(descriptor, "w", encoding="utf-8", errors="replace") as log:
            log.write(text)
        return path
    raise FileExistsError(f"{folder / stem}-*.txt: a thousand error logs already")


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
        typed error or an unexpected one (whose traceback goes to a new
        ``lco-reduce-error-<time>-<PID>.txt``, see `write_error_log`).
    """
    # Each command names its own folder: none carries over from an earlier one in this process.
    token = _error_log_folder.set(None)
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
        try:
            details = f"details in {write_error_log(error)}"
        except OSError as failure:
            details = f"details could not be saved: {failure}"
        message = " ".join(f"{type(error).__name__}: {error}".splitlines())
        click.echo(f"lco-reduce: internal error {message} ({details})", err=True)
        return USAGE
    finally:
        _error_log_folder.reset(token)
    return int(result) if isinstance(result, int) else OK
