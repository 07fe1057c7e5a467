"""`lco-reduce run` end to end: products, summary, report, bad input, reruns, kills and Dask."""

from __future__ import annotations

import hashlib
import json
import shutil
import signal
import subprocess
import sys
import time
from collections.abc import Callable
from html.parser import HTMLParser
from pathlib import Path

import numpy as np
import numpy.typing as npt
import pytest
from astropy.io import fits

from lco_cli.main import main
from lco_core.io import read_product
from lco_instruments.simulate import make_field, sbig, simulate_night, sinistro


@pytest.fixture(scope="module")
def raw_night(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A small two-camera night: Sinistro (256 px) and SBIG (128 px binned), each 5/5/5 + 2 science."""
    folder = tmp_path_factory.mktemp("raw")
    field = make_field(sinistro(amp_size=128), seed=8, stars_per_square_degree=60000)
    off = (60.0, 180.0)  # header pointing arcminutes off: the astrometry's search is exercised
    simulate_night(
        folder / "fa99", sinistro(amp_size=128), n_science=2, seed=8, field=field, pointing_error_range=off
    )
    simulate_night(
        folder / "kb99", sbig(size=256), n_science=2, seed=9, field=field, pointing_error_range=off
    )
    return folder


def _checksums(folder: Path) -> dict[str, str]:
    return {
        str(p): hashlib.sha256(p.read_bytes()).hexdigest() for p in sorted(folder.rglob("*")) if p.is_file()
    }


def _summary(out: Path) -> dict[str, dict[str, object]]:
    document = json.loads((out / "summary.json").read_text())
    return {Path(record["file"]).name: record for record in document["frames"]}


def _run(*arguments: str) -> int:
    return main(["run", *arguments, "--workers", "1", "--quiet"])


def _expected(name: str) -> str:
    """A frame's status in the fixture's night: all ok but the SBIG's science frames, whose small
    (128-pixel) view of the field holds too few stars for the astrometric pattern match: degraded,
    their products written without a WCS or zero point, with no input missing (the catalogue was
    given)."""
    return "degraded" if name.startswith("lsc1m005-kb99") and name.endswith("e00.fits.fz") else "ok"


def _check_degraded(record: dict[str, object]) -> None:
    shortfalls = record["shortfalls"]
    assert isinstance(shortfalls, list)
    assert {s["step"]: s["needs"] for s in shortfalls} == {"astrometry": "", "photometry": ""}


@pytest.fixture(scope="module")
def reduced(raw_night: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("reduced")
    before = _checksums(raw_night)
    assert (
        _run(
            str(raw_night),
            "--out",
            str(out),
            "--catalog",
            str(raw_night / "fa99" / "refcat.ecsv"),
            "--offline",
        )
        == 0
    )
    assert _checksums(raw_night) == before  # raw files are never modified
    return out


class _Links(HTMLParser):
    def __init__(self) -> None:
        super().__init__()
        self.sources: list[str] = []
        self.tags: list[str] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.tags.append(tag)
        self.sources += [value or "" for name, value in attrs if name in ("src", "href")]


def test_a_night_is_reduced_into_masters_products_summary_and_report(reduced: Path) -> None:
    records = _summary(reduced)
    assert len(records) == 2 * (5 + 5 + 5 + 2)
    assert {name: r["status"] for name, r in records.items()} == {name: _expected(name) for name in records}
    for record in records.values():
        if record["status"] == "degraded":
            _check_degraded(record)
    products = sorted(p.name for p in reduced.glob("*-e91.fits.fz"))
    assert products == sorted(
        name.replace("-e00.fits.fz", "-e91.fits.fz") for name in records if name.endswith("e00.fits.fz")
    )
    masters = sorted(p.name for p in (reduced / "masters").glob("*.fits.fz"))
    assert "cpt1m010-fa99-20260101-skyflat-bin1x1-rp.fits.fz" in masters
    assert "lsc1m005-kb99-20260101-bias-bin2x2.fits.fz" in masters
    science = next(r for n, r in records.items() if n.endswith("e00.fits.fz") and "fa99" in n)
    figures = science["figures"]
    assert isinstance(figures, dict)
    for key in (
        "overscan",
        "BIASLVL",
        "L1FWHM",
        "WCSERR",
        "WCSRMS",
        "L1ZP",
        "n_sources",
        "cosmic_ray_pixels",
    ):
        assert key in figures, key
    assert figures["WCSERR"] == 0
    assert len(science["masters"]) == 4  # type: ignore[arg-type]  # bias, dark, flat and BPM
    links = _Links()
    links.feed((reduced / "report.html").read_text())
    assert links.tags.count("img") >= 10
    assert all(source.startswith("data:image/png;base64,") for source in links.sources)  # self-contained
    with fits.open(reduced / products[0]) as hdul:
        assert hdul["SCI"].header["L1IDFLAT"].endswith("-rp.fits.fz")  # the master as stored


def test_a_second_run_skips_what_is_done_and_force_redoes_it(raw_night: Path, reduced: Path) -> None:
    catalog = str(raw_night / "fa99" / "refcat.ecsv")
    assert _run(str(raw_night), "--out", str(reduced), "--catalog", catalog, "--offline") == 0
    records = _summary(reduced)
    # Every frame done, reported as the first run recorded it: the summary is still the night's.
    assert len(records) == 2 * (5 + 5 + 5 + 2)
    assert {name: r["status"] for name, r in records.items()} == {name: _expected(name) for name in records}
    assert all(r["reused"] for r in records.values())
    one = next(raw_night.rglob("*-fa99-*-e00.fits.fz"))
    assert _run(str(one), "--out", str(reduced), "--catalog", catalog, "--offline", "--force") == 0
    assert (_summary(reduced)[one.name]["status"], _summary(reduced)[one.name]["reused"]) == ("ok", False)


def test_astrometry_limits_reach_the_solver(raw_night: Path, reduced: Path, tmp_path: Path) -> None:
    # The simulated headers point 1.8 arcmin from the truth: a 0.5 arcmin search cannot find it.
    one = next(raw_night.rglob("*-fa99-*-e00.fits.fz"))
    catalog = str(raw_night / "fa99" / "refcat.ecsv")
    limits = ["--astrometry-radius", "0.5", "--astrometry-rotation", "0", "--astrometry-no-mirror"]
    db = ["--db", str(reduced / "calibrations.db")]  # the night's masters, a new products folder
    assert (
        _run(str(one), "--out", str(tmp_path), *db, "--catalog", catalog, "--offline", "--force", *limits)
        == 0
    )
    document = json.loads((tmp_path / "summary.json").read_text())
    assert document["options"]["astrometry"] == {
        "radius_arcmin": 0.5, "max_rotation_deg": 0.0, "allow_mirror": False, "scale_tolerance": 0.05,
    }  # fmt: skip
    figures = _summary(tmp_path)[one.name]["figures"]
    assert isinstance(figures, dict)
    assert figures["WCSERR"] == 4
    assert "within 0.5 arcmin of the pointing, 0 deg, the guess's parity" in str(figures["WCS_reason"])


Pixels = npt.NDArray[np.floating] | npt.NDArray[np.integer]


def _write(path: Path, data: Pixels, **cards: object) -> Path:
    header = fits.Header()
    base = {
        "INSTRUME": "fa99", "OBSTYPE": "EXPOSE", "SITEID": "cpt", "TELESCOP": "1m0-10",
        "DATE-OBS": "2026-01-01T23:30:00.000", "DAY-OBS": "20260101", "EXPTIME": 60.0, "CCDSUM": "1 1",
        "FILTER": "rp", "PIXSCALE": 0.389, "RA": "10:01:00.0", "DEC": "-30:24:00.0",
    }  # fmt: skip
    base.update(cards)
    for key, value in base.items():
        if value is not None:
            header[key] = value
    fits.PrimaryHDU(data, header).writeto(path)
    return path


def _like(source: Path, target: Path, pixels: Callable[[Pixels], Pixels], **cards: str) -> Path:
    """A copy of a raw frame (uncompressed) with its pixels replaced and keywords changed."""
    with fits.open(source) as hdul:
        header = hdul[1].header.copy()
        data = pixels(hdul[1].data)
    for key, value in cards.items():
        header[key] = value
    for key in ("BZERO", "BSCALE"):
        header.remove(key, ignore_missing=True)
    fits.PrimaryHDU(data, header).writeto(target)
    return target


def test_bad_input_never_stops_the_night_nor_prints_a_traceback(
    raw_night: Path, tmp_path: Path, capfd: pytest.CaptureFixture[str]
) -> None:
    night = tmp_path / "night"
    shutil.copytree(raw_night / "kb99", night / "kb99")
    bad = night / "bad"
    bad.mkdir()
    (bad / "notes.fits").write_text("observing log, not a FITS file")
    good = next((night / "kb99").glob("*e00.fits.fz"))
    (bad / "truncated-e00.fits.fz").write_bytes(good.read_bytes()[:5000])
    _write(bad / "noexptime-e00.fits", np.zeros((64, 64), np.float32), EXPTIME=None)
    _write(bad / "nodate-e00.fits", np.zeros((64, 64), np.float32), **{"DATE-OBS": None})
    _write(bad / "unknown-e00.fits", np.zeros((64, 64), np.float32), INSTRUME="zz01")
    _write(bad / "uncalibrated-e00.fits", np.zeros((64, 64), np.float32), INSTRUME="kb42")
    _write(bad / "binned-e00.fits", np.zeros((64, 64), np.float32), INSTRUME="kb99", CCDSUM="1 1")
    _like(good, bad / "zeros-e00.fits", lambda data: np.zeros_like(data))
    _like(good, bad / "nan-e00.fits", lambda data: np.full(data.shape, np.nan, np.float32))
    for number, flat in enumerate(sorted((night / "kb99").glob("*f00.fits.fz"))):
        _like(flat, bad / f"paths-{number}-f00.fits", lambda data: data, FILTER="../../../escape")
        _like(flat, bad / f"sql-{number}-f00.fits", lambda data: data, FILTER="'; DROP TABLE masters; --")
    huge = _write(bad / "huge-e00.fits", np.zeros((8, 8), np.uint16))
    content = bytearray(huge.read_bytes())
    start = content.index(b"NAXIS1  =")
    content[start : start + 80] = f"{'NAXIS1':<8}= {10**9:>20d}".ljust(80).encode()
    huge.write_bytes(bytes(content))

    out = tmp_path / "out"
    catalog = str(raw_night / "fa99" / "refcat.ecsv")
    code = _run(str(night), "--out", str(out), "--catalog", catalog, "--offline")
    captured = capfd.readouterr()
    assert code == 1  # some failed, the rest done
    assert "Traceback" not in captured.out + captured.err
    records = _summary(out)
    kb99 = [r for n, r in records.items() if n.startswith("lsc1m005-kb99")]
    assert len(kb99) == 17
    assert {n: r["status"] for n, r in records.items() if n.startswith("lsc1m005-kb99")} == {
        n: _expected(n) for n in records if n.startswith("lsc1m005-kb99")
    }
    reasons = {name: str(r["reason"]) for name, r in records.items() if r["status"] == "failed"}
    assert "is not a FITS file" in reasons["notes.fits"]
    assert "fz: truncated" in reasons["truncated-e00.fits.fz"]
    assert "EXPTIME is missing" in reasons["noexptime-e00.fits"]
    assert "DATE-OBS is missing" in reasons["nodate-e00.fits"]
    assert "impossible image size" in reasons["huge-e00.fits"] or "truncated" in reasons["huge-e00.fits"]
    assert "no good master bias for kb42" in reasons["uncalibrated-e00.fits"]
    assert "no good master bias for kb99 binning 1x1" in reasons["binned-e00.fits"]
    assert "unknown camera 'zz01'" in reasons["unknown-e00.fits"]
    assert reasons["zeros-e00.fits"] == "zeros-e00.fits: every pixel is 0: the camera read out nothing"
    assert reasons["nan-e00.fits"] == "nan-e00.fits: no pixel has a finite value"
    # Header values that look like paths or SQL make masters with harmless names inside OUT.
    masters = sorted(p.name for p in (out / "masters").glob("*skyflat*"))
    assert len(masters) == 3
    assert all("/" not in name for name in masters)
    assert not [p for p in tmp_path.rglob("*escape*") if not p.resolve().is_relative_to(out.resolve())]
    assert main(["calibrations", "list", "--db", str(out)]) == 0  # the library is intact
    assert "DROP TABLE" in capfd.readouterr().out


def test_usage_errors_exit_2(tmp_path: Path, capfd: pytest.CaptureFixture[str]) -> None:
    assert main(["run", str(tmp_path / "absent"), "--out", str(tmp_path / "out")]) == 2
    assert "no such file or folder" in capfd.readouterr().err
    assert main(["run", "--out", str(tmp_path / "out")]) == 2  # no PATH


def test_a_killed_run_leaves_no_partial_product_and_a_rerun_finishes(raw_night: Path, tmp_path: Path) -> None:
    out = tmp_path / "out"
    catalog = str(raw_night / "fa99" / "refcat.ecsv")
    command = [
        sys.executable, "-m", "lco_cli.main", "run", str(raw_night), "--out", str(out), "--catalog", catalog,
        "--offline", "--workers", "2", "--quiet",
    ]  # fmt: skip
    process = subprocess.Popen(
        command, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True
    )
    deadline = time.time() + 60
    while time.time() < deadline and not list(
        (out / "masters").glob("*.fits.fz") if (out / "masters").exists() else []
    ):
        time.sleep(0.05)
    time.sleep(0.3)
    import os

    os.killpg(process.pid, signal.SIGKILL)
    process.wait()
    for product in [*out.glob("*.fits.fz"), *(out / "masters").glob("*.fits.fz")]:
        with fits.open(product) as hdul:  # every product present is whole
            hdul.verify("exception")
            assert hdul["SCI"].data is not None
    assert (
        main(
            [
                "run",
                str(raw_night),
                "--out",
                str(out),
                "--catalog",
                catalog,
                "--offline",
                "--workers",
                "1",
                "--quiet",
            ]
        )
        == 0
    )
    records = _summary(out)
    assert len(records) == 34
    assert {name: r["status"] for name, r in records.items()} == {name: _expected(name) for name in records}
    assert len(list(out.glob("*-e91.fits.fz"))) == 4
    assert not list(out.rglob(".*.tmp"))


def test_a_dask_cluster_gives_the_serial_results(raw_night: Path, reduced: Path, tmp_path: Path) -> None:
    from dask.distributed import LocalCluster

    from lco_cli.commands.run import reduce_night

    catalog = raw_night / "fa99" / "refcat.ecsv"
    cluster = LocalCluster(n_workers=2, threads_per_worker=1, processes=True, dashboard_address=None)  # type: ignore[no-untyped-call]  # dask has no annotations here
    with cluster:
        result, code = reduce_night(
            (str(raw_night),), out=tmp_path / "dask", catalog=catalog, offline=True,
            scheduler=cluster.scheduler_address, quiet=True,
        )  # fmt: skip
    assert code == 0
    assert len(result.frames) == 34
    products = sorted(reduced.glob("*-e91.fits.fz"))
    assert len(products) == 4
    for product in products:
        serial = read_product(product).frame
        distributed = read_product(tmp_path / "dask" / product.name).frame
        np.testing.assert_array_equal(serial.data, distributed.data)
        np.testing.assert_array_equal(serial.mask, distributed.mask)
        assert serial.sources is not None
        assert distributed.sources is not None
        np.testing.assert_array_equal(serial.sources["flux"], distributed.sources["flux"])
