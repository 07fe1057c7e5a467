"""The log of a run: every frame's outcome, timings and full tracebacks in a file; -v on the terminal.

Everything lco-reduce logs goes through the standard library's ``logging``, to the logger
``lco_cli`` (`LOGGER`) and its children. `log_to_file` appends all of it (DEBUG and up) to a
file for as long as a command runs; ``lco-reduce run`` keeps ``OUT/lco-reduce.log``. The terminal
keeps its one line per problem whatever the verbosity; `log_to_terminal` adds each frame's
outcome (``-v``) and the debugging lines (``-vv``) there, never a traceback. Worker processes
log nothing: a worker captures an unexpected error's traceback into the
`~lco_cli.results.FrameResult` it returns (``traceback``), and `log_outcome` writes it here, in
the parent, beside the frame's name.

The log file replaces the separate error file of `lco_cli.errors.write_error_log` for the
command that has one: an unexpected error that stops the command is written to the log with its
traceback, and the command's one line names the log. Commands without a log (``info``,
``calibrations``) and a log that cannot be written keep the separate file.
"""

from __future__ import annotations

import contextlib
import logging
import os
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import TYPE_CHECKING

from lco_cli.errors import remember_logged_error
from lco_core.errors import LcoError

if TYPE_CHECKING:
    from lco_cli.results import FrameResult

#: The logger every lco_cli module logs to (module loggers are its children).
LOGGER = logging.getLogger("lco_cli")
# A library's logger never reaches the terminal by itself: without this, logging's last-resort
# handler would print warnings (and their tracebacks) to stderr when no log file is open.
LOGGER.addHandler(logging.NullHandler())

#: The name of the log file ``lco-reduce run`` keeps in its output folder.
LOG_NAME = "lco-reduce.log"

#: Each line of the log file: UTC time, process id, level, message.
LOG_FORMAT = "%(asctime)s.%(msecs)03dZ %(process)d %(levelname)-7s %(message)s"

#: Set on a record (``extra={ON_TERMINAL: False}``) that the terminal must not show again or at
#: all: a failure's line the run already printed, or a traceback.
ON_TERMINAL = "on_terminal"


class LogFileError(LcoError):
    """The log file cannot be opened for writing (a usage error: the command does nothing).

    Parameters
    ----------
    path : pathlib.Path
        The log file.
    problem : str
        Why, one line.
    """

    def __init__(self, path: Path, problem: str) -> None:
        self.path = path
        self.problem = problem
        super().__init__(f"{path}: cannot write the log file ({problem}); pass --log-file elsewhere")


class RunLog:
    """The log file a command is writing (`log_to_file`).

    Parameters
    ----------
    path : pathlib.Path
        The file.

    Attributes
    ----------
    path : pathlib.Path
        The file.
    tracebacks : int
        How many tracebacks of unexpected errors it has been given so far.
    """

    def __init__(self, path: Path) -> None:
        self.path = path
        self.tracebacks = 0


#: Set on a record (``extra={TRACEBACK: True}``) whose message holds a traceback of its own.
TRACEBACK = "holds_traceback"


class _LogFile(logging.FileHandler):
    """A file handler that never prints to the terminal: a write that fails is remembered instead."""

    def __init__(self, log: RunLog) -> None:
        super().__init__(log.path, mode="a", encoding="utf-8", errors="backslashreplace")
        self.log = log
        self.failure: BaseException | None = None

    def emit(self, record: logging.LogRecord) -> None:
        if record.exc_info or getattr(record, TRACEBACK, False):
            self.log.tracebacks += 1
        super().emit(record)

    def handleError(self, record: logging.LogRecord) -> None:  # noqa: N802 (logging's own name)
        # logging's default prints a traceback to stderr: a full disk must cost lines, not the run.
        self.failure = sys.exc_info()[1]


class _Terminal(logging.Handler):
    """Each record's message, one line, through ``print_line`` (records marked off it left out)."""

    def __init__(self, print_line: Callable[[str], None], level: int) -> None:
        super().__init__(level)
        self._print_line = print_line

    def emit(self, record: logging.LogRecord) -> None:
        if not getattr(record, ON_TERMINAL, True):
            return
        # The display is a courtesy: a line that cannot be shown is still in the log file.
        with contextlib.suppress(Exception):
            self._print_line(" ".join(record.getMessage().split()))


def verbosity_level(verbosity: int) -> int | None:
    """The lowest level the terminal shows for ``-v`` given ``verbosity`` times (None: no extra lines).

    Parameters
    ----------
    verbosity : int
        0: the terminal's usual lines only; 1: each frame's outcome and the timings (INFO);
        2 or more: the debugging lines too (DEBUG).

    Returns
    -------
    int or None
    """
    if verbosity <= 0:
        return None
    return logging.INFO if verbosity == 1 else logging.DEBUG


@contextlib.contextmanager
def log_to_terminal(print_line: Callable[[str], None], verbosity: int) -> Iterator[None]:
    """Show log lines on the terminal while the block runs, as ``-v`` asks (nothing at 0).

    Parameters
    ----------
    print_line : callable
        Prints one line (e.g. through the progress display's console, so the bar stays whole).
    verbosity : int
        How many ``-v`` (see `verbosity_level`).

    Yields
    ------
    None
    """
    level = verbosity_level(verbosity)
    if level is None:
        yield
        return
    handler = _Terminal(print_line, level)
    previous = LOGGER.level
    LOGGER.addHandler(handler)
    LOGGER.setLevel(min(level, previous or logging.WARNING))
    try:
        yield
    finally:
        LOGGER.removeHandler(handler)
        LOGGER.setLevel(previous)


@contextlib.contextmanager
def log_to_file(path: Path, *, command: str = "") -> Iterator[RunLog]:
    """Append everything lco_cli logs (DEBUG and up) to ``path`` while the block runs.

    The first line names the command, lco-reduce's version and the process. An error that
    leaves the block is logged before it goes on: a typed error (`lco_core.errors.LcoError`)
    as its one line, an unexpected one with its full traceback, which
    `lco_cli.errors.write_error_log` then names instead of writing a file of its own.

    Parameters
    ----------
    path : pathlib.Path
        The log file (appended to; its folder is created).
    command : str
        The command line, for the first line.

    Yields
    ------
    RunLog
        The log file (its path absolute) and how many tracebacks it holds.

    Raises
    ------
    LogFileError
        The file cannot be opened for writing.
    """
    path = Path(path).absolute()
    log = RunLog(path)
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        handler = _LogFile(log)
    except OSError as error:
        raise LogFileError(path, error.strerror or str(error)) from None
    formatter = logging.Formatter(LOG_FORMAT, datefmt="%Y-%m-%dT%H:%M:%S")
    formatter.converter = time.gmtime
    handler.setFormatter(formatter)
    handler.setLevel(logging.DEBUG)
    previous = LOGGER.level
    LOGGER.addHandler(handler)
    LOGGER.setLevel(logging.DEBUG)
    try:
        LOGGER.info(
            "lco-reduce %s started (PID %d, Python %s): %s",
            _version(), os.getpid(), sys.version.split()[0], command or "-", extra={ON_TERMINAL: False},
        )  # fmt: skip
        yield log
    except BaseException as error:
        _log_stop(error, path, handler)
        raise
    finally:
        LOGGER.removeHandler(handler)
        LOGGER.setLevel(previous)
        handler.close()


def _log_stop(error: BaseException, path: Path, handler: _LogFile) -> None:
    """Log why the command stopped; an unexpected error with its traceback, remembered as logged."""
    line = " ".join(f"{type(error).__name__}: {error}".split())
    if isinstance(error, KeyboardInterrupt):
        LOGGER.error("interrupted", extra={ON_TERMINAL: False})
    elif isinstance(error, LcoError | OSError) or type(error).__module__.startswith("click"):
        LOGGER.error("stopped: %s", " ".join(str(error).split()), extra={ON_TERMINAL: False})
    elif isinstance(error, Exception):
        LOGGER.error("stopped by an internal error %s", line, exc_info=error, extra={ON_TERMINAL: False})
        handler.flush()
        if handler.failure is None:
            remember_logged_error(error, path)


def log_outcome(phase: str, result: FrameResult) -> None:
    """Log one frame's outcome line, and the full traceback a worker captured for it.

    Parameters
    ----------
    phase : str
        Where the night was (``inspect``, ``bias``, ``science``...).
    result : FrameResult
        The frame's outcome. A failure is WARNING and kept off the terminal (the run prints its
        own line for it); anything else is INFO.
    """
    reason = f": {result.reason}" if result.reason else ""
    failed = result.status == "failed"
    LOGGER.log(
        logging.WARNING if failed else logging.INFO,
        "%s %s %s (%.2f s)%s", phase, result.status, result.path, result.seconds, reason,
        extra={ON_TERMINAL: not failed},
    )  # fmt: skip
    if result.traceback:
        LOGGER.error(
            "%s: the unexpected error's traceback:\n%s", result.path, result.traceback.rstrip(),
            extra={ON_TERMINAL: False, TRACEBACK: True},
        )  # fmt: skip


def log_unexpected(error: BaseException, where: str = "") -> None:
    """Log an unexpected error caught in the parent process, with its full traceback.

    Parameters
    ----------
    error : BaseException
        The error (with its traceback).
    where : str
        The frame (or other unit) it cost, when known.
    """
    line = " ".join(f"{type(error).__name__}: {error}".split())
    LOGGER.error(
        "%sinternal error %s", f"{where}: " if where else "", line, exc_info=error, extra={ON_TERMINAL: False}
    )


def _version() -> str:
    from importlib.metadata import PackageNotFoundError, version

    try:
        return version("lco-cli")
    except PackageNotFoundError:
        return "(version unknown)"
