"""Rules of master-making and calibration: NSUBREAD, temperatures, S/N, QC, errors, masks."""

from __future__ import annotations

import datetime as dt
import math
import re
from collections.abc import Callable
from pathlib import Path

import attrs
import numpy as np
import numpy.typing as npt
import pytest
from helpers import load, masters_of, reduce

from lco_core import Binning, Frame, FrameMeta, MaskBit, ObsType, StageError
from lco_core.master import BadPixelMask, Master, MasterKind
from lco_instruments.simulate import (
    Exposure,
    camera_signatures,
    make_field,
    sbig,
    simulate_frame,
    simulate_night,
    sinistro,
    write_frame,
)
from lco_stages.bias import subtract_bias, subtract_bias_level
from lco_stages.bpm import apply_bad_pixel_mask, make_bad_pixel_mask
from lco_stages.dark import dark_scale, subtract_dark
from lco_stages.flat import divide_flat
from lco_stages.masters import (
    StackSettings,
    TooFewFramesError,
    make_master_bias,
    make_master_dark,
    make_master_flat,
)
from lco_stages.qc import QcSettings, compare_with_master
from lco_stages.recipes import Calibrations, MissingCalibrationError, dark_recipe, flat_recipe, recipe_for

ONE = Binning(1, 1)


def _meta(
    obstype: ObsType,
    *,
    nsubread: int = 1,
    exptime: float = 0.0,
    filter: str | None = None,
    binning: Binning = ONE,
    ccd_temperature: float | None = None,
) -> FrameMeta:
    number = np.random.default_rng().integers(10, 99)
    return FrameMeta(
        filename=f"cpt1m010-fa99-20260101-00{number}-b00.fits",
        obstype=obstype, site="cpt", telescope="1m0-10", camera="fa99",
        day_obs=dt.date(2026, 1, 1), date_obs=dt.datetime(2026, 1, 1, 22, tzinfo=dt.UTC),
        exptime=exptime, binning=binning, nsubread=nsubread, filter=filter, ccd_temperature=ccd_temperature,
    )  # fmt: skip


def _frame(meta: FrameMeta, data: npt.NDArray[np.floating], sigma: float = 5.0) -> Frame:
    return Frame(
        meta=meta, data=data, mask=np.zeros(data.shape, np.uint8), uncertainty=np.full(data.shape, sigma)
    )


def test_nsubread_bookkeeping_is_consistent_both_ways() -> None:
    rng = np.random.default_rng(1)
    structure = rng.normal(0, 4, size=(20, 30))
    level = 700.0
    biases = []
    for index in range(6):
        reads = 2 if index % 2 else 3  # a mix of multi-read bias frames
        data = reads * (level + structure) + rng.normal(0, 1.0, structure.shape)
        biases.append(subtract_bias_level()(_frame(_meta(ObsType.BIAS, nsubread=reads), data, 1.0)))
    master = make_master_bias(biases).master
    assert master.bias_level == pytest.approx(level + structure.mean(), abs=0.2)
    science = _frame(_meta(ObsType.EXPOSE, nsubread=4, exptime=10), 4 * (level + structure) + 100.0)
    corrected = subtract_bias(master)(science)
    residual = corrected.data - 100.0  # four reads' worth of bias (level and structure) removed
    assert abs(float(np.mean(residual))) < 0.2
    assert np.std(residual) < 1.0  # per-read master noise ~0.16 x 4 reads, not the 4 e- structure


def test_dark_frames_off_their_set_temperature_are_rejected_with_the_reason(tmp_path: Path) -> None:
    sim = sinistro(amp_size=64)
    night = simulate_night(tmp_path, sim, n_bias=5, n_dark=0, n_flat=0, n_science=0, seed=3)
    cal = Calibrations(
        bias=make_master_bias(
            reduce(night.paths, lambda c: recipe_for(ObsType.BIAS, c, Calibrations()))
        ).master
    )
    signatures, field = camera_signatures(sim, seed=3), make_field(sim, seed=3)
    paths = []
    for number, offset in enumerate([0.0, 0.1, -0.2, 0.5, 0.0, -0.7, 0.05], start=100):
        exposure = Exposure(
            ObsType.DARK, 300.0, dt.datetime(2026, 1, 2, 1, tzinfo=dt.UTC), number, temperature_offset=offset
        )
        paths.append(write_frame(tmp_path, simulate_frame(sim, signatures, field, exposure, seed=3)))
    darks = reduce(paths, lambda camera: dark_recipe(camera, cal))
    result = make_master_dark(darks)
    assert len(result.used) == 5
    assert [r.filename for r in result.rejected] == [paths[3].name, paths[5].name]
    assert "set point" in result.rejected[0].reason
    assert ">= 0.5 C" in result.rejected[0].reason
    with pytest.raises(
        TooFewFramesError,
        match=r"fa99 dark binning 1x1 mode full_frame: 5 usable frames, a master needs at least 6",
    ):
        make_master_dark(darks, settings=StackSettings(min_frames=6))


def test_dark_scales_with_exposure_time_and_temperature() -> None:
    rate = np.full((4, 4), 2.0, dtype=np.float32)
    master = Master(
        MasterKind.DARK,
        _frame(_meta(ObsType.DARK, exptime=1.0), rate, 0.01),
        ["d.fits"],
        temperature=-20.0,
        dark_temperature_coefficient=0.1,
    )
    warm = _frame(_meta(ObsType.EXPOSE, exptime=60.0, ccd_temperature=-19.5), np.full((4, 4), 500.0))
    expected = 60.0 * math.exp(0.1 * 0.5)
    assert dark_scale(warm, master) == pytest.approx(expected)
    corrected = subtract_dark(master)(warm)
    np.testing.assert_allclose(corrected.data, 500.0 - 2.0 * expected, rtol=1e-6)
    assert corrected.history[-1].diagnostics["DRKTSCAL"] == pytest.approx(expected)
    unknown = _frame(_meta(ObsType.EXPOSE, exptime=60.0), np.full((4, 4), 500.0))
    assert dark_scale(unknown, master) == 60.0  # no temperature: exposure time only


def test_dark_temperature_scaling_on_a_simulated_sbig(tmp_path: Path) -> None:
    sim = sbig(size=256)  # DRKTCOEF 0.09 /K, hot pixels of 0.5-20 e-/s
    night = simulate_night(
        tmp_path, sim, n_bias=5, n_dark=5, n_flat=5, n_science=0, seed=4, dark_exptime=600.0
    )
    cal = masters_of(night)
    assert cal.dark is not None
    assert cal.dark.dark_temperature_coefficient == 0.09
    signatures, field = camera_signatures(sim, seed=4), make_field(sim, seed=4)
    exposure = Exposure(
        ObsType.DARK,
        600.0,
        dt.datetime(2026, 1, 2, 3, tzinfo=dt.UTC),
        200,
        temperature_offset=0.4,
        cosmic_rays=False,
    )
    frame, camera = load(write_frame(tmp_path, simulate_frame(sim, signatures, field, exposure, seed=4)))
    warm = recipe_for(ObsType.DARK, camera, Calibrations(bias=cal.bias))(frame)  # e-/s at +0.4 C
    hot = signatures.dark.hot[camera.trim_section.to_slices()] & (warm.mask == 0)
    measured = warm.data[hot] / cal.dark.frame.data[hot]
    assert np.median(measured) == pytest.approx(math.exp(0.09 * 0.4), rel=0.02)


def test_low_signal_flats_are_rejected(tmp_path: Path) -> None:
    sim = sinistro(amp_size=64)
    night = simulate_night(tmp_path, sim, n_bias=5, n_dark=5, n_flat=5, n_science=0, seed=5, flat_exptime=5.0)
    cal = masters_of(night)
    signatures, field = camera_signatures(sim, seed=5), make_field(sim, seed=5)
    faint = Exposure(ObsType.SKYFLAT, 5.0, dt.datetime(2026, 1, 2, 1, tzinfo=dt.UTC), 300, flat_level=1500.0)
    path = write_frame(tmp_path, simulate_frame(sim, signatures, field, faint, seed=5))
    flats = reduce([*night.paths_of(ObsType.SKYFLAT), path], lambda c: flat_recipe(c, cal))
    result = make_master_flat(flats)
    assert [r.filename for r in result.rejected] == [path.name]
    assert "median signal-to-noise" in result.rejected[0].reason
    assert "< 50" in result.rejected[0].reason


def test_low_flat_pixels_are_flagged_and_set_to_one() -> None:
    flats = []
    for index in range(5):
        data = np.full((6, 6), 1.0) + np.random.default_rng(index).normal(0, 0.002, (6, 6))
        data[2, 3] = 0.1  # a dead pixel
        frame = _frame(_meta(ObsType.SKYFLAT, exptime=5.0, filter="rp"), data, 0.002)
        flats.append(
            frame.with_step(__import__("lco_core").ProcessingStep("normalise_flat", {}, {"FLATLVL": 2e4}))
        )
    master = make_master_flat(flats, qc=QcSettings(min_flat_snr=0)).master
    assert master.frame.data[2, 3] == 1.0
    assert master.frame.mask[2, 3] & MaskBit.LOW_FLAT
    assert master.frame.mask.sum() == MaskBit.LOW_FLAT


def test_qc_rejects_a_frame_that_disagrees_with_the_previous_master() -> None:
    rng = np.random.default_rng(7)
    structure = rng.normal(0, 3, size=(40, 40))

    def bias(leak: float = 0.0) -> Frame:
        data = 500 + structure + rng.normal(0, 1.0, structure.shape)
        data[:, :20] += leak  # a light leak over half the frame
        return subtract_bias_level()(_frame(_meta(ObsType.BIAS), data, 1.0))

    first = make_master_bias([bias() for _ in range(5)])
    assert all(d.fraction_beyond is None and "no previous master" in d.reason for d in first.qc)
    frames = [bias() for _ in range(5)] + [bias(leak=40.0)]
    second = make_master_bias(frames, previous=first.master)
    assert len(second.used) == 5
    leaky = second.rejected[0]
    assert leaky.filename == frames[-1].meta.filename
    assert "of pixels beyond 6 sigma" in leaky.reason
    assert "rejected" in leaky.reason
    decision = compare_with_master(frames[0], first.master)
    assert decision.accepted
    assert decision.fraction_beyond is not None
    assert decision.fraction_beyond < 0.01


def test_too_few_frames_is_a_clear_error() -> None:
    frames = [subtract_bias_level()(_frame(_meta(ObsType.BIAS), np.full((4, 4), 500.0))) for _ in range(3)]
    with pytest.raises(
        TooFewFramesError,
        match="fa99 bias binning 1x1 mode full_frame: 3 usable frames, a master needs at least 5",
    ):
        make_master_bias(frames)
    assert make_master_bias(frames, settings=StackSettings(min_frames=3)).master.kind is MasterKind.BIAS


def test_missing_calibrations_and_mismatches_are_errors() -> None:
    from lco_instruments.simulate import sinistro as sinistro_camera

    camera = sinistro_camera(amp_size=16).camera
    with pytest.raises(MissingCalibrationError, match="a science frame needs a master bias"):
        recipe_for(ObsType.EXPOSE, camera, Calibrations())
    with pytest.raises(MissingCalibrationError, match="a sky flat needs a master dark"):
        flat_recipe(camera, Calibrations(bias=_bias_master((4, 4))))
    master = _bias_master((4, 4))
    binned = _frame(_meta(ObsType.EXPOSE, exptime=1.0, binning=Binning(2, 2)), np.zeros((4, 4)))
    with pytest.raises(StageError, match="does not fit: binning 2x2 != 1x1"):
        subtract_bias(master)(binned)
    other_shape = _frame(_meta(ObsType.EXPOSE, exptime=1.0), np.zeros((5, 4)))
    with pytest.raises(StageError, match=r"shape \(5, 4\) != \(4, 4\)"):
        subtract_bias(master)(other_shape)
    flat = Master(
        MasterKind.SKYFLAT, _frame(_meta(ObsType.SKYFLAT, filter="ip"), np.ones((4, 4)), 0.0), ["f"]
    )
    with pytest.raises(StageError, match="is for filter 'ip', the frame for 'rp'"):
        divide_flat(flat)(_frame(_meta(ObsType.EXPOSE, exptime=1.0, filter="rp"), np.zeros((4, 4))))
    with pytest.raises(ValueError, match="not a dark"):
        subtract_dark(master)


def test_every_builder_refuses_a_master_of_another_kind_alike() -> None:
    bias = _bias_master((4, 4))
    refusals: list[tuple[Callable[[], object], str]] = [
        (lambda: subtract_dark(bias), "dark"),
        (lambda: divide_flat(bias), "flat"),
        (lambda: make_bad_pixel_mask(dark=bias, filename="bpm.fits"), "dark"),
        (lambda: make_bad_pixel_mask(flat=bias, filename="bpm.fits"), "flat"),
    ]
    for build, what in refusals:
        with pytest.raises(ValueError, match=rf"^{re.escape(bias.filename)} is a master bias, not a {what}$"):
            build()
    dark = Master(MasterKind.DARK, _frame(_meta(ObsType.DARK, exptime=1.0), np.zeros((4, 4))), ["d"])
    with pytest.raises(ValueError, match=rf"^{re.escape(dark.filename)} is a master dark, not a bias$"):
        subtract_bias(dark)


def _bias_master(shape: tuple[int, int]) -> Master:
    return Master(MasterKind.BIAS, _frame(_meta(ObsType.BIAS), np.zeros(shape), 0.5), ["b"], bias_level=10.0)


def test_bad_pixel_mask_sets_the_bad_bit() -> None:
    mask = np.zeros((4, 4), np.uint8)
    mask[1, 2] = 1
    bpm = BadPixelMask(mask=mask, filename="bpm.fits", camera="fa99", binning=Binning(1, 1))
    frame = _frame(_meta(ObsType.EXPOSE, exptime=1.0), np.zeros((4, 4)))
    flagged = apply_bad_pixel_mask(bpm)(attrs.evolve(frame, mask=np.full((4, 4), MaskBit.COSMIC, np.uint8)))
    assert flagged.mask[1, 2] == MaskBit.BAD | MaskBit.COSMIC
    assert (flagged.mask == MaskBit.COSMIC).sum() == 15
    wrong = BadPixelMask(mask=mask, filename="bpm.fits", camera="kb12", binning=Binning(1, 1))
    with pytest.raises(StageError, match="camera fa99 != kb12"):
        apply_bad_pixel_mask(wrong)(frame)
