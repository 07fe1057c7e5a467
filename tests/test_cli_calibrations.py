"""`lco-reduce calibrations`: listing and marking masters from the command line."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import pytest

from lco_cli.library import CalibrationLibrary, MasterKind
from lco_cli.main import main


def _register(folder: Path) -> None:
    with CalibrationLibrary.at(folder) as library:
        for day, filter_name in ((1, "rp"), (2, "rp")):
            library.register_master(
                kind=MasterKind.SKYFLAT, site="cpt", telescope="1m0-10", camera="fa99", binning="1x1",
                configuration_mode="full_frame", filter=filter_name, set_temperature=None,
                date_obs=dt.datetime(2026, 1, day, 23, tzinfo=dt.UTC),
                path=str(folder / f"cpt1m010-fa99-2026010{day}-skyflat-bin1x1-rp.fits"), checksum=f"c{day}",
            )  # fmt: skip


def test_list_and_mark(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    _register(tmp_path)
    assert main(["calibrations", "list", "--db", str(tmp_path)]) == 0
    listing = capsys.readouterr().out
    assert len(listing.splitlines()) == 2
    assert all(" good skyflat " in line for line in listing.splitlines())
    name = "cpt1m010-fa99-20260102-skyflat-bin1x1-rp.fits"
    assert main(["calibrations", "mark-bad", name, "--db", str(tmp_path)]) == 0
    assert "marked bad" in capsys.readouterr().out
    with CalibrationLibrary.at(tmp_path) as library:
        chosen = library.select_master(
            MasterKind.SKYFLAT, camera="fa99", binning="1x1", configuration_mode="full_frame",
            date_obs=dt.datetime(2026, 1, 2, 23, tzinfo=dt.UTC), filter="rp",
        )  # fmt: skip
    assert chosen.path.endswith("20260101-skyflat-bin1x1-rp.fits")  # the bad one is skipped
    assert main(["calibrations", "mark-good", name, "--db", str(tmp_path)]) == 0
    assert main(["calibrations", "list", "--db", str(tmp_path), "--kind", "bias"]) == 0
    assert "no masters" in capsys.readouterr().out


def test_marking_an_unknown_master_is_one_line_and_exit_2(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    _register(tmp_path)  # a library that exists, without that master
    assert main(["calibrations", "mark-bad", "nothing.fits", "--db", str(tmp_path)]) == 2
    error = capsys.readouterr().err
    assert error.startswith("lco-reduce: ")
    assert "no master" in error
    assert error.count("\n") == 1
