"""Executors: where frames are reduced (in process, a local process pool, or a Dask cluster)."""

from __future__ import annotations

import multiprocessing
import os
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import Future, ProcessPoolExecutor, as_completed
from typing import Any, Protocol, TypeVar

Task = TypeVar("Task")
Result = TypeVar("Result")


class Executor(Protocol):
    """Runs a function over tasks and yields the results as they finish (in any order)."""

    workers: int

    def map(self, function: Callable[[Task], Result], tasks: Sequence[Task]) -> Iterator[Result]: ...

    def close(self) -> None: ...


class SerialExecutor:
    """Everything in this process, in order: for one worker, and for tests."""

    workers = 1

    def map(self, function: Callable[[Task], Result], tasks: Sequence[Task]) -> Iterator[Result]:
        for task in tasks:
            yield function(task)

    def close(self) -> None:
        return None


def _limit_threads() -> None:
    # Each worker process is one of N on the machine: its numba kernels and BLAS calls should
    # not each start a thread per core.
    for variable in ("NUMBA_NUM_THREADS", "OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
        os.environ.setdefault(variable, "1")


class LocalExecutor:
    """A pool of worker processes on this machine ('spawn': safe with numba's threads)."""

    def __init__(self, workers: int) -> None:
        self.workers = workers
        previous = {name: os.environ.get(name) for name in ("NUMBA_NUM_THREADS", "OMP_NUM_THREADS")}
        _limit_threads()  # inherited by the spawned workers
        self._pool = ProcessPoolExecutor(max_workers=workers, mp_context=multiprocessing.get_context("spawn"))
        for name, value in previous.items():
            if value is None:
                os.environ.pop(name, None)
            else:
                os.environ[name] = value

    def map(self, function: Callable[[Task], Result], tasks: Sequence[Task]) -> Iterator[Result]:
        futures: list[Future[Result]] = [self._pool.submit(function, task) for task in tasks]
        for future in as_completed(futures):
            yield future.result()

    def close(self) -> None:
        self._pool.shutdown(wait=True, cancel_futures=True)


class DaskExecutor:
    """An existing Dask distributed cluster (``--scheduler tcp://host:port``), or a client's."""

    def __init__(self, address: Any) -> None:
        from dask.distributed import Client

        self._client = address if isinstance(address, Client) else Client(address)
        self._owns_client = not isinstance(address, Client)
        self.workers = max(1, sum(self._client.nthreads().values()))

    def map(self, function: Callable[[Task], Result], tasks: Sequence[Task]) -> Iterator[Result]:
        from dask.distributed import as_completed as dask_completed

        futures = self._client.map(function, list(tasks), pure=False)
        for future in dask_completed(futures):
            yield future.result()

    def close(self) -> None:
        if self._owns_client:
            self._client.close()


def make_executor(*, workers: int | None, scheduler: str | None) -> Executor:
    """The executor a run asks for: a Dask scheduler address, else a local pool (1 worker: serial)."""
    if scheduler:
        return DaskExecutor(scheduler)
    count = workers if workers is not None else max(1, os.cpu_count() or 1)
    return SerialExecutor() if count <= 1 else LocalExecutor(count)
