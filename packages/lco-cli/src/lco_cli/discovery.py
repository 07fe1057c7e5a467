"""Finding raw frames and reading only their headers, so a night can be planned before reducing it."""

from __future__ import annotations

import os
from collections.abc import Iterable, Sequence
from pathlib import Path

import attrs

from lco_core.errors import LcoError
from lco_core.io import read_meta
from lco_core.meta import FrameMeta

RAW_SUFFIXES = (".fits", ".fits.fz", ".fit", ".fts")


def find_raw_files(paths: Sequence[str | os.PathLike[str]], *, exclude: Iterable[Path] = ()) -> list[Path]:
    """Every FITS file named or under the folders named (recursively), sorted, without duplicates.

    Files under ``exclude`` (the output folder) and hidden files are left out. A path that does
    not exist is an error, not an empty night.
    """
    excluded = [p.resolve() for p in exclude]
    found: dict[Path, None] = {}
    for name in paths:
        path = Path(name)
        if not path.exists():
            raise FileNotFoundError(f"{path}: no such file or folder")
        candidates = [path] if path.is_file() else sorted(p for p in path.rglob("*") if p.is_file())
        for candidate in candidates:
            resolved = candidate.resolve()
            if any(resolved.is_relative_to(e) for e in excluded) and path.is_dir():
                continue
            if candidate.name.startswith(".") and path.is_dir():
                continue
            if path.is_file() or candidate.name.lower().endswith(RAW_SUFFIXES):
                found[resolved] = None
    return sorted(found)


@attrs.frozen
class Entry:
    """A raw file and its metadata, or why its headers could not be understood."""

    path: Path
    meta: FrameMeta | None
    error: str = ""


def inspect_files(paths: Sequence[Path]) -> list[Entry]:
    """Read the headers of every file (no pixels); bad files become entries with an error."""
    entries = []
    for path in paths:
        try:
            entries.append(Entry(path, read_meta(path)))
        except LcoError as error:
            entries.append(Entry(path, None, str(error)))
        except OSError as error:
            entries.append(Entry(path, None, f"{path}: cannot be read ({error.strerror or error})"))
    return entries
