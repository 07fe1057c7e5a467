"""The TAN-SIP world coordinate model: evaluation, linear least-squares fit to matched stars, astropy WCS.

SIP convention (Shupe et al. 2005): with ``u = x - CRPIX1`` and ``v = y - CRPIX2`` (FITS 1-based
pixels), the intermediate world coordinates are ``CD @ (u + f(u, v), v + g(u, v))`` where
``f = sum A_p_q u**p v**q`` and ``g = sum B_p_q u**p v**q`` over ``2 <= p + q <= order``; the TAN
projection about CRVAL turns them into sky positions.

For a fixed tangent point the standard coordinates of the reference stars are polynomials of
(u, v) whose coefficients are the CD matrix and CD times the SIP coefficients, so the whole fit is a
linear least-squares problem; the tangent point is then moved onto the constant term and the fit
repeated (two or three rounds). This is exact, fast (milliseconds for thousands of stars) and
deterministic.
"""

from __future__ import annotations

import math

import attrs
import numpy as np
import numpy.typing as npt
from astropy.wcs import WCS, Sip

from lco_core._arrays import Float64Array, read_only
from lco_stages.astrometry._sky import deproject, project

__all__ = ["TanSip", "fit_tan_sip", "n_terms"]

#: Rounds of moving the tangent point onto the fitted constant term; each round shrinks the
#: constant by orders of magnitude, so this is never the limit in practice.
TANGENT_POINT_ROUNDS = 8
#: Constant term (deg) below which the tangent point is considered in place: 1e-10 deg = 0.4 uas.
TANGENT_POINT_TOLERANCE_DEG = 1e-10
#: Grid points per axis on which the inverse SIP polynomials (AP, BP) are fitted.
INVERSE_GRID = 32


def _terms(degree: int) -> list[tuple[int, int]]:
    """Exponents (p, q) of u**p v**q with p + q <= degree, by total degree."""
    return [(total - q, q) for total in range(degree + 1) for q in range(total + 1)]


def n_terms(degree: int) -> int:
    """Number of polynomial coefficients per axis of a fit of total ``degree`` (1 = TAN).

    Parameters
    ----------
    degree : int
        Total degree.

    Returns
    -------
    int
        ``(degree + 1)(degree + 2) / 2``.
    """
    return (degree + 1) * (degree + 2) // 2


def _polynomial(coefficients: Float64Array, u: Float64Array, v: Float64Array) -> Float64Array:
    """sum_pq coefficients[p, q] u**p v**q (Horner's scheme in v, then in u)."""
    result = np.zeros(np.broadcast(u, v).shape)
    for p in range(coefficients.shape[0] - 1, -1, -1):
        row = np.zeros_like(result)
        for q in range(coefficients.shape[1] - 1, -1, -1):
            row = row * v + coefficients[p, q]
        result = result * u + row
    return result


def _matrix(values: npt.ArrayLike) -> Float64Array:
    array: Float64Array = np.array(values, dtype=np.float64)
    return read_only(array)


@attrs.frozen(eq=False)
class TanSip:
    """A TAN (gnomonic) world coordinate model with optional SIP distortion.

    Attributes
    ----------
    crval : (float, float)
        Tangent point (RA, Dec), deg.
    crpix : (float, float)
        Reference pixel, FITS 1-based px.
    cd : ndarray of float64, shape (2, 2)
        Linear part, deg per px.
    sip_a, sip_b : ndarray of float64, shape (degree + 1, degree + 1)
        Forward SIP coefficients A_p_q and B_p_q (px); only entries with p + q >= 2 are used.
        Shape (2, 2) of zeros for a pure TAN model.
    """

    crval: tuple[float, float]
    crpix: tuple[float, float]
    cd: Float64Array = attrs.field(converter=_matrix)
    sip_a: Float64Array = attrs.field(converter=_matrix)
    sip_b: Float64Array = attrs.field(converter=_matrix)

    @property
    def degree(self) -> int:
        """Total polynomial degree: 1 for pure TAN, 2 or 3 with SIP."""
        return max(1, int(self.sip_a.shape[0]) - 1)

    @property
    def sip_order(self) -> int:
        """SIP order as FITS writes it: 0 for a pure TAN model."""
        return 0 if self.degree == 1 else self.degree

    @property
    def pixel_scale_arcsec(self) -> float:
        """Mean pixel scale at CRPIX, arcsec per px (square root of the CD determinant)."""
        return math.sqrt(abs(float(np.linalg.det(self.cd)))) * 3600.0

    def with_degree(self, degree: int) -> TanSip:
        """The same model with room for SIP terms up to ``degree`` (new terms zero).

        Parameters
        ----------
        degree : int
            Total degree (1 = TAN).

        Returns
        -------
        TanSip
        """
        size = max(2, degree + 1)
        a, b = np.zeros((size, size)), np.zeros((size, size))
        keep = min(size, self.sip_a.shape[0])
        a[:keep, :keep] = self.sip_a[:keep, :keep]
        b[:keep, :keep] = self.sip_b[:keep, :keep]
        return TanSip(self.crval, self.crpix, self.cd, a, b)

    def intermediate(self, x: npt.ArrayLike, y: npt.ArrayLike) -> tuple[Float64Array, Float64Array]:
        """Standard coordinates (xi east, eta north, deg) about ``crval`` of 1-based pixels.

        Parameters
        ----------
        x, y : array_like of float
            FITS 1-based pixel positions.

        Returns
        -------
        xi, eta : ndarray of float64
            Degrees.
        """
        u = np.asarray(x, dtype=np.float64) - self.crpix[0]
        v = np.asarray(y, dtype=np.float64) - self.crpix[1]
        if self.degree > 1:
            u, v = u + _polynomial(self.sip_a, u, v), v + _polynomial(self.sip_b, u, v)
        xi: Float64Array = self.cd[0, 0] * u + self.cd[0, 1] * v
        eta: Float64Array = self.cd[1, 0] * u + self.cd[1, 1] * v
        return xi, eta

    def pixel_to_sky(self, x: npt.ArrayLike, y: npt.ArrayLike) -> tuple[Float64Array, Float64Array]:
        """(RA, Dec), deg, of 1-based pixel positions.

        Parameters
        ----------
        x, y : array_like of float
            FITS 1-based pixel positions.

        Returns
        -------
        ra, dec : ndarray of float64
            Degrees.
        """
        xi, eta = self.intermediate(x, y)
        return deproject(xi, eta, *self.crval)

    def to_wcs(self, shape: tuple[int, int]) -> WCS:
        """An astropy WCS of this model for an image of ``shape`` (ny, nx).

        With SIP, the inverse polynomials AP and BP (one degree higher) are fitted over the image
        so that software which uses them (DS9, SExtractor, SWarp) maps sky to pixels consistently.

        Parameters
        ----------
        shape : (int, int)
            Image shape (ny, nx).

        Returns
        -------
        astropy.wcs.WCS
        """
        ny, nx = shape
        wcs = WCS(naxis=2)
        sip = self.degree > 1
        wcs.wcs.ctype = ["RA---TAN-SIP", "DEC--TAN-SIP"] if sip else ["RA---TAN", "DEC--TAN"]
        wcs.wcs.cunit = ["deg", "deg"]
        wcs.wcs.radesys = "ICRS"
        wcs.wcs.crval = list(self.crval)
        wcs.wcs.crpix = list(self.crpix)
        wcs.wcs.cd = np.array(self.cd)
        if sip:
            ap, bp = self._inverse_sip(shape)
            wcs.sip = Sip(np.array(self.sip_a), np.array(self.sip_b), ap, bp, wcs.wcs.crpix)
        wcs.pixel_shape = (nx, ny)
        wcs.wcs.set()
        return wcs

    def _inverse_sip(self, shape: tuple[int, int]) -> tuple[Float64Array, Float64Array]:
        """AP, BP with u = U + AP(U, V), v = V + BP(U, V), least squares over the image."""
        ny, nx = shape
        # A little beyond the edges so the inverse holds for the whole image.
        gx = np.linspace(-0.02 * nx, 1.02 * nx, INVERSE_GRID) + 0.5
        gy = np.linspace(-0.02 * ny, 1.02 * ny, INVERSE_GRID) + 0.5
        u, v = (g.ravel() for g in np.meshgrid(gx - self.crpix[0], gy - self.crpix[1]))
        big_u = u + _polynomial(self.sip_a, u, v)
        big_v = v + _polynomial(self.sip_b, u, v)
        degree = self.degree + 1
        terms = _terms(degree)
        scale = max(float(np.max(np.abs(big_u))), float(np.max(np.abs(big_v))), 1.0)
        design = np.stack([(big_u / scale) ** p * (big_v / scale) ** q for p, q in terms], axis=1)
        solution, *_ = np.linalg.lstsq(design, np.stack([u - big_u, v - big_v], axis=1), rcond=None)
        ap, bp = np.zeros((degree + 1, degree + 1)), np.zeros((degree + 1, degree + 1))
        for (p, q), (cu, cv) in zip(terms, solution, strict=True):
            ap[p, q] = cu / scale ** (p + q)
            bp[p, q] = cv / scale ** (p + q)
        return ap, bp


def fit_tan_sip(
    x: npt.ArrayLike,
    y: npt.ArrayLike,
    ra: npt.ArrayLike,
    dec: npt.ArrayLike,
    *,
    degree: int,
    crpix: tuple[float, float],
    crval: tuple[float, float],
) -> TanSip:
    """Least-squares TAN (degree 1) or TAN-SIP (degree 2, 3...) model through matched stars.

    CRPIX stays where it is given (the image centre is the usual choice, so the SIP polynomials
    are centred on the field); the tangent point starts at ``crval`` and moves onto the fit.

    Parameters
    ----------
    x, y : array_like of float
        Pixel positions of the stars, FITS 1-based px.
    ra, dec : array_like of float
        Their reference sky positions, deg.
    degree : int
        Total polynomial degree, >= 1.
    crpix : (float, float)
        Reference pixel, 1-based px.
    crval : (float, float)
        Starting tangent point, deg; within a few degrees of the stars.

    Returns
    -------
    TanSip

    Raises
    ------
    ValueError
        Fewer stars than coefficients per axis, or a degenerate (e.g. collinear) configuration.
    """
    u = np.asarray(x, dtype=np.float64) - crpix[0]
    v = np.asarray(y, dtype=np.float64) - crpix[1]
    ra_, dec_ = np.asarray(ra, dtype=np.float64), np.asarray(dec, dtype=np.float64)
    terms = _terms(degree)
    if u.size < len(terms):
        raise ValueError(f"a degree-{degree} fit needs at least {len(terms)} stars, got {u.size}")
    # Scaled columns keep the normal equations well conditioned for cubic terms of ~1000 px.
    scale = max(float(np.max(np.abs(u))), float(np.max(np.abs(v))), 1.0)
    design = np.stack([(u / scale) ** p * (v / scale) ** q for p, q in terms], axis=1)
    if np.linalg.matrix_rank(design) < len(terms):
        raise ValueError(f"the stars do not constrain a degree-{degree} fit (degenerate layout)")
    powers = np.array([scale ** (p + q) for p, q in terms])
    tangent = crval
    for round_ in range(TANGENT_POINT_ROUNDS):
        xi, eta = project(ra_, dec_, *tangent)
        solution, *_ = np.linalg.lstsq(design, np.stack([xi, eta], axis=1), rcond=None)
        coefficients = solution / powers[:, np.newaxis]
        constant = coefficients[0]
        if math.hypot(*constant) < TANGENT_POINT_TOLERANCE_DEG or round_ == TANGENT_POINT_ROUNDS - 1:
            break
        ra0, dec0 = deproject(constant[0], constant[1], *tangent)
        tangent = (float(ra0), float(dec0))
    cd = np.array([[coefficients[1, 0], coefficients[2, 0]], [coefficients[1, 1], coefficients[2, 1]]])
    # Whatever constant is left (far below a micro-arcsecond) goes into CRPIX, exactly for TAN.
    shift = np.linalg.solve(cd, constant)
    size = max(2, degree + 1)
    sip_a, sip_b = np.zeros((size, size)), np.zeros((size, size))
    inverse_cd = np.linalg.inv(cd)
    for (p, q), row in zip(terms[3:], coefficients[3:], strict=True):
        sip_a[p, q], sip_b[p, q] = inverse_cd @ row
    return TanSip(tangent, (crpix[0] - float(shift[0]), crpix[1] - float(shift[1])), cd, sip_a, sip_b)


def residuals_deg(
    model: TanSip, x: npt.ArrayLike, y: npt.ArrayLike, ra: npt.ArrayLike, dec: npt.ArrayLike
) -> tuple[Float64Array, Float64Array]:
    """Model minus reference positions on the model's tangent plane (d_xi, d_eta), deg."""
    xi_model, eta_model = model.intermediate(x, y)
    xi_ref, eta_ref = project(ra, dec, *model.crval)
    return xi_model - xi_ref, eta_model - eta_ref
