"""The simulator is not the pipeline's mirror: its own readout table, checked against a real file,
and a wrong flip in the pipeline's mosaic is caught by comparing with the simulator's truth."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import attrs
import numpy as np
import numpy.typing as npt
import pytest
from astropy.io import fits

import lco_core.section
import lco_instruments.geometry
import lco_instruments.readout
from lco_core import ObsType
from lco_core.io import read_raw
from lco_core.section import Section
from lco_instruments.describe import camera_for, raw_to_frame
from lco_instruments.geometry import AmplifierGeometry, Camera
from lco_instruments.simulate import (
    DetectorLayout,
    Exposure,
    Field,
    Signatures,
    SimCamera,
    SimulatedFrame,
    camera_signatures,
    make_field,
    sbig,
    simulate_frame,
    sinistro,
    spectral,
    write_frame,
)
from lco_instruments.simulate.layout import (
    FA05_CENTRAL_2K_2X2,
    parse_section,
    single_amplifier_layout,
    sinistro_layout,
)
from lco_stages.recipes import amplifier_recipe

REAL_MEF = "neoexchange/mef_raw_test_frame.fits"

# --- the section table ---------------------------------------------------------------------------


def test_sections_parse_as_written() -> None:
    assert parse_section("[1025:2048,3072:2049]") == (1025, 2048, 3072, 2049)
    assert parse_section(" [ 1 : 512 , 1 : 512 ] ") == (1, 512, 1, 512)
    for bad in ("UNKNOWN", "[0:10,1:10]", "[1:10]", "1:10,1:10"):
        with pytest.raises(ValueError, match="section"):
            parse_section(bad)


def test_generated_fa05_table_is_the_literal_one_of_the_real_headers() -> None:
    layout = sinistro_layout(amp_size=1024, central=True)
    written = tuple((a.detsec, a.datasec, a.biassec) for a in layout.amplifiers)
    assert written == FA05_CENTRAL_2K_2X2
    assert {(a.naxis1, a.naxis2) for a in layout.amplifiers} == {(544, 522)}
    assert layout.detsize == "[1:4096,1:4096]"
    assert layout.trimsec == "[1:1024,1:1024]"  # the real primary's TRIMSEC
    assert layout.binning == (2, 2)
    assert layout.mosaic_shape == (1024, 1024)


def test_full_frame_table_covers_the_published_quadrants_in_fa05_order() -> None:
    layout = sinistro_layout(amp_size=2048, central=False)
    detsecs = [a.detsec for a in layout.amplifiers]
    # the full-frame list of LCO's Sinistro headers, which numbers the amplifiers from the bottom-left ...
    assert set(detsecs) == {
        "[1:2048,1:2048]",
        "[4096:2049,1:2048]",
        "[4096:2049,4096:2049]",
        "[1:2048,4096:2049]",
    }
    # ... while the real fa05 file, the authority, numbers them from the top-left.
    assert detsecs == ["[1:2048,4096:2049]", "[1:2048,1:2048]", "[4096:2049,1:2048]", "[4096:2049,4096:2049]"]
    assert layout.mosaic_shape == (4096, 4096)


def test_a_table_that_overlaps_or_mismatches_is_refused() -> None:
    good = sinistro_layout(amp_size=64, central=False)
    overlapping = attrs.evolve(good.amplifiers[0], detsec="[1:64,1:64]")  # on top of amplifier 2
    with pytest.raises(ValueError, match="overlap"):
        attrs.evolve(good, amplifiers=(overlapping, *good.amplifiers[1:]))
    too_short = attrs.evolve(good.amplifiers[0], detsec="[1:63,128:65]")
    with pytest.raises(ValueError, match="does not span"):
        attrs.evolve(good, amplifiers=(too_short, *good.amplifiers[1:]))


LAYOUTS = {
    "sinistro 1x1": sinistro_layout(amp_size=48, central=False),
    "sinistro central 2x2": sinistro_layout(amp_size=48, central=True),
    "sbig 2x2": single_amplifier_layout(size=96, binning=2, serial=0),
    "spectral 3x3": single_amplifier_layout(size=96, binning=3, serial=32),
}


@pytest.mark.parametrize("layout", LAYOUTS.values(), ids=LAYOUTS.keys())
def test_cut_puts_each_pixel_where_the_section_formula_says(layout: DetectorLayout) -> None:
    ny, nx = layout.mosaic_shape
    image = np.arange(ny * nx, dtype=np.float64).reshape(ny, nx)  # every pixel its own value
    readouts = layout.cut(image, fill=-1.0)
    bx, by = layout.binning
    bounds = [parse_section(a.detsec) for a in layout.amplifiers]
    x0 = min(min(b[0], b[1]) for b in bounds)
    y0 = min(min(b[2], b[3]) for b in bounds)
    seen = []
    for amp, readout in zip(layout.amplifiers, readouts, strict=True):
        dx1, dx2, dy1, dy2 = parse_section(amp.detsec)
        ax1, ax2, ay1, ay2 = parse_section(amp.datasec)
        sx, sy = (1 if dx2 >= dx1 else -1), (1 if dy2 >= dy1 else -1)
        data_y, data_x = np.mgrid[ay1 : ay2 + 1, ax1 : ax2 + 1]
        # docs/architecture.rst ("Instruments"): det = det0 + s x (data - data0) x bin, covering bin
        # pixels along s.
        det_x = dx1 + sx * (data_x - ax1) * bx
        det_y = dy1 + sy * (data_y - ay1) * by
        column = (np.minimum(det_x, det_x + sx * (bx - 1)) - x0) // bx
        row = (np.minimum(det_y, det_y + sy * (by - 1)) - y0) // by
        np.testing.assert_array_equal(readout[ay1 - 1 : ay2, ax1 - 1 : ax2], image[row, column])
        outside = np.ones(readout.shape, dtype=bool)
        outside[ay1 - 1 : ay2, ax1 - 1 : ax2] = False
        assert np.all(readout[outside] == -1.0)
        seen.append(image[row, column].ravel())
    np.testing.assert_array_equal(np.sort(np.concatenate(seen)), image.ravel())  # each pixel once
    np.testing.assert_array_equal(layout.assemble(readouts), image)


# --- against the real fa05 file -------------------------------------------------------------------


def _bias_frame(sim: SimCamera, seed: int = 1) -> SimulatedFrame:
    exposure = Exposure(ObsType.BIAS, 0.0, dt.datetime(2026, 1, 1, 22, tzinfo=dt.UTC), 1, cosmic_rays=False)
    return simulate_frame(
        sim, camera_signatures(sim, seed=seed), make_field(sim, seed=seed), exposure, seed=seed
    )


def test_simulated_fa05_writes_the_real_files_sections_and_shapes(real_data: Path, tmp_path: Path) -> None:
    sim = sinistro(amp_size=1024, mode="central_2k_2x2", name="fa05", gains=(6.42, 6.23, 6.27, 6.26))
    path = write_frame(tmp_path, _bias_frame(sim))
    # EXTVER is left out: lco_core.io treats it as structural and does not copy it.
    keys = ("NAXIS1", "NAXIS2", "DATASEC", "BIASSEC", "DETSEC", "CCDSUM", "GAIN")
    with fits.open(real_data / REAL_MEF) as real, fits.open(path) as simulated:
        real_cards = [{k: hdu.header[k] for k in keys} for hdu in real[1:]]
        simulated_cards = [{k: hdu.header[k] for k in keys} for hdu in simulated[1:]]
        assert simulated_cards == real_cards
        # The primary: the detector, the mode and the product grid, and no per-amplifier facts.
        for key in ("DETSIZE", "CCDSUM", "CONFMODE", "TRIMSEC", "GAIN", "BIASSEC", "DETSEC"):
            assert simulated[0].header[key] == real[0].header[key], key
    # And the pipeline reads both into the same geometry.
    real_camera, simulated_camera = camera_for(read_raw(real_data / REAL_MEF)), camera_for(read_raw(path))
    for ours, theirs in zip(simulated_camera.amplifiers, real_camera.amplifiers, strict=True):
        assert (ours.readout_shape, ours.data_section, ours.bias_section, ours.detector_section) == (
            theirs.readout_shape, theirs.data_section, theirs.bias_section, theirs.detector_section,
        )  # fmt: skip
    assert simulated_camera.trim_section == real_camera.trim_section


def test_the_tables_sections_hold_sky_and_overscan_on_the_real_file(real_data: Path) -> None:
    """The fa05 table read against the real pixels: DATASEC holds sky, BIASSEC only the offset."""
    table = sinistro(amp_size=1024, mode="central_2k_2x2", name="fa05").layout
    with fits.open(real_data / REAL_MEF) as real:
        readouts = [hdu.data.astype(np.float64) for hdu in real[1:]]
    for amp, readout in zip(table.amplifiers, readouts, strict=True):
        assert readout.shape == amp.shape
        ax1, ax2, ay1, ay2 = parse_section(amp.datasec)
        bx1, bx2, by1, by2 = parse_section(amp.biassec or "")
        data = readout[ay1 - 1 : ay2, ax1 - 1 : ax2]
        overscan = readout[by1 - 1 : by2, bx1 - 1 : bx2]
        # Sky ~2850 ADU over an offset ~2550 ADU; the overscan is flat to its read noise (~1 ADU).
        assert np.median(data) - np.median(overscan) > 200
        assert 1.4826 * np.median(np.abs(overscan - np.median(overscan))) < 3.0


# --- independence from the pipeline's geometry ----------------------------------------------------


def _refuse(*args: object, **kwargs: object) -> None:
    raise AssertionError("the simulator placed pixels through the pipeline's geometry")


@pytest.mark.parametrize(
    "sim",
    [sinistro(amp_size=64), sinistro(amp_size=64, mode="central_2k_2x2"), sbig(size=128), spectral(size=128)],
    ids=["sinistro", "sinistro central", "sbig", "spectral"],
)
def test_simulator_places_no_pixel_through_the_pipeline_geometry(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, sim: SimCamera
) -> None:
    field = make_field(sim, seed=2, stars_per_square_degree=20000)
    exposure = Exposure(ObsType.EXPOSE, 30.0, dt.datetime(2026, 1, 1, 23, tzinfo=dt.UTC), 3)
    before = simulate_frame(sim, camera_signatures(sim, seed=2), field, exposure, seed=2)
    monkeypatch.setattr(lco_instruments.readout, "split_into_amplifiers", _refuse)
    for name in ("to_slices", "to_oriented_slices", "oriented", "parse", "from_slices"):
        monkeypatch.setattr(lco_core.section.Section, name, _refuse)
    monkeypatch.setattr(lco_core.section, "data_to_detector", _refuse)
    for name in ("mosaic_section", "mosaic_shape", "detector_box"):
        monkeypatch.setattr(lco_instruments.geometry.Camera, name, property(_refuse))
    after = simulate_frame(sim, camera_signatures(sim, seed=2), field, exposure, seed=2)
    write_frame(tmp_path, after)
    for a, b in zip(before.readouts, after.readouts, strict=True):
        np.testing.assert_array_equal(a, b)


# --- a wrong flip in the mosaic is caught ---------------------------------------------------------


@attrs.frozen(eq=False)
class Starry:
    """A simulated science frame full of stars, written to disk, with its camera and signatures."""

    sim: SimCamera
    signatures: Signatures
    field: Field
    exposure: Exposure
    frame: SimulatedFrame
    path: Path


@pytest.fixture(scope="module")
def starry(tmp_path_factory: pytest.TempPathFactory) -> Starry:
    sim = sinistro(amp_size=128)
    signatures = camera_signatures(sim, seed=21)
    field = make_field(sim, seed=21, stars_per_square_degree=30000, mag_range=(11.0, 17.0))
    exposure = Exposure(ObsType.EXPOSE, 60.0, dt.datetime(2026, 1, 1, 23, tzinfo=dt.UTC), 1)
    frame = simulate_frame(sim, signatures, field, exposure, seed=21)
    return Starry(
        sim, signatures, field, exposure, frame, write_frame(tmp_path_factory.mktemp("starry"), frame)
    )


def _pulls_per_amplifier(starry: Starry, camera: Camera) -> list[npt.NDArray[np.float64]]:
    """(reduced - truth) / expected noise on each amplifier's region, from the simulator's layout."""
    raw = read_raw(starry.path)
    reduced = amplifier_recipe(camera)(raw_to_frame(raw, camera))
    sim, signatures, truth = starry.sim, starry.signatures, starry.frame.truth
    layout = sim.layout
    expected = np.asarray(layout.trim(truth.expected), dtype=np.float64)
    signal = expected - np.asarray(layout.trim(signatures.bias), dtype=np.float64)
    electronics = sim.electronics[0]
    # Poisson + read noise + 16-bit rounding (one ADU, uniform).
    variance = np.clip(signal, 0.0, None) + electronics.read_noise**2 + electronics.gain**2 / 12.0
    pulls = (reduced.data - expected) / np.sqrt(variance)
    hit = np.asarray(layout.trim(truth.cosmic.mask), dtype=bool) | np.asarray(
        layout.trim(truth.saturated), dtype=bool
    )
    good = (reduced.mask == 0) & ~hit
    result = []
    for index in range(len(layout.amplifiers)):
        rows, columns, _, _ = layout.placement(index)
        result.append(pulls[rows, columns][good[rows, columns]])
    return result


def _with_x_flip_inverted(camera: Camera, index: int) -> Camera:
    amplifiers = list(camera.amplifiers)
    amp: AmplifierGeometry = amplifiers[index]
    d = amp.detector_section
    amplifiers[index] = attrs.evolve(amp, detector_section=Section(d.x_stop, d.x_start, d.y_start, d.y_stop))
    return attrs.evolve(camera, amplifiers=tuple(amplifiers))


def test_the_amplifier_stages_agree_with_the_truth_pixel_for_pixel(starry: Starry) -> None:
    camera = camera_for(read_raw(starry.path))
    for pulls in _pulls_per_amplifier(starry, camera):
        assert pulls.size > 0.9 * 128 * 128
        assert abs(np.mean(pulls)) < 0.05
        assert 0.95 < np.std(pulls) < 1.05
        assert np.mean(np.abs(pulls) > 5) < 1e-4


def test_a_wrong_flip_in_the_cameras_geometry_is_caught(starry: Starry) -> None:
    wrong = _with_x_flip_inverted(camera_for(read_raw(starry.path)), 2)  # amplifier 3 mosaicked unflipped
    stds = [float(np.std(p)) for p in _pulls_per_amplifier(starry, wrong)]
    assert stds[2] > 5.0  # its stars and gradients land in the wrong place
    assert all(0.95 < s < 1.05 for i, s in enumerate(stds) if i != 2)


def test_a_mosaic_stage_that_forgets_x_flips_is_caught(
    starry: Starry, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A bug in the geometry code the mosaic stage relies on; the simulator no longer shares it.

    Before the simulator had its own section table it wrote readouts through this same code, so
    such a bug cancelled out and every end-to-end test still passed.
    """
    camera = camera_for(read_raw(starry.path))
    monkeypatch.setattr(lco_core.section.Section, "x_flipped", property(lambda self: False))
    stds = [float(np.std(p)) for p in _pulls_per_amplifier(starry, camera)]
    assert stds[2] > 5.0
    assert stds[3] > 5.0
    assert 0.95 < stds[0] < 1.05
    assert 0.95 < stds[1] < 1.05
    # The simulator, asked again under the same bug, writes the same pixels as before.
    sim, frame = starry.sim, starry.frame
    again = simulate_frame(sim, starry.signatures, starry.field, starry.exposure, seed=21)
    for before, after in zip(frame.readouts, again.readouts, strict=True):
        np.testing.assert_array_equal(before, after)
