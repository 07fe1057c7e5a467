"""Products: SCI/CAT/BPM/ERR round trip, atomic writes, and band reading for stacks from files."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from astropy.io import fits
from astropy.table import Table
from hypothesis import HealthCheck, given, settings

from lco_core import Frame, HeaderCard, ProcessingStep, ProductWriteError
from lco_core.header import Header
from lco_core.io import open_bands, parse_frame_meta, read_product, stack_files, write_product
from lco_core.stats import stack
from lco_core.testing.strategies import frames

RAW_HEADER = Header(
    (
        HeaderCard("INSTRUME", "fa99", "Instrument used"),
        HeaderCard("OBSTYPE", "EXPOSE"),
        HeaderCard("SITEID", "cpt"),
        HeaderCard("TELESCOP", "1m0-10"),
        HeaderCard("DATE-OBS", "2026-01-01T22:00:00.000"),
        HeaderCard("DAY-OBS", "20260101"),
        HeaderCard("EXPTIME", 30.0, "[s] Exposure length"),
        HeaderCard("CCDSUM", "1 1"),
        HeaderCard("FILTER", "rp"),
        HeaderCard("HISTORY", "from the telescope"),
    )
)


def _frame_with_header(frame: Frame) -> Frame:
    return Frame(
        meta=frame.meta,
        data=frame.data,
        mask=frame.mask,
        uncertainty=frame.uncertainty,
        header=RAW_HEADER,
        history=(
            ProcessingStep("subtract_overscan", {"nsigma": 3.0}, {"overscan_amp1": 2531.25}),
            ProcessingStep("subtract_bias", {}, {"level": -1.5, "ok": True}, ("bias-master.fits",)),
        ),
    )


@settings(suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(frames())
def test_product_round_trip(tmp_path: Path, frame: Frame) -> None:
    original = _frame_with_header(frame)
    catalog = Table({"x": [1.5, 2.5], "flux": [10.0, 20.0]})
    catalog["x"].unit = "pix"
    path = write_product(
        tmp_path / "cpt1m010-fa99-20260101-0042-e91.fits",
        original,
        catalog=catalog,
        keywords=(HeaderCard("L1ZP", 23.1, "zero point"),),
    )
    product = read_product(path)
    back = product.frame
    np.testing.assert_array_equal(back.data, original.data)
    np.testing.assert_array_equal(back.mask, original.mask)
    np.testing.assert_array_equal(back.uncertainty, original.uncertainty)
    assert back.history == original.history
    assert back.meta.exptime == 30.0
    assert back.meta.filename == path.name
    assert back.header.get("L1ZP") == 23.1
    assert back.header.get("FILTER") == "rp"
    assert [card.value for card in back.header.cards if card.keyword == "HISTORY"] == ["from the telescope"]
    assert product.catalog is not None
    assert list(product.catalog["flux"]) == [10.0, 20.0]
    assert str(product.catalog["x"].unit) == "pix"
    with fits.open(path) as hdul:  # any FITS reader sees the standard layout
        assert [hdu.name for hdu in hdul] == ["PRIMARY", "SCI", "CAT", "BPM", "ERR"]
        assert hdul["SCI"].data.dtype.kind == "f"
        assert hdul["BPM"].data.dtype == np.uint8
        assert any("subtract_bias" in str(value) for value in hdul["SCI"].header["HISTORY"])


def test_unassembled_frame_is_refused(tmp_path: Path) -> None:
    frame = _frame_with_header(_example_frame())
    raw = Frame(meta=frame.meta, header=frame.header)
    with pytest.raises(ProductWriteError, match="not been assembled"):
        write_product(tmp_path / "x.fits", raw)


def _example_frame() -> Frame:
    rng = np.random.default_rng(0)
    meta = parse_frame_meta(RAW_HEADER, path="cpt1m010-fa99-20260101-0042-e00.fits", hdu="PRIMARY")
    return Frame(
        meta=meta, data=rng.normal(size=(6, 5)), mask=np.zeros((6, 5), np.uint8), uncertainty=np.ones((6, 5))
    )


def test_a_crash_while_writing_leaves_no_product(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    frame = _frame_with_header(_example_frame())
    target = tmp_path / "product.fits"
    write_product(target, frame)
    before = target.read_bytes()

    def explode(*args: object, **kwargs: object) -> None:
        raise KeyboardInterrupt  # the user pressed ^C halfway through

    monkeypatch.setattr(fits.HDUList, "writeto", explode)
    with pytest.raises(KeyboardInterrupt):
        write_product(target, frame)
    assert target.read_bytes() == before  # the old product is intact
    assert sorted(p.name for p in tmp_path.iterdir()) == ["product.fits"]  # no temporary left


def test_unwritable_target_is_a_clear_error(tmp_path: Path) -> None:
    blocker = tmp_path / "file"
    blocker.write_text("not a folder")
    with pytest.raises(ProductWriteError, match="could not write product"):
        write_product(blocker / "x.fits", _frame_with_header(_example_frame()))


@pytest.mark.parametrize("bitpix_type", [np.float32, np.int16, np.uint16])
def test_bands_equal_the_whole_image(tmp_path: Path, bitpix_type: type[np.generic]) -> None:
    rng = np.random.default_rng(1)
    image = rng.integers(0, 30000, size=(37, 23)).astype(bitpix_type)
    path = tmp_path / "image.fits"
    fits.HDUList([fits.PrimaryHDU(), fits.ImageHDU(image, name="SCI")]).writeto(path)
    with open_bands(path, "SCI") as reader:
        assert reader.shape == (37, 23)
        pieces = [reader.read(start, min(37, start + 5)) for start in range(0, 37, 5)]
    np.testing.assert_array_equal(np.concatenate(pieces), image.astype(np.float32))


def test_bands_of_a_compressed_image(real_data: Path) -> None:
    path = real_data / "ingester/coj1m011-fl08-20151216-0048-x00.fits.fz"
    with fits.open(path) as hdul:
        whole = hdul[1].data.astype(np.float32)
    with open_bands(path, 1) as reader:
        np.testing.assert_array_equal(reader.read(100, 164), whole[100:164])


def test_stack_files_equals_stack_in_memory(tmp_path: Path) -> None:
    rng = np.random.default_rng(5)
    cube = rng.normal(500, 10, size=(7, 40, 30)).astype(np.float32)
    cube[rng.random(cube.shape) < 0.02] = 1e5
    masks = rng.random(cube.shape) < 0.05
    sigmas = np.full(cube.shape, 10.0, dtype=np.float32)
    paths = []
    for index in range(cube.shape[0]):
        frame = Frame(
            meta=_example_frame().meta,
            data=cube[index],
            mask=masks[index].astype(np.uint8),
            uncertainty=sigmas[index],
            header=RAW_HEADER,
        )
        paths.append(write_product(tmp_path / f"frame{index}.fits", frame))
    from_files = stack_files(paths, band_bytes=7 * 30 * 4 * 3 * 3)  # three rows per band
    in_memory = stack(cube, masks=masks, uncertainties=sigmas)
    for name in ("data", "uncertainty", "mask", "n_used"):
        np.testing.assert_array_equal(getattr(from_files, name), getattr(in_memory, name), err_msg=name)
