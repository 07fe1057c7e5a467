"""How a simulated camera is mounted on the sky: a signed axis permutation plus a small rotation.

A WCS's CD matrix maps a pixel offset (dx, dy) on the mosaic to (xi, eta) in degrees on the
tangent plane, xi towards east (increasing RA) and eta towards north. A camera mounted with
signed permutation P (one +-1 per row and column) and turned by a small angle theta has

    CD = (pixel_scale / 3600) x R(theta) @ P,    R(theta) = [[cos, -sin], [sin, cos]],

R turning the sky counter-clockwise in the (xi, eta) plane. Row 0 of P is the pixel direction
of east, row 1 that of north. "North up, east left" (LCO's nominal Sinistro, CD diag(-s, +s))
is P = [[-1, 0], [0, 1]]; for it theta is the FITS CROTA2 angle. A raw header states the
nominal mounting (P alone), never the small rotation nobody measured.
"""

from __future__ import annotations

import math
from typing import Literal, get_args

import attrs
import numpy as np
import numpy.typing as npt
from astropy.wcs import WCS

__all__ = ["Direction", "Mounting", "all_mountings", "tan_wcs_with_cd"]

Direction = Literal["up", "down", "left", "right"]
Matrix = npt.NDArray[np.float64]
Permutation = tuple[tuple[int, int], tuple[int, int]]

#: Unit pixel step of each direction on the mosaic as displayed (x right, y up).
_STEP: dict[Direction, tuple[int, int]] = {"up": (0, 1), "down": (0, -1), "right": (1, 0), "left": (-1, 0)}


def _perpendicular(instance: Mounting, attribute: object, east: str) -> None:
    if east not in _STEP or instance.north not in _STEP:
        raise ValueError(f"north and east must be one of {sorted(_STEP)}, got {instance.north!r}, {east!r}")
    north_step, east_step = _STEP[instance.north], _STEP[east]
    if north_step[0] * east_step[0] + north_step[1] * east_step[1] != 0:
        raise ValueError(f"east ({east}) must be perpendicular to north ({instance.north})")


@attrs.frozen
class Mounting:
    """Which way north and east point on a camera's mosaic, and the small rotation on top.

    Attributes
    ----------
    north, east : {'up', 'down', 'left', 'right'}
        Pixel direction of north and of east before the small rotation (perpendicular).
        The default, north up and east left, is LCO's nominal orientation.
    rotation_deg : float
        The mounting's unrecorded turn, degrees, counter-clockwise on the sky (see the module
        docstring); a few degrees at most on a real telescope.

    Raises
    ------
    ValueError
        Unknown directions, or north and east not perpendicular.
    """

    north: Direction = "up"
    east: Direction = attrs.field(default="left", validator=_perpendicular)
    rotation_deg: float = 0.0

    @classmethod
    def from_permutation(cls, permutation: Permutation, *, rotation_deg: float = 0.0) -> Mounting:
        """The mounting whose nominal CD matrix has the signs of ``permutation``.

        Parameters
        ----------
        permutation : ((int, int), (int, int))
            A signed permutation matrix, e.g. ``((0, 1), (-1, 0))`` for a header CD
            ``[[0, +s], [-s, 0]]`` (as on the real kb29).
        rotation_deg : float
            Small rotation, degrees.

        Returns
        -------
        Mounting

        Raises
        ------
        ValueError
            Not a signed permutation.
        """
        names = {step: name for name, step in _STEP.items()}
        east, north = (tuple(row) for row in permutation)
        if east not in names or north not in names:
            raise ValueError(f"{permutation} is not a signed permutation matrix")
        return cls(north=names[north], east=names[east], rotation_deg=rotation_deg)

    @property
    def permutation(self) -> Permutation:
        """The signed permutation P: row 0 the pixel direction of east, row 1 that of north."""
        return (_STEP[self.east], _STEP[self.north])

    @property
    def parity(self) -> int:
        """det P: -1 for the sky as seen through a telescope (east left of north), +1 mirrored."""
        (a, b), (c, d) = self.permutation
        return a * d - b * c

    def nominal_cd(self, pixel_scale_arcsec: float) -> Matrix:
        """The CD matrix a raw header states: ``scale x P``, degrees per pixel.

        Parameters
        ----------
        pixel_scale_arcsec : float
            Arcsec per (binned) pixel.

        Returns
        -------
        ndarray of float64, shape (2, 2)
        """
        return pixel_scale_arcsec / 3600.0 * np.array(self.permutation, dtype=np.float64)

    def true_cd(self, pixel_scale_arcsec: float) -> Matrix:
        """The true CD matrix ``scale x R(rotation) @ P``, degrees per pixel.

        Parameters
        ----------
        pixel_scale_arcsec : float
            Arcsec per (binned) pixel.

        Returns
        -------
        ndarray of float64, shape (2, 2)
        """
        angle = math.radians(self.rotation_deg)
        rotation = np.array([[math.cos(angle), -math.sin(angle)], [math.sin(angle), math.cos(angle)]])
        return pixel_scale_arcsec / 3600.0 * (rotation @ np.array(self.permutation, dtype=np.float64))


def all_mountings(*, rotation_deg: float = 0.0) -> tuple[Mounting, ...]:
    """The eight signed axis permutations (north in 4 directions, east on either side).

    Parameters
    ----------
    rotation_deg : float
        The small rotation given to each, degrees.

    Returns
    -------
    tuple of Mounting
    """
    directions: tuple[Direction, ...] = get_args(Direction)
    return tuple(
        Mounting(north=north, east=east, rotation_deg=rotation_deg)
        for north in directions
        for east in directions
        if _STEP[north][0] * _STEP[east][0] + _STEP[north][1] * _STEP[east][1] == 0
    )


def tan_wcs_with_cd(center_ra: float, center_dec: float, *, shape: tuple[int, int], cd: Matrix) -> WCS:
    """A gnomonic (TAN) WCS with CRPIX at the image centre and the given CD matrix.

    Parameters
    ----------
    center_ra, center_dec : float
        CRVAL, degrees (ICRS).
    shape : (int, int)
        Image shape (ny, nx); CRPIX is ((nx + 1) / 2, (ny + 1) / 2), FITS 1-based.
    cd : ndarray, shape (2, 2)
        Degrees per pixel.

    Returns
    -------
    astropy.wcs.WCS
        With ``pixel_shape`` (nx, ny) set.
    """
    ny, nx = shape
    wcs = WCS(naxis=2)
    wcs.wcs.ctype = ["RA---TAN", "DEC--TAN"]
    wcs.wcs.cunit = ["deg", "deg"]
    wcs.wcs.radesys = "ICRS"
    wcs.wcs.crval = [center_ra, center_dec]
    wcs.wcs.crpix = [(nx + 1) / 2.0, (ny + 1) / 2.0]
    wcs.wcs.cd = np.asarray(cd, dtype=np.float64)
    wcs.pixel_shape = (nx, ny)
    wcs.wcs.set()
    return wcs
