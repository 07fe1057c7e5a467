"""Section and Binning: FITS image sections as typed geometry, and data <-> detector mapping.

FITS sections are 1-based and inclusive, x first: ``[x1:x2,y1:y2]``. A reversed range
(``x1 > x2``) means the amplifier reads that axis out flipped relative to the detector.
Numpy indexes y first and 0-based, half-open; this module is the one place that converts.
"""

from __future__ import annotations

import re
from typing import TypeAlias, TypeVar

import attrs
import numpy as np
import numpy.typing as npt

from lco_core.errors import SectionError

_SECTION = re.compile(r"^\[\s*(\d+)\s*:\s*(\d+)\s*,\s*(\d+)\s*:\s*(\d+)\s*\]$")

Coordinate = TypeVar("Coordinate", int, npt.NDArray[np.int64])
Slices: TypeAlias = tuple[slice, slice]


def _positive(instance: object, attribute: attrs.Attribute[int], value: int) -> None:
    if value < 1:
        raise SectionError(f"section bound {attribute.name}={value} must be >= 1 (FITS is 1-based)")


@attrs.frozen
class Binning:
    """On-chip binning factors (CCDSUM = 'x y'); ``str(binning)`` is ``'2x2'``.

    Attributes
    ----------
    x, y : int
        Detector pixels summed into one pixel along each axis (>= 1).

    Raises
    ------
    SectionError
        A factor below 1.
    """

    x: int = attrs.field(validator=_positive)
    y: int = attrs.field(validator=_positive)

    def __str__(self) -> str:
        return f"{self.x}x{self.y}"

    @property
    def ccdsum(self) -> str:
        """The CCDSUM header value, ``'x y'``."""
        return f"{self.x} {self.y}"


@attrs.frozen
class Section:
    """A rectangular FITS section, bounds 1-based and inclusive, in the order written.

    ``str(section)`` is ``'[x1:x2,y1:y2]'``. A reversed range (``x_start > x_stop``) is a
    flipped readout axis.

    Attributes
    ----------
    x_start, x_stop, y_start, y_stop : int
        The bounds as written (each >= 1).

    Raises
    ------
    SectionError
        A bound below 1.
    """

    x_start: int = attrs.field(validator=_positive)
    x_stop: int = attrs.field(validator=_positive)
    y_start: int = attrs.field(validator=_positive)
    y_stop: int = attrs.field(validator=_positive)

    @classmethod
    def parse(cls, text: str) -> Section:
        """Parse ``'[x1:x2,y1:y2]'`` (spaces allowed).

        Parameters
        ----------
        text : str
            The section as a header writes it.

        Returns
        -------
        Section

        Raises
        ------
        SectionError
            The text is not a section.
        """
        match = _SECTION.match(text.strip())
        if match is None:
            raise SectionError(f"{text!r} is not a FITS section of the form [x1:x2,y1:y2]")
        x1, x2, y1, y2 = (int(group) for group in match.groups())
        return cls(x1, x2, y1, y2)

    @classmethod
    def from_slices(cls, slices: Slices) -> Section:
        """The section selected by numpy ``(y, x)`` slices with unit steps (-1 means flipped).

        Parameters
        ----------
        slices : (slice, slice)
            ``(y, x)`` slices with explicit ends and steps of 1 or -1.

        Returns
        -------
        Section

        Raises
        ------
        SectionError
            Open-ended, empty or other-step slices.
        """
        y_slice, x_slice = slices
        y1, y2 = _bounds_from_slice(y_slice)
        x1, x2 = _bounds_from_slice(x_slice)
        return cls(x1, x2, y1, y2)

    def __str__(self) -> str:
        return f"[{self.x_start}:{self.x_stop},{self.y_start}:{self.y_stop}]"

    @property
    def x_flipped(self) -> bool:
        """The x range is written reversed (read out flipped in x)."""
        return self.x_start > self.x_stop

    @property
    def y_flipped(self) -> bool:
        """The y range is written reversed (read out flipped in y)."""
        return self.y_start > self.y_stop

    @property
    def nx(self) -> int:
        """Width, pixels."""
        return abs(self.x_stop - self.x_start) + 1

    @property
    def ny(self) -> int:
        """Height, pixels."""
        return abs(self.y_stop - self.y_start) + 1

    @property
    def shape(self) -> tuple[int, int]:
        """Numpy shape ``(ny, nx)``."""
        return (self.ny, self.nx)

    @property
    def x_min(self) -> int:
        """Smallest x (1-based)."""
        return min(self.x_start, self.x_stop)

    @property
    def x_max(self) -> int:
        """Largest x (1-based)."""
        return max(self.x_start, self.x_stop)

    @property
    def y_min(self) -> int:
        """Smallest y (1-based)."""
        return min(self.y_start, self.y_stop)

    @property
    def y_max(self) -> int:
        """Largest y (1-based)."""
        return max(self.y_start, self.y_stop)

    def to_slices(self) -> Slices:
        """Numpy ``(y, x)`` slices selecting the region in array order (flips ignored).

        Returns
        -------
        (slice, slice)
        """
        return (slice(self.y_min - 1, self.y_max), slice(self.x_min - 1, self.x_max))

    def to_oriented_slices(self) -> Slices:
        """Numpy ``(y, x)`` slices that read the region in the section's own order.

        ``image[section.to_oriented_slices()]`` starts at ``(y_start, x_start)``: a flipped
        axis is read backwards.

        Returns
        -------
        (slice, slice)
        """
        return (
            _oriented_slice(self.y_start, self.y_stop),
            _oriented_slice(self.x_start, self.x_stop),
        )

    def oriented(self, *, x_flipped: bool, y_flipped: bool) -> Section:
        """The same region with each axis's direction set as given.

        Parameters
        ----------
        x_flipped, y_flipped : bool
            Whether each axis is to be written reversed.

        Returns
        -------
        Section
        """
        x1, x2 = (self.x_max, self.x_min) if x_flipped else (self.x_min, self.x_max)
        y1, y2 = (self.y_max, self.y_min) if y_flipped else (self.y_min, self.y_max)
        return Section(x1, x2, y1, y2)

    def fits_in(self, shape: tuple[int, int]) -> bool:
        """Whether the region lies inside an array of numpy ``shape`` ``(ny, nx)``.

        Parameters
        ----------
        shape : (int, int)
            Array shape ``(ny, nx)``.

        Returns
        -------
        bool
        """
        return self.y_max <= shape[0] and self.x_max <= shape[1]

    def contains(self, other: Section) -> bool:
        """Whether ``other`` lies wholly inside this region (directions ignored).

        Parameters
        ----------
        other : Section
            Another section in the same coordinates.

        Returns
        -------
        bool
        """
        return (
            self.x_min <= other.x_min
            and other.x_max <= self.x_max
            and self.y_min <= other.y_min
            and other.y_max <= self.y_max
        )


def _oriented_slice(start: int, stop: int) -> slice:
    if start <= stop:
        return slice(start - 1, stop)
    # Reversed: from index start-1 down to index stop-1 inclusive.
    return slice(start - 1, stop - 2 if stop >= 2 else None, -1)


def _bounds_from_slice(piece: slice) -> tuple[int, int]:
    """1-based inclusive (first, last) bounds of a unit-step slice with explicit ends."""
    step = 1 if piece.step is None else piece.step
    if step == 1:
        start = 0 if piece.start is None else piece.start
        if piece.stop is None or start < 0 or piece.stop <= start:
            raise SectionError(f"{piece!r} cannot become a section: empty or open-ended")
        return start + 1, piece.stop
    if step == -1:
        if piece.start is None or piece.start < 0:
            raise SectionError(f"{piece!r} cannot become a section: reversed slices need a start")
        last = 0 if piece.stop is None else piece.stop + 1
        if (piece.stop is not None and piece.stop < -1) or last > piece.start:
            raise SectionError(f"{piece!r} cannot become a section: empty or negative")
        return piece.start + 1, last + 1
    raise SectionError(f"{piece!r} cannot become a section: only steps of 1 and -1")


def data_to_detector(
    x: Coordinate,
    y: Coordinate,
    *,
    data_section: Section,
    detector_section: Section,
    binning: Binning,
) -> tuple[Coordinate, Coordinate]:
    """Map 1-based data pixel coordinates to unbinned detector coordinates.

    ``det = det0 + s * (data - data0) * bin`` with ``s = -1`` on a flipped detector axis. The
    result is the detector pixel where the binned pixel starts; it covers ``bin`` detector
    pixels from there in the direction ``s`` (see `detector_extent`).

    Parameters
    ----------
    x, y : int or ndarray of int64
        1-based data (readout) pixel coordinates, binned.
    data_section : Section
        The amplifier's DATASEC.
    detector_section : Section
        Its DETSEC (unbinned, reversed where flipped).
    binning : Binning
        The frame's binning.

    Returns
    -------
    det_x, det_y : int or ndarray of int64
        1-based unbinned detector coordinates.
    """
    sx = -1 if detector_section.x_flipped else 1
    sy = -1 if detector_section.y_flipped else 1
    det_x = detector_section.x_start + sx * (x - data_section.x_min) * binning.x
    det_y = detector_section.y_start + sy * (y - data_section.y_min) * binning.y
    return det_x, det_y


def detector_extent(
    x: Coordinate,
    y: Coordinate,
    *,
    data_section: Section,
    detector_section: Section,
    binning: Binning,
) -> tuple[Coordinate, Coordinate]:
    """The far detector corner of a binned data pixel: `data_to_detector` + ``s * (bin - 1)``.

    Parameters
    ----------
    x, y : int or ndarray of int64
        1-based data pixel coordinates, binned.
    data_section, detector_section : Section
        DATASEC and DETSEC of the amplifier.
    binning : Binning
        The frame's binning.

    Returns
    -------
    det_x, det_y : int or ndarray of int64
        1-based unbinned detector coordinates of the pixel's far corner.
    """
    det_x, det_y = data_to_detector(
        x, y, data_section=data_section, detector_section=detector_section, binning=binning
    )
    sx = -1 if detector_section.x_flipped else 1
    sy = -1 if detector_section.y_flipped else 1
    return det_x + sx * (binning.x - 1), det_y + sy * (binning.y - 1)


def check_detector_span(data_section: Section, detector_section: Section, binning: Binning) -> None:
    """Raise `SectionError` unless the detector section spans the data section times the binning.

    Parameters
    ----------
    data_section : Section
        DATASEC (binned pixels).
    detector_section : Section
        DETSEC (unbinned pixels).
    binning : Binning
        The frame's binning.

    Raises
    ------
    SectionError
        ``detector_section.nx != data_section.nx x binning.x`` (or the same in y).
    """
    if detector_section.nx != data_section.nx * binning.x or detector_section.ny != (
        data_section.ny * binning.y
    ):
        raise SectionError(
            f"detector section {detector_section} ({detector_section.nx}x{detector_section.ny} "
            f"unbinned) does not match data section {data_section} ({data_section.nx}x"
            f"{data_section.ny}) at binning {binning}"
        )
