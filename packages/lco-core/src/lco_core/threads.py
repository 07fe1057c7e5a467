"""How many threads a process's own numerical work may use (numba kernels, banded stages).

A worker of an N-process pool runs on one core: its kernels must not start a thread per core
each, or N workers oversubscribe the machine. ``LCO_THREADS`` says how many a process may use
(default: every core); `limited_threads` sets it, numba's count and the OpenMP/BLAS pools
(threadpoolctl) for a block of code.
"""

from __future__ import annotations

import contextlib
import os
from collections.abc import Iterator

VARIABLE = "LCO_THREADS"


def available_threads() -> int:
    """Threads this process may use: ``LCO_THREADS`` if set, else the cores it may run on.

    Returns
    -------
    int
        At least 1.
    """
    value = os.environ.get(VARIABLE)
    if value is not None and value.isdigit() and int(value) > 0:
        return int(value)
    return max(1, len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else (os.cpu_count() or 1))


@contextlib.contextmanager
def limited_threads(count: int) -> Iterator[None]:
    """Run the block with at most ``count`` threads for numba kernels, banded stages and the
    OpenMP and BLAS pools of compiled libraries (astroscrappy is OpenMP-parallel).

    Parameters
    ----------
    count : int
        Threads allowed (sets ``LCO_THREADS``, numba's thread count and, through threadpoolctl,
        the OpenMP/BLAS pools; all restored after).

    Yields
    ------
    None
    """
    import numba
    from threadpoolctl import threadpool_limits

    previous_env = os.environ.get(VARIABLE)
    previous_numba = numba.get_num_threads()
    os.environ[VARIABLE] = str(count)
    numba.set_num_threads(max(1, min(count, previous_numba)))
    try:
        with threadpool_limits(limits=count):
            yield
    finally:
        numba.set_num_threads(previous_numba)
        if previous_env is None:
            os.environ.pop(VARIABLE, None)
        else:
            os.environ[VARIABLE] = previous_env
