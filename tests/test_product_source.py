"""ProductSource: a written product read band by band as a coadd's input.

The rows it reads are the arrays written (plain .fits: bit for bit; .fits.fz: what astropy's
whole-file read gives, within the quantisation of the tiles); its WCS, zero point and exposure
time are the header's; its sky noise is the injected Gaussian noise; files that are not science
products with a solved WCS are refused in one line.
"""

from __future__ import annotations

import time
from pathlib import Path

import attrs
import numpy as np
import pytest
from astropy.io import fits
from astropy.wcs import WCS

from lco_core import Frame, HeaderCard
from lco_core.header import Header
from lco_core.io import parse_frame_meta, read_product, write_product
from lco_core.io.product_source import SKY_ROWS, NotACoaddInputError, ProductSource
from lco_core.sources import WcsSolution

SHAPE = (300, 220)
SKY, NOISE = 500.0, 12.0


def _header(obstype: str = "EXPOSE") -> Header:
    return Header(
        (
            HeaderCard("INSTRUME", "fa99"), HeaderCard("OBSTYPE", obstype), HeaderCard("SITEID", "cpt"),
            HeaderCard("TELESCOP", "1m0-10"), HeaderCard("DATE-OBS", "2026-01-01T22:00:00.000"),
            HeaderCard("DAY-OBS", "20260101"), HeaderCard("EXPTIME", 45.0), HeaderCard("CCDSUM", "1 1"),
            HeaderCard("FILTER", "rp"), HeaderCard("MOLUID", "206737835"),
        )
    )  # fmt: skip


def _wcs_cards() -> Header:
    scale = 0.389 / 3600.0
    return Header(
        (
            HeaderCard("CTYPE1", "RA---TAN"), HeaderCard("CTYPE2", "DEC--TAN"),
            HeaderCard("CRPIX1", 110.5), HeaderCard("CRPIX2", 150.5),
            HeaderCard("CRVAL1", 150.25), HeaderCard("CRVAL2", -30.4),
            HeaderCard("CD1_1", -scale * np.cos(0.1)), HeaderCard("CD1_2", scale * np.sin(0.1)),
            HeaderCard("CD2_1", scale * np.sin(0.1)), HeaderCard("CD2_2", scale * np.cos(0.1)),
        )
    )  # fmt: skip


def _frame(*, obstype: str = "EXPOSE", wcserr: int = 0, seed: int = 1) -> Frame:
    rng = np.random.default_rng(seed)
    data = (SKY + NOISE * rng.standard_normal(SHAPE)).astype(np.float32)
    data[40:44, 50:54] += 5000.0  # a star: the sky noise is robust to it
    mask = np.zeros(SHAPE, np.uint8)
    mask[:, 7] = 1  # a bad column
    mask[SHAPE[0] // 2, :] = 8  # a masked row inside the sky rows
    data[SHAPE[0] // 2, :] = 1e6
    uncertainty = np.sqrt(np.abs(data) + 25.0).astype(np.float32)
    header = _header(obstype)
    return Frame(
        meta=parse_frame_meta(header, path="x.fits", hdu="SCI"),
        data=data,
        mask=mask,
        uncertainty=uncertainty,
        header=header,
        wcs=WcsSolution(_wcs_cards(), wcserr, 0.1 if wcserr == 0 else float("nan"), 20 if wcserr == 0 else 0),
    )


def _write(folder: Path, suffix: str, frame: Frame, *, zero_point: float | None = 23.4) -> Path:
    # WCSERR is written by product_keywords from the solution; here by hand, as the header says it.
    cards = [HeaderCard("WCSERR", 0)]
    cards += [HeaderCard("L1ZP", zero_point), HeaderCard("L1STATZP", 1)] if zero_point is not None else []
    return write_product(folder / f"cpt1m010-fa99-20260101-0042-e91{suffix}", frame, keywords=cards)


@pytest.mark.parametrize("suffix", [".fits", ".fits.fz"])
def test_rows_read_in_bands_are_the_whole_planes(tmp_path: Path, suffix: str) -> None:
    frame = _frame()
    path = _write(tmp_path, suffix, frame)
    whole = read_product(path).frame  # astropy's whole-file read: the second method
    with ProductSource(path) as source:
        assert source.shape == SHAPE
        bands = [source.read_rows(start, min(SHAPE[0], start + 37)) for start in range(0, SHAPE[0], 37)]
        planes: tuple[np.ndarray, ...] = (whole.data, whole.uncertainty, whole.mask)
        for plane, expected in enumerate(planes):
            read = np.concatenate([band[plane] for band in bands])
            assert read.dtype == expected.dtype
            np.testing.assert_array_equal(read, expected)
        one = source.read_rows(123, 124)
        np.testing.assert_array_equal(one[0], whole.data[123:124])
    if suffix == ".fits":  # no quantisation: the very pixels written
        np.testing.assert_array_equal(whole.data, frame.data)
    else:  # quantised well below the noise
        assert np.max(np.abs(whole.data - frame.data)) < 0.2 * NOISE
    np.testing.assert_array_equal(whole.mask, frame.mask)


def test_header_facts_are_the_products(tmp_path: Path) -> None:
    path = _write(tmp_path, ".fits.fz", _frame())
    source = ProductSource(path)
    assert source.name == path.name
    assert source.exptime == 45.0
    assert source.zero_point == 23.4
    assert source.meta.filter == "rp"
    assert source.header.get("MOLUID") == "206737835"
    expected = WCS({card.keyword: card.value for card in _wcs_cards().cards})
    x, y = np.array([0.0, 219.0, 100.0]), np.array([0.0, 299.0, 37.5])
    ra, dec = source.wcs.all_pix2world(x, y, 0)
    ra_true, dec_true = expected.all_pix2world(x, y, 0)
    np.testing.assert_allclose(ra, ra_true, rtol=0, atol=1e-10)
    np.testing.assert_allclose(dec, dec_true, rtol=0, atol=1e-10)


def test_sky_noise_is_the_injected_noise(tmp_path: Path) -> None:
    # The Gaussian noise drawn, 12 e-: the star and the masked row (1e6 e-) do not move it.
    with ProductSource(_write(tmp_path, ".fits", _frame())) as source:
        assert SHAPE[0] > SKY_ROWS
        assert source.sky_noise == pytest.approx(NOISE, rel=0.04)


def test_a_product_without_zero_point_has_none(tmp_path: Path) -> None:
    assert ProductSource(_write(tmp_path, ".fits", _frame(), zero_point=None)).zero_point is None


def test_compressed_bands_decompress_only_their_tiles(tmp_path: Path) -> None:
    # astropy's section reads the tiles of the rows asked for: a band of 1/20 of the rows costs far
    # less than the whole planes (measured: 0.027 s against 0.29 s for 100 of 2000 rows).
    rng = np.random.default_rng(3)
    big = (SKY + NOISE * rng.standard_normal((2000, 2000))).astype(np.float32)
    frame = attrs.evolve(
        _frame(),
        data=big,
        mask=np.zeros(big.shape, np.uint8),
        uncertainty=np.full(big.shape, NOISE, np.float32),
    )
    path = _write(tmp_path, ".fits.fz", frame)
    with ProductSource(path) as source:
        source.read_rows(0, 1)  # opened
        clock = time.perf_counter()
        source.read_rows(1000, 1100)
        band = time.perf_counter() - clock
    with fits.open(path) as hdul:
        clock = time.perf_counter()
        _ = hdul["SCI"].data + 0, hdul["ERR"].data + 0, hdul["BPM"].data + 0
        whole = time.perf_counter() - clock
    assert band < whole / 4


@pytest.mark.parametrize(
    ("frame_kw", "extra", "problem"),
    [
        ({"wcserr": 4}, (), "no astrometric solution (WCSERR 4): cannot be aligned"),
        ({"obstype": "SKYFLAT"}, (), "OBSTYPE SKYFLAT is not a science frame"),
        ({}, (HeaderCard("ISMASTER", True),), "a master calibration, not a science product"),
    ],
)
def test_files_that_cannot_be_stacked_are_refused_in_one_line(
    tmp_path: Path, frame_kw: dict[str, object], extra: tuple[HeaderCard, ...], problem: str
) -> None:
    frame = _frame(**frame_kw)  # type: ignore[arg-type]
    assert frame.wcs is not None
    path = write_product(
        tmp_path / "x-e91.fits", frame, keywords=(HeaderCard("WCSERR", frame.wcs.wcserr), *extra)
    )
    with pytest.raises(NotACoaddInputError) as refused:
        ProductSource(path)
    assert str(refused.value) == f"{path}: {problem}"


def test_a_file_without_the_product_planes_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "raw-e00.fits"
    fits.HDUList([fits.PrimaryHDU(np.zeros((4, 4), np.float32))]).writeto(path)
    with pytest.raises(NotACoaddInputError, match=r"not a reduced science product \(no SCI, BPM, ERR"):
        ProductSource(path)
