"""One run per output folder: a second run is refused with the holder's name; a killed run's lock is free."""

from __future__ import annotations

import errno
import fcntl
import json
import os
import re
import signal
import socket
import subprocess
import sys
import textwrap
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from lco_cli.runlock import LOCK_NAME, RunLockedError, RunOwner, hold_run_lock
from lco_core.errors import LcoError

HOLDER = textwrap.dedent(
    """
    import sys, time
    from pathlib import Path
    from lco_cli.runlock import hold_run_lock

    with hold_run_lock(Path(sys.argv[1])):
        print("held", flush=True)
        time.sleep(600)
    """
)


@pytest.fixture
def holder(tmp_path: Path) -> Iterator[subprocess.Popen[str]]:
    """Another process holding ``tmp_path / 'out'`` (killed at the end if still running)."""
    process = subprocess.Popen(
        [sys.executable, "-c", HOLDER, str(tmp_path / "out")], stdout=subprocess.PIPE, text=True
    )
    try:
        assert process.stdout is not None
        assert process.stdout.readline().strip() == "held"
        yield process
    finally:
        if process.poll() is None:
            process.kill()
        process.wait()


def _dead_pid() -> int:
    process = subprocess.Popen([sys.executable, "-c", "pass"])
    process.wait()
    return process.pid


def test_a_second_run_is_refused_with_the_holders_name(tmp_path: Path, holder: subprocess.Popen[str]) -> None:
    out = tmp_path / "out"
    with pytest.raises(RunLockedError) as refused, hold_run_lock(out):
        pytest.fail("took a folder another run holds")
    assert isinstance(refused.value, LcoError)
    started = json.loads((out / LOCK_NAME).read_text())["started"]
    assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\+00:00", started)
    assert str(refused.value) == (
        f"{out}: another lco-reduce run (PID {holder.pid} on {socket.gethostname()}, since {started}) "
        "is writing here; wait for it or choose another --out"
    )
    assert "\n" not in str(refused.value)


def test_the_lock_file_names_the_holder(tmp_path: Path, holder: subprocess.Popen[str]) -> None:
    owner = RunOwner.from_json((tmp_path / "out" / LOCK_NAME).read_text())
    assert owner is not None
    assert (owner.pid, owner.host) == (holder.pid, socket.gethostname())


def test_a_killed_runs_lock_is_taken_over(tmp_path: Path, holder: subprocess.Popen[str]) -> None:
    out = tmp_path / "out"
    os.kill(holder.pid, signal.SIGKILL)
    holder.wait()
    with hold_run_lock(out) as owner:
        assert owner.pid == os.getpid()
        assert RunOwner.from_json((out / LOCK_NAME).read_text()) == owner


def test_one_process_cannot_hold_a_folder_twice_and_release_frees_it(tmp_path: Path) -> None:
    out = tmp_path / "new" / "out"
    with hold_run_lock(out), pytest.raises(RunLockedError), hold_run_lock(out):
        pytest.fail("took a folder already held")
    # Released: the file stays (unlinking a flocked file races), naming nobody.
    assert (out / LOCK_NAME).read_text() == ""
    with hold_run_lock(out):
        pass


@pytest.fixture
def no_flock(monkeypatch: pytest.MonkeyPatch) -> None:
    """A file system without flock (as some network mounts are)."""

    def flock(descriptor: int, operation: int) -> None:
        raise OSError(errno.ENOLCK, "No locks available")

    monkeypatch.setattr(fcntl, "flock", flock)


@pytest.mark.usefixtures("no_flock")
def test_without_flock_the_files_creation_is_the_lock(tmp_path: Path) -> None:
    out = tmp_path / "out"
    with hold_run_lock(out) as owner:
        assert RunOwner.from_json((out / LOCK_NAME).read_text()) == owner
        with pytest.raises(RunLockedError, match=f"PID {os.getpid()} on "), hold_run_lock(out):
            pytest.fail("took a folder already held")
    assert not (out / LOCK_NAME).exists()


@pytest.mark.usefixtures("no_flock")
@pytest.mark.parametrize(
    ("pid", "host", "stale"),
    [
        (_dead_pid, socket.gethostname, True),
        (os.getppid, socket.gethostname, False),
        (_dead_pid, lambda: "another-host.example", False),
    ],
    ids=["dead-here", "alive-here", "elsewhere"],
)
def test_without_flock_only_a_dead_local_holder_is_taken_over(
    tmp_path: Path, pid: Callable[[], int], host: Callable[[], str], stale: bool
) -> None:
    out = tmp_path / "out"
    out.mkdir()
    left = RunOwner(pid(), host(), "2026-01-01T00:00:00+00:00")
    (out / LOCK_NAME).write_text(left.to_json())
    if stale:
        with hold_run_lock(out) as owner:
            assert RunOwner.from_json((out / LOCK_NAME).read_text()) == owner
    else:
        with pytest.raises(RunLockedError, match=f"PID {left.pid} on {left.host}"), hold_run_lock(out):
            pytest.fail("took a live or foreign run's folder")
        assert RunOwner.from_json((out / LOCK_NAME).read_text()) == left
