"""L1DEPTH, the 5-sigma point-source limiting magnitude (`lco_stages.depth`), against truth.

Three truths, none taken from the code under test:

- known answers: a frame of constant ERR with a given PSF, aperture correction and zero point,
  the limit worked out by hand from the definition (docs/stages/depth.rst);
- artificial stars: stars injected through the simulator (`lco_instruments.simulate`: rendered
  by its own Moffat code at its own seeing, with Poisson noise, flat, dark, bias, read noise and
  cosmic rays, written as raw files and reduced by the science recipe), their magnitudes on the
  simulator's true zero point. A star is recovered when a catalogue source lies within 1 pixel
  (half a FWHM for wide stars) of it with S/N >= 5 in the card's photometry
  (``fluxaperD / fluxerrD``, D the card's aperture); the magnitude at which half are recovered
  is within 0.15 mag of the card, under two skies and seeings;
- the card in the product of a small simulated night, and the figure in its summary.json.
"""

from __future__ import annotations

import datetime as dt
import json
import math
from pathlib import Path

import attrs
import numpy as np
import numpy.typing as npt
import pytest
from astropy.io import fits
from helpers import load, masters_of
from hypothesis import given
from hypothesis import strategies as st
from scipy.optimize import minimize
from scipy.spatial import cKDTree

from lco_cli.main import main
from lco_cli.work import figures_of
from lco_core import Frame, ObsType
from lco_core.catalog import ReferenceCatalog
from lco_core.meta import FrameMeta
from lco_core.provenance import ParamValue, ProcessingStep
from lco_core.section import Binning
from lco_core.sources import SourceCatalog
from lco_core.testing.strategies import frames
from lco_instruments.simulate import (
    Exposure,
    Night,
    make_field,
    sbig,
    simulate_frame,
    simulate_night,
    write_frame,
)
from lco_instruments.simulate.cameras import SimCamera
from lco_instruments.simulate.frames import true_wcs
from lco_instruments.simulate.scene import StarCatalog, project_stars
from lco_stages.depth import STAGE, limiting_aperture_flux, measure_depth
from lco_stages.keywords import product_keywords
from lco_stages.recipes import Calibrations, science_recipe
from lco_stages.sources import STAGE as SOURCES
from lco_stages.zeropoint import STAGE as ZERO_POINT

Float64Array = npt.NDArray[np.float64]
Float32Image = npt.NDArray[np.float32]
BoolArray = npt.NDArray[np.bool_]

#: An injected star keeps this many FWHMs from every real star. Closer, sep's CLEAN (which
#: `lco_stages.sources.detect_sources` runs with) deletes faint detections beside brighter stars:
#: on white noise, a star of PSF S/N 12 lost 97% of the time 6 FWHM from one 3 times brighter,
#: and up to ~14 FWHM from one 1000 times brighter. That is crowding, not depth: the card is the
#: limit of the sky's noise, so the injected stars sit where the sky is what they stand on.
CLEARANCE_FWHM = 14.0
#: Injected stars are this many FWHMs apart (a grid, so they do not clean each other).
SPACING_FWHM = 12.0
#: Largest distance of a catalogue source from an injected star's position to count as it: 1 pixel,
#: or this many FWHMs when larger. A star at S/N 5 is centred to about FWHM / (2.35 x 5) x sqrt(2)
#: per axis; with a 5 px FWHM that is 0.6 px, and a third of such stars would land beyond 1 px.
MATCH_FWHM = 0.5


@attrs.frozen
class Conditions:
    """A night's sky for the injection: seeing, sky brightness, exposure time, field density."""

    name: str
    seeing_arcsec: float
    sky_rate: float  # electrons per second per pixel
    exptime: float = 60.0
    stars_per_square_degree: float = 6000.0
    mag_range: tuple[float, float] = (13.0, 18.5)


#: The two conditions of the test: a dark sky in poor seeing, a bright sky in good seeing.
DARK_SKY = Conditions(
    "dark sky, 2.5 arcsec seeing", seeing_arcsec=2.5, sky_rate=2.0, stars_per_square_degree=4000.0
)
BRIGHT_SKY = Conditions("bright sky, 1.5 arcsec seeing", seeing_arcsec=1.5, sky_rate=25.0)


@attrs.frozen(eq=False)
class Trial:
    """One frame's injected stars and what the pipeline made of them."""

    magnitudes: Float64Array  # injected, on the simulator's true zero point
    x: Float64Array  # injected position on the product, 0-based pixels
    y: Float64Array
    recovered: BoolArray  # a source matched (MATCH_FWHM) with S/N >= 5 in the card's aperture
    detected: BoolArray  # a source matched at all
    flux: Float64Array  # its flux in the card's aperture times the card's correction, e- (NaN: none)
    flux_error: Float64Array  # the same for its error
    depth: float  # the frame's L1DEPTH (NaN: none, and the reason)
    zero_point: float  # its L1ZP
    true_zero_point: float
    exptime: float
    reason: str = ""


def calibrations(folder: Path, sim: SimCamera, *, seed: int) -> tuple[Night, Calibrations]:
    """Masters of a short simulated night (3 biases, darks and flats) made as the pipeline makes them."""
    night = simulate_night(folder, sim, n_bias=3, n_dark=3, n_flat=3, n_science=0, seed=seed, compress=False)
    return night, masters_of(night, min_frames=3)


def expected_depth(sim: SimCamera, conditions: Conditions) -> float:
    """A rough limit from the simulator's truth alone, to centre the injected magnitudes on.

    Sky and read noise in an aperture of radius one FWHM, the true Moffat (beta 3) light in it.
    """
    fwhm = conditions.seeing_arcsec / sim.pixel_scale
    variance = conditions.sky_rate * conditions.exptime + sim.electronics[0].read_noise ** 2
    aperture = 0.5 * (25 + math.sqrt(625 + 100 * math.pi * fwhm**2 * variance))
    alpha = fwhm / (2 * math.sqrt(2 ** (1 / 3) - 1))
    enclosed = 1 - (1 + (fwhm / alpha) ** 2) ** -2
    zero_point = make_field(sim, seed=0).zero_points["rp"]
    return zero_point - 2.5 * math.log10(aperture / enclosed / conditions.exptime)


def inject_and_recover(
    night: Night,
    cal: Calibrations,
    conditions: Conditions,
    index: int,
    *,
    folder: Path,
    seed: int,
    clearance_fwhm: float = CLEARANCE_FWHM,
    spread: float = 1.0,
) -> Trial:
    """Simulate one science frame with stars injected on a grid, reduce it, and find them.

    A frame the pipeline gives no L1DEPTH (too few stars for a PSF or a zero point) comes back
    with no stars and the card's reason.

    The field (its own real stars, a new draw per ``index``) is simulated with the injected
    stars added to its catalogue, so the simulator renders them like any star; the reference
    catalogue given to the pipeline holds only the real ones.
    """
    sim = night.sim
    field = make_field(
        sim, seed=seed * 1000 + index, stars_per_square_degree=conditions.stars_per_square_degree,
        mag_range=conditions.mag_range, seeing_arcsec=conditions.seeing_arcsec,
    )  # fmt: skip
    start = dt.datetime(2026, 1, 2, 2, 0, tzinfo=dt.UTC) + dt.timedelta(minutes=5 * index)
    exposure = Exposure(
        ObsType.EXPOSE, conditions.exptime, start, 100 + index, sky_rate=conditions.sky_rate,
        pointing_error_arcsec=(4.0, -3.0),
    )  # fmt: skip
    wcs = true_wcs(sim, field, exposure)
    real = project_stars(field.catalog, wcs, sim.mosaic_shape, zero_point=0.0, exptime=1.0)
    fwhm = conditions.seeing_arcsec / sim.pixel_scale
    trim = sim.camera.trim_section
    rng = np.random.default_rng([seed, index, 7])
    margin = 5.0 * fwhm + 10.0
    step = SPACING_FWHM * fwhm
    # mosaic (0-based) coordinates of the grid, inside the trimmed frame
    xs = np.arange(trim.x_min - 1 + margin, trim.x_max - 1 - margin, step)
    ys = np.arange(trim.y_min - 1 + margin, trim.y_max - 1 - margin, step)
    gx, gy = (g.ravel() + rng.uniform(-0.5, 0.5, g.size) for g in np.meshgrid(xs, ys))
    distance, _ = cKDTree(np.column_stack([real.x, real.y])).query(np.column_stack([gx, gy]))
    keep = np.asarray(distance) > clearance_fwhm * fwhm
    gx, gy = gx[keep], gy[keep]
    centre = expected_depth(sim, conditions)
    magnitudes = rng.uniform(centre - spread, centre + spread, gx.size)
    ra, dec = wcs.all_pix2world(gx, gy, 0)
    catalog = StarCatalog(
        np.concatenate([field.catalog.ra, ra]),
        np.concatenate([field.catalog.dec, dec]),
        np.concatenate([field.catalog.mag, magnitudes]),
    )
    simulated = simulate_frame(
        sim, night.signatures, attrs.evolve(field, catalog=catalog), exposure, seed=seed
    )
    path = write_frame(folder, simulated, compress=False)
    frame, camera = load(path)
    reference = ReferenceCatalog(field.catalog.ra, field.catalog.dec, {"mag": field.catalog.mag})
    reduced = science_recipe(camera, cal, reference=reference, pixel_scale=sim.pixel_scale)(frame)
    path.unlink()
    card = reduced.steps(STAGE)[-1].diagnostics
    zero_point = reduced.steps(ZERO_POINT)[-1].diagnostics["L1ZP"]
    sources = reduced.sources
    assert sources is not None
    assert isinstance(card["L1DEPTH"], float)
    assert isinstance(zero_point, float)
    if not math.isfinite(card["L1DEPTH"]):
        # no card on this frame (too few stars for a PSF or a zero point): nothing to compare with
        none = np.empty(0)
        reason = str(card["reason"])
        nan = math.nan
        return Trial(none, none, none, none > 0, none > 0, none, none, nan, zero_point, nan, nan, reason)
    column = str(card["aperture"])
    flux = np.asarray(sources[column], dtype=np.float64)
    error = np.asarray(sources[column.replace("fluxaper", "fluxerr")], dtype=np.float64)
    snr = flux / np.where(error > 0, error, np.inf)
    found = np.column_stack([sources["xwin"] - 1.0, sources["ywin"] - 1.0])
    injected = np.column_stack([gx - (trim.x_min - 1), gy - (trim.y_min - 1)])
    nearest, which = cKDTree(found).query(injected)
    detected = np.asarray(nearest) <= max(1.0, MATCH_FWHM * fwhm)
    recovered = detected & (snr[which] >= 5.0)
    correction = float(card["aperture_correction"])  # type: ignore[arg-type]
    measured = np.where(detected, flux[which] * correction, np.nan)
    measured_error = np.where(detected, error[which] * correction, np.nan)
    return Trial(
        magnitudes, injected[:, 0], injected[:, 1], recovered, detected, measured, measured_error,
        card["L1DEPTH"], zero_point, field.zero_points[exposure.filter], exposure.exptime,
    )  # fmt: skip


def half_completeness(magnitudes: Float64Array, recovered: BoolArray) -> tuple[float, float]:
    """The magnitude where half the stars are recovered, and the width: a logistic fitted by likelihood.

    ``P(recovered | m) = 1 / (1 + exp((m - m50) / width))``.
    """

    def negative_log_likelihood(p: Float64Array) -> float:
        m50, log_width = float(p[0]), float(p[1])
        z = (magnitudes - m50) / math.exp(log_width)
        # log P = -log(1 + e^z), log(1 - P) = z - log(1 + e^z)
        softplus = np.logaddexp(0.0, z)
        return float(np.sum(np.where(recovered, softplus, softplus - z)))

    start = np.array([float(np.median(magnitudes)), math.log(0.2)])
    fit = minimize(
        negative_log_likelihood, start, method="Nelder-Mead", options={"xatol": 1e-4, "fatol": 1e-6}
    )
    return float(fit.x[0]), math.exp(float(fit.x[1]))


# -- known answers ------------------------------------------------------------------------------------

PIXEL_SCALE = 0.5  # arcsec per pixel: the 3" aperture is 6 pixels across, the 4" one 8
NOISE = 10.0  # electrons per pixel
EXPTIME = 100.0  # s


def _meta() -> FrameMeta:
    return FrameMeta(
        filename="lsc1m005-kb99-20260101-0042-e00.fits", obstype=ObsType.EXPOSE, site="lsc",
        telescope="1m0-05", camera="kb99", day_obs=dt.date(2026, 1, 1),
        date_obs=dt.datetime(2026, 1, 2, 2, 0, tzinfo=dt.UTC), exptime=EXPTIME, binning=Binning(1, 1),
    )  # fmt: skip


def _frame(
    zero_point: ProcessingStep | None,
    *,
    psf_stars: int = 12,
    sources: SourceCatalog | None = None,
    error: Float32Image | None = None,
    mask: npt.NDArray[np.uint8] | None = None,
) -> Frame:
    """A 200 x 200 frame of constant ERR (NOISE) whose history says: a Moffat PSF of FWHM 4 px and
    beta 3 fitted to ``psf_stars`` stars, at PIXEL_SCALE; then ``zero_point``."""
    shape = (200, 200)
    detect = ProcessingStep(
        SOURCES,
        {"pixel_scale": PIXEL_SCALE},
        {
            "psf_fwhm": 4.0, "psf_beta": 3.0, "psf_stars": psf_stars, "succeeded": True, "reason": "",
            **dict.fromkeys(("L1MEAN", "L1MEDIAN", "L1SIGMA", "L1FWHM", "L1ELLIP", "L1ELLIPA"), math.nan),
        },
    )  # fmt: skip
    history = (detect,) if zero_point is None else (detect, zero_point)
    return Frame(
        meta=_meta(),
        data=np.zeros(shape, dtype=np.float32),
        mask=np.zeros(shape, dtype=np.uint8) if mask is None else mask,
        uncertainty=np.full(shape, NOISE, dtype=np.float32) if error is None else error,
        history=history,
        sources=sources,
    )


def _fitted(flux: str, correction: float | None = None, l1zp: float = 25.0) -> ProcessingStep:
    parameters: dict[str, ParamValue] = {"flux": flux}
    if correction is not None:
        parameters |= {"aperture_correction": correction, "correction_from": "12 stars"}
    return ProcessingStep(ZERO_POINT, parameters, {"L1ZP": l1zp, "succeeded": True, "reason": ""})


def _depth(frame: Frame) -> dict[str, ParamValue]:
    result = measure_depth()(frame)
    assert result.history[:-1] == frame.history
    assert result.history[-1].stage == STAGE
    return dict(result.history[-1].diagnostics)


def test_the_limit_in_the_zero_points_aperture_by_hand() -> None:
    """fluxaper3 (3" = 6 px across) with the zero point's own correction 1.25. By hand:
    A = 9 pi = 28.2743 px; F_ap = (25 + sqrt(625 + 100 A sigma^2)) / 2 = 278.6618 e-; F = 1.25 F_ap
    = 348.3272 e-; L1DEPTH = 25 - 2.5 log10(3.483272) = 23.64503."""
    depth = _depth(_frame(_fitted("fluxaper3", 1.25)))
    assert depth["succeeded"] is True
    assert depth["reason"] == ""
    assert depth["aperture"] == "fluxaper3"
    assert depth["aperture_area"] == pytest.approx(28.274334, rel=1e-6)
    assert depth["noise_per_pixel"] == pytest.approx(NOISE)
    assert depth["aperture_flux_limit"] == pytest.approx(278.66176, rel=1e-6)
    assert depth["flux_limit"] == pytest.approx(348.32721, rel=1e-6)
    assert depth["L1DEPTH"] == pytest.approx(23.645032, abs=1e-5)


def test_the_limit_from_the_psf_when_the_zero_point_used_kron_fluxes() -> None:
    """No aperture correction recorded: the aperture closest to 2 FWHM (8 px: 4") and the Moffat's
    own light in it. By hand: alpha = 4 / (2 sqrt(2^(1/3) - 1)) = 3.92292 px; enclosed in r = 4 px:
    1 - (1 + (4/alpha)^2)^-2 = 0.759633; A = 16 pi; F_ap = 367.2111 e-; F = F_ap / 0.759633
    = 483.4057 e-; L1DEPTH = 25 - 2.5 log10(4.834057) = 23.28922."""
    depth = _depth(_frame(_fitted("flux (Kron): too few isolated stars for an aperture correction")))
    assert depth["aperture"] == "fluxaper4"
    assert depth["correction_from"] == "PSF model"
    assert depth["aperture_correction"] == pytest.approx(1 / 0.7596334, rel=1e-6)
    assert depth["aperture_flux_limit"] == pytest.approx(367.21109, rel=1e-6)
    assert depth["flux_limit"] == pytest.approx(483.40567, rel=1e-6)
    assert depth["L1DEPTH"] == pytest.approx(23.289221, abs=1e-5)


@given(
    noise=st.floats(0.0, 1e3),
    area=st.floats(0.0, 1e4),
    nsigma=st.floats(0.5, 50.0),
)
def test_the_limit_has_the_signal_to_noise_asked_for(noise: float, area: float, nsigma: float) -> None:
    """The law behind the formula: the flux found has S/N nsigma with its own shot noise."""
    flux = limiting_aperture_flux(noise, area, nsigma)
    assert flux / math.sqrt(flux + area * noise**2) == pytest.approx(nsigma, rel=1e-9)


def test_another_nsigma_is_applied_and_recorded() -> None:
    frame = _frame(_fitted("fluxaper3", 1.25))
    five = measure_depth()(frame).history[-1]
    three = measure_depth(nsigma=3.0)(frame).history[-1]
    assert five.parameters["nsigma"] == 5.0
    assert three.parameters["nsigma"] == 3.0
    fainter = three.diagnostics["L1DEPTH"]
    assert isinstance(fainter, float)
    # by hand: F_ap = (9 + sqrt(81 + 36 A sigma^2)) / 2 = 164.0843 e- with A = 9 pi
    assert fainter == pytest.approx(25 - 2.5 * math.log10(1.25 * 164.08431 / EXPTIME), abs=1e-5)
    with pytest.raises(ValueError, match="nsigma"):
        measure_depth(nsigma=0.0)


def test_sky_noise_leaves_out_sources_and_masked_pixels() -> None:
    """ERR is 10 e- on the sky, 40 e- on two sources' discs and 99 e- on masked pixels: the noise per
    pixel is the sky's."""
    error = np.full((200, 200), NOISE, dtype=np.float32)
    y, x = np.mgrid[:200, :200]
    for cx, cy in ((50.0, 60.0), (140.0, 120.0)):
        error[np.hypot(x - cx, y - cy) < 12] = 40.0
    mask = np.zeros((200, 200), dtype=np.uint8)
    mask[:, :110] = 1  # more than half the frame: a median over it would be 99
    error[mask > 0] = 99.0
    sources = SourceCatalog(
        {
            "x": [51.0, 141.0], "y": [61.0, 121.0], "a": [1.7, 1.7], "b": [1.7, 1.7], "theta": [0.0, 0.0],
            "kronrad": [3.5, 3.5], "fwhm": [4.0, 4.0],
        }
    )  # fmt: skip
    depth = _depth(_frame(_fitted("fluxaper3", 1.25), sources=sources, error=error, mask=mask))
    assert depth["noise_per_pixel"] == pytest.approx(NOISE)


def test_no_zero_point_gives_no_magnitude_and_says_why() -> None:
    failed = ProcessingStep(
        ZERO_POINT, {}, {"L1ZP": float("nan"), "succeeded": False, "reason": "no astrometric solution"}
    )
    frame = _frame(failed)
    depth = _depth(frame)
    assert depth["succeeded"] is False
    assert math.isnan(float(str(depth["L1DEPTH"])))
    assert depth["reason"] == "no zero point: no astrometric solution"
    # the flux limit does not need a zero point: the PSF's aperture (fluxaper4) and the noise
    assert depth["flux_limit"] == pytest.approx(483.40567, rel=1e-6)
    cards = product_keywords(measure_depth()(frame), now=dt.datetime(2026, 1, 2, tzinfo=dt.UTC))
    assert "L1DEPTH" not in {card.keyword for card in cards}  # FITS has no NaN
    assert figures_of(measure_depth()(frame))["L1DEPTH_reason"] == depth["reason"]


def test_no_fitted_psf_and_no_aperture_correction_gives_no_depth() -> None:
    frame = _frame(_fitted("flux (Kron): too few isolated stars"), psf_stars=0)
    depth = _depth(frame)
    assert depth["succeeded"] is False
    assert "no PSF" in str(depth["reason"])
    assert math.isnan(float(str(depth["L1DEPTH"])))


@given(
    frame=frames(max_side=24),
    zero_point=st.sampled_from([None, "fitted", "failed"]),
    psf_stars=st.integers(0, 20),
)
def test_any_frame_gets_one_step_and_unchanged_pixels(
    frame: Frame, zero_point: str | None, psf_stars: int
) -> None:
    """Whatever the pixels, mask and ERR (zeros, all masked, huge), the stage adds one step, says
    why when it has no magnitude, and changes nothing else."""
    steps = {
        None: (),
        "fitted": (_fitted("fluxaper3", 1.25),),
        "failed": (
            ProcessingStep(ZERO_POINT, {}, {"succeeded": False, "reason": "no astrometric solution"}),
        ),
    }[zero_point]
    detect = _frame(None, psf_stars=psf_stars).history
    given_frame = attrs.evolve(frame, history=(*detect, *steps))
    result = measure_depth()(given_frame)
    assert result.history[:-1] == given_frame.history
    assert np.array_equal(result.data, frame.data, equal_nan=True)
    assert np.array_equal(result.mask, frame.mask)
    depth = result.history[-1].diagnostics
    magnitude = depth["L1DEPTH"]
    assert isinstance(magnitude, float)
    assert math.isfinite(magnitude) == (depth["succeeded"] is True)
    assert bool(depth["reason"]) != math.isfinite(magnitude)


def test_the_card_comes_from_the_keyword_table() -> None:
    frame = measure_depth()(_frame(_fitted("fluxaper3", 1.25)))
    cards = {c.keyword: c for c in product_keywords(frame, now=dt.datetime(2026, 1, 2, tzinfo=dt.UTC))}
    assert cards["L1DEPTH"].value == pytest.approx(23.645032, abs=1e-5)
    assert str(cards["L1DEPTH"].comment).startswith("[mag] 5-sigma")
    assert figures_of(frame)["L1DEPTH"] == pytest.approx(23.645032, abs=1e-5)


# -- artificial stars ------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def masters(tmp_path_factory: pytest.TempPathFactory) -> tuple[Night, Calibrations]:
    return calibrations(tmp_path_factory.mktemp("depth-masters"), sbig(size=1024), seed=17)


@pytest.mark.parametrize(
    ("conditions", "frames"),
    # about 15 injected stars a frame in the dark sky (its wide stars keep them apart), 90 in the bright
    [(DARK_SKY, 28), (BRIGHT_SKY, 6)],
    ids=["dark", "bright"],
)
def test_half_the_stars_at_the_card_are_recovered(
    masters: tuple[Night, Calibrations], conditions: Conditions, frames: int, tmp_path: Path
) -> None:
    night, cal = masters
    trials = [
        inject_and_recover(night, cal, conditions, index, folder=tmp_path, seed=17) for index in range(frames)
    ]
    carded = [t for t in trials if not t.reason]
    assert len(carded) >= 0.9 * len(trials), [t.reason for t in trials]
    magnitudes = np.concatenate([t.magnitudes for t in carded])
    recovered = np.concatenate([t.recovered for t in carded])
    depths = np.array([t.depth for t in carded])
    assert magnitudes.size >= 200
    m50, width = half_completeness(magnitudes, recovered)
    card = float(np.mean(depths))
    print(f"{conditions.name}: {magnitudes.size} stars, L1DEPTH {card:.3f}, 50% at {m50:.3f} ({width:.3f})")
    assert abs(m50 - card) <= 0.15, (m50, card, width)
    # bright injected stars are found: the curve is completeness, not crowding
    assert recovered[magnitudes < card - 0.6].mean() >= 0.95
    assert recovered[magnitudes > card + 0.6].mean() <= 0.05


# -- the card in a product and in summary.json ------------------------------------------------------


def test_a_small_nights_products_carry_the_depth_and_its_figure(tmp_path: Path) -> None:
    """A small night through lco-reduce run: each science product has L1DEPTH, summary.json the same
    figure, near what the simulator's truth (sky, read noise, seeing, zero point) gives."""
    sim = sbig(size=512)  # 256 x 256 binned pixels: enough stars for a PSF in this field
    field = make_field(sim, seed=23, stars_per_square_degree=30000.0, mag_range=(13.0, 18.5))
    night = simulate_night(
        tmp_path / "raw", sim, n_bias=3, n_dark=3, n_flat=3, n_science=2, seed=23, compress=False, field=field
    )
    out = tmp_path / "out"
    arguments = ["run", str(night.folder), "--out", str(out), "--min-frames", "3", "--workers", "1"]
    assert main([*arguments, "--quiet", "--catalog", str(night.catalog_path), "--offline"]) == 0
    records = {Path(str(r["file"])).name: r for r in json.loads((out / "summary.json").read_text())["frames"]}
    truth = Conditions("the night's", seeing_arcsec=field.seeing_arcsec, sky_rate=3.0)
    for path in night.paths_of(ObsType.EXPOSE):
        product = out / path.name.replace("e00.fits", "e91.fits.fz")
        header = fits.getheader(product, "SCI")
        figure = records[path.name]["figures"]["L1DEPTH"]
        assert header["L1DEPTH"] == pytest.approx(figure, abs=1e-6)
        assert header.comments["L1DEPTH"].startswith("[mag] ")
        # the rough limit from the truth leaves out the dark current and the masters' noise
        assert abs(header["L1DEPTH"] - expected_depth(sim, attrs.evolve(truth, exptime=60.0))) < 0.3
        assert "L1DEPTH_reason" not in records[path.name]["figures"]
