"""Simulator scene and detector models against their truth: seeds, flats, darks, PSFs, WCS, cosmics."""

from __future__ import annotations

import math
from collections.abc import Callable

import numpy as np
import numpy.typing as npt
import pytest
from astropy import units as u
from astropy.coordinates import SkyCoord

from lco_core.stats import sigma_clipped_mean
from lco_instruments.simulate import cosmics
from lco_instruments.simulate.cosmics import CosmicRays, Track, cosmic_rays
from lco_instruments.simulate.detector import (
    DarkCurrent,
    bias_structure,
    central_half,
    dark_current,
    flat_field,
)
from lco_instruments.simulate.scene import (
    StarCatalog,
    moffat_alpha,
    moffat_psf_image,
    project_stars,
    sky_background,
    star_catalog,
    tan_wcs,
)

Array = npt.NDArray[np.float64]

# --- determinism -------------------------------------------------------------------------------

MODELS: dict[str, Callable[[np.random.Generator | int], npt.NDArray[np.generic]]] = {
    "bias": lambda rng: bias_structure((40, 50), rng=rng),
    "dark": lambda rng: dark_current((40, 50), rng=rng, hot_fraction=0.05).rate,
    "flat": lambda rng: flat_field((40, 50), rng=rng).response,
    "catalog": lambda rng: star_catalog(150.0, -30.0, radius_deg=0.2, n_stars=50, rng=rng).ra,
    "cosmics": lambda rng: cosmic_rays((40, 50), exptime=3e4, rng=rng).image,
}


@pytest.mark.parametrize("name", list(MODELS))
def test_models_are_deterministic_by_seed(name: str) -> None:
    model = MODELS[name]
    first, again, generator = model(12), model(12), model(np.random.default_rng(12))
    np.testing.assert_array_equal(first, again)
    np.testing.assert_array_equal(first, generator)  # a seed and a generator from it agree
    assert not np.array_equal(first, model(13))


# --- bias ----------------------------------------------------------------------------------------


def _quadratic_fit(image: npt.NDArray[np.generic]) -> Array:
    """Least-squares quadratic surface in u, v (each -1..1 across the image)."""
    ny, nx = image.shape
    v, u_ = np.meshgrid(np.linspace(-1, 1, ny), np.linspace(-1, 1, nx), indexing="ij")
    terms = np.stack([np.ones_like(u_), u_, v, u_**2, v**2, u_ * v], axis=-1).reshape(-1, 6)
    coefficients, *_ = np.linalg.lstsq(terms, image.reshape(-1).astype(np.float64), rcond=None)
    fitted: Array = (terms @ coefficients).reshape(ny, nx)
    return fitted


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_bias_is_a_zero_mean_gradient_of_the_requested_amplitude(seed: int) -> None:
    bias = bias_structure((256, 300), rng=seed, amplitude=3.0)
    assert bias.dtype == np.float32
    assert abs(float(bias.mean(dtype=np.float64))) < 1e-4
    smooth = _quadratic_fit(bias)
    assert 0.5 * (smooth.max() - smooth.min()) == pytest.approx(3.0, rel=0.03)
    # Column pattern: column means less the smooth surface scatter by 0.1 x amplitude.
    columns = (bias - smooth).mean(axis=0)
    assert float(np.std(columns)) == pytest.approx(0.3, rel=0.15)
    # Pixel noise: within a column, about the column mean, 0.05 x amplitude.
    assert float(np.std(bias - smooth - columns)) == pytest.approx(0.15, rel=0.05)


def test_bias_scales_linearly_with_amplitude() -> None:
    np.testing.assert_allclose(
        bias_structure((30, 40), rng=5, amplitude=6.0),
        2.0 * bias_structure((30, 40), rng=5, amplitude=3.0),
        rtol=1e-5,
        atol=1e-5,
    )
    assert not bias_structure((30, 40), rng=5, amplitude=0.0).any()


# --- dark current --------------------------------------------------------------------------------


def test_dark_hot_pixels_are_log_uniform_in_range_and_others_near_the_base_rate() -> None:
    shape, fraction, low, high = (256, 256), 0.01, 0.5, 20.0
    dark = dark_current(shape, rng=3, rate=0.002, hot_fraction=fraction, hot_rate_range=(low, high))
    assert dark.rate.dtype == np.float32
    assert dark.hot.shape == dark.rate.shape == shape
    hot_rates = dark.rate[dark.hot].astype(np.float64)
    n = shape[0] * shape[1]
    assert abs(hot_rates.size - n * fraction) < 5 * math.sqrt(n * fraction * (1 - fraction))
    assert hot_rates.min() >= low * (1 - 1e-6)
    assert hot_rates.max() <= high * (1 + 1e-6)
    # log-uniform: the mean log rate is the middle of the log range (4 sigma of a uniform mean).
    logs = np.log(hot_rates)
    sigma = (math.log(high) - math.log(low)) / math.sqrt(12 * logs.size)
    assert abs(logs.mean() - 0.5 * (math.log(low) + math.log(high))) < 4 * sigma
    ordinary = dark.rate[~dark.hot]
    assert float(np.median(ordinary)) == pytest.approx(0.002, rel=0.02)
    assert ordinary.min() > 0.6 * 0.002
    assert ordinary.max() < 1.4 * 0.002
    assert not dark.rate.flags.writeable


# --- flat field ----------------------------------------------------------------------------------


@pytest.mark.parametrize("shape", [(32, 32), (200, 256), (257, 129)])
def test_flat_is_normalised_on_its_central_half(shape: tuple[int, int]) -> None:
    flat = flat_field(shape, rng=4)
    assert flat.response.dtype == np.float32
    assert flat.response.shape == shape
    assert sigma_clipped_mean(central_half(flat.response), 3.0, maxiters=5) == pytest.approx(1.0, abs=1e-3)
    assert float(np.median(central_half(flat.response))) == pytest.approx(1.0, abs=0.01)
    np.testing.assert_array_equal(flat.low_response, flat.response < 0.5)


def test_flat_vignetting_falls_by_the_requested_amount_at_the_corners() -> None:
    flat = flat_field((129, 129), rng=1, vignetting=0.12, n_donuts=0, n_bad_columns=0, pixel_rms=0.0)
    response = flat.response.astype(np.float64)
    centre = response[64, 64]
    for corner in (response[0, 0], response[0, -1], response[-1, 0], response[-1, -1]):
        assert corner / centre == pytest.approx(1 - 0.12, abs=1e-5)
    # Radial: monotonic along the diagonal from the centre outwards.
    diagonal = np.diagonal(response)[64:]
    assert np.all(np.diff(diagonal) < 0)


def test_flat_vignetting_with_noise_shows_in_corner_boxes() -> None:
    flat = flat_field((256, 256), rng=2, vignetting=0.2, n_donuts=0, n_bad_columns=0, pixel_rms=0.01)
    centre = float(flat.response[120:136, 120:136].mean())
    corner = float(flat.response[:8, :8].mean())
    # The 8 x 8 corner box averages (r / r_corner)**2 of about 0.94.
    assert corner / centre == pytest.approx(1 - 0.2 * 0.94, abs=0.01)


@pytest.mark.parametrize("seed", range(6))
def test_flat_donuts_are_annular_dips_where_recorded(seed: int) -> None:
    flat = flat_field((160, 160), rng=seed, vignetting=0.0, n_donuts=1, n_bad_columns=0, pixel_rms=0.0)
    (donut,) = flat.donuts
    assert 5.0 <= donut.radius <= 30.0
    assert 0.02 <= donut.depth <= 0.08
    response = flat.response.astype(np.float64)
    assert response.min() >= 1 - donut.depth - 1e-6
    assert response.min() <= 1 - 0.75 * donut.depth  # the pixel nearest the ring
    row, column = np.unravel_index(int(np.argmin(response)), response.shape)
    assert math.hypot(column - donut.x, row - donut.y) == pytest.approx(donut.radius, abs=donut.width)
    # Annular: the middle of the ring is (nearly) untouched.
    middle = response[int(np.rint(donut.y)), int(np.rint(donut.x))]
    assert middle > 1 - 0.05 * donut.depth


def test_flat_bad_columns_are_dark_over_most_of_the_recorded_columns() -> None:
    shape = (200, 180)
    flat = flat_field(shape, rng=8, n_bad_columns=4)
    assert len(flat.bad_columns) == 4
    assert len(set(flat.bad_columns)) == 4
    assert all(0 <= c < shape[1] for c in flat.bad_columns)
    np.testing.assert_array_equal(np.flatnonzero(flat.low_response.any(axis=0)), flat.bad_columns)
    for column in flat.bad_columns:
        low = flat.low_response[:, column]
        assert low.mean() >= 0.6 - 1 / shape[0]
        assert low[0] or low[-1]  # the run starts at one end of the column
        rows = np.flatnonzero(low)
        assert np.all(np.diff(rows) == 1)  # one contiguous run
        neighbours = flat.response[rows, column - 1 if column > 0 else column + 1]
        ratio = float(np.median(flat.response[rows, column] / neighbours))
        assert 0.05 * 0.95 <= ratio <= 0.15 * 1.05


def test_flat_on_a_small_image_scales_donuts_down() -> None:
    flat = flat_field((32, 32), rng=6)
    assert len(flat.donuts) == 6
    assert all(donut.radius <= 32 / 6 for donut in flat.donuts)
    assert len(flat.bad_columns) == 3


# --- Moffat PSF ----------------------------------------------------------------------------------


@pytest.mark.parametrize(("fwhm", "beta"), [(1.5, 2.5), (1.5, 3.0), (2.5, 3.0), (4.0, 4.765), (3.0, 2.0)])
def test_moffat_conserves_flux(fwhm: float, beta: float) -> None:
    x, y, flux = np.array([40.3, 80.71]), np.array([50.5, 71.12]), np.array([1e4, 3.3e5])
    image = moffat_psf_image((128, 128), x, y, flux, fwhm_px=fwhm, beta=beta)
    assert image.dtype == np.float32
    assert float(image.sum(dtype=np.float64)) == pytest.approx(flux.sum(), rel=5e-3)
    assert image.min() >= 0


@pytest.mark.parametrize("beta", [2.5, 3.0, 4.765])
def test_moffat_encircled_energy_follows_the_analytic_profile(beta: float) -> None:
    fwhm, centre = 4.0, 60.0
    image = moffat_psf_image((121, 121), centre, centre, 1.0, fwhm_px=fwhm, beta=beta)
    rows, columns = np.indices(image.shape)
    radius = np.hypot(columns - centre, rows - centre)
    alpha = moffat_alpha(fwhm, beta)
    for aperture in (1.5 * fwhm, 3 * fwhm):
        measured = float(image[radius <= aperture].sum(dtype=np.float64))
        expected = 1 - (1 + (aperture / alpha) ** 2) ** (1 - beta)
        assert measured == pytest.approx(expected, abs=0.01)


def _half_maximum_width(profile: Array) -> float:
    """Full width at half maximum of a profile falling from its peak at index 0 (linear interpolation)."""
    half = profile[0] / 2
    k = int(np.argmax(profile < half))
    return 2 * float((k - 1) + (profile[k - 1] - half) / (profile[k - 1] - profile[k]))


@pytest.mark.parametrize("beta", [2.5, 3.0, 4.765])
@pytest.mark.parametrize("fwhm", [8.0, 12.0, 25.0])
def test_moffat_fwhm_is_the_requested_one(fwhm: float, beta: float) -> None:
    # Wide renders: the one-pixel box the pixel integration adds is negligible beside the profile.
    side = 4 * int(fwhm) + 1
    centre = side // 2
    image = moffat_psf_image((side, side), centre, centre, 1e6, fwhm_px=fwhm, beta=beta).astype(np.float64)
    for profile in (image[centre, centre:], image[centre:, centre], image[centre, centre::-1]):
        assert _half_maximum_width(profile) == pytest.approx(fwhm, rel=0.03)


def test_moffat_is_additive_and_edge_stars_lose_their_outer_light() -> None:
    def render(x: npt.ArrayLike, y: npt.ArrayLike, flux: npt.ArrayLike) -> npt.NDArray[np.float32]:
        return moffat_psf_image((64, 64), x, y, flux, fwhm_px=3.0, beta=3.0)

    both = render([10.2, 40.7], [20.9, 33.3], [100.0, 250.0])
    np.testing.assert_allclose(
        both, render(10.2, 20.9, 100.0) + render(40.7, 33.3, 250.0), rtol=1e-5, atol=1e-6
    )
    on_edge = render(-0.5, 30.0, 1000.0)  # centred on the left edge of the image
    assert float(on_edge.sum()) == pytest.approx(500.0, rel=5e-3)
    assert not render(-100.0, 30.0, 1000.0).any()


# --- WCS and catalogues --------------------------------------------------------------------------


@pytest.mark.parametrize("flip_x", [True, False])
@pytest.mark.parametrize("rotation", [0.0, 30.0, -75.0, 140.0])
def test_tan_wcs_geometry(rotation: float, flip_x: bool) -> None:
    shape, scale = (300, 400), 0.389
    wcs = tan_wcs(123.4, -56.7, shape=shape, pixel_scale_arcsec=scale, rotation_deg=rotation, flip_x=flip_x)
    np.testing.assert_allclose(wcs.wcs.crpix, [(400 + 1) / 2, (300 + 1) / 2])
    assert math.sqrt(abs(np.linalg.det(wcs.wcs.cd))) * 3600 == pytest.approx(scale, rel=1e-12)
    np.testing.assert_allclose(wcs.proj_plane_pixel_scales()[0].to_value(u.arcsec), scale, rtol=1e-9)
    ra, dec = wcs.pixel_to_world_values((400 - 1) / 2, (300 - 1) / 2)
    assert (float(ra), float(dec)) == pytest.approx((123.4, -56.7), abs=1e-10)
    # Round trip over the whole image.
    x, y = np.random.default_rng(0).uniform(-0.5, [399.5, 299.5], size=(200, 2)).T
    back = wcs.world_to_pixel_values(*wcs.pixel_to_world_values(x, y))
    np.testing.assert_allclose(back, [x, y], atol=1e-8)
    # North on the image: counter-clockwise from +y by `rotation`; east a quarter turn from it.
    x0, y0 = wcs.world_to_pixel_values(123.4, -56.7)
    xn, yn = wcs.world_to_pixel_values(123.4, -56.7 + 1e-3)
    north = math.degrees(math.atan2(-(xn - x0), yn - y0))
    assert (north - rotation + 180) % 360 - 180 == pytest.approx(0.0, abs=1e-3)
    xe, ye = wcs.world_to_pixel_values(123.4 + 1e-3 / math.cos(math.radians(56.7)), -56.7)
    east = math.degrees(math.atan2(-(xe - x0), ye - y0))
    expected_east = rotation + (90.0 if flip_x else -90.0)
    assert (east - expected_east + 180) % 360 - 180 == pytest.approx(0.0, abs=1e-3)


def test_tan_wcs_unrotated_has_east_left_like_lco() -> None:
    wcs = tan_wcs(10.0, 20.0, shape=(100, 100), pixel_scale_arcsec=0.39)
    assert wcs.wcs.cd[0, 0] < 0 < wcs.wcs.cd[1, 1]
    assert wcs.wcs.cd[0, 1] == pytest.approx(0.0, abs=1e-15)
    (ra_left, ra_right), (dec_low, dec_high) = wcs.pixel_to_world_values([10.0, 90.0], [10.0, 90.0])
    assert ra_left > ra_right
    assert dec_high > dec_low
    assert wcs.pixel_shape == (100, 100)


def test_star_catalog_is_uniform_on_the_sphere_and_sorted() -> None:
    radius, n = 20.0, 20000
    catalog = star_catalog(350.0, 70.0, radius_deg=radius, n_stars=n, rng=1, mag_range=(12.0, 20.0))
    assert len(catalog) == n
    separation = SkyCoord(catalog.ra, catalog.dec, unit="deg").separation(SkyCoord(350.0, 70.0, unit="deg"))
    assert separation.deg.max() <= radius + 1e-9
    inner = float(np.mean(separation.deg <= radius / 2))
    expected = (1 - math.cos(math.radians(radius / 2))) / (1 - math.cos(math.radians(radius)))
    assert abs(inner - expected) < 4 * math.sqrt(expected * (1 - expected) / n)
    assert np.all((catalog.ra >= 0) & (catalog.ra < 360))
    assert np.all(np.diff(catalog.mag) >= 0)
    assert catalog.mag.min() >= 12.0
    assert catalog.mag.max() <= 20.0


def test_star_catalog_counts_follow_the_power_law() -> None:
    n, slope = 20000, 0.3
    catalog = star_catalog(0.0, 0.0, radius_deg=1.0, n_stars=n, rng=2, count_slope=slope)
    fainter = float(np.mean(catalog.mag > 16.0))
    expected = (10 ** (slope * 20) - 10 ** (slope * 16)) / (10 ** (slope * 20) - 10 ** (slope * 12))
    assert abs(fainter - expected) < 4 * math.sqrt(expected * (1 - expected) / n)
    assert fainter > 0.9  # far more faint stars than bright ones


def test_star_catalog_table_has_the_reference_columns() -> None:
    catalog = star_catalog(10.0, -10.0, radius_deg=0.1, n_stars=7, rng=0)
    table = catalog.to_table()
    assert table.colnames == ["ra", "dec", "mag"]
    assert (table["ra"].unit, table["dec"].unit, table["mag"].unit) == (u.deg, u.deg, u.mag)
    np.testing.assert_array_equal(table["mag"], catalog.mag)


def test_project_stars_gives_positions_fluxes_and_inside() -> None:
    shape = (200, 300)
    wcs = tan_wcs(200.0, 15.0, shape=shape, pixel_scale_arcsec=0.5, rotation_deg=10.0)
    catalog = star_catalog(200.0, 15.0, radius_deg=0.05, n_stars=400, rng=9)
    field = project_stars(catalog, wcs, shape, zero_point=23.5, exptime=30.0)
    assert len(field) == len(catalog)
    np.testing.assert_allclose(field.flux, 10 ** (-0.4 * (catalog.mag - 23.5)) * 30.0, rtol=1e-12)
    x, y = wcs.world_to_pixel_values(catalog.ra, catalog.dec)
    np.testing.assert_allclose([field.x, field.y], [x, y], atol=1e-9)
    inside = (x >= -0.5) & (x < 299.5) & (y >= -0.5) & (y < 199.5)
    np.testing.assert_array_equal(field.inside, inside)
    assert 0 < inside.sum() < len(catalog)
    kept = field.keep_inside()
    assert len(kept) == inside.sum()
    assert kept.inside.all()
    # The zero point is the magnitude giving 1 e-/s.
    one = project_stars(
        star_catalog(200.0, 15.0, radius_deg=1e-4, n_stars=1, rng=0, mag_range=(23.5, 23.5 + 1e-9)),
        wcs,
        shape,
        zero_point=23.5,
        exptime=1.0,
    )
    assert one.flux[0] == pytest.approx(1.0, rel=1e-8)


def test_sky_background_is_uniform() -> None:
    sky = sky_background((5, 7), 123.5)
    assert sky.dtype == np.float32
    assert sky.shape == (5, 7)
    assert np.all(sky == np.float32(123.5))


# --- cosmic rays ---------------------------------------------------------------------------------


def test_cosmic_track_count_is_poisson_with_the_expected_mean() -> None:
    shape, exptime, rate, pixel_um, seeds = (64, 64), 3000.0, 0.02, 15.0, 400
    expected = rate * shape[0] * shape[1] * (pixel_um * 1e-4) ** 2 * exptime
    counts = np.array([cosmic_rays(shape, exptime=exptime, rng=seed).n_tracks for seed in range(seeds)])
    assert abs(counts.mean() - expected) < 3 * math.sqrt(expected / seeds)
    assert counts.var(ddof=1) == pytest.approx(expected, rel=0.3)  # Poisson: variance = mean


def test_no_cosmic_rays_in_a_zero_second_exposure() -> None:
    hits = cosmic_rays((50, 60), exptime=0.0, rng=1)
    assert hits.n_tracks == 0
    assert not hits.image.any()
    assert not hits.mask.any()


def _segment_distance(track: Track, x: Array, y: Array) -> Array:
    dx, dy = track.x1 - track.x0, track.y1 - track.y0
    t = np.clip(((x - track.x0) * dx + (y - track.y0) * dy) / (dx * dx + dy * dy), 0.0, 1.0)
    distance: Array = np.hypot(x - (track.x0 + t * dx), y - (track.y0 + t * dy))
    return distance


@pytest.fixture(scope="module")
def hits() -> CosmicRays:
    return cosmic_rays((256, 256), exptime=20000.0, rng=21)


def test_cosmic_masks_cover_every_pixel_a_track_crosses(hits: CosmicRays) -> None:
    assert hits.n_tracks > 10
    np.testing.assert_array_equal(hits.mask, hits.image > 5.0)
    ny, nx = hits.image.shape
    for track in hits.tracks:
        t = np.linspace(0.0, 1.0, max(2, int(track.length * 200)))
        column = np.rint(track.x0 + t * (track.x1 - track.x0)).astype(int)
        row = np.rint(track.y0 + t * (track.y1 - track.y0)).astype(int)
        on = (column >= 0) & (column < nx) & (row >= 0) & (row < ny)
        crossed, samples = np.unique(row[on] * nx + column[on], return_counts=True)
        long_enough = crossed[samples * track.length / t.size >= 0.5]  # >= 0.5 px of track inside
        assert hits.mask.reshape(-1)[long_enough].all()


def test_cosmic_tracks_are_sharp_lines_with_their_deposit(hits: CosmicRays) -> None:
    rows, columns = (index.astype(np.float64) for index in np.nonzero(hits.image))
    nearest = np.min([_segment_distance(track, columns, rows) for track in hits.tracks], axis=0)
    # Bilinear spreading reaches at most one pixel either way: nothing like a PSF's wings.
    assert nearest.max() <= math.sqrt(2) + 1e-9
    lengths = np.array([track.length for track in hits.tracks])
    electrons = np.array([track.electrons for track in hits.tracks])
    assert np.all((lengths >= 2.0 - 1e-9) & (lengths <= 40.0 + 1e-9))
    assert np.all(electrons >= cosmics.DEPOSIT_PER_PX * lengths * (1 - 1e-9))
    assert 300.0 < float(np.median(electrons)) < 10000.0
    # Charge is only lost off the edges: tracks wholly inside keep theirs.
    ny, nx = hits.image.shape
    inside = np.array(
        [
            min(t.x0, t.x1) >= 0
            and max(t.x0, t.x1) <= nx - 1
            and min(t.y0, t.y1) >= 0
            and max(t.y0, t.y1) <= ny - 1
            for t in hits.tracks
        ]
    )
    total = float(hits.image.sum(dtype=np.float64))
    assert electrons[inside].sum() * (1 - 1e-6) <= total <= electrons.sum() * (1 + 1e-6)
    assert inside.any()
    assert not inside.all()


# --- records -------------------------------------------------------------------------------------


def test_records_are_read_only_and_check_their_columns() -> None:
    flat = flat_field((32, 32), rng=0)
    hits = cosmic_rays((32, 32), exptime=1e5, rng=0)
    catalog = star_catalog(0.0, 0.0, radius_deg=0.1, n_stars=3, rng=0)
    for plane in (flat.response, flat.low_response, hits.image, hits.mask, catalog.ra, catalog.mag):
        with pytest.raises(ValueError, match="read-only"):
            plane[0] = 0
    with pytest.raises(ValueError, match="share a length"):
        StarCatalog(ra=[1.0, 2.0], dec=[1.0], mag=[15.0, 16.0])
    with pytest.raises(ValueError, match="share a shape"):
        DarkCurrent(rate=np.zeros((3, 4)), hot=np.zeros((4, 3), dtype=bool))
