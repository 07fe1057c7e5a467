"""The gnomonic (TAN) projection about a tangent point and small spherical helpers, all in degrees."""

from __future__ import annotations

import numpy as np
import numpy.typing as npt
from astropy.coordinates import angular_separation
from astropy.coordinates import position_angle as astropy_position_angle

from lco_core._arrays import Float64Array


def _radians(values: npt.ArrayLike) -> Float64Array:
    converted: Float64Array = np.radians(np.asarray(values, dtype=np.float64))
    return converted


def project(
    ra: npt.ArrayLike, dec: npt.ArrayLike, ra0: float, dec0: float
) -> tuple[Float64Array, Float64Array]:
    """Standard coordinates of sky positions on the plane tangent at (ra0, dec0).

    The FITS TAN projection with its default pole: xi grows to the east, eta to the north.

    Parameters
    ----------
    ra, dec : array_like of float
        Positions, deg.
    ra0, dec0 : float
        Tangent point, deg.

    Returns
    -------
    xi, eta : ndarray of float64
        Standard coordinates, deg; NaN for positions 90 deg or more from the tangent point.
    """
    alpha, delta = _radians(ra), _radians(dec)
    alpha0, delta0 = np.radians(ra0), np.radians(dec0)
    d_alpha = alpha - alpha0
    cos_c = np.sin(delta) * np.sin(delta0) + np.cos(delta) * np.cos(delta0) * np.cos(d_alpha)
    with np.errstate(divide="ignore", invalid="ignore"):
        xi = np.cos(delta) * np.sin(d_alpha) / cos_c
        eta = (np.sin(delta) * np.cos(delta0) - np.cos(delta) * np.sin(delta0) * np.cos(d_alpha)) / cos_c
    behind = ~(cos_c > 0)
    xi[behind] = np.nan
    eta[behind] = np.nan
    return np.degrees(xi), np.degrees(eta)


def deproject(
    xi: npt.ArrayLike, eta: npt.ArrayLike, ra0: float, dec0: float
) -> tuple[Float64Array, Float64Array]:
    """Sky positions of standard coordinates on the plane tangent at (ra0, dec0).

    Parameters
    ----------
    xi, eta : array_like of float
        Standard coordinates, deg (xi east, eta north).
    ra0, dec0 : float
        Tangent point, deg.

    Returns
    -------
    ra, dec : ndarray of float64
        Positions, deg; ra in [0, 360).
    """
    x, y = _radians(xi), _radians(eta)
    alpha0, delta0 = np.radians(ra0), np.radians(dec0)
    denominator = np.cos(delta0) - y * np.sin(delta0)
    alpha = alpha0 + np.arctan2(x, denominator)
    delta = np.arctan2(np.sin(delta0) + y * np.cos(delta0), np.hypot(x, denominator))
    return np.degrees(alpha) % 360.0, np.degrees(delta)


def separation(
    ra1: npt.ArrayLike, dec1: npt.ArrayLike, ra2: npt.ArrayLike, dec2: npt.ArrayLike
) -> Float64Array:
    """Angular separation, deg (astropy's Vincenty formula: accurate at every distance)."""
    a1, d1, a2, d2 = (_radians(v) for v in (ra1, dec1, ra2, dec2))
    result: Float64Array = np.degrees(np.asarray(angular_separation(a1, d1, a2, d2), dtype=np.float64))
    return result


def position_angle(
    ra1: npt.ArrayLike, dec1: npt.ArrayLike, ra2: npt.ArrayLike, dec2: npt.ArrayLike
) -> Float64Array:
    """Position angle of point 2 seen from point 1, deg, from north through east, in (-180, 180]."""
    a1, d1, a2, d2 = (_radians(v) for v in (ra1, dec1, ra2, dec2))
    angle = astropy_position_angle(a1, d1, a2, d2)  # radians in [0, 2 pi)
    result: Float64Array = np.degrees(np.angle(np.exp(1j * np.asarray(angle, dtype=np.float64))))
    return result
