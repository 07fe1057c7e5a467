"""The simulator's raw frames read back as the camera they describe; amplifier stages recover its truth."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import numpy as np
import pytest
from astropy.io import fits

from lco_core import Binning, Frame, MaskBit, ObsType
from lco_core.io import read_raw
from lco_core.section import Section
from lco_instruments.describe import camera_for, raw_to_frame
from lco_instruments.simulate import (
    Exposure,
    SimCamera,
    camera_signatures,
    make_field,
    sbig,
    simulate_frame,
    simulate_night,
    sinistro,
    spectral,
    write_frame,
)
from lco_instruments.simulate.layout import SectionBounds, parse_section
from lco_instruments.simulate.night import night_plan
from lco_stages.recipes import amplifier_recipe

SMALL = {
    "sinistro full frame": sinistro(amp_size=256),
    "sinistro central 2x2": sinistro(amp_size=256, mode="central_2k_2x2"),
    "sbig 2x2": sbig(size=512),
    "spectral 2x2": spectral(size=512),
}


def _bounds(section: Section | None) -> SectionBounds | None:
    return None if section is None else (section.x_start, section.x_stop, section.y_start, section.y_stop)


@pytest.mark.parametrize("sim", SMALL.values(), ids=SMALL.keys())
def test_written_frames_describe_the_simulated_camera(tmp_path: Path, sim: SimCamera) -> None:
    night = simulate_night(tmp_path, sim, n_bias=1, n_dark=1, n_flat=1, n_science=1, seed=3)
    layout = sim.layout
    for path, truth in zip(night.paths, night.truths, strict=True):
        assert path.name == truth.filename
        assert path.name.endswith(".fits.fz")
        raw = read_raw(path)
        camera = camera_for(raw)
        # Against the simulator's own table of section strings, not the pipeline's Camera.
        assert len(camera.amplifiers) == len(layout.amplifiers)
        for amp, table, electronics in zip(
            camera.amplifiers, layout.amplifiers, sim.electronics, strict=True
        ):
            assert amp.readout_shape == (table.naxis2, table.naxis1)
            assert _bounds(amp.data_section) == parse_section(table.datasec)
            assert _bounds(amp.bias_section) == (
                None if table.biassec is None else parse_section(table.biassec)
            )
            assert _bounds(amp.detector_section) == parse_section(table.detsec)
            assert (amp.gain, amp.read_noise, amp.saturation) == (
                electronics.gain, electronics.read_noise, electronics.saturation,
            )  # fmt: skip
        assert _bounds(camera.trim_section) == parse_section(layout.trimsec)
        assert camera.binning == Binning(*layout.binning)
        assert camera.crosstalk == sim.crosstalk
        assert raw.meta.obstype is truth.obstype
        assert raw.meta.exptime == truth.exptime
        frame = amplifier_recipe(camera)(raw_to_frame(raw, camera))
        assert frame.shape == layout.trim(np.zeros(layout.mosaic_shape)).shape
    with fits.open(night.paths[0]) as hdul:  # fpacked, uint16, like LCO's archive
        images = [hdu for hdu in hdul if isinstance(hdu, fits.CompImageHDU)]
        assert len(images) == len(sim.camera.amplifiers)
        assert all(hdu.data.dtype == np.uint16 for hdu in images)
    assert (tmp_path / "refcat.ecsv").exists()
    assert (tmp_path / "truth.json").exists()


def test_simulation_is_deterministic_by_seed(tmp_path: Path) -> None:
    sim = sinistro(amp_size=64)
    first = simulate_night(tmp_path / "a", sim, n_bias=1, n_dark=0, n_flat=0, n_science=1, seed=5)
    again = simulate_night(tmp_path / "b", sim, n_bias=1, n_dark=0, n_flat=0, n_science=1, seed=5)
    other = simulate_night(tmp_path / "c", sim, n_bias=1, n_dark=0, n_flat=0, n_science=1, seed=6)
    for a, b, c in zip(first.paths, again.paths, other.paths, strict=True):
        assert np.array_equal(read_raw(a).images[0].data, read_raw(b).images[0].data)
        assert not np.array_equal(read_raw(a).images[0].data, read_raw(c).images[0].data)


def test_overscan_levels_recovered_within_a_tenth_of_an_adu(tmp_path: Path) -> None:
    sim = sinistro(amp_size=1024)  # 1024 rows x 26 overscan columns per amplifier
    night = simulate_night(tmp_path, sim, n_bias=2, n_dark=0, n_flat=0, n_science=1, seed=1)
    for path, truth in zip(night.paths, night.truths, strict=True):
        raw = read_raw(path)
        camera = camera_for(raw)
        frame = amplifier_recipe(camera)(raw_to_frame(raw, camera))
        diagnostics = frame.steps("subtract_overscan")[0].diagnostics
        for index, level in enumerate(truth.overscan, start=1):
            measured = diagnostics[f"overscan_amp{index}"]
            assert isinstance(measured, float)
            assert measured == pytest.approx(level, abs=0.1)


def test_crosstalk_ghosts_are_removed_to_within_the_noise(tmp_path: Path) -> None:
    with_crosstalk = sinistro(amp_size=256)
    without = sinistro(amp_size=256, crosstalk={})
    field = make_field(with_crosstalk, seed=2, stars_per_square_degree=20000, mag_range=(10.0, 16.0))
    exposure = night_plan(
        n_bias=0, n_dark=0, n_flat=0, n_science=1, filter="rp", dark_exptime=0, flat_exptime=0,
        science_exptime=60.0, start=dt.datetime(2026, 1, 1, 23, tzinfo=dt.UTC), seed=2,
    )[0]  # fmt: skip
    reduced: list[Frame] = []
    ghosts = []
    for sim in (with_crosstalk, without):
        signatures = camera_signatures(sim, seed=2)
        frame = simulate_frame(sim, signatures, field, exposure, seed=2)
        ghosts.append(np.stack([r.astype(np.float64) for r in frame.readouts]))
        raw = read_raw(write_frame(tmp_path / sim.camera.name / str(len(reduced)), frame))
        camera = camera_for(raw)
        reduced.append(amplifier_recipe(camera)(raw_to_frame(raw, camera)))
    # The ghosts are real: a saturated star leaves ~0.0005 x 47500 ADU = 24 ADU in its partner
    # amplifier, several read-noise widths (7.5 e- / 2 e-/ADU) above the noise.
    raw_difference = np.abs(ghosts[0] - ghosts[1]).reshape(4, -1).max(axis=1)
    assert np.all(raw_difference > 2.5 * 7.5 / 2.0)
    corrected, truth = reduced
    good = (corrected.mask | truth.mask) & (MaskBit.SATURATED | MaskBit.NO_DATA) == 0
    residual = (corrected.data - truth.data)[good]
    read_noise = 7.5
    assert np.abs(residual).max() < read_noise  # worst pixel within one read noise
    assert np.std(residual) < 0.2 * read_noise  # what remains is 16-bit rounding


def test_saturation_is_flagged_where_the_simulator_clipped(tmp_path: Path) -> None:
    sim = sinistro(amp_size=256)
    field = make_field(sim, seed=4, stars_per_square_degree=30000, mag_range=(9.0, 14.0))
    night = simulate_night(tmp_path, sim, n_bias=0, n_dark=0, n_flat=0, n_science=1, seed=4, field=field)
    truth = night.truths[0]
    raw = read_raw(night.paths[0])
    camera = camera_for(raw)
    frame = amplifier_recipe(camera)(raw_to_frame(raw, camera))
    clipped = sim.layout.trim(truth.saturated)
    assert clipped.sum() > 20
    flagged = (frame.mask & MaskBit.SATURATED) > 0
    np.testing.assert_array_equal(flagged, clipped)


def test_header_pointing_is_deliberately_a_little_wrong(tmp_path: Path) -> None:
    night = simulate_night(
        tmp_path, sinistro(amp_size=128), n_bias=0, n_dark=0, n_flat=0, n_science=2, seed=8,
        pointing_error_range=(60.0, 180.0),
    )  # fmt: skip
    for path, truth in zip(night.paths, night.truths, strict=True):
        meta = read_raw(path).meta
        assert meta.ra is not None
        assert meta.dec is not None
        true_ra, true_dec = (float(v) for v in truth.wcs.wcs.crval)
        offset = np.hypot((meta.ra - true_ra) * np.cos(np.radians(true_dec)), meta.dec - true_dec) * 3600
        assert 55 < offset < 185  # 1-3 arcmin, as asked of the plan


def test_exposure_defaults_are_sane() -> None:
    exposure = Exposure(
        obstype=ObsType.EXPOSE, exptime=30.0, start=dt.datetime(2026, 1, 1, tzinfo=dt.UTC), number=1
    )
    assert exposure.filter == "rp"
    assert exposure.cosmic_rays
