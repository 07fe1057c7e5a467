"""Executors: where frames are reduced (in process, a local process pool, or a Dask cluster)."""

from __future__ import annotations

import multiprocessing
import os
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


class LocalExecutor:
    """A pool of worker processes on this machine ('spawn': safe with numba's threads).

    Each worker's numba, BLAS and banded stages get one thread.

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
        self._pool = ProcessPoolExecutor(max_workers=workers, mp_context=multiprocessing.get_context("spawn"))
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
