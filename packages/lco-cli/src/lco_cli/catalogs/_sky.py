"""Spherical geometry on catalogue positions: angular separation (astropy's), cones, proper motion."""

from __future__ import annotations

import numpy as np
import numpy.typing as npt
from astropy.coordinates import angular_separation as astropy_separation

from lco_core._arrays import Float64Array

#: Milliarcseconds to radians.
MAS_TO_RAD = np.pi / (180.0 * 3600.0 * 1000.0)


def angular_separation(
    ra1: npt.ArrayLike, dec1: npt.ArrayLike, ra2: npt.ArrayLike, dec2: npt.ArrayLike
) -> Float64Array:
    """Great-circle distance between points, deg (all inputs in deg, broadcast together).

    astropy's Vincenty formula: accurate at every separation, unlike the arccos of a dot
    product, which loses all precision below an arcsecond.
    """
    lon1, lat1, lon2, lat2 = (np.radians(np.asarray(v, dtype=np.float64)) for v in (ra1, dec1, ra2, dec2))
    separation: Float64Array = np.degrees(
        np.asarray(astropy_separation(lon1, lat1, lon2, lat2), dtype=np.float64)
    )
    return separation


def in_cone(
    ra: Float64Array, dec: Float64Array, center_ra: float, center_dec: float, radius_deg: float
) -> npt.NDArray[np.bool_]:
    """Which points lie within ``radius_deg`` (inclusive) of the centre; all angles in deg."""
    within: npt.NDArray[np.bool_] = angular_separation(ra, dec, center_ra, center_dec) <= radius_deg
    return within


def propagate(
    ra: Float64Array, dec: Float64Array, pmra: Float64Array, pmdec: Float64Array, years: npt.ArrayLike
) -> tuple[Float64Array, Float64Array]:
    """Positions moved along their proper motions for ``years`` (Julian years, may be negative).

    Parameters
    ----------
    ra, dec : float64 arrays
        Positions at the catalogue epoch, deg.
    pmra, pmdec : float64 arrays
        Proper motion, mas/yr; ``pmra`` includes the cos(dec) factor, as in Gaia. NaN (a star
        without a proper motion) leaves the star where it is.
    years : float or float64 array
        Target epoch minus catalogue epoch, yr (per star, or one span for all).

    Returns
    -------
    ra, dec : float64 arrays
        Propagated positions, deg, RA in [0, 360).

    Notes
    -----
    The motion is a straight step in the tangent plane, done on unit vectors so it stays
    valid at the poles; parallax and radial velocity are ignored (sub-mas for field stars over
    decades, far below the 1 arcsec match radius).
    """
    span = np.asarray(years, dtype=np.float64)
    alpha, delta = np.radians(ra), np.radians(dec)
    cos_d, sin_d = np.cos(delta), np.sin(delta)
    cos_a, sin_a = np.cos(alpha), np.sin(alpha)
    position = np.stack([cos_d * cos_a, cos_d * sin_a, sin_d])
    east = np.stack([-sin_a, cos_a, np.zeros_like(alpha)])
    north = np.stack([-sin_d * cos_a, -sin_d * sin_a, cos_d])
    step_east = np.nan_to_num(pmra, nan=0.0) * MAS_TO_RAD * span
    step_north = np.nan_to_num(pmdec, nan=0.0) * MAS_TO_RAD * span
    moved = position + east * step_east + north * step_north
    moved /= np.linalg.norm(moved, axis=0)
    new_ra: Float64Array = np.degrees(np.arctan2(moved[1], moved[0])) % 360.0
    new_dec: Float64Array = np.degrees(np.arctan2(moved[2], np.hypot(moved[0], moved[1])))
    return new_ra, new_dec
