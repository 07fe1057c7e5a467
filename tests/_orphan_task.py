"""A slow task for the orphaned-worker test: importable by name, as spawned pool workers need."""

from __future__ import annotations

import os
import time
import warnings
from pathlib import Path


def mark_sleep_write(task: tuple[str, int, float]) -> int:
    """Write ``started-N`` (holding this worker's PID), sleep, then write ``finished-N``.

    Parameters
    ----------
    task : tuple of (str, int, float)
        The folder for the markers, the task's number and how long to sleep (s).

    Returns
    -------
    int
        The task's number.
    """
    folder, number, seconds = task
    started = Path(folder) / f"started-{number}"
    # Written under another name and renamed, so the test never reads a half-written PID.
    partial = started.with_suffix(".partial")
    partial.write_text(str(os.getpid()))
    partial.rename(started)
    time.sleep(seconds)
    (Path(folder) / f"finished-{number}").write_text(str(os.getpid()))
    return number


def warn_like_astropy(number: int) -> int:
    """Issue an astropy warning (a pool worker should keep it off the terminal).

    Parameters
    ----------
    number : int
        Returned as it is.

    Returns
    -------
    int
        ``number``.
    """
    from astropy.utils.exceptions import AstropyUserWarning

    warnings.warn(f"lco-test-warning {number}", AstropyUserWarning, stacklevel=1)
    return number
