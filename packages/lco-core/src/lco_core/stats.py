"""Robust statistics: median, robust standard deviation, sigma-clipped mean, and stacking.

The semantics are exact and shared by every caller (docs/architecture.rst, "Robust statistics"):

* ``robust_std = 1.4826 x MAD`` (median absolute deviation from the median);
* ``sigma_clipped_mean`` rejects ``|x - median| > nsigma x robust_std`` (strictly greater) and
  averages the rest; with ``maxiters > 1`` it repeats on the survivors (rejected values stay
  rejected) until nothing changes.

Masked values (``mask`` true) and non-finite values never take part. Where nothing is left the
result is NaN. These functions compute in float64 with numpy and are the reference the fast
`stack` kernel is tested against.
"""

from __future__ import annotations

import warnings
from typing import overload

import numpy as np
import numpy.typing as npt

from lco_core._arrays import Float64Array
from lco_core.stacking import StackResult, stack

__all__ = [
    "FRAME_LEVEL_NSIGMA",
    "MAD_TO_STD",
    "StackResult",
    "median",
    "robust_std",
    "sigma_clipped_mean",
    "stack",
]

#: Scale from the median absolute deviation to the standard deviation of a normal distribution.
MAD_TO_STD = 1.4826

#: Default rejection threshold (robust standard deviations) of a frame's level, BIASLVL and
#: FLATLVL alike (docs/architecture.rst, "Robust statistics").
FRAME_LEVEL_NSIGMA = 3.5

Axis = int | tuple[int, ...] | None


def _as_nan_masked(values: npt.ArrayLike, mask: npt.ArrayLike | None) -> Float64Array:
    """float64 copy of ``values`` with masked and non-finite entries set to NaN."""
    array = np.array(values, dtype=np.float64)
    array[~np.isfinite(array)] = np.nan
    if mask is not None:
        array[np.broadcast_to(np.asarray(mask, dtype=bool), array.shape)] = np.nan
    return array


def _nanmedian(array: Float64Array, axis: Axis, keepdims: bool = False) -> Float64Array:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)  # all-NaN slices give NaN, as documented
        result: Float64Array = np.asarray(np.nanmedian(array, axis=axis, keepdims=keepdims))
    return result


def _result(array: Float64Array) -> float | Float64Array:
    return float(array) if array.ndim == 0 else array


@overload
def median(values: npt.ArrayLike, *, axis: None = None, mask: npt.ArrayLike | None = None) -> float: ...
@overload
def median(
    values: npt.ArrayLike, *, axis: int | tuple[int, ...], mask: npt.ArrayLike | None = None
) -> Float64Array: ...
def median(
    values: npt.ArrayLike, *, axis: Axis = None, mask: npt.ArrayLike | None = None
) -> float | Float64Array:
    """Median of the unmasked, finite values (float64); NaN where none are left.

    Parameters
    ----------
    values : array_like
        Any shape.
    axis : int or tuple of int, optional
        Axes to reduce (all values when None).
    mask : array_like of bool, optional
        True where a value must not be used (broadcast against ``values``).

    Returns
    -------
    float or ndarray of float64
        In the units of ``values``.
    """
    return _result(_nanmedian(_as_nan_masked(values, mask), axis))


def _robust_std(array: Float64Array, axis: Axis) -> tuple[Float64Array, Float64Array]:
    center = _nanmedian(array, axis, keepdims=True)
    mad = _nanmedian(np.abs(array - center), axis, keepdims=True)
    return center, MAD_TO_STD * mad


@overload
def robust_std(values: npt.ArrayLike, *, axis: None = None, mask: npt.ArrayLike | None = None) -> float: ...
@overload
def robust_std(
    values: npt.ArrayLike, *, axis: int | tuple[int, ...], mask: npt.ArrayLike | None = None
) -> Float64Array: ...
def robust_std(
    values: npt.ArrayLike, *, axis: Axis = None, mask: npt.ArrayLike | None = None
) -> float | Float64Array:
    """1.4826 x the median absolute deviation of the unmasked, finite values; NaN where none.

    Parameters
    ----------
    values : array_like
        Any shape.
    axis : int or tuple of int, optional
        Axes to reduce (all values when None).
    mask : array_like of bool, optional
        True where a value must not be used (broadcast against ``values``).

    Returns
    -------
    float or ndarray of float64
        In the units of ``values``; for normally distributed values, their standard deviation.
    """
    array = _as_nan_masked(values, mask)
    _, spread = _robust_std(array, axis)
    squeezed: Float64Array = spread.reshape(()) if axis is None else np.squeeze(spread, axis=axis)
    return _result(squeezed)


@overload
def sigma_clipped_mean(
    values: npt.ArrayLike,
    nsigma: float,
    *,
    axis: None = None,
    mask: npt.ArrayLike | None = None,
    maxiters: int = 1,
) -> float: ...
@overload
def sigma_clipped_mean(
    values: npt.ArrayLike,
    nsigma: float,
    *,
    axis: int | tuple[int, ...],
    mask: npt.ArrayLike | None = None,
    maxiters: int = 1,
) -> Float64Array: ...
def sigma_clipped_mean(
    values: npt.ArrayLike,
    nsigma: float,
    *,
    axis: Axis = None,
    mask: npt.ArrayLike | None = None,
    maxiters: int = 1,
) -> float | Float64Array:
    """Mean of the values within ``nsigma`` robust standard deviations of their median.

    Parameters
    ----------
    values : array_like
        Any shape; the statistic is taken over ``axis`` (all values when None).
    nsigma : float
        Rejection threshold in robust standard deviations; rejection is strict (``>``).
    axis : int or tuple of int, optional
        Axes to reduce (all values when None).
    mask : array_like of bool, optional
        True where a value must not be used (broadcast against ``values``).
    maxiters : int
        Clipping passes; iteration stops early when a pass rejects nothing.

    Returns
    -------
    float or ndarray of float64
        In the units of ``values``; NaN where every value is masked, non-finite or rejected.

    Raises
    ------
    ValueError
        ``maxiters < 1``.
    """
    if maxiters < 1:
        raise ValueError(f"maxiters must be >= 1, got {maxiters}")
    array = _as_nan_masked(values, mask)
    for _ in range(maxiters):
        center, spread = _robust_std(array, axis)
        with np.errstate(invalid="ignore"):
            rejected = np.abs(array - center) > nsigma * spread
        if not rejected.any():
            break
        array[rejected] = np.nan
    finite = np.isfinite(array)
    total = np.where(finite, array, 0.0).sum(axis=axis)
    count = finite.sum(axis=axis)
    with np.errstate(invalid="ignore", divide="ignore"):
        mean: Float64Array = np.asarray(np.where(count > 0, total / np.maximum(count, 1), np.nan))
    return _result(mean)
