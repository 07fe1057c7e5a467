"""Typed errors: every problem a person can act on names the file and what is wrong."""

from __future__ import annotations


class LcoError(Exception):
    """Base class of every error the pipeline raises on purpose.

    ``str(error)`` is one line a person can act on; the command-line shell prints it as it is.
    """


class FitsReadError(LcoError):
    """A file is not readable as the FITS it claims to be (not FITS, truncated, impossible size).

    Parameters
    ----------
    path : str
        The file.
    problem : str
        What is wrong with it, one line.
    """

    def __init__(self, path: str, problem: str) -> None:
        self.path = path
        self.problem = problem
        super().__init__(f"{path}: {problem}")


class HeaderError(LcoError):
    """A mandatory header keyword is missing or cannot be parsed.

    Parameters
    ----------
    path : str
        The file.
    hdu : str
        The HDU whose header was read (its EXTNAME or index).
    keyword : str
        The keyword, e.g. ``'EXPTIME'``.
    problem : str
        What is wrong with it, one line.
    """

    def __init__(self, path: str, hdu: str, keyword: str, problem: str) -> None:
        self.path = path
        self.hdu = hdu
        self.keyword = keyword
        self.problem = problem
        super().__init__(f"{path}[{hdu}]: {keyword} {problem}")


class MissingKeywordError(HeaderError):
    """A mandatory keyword is absent, or holds a placeholder such as 'UNKNOWN' or 'N/A'.

    Parameters
    ----------
    path : str
        The file.
    hdu : str
        The HDU whose header was read.
    keyword : str
        The missing keyword.
    """

    def __init__(self, path: str, hdu: str, keyword: str) -> None:
        super().__init__(path, hdu, keyword, "is missing (mandatory keyword)")


class MalformedKeywordError(HeaderError):
    """A keyword is present but its value cannot be parsed into the type it must have.

    Parameters
    ----------
    path : str
        The file.
    hdu : str
        The HDU whose header was read.
    keyword : str
        The keyword.
    value : object
        The value found in the header.
    expected : str
        What the value must be, e.g. ``'a number'``.
    """

    def __init__(self, path: str, hdu: str, keyword: str, value: object, expected: str) -> None:
        self.value = value
        super().__init__(path, hdu, keyword, f"= {value!r} is not {expected}")


class SectionError(LcoError, ValueError):
    """A section string or section geometry is invalid."""


class ShapeMismatchError(LcoError, ValueError):
    """Arrays that must share a shape do not."""


class StageError(LcoError):
    """A stage was given input it cannot process (e.g. an unassembled frame to a frame stage).

    Parameters
    ----------
    stage : str
        The stage's name, e.g. ``'subtract_bias'``.
    filename : str
        The frame's file name.
    problem : str
        What is wrong, one line.
    """

    def __init__(self, stage: str, filename: str, problem: str) -> None:
        self.stage = stage
        self.filename = filename
        self.problem = problem
        super().__init__(f"{filename}: {stage}: {problem}")


class ProductWriteError(LcoError):
    """A product could not be written; nothing partial was left at the target path.

    Parameters
    ----------
    path : str
        The product's target path.
    problem : str
        Why it could not be written, one line.
    """

    def __init__(self, path: str, problem: str) -> None:
        self.path = path
        self.problem = problem
        super().__init__(f"{path}: could not write product: {problem}")


class CameraError(LcoError):
    """A frame's camera or geometry cannot be understood: unknown camera, forbidden binning,
    inconsistent sections, missing crosstalk coefficients.

    Parameters
    ----------
    filename : str
        The frame's file name.
    problem : str
        What cannot be understood, one line.
    """

    def __init__(self, filename: str, problem: str) -> None:
        self.filename = filename
        self.problem = problem
        super().__init__(f"{filename}: {problem}")


class EmptyFrameError(LcoError):
    """A frame whose pixels carry no signal at all (every pixel 0, or none finite).

    Parameters
    ----------
    filename : str
        The frame's file name.
    problem : str
        What is empty, one line.
    """

    def __init__(self, filename: str, problem: str) -> None:
        self.filename = filename
        super().__init__(f"{filename}: {problem}")
