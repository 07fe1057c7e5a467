"""Orientation and HeaderWcs: how the sky lies on a camera's pixel grid, as typed data.

FITS convention throughout: a CD matrix maps pixel offsets ``(dx, dy)`` to standard coordinates
``(xi, eta)`` in degrees, ``xi`` toward the east (increasing RA) and ``eta`` toward the north. A
camera seeing the sky as it appears from the ground with north up shows east to the left:
``CD = [[-s, 0], [0, s]]``, whose determinant is negative. A positive determinant is a mirror
image of that view (an odd number of reflections in the light path or the readout).
"""

from __future__ import annotations

import math
from collections.abc import Iterable

import attrs

Matrix = tuple[tuple[float, float], tuple[float, float]]


def _matrix(values: Iterable[Iterable[float]]) -> Matrix:
    rows = [[float(v) for v in row] for row in values]
    if len(rows) != 2 or any(len(row) != 2 for row in rows):
        raise ValueError(f"a 2 x 2 matrix is needed, got {values!r}")
    if not all(math.isfinite(v) for row in rows for v in row):
        raise ValueError(f"matrix elements must be finite, got {values!r}")
    return ((rows[0][0], rows[0][1]), (rows[1][0], rows[1][1]))


def _determinant(m: Matrix) -> float:
    return m[0][0] * m[1][1] - m[0][1] * m[1][0]


def _unit_matrix(values: Iterable[Iterable[float]]) -> Matrix:
    matrix = _matrix(values)
    determinant = _determinant(matrix)
    if determinant == 0.0:
        raise ValueError(f"an orientation needs a non-singular matrix, got {matrix}")
    scale = math.sqrt(abs(determinant))
    return _matrix([[v / scale for v in row] for row in matrix])


def _non_singular(instance: object, attribute: attrs.Attribute[Matrix], value: Matrix) -> None:
    if _determinant(value) == 0.0:
        raise ValueError(f"{attribute.name} must not be singular, got {value}")


@attrs.frozen
class Orientation:
    """The direction of the sky's axes on the pixel grid, at unit scale.

    Attributes
    ----------
    matrix : ((float, float), (float, float))
        A CD matrix divided by its scale (``sqrt(|det CD|)``): rows ``xi``, ``eta``; columns
        ``x``, ``y``. Dimensionless, determinant +-1.

    Raises
    ------
    ValueError
        A matrix that is not 2 x 2, finite and non-singular.
    """

    matrix: Matrix = attrs.field(converter=_unit_matrix)

    @classmethod
    def from_cd(cls, cd: Matrix) -> Orientation:
        """The orientation of a CD matrix (any scale).

        Parameters
        ----------
        cd : ((float, float), (float, float))
            CD matrix, degrees per pixel.

        Returns
        -------
        Orientation
        """
        return cls(cd)

    @classmethod
    def north_up_east_left(cls) -> Orientation:
        """The unmirrored view with north along +y: ``[[-1, 0], [0, 1]]``."""
        return cls(((-1.0, 0.0), (0.0, 1.0)))

    @property
    def mirrored(self) -> bool:
        """True when the determinant is positive: a mirror image of the sky as seen from the ground."""
        return _determinant(self.matrix) > 0

    @property
    def north_angle_deg(self) -> float:
        """Angle of north on the image, degrees counter-clockwise from +y (toward -x), in (-180, 180]."""
        # North is where eta grows fastest: along its gradient, the matrix's second row.
        gx, gy = self.matrix[1]
        angle = math.degrees(math.atan2(-gx, gy))
        return angle + 360.0 if angle <= -180.0 else angle + 0.0  # + 0.0: never -0.0

    def cd(self, pixel_scale_arcsec: float) -> Matrix:
        """The CD matrix of this orientation at a pixel scale.

        Parameters
        ----------
        pixel_scale_arcsec : float
            Arcsec per pixel (> 0).

        Returns
        -------
        ((float, float), (float, float))
            Degrees per pixel.
        """
        if not pixel_scale_arcsec > 0:
            raise ValueError(f"pixel_scale_arcsec must be > 0, got {pixel_scale_arcsec}")
        s = pixel_scale_arcsec / 3600.0
        (a, b), (c, d) = self.matrix
        return ((a * s, b * s), (c * s, d * s))


@attrs.frozen
class HeaderWcs:
    """The celestial WCS a header states (TAN): reference point and CD matrix.

    Raw LCO headers carry the telescope's nominal one (the pointing, and the camera's mounting at
    its nominal scale); processed headers carry a fitted one.

    Attributes
    ----------
    crval : (float, float)
        RA and Dec of the reference pixel, degrees.
    crpix : (float, float)
        The reference pixel, 1-based, in the header's own image.
    cd : ((float, float), (float, float))
        Degrees per pixel; non-singular.
    """

    crval: tuple[float, float]
    crpix: tuple[float, float]
    cd: Matrix = attrs.field(converter=_matrix, validator=_non_singular)

    @property
    def orientation(self) -> Orientation:
        """The orientation of the CD matrix."""
        return Orientation.from_cd(self.cd)

    @property
    def pixel_scale_arcsec(self) -> float:
        """The scale the CD matrix states, arcsec per pixel (geometric mean of the two axes)."""
        return math.sqrt(abs(_determinant(self.cd))) * 3600.0
