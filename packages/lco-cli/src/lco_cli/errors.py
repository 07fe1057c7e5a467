"""Turning every error into one line for the person at the terminal, and into an exit code."""

from __future__ import annotations

import os
import tempfile
import traceback
from contextvars import ContextVar
from datetime import UTC, datetime
from pathlib import Path

import click

# Nothing of the pipeline is imported here: `lco-reduce --help` builds the command line from
# this module and the commands' own, and must answer at once (lco_core is imported on an error).

#: Exit codes: everything done; some frames failed (the rest done); the command was misused.
OK, SOME_FAILED, USAGE = 0, 1, 2

#: Where the running command wants an unexpected error's details (None: the temporary folder).
_error_log_folder: ContextVar[Path | None] = ContextVar("lco_reduce_error_log_folder", default=None)

#: The unexpected error the running command has already written, traceback and all, to its log
#: file (`lco_cli.logs.log_to_file`), and that file.
_logged_error: ContextVar[tuple[BaseException, Path] | None] = ContextVar(
    "lco_reduce_logged_error", default=None
)


class InputUsageError(click.UsageError):
    """A usage error about what the command was given, not how it was typed: its line says it all.

    `run_safely` prints it as one line without the pointer to ``--help`` a syntax error gets
    (e.g. no FITS file under the paths given to ``lco-reduce run``).

    Parameters
    ----------
    message : str
        The line, without the ``lco-reduce:`` prefix.
    ctx : click.Context, optional
        The command's context (click fills it in).
    """


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


def remember_logged_error(error: BaseException, log: Path) -> None:
    """Say that ``error``'s traceback is already in the command's log file ``log``.

    `write_error_log` then names that file instead of writing one of its own (until the command
    ends).

    Parameters
    ----------
    error : BaseException
        The error.
    log : pathlib.Path
        The log file that holds its traceback.
    """
    _logged_error.set((error, log))


def write_error_log(error: BaseException) -> Path:
    """Write an error's traceback to a new file of its own, unless the command's log holds it.

    A command with a log file (``lco-reduce run``: ``OUT/lco-reduce.log``) has already written
    the traceback there (`remember_logged_error`): that file is returned. Otherwise the file is
    ``lco-reduce-error-<UTC yyyymmddTHHMMSS>-<PID>.txt`` (``-2``, ``-3``... if that exists),
    created exclusively in the folder `set_error_log_folder` named, else (or if that fails) in
    the temporary folder.

    Parameters
    ----------
    error : BaseException
        The error.

    Returns
    -------
    pathlib.Path
        The file written (or the log file that holds the traceback).

    Raises
    ------
    OSError
        Neither folder took the file.
    """
    logged = _logged_error.get()
    if logged is not None and logged[0] is error:
        return logged[1]
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
    """Run a click command; usage and typed pipeline errors print one line and exit 2, never a traceback.

    Parameters
    ----------
    command : click.Command
        The command (group).
    arguments : list of str
        Its arguments.

    Returns
    -------
    int
        The exit code: the command's own (0 or 1), or 2 for a usage error (one line, with where
        to find help when click found it while parsing), an interruption, a typed error or an
        unexpected one (whose traceback goes to the command's log file, else to a new
        ``lco-reduce-error-<time>-<PID>.txt``, see `write_error_log`).
    """
    # Each command names its own folder: none carries over from an earlier one in this process.
    token = _error_log_folder.set(None)
    logged_token = _logged_error.set(None)
    try:
        result = command.main(args=arguments, prog_name="lco-reduce", standalone_mode=False)
    except click.exceptions.Exit as done:
        return int(done.exit_code)
    except click.exceptions.NoArgsIsHelpError as error:
        error.show()  # a bare `lco-reduce` or `lco-reduce calibrations`: its help is the answer
        return USAGE
    except click.UsageError as error:
        syntax = error.ctx is not None and not isinstance(error, InputUsageError)
        where = f" (see '{error.ctx.command_path} --help')" if syntax and error.ctx is not None else ""
        click.echo(f"lco-reduce: {' '.join(error.format_message().split())}{where}", err=True)
        return USAGE
    except click.ClickException as error:
        error.show()
        return USAGE
    except click.exceptions.Abort:
        click.echo("lco-reduce: interrupted", err=True)
        return USAGE
    except Exception as error:
        return _report(error)
    finally:
        _logged_error.reset(logged_token)
        _error_log_folder.reset(token)
    return int(result) if isinstance(result, int) else OK


def _report(error: Exception) -> int:
    """One line for an error that left a command; an unexpected one's traceback saved."""
    from lco_core.errors import LcoError

    if isinstance(error, LcoError | FileNotFoundError | PermissionError):
        click.echo(f"lco-reduce: {error}", err=True)
        return USAGE
    # Never a traceback on the terminal: one line, the details in a file.
    try:
        details = f"details in {write_error_log(error)}"
    except OSError as failure:
        details = f"details could not be saved: {failure}"
    message = " ".join(f"{type(error).__name__}: {error}".splitlines())
    click.echo(f"lco-reduce: internal error {message} ({details})", err=True)
    return USAGE
