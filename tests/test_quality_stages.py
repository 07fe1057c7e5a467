"""Known answers of each quality test on constructed frames (issue 15).

Each test is run on a frame whose answer is fixed by construction: an exact count of flagged or
stuck pixels, a header pointing a known angle from the solution (the angle from astropy's own
separation), overscan levels on either side of the family window, white noise with and without a
sinusoid of known amplitude and frequency, and a field of bright stars that must raise no alarm.
"""

from __future__ import annotations

import datetime as dt
from typing import Any

import astropy.units as u
import attrs
import numpy as np
import pytest
from astropy.coordinates import SkyCoord
from astropy.wcs import WCS

from lco_core import Frame, ObsType
from lco_core.frame import AmplifierData
from lco_core.io._fits import to_header
from lco_core.keyword_table import GAIN_STAGE
from lco_core.masks import MaskBit
from lco_core.meta import FrameMeta
from lco_core.provenance import ProcessingStep
from lco_core.section import Binning
from lco_core.sources import WcsSolution
from lco_instruments.bias_levels import BIAS_LEVEL_WINDOWS
from lco_instruments.families import CameraFamily
from lco_stages.bias import LEVEL_STAGE
from lco_stages.overscan import STAGE as OVERSCAN_STAGE
from lco_stages.quality import (
    STAGE_PREFIX,
    QualityResult,
    QualitySettings,
    Verdict,
    check_bias_level,
    check_pattern_noise,
    check_pointing,
    check_saturation,
    check_single_value,
    quality_results,
    worst_verdict,
)
from lco_stages.quality.results import QUALITY_STAGES

RA, DEC = 150.25, -30.4


def _meta(camera: str = "fa05", obstype: ObsType = ObsType.EXPOSE, **changes: Any) -> FrameMeta:
    meta = FrameMeta(
        filename=f"cpt1m010-{camera}-20260101-0001-e00.fits",
        obstype=obstype,
        site="cpt",
        telescope="1m0-10",
        camera=camera,
        day_obs=dt.date(2026, 1, 1),
        date_obs=dt.datetime(2026, 1, 2, 3, 4, 5, tzinfo=dt.UTC),
        exptime=60.0,
        binning=Binning(1, 1),
        read_noise=7.5,
        ra=RA,
        dec=DEC,
    )
    return attrs.evolve(meta, **changes)


def _assembled(data: np.ndarray, mask: np.ndarray | None = None, **meta: Any) -> Frame:
    mask = np.zeros(data.shape, np.uint8) if mask is None else mask
    return Frame(meta=_meta(**meta), data=data, mask=mask, uncertainty=np.ones(data.shape))


def _only(frame: Frame) -> QualityResult:
    (result,) = quality_results(frame)
    return result


# -- saturation ---------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("count", "verdict"), [(0, Verdict.PASS), (499, Verdict.PASS), (500, Verdict.REJECT)]
)
def test_saturation_counts_the_saturated_bit_exactly(count: int, verdict: Verdict) -> None:
    mask = np.zeros((100, 100), np.uint8)
    mask.flat[:count] = MaskBit.SATURATED | MaskBit.BAD
    mask.flat[count : count + 700] = MaskBit.BAD | MaskBit.COSMIC  # other bits never count
    result = _only(check_saturation()(_assembled(np.zeros((100, 100)), mask)))
    assert result.value == count / 10000
    assert result.limit == 0.05
    assert result.verdict is verdict  # BANZAI: reject at >= 5%
    assert result.unit == "fraction"


def test_saturation_action_is_a_setting() -> None:
    mask = np.full((10, 10), MaskBit.SATURATED, np.uint8)
    settings = QualitySettings(saturation_action="warn")
    assert _only(check_saturation(settings)(_assembled(np.zeros((10, 10)), mask))).verdict is Verdict.WARN


# -- single value -------------------------------------------------------------------------------


def _raw(*readouts: np.ndarray) -> Frame:
    amps = [
        AmplifierData(i, d, np.zeros(d.shape, np.uint8), np.zeros(d.shape)) for i, d in enumerate(readouts, 1)
    ]
    return Frame(meta=_meta(), amplifiers=tuple(amps))


@pytest.mark.parametrize(("stuck", "verdict"), [(200, Verdict.PASS), (201, Verdict.REJECT)])
def test_single_value_takes_the_worst_amplifier(stuck: int, verdict: Verdict) -> None:
    rng = np.random.default_rng(1)
    clean = np.round(rng.normal(2500.0, 5.0, (25, 40)))
    clean[clean == 1000] = 999  # no accidental hits
    bad = clean.copy()
    bad.flat[:stuck] = 1000.0
    frame = check_single_value()(_raw(clean, bad, clean))
    result = _only(frame)
    assert result.value == stuck / 1000
    assert result.verdict is verdict  # BANZAI: reject above 20%
    step = frame.history[-1]
    assert step.diagnostics["fraction_amp2"] == stuck / 1000
    assert step.diagnostics["fraction_amp1"] == 0.0
    assert "amplifier 2" in result.reason


def test_single_value_on_an_assembled_frame_passes_without_a_value() -> None:
    result = _only(check_single_value()(_assembled(np.full((10, 10), 1000.0))))
    assert (result.verdict, result.value) == (Verdict.PASS, None)


# -- pointing -----------------------------------------------------------------------------------


def _solved(frame: Frame, ra: float, dec: float, *, wcserr: int = 0) -> Frame:
    ny, nx = frame.shape
    wcs = WCS(naxis=2)
    wcs.wcs.ctype = ["RA---TAN", "DEC--TAN"]
    wcs.wcs.crpix = [(nx + 1) / 2.0, (ny + 1) / 2.0]  # the image centre, 1-based
    wcs.wcs.crval = [ra, dec]
    wcs.wcs.cd = np.diag([-0.389, 0.389]) / 3600.0
    return attrs.evolve(frame, wcs=WcsSolution(to_header(wcs.to_header()), wcserr, 0.2, 40))


@pytest.mark.parametrize(
    ("east", "north", "verdict", "limit"),
    [
        (12.0, -5.0, Verdict.PASS, 30.0),
        (30.0, 30.0, Verdict.WARN, 30.0),
        (-250.0, 300.0, Verdict.REJECT, 300.0),
    ],
)
def test_pointing_offset_is_the_angle_to_the_solved_centre(
    east: float, north: float, verdict: Verdict, limit: float
) -> None:
    dec = DEC + north / 3600.0
    ra = RA + east / 3600.0 / np.cos(np.radians(dec))
    frame = _solved(_assembled(np.zeros((101, 121))), ra, dec)
    result = _only(check_pointing()(frame))
    truth = SkyCoord(RA * u.deg, DEC * u.deg).separation(SkyCoord(ra * u.deg, dec * u.deg)).arcsec
    assert result.value == pytest.approx(truth, abs=1e-3)
    assert (result.verdict, result.limit, result.unit) == (verdict, limit, "arcsec")


def test_pointing_without_a_solution_passes_and_says_why() -> None:
    frame = _assembled(np.zeros((50, 50)))
    for candidate in (frame, _solved(frame, RA + 1.0, DEC, wcserr=4)):
        result = _only(check_pointing()(candidate))
        assert (result.verdict, result.value, result.reason) == (
            Verdict.PASS,
            None,
            "no astrometric solution",
        )


# -- bias level ---------------------------------------------------------------------------------


def _with_overscan(frame: Frame, levels: dict[str, float | str]) -> Frame:
    return frame.with_step(ProcessingStep(OVERSCAN_STAGE, {}, levels))


def test_bias_level_outside_the_sinistro_window_rejects() -> None:
    window = BIAS_LEVEL_WINDOWS[CameraFamily.SINISTRO]
    frame = _with_overscan(_assembled(np.zeros((8, 8))), {"overscan_amp1": 2550.0, "overscan_amp2": 4000.0})
    result = _only(check_bias_level()(frame))
    assert (result.verdict, result.value, result.limit, result.unit) == (
        Verdict.REJECT,
        4000.0,
        window.high,
        "adu",
    )
    fine = _with_overscan(_assembled(np.zeros((8, 8))), {"overscan_amp1": 2550.0, "overscan_slope_amp1": 3.0})
    assert _only(check_bias_level()(fine)).verdict is Verdict.PASS


def test_an_sbig_bias_is_judged_on_its_own_level_in_adu() -> None:
    gain = 1.4
    window = BIAS_LEVEL_WINDOWS[CameraFamily.SBIG]

    def bias(level_adu: float, obstype: ObsType = ObsType.BIAS) -> Frame:
        frame = _with_overscan(
            _assembled(np.zeros((8, 8)), camera="kb99", obstype=obstype), {"overscan_amp1": "none"}
        )
        frame = frame.with_step(ProcessingStep(GAIN_STAGE, {"gain_amp1": gain}))
        return frame.with_step(ProcessingStep(LEVEL_STAGE, {"nsubread": 1}, {"BIASLVL": level_adu * gain}))

    low = _only(check_bias_level()(bias(window.low - 80.0)))
    assert (low.verdict, low.limit) == (Verdict.REJECT, window.low)
    assert low.value == pytest.approx(window.low - 80.0)
    assert _only(check_bias_level()(bias(520.0))).verdict is Verdict.PASS
    # A dark of a camera without overscan has no level of its own: nothing to test.
    dark = _with_overscan(
        _assembled(np.zeros((8, 8)), camera="kb99", obstype=ObsType.DARK), {"overscan_amp1": "none"}
    )
    assert (_only(check_bias_level()(dark)).verdict, _only(check_bias_level()(dark)).value) == (
        Verdict.PASS,
        None,
    )


def test_a_family_without_a_window_passes_with_its_level() -> None:
    frame = _with_overscan(_assembled(np.zeros((8, 8)), camera="fs01"), {"overscan_amp1": 9000.0})
    result = _only(check_bias_level()(frame))
    assert (result.verdict, result.value, result.limit) == (Verdict.PASS, 9000.0, None)


# -- pattern noise ------------------------------------------------------------------------------


def _noise(rng: np.random.Generator, shape: tuple[int, int] = (256, 256), sigma: float = 7.5) -> np.ndarray:
    return 1000.0 + rng.normal(0.0, sigma, shape)


def _sinusoid(
    shape: tuple[int, int], amplitude: float, frequency: float, rng: np.random.Generator | None
) -> np.ndarray:
    ny, nx = shape
    phase = rng.uniform(0, 2 * np.pi, (ny, 1)) if rng is not None else np.zeros((ny, 1))
    return amplitude * np.sin(2 * np.pi * frequency * np.arange(nx)[np.newaxis, :] + phase)


@pytest.mark.parametrize(("frequency", "drifting"), [(0.05, True), (0.2, True), (0.43, True), (0.31, False)])
def test_pattern_noise_finds_half_the_read_noise_at_its_frequency(frequency: float, drifting: bool) -> None:
    rng = np.random.default_rng(3)
    data = _noise(rng) + _sinusoid((256, 256), 0.5 * 7.5, frequency, rng if drifting else None)
    frame = check_pattern_noise()(_assembled(data))
    result = _only(frame)
    assert result.verdict is Verdict.WARN
    assert result.value is not None
    assert result.value >= 10
    diagnostics = frame.history[-1].diagnostics
    assert diagnostics["frequency"] == pytest.approx(frequency, abs=1.5 / 128)
    assert diagnostics["amplitude_read_noise"] == pytest.approx(0.5, rel=0.25)


def test_pattern_noise_in_one_quadrant_is_found() -> None:
    rng = np.random.default_rng(4)
    data = _noise(rng, (512, 512))
    data[256:, :256] += _sinusoid((256, 256), 0.5 * 7.5, 0.17, rng)
    assert _only(check_pattern_noise()(_assembled(data))).verdict is Verdict.WARN


def test_white_noise_and_bright_stars_raise_no_alarm() -> None:
    rng = np.random.default_rng(5)
    shape = (256, 256)
    y, x = np.mgrid[: shape[0], : shape[1]]
    for trial in range(10):
        data = _noise(rng, shape, sigma=15.0)
        for _ in range(60 if trial % 2 else 0):  # stars up to 300 sigma, FWHM 2-5 px
            x0, y0, peak, width = (
                rng.uniform(0, 256),
                rng.uniform(0, 256),
                rng.uniform(50, 4500),
                rng.uniform(1, 2),
            )
            data += peak * np.exp(-((x - x0) ** 2 + (y - y0) ** 2) / (2 * width**2))
        result = _only(check_pattern_noise()(_assembled(data)))
        assert result.verdict is Verdict.PASS, result.reason
        assert result.value is not None
        assert result.value < 8


def test_a_pattern_below_the_amplitude_limit_is_not_reported() -> None:
    rng = np.random.default_rng(6)
    data = _noise(rng, (512, 512)) + _sinusoid((512, 512), 0.1 * 7.5, 0.25, rng)
    result = _only(check_pattern_noise()(_assembled(data)))
    assert result.value is not None
    assert result.value >= 10  # seen...
    assert result.verdict is Verdict.PASS  # ...but a tenth of the read noise is not worth a warning


# -- reading the verdicts back -------------------------------------------------------------------


def test_quality_results_keep_each_tests_latest_run_and_worst_verdict_orders_them() -> None:
    assert worst_verdict([]) is Verdict.PASS
    frame = _assembled(np.zeros((10, 10)), np.full((10, 10), MaskBit.SATURATED, np.uint8))
    frame = check_saturation(QualitySettings(saturation_action="warn"))(frame)
    frame = check_pointing()(frame)
    assert [r.verdict for r in quality_results(frame)] == [Verdict.WARN, Verdict.PASS]
    assert worst_verdict(quality_results(frame)) is Verdict.WARN
    frame = check_saturation()(frame)  # the latest run counts
    assert [(r.test, r.verdict) for r in quality_results(frame)] == [
        ("saturation", Verdict.REJECT), ("pointing", Verdict.PASS)
    ]  # fmt: skip
    assert worst_verdict(quality_results(frame)) is Verdict.REJECT
    assert all(stage.startswith(STAGE_PREFIX) for stage in QUALITY_STAGES)
    assert {r.stage for r in quality_results(frame)} <= set(QUALITY_STAGES)


def test_quality_stages_leave_the_pixels_alone() -> None:
    rng = np.random.default_rng(7)
    frame = _assembled(_noise(rng, (64, 64)))
    after = check_pattern_noise()(check_saturation()(check_bias_level()(check_pointing()(frame))))
    for plane in ("data", "mask", "uncertainty"):
        np.testing.assert_array_equal(getattr(after, plane), getattr(frame, plane))
    assert len(after.history) == 4
