"""Our sigma-clipped mean and stack against astropy.stats.sigma_clip, the second method (issue 14).

Documented differences, and how this test removes them:

* the robust standard deviation is 1.4826 x MAD here; astropy's ``mad_std`` scales by
  1/Phi^-1(3/4) = 1.482602218...: astropy is given our scale as ``stdfunc``;
* where no value survives, ``stack`` flags the pixel NO_DATA and keeps a stand-in value, where
  astropy's mean is masked;
* ``stack`` computes in float32; a value within float32 rounding of its clipping limit can fall
  either side, so those pixels are left out of the comparison (as in test_stack.py).

Everything else must agree: strict rejection (``> nsigma x std``), NaN and infinities ignored,
masked values ignored, iteration on the survivors until nothing changes or ``maxiters``, NaN where
nothing is left.
"""

from __future__ import annotations

import warnings

import numpy as np
import numpy.typing as npt
from astropy.stats import median_absolute_deviation, sigma_clip
from hypothesis import given
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

from lco_core.masks import MaskBit
from lco_core.stats import MAD_TO_STD, robust_std, sigma_clipped_mean, stack

#: Values on a grid of 1/8 (ties, so MAD = 0 happens), with NaN and infinities drawn by hypothesis.
GRID_VALUES = st.one_of(
    st.integers(-8000, 8000).map(lambda k: k / 8.0),
    st.sampled_from([np.nan, np.inf, -np.inf]),
)
SHAPES = st.tuples(st.integers(1, 12), st.integers(1, 5), st.integers(1, 5))


@st.composite
def cubes_and_masks(draw: st.DrawFn) -> tuple[npt.NDArray[np.float64], npt.NDArray[np.bool_]]:
    shape = draw(SHAPES)
    cube = draw(hnp.arrays(np.float64, shape, elements=GRID_VALUES))
    mask = draw(hnp.arrays(np.bool_, shape))
    return cube, mask


def _our_std(values: npt.ArrayLike, axis: int | None = None) -> npt.NDArray[np.float64]:
    mad = np.asarray(median_absolute_deviation(values, axis=axis, ignore_nan=True), dtype=np.float64)
    return MAD_TO_STD * mad


def _astropy_mean(
    cube: npt.NDArray[np.float64], mask: npt.NDArray[np.bool_], nsigma: float, maxiters: int
) -> npt.NDArray[np.float64]:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # all-NaN columns
        clipped = sigma_clip(
            np.ma.masked_array(cube, mask), sigma=nsigma, maxiters=maxiters, cenfunc="median",
            stdfunc=_our_std, axis=0, masked=True,
        )  # fmt: skip
        mean = clipped.mean(axis=0)
    return np.asarray(np.ma.filled(mean.astype(np.float64), np.nan))


@given(cubes_and_masks(), st.sampled_from([1.5, 2.5, 3.0, 5.0]), st.integers(1, 4))
def test_sigma_clipped_mean_is_astropys_sigma_clip(
    cube_and_mask: tuple[npt.NDArray[np.float64], npt.NDArray[np.bool_]], nsigma: float, maxiters: int
) -> None:
    cube, mask = cube_and_mask
    ours = sigma_clipped_mean(cube, nsigma, axis=0, mask=mask, maxiters=maxiters)
    np.testing.assert_allclose(ours, _astropy_mean(cube, mask, nsigma, maxiters), rtol=1e-12, atol=1e-9)


def _near_a_limit(
    cube: npt.NDArray[np.float64], mask: npt.NDArray[np.bool_], nsigma: float
) -> npt.NDArray[np.bool_]:
    """Pixels where a value lies within float32 rounding of the first pass's clipping limit."""
    values = np.where(mask | ~np.isfinite(cube), np.nan, cube)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        center = np.nanmedian(values, axis=0)
        limit = nsigma * robust_std(values, axis=0)
    distance = np.abs(np.abs(values - center) - limit)
    close = (distance < 1e-4 * (1 + np.abs(values))) & (limit > 0)
    return np.asarray(close.any(axis=0))


@given(cubes_and_masks(), st.sampled_from([2.5, 3.0]))
def test_stack_is_astropys_sigma_clip(
    cube_and_mask: tuple[npt.NDArray[np.float64], npt.NDArray[np.bool_]], nsigma: float
) -> None:
    cube, mask = cube_and_mask
    frames = cube.astype(np.float32)
    result = stack(frames, nsigma=nsigma, masks=mask.astype(np.uint8))
    theirs = _astropy_mean(frames.astype(np.float64), mask, nsigma, 1)
    comparable = ~_near_a_limit(frames.astype(np.float64), mask, nsigma)
    # Where nothing survives astropy's mean is masked (NaN); the stack flags NO_DATA and holds a
    # stand-in value, so the comparison is of the flag there and of the value elsewhere.
    empty = np.isnan(theirs)
    np.testing.assert_array_equal((result.mask & MaskBit.NO_DATA != 0)[comparable], empty[comparable])
    kept = comparable & ~empty
    np.testing.assert_allclose(result.data[kept], theirs[kept], rtol=1e-6, atol=1e-3)
