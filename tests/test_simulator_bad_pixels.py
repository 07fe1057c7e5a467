"""Bad pixels at real densities (hot pixels, warm columns, hot and dead clusters): the simulator's
truth, and the pipeline's bad pixel mask measured against it."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from helpers import masters_of
from scipy import ndimage

from lco_instruments.simulate import (
    BadPixelDensity,
    SimCamera,
    camera_signatures,
    sbig,
    simulate_night,
    sinistro,
)
from lco_instruments.simulate.defects import BadPixels, draw_bad_pixels
from lco_instruments.simulate.detector import DarkCurrent, FlatField, dark_current, flat_field
from lco_stages.bpm import make_bad_pixel_mask

SHAPE = (1024, 1024)
ONE_PERCENT = BadPixelDensity.realistic(0.01)
Drawn = tuple[DarkCurrent, FlatField, BadPixels]


@pytest.fixture(scope="module")
def drawn() -> Drawn:
    dark = dark_current(SHAPE, rng=1, hot_fraction=ONE_PERCENT.hot)
    flat = flat_field(SHAPE, rng=2, n_bad_columns=0)  # only this module's defects in the flat
    return draw_bad_pixels(dark, flat, ONE_PERCENT, rng=3)


def test_densities_are_the_requested_ones(drawn: Drawn) -> None:
    _, _, bad = drawn
    n = SHAPE[0] * SHAPE[1]
    assert ONE_PERCENT.total == pytest.approx(0.01)
    hot = bad.hot.sum() / n
    assert hot == pytest.approx(0.004, abs=4 * np.sqrt(0.004 / n))  # binomial, 4 sigma
    assert bad.warm_columns.sum() / n == pytest.approx(0.003, rel=0.35)
    clusters = (bad.hot_clusters | bad.dead_clusters).sum() / n
    assert clusters == pytest.approx(0.003, rel=0.1)
    assert 0.008 < bad.any.mean() < 0.0105  # kinds overlap a little


def test_clusters_are_small_connected_blobs(drawn: Drawn) -> None:
    _, _, bad = drawn
    for kind in (bad.hot_clusters, bad.dead_clusters):
        labels, count = ndimage.label(kind)  # 4-connected
        sizes = np.bincount(labels.ravel())[1:]
        assert count > 150
        assert np.mean((sizes >= 3) & (sizes <= 12)) > 0.95  # a few blobs touch and merge


def test_defects_show_in_the_dark_and_flat(drawn: Drawn) -> None:
    dark, flat, bad = drawn
    rate, response = dark.rate, flat.response
    ordinary = ~bad.any
    base = float(np.median(rate[ordinary]))
    warm = bad.warm_columns & ~bad.hot & ~bad.hot_clusters
    assert rate[warm].min() >= base + 0.045  # 0.05-0.5 e-/s on top of ~0.002 e-/s
    assert rate[warm].max() <= 0.55
    for column in bad.warm_column_indices:
        rows = np.flatnonzero(bad.warm_columns[:, column])
        assert rows.size >= 0.5 * SHAPE[0] - 1
        assert rows[0] == 0 or rows[-1] == SHAPE[0] - 1  # from the defect to one end
        np.testing.assert_array_equal(np.diff(rows), 1)  # one unbroken segment
    assert rate[bad.hot_clusters].min() >= 0.5
    assert rate[bad.hot_clusters].max() <= 20.0
    dead = bad.dead_clusters
    assert response[dead].max() < 0.25  # 0-0.2, renormalised by ~1
    assert np.all(bad.low_response[dead])
    assert np.median(response[ordinary]) == pytest.approx(1.0, abs=0.05)


def test_default_density_adds_nothing_and_draws_are_deterministic() -> None:
    dark, flat = dark_current((64, 64), rng=1), flat_field((64, 64), rng=2)
    same_dark, same_flat, bad = draw_bad_pixels(dark, flat, BadPixelDensity(), rng=3)
    assert same_dark is dark
    assert same_flat is flat
    assert not bad.warm_columns.any()
    assert not bad.hot_clusters.any()
    assert not bad.dead_clusters.any()
    sim = sinistro(amp_size=64, bad_pixels=ONE_PERCENT)
    first, again, other = (camera_signatures(sim, seed=s) for s in (5, 5, 6))
    np.testing.assert_array_equal(first.bad_pixels.any, again.bad_pixels.any)
    np.testing.assert_array_equal(first.dark.rate, again.dark.rate)
    assert not np.array_equal(first.bad_pixels.any, other.bad_pixels.any)


@pytest.mark.parametrize(
    "sim",
    [sinistro(amp_size=128, bad_pixels=ONE_PERCENT), sbig(size=512, bad_pixels=ONE_PERCENT)],
    ids=["sinistro", "sbig"],
)
def test_the_pipelines_bad_pixel_mask_finds_the_true_defects(tmp_path: Path, sim: SimCamera) -> None:
    night = simulate_night(tmp_path, sim, n_bias=5, n_dark=5, n_flat=5, n_science=0, seed=13)
    cal = masters_of(night)
    bpm = make_bad_pixel_mask(dark=cal.dark, flat=cal.flat, filename="bpm.fits")
    flagged = bpm.mask > 0
    bad = night.signatures.bad_pixels
    layout = sim.layout
    for kind in ("hot", "warm_columns", "hot_clusters", "dead_clusters", "low_response"):
        truth = np.asarray(layout.trim(getattr(bad, kind)), dtype=bool)
        assert truth.sum() > 20, kind
        assert flagged[truth].mean() >= 0.95, kind  # recall
    good = ~np.asarray(layout.trim(bad.any), dtype=bool)
    assert flagged[good].mean() < 1e-3  # false alarms among good pixels
