"""Master bias, dark and flat, the BPM and the calibration stages, against the simulator's truth."""

from __future__ import annotations

from pathlib import Path

import attrs
import numpy as np
import pytest
from helpers import load, masters_of, reduce, trimmed

from lco_core import Binning, ObsType
from lco_core.io import read_bad_pixel_mask, read_master, write_bad_pixel_mask, write_master
from lco_instruments.simulate import Night, sbig, simulate_night, sinistro
from lco_stages.bpm import make_bad_pixel_mask
from lco_stages.masters import make_master_bias
from lco_stages.recipes import Calibrations, bias_recipe, recipe_for


@pytest.fixture(scope="module")
def sinistro_night(tmp_path_factory: pytest.TempPathFactory) -> Night:
    folder = tmp_path_factory.mktemp("sinistro-night")
    return simulate_night(folder, sinistro(amp_size=128), n_bias=7, n_dark=5, n_flat=5, n_science=2, seed=11)


@pytest.fixture(scope="module")
def sinistro_masters(sinistro_night: Night) -> Calibrations:
    return masters_of(sinistro_night)


def test_master_bias_recovers_the_bias_structure(
    sinistro_night: Night, sinistro_masters: Calibrations
) -> None:
    camera = sinistro_night.sim.camera
    assert sinistro_masters.bias is not None
    master = sinistro_masters.bias.frame.data.astype(np.float64)
    truth = trimmed(sinistro_night.signatures.bias, camera).astype(np.float64)
    residual = master - truth
    residual -= np.median(residual)  # the structure's mean level went into BIASLVL
    ideal = camera.amplifiers[0].read_noise / np.sqrt(7)
    assert np.std(residual) < 1.2 * ideal
    assert np.std(truth) > 1.0  # there was structure to recover


def test_master_dark_matches_the_dark_current_within_its_noise(
    sinistro_night: Night, sinistro_masters: Calibrations
) -> None:
    dark = sinistro_masters.dark
    assert dark is not None
    camera = sinistro_night.sim.camera
    truth = trimmed(sinistro_night.signatures.dark.rate, camera)
    good = dark.frame.mask == 0
    pulls = ((dark.frame.data - truth) / dark.frame.uncertainty)[good]
    assert abs(np.mean(pulls)) < 0.1
    assert 0.9 < np.std(pulls) < 1.1
    bpm = make_bad_pixel_mask(dark=dark, flat=sinistro_masters.flat, filename="bpm.fits")
    hot = trimmed(sinistro_night.signatures.dark.hot, camera)
    recall = (bpm.mask[hot] > 0).mean()
    assert hot.sum() >= 5
    assert recall >= 0.95


def test_master_flat_recovers_the_response_to_photon_noise(
    sinistro_night: Night, sinistro_masters: Calibrations
) -> None:
    flat = sinistro_masters.flat
    assert flat is not None
    camera = sinistro_night.sim.camera
    true = trimmed(sinistro_night.signatures.flat.response, camera).astype(np.float64)
    good = flat.frame.mask == 0
    ratio = flat.frame.data / true
    ratio /= np.median(ratio[good])  # the normalisation of a flat is a convention
    # Ideal: photon and read noise of five flats, each normalised, per pixel.
    level = 25000.0 * true
    ideal = np.sqrt(level + camera.amplifiers[0].read_noise ** 2) / level / np.sqrt(5)
    rms = np.sqrt(np.mean((ratio[good] - 1) ** 2))
    assert rms < 1.2 * np.sqrt(np.mean(ideal[good] ** 2))
    # Dithered stars of every flat were rejected pixel by pixel: no residual at their cores.
    for truth in sinistro_night.truths:
        if truth.obstype is ObsType.SKYFLAT:
            stars = truth.stars.keep_inside()
            x = np.round(stars.x - camera.trim_section.x_min + 1).astype(int)
            y = np.round(stars.y - camera.trim_section.y_min + 1).astype(int)
            inside = (x >= 0) & (y >= 0) & (x < flat.frame.shape[1]) & (y < flat.frame.shape[0])
            cores = (ratio[y[inside], x[inside]] - 1) / ideal[y[inside], x[inside]]
            assert np.all(np.abs(cores) < 5)
    # Bad columns of the true flat are in the BPM.
    bpm = make_bad_pixel_mask(flat=flat, filename="bpm.fits")
    for column in sinistro_night.signatures.flat.bad_columns:
        local = column - (camera.trim_section.x_min - 1)
        bad_rows = trimmed(sinistro_night.signatures.flat.low_response, camera)[:, local]
        assert bpm.mask[bad_rows, local].all()


def test_calibrated_science_frame_is_consistent_with_its_uncertainty(
    sinistro_night: Night, sinistro_masters: Calibrations
) -> None:
    assert sinistro_masters.flat is not None
    camera = sinistro_night.sim.camera
    signatures = sinistro_night.signatures
    for path in sinistro_night.paths_of(ObsType.EXPOSE):
        frame, _ = load(path)
        calibrated = recipe_for(ObsType.EXPOSE, camera, sinistro_masters)(frame)
        truth = sinistro_night.truth_for(path.name)
        light = (
            truth.expected - signatures.bias - signatures.dark.rate * truth.exptime
        ) / signatures.flat.response
        light = trimmed(light, camera)
        scale = np.median(sinistro_masters.flat.frame.data / trimmed(signatures.flat.response, camera))
        cosmic = trimmed(truth.cosmic.mask, camera)
        near_cosmic = (
            cosmic
            | np.roll(cosmic, 1, 0)
            | np.roll(cosmic, -1, 0)
            | np.roll(cosmic, 1, 1)
            | np.roll(cosmic, -1, 1)
        )
        good = (calibrated.mask == 0) & ~near_cosmic
        pulls = ((calibrated.data - light / scale) / calibrated.uncertainty)[good]
        assert abs(np.mean(pulls)) < 0.05
        assert 0.95 <= np.std(pulls) <= 1.05
        assert [s.stage for s in calibrated.history][-4:] == [
            "subtract_bias", "add_poisson_uncertainty", "subtract_dark", "divide_flat"
        ]  # fmt: skip


def test_master_files_round_trip(tmp_path: Path, sinistro_masters: Calibrations) -> None:
    for master in (sinistro_masters.bias, sinistro_masters.dark, sinistro_masters.flat):
        assert master is not None
        path = write_master(tmp_path / master.filename, master)
        back = read_master(path)
        assert back.kind is master.kind
        assert back.inputs == master.inputs
        assert back.bias_level == pytest.approx(master.bias_level)
        assert back.temperature == master.temperature
        assert back.flat_level == master.flat_level
        np.testing.assert_array_equal(back.frame.data, master.frame.data)
        assert back.frame.meta.date_obs == master.frame.meta.date_obs.replace(
            microsecond=master.frame.meta.date_obs.microsecond // 1000 * 1000
        )
    assert sinistro_masters.flat is not None
    assert sinistro_masters.flat.filename == "cpt1m010-fa99-20260101-skyflat-bin1x1-rp.fits"
    assert sinistro_masters.bias is not None
    assert sinistro_masters.bias.filename == "cpt1m010-fa99-20260101-bias-bin1x1.fits"


def test_bad_pixel_mask_round_trips_with_its_camera_and_binning(
    tmp_path: Path, sinistro_masters: Calibrations
) -> None:
    assert sinistro_masters.flat is not None
    bpm = make_bad_pixel_mask(flat=sinistro_masters.flat, filename="bpm.fits")
    assert bpm.camera == "fa99"
    assert bpm.binning == Binning(1, 1)
    back = read_bad_pixel_mask(write_bad_pixel_mask(tmp_path / "bpm.fits", bpm))
    assert (back.camera, back.binning) == (bpm.camera, bpm.binning)
    np.testing.assert_array_equal(back.mask, bpm.mask)
    # A mask for any camera and binning writes neither keyword and reads back as such.
    anywhere = attrs.evolve(bpm, camera=None, binning=None)
    back = read_bad_pixel_mask(write_bad_pixel_mask(tmp_path / "any.fits", anywhere))
    assert (back.camera, back.binning) == (None, None)


@pytest.fixture(scope="module")
def sbig_night(tmp_path_factory: pytest.TempPathFactory) -> Night:
    folder = tmp_path_factory.mktemp("sbig-night")
    return simulate_night(folder, sbig(size=512), n_bias=5, n_dark=5, n_flat=5, n_science=1, seed=12)


def test_sbig_without_overscan_gets_its_level_from_the_master_bias(sbig_night: Night) -> None:
    biases = reduce(sbig_night.paths_of(ObsType.BIAS), bias_recipe)
    result = make_master_bias(biases)
    # No overscan: the 520 ADU pedestal x 1.4 e-/ADU is the bias level the master keeps.
    assert result.master.bias_level == pytest.approx(520 * 1.4, abs=1.0)
    cal = masters_of(sbig_night)
    frame, camera = load(sbig_night.paths_of(ObsType.EXPOSE)[0])
    calibrated = recipe_for(ObsType.EXPOSE, camera, cal)(frame)
    sky = sbig_night.truths[-1].sky
    assert np.median(calibrated.data) == pytest.approx(sky, rel=0.05)
