"""Finding raw frames and reading only their headers, so a night can be planned before reducing it."""

from __future__ import annotations

import os
from collections.abc import Iterable, Sequence
from pathlib import Path

import attrs

from lco_core.errors import LcoError
from lco_core.io import read_headers
from lco_core.meta import FrameMeta

RAW_SUFFIXES = (".fits", ".fits.fz", ".fit", ".fts")


def find_raw_files(paths: Sequence[str | os.PathLike[str]], *, exclude: Iterable[Path] = ()) -> list[Path]:
    """Every FITS file named or under the folders named (recursively), sorted, without duplicates.

    Files under ``exclude`` (the output folder) and hidden files are left out. A path that does
    not exist is an error, not an empty night.

    Parameters
    ----------
    paths : sequence of str or os.PathLike
        Files and folders.
    exclude : iterable of pathlib.Path
        Folders whose files are not raw frames.

    Returns
    -------
    list of pathlib.Path
        Resolved paths of ``.fits``, ``.fits.fz``, ``.fit`` and ``.fts`` files (any file named
        directly).

    Raises
    ------
    FileNotFoundError
        A path does not exist.
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
    """A raw file and its metadata, or why its headers could not be understood.

    Attributes
    ----------
    path : pathlib.Path
        The file.
    meta : FrameMeta or None
        Its metadata; None when the headers could not be understood.
    error : str
        Why not (one line).
    shapes : tuple of tuple of int
        Numpy shapes of its image HDUs.
    """

    path: Path
    meta: FrameMeta | None
    error: str = ""
    shapes: tuple[tuple[int, ...], ...] = ()

    @property
    def field_radius_deg(self) -> float:
        """Half the diagonal of the assembled image, deg (from the header shapes and PIXSCALE)."""
        if self.meta is None or self.meta.pixel_scale is None or not self.shapes:
            return 0.5
        side = max(max(shape[-2:]) for shape in self.shapes)
        amplifiers = (
            len(self.shapes)
            if len(self.shapes) > 1
            else (self.shapes[0][0] if len(self.shapes[0]) == 3 else 1)
        )
        across = side * (2 if amplifiers >= 4 else 1)
        return float(across * self.meta.pixel_scale / 3600.0 / 2**0.5)


def inspect_files(paths: Sequence[Path]) -> list[Entry]:
    """Read the headers of every file (no pixels); bad files become entries with an error.

    Parameters
    ----------
    paths : sequence of pathlib.Path
        Raw files.

    Returns
    -------
    list of Entry
    """
    entries = []
    for path in paths:
        try:
            meta, shapes = read_headers(path)
            entries.append(Entry(path, meta, "", shapes))
        except LcoError as error:
            entries.append(Entry(path, None, str(error)))
        except OSError as error:
            entries.append(Entry(path, None, f"{path}: cannot be read ({error.strerror or error})"))
    return entries
