"""atomic_output: write a file beside its target and rename it into place, or leave nothing.

Every file the pipeline writes goes through here, so a crash or a kill never leaves half a
product, report or cache file under its final name.
"""

from __future__ import annotations

import contextlib
import fnmatch
import os
import signal
import tempfile
from collections.abc import Iterator
from pathlib import Path

#: Fault injection for tests: ``"before-rename:GLOB"`` or ``"after-rename:GLOB"`` kills this
#: process's group with SIGKILL at that point of writing a file whose name matches GLOB, as a
#: power cut or the OOM killer would. Never set outside tests.
FAULT_VARIABLE = "LCO_REDUCE_FAULT"


def _fault_point(point: str, final: Path) -> None:
    spec = os.environ.get(FAULT_VARIABLE, "")
    where, _, pattern = spec.partition(":")
    if where == point and fnmatch.fnmatch(final.name, pattern or "*"):
        os.killpg(os.getpgid(0), signal.SIGKILL)


@contextlib.contextmanager
def atomic_output(target: str | os.PathLike[str]) -> Iterator[Path]:
    """Yield a temporary path in ``target``'s folder; on success it becomes ``target``.

    The temporary file is named ``.{name}.*.tmp`` (hidden, and recognisable by the command line's
    clean-up of killed runs), flushed to disk, made world-readable (0644) and renamed over
    ``target``. If the block raises, the temporary file is removed and ``target`` is untouched.

    Parameters
    ----------
    target : str or os.PathLike
        The final file; its folder is created if needed.

    Yields
    ------
    pathlib.Path
        Where to write.
    """
    final = Path(target)
    final.parent.mkdir(parents=True, exist_ok=True)
    handle, name = tempfile.mkstemp(prefix=f".{final.name}.", suffix=".tmp", dir=final.parent)
    os.close(handle)
    temporary = Path(name)
    try:
        yield temporary
        with open(temporary, "rb+") as stream:
            os.fsync(stream.fileno())
        os.chmod(temporary, 0o644)
        _fault_point("before-rename", final)
        os.replace(temporary, final)
        _fault_point("after-rename", final)
    finally:
        temporary.unlink(missing_ok=True)
