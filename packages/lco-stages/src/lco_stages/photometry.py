"""Photometric zero point: cross-match with reference stars, a robust deterministic fit, magnitudes.

The convention is LCO's (BANZAI's ``L1ZP``): for a source of ``flux`` counts in ``exptime`` s,

    mag = zero_point - 2.5 log10(flux / exptime) + colour_term x colour,

so the zero point is the magnitude of a source giving one count per second, at colour 0 when a
colour term is fitted (``colour`` is a reference colour such as g - r, in mag).

The fit works on the per-star zero points ``y = ref_mag + 2.5 log10(flux / exptime)``:

1. start from the median of ``y`` and reject ``|y - median| > nsigma x robust std``
   (robust std = 1.4826 x MAD), which removes blends, saturated stars and mismatches before any
   weighting can be pulled by them;
2. fit ``y = zp (+ colour_term x colour)`` by weighted least squares with weights
   ``1 / (sigma_i**2 + s**2)``: ``sigma_i`` adds in quadrature the flux error in mag
   (``2.5 / ln 10 x flux_error / flux``), the reference error and a floor (0.01 mag by default:
   flat-field and aperture systematics no error bar carries); ``s`` is the extra scatter the
   data show beyond their error bars, solved so that the robust std of the normalised residuals
   is 1 (so a frame whose error bars are too small is not over-confident);
3. clip stars whose normalised residual exceeds ``nsigma`` times its robust std, refit, and
   repeat until the kept set stops changing (at most ``maxiters`` times; a rejected star may
   return when the model moves, and a star flipping in and out is left out). A star within
   ``nsigma x floor`` of the model is never clipped.

Everything is plain numpy in a fixed order: the same input gives bit-identical output.
``error`` is the standard error of the zero point from the weighted fit, inflated by the
square root of the reduced chi-square when that exceeds 1.
"""

from __future__ import annotations

import math

import attrs
import numpy as np
import numpy.typing as npt
from scipy.spatial import cKDTree

from lco_core._arrays import Float64Array
from lco_core.errors import ShapeMismatchError
from lco_core.stats import MAD_TO_STD

__all__ = [
    "DEFAULT_FLOOR",
    "MAG_PER_RELATIVE_FLUX",
    "ZeroPoint",
    "calibrate_magnitudes",
    "cross_match",
    "fit_zero_point",
]

IndexArray = npt.NDArray[np.intp]
BoolArray = npt.NDArray[np.bool_]

#: Magnitude error per unit relative flux error, 2.5 / ln 10 (about 1.0857).
MAG_PER_RELATIVE_FLUX = 2.5 / math.log(10.0)
#: Error floor added in quadrature to every star, mag.
DEFAULT_FLOOR = 0.01
#: A colour term needs calibrators spanning at least this range of colour, mag.
MIN_COLOUR_RANGE = 0.1
#: Inner iterations between the weighted fit and the extra-scatter estimate.
_SCATTER_ITERATIONS = 50
#: Bisection steps for the extra scatter: halves the bracket each time, far below 1e-6 mag.
_BISECTION_STEPS = 100


@attrs.frozen
class ZeroPoint:
    """A fitted photometric zero point (header keywords L1ZP, L1ZPERR and the colour term).

    Attributes
    ----------
    zero_point : float
        L1ZP, mag: ``mag = zero_point - 2.5 log10(flux / exptime) + colour_term x colour``.
        NaN when the fit did not succeed.
    error : float
        L1ZPERR, mag: standard error of ``zero_point``, including the scatter of the stars.
    colour_term : float or None
        Colour coefficient, mag per mag of colour; None when no colour term was fitted.
    colour : (str, str) or None
        The bands of the colour, e.g. ``("g", "r")`` for g - r; None without a colour term.
    n_stars : int
        Stars used after clipping (when failed: stars that were usable at all).
    scatter : float
        Robust rms (1.4826 x MAD) of the kept stars' residuals, mag.
    succeeded : bool
        Whether the fit produced a zero point.
    reason : str
        One line: what was fitted, or why nothing could be.
    """

    zero_point: float
    error: float
    colour_term: float | None
    colour: tuple[str, str] | None
    n_stars: int
    scatter: float
    succeeded: bool
    reason: str


def _vector(values: npt.ArrayLike, name: str) -> Float64Array:
    array: Float64Array = np.asarray(values, dtype=np.float64)
    if array.ndim != 1:
        raise ShapeMismatchError(f"{name} must be one-dimensional, got shape {array.shape}")
    return array


def _same_length(**arrays: Float64Array) -> None:
    lengths = {name: len(array) for name, array in arrays.items()}
    if len(set(lengths.values())) > 1:
        raise ShapeMismatchError(f"arrays must share a length, got {lengths}")


def _unit_vectors(ra: Float64Array, dec: Float64Array) -> Float64Array:
    alpha, delta = np.radians(ra), np.radians(dec)
    vectors: Float64Array = np.column_stack(
        [np.cos(delta) * np.cos(alpha), np.cos(delta) * np.sin(alpha), np.sin(delta)]
    )
    return vectors


def cross_match(
    ra: npt.ArrayLike,
    dec: npt.ArrayLike,
    ref_ra: npt.ArrayLike,
    ref_dec: npt.ArrayLike,
    *,
    radius_arcsec: float = 1.0,
) -> tuple[IndexArray, IndexArray, Float64Array]:
    """Pair each source with its nearest reference star within a radius, one to one.

    Parameters
    ----------
    ra, dec : array_like of float
        Source positions, deg.
    ref_ra, ref_dec : array_like of float
        Reference star positions, deg.
    radius_arcsec : float
        Largest separation of a pair (inclusive), arcsec.

    Returns
    -------
    source_index, reference_index : int arrays
        Matched pairs, sorted by source index.
    separation : float64 array
        Separation of each pair, arcsec.

    Notes
    -----
    The search is a KD-tree on unit vectors, so RA wrapping at 0/360 deg and the poles need no
    special case. Each source takes its nearest reference star; when several sources share one,
    only the closest keeps it (ties: the lowest source index) and the others stay unmatched:
    two detections on one reference star are a blend or a split source, not a calibrator.
    Non-finite positions never match.
    """
    ra_, dec_ = _vector(ra, "ra"), _vector(dec, "dec")
    ref_ra_, ref_dec_ = _vector(ref_ra, "ref_ra"), _vector(ref_dec, "ref_dec")
    _same_length(ra=ra_, dec=dec_)
    _same_length(ref_ra=ref_ra_, ref_dec=ref_dec_)
    if not (math.isfinite(radius_arcsec) and radius_arcsec > 0):
        raise ValueError(f"radius_arcsec must be a positive number, got {radius_arcsec}")
    sources = np.flatnonzero(np.isfinite(ra_) & np.isfinite(dec_))
    references = np.flatnonzero(np.isfinite(ref_ra_) & np.isfinite(ref_dec_))
    if sources.size == 0 or references.size == 0:
        return np.empty(0, np.intp), np.empty(0, np.intp), np.empty(0, np.float64)
    tree = cKDTree(_unit_vectors(ref_ra_[references], ref_dec_[references]))
    chord = 2.0 * math.sin(math.radians(radius_arcsec / 3600.0) / 2.0)
    # A hair beyond the radius so the tree's bound cannot drop a pair at exactly the radius;
    # the inclusive cut on the angle follows.
    query_distance, query_index = tree.query(
        _unit_vectors(ra_[sources], dec_[sources]), k=1, distance_upper_bound=chord * (1.0 + 1e-9)
    )
    distance = np.asarray(query_distance, dtype=np.float64)
    nearest = np.asarray(query_index, dtype=np.intp)
    found = np.isfinite(distance)
    source_index = sources[found]
    reference_index = references[nearest[found]]
    separation = np.degrees(2.0 * np.arcsin(np.minimum(distance[found] / 2.0, 1.0))) * 3600.0
    within = separation <= radius_arcsec
    source_index, reference_index, separation = (
        source_index[within],
        reference_index[within],
        separation[within],
    )
    by_closeness = np.lexsort((source_index, separation))
    _, first = np.unique(reference_index[by_closeness], return_index=True)
    chosen = np.sort(by_closeness[first])
    return source_index[chosen], reference_index[chosen], separation[chosen]


@attrs.frozen(eq=False)
class _Fit:
    params: Float64Array  # zp, or (zp, colour term), mag
    covariance: Float64Array  # of params, before any chi-square inflation
    extra_variance: float  # s**2, mag**2


def _weighted_least_squares(
    y: Float64Array, colour: Float64Array | None, variance: Float64Array
) -> tuple[Float64Array, Float64Array]:
    """Weighted fit of y = a (+ b x colour): parameters and their covariance.

    The colour is centred on its weighted mean first, which decouples the two parameters and
    keeps the normal equations well conditioned.
    """
    weight = 1.0 / variance
    total = float(np.sum(weight))
    y_mean = float(np.sum(weight * y)) / total
    if colour is None:
        return np.array([y_mean]), np.array([[1.0 / total]])
    c_mean = float(np.sum(weight * colour)) / total
    centred = colour - c_mean
    sxx = float(np.sum(weight * centred * centred))
    if not sxx > 0.0:
        return np.array([y_mean, 0.0]), np.array([[np.inf, np.inf], [np.inf, np.inf]])
    slope = float(np.sum(weight * centred * (y - y_mean))) / sxx
    intercept = y_mean - slope * c_mean
    covariance = np.array(
        [[1.0 / total + c_mean**2 / sxx, -c_mean / sxx], [-c_mean / sxx, 1.0 / sxx]], dtype=np.float64
    )
    return np.array([intercept, slope]), covariance


def _robust_normalised_spread(residual: Float64Array, variance: Float64Array, extra: float) -> float:
    return MAD_TO_STD * float(np.median(np.abs(residual) / np.sqrt(variance + extra)))


def _extra_variance(residual: Float64Array, variance: Float64Array) -> float:
    """The s**2 >= 0 (mag**2) making the robust std of residual / sqrt(variance + s**2) equal 1.

    The spread falls monotonically as s**2 grows, so bisection finds it; 0 when the error bars
    already cover the scatter.
    """
    if _robust_normalised_spread(residual, variance, 0.0) <= 1.0:
        return 0.0
    low, high = 0.0, (MAD_TO_STD * float(np.median(np.abs(residual)))) ** 2
    for _ in range(_BISECTION_STEPS):
        middle = 0.5 * (low + high)
        if middle <= low or middle >= high:
            break
        if _robust_normalised_spread(residual, variance, middle) > 1.0:
            low = middle
        else:
            high = middle
    return high


def _model(params: Float64Array, colour: Float64Array | None) -> Float64Array | float:
    if colour is None:
        return float(params[0])
    model: Float64Array = params[0] + params[1] * colour
    return model


def _fit_kept(y: Float64Array, colour: Float64Array | None, variance: Float64Array, keep: BoolArray) -> _Fit:
    """Weighted fit of the kept stars with the extra scatter solved alongside."""
    y_kept, var_kept = y[keep], variance[keep]
    colour_kept = None if colour is None else colour[keep]
    extra = 0.0
    for _ in range(_SCATTER_ITERATIONS):
        params, _ = _weighted_least_squares(y_kept, colour_kept, var_kept + extra)
        updated = _extra_variance(y_kept - _model(params, colour_kept), var_kept)
        converged = abs(updated - extra) <= 1e-12 + 1e-6 * extra
        extra = updated
        if converged:
            break
    params, covariance = _weighted_least_squares(y_kept, colour_kept, var_kept + extra)
    return _Fit(params, covariance, extra)


def _failed(n_stars: int, reason: str) -> ZeroPoint:
    return ZeroPoint(math.nan, math.nan, None, None, n_stars, math.nan, False, reason)


def fit_zero_point(
    instrumental_flux: npt.ArrayLike,
    flux_error: npt.ArrayLike,
    exptime: float,
    reference_mag: npt.ArrayLike,
    reference_mag_error: npt.ArrayLike | None = None,
    *,
    colour: npt.ArrayLike | None = None,
    colour_bands: tuple[str, str] | None = None,
    nsigma: float = 3.0,
    maxiters: int = 10,
    min_stars: int = 5,
    floor: float = DEFAULT_FLOOR,
) -> ZeroPoint:
    """Fit the zero point (and optionally a colour term) of matched stars, robustly.

    Parameters
    ----------
    instrumental_flux : array_like of float
        Flux of each matched star in the whole exposure, counts (e-). Non-positive or
        non-finite fluxes are left out. Pass only stars fit to calibrate (unflagged, unsaturated).
    flux_error : array_like of float
        1-sigma flux errors, same units; stars without a finite, non-negative one are left out.
    exptime : float
        Exposure time, s (> 0).
    reference_mag : array_like of float
        Catalogue magnitude of each star in the filter's band, mag.
    reference_mag_error : array_like of float, optional
        Catalogue magnitude errors, mag; missing (NaN) counts as 0 (the floor remains).
    colour : array_like of float, optional
        Catalogue colour of each star (e.g. g - r), mag. When given, a colour term is fitted on
        the stars that have one, provided at least ``max(min_stars, 3)`` do and their colours span
        ``MIN_COLOUR_RANGE``; otherwise the zero point alone is fitted and ``reason`` says why.
    colour_bands : (str, str), optional
        Names of the colour's bands, recorded in ``ZeroPoint.colour``.
    nsigma : float
        Clipping threshold, in robust standard deviations.
    maxiters : int
        Most clip-and-refit iterations.
    min_stars : int
        Fewest stars a fit may rest on (>= 2); fewer gives ``succeeded=False``.
    floor : float
        Error floor added in quadrature to every star, mag.

    Returns
    -------
    ZeroPoint
    """
    flux = _vector(instrumental_flux, "instrumental_flux")
    flux_err = _vector(flux_error, "flux_error")
    ref = _vector(reference_mag, "reference_mag")
    ref_err = (
        np.zeros_like(ref)
        if reference_mag_error is None
        else _vector(reference_mag_error, "reference_mag_error")
    )
    _same_length(instrumental_flux=flux, flux_error=flux_err, reference_mag=ref, reference_mag_error=ref_err)
    if not (math.isfinite(exptime) and exptime > 0):
        raise ValueError(f"exptime must be a positive number of seconds, got {exptime}")
    if not nsigma > 0 or maxiters < 1 or min_stars < 2 or not floor >= 0:
        raise ValueError(
            f"need nsigma > 0, maxiters >= 1, min_stars >= 2, floor >= 0; "
            f"got {nsigma}, {maxiters}, {min_stars}, {floor}"
        )

    with np.errstate(divide="ignore", invalid="ignore"):
        y = ref + 2.5 * np.log10(flux / exptime)
        flux_mag_err = MAG_PER_RELATIVE_FLUX * flux_err / flux
    usable = (flux > 0) & np.isfinite(y) & np.isfinite(flux_mag_err) & (flux_err >= 0)
    variance = flux_mag_err**2 + np.nan_to_num(ref_err, nan=0.0) ** 2 + floor**2

    colour_values: Float64Array | None = None
    notes: list[str] = []
    needed = min_stars
    if colour is not None:
        candidate = _vector(colour, "colour")
        _same_length(reference_mag=ref, colour=candidate)
        with_colour = usable & np.isfinite(candidate)
        count = int(np.count_nonzero(with_colour))
        span = float(np.ptp(candidate[with_colour])) if count else 0.0
        if count < max(min_stars, 3):
            notes.append(f"colour term not fitted: only {count} stars with a colour")
        elif span < MIN_COLOUR_RANGE:
            notes.append(f"colour term not fitted: colours span only {span:.3f} mag")
        else:
            colour_values, usable, needed = candidate, with_colour, max(min_stars, 3)

    n_usable = int(np.count_nonzero(usable))
    if n_usable < needed:
        return _failed(n_usable, f"only {n_usable} usable stars (need {needed})")

    # Robust start: the median and MAD of the per-star zero points, before any weighting.
    centre = float(np.median(y[usable]))
    spread = MAD_TO_STD * float(np.median(np.abs(y[usable] - centre)))
    # Deviations within nsigma x floor are never outliers: without this bound, data better than
    # the floor (or exact) would be clipped at the level of their rounding.
    keep = usable & (np.abs(y - centre) <= nsigma * max(spread, floor))
    if int(np.count_nonzero(keep)) < needed:
        return _failed(
            n_usable, f"only {int(np.count_nonzero(keep))} stars within {nsigma:g} sigma of the median"
        )

    converged = False
    seen = {keep.tobytes()}
    for _ in range(maxiters):
        fit = _fit_kept(y, colour_values, variance, keep)
        total = np.sqrt(variance + fit.extra_variance)
        with np.errstate(invalid="ignore"):
            residual = y - _model(fit.params, colour_values)
        scale = MAD_TO_STD * float(np.median(np.abs(residual[keep]) / total[keep]))
        with np.errstate(invalid="ignore"):
            updated = usable & (np.abs(residual) <= nsigma * np.maximum(scale * total, floor))
        if int(np.count_nonzero(updated)) < needed:
            notes.append(f"clipping stopped before leaving fewer than {needed} stars")
            converged = True
            break
        if np.array_equal(updated, keep):
            converged = True
            break
        if updated.tobytes() in seen:
            # A star on the clipping boundary flips in and out as the fit moves by a hair:
            # settle the cycle deterministically by leaving out whatever was in doubt.
            settled = keep & updated
            keep = settled if int(np.count_nonzero(settled)) >= needed else keep
            converged = True
            break
        seen.add(updated.tobytes())
        keep = updated
    if not converged:
        notes.append(f"clipping not converged after {maxiters} iterations")

    fit = _fit_kept(y, colour_values, variance, keep)
    n_kept = int(np.count_nonzero(keep))
    residual = y[keep] - _model(fit.params, None if colour_values is None else colour_values[keep])
    total_variance = variance[keep] + fit.extra_variance
    parameters = len(fit.params)
    reduced_chi2 = float(np.sum(residual**2 / total_variance)) / max(n_kept - parameters, 1)
    error = math.sqrt(float(fit.covariance[0, 0])) * math.sqrt(max(1.0, reduced_chi2))
    scatter = MAD_TO_STD * float(np.median(np.abs(residual - np.median(residual))))
    if not math.isfinite(error):
        return _failed(n_usable, "zero-point error is not finite (degenerate colours)")

    colour_term = None if colour_values is None else float(fit.params[1])
    summary = (
        f"{n_kept} stars, {n_usable - n_kept} clipped, extra scatter {math.sqrt(fit.extra_variance):.3f} mag"
    )
    return ZeroPoint(
        zero_point=float(fit.params[0]),
        error=error,
        colour_term=colour_term,
        colour=colour_bands if colour_values is not None else None,
        n_stars=n_kept,
        scatter=scatter,
        succeeded=True,
        reason="; ".join([summary, *notes]),
    )


def calibrate_magnitudes(
    flux: npt.ArrayLike,
    flux_error: npt.ArrayLike,
    exptime: float,
    zp: ZeroPoint,
    colour_values: npt.ArrayLike | None = None,
) -> tuple[Float64Array, Float64Array]:
    """Calibrated magnitudes of sources (the CAT's mag and magerr).

    Parameters
    ----------
    flux, flux_error : array_like of float
        Fluxes and 1-sigma errors in the whole exposure, counts (e-).
    exptime : float
        Exposure time, s (> 0).
    zp : ZeroPoint
        The frame's fit.
    colour_values : array_like of float, optional
        Catalogue colour of each source, mag (NaN where unknown). The colour term is applied
        only where a colour is known; elsewhere the magnitude is that of a colour-0 source,
        as BANZAI writes its CAT.

    Returns
    -------
    mag, magerr : float64 arrays
        mag; NaN for non-positive fluxes or a failed fit. ``magerr`` adds the flux error
        (``2.5 / ln 10 x flux_error / flux``) and the zero-point error in quadrature.
    """
    flux_ = _vector(flux, "flux")
    flux_err = _vector(flux_error, "flux_error")
    _same_length(flux=flux_, flux_error=flux_err)
    if not (math.isfinite(exptime) and exptime > 0):
        raise ValueError(f"exptime must be a positive number of seconds, got {exptime}")
    positive = flux_ > 0
    with np.errstate(divide="ignore", invalid="ignore"):
        mag = np.where(positive, zp.zero_point - 2.5 * np.log10(flux_ / exptime), np.nan)
        magerr = np.where(positive, np.hypot(MAG_PER_RELATIVE_FLUX * flux_err / flux_, zp.error), np.nan)
    if zp.colour_term is not None and colour_values is not None:
        colour = _vector(colour_values, "colour_values")
        _same_length(flux=flux_, colour_values=colour)
        mag = mag + np.where(np.isfinite(colour), zp.colour_term * colour, 0.0)
    return mag.astype(np.float64), magerr.astype(np.float64)
