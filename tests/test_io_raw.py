"""Reading raw LCO files: every real file, the three layouts, and bad input as typed errors."""

from __future__ import annotations

import datetime as dt
import os
from pathlib import Path

import numpy as np
import pytest
from astropy.io import fits

from lco_core import FitsReadError, MalformedKeywordError, MissingKeywordError, ObsType
from lco_core.io import read_meta, read_raw

RAW_FRAMES = [
    "ingester/coj1m011-fl08-20151216-0048-x00.fits.fz",
    "ingester/coj1m011-fl08-20151216-0049-b00.fits.fz",
    "ingester/coj1m011-fl08-20151216-0083-d00.fits.fz",
    "ingester/cpt1m012-fl10-20151216-0044-f00.fits.fz",
    "ingester/cpt1m012-fl10-20151216-0073-e00.fits.fz",
    "ingester/cpt1m012-fl10-20151216-0075-s00.fits.fz",
    "neoexchange/mef_raw_test_frame.fits",
]


def _image_files(real_data: Path) -> list[Path]:
    files = []
    for path in sorted(real_data.rglob("*.fits*")):
        with fits.open(path) as hdul:
            if any(hdu.is_image and hdu.data is not None and hdu.data.size for hdu in hdul):
                files.append(path)
    return files


def test_every_real_image_file_reads(real_data: Path) -> None:
    files = _image_files(real_data)
    assert len(files) >= 17  # the ingester frames, the MEF and the datalab cut-outs
    for path in files:
        with fits.open(path) as hdul:
            has_instrument = any("INSTRUME" in hdu.header for hdu in hdul)
        if not has_instrument:
            # The datalab cut-outs had every header keyword stripped by their authors.
            with pytest.raises(MissingKeywordError, match=f"{path.name}.*INSTRUME"):
                read_raw(path)
            continue
        raw = read_raw(path)
        assert raw.meta.filename == path.name
        assert raw.images
        assert all(image.data.dtype == np.float32 for image in raw.images)
        assert all(np.isfinite(image.data).all() for image in raw.images)


def test_fpack_cube_single_plane(real_data: Path) -> None:
    raw = read_raw(real_data / "ingester/cpt1m012-fl10-20151216-0073-e00.fits.fz")
    assert len(raw.images) == 1
    assert raw.images[0].data.shape == (1, 1024, 1040)  # the legacy 3-D cube, one plane kept
    meta = raw.meta
    assert meta.camera == "fl10"
    assert meta.camera_family == "fl"
    assert meta.obstype is ObsType.EXPOSE
    assert meta.site == "cpt"
    assert meta.telescope_code == "1m012"
    assert meta.gain == (3.3, 3.4, 3.3, 3.4)  # GAIN = '[3.3,3.4,3.3,3.4]'
    assert meta.binning.x == meta.binning.y == 2
    assert meta.exptime == 15.0
    assert meta.filter == "ip"
    assert meta.date_obs == dt.datetime(2015, 12, 16, 18, 20, 48, 907000, tzinfo=dt.UTC)
    assert meta.day_obs == dt.date(2015, 12, 16)
    assert meta.ra == pytest.approx(21.0476458, abs=1e-6)  # '01:24:11.435' in degrees
    assert meta.dec == pytest.approx(-32.382594, abs=1e-6)
    assert meta.ccd_set_temperature == -100.0
    assert meta.configuration_mode == "full_frame"  # CONFMODE = 'N/A'
    assert raw.sections.bias is None
    assert raw.sections.detector is None
    assert str(raw.sections.data) == "[1:4094,1:4096]"


def test_multi_extension_sinistro(real_data: Path) -> None:
    raw = read_raw(real_data / "neoexchange/mef_raw_test_frame.fits")
    assert [image.name for image in raw.images] == ["SCI"] * 4
    assert all(image.data.shape == (522, 544) for image in raw.images)
    assert raw.meta.gain is None  # the primary's GAIN = 0.0 is not a gain
    assert raw.meta.configuration_mode == "central_2k_2x2"
    assert [str(image.sections.detector) for image in raw.images] == [
        "[1025:2048,3072:2049]",
        "[1025:2048,1025:2048]",
        "[3072:2049,1025:2048]",
        "[3072:2049,3072:2049]",
    ]
    assert all(str(image.sections.bias) == "[520:540,1:512]" for image in raw.images)
    assert [image.header.get("GAIN") for image in raw.images] == [6.42, 6.23, 6.27, 6.26]
    # BZERO = 32768 on uint16 data: values are the physical ADU, not wrapped integers.
    overscan = raw.images[0].data[0:512, 519:540]
    assert 2000 < float(np.median(overscan)) < 3000
    assert raw.sections.detector_size is not None
    assert raw.sections.detector_size.shape == (4096, 4096)


def test_sbig_single_hdu(real_data: Path) -> None:
    raw = read_raw(real_data / "ingester/bias_kb70_20151221_bin2x2.fits.fz")
    assert raw.meta.obstype is ObsType.BIAS
    assert raw.meta.camera == "kb70"
    assert raw.sections.bias is None  # BIASSEC = 'UNKNOWN': no overscan
    assert str(raw.sections.trim) == "[11:2037,11:2037]"
    assert raw.sections.detector_size is None  # DETSIZE = '[1:0,1:0]' means unset
    assert raw.meta.maxlin is None  # MAXLIN = 0.0 means not known
    assert read_meta(real_data / "ingester/bias_kb70_20151221_bin2x2.fits.fz") == raw.meta


def _write_frame(path: Path, **overrides: object) -> Path:
    header = fits.Header()
    cards = {
        "INSTRUME": "fa99",
        "OBSTYPE": "EXPOSE",
        "SITEID": "cpt",
        "TELESCOP": "1m0-10",
        "DATE-OBS": "2026-01-01T22:00:00.000",
        "DAY-OBS": "20260101",
        "EXPTIME": 30.0,
        "CCDSUM": "1 1",
        "FILTER": "rp",
        "GAIN": 1.5,
    }
    cards.update(overrides)
    for key, value in cards.items():
        if value is not None:
            header[key] = value
    fits.PrimaryHDU(np.zeros((8, 8), dtype=np.uint16), header).writeto(path)
    return path


def test_non_fits_file(tmp_path: Path) -> None:
    path = tmp_path / "notes.fits"
    path.write_text("these are my observing notes\n")
    with pytest.raises(FitsReadError, match=r"notes\.fits: is not a FITS file"):
        read_raw(path)


def test_missing_file(tmp_path: Path) -> None:
    with pytest.raises(FitsReadError, match="cannot be read"):
        read_raw(tmp_path / "absent.fits")


def test_truncated_file(tmp_path: Path) -> None:
    path = _write_frame(tmp_path / "whole.fits")
    cut = tmp_path / "cut.fits"
    cut.write_bytes(path.read_bytes()[: 2880 + 40])
    with pytest.raises(FitsReadError, match=r"cut\.fits: truncated"):
        read_raw(cut)


def test_truncated_compressed_file(real_data: Path, tmp_path: Path) -> None:
    source = real_data / "ingester/cpt1m012-fl10-20151216-0073-e00.fits.fz"
    cut = tmp_path / source.name
    cut.write_bytes(source.read_bytes()[: os.path.getsize(source) // 2])
    with pytest.raises(FitsReadError, match=source.name):
        read_raw(cut)


@pytest.mark.parametrize("keyword", ["EXPTIME", "DATE-OBS", "INSTRUME", "OBSTYPE", "CCDSUM"])
def test_missing_mandatory_keyword_names_file_hdu_and_keyword(tmp_path: Path, keyword: str) -> None:
    path = _write_frame(tmp_path / "frame.fits", **{keyword: None})
    with pytest.raises(MissingKeywordError) as caught:
        read_raw(path)
    assert caught.value.keyword == keyword
    assert caught.value.hdu == "PRIMARY"
    assert str(caught.value) == f"{path}[PRIMARY]: {keyword} is missing (mandatory keyword)"


def test_placeholder_counts_as_missing(tmp_path: Path) -> None:
    with pytest.raises(MissingKeywordError, match="DATE-OBS"):
        read_raw(_write_frame(tmp_path / "frame.fits", **{"DATE-OBS": "UNKNOWN"}))


@pytest.mark.parametrize(
    ("keyword", "value"),
    [
        ("EXPTIME", "soon"),
        ("EXPTIME", -3.0),
        ("DATE-OBS", "yesterday"),
        ("CCDSUM", "2"),
        ("OBSTYPE", "PARTY"),
        ("GAIN", "[1.0,abc]"),
        ("DATASEC", "[1:8,1:x]"),
        ("DAY-OBS", "2026"),
    ],
)
def test_malformed_keyword(tmp_path: Path, keyword: str, value: object) -> None:
    path = _write_frame(tmp_path / "frame.fits", **{keyword: value})
    with pytest.raises(MalformedKeywordError) as caught:
        read_raw(path)
    assert caught.value.keyword == keyword
    assert str(path) in str(caught.value)
    assert "\n" not in str(caught.value)


def test_image_with_no_data(tmp_path: Path) -> None:
    path = tmp_path / "empty.fits"
    header = fits.Header()
    for key, value in {
        "INSTRUME": "fa99",
        "OBSTYPE": "BIAS",
        "SITEID": "cpt",
        "TELESCOP": "1m0-10",
        "DATE-OBS": "2026-01-01T22:00:00",
        "DAY-OBS": "20260101",
        "EXPTIME": 0.0,
        "CCDSUM": "1 1",
    }.items():
        header[key] = value
    fits.PrimaryHDU(header=header).writeto(path)
    with pytest.raises(FitsReadError, match="no image data"):
        read_raw(path)


def test_impossible_size_is_refused_without_reading(tmp_path: Path) -> None:
    path = _write_frame(tmp_path / "huge.fits")
    content = bytearray(path.read_bytes())
    header_text = content[:2880].decode("ascii")
    for axis in ("NAXIS1", "NAXIS2"):
        start = header_text.index(f"{axis:<8}=")
        card = f"{axis:<8}= {200000:>20d}".ljust(80)
        content[start : start + 80] = card.encode("ascii")
    path.write_bytes(bytes(content))
    with pytest.raises(FitsReadError, match=r"huge\.fits: (truncated|.*impossible)"):
        read_raw(path)


def test_raw_files_are_not_modified(real_data: Path) -> None:
    path = real_data / "neoexchange/mef_raw_test_frame.fits"
    before = (path.stat().st_mtime_ns, path.read_bytes())
    read_raw(path)
    assert (path.stat().st_mtime_ns, path.read_bytes()) == before
