"""Real raw LCO frames through the library's stages: no frame is lost to source extraction.

``cpt1m012-fl10-20151216-0075-s00`` (a 2015 Sinistro cube, one amplifier kept, 60 s in I, taken
in twilight with the autoguider off) once had no product: its unexposed first rows and hot first
columns form one detection spanning the frame, whose grown mask covered the whole image for the
second background, and sep's pixel buffer overflowed. The catalogue is checked against figures
that do not come from our code: the autoguider's FWHM in the header, a star count by a second
method (scipy.ndimage labelling), and aperture sums done with plain numpy.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from scipy import ndimage

from lco_core import Frame
from lco_core.io import read_raw
from lco_instruments.describe import camera_for, raw_to_frame
from lco_stages.cosmic import mask_cosmic_rays
from lco_stages.poisson import add_poisson_uncertainty
from lco_stages.recipes import amplifier_recipe
from lco_stages.sources import detect_sources

FL10_S00 = "ingester/cpt1m012-fl10-20151216-0075-s00.fits.fz"
#: AGFWHM in the frame's header: the autoguider camera's seeing, arcsec.
AGFWHM = 1.89057
#: Rows and columns near the edges left out of the comparisons (the unexposed rows, hot columns).
BORDER = 40


@pytest.fixture(scope="module")
def fl10(real_data: Path) -> Frame:
    """The frame through the amplifier stages and the science stages that need no masters."""
    raw = read_raw(real_data / FL10_S00)
    camera = camera_for(raw)
    frame = amplifier_recipe(camera)(raw_to_frame(raw, camera))
    frame = mask_cosmic_rays(camera)(add_poisson_uncertainty(frame))
    assert frame.meta.pixel_scale is not None
    return detect_sources(pixel_scale=frame.meta.pixel_scale)(frame)


def _interior(x: np.ndarray, y: np.ndarray, shape: tuple[int, int]) -> np.ndarray:
    return (x > BORDER) & (x < shape[1] - BORDER) & (y > BORDER) & (y < shape[0] - BORDER)


@pytest.mark.slow
def test_fl10_standard_has_a_catalogue(fl10: Frame) -> None:
    step = fl10.steps("detect_sources")[-1]
    assert step.diagnostics["succeeded"], step.diagnostics["reason"]
    catalog = fl10.sources
    assert catalog is not None
    assert len(catalog) >= 100
    # The seeing agrees with the autoguider's own measurement in the header.
    assert step.diagnostics["L1FWHM"] == pytest.approx(AGFWHM, rel=0.2)
    # The PSF the masked-pixel corrections use was fitted to the frame's stars, and is a seeing disc.
    assert step.diagnostics["psf_stars"] >= 5  # type: ignore[operator]
    assert 1.0 < float(step.diagnostics["psf_fwhm"]) * 0.389 < 3.0  # type: ignore[arg-type]


@pytest.mark.slow
def test_fl10_star_count_agrees_with_a_second_method(fl10: Frame) -> None:
    catalog = fl10.sources
    assert catalog is not None
    data = np.asarray(fl10.data, dtype=np.float64)
    inner = data[BORDER:-BORDER, BORDER:-BORDER]
    sky = float(np.median(inner))
    noise = 1.4826 * float(np.median(np.abs(inner - sky)))
    smooth = ndimage.uniform_filter(data, 3)  # 3 x 3 mean: noise / 3
    x, y = catalog["xwin"] - 1.0, catalog["ywin"] - 1.0
    at_source = smooth[np.clip(np.round(y).astype(int), 0, data.shape[0] - 1),
                       np.clip(np.round(x).astype(int), 0, data.shape[1] - 1)]  # fmt: skip
    for k in (10.0, 20.0):
        level = sky + k * noise / 3.0
        labels, n = ndimage.label(smooth > level)
        index = np.arange(1, n + 1)
        centres = np.array(ndimage.center_of_mass(data, labels, index)).reshape(-1, 2)
        sizes = ndimage.sum(np.ones_like(data), labels, index)
        theirs = int(np.count_nonzero(_interior(centres[:, 1], centres[:, 0], data.shape) & (sizes >= 3)))
        ours = int(np.count_nonzero(_interior(x, y, data.shape) & (at_source > level)))
        assert theirs >= 10
        assert abs(ours - theirs) <= max(3, 0.15 * theirs), (k, ours, theirs)


@pytest.mark.slow
def test_fl10_fluxes_agree_with_plain_aperture_sums(fl10: Frame) -> None:
    catalog = fl10.sources
    assert catalog is not None
    data = np.asarray(fl10.data, dtype=np.float64)
    x, y = catalog["xwin"] - 1.0, catalog["ywin"] - 1.0
    snr = catalog["fluxaper6"] / catalog["fluxerr6"]
    chosen = np.flatnonzero(_interior(x, y, data.shape) & (catalog["flag"] == 0) & (snr > 50))
    assert chosen.size >= 10
    radius = 3.0 / 0.389  # the 6" aperture
    ratios = []
    for i in chosen:
        yi, xi = round(y[i]), round(x[i])
        rows, cols = np.mgrid[yi - 30 : yi + 31, xi - 30 : xi + 31]
        r = np.hypot(cols - x[i], rows - y[i])
        stamp = data[rows, cols]
        local_sky = float(np.median(stamp[(r > 18) & (r < 28)]))
        # Pixel centres inside the circle, scaled to its exact area: a plain sum, no sep.
        inside = r <= radius
        total = float(np.sum(stamp[inside] - local_sky)) * np.pi * radius**2 / np.count_nonzero(inside)
        ratios.append(catalog["fluxaper6"][i] / total)
    assert float(np.median(ratios)) == pytest.approx(1.0, abs=0.01)
