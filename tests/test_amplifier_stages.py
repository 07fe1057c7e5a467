"""Amplifier stages: invariants over random cameras, and each stage's own arithmetic."""

from __future__ import annotations

import datetime as dt

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from lco_core import Binning, Frame, FrameMeta, MaskBit, ObsType, StageError
from lco_core.frame import AmplifierData
from lco_instruments.geometry import Camera
from lco_instruments.testing.strategies import cameras
from lco_stages.crosstalk import correct_crosstalk
from lco_stages.gain import apply_gain
from lco_stages.overscan import OverscanSettings, overscan_rows, subtract_overscan
from lco_stages.recipes import amplifier_stages
from lco_stages.saturation import flag_saturated


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


def _raw_frame(camera: Camera, seed: int, level: float = 1000.0) -> Frame:
    rng = np.random.default_rng(seed)
    amplifiers = []
    for geometry in camera.amplifiers:
        data = rng.normal(level, 20.0, size=geometry.readout_shape)
        data[rng.random(data.shape) < 0.05] = 7e4  # some saturated pixels
        mask = (rng.random(data.shape) < 0.1).astype(np.uint8) * np.uint8(MaskBit.BAD)
        amplifiers.append(AmplifierData(geometry.index, data, mask, np.zeros(data.shape)))
    return Frame(meta=_meta(camera.binning), amplifiers=tuple(amplifiers))


@given(cameras(), st.integers(0, 1000))
def test_stages_never_mutate_input_only_add_mask_bits_and_keep_uncertainty_non_negative(
    camera: Camera, seed: int
) -> None:
    frame = _raw_frame(camera, seed)
    for stage in amplifier_stages(camera):
        before = [(a.data.copy(), a.mask.copy(), a.uncertainty.copy()) for a in frame.amplifiers]
        before_assembled = (frame.data.copy(), frame.mask.copy())
        result = stage(frame)
        for amp, (data, mask, sigma) in zip(frame.amplifiers, before, strict=True):
            np.testing.assert_array_equal(amp.data, data)
            np.testing.assert_array_equal(amp.mask, mask)
            np.testing.assert_array_equal(amp.uncertainty, sigma)
        np.testing.assert_array_equal(frame.data, before_assembled[0])
        if result.amplifiers and frame.amplifiers:
            for old, new in zip(frame.amplifiers, result.amplifiers, strict=True):
                assert np.all((new.mask & old.mask) == old.mask)  # bits only added
                assert np.all(new.uncertainty >= 0)
        assert len(result.history) == len(frame.history) + 1
        frame = result
    assert frame.assembled
    assert np.all(frame.uncertainty[(frame.mask & MaskBit.NO_DATA) == 0] > 0)


@given(cameras(with_overscan=True))
def test_overscan_level_is_removed_per_amplifier(camera: Camera) -> None:
    rng = np.random.default_rng(2)
    amplifiers = []
    levels = {}
    for geometry in camera.amplifiers:
        level = float(rng.uniform(500, 3000))
        levels[geometry.index] = level
        data = np.full(geometry.readout_shape, level, dtype=np.float32)
        data[geometry.data_section.to_slices()] += 100.0
        amplifiers.append(
            AmplifierData(geometry.index, data, np.zeros(data.shape, np.uint8), np.zeros(data.shape))
        )
    frame = Frame(meta=_meta(camera.binning), amplifiers=tuple(amplifiers))
    result = subtract_overscan(camera)(frame)
    diagnostics = result.history[-1].diagnostics
    for amp, geometry in zip(result.amplifiers, camera.amplifiers, strict=True):
        assert diagnostics[f"overscan_amp{amp.index}"] == pytest.approx(levels[amp.index], abs=1e-3)
        np.testing.assert_allclose(amp.data[geometry.data_section.to_slices()], 100.0, atol=1e-3)


def test_no_overscan_is_skipped_and_recorded() -> None:
    camera = _single_amp_camera(bias=False)
    frame = _raw_frame(camera, 0)
    result = subtract_overscan(camera)(frame)
    assert result.history[-1].diagnostics["overscan_amp1"] == "none"
    np.testing.assert_array_equal(result.amplifiers[0].data, frame.amplifiers[0].data)


def _single_amp_camera(*, bias: bool) -> Camera:
    from lco_core.section import Section
    from lco_instruments.families import CameraFamily
    from lco_instruments.geometry import AmplifierGeometry

    return Camera(
        name="kb99",
        family=CameraFamily.SBIG,
        binning=Binning(1, 1),
        configuration_mode="full_frame",
        amplifiers=(
            AmplifierGeometry(
                1,
                (40, 36),
                Section(1, 32, 1, 40),
                Section(33, 36, 1, 40) if bias else None,
                Section(1, 32, 1, 40),
                gain=2.0,
                read_noise=5.0,
                saturation=6e4,
                nonlinearity=5e4,
            ),
        ),
        crosstalk=((0.0,),),
        trim_section=Section(1, 32, 1, 40),
    )


def test_row_by_row_overscan_follows_a_drifting_offset() -> None:
    rows = np.arange(400, dtype=np.float64)
    truth = 1000.0 + 0.02 * rows + 3e-5 * (rows - 200) ** 2  # a slow drift along the readout
    rng = np.random.default_rng(4)
    overscan = truth[:, None] + rng.normal(0, 3.0, size=(400, 24))
    overscan[17, 5] = 6e4  # a cosmic ray in the overscan
    fitted = overscan_rows(overscan.astype(np.float32), n_rows=400, row_offset=0)
    assert np.abs(fitted - truth).max() < 0.5  # 3 ADU noise per pixel, 24 columns, smooth fit
    camera = _single_amp_camera(bias=True)
    frame = _raw_frame(camera, 3)
    by_rows = subtract_overscan(camera, OverscanSettings(method="rows"))(frame)
    assert by_rows.history[-1].parameters["method"] == "rows"
    with pytest.raises(ValueError, match="must be one of mean, rows"):
        OverscanSettings(method="median")


def test_saturation_and_nonlinearity_bits() -> None:
    camera = _single_amp_camera(bias=True)
    data = np.full((40, 36), 1000.0)
    data[0, 0] = 6e4  # exactly SATURATE: saturated
    data[0, 1] = 5.5e4  # between MAXLIN and SATURATE: non-linear
    data[0, 2] = 4.99e4
    amp = AmplifierData(1, data, np.zeros(data.shape, np.uint8), np.zeros(data.shape))
    result = flag_saturated(camera)(Frame(meta=_meta(Binning(1, 1)), amplifiers=(amp,)))
    mask = result.amplifiers[0].mask
    assert mask[0, 0] == MaskBit.SATURATED
    assert mask[0, 1] == MaskBit.NONLINEAR
    assert mask[0, 2] == 0
    assert mask.sum() == MaskBit.SATURATED + MaskBit.NONLINEAR
    assert result.history[-1].diagnostics["saturated_amp1"] == 1


def test_gain_converts_to_electrons_and_sets_read_noise() -> None:
    camera = _single_amp_camera(bias=True)
    data = np.full((40, 36), 100.0)
    amp = AmplifierData(1, data, np.zeros(data.shape, np.uint8), np.zeros(data.shape))
    result = apply_gain(camera)(Frame(meta=_meta(Binning(1, 1)), amplifiers=(amp,)))
    np.testing.assert_allclose(result.amplifiers[0].data, 200.0)
    np.testing.assert_allclose(result.amplifiers[0].uncertainty, 5.0)
    assert result.history[-1].diagnostics["saturation_e_amp1"] == 1.2e5


def test_crosstalk_is_linear_over_all_pairs() -> None:
    camera = _four_amp_camera()
    rng = np.random.default_rng(9)
    signals = [rng.uniform(0, 4e4, size=(6, 5)) for _ in range(4)]
    matrix = np.asarray(camera.crosstalk)
    observed = [signals[j] + sum(matrix[i, j] * signals[i] for i in range(4) if i != j) for j in range(4)]
    amps = tuple(
        AmplifierData(j + 1, observed[j], np.zeros((6, 5), np.uint8), np.zeros((6, 5))) for j in range(4)
    )
    result = correct_crosstalk(camera)(Frame(meta=_meta(Binning(1, 1)), amplifiers=amps))
    for j in range(4):
        # One linear pass leaves only second-order terms (coefficient squared x signal).
        np.testing.assert_allclose(result.amplifiers[j].data, signals[j], atol=4e4 * 4 * 1e-3**2 * 10)


def _four_amp_camera() -> Camera:
    from lco_core.section import Section
    from lco_instruments.families import CameraFamily
    from lco_instruments.geometry import AmplifierGeometry

    def amp(index: int, x0: int, y0: int) -> AmplifierGeometry:
        return AmplifierGeometry(
            index,
            (6, 5),
            Section(1, 5, 1, 6),
            None,
            Section(x0, x0 + 4, y0, y0 + 5),
            gain=1.0,
            read_noise=1.0,
            saturation=6e4,
            nonlinearity=6e4,
        )

    coefficients = (
        (0.0, 5e-4, 2e-4, 1e-4),
        (6e-4, 0.0, 1e-4, 3e-4),
        (1e-4, 2e-4, 0.0, 7e-4),
        (2e-4, 1e-4, 6e-4, 0.0),
    )
    return Camera(
        name="fa99",
        family=CameraFamily.SINISTRO,
        binning=Binning(1, 1),
        configuration_mode="full_frame",
        amplifiers=(amp(1, 1, 1), amp(2, 6, 1), amp(3, 6, 7), amp(4, 1, 7)),
        crosstalk=coefficients,
        trim_section=Section(1, 10, 1, 12),
    )


def test_stages_refuse_frames_that_do_not_match_the_camera() -> None:
    camera = _four_amp_camera()
    single = _single_amp_camera(bias=True)
    frame = _raw_frame(single, 0)
    with pytest.raises(StageError, match="amplifiers"):
        correct_crosstalk(camera)(frame)
    assembled = Frame(
        meta=frame.meta, data=np.ones((3, 3)), mask=np.zeros((3, 3), np.uint8), uncertainty=np.ones((3, 3))
    )
    with pytest.raises(StageError, match="already assembled"):
        apply_gain(single)(assembled)


@given(cameras(), st.integers(0, 1000))
def test_crosstalk_injected_by_its_definition_is_removed(camera: Camera, seed: int) -> None:
    """CRSTLKij is the fraction of amplifier i's signal that appears in amplifier j (LCO's
    convention): injected that way, the stage takes it out to second order in the coefficients."""
    matrix = np.asarray(camera.crosstalk)
    rng = np.random.default_rng(seed)
    truth = [rng.uniform(0.0, 6e4, size=g.readout_shape) for g in camera.amplifiers]
    raw = []
    for victim, geometry in enumerate(camera.amplifiers):
        ghost = np.zeros(geometry.readout_shape)
        for source, signal in enumerate(truth):
            if source != victim and matrix[source, victim] != 0.0:  # only equal readouts have any
                ghost = ghost + matrix[source, victim] * signal
        data = truth[victim] + ghost
        raw.append(AmplifierData(geometry.index, data, np.zeros(data.shape, np.uint8), np.zeros(data.shape)))
    result = correct_crosstalk(camera)(Frame(meta=_meta(camera.binning), amplifiers=tuple(raw)))
    n = len(truth)
    second_order = (n - 1) ** 2 * float(matrix.max(initial=0.0)) ** 2 * 6e4
    float32_rounding = 6e4 * 2e-7
    for amp, expected in zip(result.amplifiers, truth, strict=True):
        np.testing.assert_allclose(amp.data, expected, rtol=0, atol=second_order + float32_rounding + 1e-3)
    assert result.history[-1].diagnostics["applied"] == bool(matrix.any() and n > 1)
