"""Coadds of simulated sequences (issue 16) against the simulator's truth, through the science stages.

One sequence of six 60 s exposures of one field with a 4-amplifier camera (512 x 512 pixels):
dithered by up to 30", rotated by up to 0.5 degree, with cosmic rays; the last exposure in 1.5x
worse seeing. Each exposure is reduced through the science recipe in memory, the six (and the
five of equal seeing) are coadded, and the coadd goes through source detection, astrometry,
photometric calibration and depth as a product of the night does.
"""

from __future__ import annotations

import math

import attrs
import numpy as np
import numpy.typing as npt
import pytest
import sep
from astropy.wcs import WCS
from helpers import load, masters_of, trimmed

from lco_cli.catalogs import read_reference_file
from lco_core import Frame, ObsType
from lco_core.catalog import ReferenceCatalog
from lco_core.pipeline import pipeline
from lco_core.stats import robust_std, sigma_clipped_mean
from lco_instruments.simulate import Night, make_field, sinistro
from lco_instruments.simulate.sequence import simulate_sequence
from lco_stages.coadd import STAGE, CoaddSettings, FrameSource, coadd, frame_source, noise_correlation
from lco_stages.depth import measure_depth
from lco_stages.recipes import science_recipe
from lco_stages.sources import detect_sources
from lco_stages.wcs import solve_wcs
from lco_stages.zeropoint import calibrate_photometry

N_FRAMES = 6
SEEING = 2.0
WORSE = 1.5 * SEEING


@pytest.fixture(scope="module")
def night(tmp_path_factory: pytest.TempPathFactory) -> Night:
    sim = sinistro(amp_size=320)
    field = make_field(sim, seed=16, stars_per_square_degree=40000, seeing_arcsec=SEEING)
    return simulate_sequence(
        tmp_path_factory.mktemp("sequence"), sim, n_frames=N_FRAMES, seed=16, field=field,
        seeing_arcsec=(*[None] * (N_FRAMES - 1), WORSE),
    )  # fmt: skip


@pytest.fixture(scope="module")
def reference(night: Night) -> ReferenceCatalog:
    return read_reference_file(night.catalog_path)


@pytest.fixture(scope="module")
def reduced(night: Night, reference: ReferenceCatalog) -> list[Frame]:
    cal = masters_of(night, min_frames=3)
    frames = []
    for path in night.paths_of(ObsType.EXPOSE):
        frame, camera = load(path)
        frames.append(
            science_recipe(camera, cal, reference=reference, pixel_scale=night.sim.pixel_scale)(frame)
        )
    return frames


def science(frame: Frame, reference: ReferenceCatalog, pixel_scale: float) -> Frame:
    """The science stages a coadd goes through (no cosmic-ray stage: the inputs' masks held them)."""
    return pipeline(
        detect_sources(pixel_scale=pixel_scale),
        solve_wcs(reference, pixel_scale=pixel_scale),
        calibrate_photometry(reference),
        measure_depth(),
    )(frame)


@pytest.fixture(scope="module")
def unsolved(reduced: list[Frame]) -> Frame:
    """The coadd of all six, before the science stages (its WCS is the grid's)."""
    return coadd([frame_source(f) for f in reduced])


@pytest.fixture(scope="module")
def stacked(night: Night, unsolved: Frame, reference: ReferenceCatalog) -> Frame:
    return science(unsolved, reference, night.sim.pixel_scale)


@pytest.fixture(scope="module")
def equal(night: Night, reduced: list[Frame], reference: ReferenceCatalog) -> Frame:
    return science(coadd([frame_source(f) for f in reduced[:-1]]), reference, night.sim.pixel_scale)


@attrs.frozen(eq=False)
class Light:
    """An input's noise-free light (the simulator's truth) with the input's own WCS, zero point and mask."""

    source: FrameSource
    light: npt.NDArray[np.float32]

    name = property(lambda self: self.source.name)
    wcs = property(lambda self: self.source.wcs)
    shape = property(lambda self: self.source.shape)
    zero_point = property(lambda self: self.source.zero_point)
    exptime = property(lambda self: self.source.exptime)
    sky_noise = property(lambda self: self.source.sky_noise)
    meta = property(lambda self: self.source.meta)

    def read_rows(
        self, start: int, stop: int
    ) -> tuple[npt.NDArray[np.float32], npt.NDArray[np.float32], npt.NDArray[np.uint8]]:
        _, err, bpm = self.source.read_rows(start, stop)
        return self.light[start:stop], err, bpm


@pytest.fixture(scope="module")
def lights(night: Night, reduced: list[Frame]) -> list[Light]:
    """Each input's true light (no noise, no cosmic rays) on its own pixels, electrons."""
    signatures = night.signatures
    camera = load(night.paths_of(ObsType.EXPOSE)[0])[1]
    found = []
    for frame in reduced:
        truth = night.truth_for(frame.meta.filename + ".fz")
        light = (
            truth.expected - signatures.bias - signatures.dark.rate * truth.exptime
        ) / signatures.flat.response
        found.append(Light(frame_source(frame), trimmed(light.astype(np.float32), camera)))
    return found


@pytest.fixture(scope="module")
def expected(lights: list[Light], unsolved: Frame) -> Frame:
    """The noise-free coadd: the inputs' true light on the same grid, with the same scales, weights and
    masks, and no clipping."""
    grid = (unsolved.wcs.to_wcs(), unsolved.shape) if unsolved.wcs else None
    return coadd(lights, grid=grid, settings=CoaddSettings(nsigma=1e9))


def _pull(unsolved: Frame, expected: Frame) -> npt.NDArray[np.float64]:
    error = np.where(unsolved.uncertainty > 0, unsolved.uncertainty, np.inf)
    pull: npt.NDArray[np.float64] = (unsolved.data.astype(np.float64) - expected.data) / error
    return pull


def test_err_matches_the_scatter_on_empty_sky(unsolved: Frame, expected: Frame) -> None:
    """(coadd - noise-free coadd) / ERR on sky pixels has a robust width within 0.9-1.1."""
    sky = float(np.median(expected.data[unsolved.mask == 0]))
    empty = (unsolved.mask == 0) & (np.abs(expected.data - sky) < 0.01 * sky)
    assert empty.sum() > 10000
    width = robust_std(_pull(unsolved, expected)[empty])
    print(f"pull width on {empty.sum()} sky pixels: {width:.3f}")
    assert 0.9 <= width <= 1.1


def test_no_cosmic_ray_residual_above_5_sigma(
    night: Night, reduced: list[Frame], unsolved: Frame, expected: Frame
) -> None:
    """At every input's true cosmic-ray pixels, mapped onto the grid (each 2x2 bilinear neighbourhood)."""
    camera = load(night.paths_of(ObsType.EXPOSE)[0])[1]
    grid = unsolved.wcs.to_wcs() if unsolved.wcs else None
    assert grid is not None
    pull = _pull(unsolved, expected)
    ny, nx = unsolved.shape
    checked, worst = 0, -np.inf
    for frame in reduced:
        truth = night.truth_for(frame.meta.filename + ".fz")
        hit_y, hit_x = np.nonzero(trimmed(truth.cosmic.mask, camera))
        assert frame.wcs is not None
        ra, dec = frame.wcs.to_wcs().all_pix2world(hit_x, hit_y, 0)
        gx, gy = grid.all_world2pix(ra, dec, 0)
        for dx in (0, 1):
            for dy in (0, 1):
                x = np.floor(gx).astype(int) + dx
                y = np.floor(gy).astype(int) + dy
                inside = (x >= 0) & (x < nx) & (y >= 0) & (y < ny)
                good = inside.copy()
                good[inside] = unsolved.mask[y[inside], x[inside]] == 0
                checked += int(good.sum())
                if good.any():
                    worst = max(worst, float(pull[y[good], x[good]].max()))
    print(f"{checked} grid pixels under cosmic rays, largest pull {worst:.2f}")
    assert checked > 100
    assert worst < 5.0


def _truth_on_grid(night: Night, grid: WCS) -> tuple[npt.NDArray[np.float64], npt.NDArray[np.float64]]:
    catalog = night.field.catalog
    x, y = grid.all_world2pix(catalog.ra, catalog.dec, 0)
    return np.asarray(x), np.asarray(y)


def _bright_isolated(
    night: Night, x: npt.NDArray[np.float64], y: npt.NDArray[np.float64], shape: tuple[int, int]
) -> npt.NDArray[np.bool_]:
    """Truth stars of 12.5-17.5 mag, 30 px inside the grid, none over 2.5% of them within 15 px."""
    mag = night.field.catalog.mag
    ny, nx = shape
    keep = (mag > 12.5) & (mag < 17.5) & (x > 30) & (x < nx - 30) & (y > 30) & (y < ny - 30)
    for index in np.nonzero(keep)[0]:
        near = np.hypot(x - x[index], y - y[index]) < 15.0
        near[index] = False
        if (near & (mag < mag[index] + 4.0)).any():
            keep[index] = False
    return keep


def _matched(
    catalog_x: npt.NDArray[np.float64],
    catalog_y: npt.NDArray[np.float64],
    x: npt.NDArray[np.float64],
    y: npt.NDArray[np.float64],
) -> tuple[npt.NDArray[np.intp], npt.NDArray[np.float64]]:
    """For each truth position, the nearest catalogue source and its distance."""
    distance = np.hypot(
        catalog_x[np.newaxis, :] - x[:, np.newaxis], catalog_y[np.newaxis, :] - y[:, np.newaxis]
    )
    nearest = np.argmin(distance, axis=1)
    return nearest, distance[np.arange(len(x)), nearest]


def test_star_positions_within_0_05_pixel_rms_of_the_truth(
    night: Night, unsolved: Frame, stacked: Frame
) -> None:
    """Windowed centroids of bright isolated stars against the truth projected through the grid's WCS; the
    re-solved WCS places the truth where the grid does."""
    assert unsolved.wcs is not None
    assert stacked.wcs is not None
    assert stacked.sources is not None
    assert stacked.wcs.solved
    grid = unsolved.wcs.to_wcs()
    x, y = _truth_on_grid(night, grid)
    chosen = _bright_isolated(night, x, y, stacked.shape)
    catalog = stacked.sources
    clean = catalog["flag"] == 0
    nearest, distance = _matched(
        np.asarray(catalog["xwin"])[clean] - 1.0,
        np.asarray(catalog["ywin"])[clean] - 1.0,
        x[chosen],
        y[chosen],
    )
    found = distance < 1.0
    dx = (np.asarray(catalog["xwin"])[clean] - 1.0)[nearest[found]] - x[chosen][found]
    dy = (np.asarray(catalog["ywin"])[clean] - 1.0)[nearest[found]] - y[chosen][found]
    rms = float(np.sqrt(np.mean(dx**2 + dy**2)))
    print(f"{found.sum()} stars, position rms {rms:.4f} px, mean offset ({dx.mean():.4f}, {dy.mean():.4f})")
    assert found.sum() >= 10
    assert rms < 0.05
    solved_x, solved_y = stacked.wcs.to_wcs().all_world2pix(
        night.field.catalog.ra, night.field.catalog.dec, 0
    )
    drift = np.hypot(solved_x - x, solved_y - y)[chosen]
    print(f"re-solved WCS vs grid at those stars: rms {np.sqrt(np.mean(drift**2)):.4f} px")
    assert float(np.sqrt(np.mean(drift**2))) < 0.05


#: Aperture radius of the flux test, pixels: over 3 FWHM of the worst seeing.
RADIUS = 25.0


def _aperture_sum(
    image: npt.NDArray[np.float32], x: npt.NDArray[np.float64], y: npt.NDArray[np.float64]
) -> npt.NDArray[np.float64]:
    total, _, _ = sep.sum_circle(np.ascontiguousarray(image, dtype=np.float64), x, y, RADIUS, subpix=5)
    return np.asarray(total, dtype=np.float64)


def test_star_fluxes_within_1_percent_of_the_truth(
    night: Night, reduced: list[Frame], unsolved: Frame, lights: list[Light]
) -> None:
    """Bright stars' light within 25 px in the coadd against the truth on the coadd's system.

    Truth: sum_i w_i s_i F_i (the recorded scales and weights), F_i the same aperture's sum over
    input i's noise-free light (the simulator's; neighbours and the aperture's share of the
    profile included) minus its true sky. The coadd's sky is the truth's, sum_i w_i s_i (sky_i +
    d_i), d_i the input's own calibration offset (clipped mean of reduced minus true light): the
    coadd must keep the inputs' flux, not mend their calibration. An annulus median would not do:
    on noisy pixels it is pulled up by faint stars that leave a noise-free median alone."""
    assert unsolved.wcs is not None
    step = unsolved.steps(STAGE)[-1]
    scales = np.asarray(step.parameters["scales"], dtype=np.float64)
    weights = np.asarray(step.parameters["weights"], dtype=np.float64)
    catalog = night.field.catalog
    x, y = unsolved.wcs.to_wcs().all_world2pix(catalog.ra, catalog.dec, 0)
    ny, nx = unsolved.shape
    chosen = (catalog.mag > 12.5) & (catalog.mag < 16.5)
    chosen &= (x > 45) & (x < nx - 45) & (y > 45) & (y < ny - 45)
    expected = np.zeros(int(chosen.sum()))
    sky = 0.0
    area = math.pi * RADIUS**2
    for frame, light, scale, weight in zip(reduced, lights, scales, weights, strict=True):
        assert frame.wcs is not None
        truth = night.truth_for(frame.meta.filename + ".fz")
        offset = sigma_clipped_mean((frame.data - light.light)[frame.mask == 0], 3.0)
        sky += weight * scale * (truth.sky + offset)
        fx, fy = frame.wcs.to_wcs().all_world2pix(catalog.ra[chosen], catalog.dec[chosen], 0)
        height, width = frame.shape
        inside = (fx > 45) & (fx < width - 45) & (fy > 45) & (fy < height - 45)
        expected[~inside] = np.nan  # only stars every input sees whole
        flux = _aperture_sum(light.light, fx[inside], fy[inside]) - truth.sky * area
        expected[inside] += weight * scale * flux
    seen = np.isfinite(expected)
    for index in np.nonzero(seen)[0]:  # no masked coadd pixel in the aperture
        cx, cy = int(x[chosen][index]), int(y[chosen][index])
        seen[index] = not (unsolved.mask[cy - 26 : cy + 27, cx - 26 : cx + 27] != 0).any()
    measured = _aperture_sum(unsolved.data, x[chosen][seen], y[chosen][seen]) - sky * area
    ratio = measured / expected[seen]
    print(
        f"{seen.sum()} stars, flux ratio median {np.median(ratio):.4f}, robust spread {robust_std(ratio):.4f}"
    )
    print(np.round(ratio, 4), np.round(catalog.mag[chosen][seen], 2))
    assert seen.sum() >= 8
    assert abs(float(np.median(ratio)) - 1.0) < 0.01
    assert np.all(np.abs(ratio - 1.0) < 0.03)


def test_depth_gain_of_n_equal_inputs(reduced: list[Frame], equal: Frame) -> None:
    """L1DEPTH of the coadd of five equal inputs against their mean L1DEPTH: 1.25 log10(5) within 0.15 mag."""
    depths = [f.steps("measure_depth")[-1].diagnostics["L1DEPTH"] for f in reduced[:-1]]
    coadded = equal.steps("measure_depth")[-1].diagnostics["L1DEPTH"]
    assert all(isinstance(d, float) for d in depths)
    assert isinstance(coadded, float)
    gain = coadded - float(np.mean(depths))  # type: ignore[arg-type]
    print(
        f"depth gain {gain:.3f} mag, expected {1.25 * math.log10(5):.3f}; "
        f"noise correlation {noise_correlation(equal):.3f}"
    )
    assert abs(gain - 1.25 * math.log10(5)) < 0.15
