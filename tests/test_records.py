"""Frame, AmplifierData, Header and ProcessingStep: immutability and invariants."""

from __future__ import annotations

import datetime as dt

import attrs
import numpy as np
import pytest
from hypothesis import given

from lco_core import (
    AmplifierData,
    Binning,
    Frame,
    FrameMeta,
    Header,
    HeaderCard,
    MaskBit,
    ObsType,
    ProcessingStep,
)
from lco_core.errors import ShapeMismatchError
from lco_core.pipeline import pipeline
from lco_core.testing.strategies import frames


def _meta() -> FrameMeta:
    return FrameMeta(
        filename="cpt1m010-fa99-20260101-0042-e00.fits.fz",
        obstype=ObsType.EXPOSE,
        site="cpt",
        telescope="1m0-10",
        camera="fa99",
        day_obs=dt.date(2026, 1, 1),
        date_obs=dt.datetime(2026, 1, 1, 22, 0, tzinfo=dt.UTC),
        exptime=30.0,
        binning=Binning(1, 1),
    )


def test_frame_arrays_are_read_only() -> None:
    data = np.ones((4, 5), dtype=np.float32)
    frame = Frame(meta=_meta(), data=data, mask=np.zeros((4, 5), np.uint8), uncertainty=np.ones((4, 5)))
    for plane in (frame.data, frame.mask, frame.uncertainty):
        with pytest.raises(ValueError, match="read-only"):
            plane[0, 0] = 7
    assert frame.uncertainty.dtype == np.float32
    assert frame.assembled
    with pytest.raises(attrs.exceptions.FrozenInstanceError):
        frame.data = data  # type: ignore[misc]  # assigning to a frozen attribute is the point


def test_frame_planes_must_share_a_shape() -> None:
    with pytest.raises(ShapeMismatchError):
        Frame(
            meta=_meta(), data=np.ones((4, 5)), mask=np.zeros((4, 4), np.uint8), uncertainty=np.ones((4, 5))
        )


def test_raw_frame_holds_amplifiers_until_mosaic() -> None:
    amp = AmplifierData(1, np.ones((3, 3)), np.zeros((3, 3), np.uint8), np.zeros((3, 3)))
    frame = Frame(meta=_meta(), amplifiers=(amp,))
    assert not frame.assembled
    assert frame.data.shape == (0, 0)
    with pytest.raises(ValueError, match="read-only"):
        frame.amplifiers[0].data[0, 0] = 2


@given(frames())
def test_with_step_appends_history_and_leaves_the_input_alone(frame: Frame) -> None:
    before = frame.data.copy()
    step = ProcessingStep("scale", {"factor": 2.0}, {"level": 1.5})
    doubled = frame.with_step(step, data=frame.data * 2)
    assert doubled.history == (*frame.history, step)
    assert np.array_equal(frame.data, before)
    np.testing.assert_array_equal(doubled.data, before * 2)
    assert doubled.steps("scale") == (step,)


def test_pipeline_composes_left_to_right() -> None:
    frame = Frame(
        meta=_meta(), data=np.full((2, 2), 3.0), mask=np.zeros((2, 2), np.uint8), uncertainty=np.zeros((2, 2))
    )

    def add_one(f: Frame) -> Frame:
        return f.with_step(ProcessingStep("add_one"), data=f.data + 1)

    def double(f: Frame) -> Frame:
        return f.with_step(ProcessingStep("double"), data=f.data * 2)

    result = pipeline(add_one, double)(frame)
    assert result.data[0, 0] == 8.0  # (3 + 1) * 2, not 3 * 2 + 1
    assert [step.stage for step in result.history] == ["add_one", "double"]
    assert pipeline()(frame) is frame


def test_processing_step_is_immutable_and_describes_itself() -> None:
    parameters = {"nsigma": 3.0}
    step = ProcessingStep("stack", parameters, {"n_frames": 5}, ("bias.fits",))
    parameters["nsigma"] = 1.0
    assert step.parameters["nsigma"] == 3.0
    with pytest.raises(TypeError):
        step.parameters["nsigma"] = 2.0  # type: ignore[index]  # mappings are read-only
    assert step.describe() == "stack nsigma=3.0 n_frames=5 master=bias.fits"


def test_header_lookup_and_update() -> None:
    header = Header(
        (
            HeaderCard("GAIN", 1.5, "e/ADU"),
            HeaderCard("HISTORY", "raw"),
            HeaderCard("GAIN", 9.0),
            HeaderCard("FILTER", "rp"),
        )
    )
    assert header.get("gain") == 1.5  # first card wins, keywords are case-insensitive
    assert "FILTER" in header
    assert "OBJECT" not in header
    updated = header.updated(
        (HeaderCard("FILTER", "ip"), HeaderCard("L1ZP", 23.1), HeaderCard("HISTORY", "ours"))
    )
    assert updated.get("FILTER") == "ip"
    assert updated.get("L1ZP") == 23.1
    assert [c.value for c in updated.cards if c.keyword == "HISTORY"] == ["raw", "ours"]
    assert header.get("L1ZP") is None  # the original is unchanged


def test_mask_bits_keep_lco_values() -> None:
    assert (MaskBit.BAD, MaskBit.SATURATED, MaskBit.LOW_FLAT, MaskBit.COSMIC) == (1, 2, 4, 8)
    values = [bit.value for bit in MaskBit]
    assert len(set(values)) == len(values)
    assert all(value & (value - 1) == 0 and value < 256 for value in values)  # single bits of a uint8
