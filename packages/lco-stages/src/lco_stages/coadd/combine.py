"""Per-pixel sigma clipping across the resampled inputs, then their weighted mean.

The clip follows `lco_core.stats` and the masters' stack: median and robust standard deviation
(1.4826 x MAD) of the usable values, values with ``|x - median| > nsigma x rstd`` (strict)
rejected, ``maxiters`` passes. It is written here in numpy rather than through
`lco_core.stacking.stack` because that kernel returns the unweighted clipped mean, not which values
it kept, and the coadd needs the kept set to form an inverse-variance weighted mean.
"""

from __future__ import annotations

import attrs
import numpy as np
import numpy.typing as npt

__all__ = ["MAD_TO_STD", "Combined", "clip_mask", "combine"]

MAD_TO_STD = 1.4826

Floats = npt.NDArray[np.float32]
Bools = npt.NDArray[np.bool_]


@attrs.frozen(eq=False)
class Combined:
    """The weighted mean of the kept values per pixel.

    Attributes
    ----------
    data : ndarray of float32, shape (rows, nx)
        Weighted mean; 0 where nothing was kept.
    variance : ndarray of float32
        ``sum w_i^2 var_i / (sum w_i)^2`` over the kept inputs; 0 where nothing was kept.
    uncorrelated : ndarray of float32
        The same sum of the inputs' uncorrelated variances (the noise-correlation factor's
        numerator).
    n_kept : ndarray of uint16
        Inputs kept per pixel.
    """

    data: Floats
    variance: Floats
    uncorrelated: Floats
    n_kept: npt.NDArray[np.uint16]


def _middle(ordered: npt.NDArray[np.float32], count: npt.NDArray[np.intp]) -> npt.NDArray[np.float64]:
    """Median of each column of values sorted along axis 0 (NaN last), ``count`` finite ones."""
    low = np.maximum((count - 1) // 2, 0)[np.newaxis]
    high = np.maximum(count // 2, 0)[np.newaxis]
    lo = np.take_along_axis(ordered, low, axis=0)[0].astype(np.float64)
    hi = np.take_along_axis(ordered, high, axis=0)[0].astype(np.float64)
    middle: npt.NDArray[np.float64] = 0.5 * (lo + hi)
    return middle


def clip_mask(
    values: Floats,
    *,
    nsigma: float,
    maxiters: int,
    ampfrac: float = 0.0,
    sky: float = 0.0,
    noise: Floats | None = None,
) -> Bools:
    """Which values survive the per-pixel sigma clip across axis 0.

    Parameters
    ----------
    values : ndarray of float32, shape (N, rows, nx)
        NaN where an input gives nothing.
    nsigma : float
        Rejection threshold, robust standard deviations (strict ``>``).
    maxiters : int
        Passes; rejected values stay rejected; stops when nothing changes.
    ampfrac : float
        The threshold grows by this fraction of the median's height above ``sky``: SWarp's
        CLIP_AMPFRAC (Gruen et al. 2014). Inputs of different seeing differ across a star's
        profile by far more than their noise (the sharper ones higher in the core, the broader
        ones in the wings); clipping them there would bias the star's flux.
    sky : float
        The sky level, units of ``values``.
    noise : ndarray of float32, shape (N, rows, nx), optional
        Each value's own 1-sigma uncertainty: the robust standard deviation is never taken below
        the median of the usable values' ones. The MAD of a handful of values is a noisy
        estimate; a chance small one would reject good values, costing depth for nothing.

    Returns
    -------
    ndarray of bool, shape (N, rows, nx)
        True where a value is kept.
    """
    keep = np.isfinite(values)
    for _ in range(maxiters):
        current = np.where(keep, values, np.float32(np.nan))
        count = keep.sum(axis=0)
        # np.sort puts NaN last, so the first ``count`` values of each pixel are its usable ones.
        center = _middle(np.sort(current, axis=0), count)
        deviation = np.abs(current - center).astype(np.float32)
        spread = MAD_TO_STD * _middle(np.sort(deviation, axis=0), count)
        if noise is not None:
            floor = _middle(np.sort(np.where(keep, noise, np.float32(np.nan)), axis=0), count)
            spread = np.fmax(spread, floor)
        limit = nsigma * spread + ampfrac * np.maximum(center - sky, 0.0)
        rejected = keep & (deviation > limit)
        if not rejected.any():
            break
        keep &= ~rejected
    return keep


def combine(
    values: Floats,
    variances: Floats,
    uncorrelated: Floats,
    weights: npt.NDArray[np.float64],
    *,
    nsigma: float,
    maxiters: int,
    ampfrac: float = 0.0,
    sky: float = 0.0,
    noise_floor: bool = True,
) -> Combined:
    """Clip per pixel across the inputs, then average the kept values with constant weights.

    Parameters
    ----------
    values : ndarray of float32, shape (N, rows, nx)
        The inputs on the grid, already scaled to the common photometric system; NaN where an
        input gives nothing.
    variances, uncorrelated : ndarray of float32, shape (N, rows, nx)
        Their per-pixel variances and uncorrelated variances
        (`~lco_stages.coadd.resample.ResampledBand`), units squared.
    weights : ndarray of float64, shape (N,)
        One weight per input (inverse scaled sky variance).
    nsigma, maxiters, ampfrac, sky : float, int, float, float
        The clip (`clip_mask`).
    noise_floor : bool
        Floor the clip's robust standard deviation at the values' own uncertainty
        (``sqrt(variances)``, see `clip_mask`).

    Returns
    -------
    Combined
    """
    noise = np.sqrt(variances) if noise_floor else None
    keep = clip_mask(values, nsigma=nsigma, maxiters=maxiters, ampfrac=ampfrac, sky=sky, noise=noise)
    shape = values.shape[1:]
    total = np.zeros(shape, dtype=np.float64)
    data = np.zeros(shape, dtype=np.float64)
    variance = np.zeros(shape, dtype=np.float64)
    plain = np.zeros(shape, dtype=np.float64)
    # One input at a time: the accumulators are one band's size, whatever the number of inputs.
    for index, weight in enumerate(weights):
        kept = keep[index]
        w = float(weight)
        total[kept] += w
        data[kept] += w * values[index][kept]
        variance[kept] += w * w * variances[index][kept]
        plain[kept] += w * w * uncorrelated[index][kept]
    some = total > 0
    safe = np.where(some, total, 1.0)
    return Combined(
        np.where(some, data / safe, 0.0).astype(np.float32),
        np.where(some, variance / safe**2, 0.0).astype(np.float32),
        np.where(some, plain / safe**2, 0.0).astype(np.float32),
        keep.sum(axis=0).astype(np.uint16),
    )
