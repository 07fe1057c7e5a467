"""Executors: where frames are reduced (in process, a local process pool, or a Dask cluster)."""

from __future__ import annotations

import ctypes
import multiprocessing
import os
import signal
import sys
import threading
import time
import warnings
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import Future, ProcessPoolExecutor, as_completed
from typing import Any, Protocol, TypeVar

from lco_core.threads import limited_threads

Task = TypeVar("Task")
Result = TypeVar("Result")


class Executor(Protocol):
    """Runs a function over tasks and yields the results as they finish (in any order).

    Attributes
    ----------
    workers : int
        How many tasks run at once.
    """

    workers: int

    def map(self, function: Callable[[Task], Result], tasks: Sequence[Task]) -> Iterator[Result]:
        """Run ``function`` on every task.

        Parameters
        ----------
        function : callable
            A picklable module-level function.
        tasks : sequence
            Picklable tasks.

        Yields
        ------
        object
            Each result, as it finishes.
        """
        ...

    def close(self) -> None:
        """Release the workers."""
        ...


class SerialExecutor:
    """One worker: the frames are reduced in this process, in order, on one thread (like each
    worker of a pool), so 1 and N workers compare core for core."""

    workers = 1

    def map(self, function: Callable[[Task], Result], tasks: Sequence[Task]) -> Iterator[Result]:
        """Run ``function`` on every task, in order, with one thread.

        Parameters
        ----------
        function : callable
            The function.
        tasks : sequence
            The tasks.

        Yields
        ------
        object
            Each result.
        """
        for task in tasks:
            with limited_threads(1):
                result = function(task)
            yield result

    def close(self) -> None:
        """Nothing to release."""
        return None


_ONE_THREAD = (
    "NUMBA_NUM_THREADS",
    "OMP_NUM_THREADS",
    "OPENBLAS_NUM_THREADS",
    "MKL_NUM_THREADS",
    "LCO_THREADS",
)


#: ``prctl`` option (linux/prctl.h): the signal the kernel sends a process when its parent dies.
_PR_SET_PDEATHSIG = 1

#: How often (s) a worker checks that its parent is still there.
_PARENT_POLL_SECONDS = 0.5

#: A worker's exit status when its parent has gone (the pool's results have nowhere to go).
_ORPHANED = 70


def _ask_kernel_to_kill_orphan() -> None:
    """Have Linux send this process SIGKILL when its parent dies (does nothing elsewhere)."""
    if not sys.platform.startswith("linux"):
        return
    try:
        libc = ctypes.CDLL(None, use_errno=True)
        libc.prctl(_PR_SET_PDEATHSIG, int(signal.SIGKILL), 0, 0, 0)
    except (OSError, AttributeError):  # no libc prctl (e.g. a static or foreign runtime): the poll remains
        pass


def _exit_when_orphaned(parent: int) -> None:
    """Exit this process as soon as its parent is no longer ``parent`` (checked now, then every 0.5 s).

    Parameters
    ----------
    parent : int
        The PID of the process that started this one.
    """

    def watch() -> None:
        while os.getppid() == parent:
            time.sleep(_PARENT_POLL_SECONDS)
        # os._exit, not sys.exit: a thread's SystemExit would end only this thread, and the
        # worker must not finish its frame and write products for a run that is gone.
        os._exit(_ORPHANED)

    # The parent may have died before this worker got here (then the death signal was never
    # armed in time): the first check is now, not in 0.5 s.
    if os.getppid() != parent:
        os._exit(_ORPHANED)
    threading.Thread(target=watch, name="lco-reduce-parent-watch", daemon=True).start()


def _start_worker(parent: int) -> None:
    """A pool worker's initializer: die with the run's process, and keep astropy's warnings quiet.

    Parameters
    ----------
    parent : int
        The PID of the process that owns the pool.
    """
    # A run killed by SIGKILL (the OOM killer) runs no clean-up: without this its workers would
    # live on and keep writing products nobody collects, racing the next run on the same folder.
    # The kernel's death signal is immediate but Linux-only, and fires when the *thread* that
    # started the worker ends (the one calling map: a pool must not outlive the thread that
    # maps on it, as none does here); polling the parent PID is the portable net under it.
    _ask_kernel_to_kill_orphan()
    _exit_when_orphaned(parent)
    from astropy.utils.exceptions import AstropyWarning

    # Each worker would print every header fix-up and unit warning to the run's terminal; the
    # frame's outcome is reported through its result instead.
    warnings.simplefilter("ignore", AstropyWarning)


class LocalExecutor:
    """A pool of worker processes on this machine ('spawn': safe with numba's threads).

    Each worker's numba, BLAS and banded stages get one thread. The workers exit when this
    process dies, even by SIGKILL, and ignore astropy's warnings.

    Parameters
    ----------
    workers : int
        Processes.
    """

    def __init__(self, workers: int) -> None:
        self.workers = workers
        # Each worker process is one of N on the machine: its numba kernels, BLAS calls and
        # banded stages get one thread (the spawned workers inherit these variables).
        previous = {name: os.environ.get(name) for name in _ONE_THREAD}
        os.environ.update(dict.fromkeys(_ONE_THREAD, "1"))
        self._pool = ProcessPoolExecutor(
            max_workers=workers,
            mp_context=multiprocessing.get_context("spawn"),
            initializer=_start_worker,
            initargs=(os.getpid(),),
        )
        for name, value in previous.items():
            if value is None:
                os.environ.pop(name, None)
            else:
                os.environ[name] = value

    def map(self, function: Callable[[Task], Result], tasks: Sequence[Task]) -> Iterator[Result]:
        """Run ``function`` on every task in the pool.

        Parameters
        ----------
        function : callable
            A picklable module-level function.
        tasks : sequence
            Picklable tasks.

        Yields
        ------
        object
            Each result, as it finishes.
        """
        futures: list[Future[Result]] = [self._pool.submit(function, task) for task in tasks]
        for future in as_completed(futures):
            yield future.result()

    def close(self) -> None:
        """Shut the pool down (queued tasks are cancelled)."""
        self._pool.shutdown(wait=True, cancel_futures=True)


class DaskExecutor:
    """An existing Dask distributed cluster (``--scheduler tcp://host:port``), or a client's.

    ``workers`` is the cluster's total thread count.

    Parameters
    ----------
    address : str or dask.distributed.Client
        A scheduler address, or a client to use (not closed by `close`).
    """

    def __init__(self, address: Any) -> None:
        from dask.distributed import Client

        self._client = address if isinstance(address, Client) else Client(address)
        self._owns_client = not isinstance(address, Client)
        self.workers = max(1, sum(self._client.nthreads().values()))

    def map(self, function: Callable[[Task], Result], tasks: Sequence[Task]) -> Iterator[Result]:
        """Submit every task to the cluster.

        Parameters
        ----------
        function : callable
            A picklable module-level function (the workers must have lco-reduce installed).
        tasks : sequence
            Picklable tasks.

        Yields
        ------
        object
            Each result, as it finishes.
        """
        from dask.distributed import as_completed as dask_completed

        futures = self._client.map(function, list(tasks), pure=False)
        for future in dask_completed(futures):
            yield future.result()

    def close(self) -> None:
        """Close the client this executor opened."""
        if self._owns_client:
            self._client.close()


def make_executor(*, workers: int | None, scheduler: str | None) -> Executor:
    """The executor a run asks for: a Dask scheduler address, else a local pool (1 worker: serial).

    Parameters
    ----------
    workers : int or None
        Local processes (None: one per core).
    scheduler : str or None
        A Dask scheduler address; wins over ``workers``.

    Returns
    -------
    Executor
    """
    if scheduler:
        return DaskExecutor(scheduler)
    count = workers if workers is not None else max(1, os.cpu_count() or 1)
    return SerialExecutor() if count <= 1 else LocalExecutor(count)
