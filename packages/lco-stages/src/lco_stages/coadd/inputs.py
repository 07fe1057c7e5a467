"""What the coadd reads: the `CoaddSource` protocol, and its adapter for in-memory frames."""

from __future__ import annotations

import math
from typing import Any, Protocol

import attrs
import numpy as np
import numpy.typing as npt

from lco_core.errors import LcoError
from lco_core.frame import Frame
from lco_core.meta import FrameMeta

__all__ = ["CoaddInputError", "CoaddSource", "FrameSource", "frame_source", "zero_point_of"]

Rows = tuple[npt.NDArray[np.float32], npt.NDArray[np.float32], npt.NDArray[np.uint8]]


class CoaddInputError(LcoError):
    """An input a coadd cannot use (no solved WCS, no zero point, no exposure time...).

    Parameters
    ----------
    name : str
        The input's name (file name).
    problem : str
        What is wrong, one line.
    """

    def __init__(self, name: str, problem: str) -> None:
        self.name = name
        self.problem = problem
        super().__init__(f"{name}: cannot be coadded: {problem}")


class CoaddSource(Protocol):
    """One input of a coadd: a processed science frame in memory or a product read by row bands.

    Units: SCI and ERR in electrons of the input's own exposure; ``sky_noise`` in the same
    electrons per pixel.
    """

    @property
    def name(self) -> str:
        """The input's name (its file name), for provenance and errors."""

    @property
    def wcs(self) -> Any:
        """The input's solved celestial WCS (`astropy.wcs.WCS`, 0-based pixels as astropy takes them)."""

    @property
    def shape(self) -> tuple[int, int]:
        """``(ny, nx)`` of the SCI plane."""

    @property
    def zero_point(self) -> float | None:
        """L1ZP: ``mag = L1ZP - 2.5 log10(flux / EXPTIME)``; None when not fitted."""

    @property
    def exptime(self) -> float:
        """EXPTIME, seconds."""

    @property
    def sky_noise(self) -> float:
        """Typical 1-sigma noise of a sky pixel, electrons (the input's weight comes from it)."""

    def read_rows(self, start: int, stop: int) -> Rows:
        """SCI, ERR and BPM rows ``[start, stop)``, full width.

        Parameters
        ----------
        start, stop : int
            0-based rows, ``0 <= start < stop <= ny``.

        Returns
        -------
        tuple of ndarray
            SCI (float32), ERR (float32) and BPM (uint8), each ``(stop - start, nx)``.
        """


@attrs.frozen(eq=False)
class FrameSource:
    """A processed in-memory `~lco_core.frame.Frame` as a `CoaddSource` (see `frame_source`).

    Attributes
    ----------
    frame : Frame
        The frame.
    wcs : astropy.wcs.WCS
        Its solved WCS.
    zero_point : float
        Its L1ZP.
    sky_noise : float
        Median ERR of its sky pixels (`lco_stages.depth.sky_noise`), electrons.
    """

    frame: Frame
    wcs: Any
    zero_point: float | None
    sky_noise: float

    @property
    def name(self) -> str:
        """The frame's file name."""
        return self.frame.meta.filename

    @property
    def shape(self) -> tuple[int, int]:
        """``(ny, nx)``."""
        return self.frame.shape

    @property
    def meta(self) -> FrameMeta:
        """The frame's metadata (a coadd of frames starts from its first input's)."""
        return self.frame.meta

    @property
    def exptime(self) -> float:
        """EXPTIME, seconds."""
        return self.frame.meta.exptime

    def read_rows(self, start: int, stop: int) -> Rows:
        """Views of rows ``[start, stop)`` of the frame's SCI, ERR and BPM planes (read-only).

        Parameters
        ----------
        start, stop : int
            0-based rows.

        Returns
        -------
        tuple of ndarray
            SCI, ERR (float32) and BPM (uint8).
        """
        rows = slice(start, stop)
        return self.frame.data[rows], self.frame.uncertainty[rows], self.frame.mask[rows]


def zero_point_of(frame: Frame) -> float | None:
    """A frame's fitted L1ZP (the last photometric calibration's), None when it has none.

    Parameters
    ----------
    frame : Frame
        A processed science frame.

    Returns
    -------
    float or None
    """
    # Imported here: lco_stages.zeropoint imports lco_stages.sources, which reads this package's
    # noise-correlation factor, so a module-level import would be circular. The name is the
    # zero-point stage's own declaration, never a second literal that could drift from it.
    from lco_stages.zeropoint import STAGE as ZERO_POINT_STAGE

    steps = frame.steps(ZERO_POINT_STAGE)
    if not steps:
        return None
    diagnostics = steps[-1].diagnostics
    value = diagnostics.get("L1ZP")
    if diagnostics.get("succeeded") is True and isinstance(value, float) and math.isfinite(value):
        return value
    return None


def frame_source(frame: Frame) -> FrameSource:
    """An in-memory processed science frame as a coadd input.

    Parameters
    ----------
    frame : Frame
        Assembled, with a solved WCS (`~lco_stages.wcs.solve_wcs`) and, for
        `~lco_stages.coadd.build.coadd` to take it, a fitted zero point
        (`~lco_stages.zeropoint.calibrate_photometry`).

    Returns
    -------
    FrameSource
        Its sky noise is the median ERR of the sky pixels clear of catalogued sources.

    Raises
    ------
    CoaddInputError
        The frame is not assembled or its WCS is not solved.
    """
    from lco_stages.depth import sky_noise

    name = frame.meta.filename
    if not frame.assembled:
        raise CoaddInputError(name, "not an assembled frame")
    if frame.wcs is None or not frame.wcs.solved:
        reason = "" if frame.wcs is None else f" ({frame.wcs.reason})" if frame.wcs.reason else ""
        raise CoaddInputError(name, f"no solved WCS{reason}")
    return FrameSource(frame, frame.wcs.to_wcs(), zero_point_of(frame), sky_noise(frame))
