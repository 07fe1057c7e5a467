"""The simulator's injected faults are what they claim (issue 15), and the pointing test end to end.

Each fault is checked against the same frame simulated without it (same seed: the faults draw from
a random stream of their own, so everything else is identical), so the difference is the fault
alone: a wrong header gain changes the GAIN cards and no pixel; a stuck readout sets the stated
share of one amplifier to the stated value; a level shift moves one overscan by the stated ADU;
periodic noise is a sinusoid of the stated amplitude and frequency along the rows; a saturated
region clips the stated share of columns. Then a science frame whose header points 400 arcsec off
is reduced with the real astrometric solver and the pointing test rejects it with that offset.
"""

from __future__ import annotations

import datetime as dt
from pathlib import Path
from typing import Any

import attrs
import numpy as np
import pytest
from astropy.coordinates import SkyCoord
from helpers import load, masters_of

from lco_cli.catalogs import read_reference_file
from lco_core import ObsType
from lco_core.io import read_raw
from lco_instruments.bias_levels import BIAS_LEVEL_WINDOWS
from lco_instruments.families import CameraFamily
from lco_instruments.simulate import Exposure, make_field, sbig, simulate_frame, simulate_night, sinistro
from lco_instruments.simulate.frames import FrameDefects, SimulatedFrame, camera_signatures
from lco_stages.quality import Verdict, quality_results
from lco_stages.recipes import science_recipe

START = dt.datetime(2026, 1, 1, 22, 0, tzinfo=dt.UTC)


def _pair(obstype: ObsType, defects: FrameDefects, **changes: Any) -> tuple[SimulatedFrame, SimulatedFrame]:
    sim = sinistro(amp_size=64)
    signatures, field = camera_signatures(sim, seed=3), make_field(sim, seed=3)
    exposure = Exposure(
        obstype=obstype, exptime=0.0 if obstype is ObsType.BIAS else 30.0, start=START, number=4
    )
    clean = simulate_frame(sim, signatures, field, exposure, seed=3)
    faulty = simulate_frame(
        sim, signatures, field, attrs.evolve(exposure, defects=defects, **changes), seed=3
    )
    return clean, faulty


def test_a_wrong_header_gain_changes_the_cards_and_no_pixel() -> None:
    clean, faulty = _pair(ObsType.BIAS, FrameDefects(), header_gain_factor=1.1)
    assert faulty.truth.header_gain_factor == 1.1
    for a, b, ha, hb in zip(
        clean.readouts, faulty.readouts, clean.extension_headers, faulty.extension_headers, strict=True
    ):
        np.testing.assert_array_equal(a, b)
        written, true = hb.get("GAIN"), ha.get("GAIN")
        assert isinstance(written, float)
        assert isinstance(true, float)
        assert written == pytest.approx(1.1 * true)


def test_a_stuck_readout_sets_its_share_of_one_amplifier() -> None:
    clean, faulty = _pair(
        ObsType.EXPOSE, FrameDefects(stuck_fraction=0.3, stuck_value=1000, stuck_amplifier=3)
    )
    for index, (a, b) in enumerate(zip(clean.readouts, faulty.readouts, strict=True), start=1):
        changed = a != b
        if index != 3:
            assert not changed.any()
            continue
        stuck = b == 1000
        assert np.all(stuck[changed])  # every changed pixel is at the value
        assert stuck.mean() == pytest.approx(0.3, abs=4 * np.sqrt(0.3 * 0.7 / b.size))


def test_a_level_shift_moves_one_overscan() -> None:
    clean, faulty = _pair(ObsType.BIAS, FrameDefects(level_shift=(0.0, 1500.0, 0.0, 0.0)))
    assert np.subtract(faulty.truth.overscan, clean.truth.overscan) == pytest.approx([0.0, 1500.0, 0.0, 0.0])
    difference = faulty.readouts[1].astype(float) - clean.readouts[1].astype(float)
    assert np.median(difference) == 1500.0
    np.testing.assert_array_equal(faulty.readouts[0], clean.readouts[0])


def test_periodic_noise_is_a_sinusoid_of_the_stated_amplitude_and_frequency() -> None:
    amplitude, frequency = 6.0, 0.17  # electrons, cycles per pixel
    clean, faulty = _pair(
        ObsType.DARK, FrameDefects(pattern_amplitude=amplitude, pattern_frequency=frequency)
    )
    gain = sinistro(amp_size=64).electronics[0].gain
    difference = (faulty.readouts[0].astype(float) - clean.readouts[0].astype(float)) * gain
    # A sinusoid of amplitude A has rms A / sqrt(2); rounding to ADU adds gain^2 / 6 of variance.
    rms = np.sqrt(np.mean(difference**2) - gain**2 / 6)
    assert rms == pytest.approx(amplitude / np.sqrt(2), rel=0.05)
    spectrum = (np.abs(np.fft.rfft(difference, axis=1)) ** 2).mean(axis=0)
    assert np.argmax(spectrum) / difference.shape[1] == pytest.approx(frequency, abs=1 / difference.shape[1])


def test_a_saturated_region_clips_its_share_of_the_columns() -> None:
    _, faulty = _pair(ObsType.EXPOSE, FrameDefects(saturated_fraction=0.125))
    columns = np.asarray(faulty.truth.saturated.all(axis=0))
    assert columns.mean() == pytest.approx(0.125, abs=1 / columns.size)
    assert columns[: round(0.125 * columns.size)].all()


def test_a_flat_above_the_full_well_saturates() -> None:
    sim = sinistro(amp_size=64)
    full_well = max(e.saturation * e.gain for e in sim.electronics)
    _, faulty = _pair(ObsType.SKYFLAT, FrameDefects(), flat_level=2 * full_well, exptime=5.0)
    assert faulty.truth.saturated.mean() > 0.95


def test_a_night_points_as_lco_does_unless_asked(tmp_path: Path) -> None:
    for limits in ((0.0, 10.0), (400.0, 400.0)):
        folder = tmp_path / str(limits[1])
        sim = sbig(size=128)
        night = (
            simulate_night(folder, sim, n_bias=0, n_dark=0, n_flat=0, n_science=6, seed=4, compress=False)
            if limits == (0.0, 10.0)  # the default
            else simulate_night(
                folder, sim, n_bias=0, n_dark=0, n_flat=0, n_science=6, seed=4, compress=False,
                pointing_error_range=limits,
            )
        )  # fmt: skip
        for path, truth in zip(night.paths, night.truths, strict=True):
            meta = read_raw(path).meta
            assert meta.ra is not None
            assert meta.dec is not None
            ra, dec = (float(v) for v in truth.wcs.wcs.crval)
            offset = SkyCoord(meta.ra, meta.dec, unit="deg").separation(SkyCoord(ra, dec, unit="deg")).arcsec
            assert limits[0] - 0.5 <= offset <= limits[1] + 0.5


def test_the_pointing_test_rejects_a_frame_solved_400_arcsec_from_its_header(tmp_path: Path) -> None:
    sim = sinistro(amp_size=256)
    night = simulate_night(
        tmp_path, sim, n_bias=3, n_dark=3, n_flat=3, n_science=1, seed=6, compress=False,
        field=make_field(sim, seed=6, stars_per_square_degree=20000), pointing_error_range=(400.0, 400.0),
        science_exptime=120.0,
    )  # fmt: skip
    (path,) = night.paths_of(ObsType.EXPOSE)
    frame, camera = load(path)
    recipe = science_recipe(
        camera, masters_of(night, min_frames=3), reference=read_reference_file(night.catalog_path),
        pixel_scale=sim.pixel_scale,
    )  # fmt: skip
    reduced = recipe(frame)
    assert reduced.wcs is not None
    assert reduced.wcs.solved
    results = {r.test: r for r in quality_results(reduced)}
    pointing = results["pointing"]
    assert pointing.verdict is Verdict.REJECT
    # Truth: the header's pointing against the true sky position of the trimmed image's centre.
    truth = dict(zip(night.paths, night.truths, strict=True))[path]
    ny, nx = reduced.shape
    x0, y0 = camera.trim_section.x_min - 1, camera.trim_section.y_min - 1
    ra, dec = truth.wcs.all_pix2world([[x0 + (nx - 1) / 2, y0 + (ny - 1) / 2]], 0)[0]
    assert frame.meta.ra is not None
    assert frame.meta.dec is not None
    expected = (
        SkyCoord(frame.meta.ra, frame.meta.dec, unit="deg").separation(SkyCoord(ra, dec, unit="deg")).arcsec
    )
    assert pointing.value == pytest.approx(expected, abs=1.0)
    assert {r.verdict for t, r in results.items() if t != "pointing"} == {Verdict.PASS}


def test_the_simulated_cameras_bias_levels_lie_in_their_family_windows() -> None:
    for sim in (sinistro(amp_size=64), sinistro(amp_size=64, mode="central_2k_2x2"), sbig(size=128)):
        window = BIAS_LEVEL_WINDOWS[sim.family]
        levels = sim.overscan_levels if sim.family is CameraFamily.SINISTRO else (sim.pedestal,)
        for level in levels:  # the frames' own levels scatter by 2 ADU about these
            assert window.low + 10 <= level <= window.high - 10
