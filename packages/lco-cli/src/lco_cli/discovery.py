"""Finding raw frames and reading only their headers, so a night can be planned before reducing it."""

from __future__ import annotations

import os
from collections.abc import Iterable, Iterator, Sequence
from pathlib import Path

import attrs

from lco_cli.recognition import header_labels, reason_to_skip
from lco_cli.runlock import LOCK_NAME
from lco_core.errors import LcoError
from lco_core.io import read_headers
from lco_core.io.raw import read_hdu_headers
from lco_core.meta import FrameMeta

#: Names of the files searched for raw frames in a folder (a file named directly is always taken).
RAW_SUFFIXES = (".fits", ".fits.fz", ".fits.gz", ".fit", ".fts")


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
    skipped : tuple of (pathlib.Path, str)
        Files in the output folder of another lco-reduce run (products, not raw frames), each
        with a one-line reason naming the folder; they are not opened.
    """

    files: tuple[Path, ...]
    problems: tuple[tuple[Path, str], ...] = ()
    skipped: tuple[tuple[Path, str], ...] = ()


def output_folder_marker(folder: Path) -> str:
    """What shows ``folder`` is an lco-reduce output folder, or '' when it is not one.

    A run leaves its lock file (`lco_cli.runlock.LOCK_NAME`) there, and writes ``summary.json``
    beside a ``masters`` folder.

    Parameters
    ----------
    folder : pathlib.Path
        A folder.

    Returns
    -------
    str
        E.g. ``'.lco-reduce.lock'``; '' when neither sign is there.
    """
    try:
        if (folder / LOCK_NAME).is_file():
            return LOCK_NAME
        if (folder / "summary.json").is_file() and (folder / "masters").is_dir():
            return "summary.json and masters/"
    except OSError:
        pass
    return ""


def find_raw_files(paths: Sequence[str | os.PathLike[str]], *, exclude: Iterable[Path] = ()) -> Discovery:
    """Every FITS file named or under the folders named (recursively), sorted, without duplicates.

    Files under ``exclude`` (this run's output folder) and hidden files are left out. Files
    under the output folder of another run (`output_folder_marker`) are listed as skipped, with
    the folder in the reason. Symbolic links to folders are followed once (a link back to a
    folder already being searched is a loop, reported and not followed). A path that does not
    exist is an error, not an empty night.

    Parameters
    ----------
    paths : sequence of str or os.PathLike
        Files and folders.
    exclude : iterable of pathlib.Path
        Folders whose files are not raw frames.

    Returns
    -------
    Discovery
        Resolved paths of ``.fits``, ``.fits.fz``, ``.fits.gz``, ``.fit`` and ``.fts`` files
        (any file named directly), the files of other runs' output folders, and the folders and
        links that could not be searched.

    Raises
    ------
    FileNotFoundError
        A path does not exist.
    """
    # This run's own output folder is left out without a word: its files are this run's products
    # (and, on a rerun, the last run's), so listing them would fill every summary with the
    # tool's own output and make a rerun's summary differ from the first run's. Another run's
    # output folder is different: the user may not know it is there, so it is reported.
    excluded = [p.resolve() for p in exclude]
    found: dict[Path, None] = {}
    problems: dict[Path, str] = {}
    outputs: dict[Path, str] = {}
    skipped: dict[Path, str] = {}
    for name in paths:
        path = Path(name)
        if not path.exists():
            raise FileNotFoundError(f"{path}: no such file or folder")
        if path.is_file():
            found[path.resolve()] = None
            continue
        for candidate in _walk(path, problems, outputs):
            resolved = candidate.resolve()
            if any(resolved.is_relative_to(e) for e in excluded):
                continue
            if not candidate.name.lower().endswith(RAW_SUFFIXES):
                continue
            output = next((o for o in outputs if candidate.is_relative_to(o)), None)
            if output is not None:
                skipped.setdefault(
                    resolved,
                    f"{candidate.name}: not a raw frame: in {output}, the output folder of another "
                    f"lco-reduce run (it holds {outputs[output]})",
                )
            else:
                found[resolved] = None
    return Discovery(
        tuple(sorted(found)),
        tuple(sorted(problems.items())),
        tuple(sorted((p, r) for p, r in skipped.items() if p not in found)),
    )


def _walk(top: Path, problems: dict[Path, str], outputs: dict[Path, str]) -> Iterator[Path]:
    """Visible files under ``top``, following folder links once; problems noted, not raised;
    output folders of lco-reduce runs noted in ``outputs`` before any of their files is given."""
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
        marker = output_folder_marker(here)
        if marker:
            outputs.setdefault(here, marker)
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
    """A raw file and its metadata, why its headers could not be understood, or why it is skipped.

    Attributes
    ----------
    path : pathlib.Path
        The file.
    meta : FrameMeta or None
        Its metadata; None when the headers could not be understood or the file is skipped.
    error : str
        Why the headers could not be understood (one line; the file fails).
    shapes : tuple of tuple of int
        Numpy shapes of its image HDUs.
    skip : str
        Why the file is not reduced although nothing is wrong with it (one line; the file is
        skipped): not a raw frame, or a camera or OBSTYPE this pipeline does not reduce
        (`lco_cli.recognition.reason_to_skip`).
    obstype, camera : str
        OBSTYPE and INSTRUME as its headers write them, for a skipped file ('' when absent).
    """

    path: Path
    meta: FrameMeta | None
    error: str = ""
    shapes: tuple[tuple[int, ...], ...] = ()
    skip: str = ""
    obstype: str = ""
    camera: str = ""

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

    Each file's headers are first judged as they are (`lco_cli.recognition.reason_to_skip`): a
    product, master, catalogue, or a frame of a camera or OBSTYPE that is not reduced becomes an
    entry to skip, whether or not its headers would parse as a raw frame's. Only the rest are
    parsed into `FrameMeta`.

    Parameters
    ----------
    paths : sequence of pathlib.Path
        Raw files.

    Returns
    -------
    list of Entry
    """
    return [_inspect(path) for path in paths]


def _inspect(path: Path) -> Entry:
    try:
        hdus = read_hdu_headers(path)
        skip = reason_to_skip(path.name, hdus)
        if skip:
            obstype, camera = header_labels(hdus)
            return Entry(path, None, skip=skip, obstype=obstype, camera=camera)
    except Exception:  # a file that cannot be read is judged below, by the raw-frame reader
        pass
    try:
        meta, shapes = read_headers(path)
        return Entry(path, meta, "", shapes)
    except LcoError as error:
        return Entry(path, None, str(error))
    except OSError as error:
        return Entry(path, None, f"{path}: cannot be read ({error.strerror or error})")
    except Exception as error:  # one file's headers never stop the night
        return Entry(path, None, f"{path}: headers cannot be read ({type(error).__name__}: {error})")
