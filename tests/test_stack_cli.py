"""Coadds from the command line (issue 16): `lco-reduce run` stacks a night's repeated exposures,
`--no-stack` does not, `lco-reduce stack` makes the same coadd from the products, and the grouping
gives known answers on headers.

The truth is the simulator's (zero point, exposure times, frame numbers, file names) and
LCO's and BANZAI's documented conventions (MOLUID groups a molecule's exposures; a smart stack is
named after its first and last frame).
"""

from __future__ import annotations

import datetime as dt
import json
import random
from pathlib import Path

import numpy as np
import pytest
from astropy.io import fits

from lco_cli.main import main
from lco_cli.stacking import (
    StackCandidate,
    candidate_of,
    coadd_name,
    group_candidates,
    observation_of,
    separation_arcsec,
)
from lco_core.header import Header, HeaderCard
from lco_core.io import parse_frame_meta, read_product
from lco_core.meta import ObsType
from lco_instruments.simulate import Night, simulate_night, sinistro
from lco_instruments.simulate.night import make_field

SEED = 31
N_SCIENCE = 4
EXPTIME = 60.0


@pytest.fixture(scope="module")
def stacked_night(tmp_path_factory: pytest.TempPathFactory) -> tuple[Night, Path, dict[str, object]]:
    """A small Sinistro night with four science exposures of one field, reduced with coadds."""
    folder = tmp_path_factory.mktemp("raw") / "fa99"
    sim = sinistro(amp_size=192)
    night = simulate_night(
        folder, sim, n_bias=3, n_dark=3, n_flat=3, n_science=N_SCIENCE, seed=SEED, compress=False,
        science_exptime=EXPTIME, field=make_field(sim, seed=SEED, stars_per_square_degree=60000.0),
    )  # fmt: skip
    out = tmp_path_factory.mktemp("out")
    code = main(
        ["run", str(folder), "--out", str(out), "--min-frames", "3", "--workers", "1", "--quiet",
         "--catalog", str(night.catalog_path), "--offline"]
    )  # fmt: skip
    assert code == 0
    return night, out, json.loads((out / "summary.json").read_text())


def _science_products(night: Night, out: Path) -> list[Path]:
    names = [p.name.replace("-e00.fits", "-e91.fits.fz") for p in night.paths_of(ObsType.EXPOSE)]
    return [out / name for name in names]


def _coadd(out: Path) -> Path:
    (coadd,) = out.glob("*-e92.fits.fz")
    return coadd


def test_run_makes_one_coadd_named_after_its_first_and_last_frame(
    stacked_night: tuple[Night, Path, dict[str, object]],
) -> None:
    night, out, _ = stacked_night
    raw = night.paths_of(ObsType.EXPOSE)
    assert len(raw) == N_SCIENCE
    first, last = raw[0].name, raw[-1].name  # cpt1m010-fa99-20260101-0010-e00.fits, ...-0013-...
    expected = first.replace("-e00.fits", "") + "-" + last.split("-")[3] + "-e92.fits.fz"
    assert _coadd(out).name == expected


def test_the_coadd_is_a_product_solved_and_calibrated(
    stacked_night: tuple[Night, Path, dict[str, object]],
) -> None:
    night, out, _ = stacked_night
    with fits.open(_coadd(out)) as hdul:
        assert [hdu.name for hdu in hdul] == ["PRIMARY", "SCI", "CAT", "BPM", "ERR"]
        header = hdul["SCI"].header
        assert len(hdul["CAT"].data) > 20
    assert header["WCSERR"] == 0
    assert header["L1ZP"] == pytest.approx(night.field.zero_points["rp"], abs=0.05)  # the simulator's
    assert header["RLEVEL"] == 92
    # EXPTIME: the inputs' total (the coadd is in electrons of the summed exposure)
    raw = night.paths_of(ObsType.EXPOSE)
    assert header["EXPTIME"] == pytest.approx(
        sum(t.exptime for t in night.truths if t.obstype is ObsType.EXPOSE)
    )
    assert header["NCOMBINE"] == N_SCIENCE
    inputs = [p.name for p in _science_products(night, out)]
    assert [header[f"IMCOM{n:03d}"] for n in range(1, N_SCIENCE + 1)] == inputs
    # DATE-OBS: the first exposure's start, as its raw header says it
    assert header["DATE-OBS"] == fits.getheader(raw[0])["DATE-OBS"]


def test_the_provenance_names_every_input_and_its_weight(
    stacked_night: tuple[Night, Path, dict[str, object]],
) -> None:
    night, out, _ = stacked_night
    frame = read_product(_coadd(out)).frame
    (step,) = frame.steps("coadd_frames")
    inputs = [p.name for p in _science_products(night, out)]
    named, shares = step.parameters["inputs"], step.parameters["weights"]
    assert isinstance(named, tuple)
    assert list(named) == inputs
    assert isinstance(shares, tuple)
    weights = [float(w) for w in shares if isinstance(w, float)]
    assert len(weights) == N_SCIENCE
    assert sum(weights) == pytest.approx(1.0, abs=1e-5)
    # Four exposures of one sky, one camera and one length: nearly equal weights.
    assert all(0.2 < w < 0.3 for w in weights)


def test_summary_and_report_list_the_coadd_as_its_own_record(
    stacked_night: tuple[Night, Path, dict[str, object]],
) -> None:
    night, out, summary = stacked_night
    coadds = summary["coadds"]
    assert isinstance(coadds, list)
    assert len(coadds) == 1
    (record,) = coadds
    assert record["file"] == str(_coadd(out))
    assert record["status"] == "ok"
    assert record["obstype"] == "STACK"
    assert record["figures"]["inputs"] == [p.name for p in _science_products(night, out)]
    assert record["figures"]["L1ZP"] == pytest.approx(night.field.zero_points["rp"], abs=0.05)
    assert Path(record["thumbnail"]).is_file()
    # The night's frames are the inputs only: the coadd is not counted among them.
    frames = summary["frames"]
    assert isinstance(frames, list)
    assert not any(f["file"] == record["file"] for f in frames)
    report = (out / "report.html").read_text()
    assert "<h2>Coadds</h2>" in report
    assert _coadd(out).name in report


def test_a_rerun_reuses_the_coadd(stacked_night: tuple[Night, Path, dict[str, object]]) -> None:
    night, out, _summary = stacked_night
    coadd = _coadd(out)
    before = coadd.read_bytes()
    code = main(
        ["run", str(night.folder), "--out", str(out), "--min-frames", "3", "--workers", "1", "--quiet",
         "--catalog", str(night.catalog_path), "--offline"]
    )  # fmt: skip
    assert code == 0
    again = json.loads((out / "summary.json").read_text())
    (record,) = again["coadds"]
    assert record["reused"] is True
    assert record["status"] == "ok"
    assert coadd.read_bytes() == before


def test_no_stack_makes_none(stacked_night: tuple[Night, Path, dict[str, object]], tmp_path: Path) -> None:
    night, _, _ = stacked_night
    out = tmp_path / "out"
    code = main(
        ["run", str(night.folder), "--out", str(out), "--min-frames", "3", "--workers", "1", "--quiet",
         "--catalog", str(night.catalog_path), "--offline", "--no-stack"]
    )  # fmt: skip
    assert code == 0
    assert len(list(out.glob("*-e91.fits.fz"))) == N_SCIENCE
    assert not list(out.glob("*-e92*"))
    assert json.loads((out / "summary.json").read_text())["coadds"] == []


def test_stack_command_makes_the_same_coadd(
    stacked_night: tuple[Night, Path, dict[str, object]], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    night, out, _ = stacked_night
    products = _science_products(night, out)
    stacks = tmp_path / "stacks"
    code = main(
        ["stack", *map(str, reversed(products)), "--out", str(stacks), "--catalog", str(night.catalog_path),
         "--offline"]
    )  # fmt: skip
    assert code == 0, capsys.readouterr().err
    made, from_run = read_product(_coadd(stacks)).frame, read_product(_coadd(out)).frame
    assert _coadd(stacks).name == _coadd(out).name
    np.testing.assert_array_equal(made.data, from_run.data)
    np.testing.assert_array_equal(made.mask, from_run.mask)
    np.testing.assert_array_equal(made.uncertainty, from_run.uncertainty)
    assert "4 frames, EXPTIME 240.0 s" in capsys.readouterr().out


def test_stack_refuses_what_is_not_a_science_product_in_one_line(
    stacked_night: tuple[Night, Path, dict[str, object]], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    night, out, _ = stacked_night
    raw = night.paths_of(ObsType.EXPOSE)[0]
    master = next((out / "masters").glob("*-bias-*.fits.fz"))
    products = _science_products(night, out)[:2]
    code = main(
        ["stack", str(raw), str(master), *map(str, products), "--out", str(tmp_path / "s"),
         "--catalog", str(night.catalog_path), "--offline"]
    )  # fmt: skip
    assert code == 1  # files were refused
    err = capsys.readouterr().err.splitlines()
    assert f"lco-reduce stack: {raw}: not a reduced science product (no BPM, ERR extension)" in err
    assert f"lco-reduce stack: {master}: a master calibration, not a science product" in err
    assert not any("Traceback" in line for line in err)
    (coadd,) = (tmp_path / "s").glob("*-e92.fits.fz")  # the two products are still stacked
    assert fits.getheader(coadd, "SCI")["NCOMBINE"] == 2


def test_stack_of_nothing_stackable_exits_1(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    text = tmp_path / "notes.fits"
    text.write_text("not FITS")
    assert main(["stack", str(text), "--out", str(tmp_path / "s")]) == 1
    err = capsys.readouterr().err
    assert "notes.fits" in err
    assert "nothing stacked" in err
    assert "Traceback" not in err


# -- grouping on headers ------------------------------------------------------------------------

START = dt.datetime(2026, 1, 1, 22, 0, tzinfo=dt.UTC)


def _candidate(
    name: str, minutes: float, *, centre: tuple[float, float] = (150.0, -30.0), filter: str = "rp",
    camera: str = "fa05", exptime: float = 60.0, extra: tuple[HeaderCard, ...] = (),
) -> StackCandidate:  # fmt: skip
    start = START + dt.timedelta(minutes=minutes)
    header = Header(
        (
            HeaderCard("INSTRUME", camera), HeaderCard("OBSTYPE", "EXPOSE"), HeaderCard("SITEID", "cpt"),
            HeaderCard("TELESCOP", "1m0-10"), HeaderCard("DATE-OBS", start.strftime("%Y-%m-%dT%H:%M:%S.000")),
            HeaderCard("DAY-OBS", "20260101"), HeaderCard("EXPTIME", exptime), HeaderCard("CCDSUM", "1 1"),
            HeaderCard("FILTER", filter), *extra,
        )
    )  # fmt: skip
    return candidate_of(name, parse_frame_meta(header, path=name, hdu="SCI"), header, centre)


def _names(groups: tuple[object, ...]) -> list[set[str]]:
    return [{m.path for m in group.members} for group in groups]  # type: ignore[attr-defined]


def test_grouping_known_answers() -> None:
    away = (150.0, -30.0 + 300.0 / 3600.0)  # 5 arcmin north: another target
    near = (150.0 + 20.0 / 3600.0 / np.cos(np.radians(30.0)), -30.0)  # a 20 arcsec dither
    frames = [
        _candidate("a1", 0), _candidate("a2", 1.5, centre=near), _candidate("a3", 3),
        _candidate("b1", 4.5, centre=away), _candidate("b2", 6, centre=away),
        _candidate("g1", 7.5, filter="gp"), _candidate("g2", 9, filter="gp"),
        _candidate("late1", 180), _candidate("late2", 181.5),  # two hours later: another sitting
        _candidate("other", 2, camera="fa06"),  # another camera, alone
    ]  # fmt: skip
    groups = group_candidates(frames, max_separation_arcsec=60.0, max_gap_minutes=60.0)
    expected = [{"a1", "a2", "a3"}, {"other"}, {"b1", "b2"}, {"g1", "g2"}, {"late1", "late2"}]
    assert _names(groups) == expected
    shuffled = frames[:]
    random.Random(4).shuffle(shuffled)
    assert _names(group_candidates(shuffled, max_separation_arcsec=60.0, max_gap_minutes=60.0)) == expected
    # Settings move the answers: 10 arcsec parts the dithered frame, a 200-minute gap joins the sittings.
    tight = group_candidates(frames, max_separation_arcsec=10.0, max_gap_minutes=200.0)
    assert {"a2"} in _names(tight)
    assert {"a1", "a3", "late1", "late2"} in _names(tight)


def test_frames_of_two_molecules_are_two_groups_even_at_one_place() -> None:
    # LCO's MOLUID: one molecule's exposures; two requests of one field stay apart.
    one, two = HeaderCard("MOLUID", "206737835"), HeaderCard("MOLUID", "206737999")
    frames = [
        _candidate("m1", 0, extra=(one,)), _candidate("n1", 1.5, extra=(two,)),
        _candidate("m2", 3, extra=(one,)), _candidate("n2", 4.5, extra=(two,)),
        _candidate("plain", 6),
    ]  # fmt: skip
    groups = group_candidates(frames, max_separation_arcsec=60.0, max_gap_minutes=60.0)
    assert _names(groups) == [{"m1", "m2"}, {"n1", "n2"}, {"plain"}]


def test_observation_keys_and_placeholders() -> None:
    header = Header((HeaderCard("MOLUID", "N/A"), HeaderCard("REQNUM", "0000578123")))
    assert observation_of(header) == "REQNUM 0000578123"
    assert observation_of(Header((HeaderCard("MOLUID", "UNSPECIFIED"), HeaderCard("REQNUM", "0000")))) == ""
    assert observation_of(Header((HeaderCard("MOLUID", "206737835"),))) == "MOLUID 206737835"


def test_the_real_headers_observation() -> None:
    real = Path(__file__).resolve().parents[2] / "shared/data/real/neoexchange/test_header"
    if not real.exists():
        pytest.skip("shared/data/real is absent")
    text = real.read_text()
    cards = fits.Header.fromstring(text, sep="\n" if "\n" in text else "")
    header = Header(tuple(HeaderCard(k, v) for k, v in cards.items() if k in ("MOLUID", "REQNUM")))
    assert observation_of(header) == f"MOLUID {cards['MOLUID']}"  # its own card: '206737835'


def test_coadd_names() -> None:
    # BANZAI's smart-stack name (banzai/utils/file_utils.py make_smartstack_filename), our level 92.
    first, last = "cpt1m010-fa05-20260101-0042-e91.fits.fz", "cpt1m010-fa05-20260101-0047-e91.fits.fz"
    assert coadd_name(first, last, 6) == "cpt1m010-fa05-20260101-0042-0047-e92.fits.fz"
    assert coadd_name(first, last, 6, compressed=False) == "cpt1m010-fa05-20260101-0042-0047-e92.fits"
    assert coadd_name("m51_a.fits", "m51_b.fits", 2) == "m51_a-stack2-e92.fits.fz"


def test_separation_known_answers() -> None:
    assert separation_arcsec((10.0, 0.0), (10.0, 1.0)) == pytest.approx(3600.0)
    assert separation_arcsec((0.0, 0.0), (1.0, 0.0)) == pytest.approx(3600.0)
    # 1 degree of RA at Dec 60 is half a degree on the sky (to first order).
    assert separation_arcsec((0.0, 60.0), (1.0, 60.0)) == pytest.approx(1800.0, rel=1e-3)
