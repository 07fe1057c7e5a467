"""Simulated mountings: the eight signed axis permutations plus a small rotation, drawn into the
image through the true WCS while the raw header states only the nominal mounting."""

from __future__ import annotations

import datetime as dt
import math
from pathlib import Path

import numpy as np
import numpy.typing as npt
import pytest
from helpers import load, masters_of

from lco_cli.catalogs import read_reference_file
from lco_core import ObsType
from lco_core.io import read_raw
from lco_instruments.simulate import (
    BadPixelDensity,
    Exposure,
    Mounting,
    all_mountings,
    camera_signatures,
    make_field,
    sbig,
    simulate_frame,
    simulate_night,
    sinistro,
    write_frame,
)
from lco_instruments.simulate.layout import parse_section
from lco_stages.recipes import science_recipe

Array = npt.NDArray[np.float64]

#: (north, east) -> the signed permutation P of CD = s R P, written out by hand from the FITS
#: convention (row 0: pixel direction of east, row 1: of north), not from the simulator's code.
PERMUTATIONS: dict[tuple[str, str], tuple[tuple[int, int], tuple[int, int]]] = {
    ("up", "left"): ((-1, 0), (0, 1)),  # LCO nominal: Sinistro fl08/fl10/fa05 headers, diag(-s, +s)
    ("up", "right"): ((1, 0), (0, 1)),  # diag(+s, +s)
    ("down", "left"): ((-1, 0), (0, -1)),  # mirrored: kb70, kb05, kb78, kb76, diag(-s, -s)
    ("down", "right"): ((1, 0), (0, -1)),  # turned 180 degrees: kb35, diag(+s, -s)
    ("left", "up"): ((0, 1), (-1, 0)),  # kb29: [[0, +s], [-s, 0]]
    ("left", "down"): ((0, -1), (-1, 0)),
    ("right", "up"): ((0, 1), (1, 0)),
    ("right", "down"): ((0, -1), (1, 0)),
}


def _rotation(degrees: float) -> Array:
    a = math.radians(degrees)
    return np.array([[math.cos(a), -math.sin(a)], [math.sin(a), math.cos(a)]])


def test_the_eight_mountings_are_the_eight_signed_permutations() -> None:
    mountings = all_mountings()
    assert len(mountings) == 8
    found = {(m.north, m.east): m.permutation for m in mountings}
    assert found == PERMUTATIONS
    for p in found.values():
        matrix = np.abs(np.array(p))
        np.testing.assert_array_equal(matrix.sum(axis=0), [1, 1])  # one +-1 per column ...
        np.testing.assert_array_equal(matrix.sum(axis=1), [1, 1])  # ... and per row
    assert Mounting() == Mounting(north="up", east="left", rotation_deg=0.0)


def test_mountings_follow_the_real_header_cd_signs() -> None:
    assert Mounting.from_permutation(((0, 1), (-1, 0))) == Mounting(north="left", east="up")  # kb29
    assert Mounting.from_permutation(((-1, 0), (0, -1))).parity == 1  # kb70: a mirror image
    assert Mounting.from_permutation(((1, 0), (0, -1))).parity == -1  # kb35: only turned
    assert Mounting().parity == -1
    with pytest.raises(ValueError, match="perpendicular"):
        Mounting(north="up", east="down")
    with pytest.raises(ValueError, match="signed permutation"):
        Mounting.from_permutation(((1, 1), (0, 1)))


@pytest.mark.parametrize("mounting", all_mountings(rotation_deg=-1.2), ids=lambda m: f"{m.north}-{m.east}")
def test_true_cd_is_scale_times_rotation_times_permutation(mounting: Mounting) -> None:
    scale = 0.389
    expected = scale / 3600.0 * _rotation(-1.2) @ np.array(PERMUTATIONS[mounting.north, mounting.east])
    np.testing.assert_allclose(mounting.true_cd(scale), expected, rtol=0, atol=1e-15)
    np.testing.assert_array_equal(
        mounting.nominal_cd(scale), scale / 3600.0 * np.array(PERMUTATIONS[mounting.north, mounting.east])
    )
    # A step along the pixel direction named "north" moves 1.2 degrees off north on the sky.
    cd = mounting.true_cd(scale)
    north_step = np.array(PERMUTATIONS[mounting.north, mounting.east][1], dtype=float)
    xi, eta = cd @ north_step
    assert math.degrees(math.atan2(-xi, eta)) == pytest.approx(-1.2, abs=1e-9)


def _gnomonic(ra: Array, dec: Array, ra0: float, dec0: float) -> tuple[Array, Array]:
    """Standard coordinates (xi, eta), degrees, of (ra, dec) about (ra0, dec0): textbook TAN."""
    a, d = np.radians(ra), np.radians(dec)
    a0, d0 = math.radians(ra0), math.radians(dec0)
    cos_c = math.sin(d0) * np.sin(d) + math.cos(d0) * np.cos(d) * np.cos(a - a0)
    xi = np.cos(d) * np.sin(a - a0) / cos_c
    eta = (math.cos(d0) * np.sin(d) - math.sin(d0) * np.cos(d) * np.cos(a - a0)) / cos_c
    return np.degrees(xi), np.degrees(eta)


def _centroid_errors(mounting: Mounting, assumed: Mounting) -> Array:
    """Star centroids on the simulated image minus where ``assumed`` says they are, pixels."""
    sim = sinistro(amp_size=128, mounting=mounting)
    field = make_field(sim, seed=4, stars_per_square_degree=60000, mag_range=(11.0, 16.0))
    signatures = camera_signatures(sim, seed=4)
    exposure = Exposure(
        ObsType.EXPOSE, 30.0, dt.datetime(2026, 1, 1, 23, tzinfo=dt.UTC), 1, dither_arcsec=(4.0, -3.0),
        cosmic_rays=False,
    )  # fmt: skip
    frame = simulate_frame(sim, signatures, field, exposure, seed=4)
    ny, nx = sim.mosaic_shape
    ra0, dec0 = (float(v) for v in frame.truth.wcs.wcs.crval)
    # Where the field centre moved by the dither sits, computed here from the exposure alone.
    assert dec0 == pytest.approx(field.center_dec - 3.0 / 3600.0, abs=1e-12)
    xi, eta = _gnomonic(field.catalog.ra, field.catalog.dec, ra0, dec0)
    cd = (
        sim.pixel_scale
        / 3600.0
        * _rotation(assumed.rotation_deg)
        @ np.array(PERMUTATIONS[assumed.north, assumed.east], dtype=float)
    )
    dx, dy = np.linalg.solve(cd, np.vstack([xi, eta]))
    x, y = (nx + 1) / 2.0 - 1.0 + dx, (ny + 1) / 2.0 - 1.0 + dy  # 0-based, CRPIX at the centre
    # The light itself: expected signal less bias and dark, divided by the flat response.
    dark = signatures.dark.rate * exposure.exptime
    image = (
        np.asarray(frame.truth.expected, dtype=np.float64) - signatures.bias - dark
    ) / signatures.flat.response
    background = frame.truth.sky
    errors = []
    mags = field.catalog.mag
    inside = (x >= 8) & (x < nx - 8) & (y >= 8) & (y < ny - 8)
    for i in np.flatnonzero(inside & (mags < 15.0)):
        distance = np.hypot(x - x[i], y - y[i])
        distance[i] = np.inf
        if np.any((distance < 12) & (mags < mags[i] + 5)):
            continue  # a neighbour bright enough to pull the centroid
        cx, cy = round(x[i]), round(y[i])
        window = image[cy - 6 : cy + 7, cx - 6 : cx + 7] - background
        rows, columns = np.mgrid[cy - 6 : cy + 7, cx - 6 : cx + 7]
        errors.append(
            (np.sum(window * columns) / window.sum() - x[i], np.sum(window * rows) / window.sum() - y[i])
        )
    return np.array(errors)


@pytest.mark.parametrize("mounting", all_mountings(rotation_deg=1.5), ids=lambda m: f"{m.north}-{m.east}")
def test_stars_are_drawn_where_an_independent_projection_puts_them(mounting: Mounting) -> None:
    errors = _centroid_errors(mounting, mounting)
    assert len(errors) >= 5
    assert np.abs(errors).max() < 0.15  # pixels; a 1.5 degree error would be >1 px 60 px out


def test_a_wrong_orientation_does_not_match_the_drawn_stars() -> None:
    mirrored = Mounting(north="down", east="left", rotation_deg=1.5)
    assert np.abs(_centroid_errors(mirrored, mirrored)).max() < 0.15
    # The nominal mounting alone (what the header says), and the other parity, both miss.
    assert np.abs(_centroid_errors(mirrored, Mounting(north="down", east="left"))).max() > 1.0
    unmirrored = Mounting(north="down", east="right", rotation_deg=1.5)
    # The wrong parity puts most stars elsewhere (a centroid window only sees 6 px either way).
    assert np.median(np.hypot(*_centroid_errors(mirrored, unmirrored).T)) > 1.0


@pytest.mark.parametrize(
    "mounting",
    [
        Mounting(north="down", east="left", rotation_deg=1.5),
        Mounting(north="left", east="up", rotation_deg=-2.0),
    ],
    ids=["mirrored", "kb29-like"],
)
def test_the_raw_header_states_the_nominal_mounting_and_a_wrong_pointing(
    tmp_path: Path, mounting: Mounting
) -> None:
    sim = sbig(size=256, mounting=mounting)
    exposure = Exposure(ObsType.EXPOSE, 10.0, dt.datetime(2026, 1, 1, 23, tzinfo=dt.UTC), 1)
    frame = simulate_frame(sim, camera_signatures(sim, seed=1), make_field(sim, seed=1), exposure, seed=1)
    header = read_raw(write_frame(tmp_path, frame)).primary
    s = sim.pixel_scale / 3600.0
    written = np.array(
        [[header.get("CD1_1"), header.get("CD1_2")], [header.get("CD2_1"), header.get("CD2_2")]]
    )
    # FITS cards keep 16 significant digits or so.
    np.testing.assert_allclose(written, s * np.array(PERMUTATIONS[mounting.north, mounting.east]), rtol=1e-12)
    truth = frame.truth
    assert truth.mounting == mounting
    np.testing.assert_allclose(truth.header_wcs.wcs.cd, written, rtol=1e-12)
    # The truth is the header turned by the small rotation: CD_true = R CD_header.
    np.testing.assert_allclose(
        truth.wcs.wcs.cd, _rotation(mounting.rotation_deg) @ written, rtol=0, atol=1e-15
    )
    # Both share CRPIX; CRVAL differs by the exposure's pointing error.
    np.testing.assert_array_equal(truth.wcs.wcs.crpix, truth.header_wcs.wcs.crpix)
    assert (header.get("CRPIX1"), header.get("CRPIX2")) == ((128 + 1) / 2, (128 + 1) / 2)
    east, north = exposure.pointing_error_arcsec
    dec = float(truth.wcs.wcs.crval[1])
    crval1, crval2 = header.get("CRVAL1"), header.get("CRVAL2")
    assert isinstance(crval1, float)
    assert isinstance(crval2, float)
    assert (crval2 - dec) * 3600 == pytest.approx(north, abs=1e-6)
    ra_offset = (crval1 - float(truth.wcs.wcs.crval[0])) * 3600
    assert ra_offset * math.cos(math.radians(dec + north / 3600)) == pytest.approx(east, abs=1e-6)


def test_default_cameras_stay_north_up_east_left() -> None:
    for sim in (sinistro(amp_size=64), sbig(size=128)):
        assert sim.mounting == Mounting()
        np.testing.assert_array_equal(sim.mounting.true_cd(1.0), np.diag([-1.0, 1.0]) / 3600.0)


def test_a_mirrored_rotated_camera_with_one_percent_bad_pixels_reduces_to_the_true_sky(
    tmp_path: Path,
) -> None:
    """End to end: masters, BPM-free science recipe and astrometry on a kb70-like mounting."""
    mounting = Mounting(north="down", east="left", rotation_deg=1.5)
    sim = sinistro(amp_size=256, mounting=mounting, bad_pixels=BadPixelDensity.realistic(0.01))
    field = make_field(sim, seed=8, stars_per_square_degree=20000)
    night = simulate_night(tmp_path, sim, n_bias=5, n_dark=5, n_flat=5, n_science=1, seed=8, field=field)
    cal = masters_of(night)
    (path,) = night.paths_of(ObsType.EXPOSE)
    frame, camera = load(path)
    reduced = science_recipe(
        camera, cal, reference=read_reference_file(night.catalog_path), pixel_scale=sim.pixel_scale
    )(frame)
    assert reduced.wcs is not None
    assert reduced.wcs.solved
    stars = night.truth_for(path.name).stars.keep_inside()
    x1, _, y1, _ = parse_section(sim.layout.trimsec)
    ra, dec = reduced.wcs.to_wcs().all_pix2world(stars.x - (x1 - 1) + 1, stars.y - (y1 - 1) + 1, 1)
    offset = np.hypot((ra - stars.ra) * np.cos(np.radians(stars.dec)), dec - stars.dec) * 3600
    assert np.sqrt(np.mean(offset**2)) < 0.1  # arcsec, over every true star on the frame
