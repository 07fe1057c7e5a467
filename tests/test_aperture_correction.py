"""The aperture correction of the zero point's fluxes, against the injected profile's curve of growth.

The zero point is fitted with small fixed-aperture fluxes scaled by an aperture correction (the
light outside the aperture). Its truth is analytic for the injected Moffat stars:
``1 / enclosed(r)``. Two ways it went wrong on simulated nights with crowded fields: pairs too
close to deblend, which look isolated and carry two stars' light in their Kron flux, set the
correction; and fields too crowded for five reference stars fell back to Kron fluxes holding
their neighbours' light. Both cost up to 0.2 mag.
"""

from __future__ import annotations

import attrs
import numpy as np
import pytest
from test_masked_photometry import (
    FWHM,
    PIXEL_SCALE,
    READ_NOISE,
    SHAPE,
    SKY,
    ZERO_POINT,
    Array,
    Field,
    _enclosed,
    _meta,
    _render,
    _solved,
    make_field,
)

from lco_core import Frame
from lco_stages.sources import detect_sources
from lco_stages.zeropoint import calibrate_photometry


def _frame(x: Array, y: Array, flux: Array, seed: int) -> Field:
    rng = np.random.default_rng(seed)
    stars = _render(x, y, flux)
    light = stars + SKY
    data = rng.poisson(light).astype(np.float64) + rng.normal(0.0, READ_NOISE, SHAPE) - SKY
    frame = Frame(
        meta=_meta(), data=data, mask=np.zeros(SHAPE, np.uint8), uncertainty=np.sqrt(light + READ_NOISE**2)
    )
    return Field(frame, x, y, flux, stars)


def _calibrated(field: Field) -> tuple[dict[str, object], dict[str, object]]:
    measured = detect_sources(pixel_scale=PIXEL_SCALE)(field.frame)
    solved, reference = _solved(measured, field)
    step = calibrate_photometry(reference)(solved).steps("calibrate_photometry")[-1]
    return dict(step.parameters), dict(step.diagnostics)


def _expected_correction(parameters: dict[str, object]) -> float:
    column = str(parameters["flux"])
    assert column.startswith("fluxaper")
    radius = int(column.removeprefix("fluxaper")) / 2.0 / PIXEL_SCALE
    return float(1.0 / _enclosed(radius))


def test_unresolved_pairs_do_not_set_the_aperture_correction() -> None:
    rng = np.random.default_rng(11)
    # 8 lone stars, and 5 brighter pairs 1 FWHM apart (too close for sep to split), just as
    # isolated: the old rule (median over the brighter half) took its correction from the pairs
    # and put L1ZP 0.17 mag off.
    cells = [(i, j) for i in range(4) for j in range(4)]
    rng.shuffle(cells)
    centres = np.array([(90.0 + 140 * i, 90.0 + 140 * j) for i, j in cells[:13]]) + rng.uniform(
        -10, 10, (13, 2)
    )
    angle = rng.uniform(0, np.pi, 5)
    dx, dy = 2.0 * np.cos(angle), 2.0 * np.sin(angle)  # +-2 px: 1 FWHM apart
    pair = 10.0 ** rng.uniform(5.5, 5.8, 5)
    x = np.concatenate([centres[:8, 0], centres[8:, 0] + dx, centres[8:, 0] - dx])
    y = np.concatenate([centres[:8, 1], centres[8:, 1] + dy, centres[8:, 1] - dy])
    flux = np.concatenate([10.0 ** rng.uniform(4.8, 5.5, 8), pair, pair])
    parameters, diagnostics = _calibrated(_frame(x, y, flux, seed=12))
    assert diagnostics["succeeded"], diagnostics
    assert parameters["correction_from"] == "8 stars"  # the lone ones
    correction = parameters["aperture_correction"]
    assert isinstance(correction, float)
    # The Kron aperture holds 99.5 % of a beta = 3 Moffat's light; measured +1.5 %.
    assert correction == pytest.approx(_expected_correction(parameters), rel=0.03)
    zero_point = diagnostics["L1ZP"]
    assert isinstance(zero_point, float)
    assert zero_point == pytest.approx(ZERO_POINT, abs=0.015)  # measured +0.007


def test_a_field_too_crowded_for_reference_stars_uses_the_psf_curve_of_growth() -> None:
    rng = np.random.default_rng(21)
    # 324 stars 19 px (4.75 FWHM) apart: each is detected on its own, but none is free of
    # neighbours within 5 FWHM, so none can measure the correction; four bright lone stars give
    # the PSF fit its stars, one short of the five the measured correction needs.
    grid = np.arange(18) * 19.0 + 40.0
    gx, gy = (g.ravel() + rng.uniform(-1, 1, g.size) for g in np.meshgrid(grid, grid))
    lone = np.array([(450.0, 80.0), (520.0, 300.0), (460.0, 520.0), (150.0, 540.0)])
    x = np.concatenate([gx, lone[:, 0]])
    y = np.concatenate([gy, lone[:, 1]])
    flux = np.concatenate([10.0 ** rng.uniform(4.3, 4.9, gx.size), 10.0 ** rng.uniform(5.3, 5.6, 4)])
    parameters, diagnostics = _calibrated(_frame(x, y, flux, seed=22))
    assert diagnostics["succeeded"], diagnostics
    assert parameters["correction_from"] == "PSF model"
    correction = parameters["aperture_correction"]
    assert isinstance(correction, float)
    assert correction == pytest.approx(_expected_correction(parameters), rel=0.01)
    zero_point = diagnostics["L1ZP"]
    assert isinstance(zero_point, float)
    # Measured -0.013: the crowded sky meshes hold the stars' far wings.
    assert zero_point == pytest.approx(ZERO_POINT, abs=0.02)


def test_a_frame_whose_mask_misses_its_hot_pixels_still_measures_its_stars() -> None:
    # The 1 % bad pixels of the masked-photometry field (hot pixels of 3e4 and 6e4 e-, dead ones,
    # three columns, clusters), left unmasked as on a frame reduced without a BPM: they become
    # about 1300 sources sharper than any star, ten for every star. They once set the frame's
    # FWHM to 0 and L1ZP 1.9 mag off.
    field = make_field(seed=6)
    unmasked = attrs.evolve(field.frame, mask=np.zeros(SHAPE, np.uint8))
    measured = detect_sources(pixel_scale=PIXEL_SCALE)(unmasked)
    (step,) = measured.steps("detect_sources")
    assert step.diagnostics["n_sources"] > 1000  # type: ignore[operator]
    assert step.diagnostics["L1FWHM"] == pytest.approx(FWHM * PIXEL_SCALE, rel=0.05)
    assert step.diagnostics["psf_fwhm"] == pytest.approx(FWHM, rel=0.05)
    solved, reference = _solved(measured, attrs.evolve(field, frame=unmasked))
    calibration = calibrate_photometry(reference)(solved).steps("calibrate_photometry")[-1]
    zero_point = calibration.diagnostics["L1ZP"]
    assert isinstance(zero_point, float)
    assert zero_point == pytest.approx(ZERO_POINT, abs=0.02)  # measured -0.017 (Kron fluxes)
