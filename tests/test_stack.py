"""stack(): laws (permutation, constants, affinity, outliers, masks, banding) and its reference."""

from __future__ import annotations

import numpy as np
import numpy.typing as npt
import pytest
from hypothesis import given
from hypothesis import strategies as st

from lco_core import MaskBit
from lco_core.errors import ShapeMismatchError
from lco_core.stats import robust_std, sigma_clipped_mean, stack
from lco_core.testing.strategies import FloatCube, masks_for, masks_like, stacks

F32 = {"rtol": 2e-6, "atol": 1e-3}


def _near_threshold(cube: FloatCube, nsigma: float = 3.0) -> npt.NDArray[np.bool_]:
    """Pixels with a value so close to its clipping limit that float32 rounding could flip it.

    A limit of exactly 0 (MAD = 0) is safe: values equal to the median stay equal under any
    affine map, and all others stay beyond it.
    """
    values = cube.astype(np.float64)
    center = np.median(values, axis=0)
    limit = nsigma * robust_std(values, axis=0)
    distance = np.abs(np.abs(values - center) - limit)
    close = (distance < 1e-4 * (1 + np.abs(values))) & (limit > 0)
    return np.asarray(close.any(axis=0))


@given(stacks(min_frames=1, max_frames=20))
def test_stack_agrees_with_the_float64_reference(cube: FloatCube) -> None:
    result = stack(cube)
    reference = sigma_clipped_mean(cube.astype(np.float64), 3.0, axis=0)
    assert result.data.dtype == np.float32
    np.testing.assert_allclose(result.data, reference, rtol=1e-6, atol=1e-4)
    assert np.all(result.mask == 0)
    assert np.all(result.uncertainty >= 0)
    kept = np.abs(cube - np.median(cube.astype(np.float64), axis=0)) <= 3 * robust_std(cube, axis=0)
    np.testing.assert_array_equal(result.n_used, kept.sum(axis=0))


@given(stacks(min_frames=1, max_frames=12, non_finite=True))
def test_nan_and_infinities_count_as_masked(cube: FloatCube) -> None:
    result = stack(cube)
    reference = sigma_clipped_mean(cube.astype(np.float64), 3.0, axis=0)
    has_value = np.isfinite(cube).any(axis=0)
    np.testing.assert_allclose(result.data[has_value], reference[has_value], rtol=1e-6, atol=1e-4)
    np.testing.assert_array_equal(result.mask[~has_value], MaskBit.NO_DATA)
    assert np.all(np.isfinite(result.data))  # never NaN: a stand-in and the NO_DATA bit


@given(stacks(min_frames=2, max_frames=16), st.data())
def test_permuting_frames_does_not_change_the_stack(cube: FloatCube, data: st.DataObject) -> None:
    order = data.draw(st.permutations(range(cube.shape[0])))
    np.testing.assert_array_equal(stack(cube).data, stack(cube[list(order)]).data)
    np.testing.assert_allclose(stack(cube).uncertainty, stack(cube[list(order)]).uncertainty, rtol=1e-6)


@given(st.floats(-1e5, 1e5, width=32), st.integers(1, 15), st.integers(1, 7), st.integers(1, 7))
def test_constant_stack_returns_the_constant(value: float, n: int, ny: int, nx: int) -> None:
    result = stack(np.full((n, ny, nx), value, dtype=np.float32))
    np.testing.assert_array_equal(result.data, np.float32(value))
    np.testing.assert_array_equal(result.uncertainty, 0)
    np.testing.assert_array_equal(result.n_used, n)


@given(stacks(min_frames=3, max_frames=12), st.floats(0.1, 10), st.floats(-1e3, 1e3))
def test_stack_is_affine_equivariant(cube: FloatCube, a: float, b: float) -> None:
    transformed = (a * cube.astype(np.float64) + b).astype(np.float32)
    comparable = ~(_near_threshold(cube) | _near_threshold(transformed))
    left = stack(transformed).data
    right = a * stack(cube).data + b
    np.testing.assert_allclose(
        left[comparable], right[comparable], rtol=1e-5, atol=1e-3 * (abs(b) + a) + 1e-3
    )


@given(st.integers(5, 20), st.integers(0, 2**31))
def test_one_outlier_per_pixel_is_rejected(n: int, seed: int) -> None:
    rng = np.random.default_rng(seed)
    cube = rng.normal(1000.0, 5.0, size=(n, 6, 7)).astype(np.float32)
    clean = stack(cube).data
    hit = rng.integers(0, n, size=(6, 7))
    polluted = cube.copy()
    np.put_along_axis(polluted, hit[None], 1e6, axis=0)
    result = stack(polluted)
    assert np.all(result.n_used <= n - 1)
    np.testing.assert_allclose(result.data, clean, atol=5.0 * 5 / np.sqrt(n - 1))
    assert np.abs(result.data - 1000.0).max() < 30


@given(stacks(min_frames=2, max_frames=12), st.data())
def test_masked_values_never_influence_the_result(cube: FloatCube, data: st.DataObject) -> None:
    mask = data.draw(masks_like(cube))
    garbage = cube.copy()
    garbage[mask] = data.draw(st.sampled_from([1e30, -1e30, np.nan, np.inf]))
    left = stack(cube, masks=mask)
    right = stack(garbage, masks=mask)
    has_good = (~mask).any(axis=0)
    np.testing.assert_array_equal(left.data[has_good], right.data[has_good])
    np.testing.assert_array_equal(left.n_used, right.n_used)
    reference = sigma_clipped_mean(cube.astype(np.float64), 3.0, axis=0, mask=mask)
    np.testing.assert_allclose(left.data[has_good], reference[has_good], rtol=1e-6, atol=1e-4)


@given(stacks(min_frames=1, max_frames=10, max_side=12), st.integers(1, 12), st.integers(1, 4))
def test_banded_stack_equals_unbanded_bit_for_bit(cube: FloatCube, band_rows: int, maxiters: int) -> None:
    mask = masks_for(cube, density=0.1)
    sigma = np.abs(cube) * 0.01 + 1
    whole = stack(cube, masks=mask, uncertainties=sigma, maxiters=maxiters)
    banded = stack(
        list(cube), masks=list(mask), uncertainties=list(sigma), maxiters=maxiters, band_rows=band_rows
    )
    for name in ("data", "uncertainty", "mask", "n_used"):
        np.testing.assert_array_equal(getattr(whole, name), getattr(banded, name), err_msg=name)


@given(stacks(min_frames=3, max_frames=15), st.integers(2, 6))
def test_iterated_stack_agrees_with_the_reference(cube: FloatCube, maxiters: int) -> None:
    result = stack(cube, maxiters=maxiters)
    reference = sigma_clipped_mean(cube.astype(np.float64), 3.0, axis=0, maxiters=maxiters)
    np.testing.assert_allclose(result.data, reference, rtol=1e-6, atol=1e-4)


def test_pixel_with_nothing_surviving_gets_the_plain_mean_and_a_mask_bit() -> None:
    cube = np.array([[[1.0, 10.0]], [[3.0, 20.0]], [[5.0, 30.0]]], dtype=np.float32)
    mask = np.zeros(cube.shape, dtype=bool)
    mask[:, 0, 0] = True  # every value of the first pixel is masked
    result = stack(cube, masks=mask)
    assert result.data[0, 0] == pytest.approx(3.0)
    assert result.mask[0, 0] == MaskBit.NO_DATA
    assert result.n_used[0, 0] == 0
    assert result.uncertainty[0, 0] == pytest.approx(np.std([1, 3, 5], ddof=1) / np.sqrt(3))
    assert result.data[0, 1] == pytest.approx(20.0)
    assert result.mask[0, 1] == 0
    nothing = stack(np.full((3, 1, 1), np.nan, dtype=np.float32))
    assert nothing.data[0, 0] == 0
    assert nothing.mask[0, 0] == MaskBit.NO_DATA
    assert not np.isnan(nothing.data).any()


def test_uncertainty_from_inputs_and_standard_error_without() -> None:
    rng = np.random.default_rng(3)
    cube = rng.normal(0, 1, size=(9, 4, 4)).astype(np.float32)
    sigma = np.full(cube.shape, 2.0, dtype=np.float32)
    with_inputs = stack(cube, uncertainties=sigma)
    np.testing.assert_allclose(with_inputs.uncertainty, 2.0 / np.sqrt(with_inputs.n_used), rtol=1e-6)
    without = stack(cube)
    values = cube.astype(np.float64)
    kept = np.abs(values - np.median(values, axis=0)) <= 3 * robust_std(values, axis=0)
    np.testing.assert_array_equal(without.n_used, kept.sum(axis=0))
    for y, x in np.ndindex(4, 4):
        survivors = values[kept[:, y, x], y, x]
        expected = np.std(survivors, ddof=1) / np.sqrt(survivors.size)
        assert without.uncertainty[y, x] == pytest.approx(expected, rel=1e-5)


def test_standard_error_matches_the_noise_it_describes() -> None:
    rng = np.random.default_rng(11)
    n = 25
    cube = rng.normal(100.0, 4.0, size=(n, 96, 96)).astype(np.float32)
    # Without rejection, (mean - truth) / standard error follows Student's t with n - 1 degrees
    # of freedom, whose standard deviation is sqrt((n - 1) / (n - 3)).
    unclipped = stack(cube, nsigma=100.0)
    pulls = (unclipped.data - 100.0) / unclipped.uncertainty
    assert np.std(pulls) == pytest.approx(np.sqrt((n - 1) / (n - 3)), abs=0.03)
    # 3-sigma clipping with a 25-sample MAD trims some tails: the error gets a little optimistic.
    clipped = stack(cube)
    assert 1.0 < np.std((clipped.data - 100.0) / clipped.uncertainty) < 1.2


def test_bad_arguments_are_clear_errors() -> None:
    with pytest.raises(ShapeMismatchError):
        stack([np.zeros((3, 3)), np.zeros((3, 4))])
    with pytest.raises(ShapeMismatchError):
        stack(np.zeros((3, 3)))
    with pytest.raises(ShapeMismatchError):
        stack(np.zeros((2, 3, 3)), masks=np.zeros((3, 3, 3), bool))
    with pytest.raises(ShapeMismatchError):
        stack([])
    with pytest.raises(ValueError, match="maxiters"):
        stack(np.zeros((2, 3, 3)), maxiters=0)


def test_input_is_not_modified_and_any_nonzero_mask_value_masks() -> None:
    cube = np.arange(2 * 5 * 4, dtype=np.float32).reshape(2, 5, 4)
    before = cube.copy()
    mask = np.zeros(cube.shape, dtype=np.int32)
    mask[0] = 256  # would wrap to 0 in a careless uint8 cast
    result = stack(cube, masks=mask)
    np.testing.assert_array_equal(cube, before)
    np.testing.assert_array_equal(result.data, cube[1])
