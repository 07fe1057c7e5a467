"""Finding raw frames and reading only their headers, so a night can be planned before reducing it."""

from __future__ import annotations

import os
from collections.abc import Iterable, Iterator, Sequence
from pathlib import Path

import attrs

from lco_core.errors import LcoError
from lco_core.io import read_headers
from lco_core.meta import FrameMeta

RAW_SUFFIXES = (".fits", ".fits.fz", ".fit", ".fts")


@attrs.frozen
class Discovery:
    """The raw files found under the paths given, and what could not be searched.

    Attributes
    ----------
    files : tuple of pathlib.Path
        Resolved, sorted, without duplicates.
    problems : tuple of (pathlib.Path, str)
        Folders that cannot be read, symbolic-link loops and dangling links, each with a
        one-line reason: they are reported, never dropped without a word.
    """

    files: tuple[Path, ...]
    problems: tuple[tuple[Path, str], ...] = ()


def find_raw_files(paths: Sequence[str | os.PathLike[str]], *, exclude: Iterable[Path] = ()) -> Discovery:
    """Every FITS file named or under the folders named (recursively), sorted, without duplicates.

    Files under ``exclude`` (the output folder) and hidden files are left out. Symbolic links
    to folders are followed once (a link back to a folder already being searched is a loop,
    reported and not followed). A path that does not exist is an error, not an empty night.

    Parameters
    ----------
    paths : sequence of str or os.PathLike
        Files and folders.
    exclude : iterable of pathlib.Path
        Folders whose files are not raw frames.

    Returns
    -------
    Discovery
        Resolved paths of ``.fits``, ``.fits.fz``, ``.fit`` and ``.fts`` files (any file named
        directly), and the folders and links that could not be searched.

    Raises
    ------
    FileNotFoundError
        A path does not exist.
    """
    excluded = [p.resolve() for p in exclude]
    found: dict[Path, None] = {}
    problems: dict[Path, str] = {}
    for name in paths:
        path = Path(name)
        if not path.exists():
            raise FileNotFoundError(f"{path}: no such file or folder")
        if path.is_file():
            found[path.resolve()] = None
            continue
        for candidate in _walk(path, problems):
            resolved = candidate.resolve()
            if any(resolved.is_relative_to(e) for e in excluded):
                continue
            if candidate.name.lower().endswith(RAW_SUFFIXES):
                found[resolved] = None
    return Discovery(tuple(sorted(found)), tuple(sorted(problems.items())))


def _walk(top: Path, problems: dict[Path, str]) -> Iterator[Path]:
    """Visible files under ``top``, following folder links once; problems noted, not raised."""
    # os.walk(followlinks=True) has no loop detection: a folder is entered once per (device, inode).
    visited: set[tuple[int, int]] = set()

    def unreadable(error: OSError) -> None:
        where = Path(error.filename) if error.filename else top
        problems[where] = (
            f"{where}: folder cannot be read ({error.strerror or error}); its files are left out"
        )

    for folder, subfolders, files in os.walk(top, onerror=unreadable, followlinks=True):
        here = Path(folder)
        try:
            status = here.stat()
        except OSError as error:
            unreadable(error)
            subfolders[:] = []
            continue
        if (status.st_dev, status.st_ino) in visited:
            problems[here] = (
                f"{here}: links to a folder already searched (a symbolic link loop or a second "
                "link); not searched again"
            )
            subfolders[:] = []
            continue
        visited.add((status.st_dev, status.st_ino))
        subfolders[:] = sorted(s for s in subfolders if not s.startswith("."))
        for name in sorted(files):
            if name.startswith("."):
                continue
            candidate = here / name
            if candidate.is_symlink() and not candidate.exists():
                problems[candidate] = f"{candidate}: dangling symbolic link (its target does not exist)"
            elif candidate.is_file():
                yield candidate


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
        except Exception as error:  # one file's headers never stop the night
            entries.append(
                Entry(path, None, f"{path}: headers cannot be read ({type(error).__name__}: {error})")
            )
    return entries
