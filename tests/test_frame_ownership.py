"""A frame owns its arrays: nothing the caller does afterwards changes it (issue 14)."""

from __future__ import annotations

import contextlib
import datetime as dt

import attrs
import numpy as np
import numpy.typing as npt
import pytest
from hypothesis import given
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

from lco_core.catalog import ReferenceCatalog
from lco_core.frame import Frame
from lco_core.meta import FrameMeta, ObsType
from lco_core.section import Binning
from lco_core.testing.strategies import frame_metas

FLOATS = hnp.from_dtype(np.dtype(np.float32), allow_nan=True, allow_infinity=True)


def _try_write(array: np.ndarray, value: float) -> None:
    """What a careless caller does after handing an array over; refused or harmless, never seen."""
    with contextlib.suppress(ValueError):  # frozen: the caller can no longer write to it
        array[...] = value


@given(
    data=hnp.arrays(np.float32, hnp.array_shapes(min_dims=2, max_dims=2, max_side=12), elements=FLOATS),
    how=st.sampled_from(["owned", "view", "list", "read-only view of a writeable base"]),
    meta=frame_metas(ObsType.EXPOSE),
)
def test_no_later_write_by_the_caller_changes_a_frame(data: np.ndarray, how: str, meta: FrameMeta) -> None:
    expected = data.copy()
    base = np.concatenate([data, data], axis=1)
    given_array: npt.ArrayLike
    if how == "owned":
        given_array = data
    elif how == "view":
        given_array = base[:, : data.shape[1]]
    elif how == "list":
        given_array = data.tolist()
    else:
        view = base[:, : data.shape[1]]
        view.flags.writeable = False
        given_array = view
    mask = np.zeros(data.shape, np.uint8)
    error = np.ones(data.shape, np.float32)
    frame = Frame(meta=meta, data=given_array, mask=mask, uncertainty=error)
    for array in (data, base, mask, error):
        _try_write(array, 7.0)
    np.testing.assert_array_equal(frame.data, expected)
    assert not frame.mask.any()
    assert np.all(frame.uncertainty == 1.0)
    assert not frame.data.flags.writeable


def test_an_owned_array_is_frozen_not_copied() -> None:
    data = np.arange(12, dtype=np.float32).reshape(3, 4).copy()  # owns its memory
    frame = Frame(
        meta=_meta(), data=data, mask=np.zeros((3, 4), np.uint8), uncertainty=np.ones((3, 4), np.float32)
    )
    assert np.shares_memory(frame.data, data)  # no copy of a 4k frame for every stage
    with pytest.raises(ValueError, match="read-only"):
        data[0, 0] = 1.0


def test_a_frames_plane_is_shared_by_the_next_frame() -> None:
    first = Frame(
        meta=_meta(), data=np.ones((3, 4), np.float32), mask=np.zeros((3, 4), np.uint8),
        uncertainty=np.ones((3, 4), np.float32),
    )  # fmt: skip
    second = attrs.evolve(first, mask=first.mask | 1)
    assert np.shares_memory(second.data, first.data)


def test_other_records_own_their_arrays_too() -> None:
    ra = np.array([10.0, 11.0])
    catalog = ReferenceCatalog(ra, [1.0, 2.0], {"r": [15.0, 16.0]})
    _try_write(ra, 0.0)
    np.testing.assert_array_equal(catalog.ra, [10.0, 11.0])


def _meta() -> FrameMeta:
    return FrameMeta(
        filename="lsc1m009-zz99-20260101-0001-e00.fits", obstype=ObsType.EXPOSE, site="lsc",
        telescope="1m0-09", camera="zz99", day_obs=dt.date(2026, 1, 1),
        date_obs=dt.datetime(2026, 1, 2, 3, 4, 5, tzinfo=dt.UTC), exptime=10.0, binning=Binning(1, 1),
    )  # fmt: skip
