"""Pool workers die with the run: a SIGKILLed parent (the OOM killer's way) leaves no worker writing."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest
from _orphan_task import warn_like_astropy

from lco_cli.executors import LocalExecutor

pytestmark = pytest.mark.skipif(not sys.platform.startswith("linux"), reason="reads /proc: Linux only")

TESTS = Path(__file__).resolve().parent

#: How long each task sleeps once started (s): past the 5 s its worker gets to die, so a
#: surviving worker would still be caught writing.
TASK_SECONDS = 7.0


def _state(pid: int) -> str | None:
    """The process's state letter from /proc (None: no such process)."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except FileNotFoundError:
        return None
    return stat.rsplit(")", 1)[1].split()[0]


def _parent_of(pid: int) -> int:
    return int(Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[1])


def _alive(pid: int) -> bool:
    # A killed orphan stays a zombie until its new parent reaps it (a container's init may
    # never): it runs no code, so it counts as dead.
    return _state(pid) not in (None, "Z")


def _started(folder: Path, count: int, parent: subprocess.Popen[bytes]) -> list[int]:
    """The PIDs the tasks wrote on starting, once ``count`` have (the parent must stay up)."""
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        markers = sorted(folder.glob("started-*"))
        if len(markers) == count:
            return [int(marker.read_text()) for marker in markers]
        if parent.poll() is not None:
            _, err = parent.communicate()
            pytest.fail(f"the parent exited ({parent.returncode}) before its tasks started: {err.decode()}")
        time.sleep(0.05)
    pytest.fail(f"{count} tasks did not start within 120 s")


def _kill_and_watch(parent: subprocess.Popen[bytes], workers: list[int], folder: Path) -> None:
    """SIGKILL ``parent`` alone; every worker must be gone within 5 s and never finish its task."""
    started = time.monotonic()
    assert all(_parent_of(pid) == parent.pid for pid in workers)
    os.kill(parent.pid, signal.SIGKILL)
    parent.wait()
    deadline = started + 5
    while any(_alive(pid) for pid in workers) and time.monotonic() < deadline:
        time.sleep(0.05)
    survivors = [pid for pid in workers if _alive(pid)]
    assert not survivors, f"workers {survivors} outlived their SIGKILLed parent {parent.pid}"
    time.sleep(max(0.0, started + TASK_SECONDS + 1 - time.monotonic()))
    assert not list(folder.glob("finished-*"))


def _run(script: str) -> subprocess.Popen[bytes]:
    return subprocess.Popen([sys.executable, "-c", textwrap.dedent(script)], stderr=subprocess.PIPE)


def _clean_up(parent: subprocess.Popen[bytes], workers: list[int]) -> None:
    # Only the processes this test started, by PID: a failing run leaves no sleeper behind.
    if parent.poll() is None:
        parent.kill()
        parent.wait()
    for pid in workers:
        if _alive(pid):
            os.kill(pid, signal.SIGKILL)


def test_pool_workers_die_with_their_killed_parent(tmp_path: Path) -> None:
    parent = _run(
        f"""
        import sys
        sys.path.insert(0, {str(TESTS)!r})
        from _orphan_task import mark_sleep_write
        from lco_cli.executors import LocalExecutor

        tasks = [({str(tmp_path)!r}, number, {TASK_SECONDS}) for number in range(2)]
        for _ in LocalExecutor(2).map(mark_sleep_write, tasks):
            pass
        """
    )
    workers: list[int] = []
    try:
        workers = _started(tmp_path, 2, parent)
        assert len(set(workers)) == 2
        _kill_and_watch(parent, workers, tmp_path)
    finally:
        _clean_up(parent, workers)


def test_a_worker_polls_for_its_parent_where_the_kernel_does_not_signal(tmp_path: Path) -> None:
    # The portable fallback alone: a plain child process (no prctl death signal) that only
    # watches its parent's PID.
    child = f"""
        import os, sys
        sys.path.insert(0, {str(TESTS)!r})
        from _orphan_task import mark_sleep_write
        from lco_cli.executors import _exit_when_orphaned

        _exit_when_orphaned(os.getppid())
        mark_sleep_write(({str(tmp_path)!r}, 0, {TASK_SECONDS}))
        """
    parent = _run(
        f"""
        import subprocess, sys, time
        subprocess.Popen([sys.executable, "-c", {textwrap.dedent(child)!r}])
        time.sleep(600)
        """
    )
    workers: list[int] = []
    try:
        workers = _started(tmp_path, 1, parent)
        _kill_and_watch(parent, workers, tmp_path)
    finally:
        _clean_up(parent, workers)


def test_pool_workers_keep_astropy_warnings_off_the_terminal(capfd: pytest.CaptureFixture[str]) -> None:
    executor = LocalExecutor(1)
    try:
        assert list(executor.map(warn_like_astropy, [7])) == [7]
    finally:
        executor.close()
    assert "lco-test-warning" not in capfd.readouterr().err
