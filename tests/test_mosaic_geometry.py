"""Mosaic geometry: coordinate-encoded readouts land where their DETSEC says, for every flip and binning."""

from __future__ import annotations

import datetime as dt

import numpy as np
import numpy.typing as npt
import pytest
from hypothesis import given

from lco_core import Binning, Frame, FrameMeta, ObsType
from lco_core.errors import StageError
from lco_core.frame import AmplifierData
from lco_core.masks import MaskBit
from lco_core.section import data_to_detector, detector_extent
from lco_instruments.geometry import Camera
from lco_instruments.readout import split_into_amplifiers
from lco_instruments.testing.strategies import cameras
from lco_stages.mosaic import assemble_amplifiers
from lco_stages.trim import trim


def _meta(binning: Binning) -> FrameMeta:
    return FrameMeta(
        filename="lsc1m009-zz99-20260101-0001-e00.fits",
        obstype=ObsType.EXPOSE,
        site="lsc",
        telescope="1m0-09",
        camera="zz99",
        day_obs=dt.date(2026, 1, 1),
        date_obs=dt.datetime(2026, 1, 2, 3, 4, 5, tzinfo=dt.UTC),
        exptime=10.0,
        binning=binning,
    )


def _frame(readouts: tuple[npt.NDArray[np.floating], ...], camera: Camera) -> Frame:
    amplifiers = tuple(
        AmplifierData(g.index, r, np.zeros(r.shape, np.uint8), np.full(r.shape, 1.0))
        for g, r in zip(camera.amplifiers, readouts, strict=True)
    )
    return Frame(meta=_meta(camera.binning), amplifiers=amplifiers)


def _encoded_readouts(camera: Camera) -> tuple[npt.NDArray[np.float64], ...]:
    """Each readout pixel holds the detector (x, y) where its binned pixel starts: 10000 y + x.

    Computed straight from the section arithmetic of docs/architecture.rst ("Instruments"),
    independently of the mosaic code.
    """
    readouts = []
    for geometry in camera.amplifiers:
        readout = np.full(geometry.readout_shape, -1.0)
        data = geometry.data_section
        y, x = np.mgrid[data.y_min : data.y_max + 1, data.x_min : data.x_max + 1]
        start_x, start_y = data_to_detector(
            x, y, data_section=data, detector_section=geometry.detector_section, binning=camera.binning
        )
        end_x, end_y = detector_extent(
            x, y, data_section=data, detector_section=geometry.detector_section, binning=camera.binning
        )
        readout[data.to_slices()] = 10000 * np.minimum(start_y, end_y) + np.minimum(start_x, end_x)
        readouts.append(readout)
    return tuple(readouts)


@given(cameras())
def test_every_pixel_lands_at_its_detector_position(camera: Camera) -> None:
    frame = assemble_amplifiers(camera)(_frame(_encoded_readouts(camera), camera))
    box = camera.detector_box
    rows, cols = np.mgrid[0 : frame.shape[0], 0 : frame.shape[1]]
    expected = 10000 * (box.y_min + rows * camera.binning.y) + (box.x_min + cols * camera.binning.x)
    np.testing.assert_array_equal(frame.data, expected)
    assert not (frame.mask & MaskBit.NO_DATA).any()  # the amplifiers tile the box
    assert not (frame.data < 0).any()  # no overscan or prescan pixel got in


@given(cameras())
def test_mosaic_of_split_amplifiers_reproduces_the_image(camera: Camera) -> None:
    rng = np.random.default_rng(0)
    image = rng.normal(size=camera.mosaic_shape).astype(np.float32)
    readouts = split_into_amplifiers(image, camera, fill=np.nan)
    frame = assemble_amplifiers(camera)(_frame(readouts, camera))
    np.testing.assert_array_equal(frame.data, image)
    trimmed = trim(camera)(frame)
    assert trimmed.shape == camera.trim_section.shape
    np.testing.assert_array_equal(trimmed.data, image[camera.trim_section.to_slices()])


@given(cameras())
def test_trim_refuses_an_unassembled_frame(camera: Camera) -> None:
    with pytest.raises(StageError, match="assembled"):
        trim(camera)(_frame(split_into_amplifiers(np.zeros(camera.mosaic_shape), camera), camera))
