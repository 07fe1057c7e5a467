"""A night with injected defects, end to end: the simulator floods one sky flat and corrupts one
science readout; the run keeps the flat out of the master, writes the science product as degraded,
and says so in summary.json, the product's header and the report. The clean frames of the same
night pass every test (no false alarm)."""

from __future__ import annotations

import datetime as dt
import json
from pathlib import Path

import attrs
import pytest
from astropy.io import fits

from lco_cli.main import main
from lco_core.meta import ObsType
from lco_instruments.simulate import Night, sbig, simulate_night, sinistro
from lco_instruments.simulate.frames import FrameDefects, simulate_frame
from lco_instruments.simulate.night import make_field, night_plan, write_frame

SEED = 23
START = dt.datetime(2026, 1, 1, 22, 0, tzinfo=dt.UTC)


@pytest.fixture(scope="module")
def defective_night(tmp_path_factory: pytest.TempPathFactory) -> tuple[Night, Path, Path, dict[str, object]]:
    """A small Sinistro night whose third flat is 30% flooded and whose first science frame's second
    amplifier is 40% stuck at 1000 ADU; the defective frames replace the clean ones under the same names."""
    folder = tmp_path_factory.mktemp("raw") / "fa99"
    sim = sinistro(amp_size=192)
    night = simulate_night(
        folder, sim, n_bias=3, n_dark=3, n_flat=4, n_science=2, seed=SEED, start=START, compress=False,
        field=make_field(sim, seed=SEED, stars_per_square_degree=60000.0),  # enough stars to solve
    )  # fmt: skip
    # The same plan simulate_night drew (same seed), so the defective frames are the same exposures.
    plan = night_plan(
        n_bias=3, n_dark=3, n_flat=4, n_science=2, filter="rp", dark_exptime=300.0, flat_exptime=5.0,
        science_exptime=60.0, start=START, seed=SEED,
    )  # fmt: skip
    assert [e.exptime for e in plan] == [t.exptime for t in night.truths]
    flats = [e for e in plan if e.obstype is ObsType.SKYFLAT]
    science = [e for e in plan if e.obstype is ObsType.EXPOSE]
    flooded = attrs.evolve(flats[2], defects=FrameDefects(saturated_fraction=0.3))
    stuck = attrs.evolve(
        science[0], defects=FrameDefects(stuck_fraction=0.4, stuck_value=1000, stuck_amplifier=2)
    )
    paths = [
        write_frame(
            folder, simulate_frame(sim, night.signatures, night.field, exposure, seed=SEED), compress=False
        )
        for exposure in (flooded, stuck)
    ]
    assert set(paths) <= set(night.paths)  # the clean frames were overwritten, not joined
    out = tmp_path_factory.mktemp("out")
    code = main(
        ["run", str(folder), "--out", str(out), "--min-frames", "3", "--workers", "1", "--quiet",
         "--catalog", str(night.catalog_path), "--offline"]
    )  # fmt: skip
    assert code == 0  # a degraded frame and a skipped flat are not failures
    summary = json.loads((out / "summary.json").read_text())
    return night, paths[0], paths[1], summary


def _records(summary: dict[str, object]) -> dict[str, dict[str, object]]:
    frames = summary["frames"]
    assert isinstance(frames, list)
    return {Path(str(f["file"])).name: f for f in frames}


def _figures(record: dict[str, object]) -> dict[str, object]:
    figures = record["figures"]
    assert isinstance(figures, dict)
    return figures


def test_the_flooded_flat_stays_out_of_the_master(
    defective_night: tuple[Night, Path, Path, dict[str, object]],
) -> None:
    _, flat, _, summary = defective_night
    record = _records(summary)[flat.name]
    assert record["status"] == "skipped"
    assert "quality test saturation" in str(record["reason"])
    figures = record["figures"]
    assert isinstance(figures, dict)
    assert figures["quality"] == "reject"
    # The simulator flooded 30% of the columns; the measured fraction is the trimmed frame's.
    assert figures["quality_saturation"] == pytest.approx(0.3, abs=0.03)
    masters = summary["masters"]
    assert isinstance(masters, list)
    (flat_master,) = [m for m in masters if m["kind"] == "skyflat"]
    assert flat.name not in {Path(p).name for p in flat_master["inputs"]}
    assert len(flat_master["inputs"]) == 3


def test_the_stuck_science_frame_is_degraded_and_its_product_says_why(
    defective_night: tuple[Night, Path, Path, dict[str, object]],
) -> None:
    _, _, science, summary = defective_night
    record = _records(summary)[science.name]
    assert record["status"] == "degraded"
    shortfalls = record["shortfalls"]
    assert isinstance(shortfalls, list)
    assert any(s["step"] == "quality" and s["reason"].startswith("single_value") for s in shortfalls)
    figures = record["figures"]
    assert isinstance(figures, dict)
    assert figures["quality_single_value"] == pytest.approx(0.4, abs=0.02)  # the injected fraction
    products = record["products"]
    assert isinstance(products, list)
    with fits.open(products[0]) as product:
        header = product["SCI"].header
        assert header["L1QC"] == "reject"
        assert header["FRAC1000"] == pytest.approx(0.4, abs=0.02)


def test_the_clean_frames_pass_and_the_night_lists_the_rejected(
    defective_night: tuple[Night, Path, Path, dict[str, object]],
) -> None:
    _, flat, science, summary = defective_night
    records = _records(summary)
    clean = {name: r for name, r in records.items() if name not in (flat.name, science.name)}
    assert len(clean) == 3 + 3 + 3 + 1
    verdicts = {name: _figures(record).get("quality") for name, record in clean.items()}
    assert set(verdicts.values()) == {"pass"}, verdicts
    quality = summary["quality"]
    assert isinstance(quality, dict)
    assert quality["verdicts"] == {"pass": 10, "warn": 0, "reject": 2, "unchecked": 0}
    assert {Path(f["file"]).name for f in quality["flagged"]} == {flat.name, science.name}
    depth = summary["depth"]
    assert isinstance(depth, list)
    assert [(d["camera"], d["filter"]) for d in depth] == [("fa99", "rp")]
    clean_science = next(r for r in clean.values() if r["obstype"] == "EXPOSE")
    assert clean_science["status"] == "ok", clean_science["reason"]
    figures = clean_science["figures"]
    assert isinstance(figures, dict)
    assert figures["quality_pointing"] is not None  # solved, and within LCO's pointing


def test_the_terminal_names_each_warning(tmp_path: Path, capfd: pytest.CaptureFixture[str]) -> None:
    """A header gain 10% too high and a science frame with periodic readout noise: not failures,
    but each is said on the terminal, one line, besides summary.json and the report."""
    sim = sbig(size=256)
    folder = tmp_path / "kb99"
    night = simulate_night(
        folder, sim, n_bias=3, n_dark=3, n_flat=3, n_science=1, seed=SEED, start=START, compress=False,
        header_gain_factor=1.1,
    )  # fmt: skip
    plan = night_plan(
        n_bias=3, n_dark=3, n_flat=3, n_science=1, filter="rp", dark_exptime=300.0, flat_exptime=5.0,
        science_exptime=60.0, start=START, seed=SEED, header_gain_factor=1.1,
    )  # fmt: skip
    noisy = attrs.evolve(plan[-1], defects=FrameDefects(pattern_amplitude=2 * sim.electronics[0].read_noise))
    write_frame(folder, simulate_frame(sim, night.signatures, night.field, noisy, seed=SEED), compress=False)
    capfd.readouterr()
    args = ["run", str(folder), "--out", str(tmp_path / "out"), "--min-frames", "3", "--workers", "1"]
    main([*args, "--catalog", str(night.catalog_path), "--offline"])
    out = capfd.readouterr().err  # the terminal's lines go to stderr
    lines = [line for line in out.splitlines() if line.startswith("warning")]
    assert any("amplifier 1" in line and "gain" in line and "9." in line for line in lines), out
    assert any("warned by the pattern_noise test" in line for line in lines), lines
