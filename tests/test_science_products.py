"""Science frames end to end on the simulator: astrometry, zero point, and the e91 product."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import numpy as np
import pytest
from astropy.io import fits
from astropy.wcs import WCS
from helpers import load, masters_of

from lco_cli.catalogs import read_reference_file
from lco_core import Frame, ObsType
from lco_core.catalog import ReferenceCatalog
from lco_core.io import read_product, write_product
from lco_instruments.simulate import FrameTruth, Night, make_field, simulate_night, sinistro
from lco_stages.keywords import product_keywords
from lco_stages.recipes import science_recipe


@pytest.fixture(scope="module")
def night(tmp_path_factory: pytest.TempPathFactory) -> Night:
    sim = sinistro(amp_size=384)
    field = make_field(sim, seed=31, stars_per_square_degree=12000)
    return simulate_night(
        tmp_path_factory.mktemp("science"), sim, n_bias=5, n_dark=5, n_flat=5, n_science=2, seed=31,
        science_exptime=120.0, field=field, pointing_error_range=(60.0, 180.0),
    )  # fmt: skip


@pytest.fixture(scope="module")
def reduced(night: Night) -> list[tuple[Frame, FrameTruth]]:
    cal = masters_of(night)
    reference = read_reference_file(night.catalog_path)
    out = []
    for path in night.paths_of(ObsType.EXPOSE):
        frame, camera = load(path)
        recipe = science_recipe(camera, cal, reference=reference, pixel_scale=night.sim.pixel_scale)
        out.append((recipe(frame), night.truth_for(path.name)))
    return out


def test_astrometry_matches_the_true_sky_positions(
    night: Night, reduced: list[tuple[Frame, FrameTruth]]
) -> None:
    camera = night.sim.camera
    for frame, truth in reduced:
        assert frame.wcs is not None
        assert frame.wcs.solved
        assert frame.wcs.n_matched >= 20
        stars = truth.stars.keep_inside()
        x = stars.x - (camera.trim_section.x_min - 1) + 1
        y = stars.y - (camera.trim_section.y_min - 1) + 1
        ra, dec = frame.wcs.to_wcs().all_pix2world(x, y, 1)
        offset = np.hypot((ra - stars.ra) * np.cos(np.radians(stars.dec)), dec - stars.dec) * 3600
        assert np.sqrt(np.mean(offset**2)) <= 0.1  # arcsec, over every true star on the frame
        header_error = np.hypot(*truth.header_wcs.wcs.crval - truth.wcs.wcs.crval) * 3600
        assert header_error > 55  # the header pointing it started from was arcminutes off


def test_zero_point_matches_the_injected_one(night: Night, reduced: list[tuple[Frame, FrameTruth]]) -> None:
    for frame, _ in reduced:
        step = frame.steps("calibrate_photometry")[-1]
        assert step.diagnostics["succeeded"] is True
        zero_point = step.diagnostics["L1ZP"]
        assert isinstance(zero_point, float)
        assert zero_point == pytest.approx(night.field.zero_points["rp"], abs=0.02)
        assert frame.sources is not None
        bright = np.isfinite(frame.sources["mag"]) & (frame.sources["magerr"] < 0.02)
        assert bright.sum() >= 10


def test_science_product_has_every_extension_and_keyword(
    tmp_path: Path, reduced: list[tuple[Frame, FrameTruth]]
) -> None:
    frame = reduced[0][0]
    name = frame.meta.filename.replace("-e00.fits.fz", "-e91.fits")
    now = dt.datetime(2026, 11, 26, 12, 0, tzinfo=dt.UTC)
    path = write_product(tmp_path / name, frame, keywords=product_keywords(frame, now=now))
    with fits.open(path) as hdul:
        assert [hdu.name for hdu in hdul] == ["PRIMARY", "SCI", "CAT", "BPM", "ERR"]
        header = hdul["SCI"].header
        expected_keywords = (
            "L1IDBIAS", "L1IDDARK", "L1IDFLAT", "L1STATBI", "L1STATDA", "L1STATFL", "L1ZP",
            "L1ZPERR", "L1FWHM", "L1ELLIP", "L1MEAN", "WCSERR", "PIPEVER", "OVERSCN1",
        )  # fmt: skip
        for keyword in expected_keywords:
            assert keyword in header, keyword
        assert header["RLEVEL"] == 91
        assert header["WCSERR"] == 0
        assert header["DATE"] == "2026-11-26T12:00:00"
        assert header["INSTRUME"] == "fa99"
        assert header["OBSTYPE"] == "EXPOSE"
        assert any("detect_sources" in str(line) for line in header["HISTORY"])
        solved = WCS(header)
        expected = frame.wcs.to_wcs() if frame.wcs else None
        assert expected is not None
        np.testing.assert_allclose(
            solved.all_pix2world([[10.0, 20.0]], 1), expected.all_pix2world([[10.0, 20.0]], 1), atol=1e-9
        )
        assert "CDELT1" not in header or "CD1_1" not in header  # one WCS, not the raw pointing beside it
        catalog = hdul["CAT"].data
        assert {"ra", "dec", "mag", "magerr", "flux", "fluxaper3", "flag"} <= set(catalog.names)
    back = read_product(path).frame
    assert back.wcs is not None
    assert back.wcs.wcserr == 0
    assert frame.wcs is not None
    assert back.wcs.n_matched == frame.wcs.n_matched
    assert back.sources is not None
    assert len(back.sources) == len(frame.sources or ())
    np.testing.assert_array_equal(back.data, frame.data)


def test_a_field_without_its_reference_stars_fails_cleanly(
    night: Night, reduced: list[tuple[Frame, FrameTruth]]
) -> None:
    cal = masters_of(night)
    reference = read_reference_file(night.catalog_path)
    elsewhere = ReferenceCatalog(
        reference.ra + 2.0, reference.dec, dict(reference.magnitudes), source="another field"
    )
    frame, camera = load(night.paths_of(ObsType.EXPOSE)[0])
    result = science_recipe(camera, cal, reference=elsewhere, pixel_scale=night.sim.pixel_scale)(frame)
    assert result.wcs is not None
    assert result.wcs.wcserr == 4
    assert result.wcs.reason
    assert result.sources is not None
    assert "ra" not in result.sources
    photometry = result.steps("calibrate_photometry")[-1].diagnostics
    assert photometry["succeeded"] is False
    assert photometry["reason"] == "no source catalogue with sky positions"
    cards = {c.keyword: c.value for c in product_keywords(result, now=dt.datetime(2026, 1, 1, tzinfo=dt.UTC))}
    assert cards["WCSERR"] == 4
    assert "L1ZP" not in cards  # not measured: no card (FITS has no NaN)
    assert cards["L1STATZP"] == 0
    assert "WCSREASN" in cards


def test_zero_point_holds_in_a_crowded_field(tmp_path: Path) -> None:
    # 40000 stars per square degree: Kron apertures would collect neighbours' light; the zero
    # point is fitted with aperture-corrected small-aperture fluxes instead.
    sim = sinistro(amp_size=256)
    field = make_field(sim, seed=21, stars_per_square_degree=40000)
    crowded = simulate_night(tmp_path, sim, n_science=1, seed=21, science_exptime=300.0, field=field)
    cal = masters_of(crowded)
    frame, camera = load(crowded.paths_of(ObsType.EXPOSE)[0])
    reference = read_reference_file(crowded.catalog_path)
    result = science_recipe(camera, cal, reference=reference, pixel_scale=sim.pixel_scale)(frame)
    step = result.steps("calibrate_photometry")[-1]
    assert str(step.parameters["flux"]).startswith("fluxaper")
    zero_point = step.diagnostics["L1ZP"]
    assert isinstance(zero_point, float)
    assert zero_point == pytest.approx(field.zero_points["rp"], abs=0.02)
