"""Simulated trials of the quality tests: defect frames (truth: the injected fault) and clean frames.

Shared by tests/test_quality_rates.py (small N, asserting the targets) and bench/quality_rates.py
(large N, printing the rates). Each trial simulates one raw frame with `simulate_frame`, writes it
(plain FITS, a temporary folder), reads it back as the pipeline does and runs the stages a recipe
runs up to the quality test (the amplifier stages with the single-value and saturation tests, then
the bias-level and pattern-noise tests; a bias also its own level and the bias-level test on it).
The pointing test gets the frame's astrometric solution from the truth: the true WCS on the
trimmed grid, moved by a random 0.3 arcsec error as a real fit's (no solver run), so that what is
tested is the test, not the solver.

The amplitudes a user cares about (the defect trials):

- pattern noise: a sinusoid of 0.5 or 1 x the read noise along the rows of one amplifier (all of
  an SBIG's), 0.05-0.45 cycles per pixel, its phase new on every row; on biases, darks and
  science frames (sky 180 e-);
- single value: 25% or 50% of one amplifier's raw pixels at exactly 1000 ADU;
- saturation: 7-10% of the mosaic's columns flooded above the full well, or a sky flat exposed
  to twice the full well;
- bias level: one amplifier's level moved 1200 ADU up or 2200 ADU down (a Sinistro), the
  pedestal of an SBIG bias moved 1600 up or 300 down (out of the window by >= 80 ADU);
- pointing: header pointing 40 arcsec off (warn expected) or 400 arcsec off (reject expected).

Clean frames: biases, darks, sky flats (25000 e-) and science frames (60 s, realistic pointing
errors of 0-10 arcsec) of both cameras, no fault.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import attrs
import numpy as np
from astropy.wcs import WCS
from helpers import load

from lco_core import Frame, ObsType
from lco_core.io._fits import to_header
from lco_core.pipeline import Stage, pipeline
from lco_core.sources import WcsSolution
from lco_instruments.simulate import Exposure, Field, SimCamera, make_field, sbig, simulate_frame, sinistro
from lco_instruments.simulate.frames import FrameDefects, Signatures, camera_signatures
from lco_instruments.simulate.night import write_frame
from lco_stages.bias import subtract_bias_level
from lco_stages.quality import (
    QualityResult,
    Verdict,
    check_bias_level,
    check_pattern_noise,
    check_pointing,
    quality_results,
)
from lco_stages.recipes import amplifier_stages

START = dt.datetime(2026, 1, 1, 22, 0, tzinfo=dt.UTC)
EXPTIME = {ObsType.BIAS: 0.0, ObsType.DARK: 300.0, ObsType.SKYFLAT: 5.0, ObsType.EXPOSE: 60.0}
TESTS = ("single_value", "saturation", "bias_level", "pattern_noise", "pointing")


@attrs.frozen(eq=False)
class Setup:
    """A camera with its signatures and sky."""

    sim: SimCamera
    signatures: Signatures
    field: Field


def setups() -> tuple[Setup, Setup]:
    """An SBIG (256 x 256 binned pixels, one amplifier) and a Sinistro (512 x 512, four amplifiers)."""
    out = []
    for sim in (sbig(size=512), sinistro(amp_size=256)):
        out.append(Setup(sim, camera_signatures(sim, seed=5), make_field(sim, seed=5)))
    return out[0], out[1]


@attrs.frozen
class Trial:
    """One frame and what the quality tests said of it.

    Attributes
    ----------
    test : str
        The test whose defect was injected ('' for a clean frame).
    expected : Verdict
        The verdict the injected fault calls for (PASS for a clean frame).
    camera, obstype : str
        What was simulated.
    results : dict of str to QualityResult
        Each test's result on the frame.
    description : str
        The fault, for a failure message.
    """

    test: str
    expected: Verdict
    camera: str
    obstype: str
    results: dict[str, QualityResult]
    description: str

    @property
    def detected(self) -> bool:
        """The injected test reached at least the expected verdict."""
        result = self.results.get(self.test)
        return result is not None and result.verdict.severity >= self.expected.severity


def _solution(frame: Frame, wcs: WCS, rng: np.random.Generator, trim: tuple[int, int]) -> WcsSolution:
    """The true WCS on the trimmed grid with a random 0.3 arcsec (rms per axis) fit error."""
    moved = wcs.deepcopy()
    moved.wcs.crpix = [moved.wcs.crpix[0] - trim[0], moved.wcs.crpix[1] - trim[1]]
    east, north = rng.normal(0.0, 0.3, size=2) / 3600.0
    dec = moved.wcs.crval[1] + north
    moved.wcs.crval = [moved.wcs.crval[0] + east / np.cos(np.radians(dec)), dec]
    return WcsSolution(to_header(moved.to_header()), 0, 0.3, 50)


def run_trial(
    setup: Setup,
    exposure: Exposure,
    *,
    seed: int,
    folder: Path,
    test: str,
    expected: Verdict,
    description: str,
) -> Trial:
    """Simulate one frame, run the stages up to the quality tests, collect the verdicts."""
    simulated = simulate_frame(setup.sim, setup.signatures, setup.field, exposure, seed=seed)
    path = write_frame(folder, simulated, compress=False)
    frame, camera = load(path)
    path.unlink()
    stages: list[Stage] = [*amplifier_stages(camera), check_bias_level()]
    if exposure.obstype is not ObsType.SKYFLAT:
        stages.append(check_pattern_noise())
    if exposure.obstype is ObsType.BIAS:
        stages += [subtract_bias_level(), check_bias_level()]
    frame = pipeline(*stages)(frame)
    if exposure.obstype is ObsType.EXPOSE:
        trim = (camera.trim_section.x_min - 1, camera.trim_section.y_min - 1)
        wcs = _solution(frame, simulated.truth.wcs, np.random.default_rng([seed, 9]), trim)
        frame = check_pointing()(attrs.evolve(frame, wcs=wcs))
    results = {r.test: r for r in quality_results(frame)}
    return Trial(test, expected, setup.sim.name, exposure.obstype.value, results, description)


def _exposure(obstype: ObsType, number: int, rng: np.random.Generator, **changes: Any) -> Exposure:
    direction, error = rng.uniform(0, 2 * np.pi), rng.uniform(0.0, 10.0)  # LCO's real pointing
    base = Exposure(
        obstype=obstype,
        exptime=EXPTIME[obstype],
        start=START + dt.timedelta(minutes=number),
        number=number,
        pointing_error_arcsec=(float(error * np.cos(direction)), float(error * np.sin(direction))),
        dither_arcsec=(float(rng.uniform(-10, 10)), float(rng.uniform(-10, 10))),
        cosmic_rays=obstype is not ObsType.SKYFLAT,
    )
    return attrs.evolve(base, **changes)


def clean_trials(n: int, folder: Path, *, seed: int = 0) -> Iterator[Trial]:
    """``n`` fault-free frames, cycling cameras and OBSTYPEs (bias, dark, flat, science x 2)."""
    cameras = setups()
    kinds = (ObsType.BIAS, ObsType.DARK, ObsType.SKYFLAT, ObsType.EXPOSE, ObsType.EXPOSE)
    rng = np.random.default_rng([seed, 100])
    for i in range(n):
        setup, obstype = cameras[i % 2], kinds[(i // 2) % len(kinds)]
        exposure = _exposure(obstype, 1000 + i, rng)
        yield run_trial(
            setup, exposure, seed=seed * 100000 + i, folder=folder, test="", expected=Verdict.PASS,
            description="clean",
        )  # fmt: skip


def defect_trials(
    test: str, n: int, folder: Path, *, seed: int = 0, scales: tuple[float, ...] = (0.5, 1.0)
) -> Iterator[Trial]:
    """``n`` frames with ``test``'s fault injected at the amplitudes of the module docstring
    (``scales``: the pattern noise's amplitudes, in read noises, taken in turn)."""
    cameras = setups()
    rng = np.random.default_rng([seed, 200, TESTS.index(test)])
    for i in range(n):
        setup = cameras[i % 2]
        sim = setup.sim
        n_amps = len(sim.electronics)
        amp = int(rng.integers(1, n_amps + 1))
        number = 2000 + i
        expected = Verdict.REJECT
        if test == "pattern_noise":
            obstype = (ObsType.BIAS, ObsType.DARK, ObsType.EXPOSE)[(i // 2) % 3]
            scale = scales[(i // 6) % len(scales)]
            frequency = float(rng.uniform(0.05, 0.45))
            defects = FrameDefects(
                pattern_amplitude=scale * sim.electronics[0].read_noise,
                pattern_frequency=frequency,
                pattern_amplifiers=(amp,),
            )
            expected = Verdict.WARN
            what = f"{scale:g} x read noise at {frequency:.3f} cycles/px on amplifier {amp}"
            exposure = _exposure(obstype, number, rng, defects=defects)
        elif test == "single_value":
            obstype = (ObsType.BIAS, ObsType.DARK, ObsType.SKYFLAT, ObsType.EXPOSE)[(i // 2) % 4]
            fraction = (0.25, 0.5)[(i // 8) % 2]
            defects = FrameDefects(stuck_fraction=fraction, stuck_amplifier=amp)
            what = f"{fraction:.0%} of amplifier {amp} at 1000 ADU"
            exposure = _exposure(obstype, number, rng, defects=defects)
        elif test == "saturation":
            obstype = (ObsType.BIAS, ObsType.DARK, ObsType.SKYFLAT, ObsType.EXPOSE)[(i // 2) % 4]
            if obstype is ObsType.SKYFLAT and (i // 8) % 2:
                full_well = max(e.saturation * e.gain for e in sim.electronics)
                exposure = _exposure(obstype, number, rng, flat_level=2.0 * full_well)
                what = "sky flat at twice the full well"
            else:
                fraction = float(rng.uniform(0.07, 0.10))
                exposure = _exposure(obstype, number, rng, defects=FrameDefects(saturated_fraction=fraction))
                what = f"{fraction:.1%} of the columns flooded"
        elif test == "bias_level":
            if sim.electronics and n_amps == 1:  # SBIG: no overscan, the bias frame's own level
                obstype = ObsType.BIAS
                shift = (1600.0, -300.0)[(i // 2) % 2]
            else:
                obstype = (ObsType.BIAS, ObsType.DARK, ObsType.SKYFLAT, ObsType.EXPOSE)[(i // 2) % 4]
                shift = (1200.0, -2200.0)[(i // 8) % 2]
            shifts = tuple(shift if k == amp else 0.0 for k in range(1, n_amps + 1))
            exposure = _exposure(obstype, number, rng, defects=FrameDefects(level_shift=shifts))
            what = f"amplifier {amp} level moved {shift:+.0f} ADU"
        elif test == "pointing":
            obstype = ObsType.EXPOSE
            offset = (40.0, 400.0)[(i // 2) % 2]
            expected = Verdict.WARN if offset < 300 else Verdict.REJECT
            direction = rng.uniform(0, 2 * np.pi)
            error = (float(offset * np.cos(direction)), float(offset * np.sin(direction)))
            exposure = _exposure(obstype, number, rng, pointing_error_arcsec=error)
            what = f"header pointing {offset:g} arcsec off"
        else:
            raise ValueError(test)
        yield run_trial(
            setup, exposure, seed=seed * 100000 + 50000 + i, folder=folder, test=test, expected=expected,
            description=f"{sim.name} {exposure.obstype.value}: {what}",
        )  # fmt: skip


@attrs.frozen
class Rates:
    """Detection and false-alarm rates of one test.

    Attributes
    ----------
    test : str
        The test.
    detected, n_defect : int
        Defect frames whose fault the test caught (at the expected verdict), of how many.
    alarms, n_clean : int
        Clean frames the test did not pass, of how many it ran on.
    missed : tuple of str
        The faults it did not catch; ``false`` the clean frames it flagged.
    """

    test: str
    detected: int
    n_defect: int
    alarms: int
    n_clean: int
    missed: tuple[str, ...]
    false: tuple[str, ...]

    @property
    def detection_rate(self) -> float:
        return self.detected / self.n_defect if self.n_defect else float("nan")

    @property
    def false_alarm_rate(self) -> float:
        return self.alarms / self.n_clean if self.n_clean else float("nan")


def rates(test: str, defects: list[Trial], clean: list[Trial]) -> Rates:
    """Detection rate on ``defects`` and false-alarm rate on the clean frames ``test`` ran on."""
    caught = [t for t in defects if t.detected]
    ran = [t for t in clean if test in t.results and t.results[test].value is not None]
    flagged = [t for t in ran if t.results[test].verdict is not Verdict.PASS]
    return Rates(
        test,
        len(caught),
        len(defects),
        len(flagged),
        len(ran),
        tuple(t.description for t in defects if not t.detected),
        tuple(f"{t.camera} {t.obstype}: {t.results[test].reason}" for t in flagged),
    )
