"""Masked pixels in aperture photometry: the frame's PSF (a Moffat fit) and the light masked pixels held.

Written here because sep has no equivalent of SExtractor's ``MASK_TYPE=CORRECT``: given a mask,
its aperture sums either leave masked pixels out or scale the sum by the aperture's area over its
unmasked area, as if the source were flat. Both are wrong for a star: a hot pixel in a wing holds
far less than the aperture's mean, a pixel of the core far more (sep's scaling biases a star with
one masked core pixel low by several per cent, and one with a masked wing pixel high by 1/area).

The light a masked pixel would have held is taken from the frame's PSF, not from the mirror pixel
across the centroid: the mirror of a pixel on a bad column through the core is on the column too,
near an edge it is off the image, and a mirrored pixel adds its own noise; the model has none of
these problems and gives, with the same numbers, the share the `~lco_core.sources.SourceFlag`
bits are based on. For an aperture ``A``, masked pixels ``K`` and a unit-flux PSF ``P`` centred
on the source, the masked share is

    s = integral of P over (A and K) / integral of P over A,

and the aperture flux is the sum of the unmasked pixels divided by ``1 - s``. The model is a
circular Moffat profile (Moffat 1969; Trujillo et al. 2001) fitted to the frame's bright isolated
stars: exact for point sources to the accuracy of that fit, approximate for extended sources,
which is why a source whose masked pixels carry a material share is flagged all the same.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import attrs
import numpy as np
import numpy.typing as npt
from scipy.optimize import least_squares

__all__ = [
    "DEFAULT_BETA",
    "MIN_PSF_STARS",
    "MODEL_SHARE_ERROR",
    "Apertures",
    "MoffatPsf",
    "correct_masked_flux",
    "fit_moffat_psf",
    "masked_shares",
]

Array = npt.NDArray[np.float64]

#: Moffat index assumed when too few stars to fit one: the value for Kolmogorov turbulence
#: (Trujillo et al. 2001, MNRAS 328, 977).
DEFAULT_BETA = 4.765
#: Relative error of a modelled masked share: a circular Moffat fitted to the frame describes
#: each star's light on a given pixel to about 10% (ellipticity, PSF variation across the
#: field); added to the flux error as ``MODEL_SHARE_ERROR x share x flux``.
MODEL_SHARE_ERROR = 0.1
#: Fewest stars a PSF fit rests on.
MIN_PSF_STARS = 3
#: Sub-pixel samples per axis when integrating the model over a pixel (sep's default ``subpix``).
_SUBPIX = 5
#: Pairs (source, masked pixel) handled at once: bounds memory to tens of MB.
_CHUNK = 50_000
#: Angles of the quadrature that integrates the PSF over an elliptical aperture.
_ANGLES = 128


@attrs.frozen
class MoffatPsf:
    """A circular Moffat PSF, ``P(r) = (beta - 1) / (pi alpha^2) (1 + r^2 / alpha^2)^-beta``.

    ``P`` integrates to 1 over the plane (per pixel area, pixels^-2).

    Attributes
    ----------
    alpha : float
        Core width, pixels.
    beta : float
        Moffat index (> 1; larger is closer to a Gaussian).
    n_stars : int
        Stars it was fitted to; 0 when assumed.
    """

    alpha: float
    beta: float
    n_stars: int

    @classmethod
    def assumed(cls, fwhm: float, beta: float = DEFAULT_BETA) -> MoffatPsf:
        """The Moffat of a given FWHM (pixels) and index, for frames with too few stars to fit.

        Parameters
        ----------
        fwhm : float
            FWHM, pixels.
        beta : float
            Moffat index.

        Returns
        -------
        MoffatPsf
        """
        return cls(fwhm / (2.0 * math.sqrt(2.0 ** (1.0 / beta) - 1.0)), beta, 0)

    @classmethod
    def of_fwhm(cls, fwhm: float, beta: float, n_stars: int) -> MoffatPsf:
        """The Moffat of a FWHM (pixels) and index, as fitted to ``n_stars`` stars.

        Parameters
        ----------
        fwhm : float
            FWHM, pixels.
        beta : float
            Moffat index (> 1).
        n_stars : int
            Stars it was fitted to (0: assumed).

        Returns
        -------
        MoffatPsf
        """
        return cls(fwhm / (2.0 * math.sqrt(2.0 ** (1.0 / beta) - 1.0)), beta, n_stars)

    @property
    def fwhm(self) -> float:
        """FWHM, pixels."""
        return 2.0 * self.alpha * math.sqrt(2.0 ** (1.0 / self.beta) - 1.0)

    def enclosed_fraction(self, radius: float) -> float:
        """Share of the light within a circle of ``radius`` pixels: ``1 - (1 + r^2/alpha^2)^(1 - beta)``.

        Parameters
        ----------
        radius : float
            Pixels.

        Returns
        -------
        float
        """
        return float(1.0 - (1.0 + (radius / self.alpha) ** 2) ** (1.0 - self.beta))

    def density(self, r2: npt.ArrayLike) -> Array:
        """The unit-flux profile at squared distances ``r2`` (pixels^2), per pixel^2.

        Parameters
        ----------
        r2 : array_like of float
            Squared distances from the centre, pixels^2.

        Returns
        -------
        ndarray of float64
        """
        norm = (self.beta - 1.0) / (math.pi * self.alpha**2)
        values: Array = norm * (1.0 + np.asarray(r2, dtype=np.float64) / self.alpha**2) ** -self.beta
        return values

    def enclosed(self, radius: npt.ArrayLike) -> Array:
        """Fraction of the light within ``radius`` (pixels) of the centre.

        Parameters
        ----------
        radius : array_like of float
            Radii, pixels.

        Returns
        -------
        ndarray of float64
        """
        r = np.asarray(radius, dtype=np.float64)
        values: Array = 1.0 - (1.0 + r**2 / self.alpha**2) ** (1.0 - self.beta)
        return values

    def enclosed_ellipse(self, semi_major: npt.ArrayLike, semi_minor: npt.ArrayLike) -> Array:
        """Fraction of the light within a centred ellipse of the given semi-axes (pixels).

        For a circular profile the light inside a star-shaped region of boundary ``rho(phi)`` is
        the mean over ``phi`` of the light within a circle of radius ``rho(phi)``.

        Parameters
        ----------
        semi_major, semi_minor : array_like of float
            Semi-axes, pixels.

        Returns
        -------
        ndarray of float64
        """
        big = np.asarray(semi_major, dtype=np.float64)[..., None]
        small = np.asarray(semi_minor, dtype=np.float64)[..., None]
        phi = (np.arange(_ANGLES) + 0.5) * (2.0 * np.pi / _ANGLES)
        with np.errstate(divide="ignore", invalid="ignore"):
            rho = big * small / np.hypot(small * np.cos(phi), big * np.sin(phi))
        values: Array = np.mean(self.enclosed(np.nan_to_num(rho, nan=0.0)), axis=-1)
        return values


@attrs.frozen(eq=False)
class Apertures:
    """Elliptical apertures, ``k`` per source (a circle has equal semi-axes), 0-based pixels.

    Every array has shape ``(n_sources, k)`` (anything that broadcasts to it).

    Attributes
    ----------
    x, y : ndarray of float
        Centres, 0-based pixels.
    semi_major, semi_minor : ndarray of float
        Semi-axes, pixels.
    theta : ndarray of float
        Position angle of the major axis, counter-clockwise from +x, radians.
    """

    x: Array
    y: Array
    semi_major: Array
    semi_minor: Array
    theta: Array

    def broadcast(self) -> tuple[Array, Array, Array, Array, Array]:
        """The five arrays broadcast to ``(n_sources, k)``.

        Returns
        -------
        tuple of ndarray
        """
        arrays = np.broadcast_arrays(
            *(
                np.asarray(a, dtype=np.float64)
                for a in (self.x, self.y, self.semi_major, self.semi_minor, self.theta)
            )
        )
        x, y, big, small, theta = (np.array(a, dtype=np.float64, ndmin=2) for a in arrays)
        return x, y, big, small, theta


def masked_shares(
    psf: MoffatPsf,
    mask: npt.NDArray[np.uint8],
    groups: Sequence[int],
    x: npt.ArrayLike,
    y: npt.ArrayLike,
    apertures: Apertures,
) -> Array:
    """Share of each aperture's PSF light that falls on masked pixels, per group of mask bits.

    A pixel belongs to group ``g`` when ``mask & groups[g]`` is non-zero; the PSF is centred on
    ``(x, y)`` (0-based) and integrated over each masked pixel's part inside the aperture on a
    5 x 5 sub-pixel grid (as sep samples aperture edges), and over the whole aperture by
    quadrature (the aperture taken as centred on the PSF: centre offsets of a fraction of a pixel
    change that integral by far less than the share's own accuracy). Parts of an aperture off
    the image count as unmasked (such sources are flagged as truncated).

    Parameters
    ----------
    psf : MoffatPsf
        The frame's PSF.
    mask : ndarray of uint8
        The frame's mask bits.
    groups : sequence of int
        Mask bits per group.
    x, y : array_like of float
        PSF centres, 0-based pixels, one per source.
    apertures : Apertures
        ``k`` apertures per source.

    Returns
    -------
    ndarray of float64, shape (len(groups), n_sources, k)
        Masked shares, 0 to 1.
    """
    cx = np.atleast_1d(np.asarray(x, dtype=np.float64))
    cy = np.atleast_1d(np.asarray(y, dtype=np.float64))
    n = cx.size
    ax, ay, big, small, theta = apertures.broadcast()
    if ax.shape[0] != n and n:
        ax, ay, big, small, theta = (np.broadcast_to(a, (n, a.shape[1])) for a in (ax, ay, big, small, theta))
    k = ax.shape[1]
    masked_light = np.zeros((len(groups), n, k))
    bits = np.array(groups, dtype=np.int64)
    union = (mask & np.uint8(int(np.bitwise_or.reduce(bits)) if bits.size else 0)) != 0
    if n and union.any():
        source, py, px = _pairs(union, cx, cy, ax, ay, big)
        offsets = (np.arange(_SUBPIX) + 0.5) / _SUBPIX - 0.5
        sub_x = np.tile(offsets, _SUBPIX)
        sub_y = np.repeat(offsets, _SUBPIX)
        member = (mask[py, px].astype(np.int64)[:, None] & bits[None, :]) != 0
        cos, sin = np.cos(theta), np.sin(theta)
        for start in range(0, source.size, _CHUNK):
            part = slice(start, start + _CHUNK)
            i = source[part]
            sx = px[part, None] + sub_x[None, :]
            sy = py[part, None] + sub_y[None, :]
            light = psf.density((sx - cx[i, None]) ** 2 + (sy - cy[i, None]) ** 2) / _SUBPIX**2
            for j in range(k):
                dx = sx - ax[i, j, None]
                dy = sy - ay[i, j, None]
                u = (dx * cos[i, j, None] + dy * sin[i, j, None]) / big[i, j, None]
                v = (dy * cos[i, j, None] - dx * sin[i, j, None]) / small[i, j, None]
                inside_light = np.sum(np.where(u**2 + v**2 <= 1.0, light, 0.0), axis=1)
                for g in range(len(groups)):
                    masked_light[g, :, j] += np.bincount(
                        i, weights=np.where(member[part, g], inside_light, 0.0), minlength=n
                    )
    total = psf.enclosed_ellipse(big, small)
    with np.errstate(divide="ignore", invalid="ignore"):
        shares: Array = np.clip(np.where(total > 0, masked_light / total[None], 0.0), 0.0, 1.0)
    return shares


def _pairs(
    union: npt.NDArray[np.bool_], cx: Array, cy: Array, ax: Array, ay: Array, big: Array
) -> tuple[npt.NDArray[np.intp], npt.NDArray[np.intp], npt.NDArray[np.intp]]:
    """Every (source, masked pixel) pair within reach of one of the source's apertures."""
    ny, nx = union.shape
    reach = np.max(np.hypot(ax - cx[:, None], ay - cy[:, None]) + big, axis=1) + 1.0
    sources: list[npt.NDArray[np.intp]] = []
    rows: list[npt.NDArray[np.intp]] = []
    cols: list[npt.NDArray[np.intp]] = []
    # A loop over sources, each looking only at its own box: a few microseconds per source,
    # where a tree over every masked pixel would cost seconds on a frame with a masked region.
    for index in range(cx.size):
        if not (math.isfinite(cx[index]) and math.isfinite(cy[index]) and math.isfinite(reach[index])):
            continue
        x0, x1 = max(int(cx[index] - reach[index]), 0), min(int(cx[index] + reach[index]) + 2, nx)
        y0, y1 = max(int(cy[index] - reach[index]), 0), min(int(cy[index] + reach[index]) + 2, ny)
        if x0 >= x1 or y0 >= y1:
            continue
        yy, xx = np.nonzero(union[y0:y1, x0:x1])
        if yy.size:
            sources.append(np.full(yy.size, index, dtype=np.intp))
            rows.append(yy + y0)
            cols.append(xx + x0)
    if not sources:
        empty = np.empty(0, dtype=np.intp)
        return empty, empty, empty
    return np.concatenate(sources), np.concatenate(rows), np.concatenate(cols)


def correct_masked_flux(
    unmasked: npt.ArrayLike, unmasked_error: npt.ArrayLike, share: npt.ArrayLike
) -> tuple[Array, Array]:
    """Aperture fluxes with the light of their masked pixels restored from the PSF model.

    Parameters
    ----------
    unmasked, unmasked_error : array_like of float
        Sum of the aperture's unmasked pixels and its 1-sigma error, electrons.
    share : array_like of float
        The aperture's masked share (`masked_shares`), 0 to 1.

    Returns
    -------
    flux, flux_error : ndarray of float64
        ``unmasked / (1 - share)``, electrons; the error adds ``MODEL_SHARE_ERROR x share x
        flux`` in quadrature to the scaled measurement error. NaN where (nearly) everything is
        masked (share above 0.999).
    """
    u = np.asarray(unmasked, dtype=np.float64)
    e = np.asarray(unmasked_error, dtype=np.float64)
    s = np.asarray(share, dtype=np.float64)
    kept = np.where(s < 0.999, 1.0 - s, np.nan)
    flux: Array = u / kept
    error: Array = np.hypot(e / kept, MODEL_SHARE_ERROR * s * flux)
    return flux, error


def fit_moffat_psf(
    image: npt.NDArray[np.float32],
    error: npt.NDArray[np.floating],
    usable: npt.NDArray[np.bool_],
    x: npt.ArrayLike,
    y: npt.ArrayLike,
    *,
    fwhm_guess: float,
) -> MoffatPsf | None:
    """One circular Moffat fitted jointly to stars of a background-subtracted image.

    Each star has its own amplitude and constant (solved linearly for every trial profile); the
    profile (``alpha``, ``beta``) is shared and fitted by robust (soft-L1) least squares on the
    pixels' normalised residuals, the model integrated over each pixel on a 3 x 3 grid. Unusable
    pixels (masked, or without a positive error) carry no weight.

    Parameters
    ----------
    image : ndarray of float32
        Background-subtracted image, electrons.
    error : ndarray
        1-sigma error of each pixel, electrons.
    usable : ndarray of bool
        Pixels the fit may use.
    x, y : array_like of float
        0-based centres of isolated, unsaturated stars (kept fixed).
    fwhm_guess : float
        Rough FWHM, pixels (sets the stamps' size: 2 FWHM each side, 4 to 20 pixels).

    Returns
    -------
    MoffatPsf or None
        None with fewer than `MIN_PSF_STARS` stars on the image, or when the fit fails.
    """
    cx = np.atleast_1d(np.asarray(x, dtype=np.float64))
    cy = np.atleast_1d(np.asarray(y, dtype=np.float64))
    if not (math.isfinite(fwhm_guess) and fwhm_guess > 0):
        return None
    half = int(np.clip(math.ceil(2.0 * fwhm_guess), 4, 20))
    ny, nx = image.shape
    xi, yi = np.round(cx).astype(np.int64), np.round(cy).astype(np.int64)
    inside = (xi - half >= 0) & (yi - half >= 0) & (xi + half < nx) & (yi + half < ny)
    cx, cy, xi, yi = cx[inside], cy[inside], xi[inside], yi[inside]
    if cx.size < MIN_PSF_STARS:
        return None
    offsets = np.arange(-half, half + 1)
    rows = yi[:, None, None] + offsets[None, :, None]
    cols = xi[:, None, None] + offsets[None, None, :]
    values = image[rows, cols].astype(np.float64).reshape(cx.size, -1)
    sigma = np.asarray(error, dtype=np.float64)[rows, cols].reshape(cx.size, -1)
    ok = usable[rows, cols].reshape(cx.size, -1) & np.isfinite(sigma) & (sigma > 0) & np.isfinite(values)
    weight = np.where(ok, 1.0 / np.where(ok, sigma, 1.0), 0.0)
    values = np.where(ok, values, 0.0)
    sub = (np.arange(3) - 1.0) / 3.0
    shape = (cx.size, 2 * half + 1, 2 * half + 1)
    dx = np.broadcast_to(cols - cx[:, None, None], shape).reshape(cx.size, -1, 1) + np.tile(sub, 3)
    dy = np.broadcast_to(rows - cy[:, None, None], shape).reshape(cx.size, -1, 1) + np.repeat(sub, 3)
    r2 = dx**2 + dy**2
    w2 = weight**2
    s11 = np.sum(w2, axis=1)
    s1d = np.sum(w2 * values, axis=1)

    def residuals(params: Array) -> Array:
        alpha, beta = math.exp(params[0]), params[1]
        model = np.mean((1.0 + r2 / alpha**2) ** -beta, axis=2)
        smm = np.sum(w2 * model**2, axis=1)
        sm1 = np.sum(w2 * model, axis=1)
        smd = np.sum(w2 * model * values, axis=1)
        det = smm * s11 - sm1**2
        det = np.where(det > 0, det, np.inf)
        amplitude = (smd * s11 - sm1 * s1d) / det
        constant = (smm * s1d - sm1 * smd) / det
        out: Array = (weight * (values - amplitude[:, None] * model - constant[:, None])).ravel()
        return out

    lower, upper = np.array([math.log(0.3), 1.2]), np.array([math.log(50.0), 10.0])
    start = MoffatPsf.assumed(fwhm_guess, 3.0)
    first = np.clip([math.log(start.alpha), start.beta], lower + 1e-6, upper - 1e-6)
    try:
        result = least_squares(
            residuals, first, bounds=(lower, upper), loss="soft_l1", f_scale=3.0, max_nfev=200
        )
    except np.linalg.LinAlgError:
        return None
    alpha, beta = math.exp(float(result.x[0])), float(result.x[1])
    if not (result.success and math.isfinite(alpha) and math.isfinite(beta)):
        return None
    return MoffatPsf(alpha, beta, int(cx.size))
