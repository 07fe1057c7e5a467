"""One run per output folder: the lock ``OUT/.lco-reduce.lock`` and who holds it.

Two runs writing the same folder would overwrite each other's products, masters and
``summary.json``. A run holds an exclusive ``fcntl.flock`` on the lock file for as long as it
writes; the file says which process that is (PID, host, start time in UTC) for the message the
next run prints. Where the file system has no ``flock`` (some network mounts), the file's
exclusive creation is the lock instead, and a lock left by a dead process on this host is
taken over.
"""

from __future__ import annotations

import contextlib
import errno
import fcntl
import json
import os
import socket
import time
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import attrs

from lco_core.errors import LcoError

#: The lock file's name inside the output folder.
LOCK_NAME = ".lco-reduce.lock"

#: ``flock`` errors that mean "this file system cannot lock", not "someone holds it".
_NO_FLOCK = frozenset({errno.ENOLCK, errno.EOPNOTSUPP, errno.ENOTSUP, errno.ENOSYS})

#: How long (s) to wait for a new holder to write its name into the file, when reading it.
_OWNER_WAIT_SECONDS = 1.0

#: Without flock, an empty lock file older than this (s) was left by a run that died between
#: creating the file and writing its name.
_EMPTY_LOCK_STALE_SECONDS = 10.0


@attrs.frozen
class RunOwner:
    """The run that holds an output folder.

    Attributes
    ----------
    pid : int
        Its process ID.
    host : str
        The machine it runs on.
    started : str
        When it took the folder (UTC, ISO 8601).
    """

    pid: int
    host: str
    started: str

    @classmethod
    def this_process(cls) -> RunOwner:
        """This process, from now.

        Returns
        -------
        RunOwner
        """
        return cls(os.getpid(), socket.gethostname(), datetime.now(UTC).isoformat(timespec="seconds"))

    def to_json(self) -> str:
        """The lock file's content: one JSON line.

        Returns
        -------
        str
        """
        return json.dumps({"pid": self.pid, "host": self.host, "started": self.started}) + "\n"

    @classmethod
    def from_json(cls, text: str) -> RunOwner | None:
        """The owner a lock file names (None: empty, half written or not ours).

        Parameters
        ----------
        text : str
            The file's content.

        Returns
        -------
        RunOwner or None
        """
        try:
            fields = json.loads(text)
            return cls(int(fields["pid"]), str(fields["host"]), str(fields["started"]))
        except (ValueError, TypeError, KeyError):
            return None


class RunLockedError(LcoError):
    """Another lco-reduce run is writing the output folder.

    Parameters
    ----------
    out : pathlib.Path
        The output folder.
    owner : RunOwner or None
        The run holding it (None: it has not written its name yet).
    """

    def __init__(self, out: Path, owner: RunOwner | None) -> None:
        self.out = out
        self.owner = owner
        who = (
            f"PID {owner.pid} on {owner.host}, since {owner.started}"
            if owner
            else f"its name not yet written to {out / LOCK_NAME}"
        )
        super().__init__(
            f"{out}: another lco-reduce run ({who}) is writing here; wait for it or choose another --out"
        )


@contextlib.contextmanager
def hold_run_lock(out: Path) -> Iterator[RunOwner]:
    """Hold the output folder for this run (creating the folder if need be).

    Parameters
    ----------
    out : pathlib.Path
        The output folder.

    Yields
    ------
    RunOwner
        This process, as written in ``OUT/.lco-reduce.lock``.

    Raises
    ------
    RunLockedError
        Another process holds the folder.
    """
    out.mkdir(parents=True, exist_ok=True)
    path = out / LOCK_NAME
    owner = RunOwner.this_process()
    descriptor, created = _open(path)
    try:
        fcntl.flock(descriptor, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        os.close(descriptor)
        raise RunLockedError(out, _read_owner(path)) from None
    except OSError as error:
        if error.errno not in _NO_FLOCK:
            os.close(descriptor)
            raise
        _take_without_flock(out, path, owner, descriptor, created=created)
        try:
            yield owner
        finally:
            # Without flock the file is the lock: remove it, if it still names this run.
            with contextlib.suppress(OSError):
                if RunOwner.from_json(path.read_text()) == owner:
                    path.unlink()
        return
    # The kernel drops a flock when its holder dies, SIGKILL included: a killed run's lock is
    # free at once, and the next run simply takes it and writes its own name over the old one.
    try:
        os.ftruncate(descriptor, 0)
        os.pwrite(descriptor, owner.to_json().encode(), 0)
        yield owner
    finally:
        # The file stays: unlinking it would let a run that has it open, waiting to lock, lock
        # the removed file while a third creates a new one, and both would hold "the" lock.
        # Emptied while still held, it names nobody once this run is over.
        with contextlib.suppress(OSError):
            os.ftruncate(descriptor, 0)
        os.close(descriptor)  # closing releases the flock


def _read_owner(path: Path) -> RunOwner | None:
    """The owner named in ``path``, waiting briefly for a holder that has just taken it."""
    deadline = time.monotonic() + _OWNER_WAIT_SECONDS
    while True:
        try:
            owner = RunOwner.from_json(path.read_text())
        except OSError:
            owner = None
        if owner or time.monotonic() > deadline:
            return owner
        time.sleep(0.02)


def _open(path: Path) -> tuple[int, bool]:
    """Open (creating if need be) the lock file; whether this call created it."""
    # O_CLOEXEC: no program this run starts inherits the lock and holds the folder after it.
    while True:
        try:
            return os.open(path, os.O_RDWR | os.O_CREAT | os.O_EXCL | os.O_CLOEXEC, 0o644), True
        except FileExistsError:
            pass
        try:
            return os.open(path, os.O_RDWR | os.O_CLOEXEC), False
        except FileNotFoundError:  # removed in between by a run releasing it (no flock): again
            continue


def _take_without_flock(out: Path, path: Path, owner: RunOwner, descriptor: int, *, created: bool) -> None:
    """Take the lock file on a file system without flock, where creating it exclusively is the lock.

    A lock naming a dead process on this host, or empty and old, is stale and taken over. Two
    runs taking over the same stale lock at the same instant may both go on: without flock
    there is no portable remedy, and the window is that of one unlink and one create.

    Raises
    ------
    RunLockedError
        The lock names a live process, one on another host, or is empty and new.
    """
    if not created:
        os.close(descriptor)
        holder = _read_owner(path)
        if not _is_stale(path, holder):
            raise RunLockedError(out, holder)
        with contextlib.suppress(FileNotFoundError):
            path.unlink()
        try:
            descriptor = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_CLOEXEC, 0o644)
        except FileExistsError:  # another run took it over first
            raise RunLockedError(out, _read_owner(path)) from None
    try:
        os.write(descriptor, owner.to_json().encode())
    finally:
        os.close(descriptor)


def _is_stale(path: Path, holder: RunOwner | None) -> bool:
    """Whether a lock (without flock) was left by a run that is gone."""
    if holder is None:
        try:
            return time.time() - path.stat().st_mtime > _EMPTY_LOCK_STALE_SECONDS
        except FileNotFoundError:
            return True
    if holder.host != socket.gethostname():
        return False  # another machine's processes cannot be seen from here
    try:
        os.kill(holder.pid, 0)
    except ProcessLookupError:
        return True
    except PermissionError:
        return False  # alive, another user's
    return False
