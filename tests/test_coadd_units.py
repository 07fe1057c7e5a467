"""The coadd library (issue 16) on hand-made inputs with known answers: shifts, weights, clips, masks."""

from __future__ import annotations

import datetime as dt
from typing import Any

import attrs
import numpy as np
import numpy.typing as npt
import pytest
from astropy.wcs import WCS

from lco_core import Binning, Frame, FrameMeta, MaskBit, ObsType
from lco_stages.coadd import (
    NOISE_CORRELATION,
    STAGE,
    CoaddInputError,
    CoaddSettings,
    coadd,
    frame_source,
    noise_correlation,
)
from lco_stages.coadd.combine import clip_mask

SCALE = 0.5 / 3600.0  # degrees per pixel
META = FrameMeta(
    filename="cpt1m010-fa99-20260101-0001-e91.fits",
    obstype=ObsType.EXPOSE,
    site="cpt",
    telescope="1m0-10",
    camera="fa99",
    day_obs=dt.date(2026, 1, 1),
    date_obs=dt.datetime(2026, 1, 1, 22, 0, tzinfo=dt.UTC),
    exptime=60.0,
    binning=Binning(1, 1),
    filter="rp",
)


def tan(shape: tuple[int, int], *, shift: tuple[float, float] = (0.0, 0.0), angle: float = 0.0) -> WCS:
    """North-up TAN at (150, -30); pixel (x + dx, y + dy) of a shifted one sees (x, y) of the unshifted."""
    ny, nx = shape
    wcs = WCS(naxis=2)
    wcs.wcs.ctype = ["RA---TAN", "DEC--TAN"]
    wcs.wcs.crval = [150.0, -30.0]
    wcs.wcs.crpix = [(nx + 1) / 2 + shift[0], (ny + 1) / 2 + shift[1]]
    c, s = np.cos(np.radians(angle)), np.sin(np.radians(angle))
    wcs.wcs.cd = SCALE * np.array([[c, -s], [s, c]]) @ np.diag([-1.0, 1.0])
    wcs.pixel_shape = (nx, ny)
    return wcs


@attrs.frozen(eq=False)
class ArraySource:
    """A CoaddSource over arrays, as a product read by bands would be."""

    name: str
    wcs: Any
    sci: npt.NDArray[np.float32]
    err: npt.NDArray[np.float32]
    bpm: npt.NDArray[np.uint8]
    zero_point: float | None = 23.0
    exptime: float = 60.0
    sky_noise: float = 10.0
    meta: FrameMeta = META
    reads: list[tuple[int, int]] = attrs.field(factory=list)

    @property
    def shape(self) -> tuple[int, int]:
        ny, nx = self.sci.shape
        return ny, nx

    def read_rows(
        self, start: int, stop: int
    ) -> tuple[npt.NDArray[np.float32], npt.NDArray[np.float32], npt.NDArray[np.uint8]]:
        self.reads.append((start, stop))
        return self.sci[start:stop], self.err[start:stop], self.bpm[start:stop]


def source(
    name: str, sci: npt.NDArray[np.float64], wcs: WCS, *, err: float = 10.0, **changes: Any
) -> ArraySource:
    return ArraySource(
        name, wcs, sci.astype(np.float32), np.full(sci.shape, err, dtype=np.float32),
        np.zeros(sci.shape, dtype=np.uint8), sky_noise=err, **changes,
    )  # fmt: skip


def scene(shape: tuple[int, int], seed: int = 1) -> npt.NDArray[np.float64]:
    rng = np.random.default_rng(seed)
    return 100.0 + rng.normal(0.0, 10.0, shape)


def shifted(image: npt.NDArray[np.float64], dx: int, dy: int) -> npt.NDArray[np.float64]:
    """out[y + dy, x + dx] = image[y, x] (NaN-free: the uncovered strip repeats nothing, it is 0)."""
    out = np.zeros_like(image)
    ny, nx = image.shape
    out[max(dy, 0) : ny + min(dy, 0), max(dx, 0) : nx + min(dx, 0)] = image[
        max(-dy, 0) : ny - max(dy, 0), max(-dx, 0) : nx - max(dx, 0)
    ]
    return out


def test_integer_shifts_coadd_to_the_frame_itself() -> None:
    """A frame and its copy moved by whole pixels give back the frame (times N, the summed exposure)."""
    shape = (40, 50)
    image = scene(shape)
    first = source("a.fits", image, tan(shape))
    second = source("b.fits", shifted(image, 3, -2), tan(shape, shift=(3.0, -2.0)))
    result = coadd([first, second], grid=(tan(shape), shape))
    both = np.zeros(shape, dtype=bool)
    both[2:, : shape[1] - 3] = True  # where the second frame sees the first's pixels
    np.testing.assert_allclose(result.data[both], 2.0 * image[both], rtol=1e-5)
    # Each input alone would carry ERR 2 x 10 on the summed scale; two equal ones sqrt(2) x 10.
    np.testing.assert_allclose(result.uncertainty[both], np.sqrt(2.0) * 10.0, rtol=1e-4)
    np.testing.assert_allclose(result.data[~both], 2.0 * image[~both], rtol=1e-5)
    np.testing.assert_allclose(result.uncertainty[~both], 20.0, rtol=1e-4)
    assert not result.mask.any()
    step = result.steps(STAGE)[-1]
    assert step.parameters["inputs"] == ("a.fits", "b.fits")
    assert step.parameters["scales"] == (2.0, 2.0)
    assert step.parameters["weights"] == (0.5, 0.5)
    assert step.diagnostics[NOISE_CORRELATION] == pytest.approx(1.0, abs=1e-4)
    assert result.meta.exptime == 120.0


def test_weights_are_inverse_scaled_sky_variances() -> None:
    """Constant inputs 10 and 20 e- with sky noise 1 and 2 e-: weights 0.8 and 0.2, mean 12 (x 2)."""
    shape = (20, 20)
    wcs = tan(shape)
    quiet = source("quiet.fits", np.full(shape, 10.0), wcs, err=1.0)
    noisy = source("noisy.fits", np.full(shape, 20.0), wcs, err=2.0)
    result = coadd([quiet, noisy], grid=(wcs, shape))
    step = result.steps(STAGE)[-1]
    assert step.parameters["weights"] == pytest.approx((0.8, 0.2))
    np.testing.assert_allclose(result.data, 2.0 * 12.0, rtol=1e-6)
    # sqrt(0.8^2 1^2 + 0.2^2 2^2) on the summed scale (x 2)
    np.testing.assert_allclose(result.uncertainty, 2.0 * np.sqrt(0.64 + 0.16), rtol=1e-5)


def test_zero_points_and_exposure_times_set_the_flux_scale() -> None:
    """A star of magnitude m has the same coadd flux whichever zero point and exposure time it came with."""
    shape = (16, 16)
    wcs = tan(shape)
    magnitude = 15.0

    def flux(zero_point: float, exptime: float) -> npt.NDArray[np.float64]:
        return np.full(shape, exptime * 10 ** (0.4 * (zero_point - magnitude)))

    inputs = [
        source("ref.fits", flux(23.0, 60.0), wcs, zero_point=23.0, exptime=60.0),
        source("thin.fits", flux(22.5, 30.0), wcs, zero_point=22.5, exptime=30.0),
        source("long.fits", flux(23.2, 120.0), wcs, zero_point=23.2, exptime=120.0),
    ]
    result = coadd(inputs, grid=(wcs, shape))
    # The coadd's system: the first input's zero point over the total 210 s.
    expected = 210.0 * 10 ** (0.4 * (23.0 - magnitude))
    np.testing.assert_allclose(result.data, expected, rtol=1e-5)
    assert result.steps(STAGE)[-1].parameters["zero_point_ref"] == 23.0


def test_clipping_rejects_an_outlier_the_masks_missed() -> None:
    shape = (12, 12)
    wcs = tan(shape)
    rng = np.random.default_rng(3)
    images = [100.0 + rng.normal(0, 1.0, shape) for _ in range(6)]
    spiked = images[2].copy()
    spiked[5, 6] += 5000.0
    inputs = [
        source(f"{i}.fits", im, wcs, err=1.0) for i, im in enumerate([*images[:2], spiked, *images[3:]])
    ]
    result = coadd(inputs, grid=(wcs, shape))
    others = np.mean([im[5, 6] for i, im in enumerate(images) if i != 2])
    assert result.data[5, 6] / 6.0 == pytest.approx(others, abs=0.05)
    assert result.mask[5, 6] == 0
    # Elsewhere nothing is far from the plain mean (no clip of good data beyond the noise).
    plain = np.mean(images, axis=0)
    assert np.abs(result.data / 6.0 - plain)[np.arange(12) != 5].max() < 1.0


def test_a_pixel_masked_in_every_input_stays_masked_with_their_bits() -> None:
    shape = (20, 24)
    image = scene(shape)
    first = source("a.fits", image, tan(shape))
    second = source("b.fits", shifted(image, 2, 1), tan(shape, shift=(2.0, 1.0)))
    first.bpm[8, 9] = MaskBit.SATURATED
    second.bpm[9, 11] = MaskBit.SATURATED | MaskBit.COSMIC  # the same sky
    first.bpm[3, 3] = MaskBit.BAD  # masked in one input only: the other fills it
    result = coadd([first, second], grid=(tan(shape), shape))
    assert result.mask[8, 9] == MaskBit.NO_DATA | MaskBit.SATURATED | MaskBit.COSMIC
    assert result.data[8, 9] == 0.0
    assert result.uncertainty[8, 9] == 0.0
    assert result.mask[3, 3] == 0
    assert result.data[3, 3] == pytest.approx(2.0 * image[3, 3], rel=1e-5)
    assert np.isfinite(result.data).all()
    assert np.isfinite(result.uncertainty).all()
    # Neighbours of the masked pixel: bilinear support at an integer shift holds only the pixel itself.
    assert (result.mask != 0).sum() == 1


def test_masked_pixels_do_not_leak_through_the_interpolation() -> None:
    """At a half-pixel shift, output pixels whose 2x2 support holds a masked input pixel drop that input."""
    shape = (20, 20)
    image = np.full(shape, 50.0)
    hot = image.copy()
    hot[10, 10] = 1e6
    first = source("a.fits", image, tan(shape))
    second = source("b.fits", hot, tan(shape, shift=(0.5, 0.5)))
    second.bpm[10, 10] = MaskBit.BAD
    result = coadd([first, second], grid=(tan(shape), shape))
    np.testing.assert_allclose(result.data[1:-1, 1:-1], 100.0, rtol=1e-6)


def test_uncovered_pixels_are_no_data_never_nan() -> None:
    shape = (20, 20)
    near = source("near.fits", scene(shape, 2), tan(shape))
    far = source("far.fits", scene(shape), tan(shape, shift=(2.0, 0.0)))
    # Grid column g sees column g + 8 of the first input, g + 10 of the second: none past 11.5.
    result = coadd([near, far], grid=(tan(shape, shift=(-8.0, 0.0)), shape))
    assert (result.mask[:, 13:] == MaskBit.NO_DATA).all()
    assert (result.mask[:, :11] == 0).all()
    assert not np.isnan(result.data).any()
    coverage = result.steps(STAGE)[-1].diagnostics["coverage"]
    assert isinstance(coverage, float)
    assert 0.0 < coverage < 1.0


def test_band_by_band_equals_all_at_once_and_reads_only_needed_rows() -> None:
    shape = (64, 48)
    grid = tan(shape)
    inputs = [
        source("a.fits", scene(shape, 1), tan(shape, shift=(1.3, -2.7), angle=0.4)),
        source("b.fits", scene(shape, 2), tan(shape, shift=(-3.1, 4.2), angle=-0.3)),
        source("c.fits", scene(shape, 3), tan(shape, shift=(0.4, 0.6))),
    ]
    whole = coadd(inputs, grid=(grid, shape), settings=CoaddSettings(band_rows=shape[0]))
    banded = coadd(inputs, grid=(grid, shape), settings=CoaddSettings(band_rows=5))
    np.testing.assert_array_equal(whole.data, banded.data)
    np.testing.assert_array_equal(whole.uncertainty, banded.uncertainty)
    np.testing.assert_array_equal(whole.mask, banded.mask)
    reads = inputs[0].reads[3:]  # after both runs' sky rows and the whole-frame run's one band
    assert max(stop - start for start, stop in reads) <= 5 + 2 * 2 + 2  # band, margins, rotation


def test_half_pixel_shift_noise_per_pixel_and_per_aperture() -> None:
    """White noise moved half a pixel in x: per-pixel variance halves (K = 1/2), an aperture sum's does not.

    The ERR plane is checked against the measured scatter, and the recorded noise-correlation
    factor (2) against the measured variance of 8x8 box sums.
    """
    shape = (256, 256)
    rng = np.random.default_rng(7)
    noise = rng.normal(0.0, 1.0, shape)
    single = source("n.fits", noise, tan(shape, shift=(0.5, 0.0)), err=1.0)
    result = coadd([single], grid=(tan(shape), shape))
    inner = result.data[4:-4, 4:-4].astype(np.float64)
    assert np.median(result.uncertainty[4:-4, 4:-4]) == pytest.approx(np.sqrt(0.5), rel=1e-4)
    assert inner.std() == pytest.approx(np.sqrt(0.5), rel=0.03)
    factor = result.steps(STAGE)[-1].diagnostics[NOISE_CORRELATION]
    assert factor == pytest.approx(2.0, rel=0.01)  # the edge column is copied (K = 1)
    assert noise_correlation(result) == factor
    boxes = inner[: 248 // 8 * 8, :].reshape(31, 8, 31, 8).sum(axis=(1, 3))
    assert boxes.var() / (64 * 0.5) == pytest.approx(factor, rel=0.15)


def test_an_input_without_a_zero_point_is_refused_by_name() -> None:
    shape = (8, 8)
    inputs = [
        source("good.fits", scene(shape), tan(shape)),
        source("bad.fits", scene(shape), tan(shape), zero_point=None),
    ]
    with pytest.raises(CoaddInputError, match=r"^bad\.fits: cannot be coadded: no zero point") as error:
        coadd(inputs)
    assert "\n" not in str(error.value)


def test_frame_source_needs_a_solved_wcs() -> None:
    frame = Frame(META, data=np.zeros((4, 4)), mask=np.zeros((4, 4), np.uint8), uncertainty=np.ones((4, 4)))
    with pytest.raises(CoaddInputError, match=r"^cpt1m010-fa99-20260101-0001-e91\.fits: .*no solved WCS"):
        frame_source(frame)


def test_the_clip_keeps_gaussian_noise_and_rejects_a_20_sigma_outlier() -> None:
    """Five inputs of pure noise of known sigma: a 3-sigma clip whose spread never falls below that sigma
    rejects about 2 x 0.135% of values (a Gaussian's tails beyond 3 sigma), not the ~10% a 5-value MAD
    alone rejects; a value 20 sigma off (a cosmic ray the masks missed) is rejected wherever it is."""
    rng = np.random.default_rng(11)
    values = rng.normal(0.0, 1.0, (5, 200, 200)).astype(np.float32)
    noise = np.ones_like(values)
    floored = clip_mask(values, nsigma=3.0, maxiters=1, noise=noise)
    alone = clip_mask(values, nsigma=3.0, maxiters=1)
    assert (~floored).mean() < 0.01
    assert (~alone).mean() > 0.03  # why the floor is there
    values[2, ::7, ::7] += 20.0
    assert not clip_mask(values, nsigma=3.0, maxiters=1, noise=noise)[2, ::7, ::7].any()


def test_a_coarser_input_keeps_its_flux_and_noise_on_a_finer_grid() -> None:
    """An input of 0.5"/px resampled onto a 0.25"/px grid: 10 e- per input pixel is 2.5 e- per output
    pixel (a quarter of the area), a point source keeps its total, and the measured variance of box
    sums of the resampled noise is the recorded noise-correlation factor times the boxes' summed ERR^2."""
    coarse_shape, fine_shape = (128, 128), (256, 256)
    fine = tan(fine_shape)
    fine.wcs.cd = fine.wcs.cd / 2.0
    rng = np.random.default_rng(5)
    yy, xx = np.mgrid[0:128, 0:128]
    star = np.exp(-((xx - 64.3) ** 2 + (yy - 63.6) ** 2) / (2 * 3.0**2))
    flat = np.full(coarse_shape, 10.0) + 5000.0 * star / star.sum()
    result = coadd([source("flat.fits", flat, tan(coarse_shape))], grid=(fine, fine_shape))
    # One input: the scale s = T / t = 1.
    assert np.median(result.data) == pytest.approx(2.5, rel=1e-4)
    assert (result.data - 2.5)[8:-8, 8:-8].sum() == pytest.approx(5000.0, rel=1e-3)
    noisy = coadd(
        [source("noise.fits", rng.normal(0.0, 10.0, coarse_shape), tan(coarse_shape))],
        grid=(fine, fine_shape),
    )
    factor = noisy.steps(STAGE)[-1].diagnostics[NOISE_CORRELATION]
    assert isinstance(factor, float)
    inner = noisy.data[8:-8, 8:-8].astype(np.float64)
    boxes = inner.reshape(15, 16, 15, 16).sum(axis=(1, 3))
    predicted = factor * 256 * float(np.mean(noisy.uncertainty[8:-8, 8:-8].astype(np.float64) ** 2))
    assert boxes.var() == pytest.approx(predicted, rel=0.2)
    # A large aperture of output pixels holds a quarter of as many input pixels: 256 x 100 / 4.
    assert predicted == pytest.approx(256 * 100 / 4, rel=0.02)
