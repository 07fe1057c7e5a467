"""Robust statistics: the known answers of docs/architecture.rst, masks, axes and passes."""

from __future__ import annotations

import math
import re
from pathlib import Path

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from lco_core.stats import FRAME_LEVEL_NSIGMA, median, robust_std, sigma_clipped_mean
from lco_stages.bias import BIAS_LEVEL_DEFAULTS
from lco_stages.flat import FLAT_LEVEL_DEFAULTS
from lco_stages.masters import STACK_DEFAULTS


def test_known_answers() -> None:
    assert median([1, 2, 3, 4]) == 2.5
    assert robust_std([1, 2, 3, 4, 5]) == pytest.approx(1.4826, abs=1e-12)
    assert sigma_clipped_mean([1, 2, 3, 4, 100], 3) == 2.5
    assert sigma_clipped_mean(np.arange(20), 3) == 9.5  # nothing clipped
    assert sigma_clipped_mean([1, 1, 1, 1, 100], 3) == 1.0  # MAD = 0 keeps only the 1s


def test_rejection_is_strict() -> None:
    # median 0, MAD 1 -> robust std 1.4826: the value 1.4826 sits exactly on the 1-sigma limit.
    values = np.array([-1.0, -1.0, 0.0, 1.0, 1.4826])
    assert robust_std(values) == 1.4826
    assert sigma_clipped_mean(values, 1.0) == pytest.approx(np.mean(values))  # kept: not strictly beyond
    assert sigma_clipped_mean(values, 0.999) == pytest.approx(-0.25)  # rejected just inside the limit


def test_masks_and_non_finite_values_take_no_part() -> None:
    values = np.array([1.0, 2.0, 3.0, 1e9, np.nan, np.inf])
    mask = np.array([False, False, False, True, False, False])
    assert median(values, mask=mask) == 2.0
    assert sigma_clipped_mean(values, 3, mask=mask) == 2.0
    assert math.isnan(median([1.0, 2.0], mask=[True, True]))
    assert math.isnan(sigma_clipped_mean([1.0, 2.0], 3, mask=[True, True]))


def test_axis_gives_per_column_results_and_nan_where_all_masked() -> None:
    values = np.array([[1.0, 5.0], [2.0, 5.0], [3.0, 5.0], [100.0, 5.0]])
    mask = np.zeros_like(values, dtype=bool)
    mask[:, 1] = True
    result = sigma_clipped_mean(values, 3, axis=0, mask=mask)
    assert result[0] == 2.0
    assert math.isnan(result[1])
    np.testing.assert_allclose(median(values, axis=0), [2.5, 5.0])
    np.testing.assert_allclose(robust_std(values, axis=0), [1.4826, 0.0])


def test_iteration_rejects_more_and_rejected_values_stay_out() -> None:
    values = np.array([10.0, 10.5, 9.5, 10.2, 9.8, 13.0, 14.0, 100.0])
    one_pass = sigma_clipped_mean(values, 2, maxiters=1)
    converged = sigma_clipped_mean(values, 2, maxiters=10)
    assert converged <= one_pass
    assert converged == pytest.approx(np.mean([10.0, 10.5, 9.5, 10.2, 9.8]))
    with pytest.raises(ValueError, match="maxiters"):
        sigma_clipped_mean(values, 2, maxiters=0)


@given(st.lists(st.floats(-1e6, 1e6), min_size=1, max_size=40), st.floats(0.7, 10))
def test_clipped_mean_lies_within_the_data(values: list[float], nsigma: float) -> None:
    # nsigma x 1.4826 >= 1 keeps at least the values within one MAD, so something survives.
    result = sigma_clipped_mean(values, nsigma)
    assert min(values) - 1e-6 <= result <= max(values) + 1e-6
    assert robust_std(values) >= 0


@given(st.lists(st.floats(-1e3, 1e3), min_size=2, max_size=30), st.floats(0.1, 10), st.floats(-1e3, 1e3))
def test_clipped_mean_is_affine_equivariant(values: list[float], scale: float, shift: float) -> None:
    array = np.array(values)
    left = sigma_clipped_mean(scale * array + shift, 3)
    right = scale * sigma_clipped_mean(array, 3) + shift
    # Only values sitting exactly on the threshold could go either way after rounding.
    center = median(array)
    near_edge = np.isclose(np.abs(array - center), 3 * robust_std(array), rtol=1e-9, atol=1e-9).any()
    if not near_edge:
        assert left == pytest.approx(right, rel=1e-9, abs=1e-6 * (1 + abs(shift)))


def test_the_documented_thresholds_are_the_defaults() -> None:
    # docs/architecture.rst: "Frame levels use k = 3.5, stacks k = 3." BIASLVL and FLATLVL are
    # frame levels; both take the one default, so they cannot drift apart.
    page = (Path(__file__).resolve().parents[1] / "docs" / "architecture.rst").read_text()
    match = re.search(r"Frame levels use k = ([\d.]+), stacks k = ([\d.]+)\.", " ".join(page.split()))
    assert match is not None
    frame_k, stack_k = float(match.group(1)), float(match.group(2))
    assert BIAS_LEVEL_DEFAULTS.nsigma == FLAT_LEVEL_DEFAULTS.nsigma == FRAME_LEVEL_NSIGMA == frame_k
    assert STACK_DEFAULTS.nsigma == stack_k
