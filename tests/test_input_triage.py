"""Issue 12: inputs recognised for what they are, from their names and headers alone.

Products, master calibrations, catalogues, another run's output folder, cameras and OBSTYPEs
that are not reduced are skipped with a reason; a raw frame is never refused for being one, and
a supported camera's broken raw frame still fails. Every expectation comes from the files the
test writes or from what the real files are (shared/data/real/SOURCES.md), listed here by name,
never from the code under test.
"""

from __future__ import annotations

import gzip
import json
import shutil
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from astropy.io import fits

from lco_cli.discovery import find_raw_files
from lco_cli.main import main
from lco_cli.recognition import not_a_raw_frame, reason_to_skip, unreduced_obstype, unsupported_camera
from lco_core import ObsType
from lco_core.header import Header, HeaderCard, HeaderValue
from lco_core.io import read_meta
from lco_core.io.raw import HduHeader, HduKind, read_hdu_headers
from lco_core.master import MasterKind, master_filename
from lco_instruments.simulate import Night, sbig, simulate_night, sinistro

MIN_FRAMES = "3"
SUFFIXES = (".fits", ".fits.fz", ".fits.gz")

# -- what the real files are (SOURCES.md), by name ---------------------------------------------

#: Not raw frames, and the words their reason must hold: processed frames (ORAC-DR e90/e10/s10,
#: PIPEVER and L1STAT* in their headers), ORAC-DR master calibrations, catalogue tables (no
#: image HDU), and BANZAI-layout SCI + CAT products with stripped headers.
REAL_NOT_RAW = {
    "banzai/cpt1m012-fa06-20200113-0102-matched-cat.fits": "catalogue",
    "banzai/ogg2m001-ep04-20201006-0097-matched-cat.fits": "catalogue",
    "datalab/fits_1.fits.fz": "processed product",
    "datalab/fits_2.fits.fz": "processed product",
    "ingester/bias_kb70_20151221_bin2x2.fits.fz": "master calibration",
    "ingester/dark_kb70_20151222_bin2x2.fits.fz": "master calibration",
    "ingester/flat_kb70_20151222_SKYFLAT_bin2x2_ip.fits.fz": "master calibration",
    "ingester/coj1m011-kb05-20150219-0125-e90.fits.fz": "already processed",
    "ingester/cpt1m010-kb70-20151219-0073-e10.fits.fz": "already processed",
    "ingester/cpt1m010-kb70-20151219-0075-s10.fits.fz": "already processed",
    "ingester/lsc1m005-kb78-20151109-0179-e90.fits.fz": "already processed",
    "ingester/cpt1m010-kb70-20151219-0073-e10_cat.fits": "catalogue",
    "ingester/cpt1m010-kb70-20151219-0075-s10_cat.fits": "catalogue",
    "ingester/lsc1m005-kb78-20151109-0179-e90_cat.fits": "catalogue",
    "neoexchange/cpt1m010-kb70-20160210-0365-e90_cat.fits": "catalogue",
    "neoexchange/elp1m008-fl05-20160217-0218-e90_cat.fits": "catalogue",
    "neoexchange/ldac_test_catalog.fits": "catalogue",
    "neoexchange/oracdr_test_catalog.fits": "catalogue",
}
#: Raw frames of OBSTYPEs that are not reduced (g00, t00, x00).
REAL_NOT_REDUCED = {
    "ingester/sqa0m801-kb35-20151216-0966-g00.fits.fz": "OBSTYPE GUIDE is not reduced",
    "ingester/tfn0m414-kb29-20151216-0380-t00.fits.fz": "OBSTYPE TRAILED is not reduced",
    "ingester/coj1m011-fl08-20151216-0048-x00.fits.fz": "OBSTYPE EXPERIMENTAL is not reduced",
}
#: Genuinely raw frames: reduced, or failed only for a master they lack.
REAL_RAW = (
    "ingester/coj1m011-fl08-20151216-0049-b00.fits.fz",
    "ingester/coj1m011-fl08-20151216-0083-d00.fits.fz",
    "ingester/cpt1m012-fl10-20151216-0044-f00.fits.fz",
    "ingester/cpt1m012-fl10-20151216-0073-e00.fits.fz",
    "ingester/cpt1m012-fl10-20151216-0075-s00.fits.fz",
    "neoexchange/mef_raw_test_frame.fits",
)

# -- synthetic headers -------------------------------------------------------------------------

#: What an LCO raw frame's header holds that a product's also might: the pipeline keywords as
#: 'N/A' and the archive's publication date.
RAW_CARDS: dict[str, HeaderValue] = {
    "INSTRUME": "kb99",
    "OBSTYPE": "EXPOSE",
    "PCRECIPE": "N/A",
    "PPRECIPE": "N/A",
    "L1PUBDAT": "2027-01-01T00:00:00",
}


def _hdu(index: int, name: str, kind: HduKind, cards: Mapping[str, HeaderValue] | None = None) -> HduHeader:
    header = Header(HeaderCard(key, value) for key, value in (cards or {}).items())
    return HduHeader(index, name, kind, header)


def _raw(**changes: HeaderValue) -> list[HduHeader]:
    """An fpacked raw frame: an empty primary and one compressed image carrying the keywords."""
    cards = {key: value for key, value in (RAW_CARDS | changes).items() if value is not None}
    return [_hdu(0, "PRIMARY", "empty"), _hdu(1, "COMPRESSED_IMAGE", "image", cards)]


RAW_NAME = "lsc1m005-kb99-20260101-0010-e00"


@pytest.mark.parametrize("suffix", SUFFIXES)
def test_a_raw_frame_is_not_refused(suffix: str) -> None:
    assert reason_to_skip(RAW_NAME + suffix, _raw()) == ""
    mef = [_hdu(0, "PRIMARY", "empty", dict(RAW_CARDS))] + [_hdu(i, "SCI", "image") for i in range(1, 5)]
    assert reason_to_skip(RAW_NAME + suffix, mef) == ""


@pytest.mark.parametrize(
    ("cards", "evidence"),
    [
        ({"RLEVEL": 91}, "RLEVEL = 91"),
        ({"RLEVEL": "90"}, "RLEVEL = 90"),
        ({"PIPEVER": "LCOPIPE-V0.9.1-r9100"}, "PIPEVER"),
        ({"PCRECIPE": "QUICK_LOOK"}, "PCRECIPE"),
        ({"L1STATBI": 1}, "L1STATBI"),
        ({"L1IDFLAT": "flat_kb70_20151218_SKYFLAT_bin2x2_ip"}, "L1IDFLAT"),
        ({"ISMASTER": True}, "master calibration (ISMASTER = T)"),
    ],
)
def test_a_processed_header_is_not_a_raw_frame(cards: dict[str, HeaderValue], evidence: str) -> None:
    reason = reason_to_skip(RAW_NAME + ".fits.fz", _raw(**cards))
    assert reason.startswith(f"{RAW_NAME}.fits.fz: not a raw frame: ")
    assert evidence in reason


@pytest.mark.parametrize(
    "cards", [{"RLEVEL": 0}, {"PIPEVER": "UNKNOWN"}, {"PCRECIPE": "N/A"}, {"ISMASTER": False}]
)
def test_placeholders_and_level_0_are_raw(cards: dict[str, HeaderValue]) -> None:
    assert reason_to_skip(RAW_NAME + ".fits", _raw(**cards)) == ""


def test_a_table_file_and_a_product_layout_are_not_raw_frames() -> None:
    table = [_hdu(0, "PRIMARY", "empty", dict(RAW_CARDS)), _hdu(1, "", "table")]
    assert "catalogue" in not_a_raw_frame("x.fits", table)
    ldac = [_hdu(0, "PRIMARY", "empty"), _hdu(1, "LDAC_IMHEAD", "table"), _hdu(2, "LDAC_OBJECTS", "table")]
    assert "catalogue (LDAC_IMHEAD, LDAC_OBJECTS)" in not_a_raw_frame("ldac.fits", ldac)
    stripped = [_hdu(0, "PRIMARY", "empty"), _hdu(1, "SCI", "image"), _hdu(2, "CAT", "table")]
    assert "processed product (extensions SCI, CAT)" in not_a_raw_frame("fits_1.fits.fz", stripped)
    planes = [
        _hdu(0, "PRIMARY", "empty"),
        *(_hdu(i, n, "image") for i, n in enumerate(("SCI", "BPM", "ERR"), 1)),
    ]
    assert "processed product" in not_a_raw_frame("x.fits", planes)
    # A file with no data at all is broken, not something else: the raw reader says why.
    assert not_a_raw_frame("empty.fits", [_hdu(0, "PRIMARY", "empty", dict(RAW_CARDS))]) == ""


@pytest.mark.parametrize("suffix", SUFFIXES)
@pytest.mark.parametrize(
    ("stem", "what"),
    [
        ("lsc1m005-kb99-20260101-0010-e91", "reduction level 91 in its name"),
        ("coj1m011-kb05-20150219-0125-e90", "reduction level 90 in its name"),
        ("cpt1m010-kb70-20151219-0075-s10", "reduction level 10 in its name"),
        ("cpt1m010-kb70-20151219-0073-e10_cat", "reduction level 10 in its name"),
        ("cpt1m012-fa06-20200113-0102-matched-cat", "source catalogue (by its name)"),
        ("bias_kb70_20151221_bin2x2", "master calibration (by its name)"),
        ("dark_kb70_20151222_bin2x2", "master calibration (by its name)"),
        ("flat_kb70_20151222_SKYFLAT_bin2x2_ip", "master calibration (by its name)"),
        ("cpt1m010-kb70-20151219-bias-bin2x2", "master calibration (by its name)"),  # BANZAI's
    ],
)
def test_product_and_master_names_are_not_raw_frames(stem: str, what: str, suffix: str) -> None:
    # Headers that look raw: the name alone decides (the datalab files show headers get stripped).
    assert what in not_a_raw_frame(stem + suffix, _raw())


@pytest.mark.parametrize(
    "name",
    [
        "lsc1m005-kb99-20260101-0010-b00.fits",
        "lsc1m005-kb99-20260101-0010-f00.fits.fz",
        "lsc1m005-kb99-20260101-0010-e00.fits.gz",
        "bias_001.fits",  # a user's own name for a raw bias
        "flat-V-3.fits",
        "catalina.fits",
    ],
)
def test_raw_names_are_not_refused(name: str) -> None:
    assert not_a_raw_frame(name, _raw()) == ""


def test_our_own_master_names_are_recognised(small_night: Night) -> None:
    meta = read_meta(small_night.paths[0])
    for kind in (*MasterKind, "bpm"):
        name = master_filename(meta, kind)
        for form in (name, name + ".fz"):
            assert "master calibration" in not_a_raw_frame(form, _raw()), form


@pytest.mark.parametrize(
    ("camera", "what"),
    [("ak01", "acquisition or guide camera"), ("en06", "FLOYDS"), ("nres03", "NRES")],
)
def test_cameras_that_are_not_imagers_are_skipped(camera: str, what: str) -> None:
    reason = unsupported_camera(camera)
    assert reason.startswith(f"camera {camera} is not a supported imager")
    assert what in reason
    assert reason_to_skip(RAW_NAME + ".fits", _raw(INSTRUME=camera)) == reason


@pytest.mark.parametrize("camera", ["kb99", "fa05", "fl10", "fs01", "sq30", "ep04", "zz01", ""])
def test_imagers_and_unknown_cameras_are_not_skipped_here(camera: str) -> None:
    # Supported families are reduced; an unknown prefix is a header error (it fails later).
    assert unsupported_camera(camera) == ""


@pytest.mark.parametrize(
    "obstype", ["GUIDE", "TRAILED", "EXPERIMENTAL", "ARC", "LAMPFLAT", "SPECTRUM", "TARGET", "guide"]
)
def test_obstypes_that_are_not_reduced_are_skipped(obstype: str) -> None:
    assert unreduced_obstype(obstype) == f"OBSTYPE {obstype.upper()} is not reduced"
    assert reason_to_skip(RAW_NAME + ".fits", _raw(OBSTYPE=obstype)) == unreduced_obstype(obstype)


@pytest.mark.parametrize("obstype", ["BIAS", "DARK", "SKYFLAT", "EXPOSE", "STANDARD", "NOT_A_TYPE"])
def test_reduced_and_unknown_obstypes_are_not_skipped_here(obstype: str) -> None:
    assert unreduced_obstype(obstype) == ""


# -- files -------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def small_night(tmp_path_factory: pytest.TempPathFactory) -> Night:
    """One SBIG camera, 128x128 binned pixels: 3 biases, 3 darks, 3 flats, 2 science frames."""
    folder = tmp_path_factory.mktemp("raw") / "kb99"
    return simulate_night(
        folder, sbig(size=256), n_bias=3, n_dark=3, n_flat=3, n_science=2, seed=21, compress=False
    )


def _status_of(night: Night) -> dict[str, str]:
    """Each raw file's expected status, by name: the calibration frames ok; the science frames
    degraded, their products written without a WCS or a zero point, because the small night's
    field puts fewer stars on them than astrometry needs (6; the simulator's truth says so)."""
    expected = {}
    for path, truth in zip(night.paths, night.truths, strict=True):
        science = truth.obstype is ObsType.EXPOSE
        if science:
            assert len(truth.stars.keep_inside()) < 6, path.name
        expected[path.name] = "degraded" if science else "ok"
    return expected


def _run(raw: Path | str, out: Path, *extra: str) -> int:
    return main(
        ["run", str(raw), "--out", str(out), "--min-frames", MIN_FRAMES, "--workers", "1", "--quiet", *extra]
    )


def _records(out: Path) -> dict[str, dict[str, Any]]:
    document = json.loads((out / "summary.json").read_text())
    return {str(record["file"]): record for record in document["frames"]}


def _gzip(source: Path, target: Path) -> Path:
    target.parent.mkdir(parents=True, exist_ok=True)
    target.write_bytes(gzip.compress(source.read_bytes(), mtime=0))
    return target


def test_simulated_raw_frames_are_not_refused(small_night: Night, tmp_path: Path) -> None:
    mef = simulate_night(
        tmp_path / "fa99", sinistro(amp_size=64), n_bias=1, n_dark=1, n_flat=1, n_science=1, seed=3
    )
    for path in (*small_night.paths, *mef.paths, _gzip(small_night.paths[-1], tmp_path / "x-e00.fits.gz")):
        assert reason_to_skip(path.name, read_hdu_headers(path)) == "", path.name


def test_real_raw_frames_are_not_refused(real_data: Path) -> None:
    for name in REAL_RAW:
        path = real_data / name
        assert reason_to_skip(path.name, read_hdu_headers(path)) == "", name


def test_hdu_headers_say_what_each_hdu_holds(tmp_path: Path) -> None:
    table = fits.BinTableHDU.from_columns([fits.Column("x", "E", array=np.arange(3.0))], name="CAT")
    image = fits.ImageHDU(np.zeros((4, 4), np.float32), name="SCI")
    fits.HDUList([fits.PrimaryHDU(), image, table]).writeto(tmp_path / "p.fits")
    hdus = read_hdu_headers(tmp_path / "p.fits")
    assert [(h.index, h.name, h.kind) for h in hdus] == [
        (0, "PRIMARY", "empty"),
        (1, "SCI", "image"),
        (2, "CAT", "table"),
    ]
    compressed = fits.CompImageHDU(np.zeros((4, 4), np.float32), fits.Header({"INSTRUME": "kb99"}))
    fits.HDUList([fits.PrimaryHDU(), compressed]).writeto(tmp_path / "c.fits.fz")
    hdus = read_hdu_headers(_gzip(tmp_path / "c.fits.fz", tmp_path / "c.fits.gz"))
    assert [h.kind for h in hdus] == ["empty", "image"]
    assert hdus[1].header.get("INSTRUME") == "kb99"


def test_a_broken_card_does_not_hide_what_a_file_is(tmp_path: Path) -> None:
    header = fits.Header({"RLEVEL": 91, "OBJECT": "target"})
    path = tmp_path / "p.fits"
    fits.PrimaryHDU(np.zeros((4, 4), np.float32), header).writeto(path)
    content = bytearray(path.read_bytes())
    start = content.index(b"OBJECT  =")
    content[start : start + 80] = b"OBJECT  = 'never closed".ljust(80)
    path.write_bytes(bytes(content))
    hdus = read_hdu_headers(path)
    assert hdus[0].header.get("OBJECT") is None
    assert "RLEVEL = 91" in not_a_raw_frame(path.name, hdus)


def test_discovery_takes_gzip_files_and_reports_other_runs_output_folders(tmp_path: Path) -> None:
    (tmp_path / "a-e00.fits.gz").write_bytes(b"")
    (tmp_path / "B-E00.FITS.GZ").write_bytes(b"")
    (tmp_path / "notes.txt.gz").write_bytes(b"")
    earlier = tmp_path / "earlier"
    (earlier / "masters").mkdir(parents=True)
    (earlier / "summary.json").write_text("{}")
    (earlier / "x-e91.fits").write_bytes(b"")
    (earlier / "masters" / "m.fits").write_bytes(b"")
    current = tmp_path / "current"
    current.mkdir()
    (current / ".lco-reduce.lock").write_text("")
    (current / "y-e91.fits").write_bytes(b"")
    found = find_raw_files([tmp_path], exclude=[current])
    assert [p.name for p in found.files] == ["B-E00.FITS.GZ", "a-e00.fits.gz"]
    skipped = {p.name: reason for p, reason in found.skipped}
    assert set(skipped) == {"x-e91.fits", "m.fits"}  # the current --out is left out without a word
    assert all(f"in {earlier}, the output folder of another lco-reduce run" in r for r in skipped.values())
    assert "summary.json and masters/" in skipped["x-e91.fits"]


def test_a_gzip_raw_night_is_reduced_like_its_plain_twin(small_night: Night, tmp_path: Path) -> None:
    plain, zipped = tmp_path / "plain", tmp_path / "zipped"
    shutil.copytree(small_night.folder, plain)
    for path in small_night.paths:
        _gzip(path, zipped / (path.name + ".gz"))
    catalog = ("--catalog", str(small_night.catalog_path), "--offline")
    assert _run(plain, tmp_path / "out-plain", *catalog) == 0
    assert _run(zipped, tmp_path / "out-zipped", *catalog) == 0
    plain_records, zipped_records = _records(tmp_path / "out-plain"), _records(tmp_path / "out-zipped")
    assert len(zipped_records) == len(small_night.paths)
    assert {Path(name).name.removesuffix(".gz"): r["status"] for name, r in zipped_records.items()} == (
        _status_of(small_night)
    )
    for path in small_night.paths:
        one, other = plain_records[str(plain / path.name)], zipped_records[str(zipped / (path.name + ".gz"))]
        assert one["obstype"] == other["obstype"]
        assert len(one["products"]) == len(other["products"]) == 1
        with fits.open(one["products"][0]) as a, fits.open(other["products"][0]) as b:
            np.testing.assert_array_equal(a["SCI"].data, b["SCI"].data)


def _write_raw(path: Path, **cards: HeaderValue) -> Path:
    header = fits.Header()
    base: dict[str, HeaderValue] = {
        "INSTRUME": "kb99", "OBSTYPE": "EXPOSE", "SITEID": "lsc", "TELESCOP": "1m0-05",
        "DATE-OBS": "2026-01-01T23:30:00.000", "DAY-OBS": "20260101", "EXPTIME": 60.0, "CCDSUM": "2 2",
        "FILTER": "rp", "PIXSCALE": 0.57, "RA": "10:01:00.0", "DEC": "-30:24:00.0",
    }  # fmt: skip
    for key, value in (base | cards).items():
        if value is not None:
            header[key] = value
    path.parent.mkdir(parents=True, exist_ok=True)
    fits.PrimaryHDU(np.zeros((4, 64), np.float32), header).writeto(path)
    return path


def test_what_is_not_reduced_is_skipped_and_a_broken_raw_frame_still_fails(tmp_path: Path) -> None:
    raw = tmp_path / "raw"
    # Each header is broken (no EXPTIME, a GAIN that is no number) as a raw frame's: what the
    # file is decides, not whether it would parse.
    acquisition = _write_raw(raw / "acquisition-e00.fits", INSTRUME="ak01", EXPTIME=None)
    skipped = {
        acquisition: "camera ak01 is not a supported imager",
        _write_raw(raw / "floyds-e00.fits", INSTRUME="en06", EXPTIME=None): "camera en06 is not a supported",
        _write_raw(raw / "guide-g00.fits", OBSTYPE="GUIDE"): "OBSTYPE GUIDE is not reduced",
        _write_raw(raw / "arc-a00.fits", OBSTYPE="ARC", GAIN="nonsense"): "OBSTYPE ARC is not reduced",
        _write_raw(raw / "old-e91.fits", RLEVEL=91): "already processed (RLEVEL = 91)",
    }
    broken = _write_raw(raw / "broken-e00.fits", EXPTIME=None)  # a supported camera: its error stands
    truncated = raw / "truncated-e00.fits.gz"
    truncated.write_bytes(gzip.compress(broken.read_bytes())[:200])
    out = tmp_path / "out"
    assert _run(raw, out, "--offline") == 1
    records = _records(out)
    for path, text in skipped.items():
        record = records[str(path)]
        assert record["status"] == "skipped", (path.name, record["reason"])
        assert text in record["reason"]
    assert (records[str(acquisition)]["camera"], records[str(acquisition)]["obstype"]) == ("ak01", "EXPOSE")
    assert records[str(broken)]["status"] == "failed"
    assert "EXPTIME is missing" in records[str(broken)]["reason"]
    assert records[str(truncated)]["status"] == "failed"
    assert "gzip" in records[str(truncated)]["reason"]


def test_our_own_products_and_output_folders_in_the_input_are_skipped(
    small_night: Night, tmp_path: Path
) -> None:
    raw = tmp_path / "raw"
    shutil.copytree(small_night.folder, raw / "kb99")
    catalog = ("--catalog", str(small_night.catalog_path), "--offline")
    earlier = raw / "earlier"
    assert _run(raw, earlier, *catalog) == 0
    ours = sorted(p for p in earlier.rglob("*") if p.name.endswith((".fits", ".fits.fz")))
    products = [p for p in ours if "-e91." in p.name]
    masters = [p for p in ours if p.parent.name == "masters"]
    assert len(products) == len(small_night.paths_of(ObsType.EXPOSE))
    assert len(masters) >= 3
    copied = raw / "copied"
    copied.mkdir()
    for path in ours:
        shutil.copy(path, copied / path.name)

    out = tmp_path / "out"
    assert _run(raw, out, *catalog) == 0
    records = _records(out)
    for path in small_night.paths:
        assert records[str(raw / "kb99" / path.name)]["status"] == _status_of(small_night)[path.name]
    for path in ours:
        record = records[str(path)]
        assert record["status"] == "skipped"
        assert f"in {earlier}, the output folder of another lco-reduce run" in record["reason"]
        record = records[str(copied / path.name)]
        assert record["status"] == "skipped"
        assert "not a raw frame" in record["reason"]
        kind = "master calibration" if path in masters else "processed product"
        assert kind in record["reason"], record["reason"]

    # The current --out inside the input tree is left out without a word, as before.
    assert _run(raw, earlier, *catalog) == 0
    assert not [name for name in _records(earlier) if Path(name).is_relative_to(earlier)]


def test_the_real_folders_skip_what_is_not_raw_and_fail_nothing_for_what_it_is(
    real_data: Path, tmp_path: Path
) -> None:
    out = tmp_path / "out"
    assert _run(real_data, out, "--offline") in (0, 1)
    records = {str(Path(name).relative_to(real_data)): r for name, r in _records(out).items()}
    assert set(records) == set(REAL_NOT_RAW) | set(REAL_NOT_REDUCED) | set(REAL_RAW)
    for name, what in REAL_NOT_RAW.items():
        record = records[name]
        assert record["status"] == "skipped", (name, record["reason"])
        assert record["reason"].startswith(f"{Path(name).name}: not a raw frame: ")
        assert what in record["reason"], (name, record["reason"])
    for name, reason in REAL_NOT_REDUCED.items():
        assert (records[name]["status"], records[name]["reason"]) == ("skipped", reason)
    for name in REAL_RAW:
        record = records[name]
        assert "not a raw frame" not in record["reason"]
        if record["status"] == "failed":
            # This folder holds no set of calibrations: a raw frame may lack its masters, and says so.
            assert "no good master" in record["reason"], (name, record["reason"])
