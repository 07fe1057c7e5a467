"""One table of calibration rules (issue 14): the planner, the library, its errors and ``info`` all follow it.

`lco_core.calibration_rules` holds, per master kind, what a master must match, what the frames
stacked into one master share and how the closest master is chosen, and per OBSTYPE which masters
it needs. Each test here changes a rule in the table and watches every reader follow, or checks
the table against what the rest of the pipeline does independently of it (the recipes).
"""

from __future__ import annotations

import datetime as dt
from pathlib import Path
from types import MappingProxyType
from typing import Any

import attrs
import numpy as np
import pytest
from test_library import database_url  # noqa: F401  (a fixture: SQLite, and PostgreSQL when configured)

import lco_core.calibration_rules as rules
from lco_cli.commands.info import describe_file
from lco_cli.discovery import Entry
from lco_cli.library import CalibrationLibrary, MasterEntry, MasterNotFoundError
from lco_cli.main import main
from lco_cli.night import _group_key
from lco_core import Binning, Frame, FrameMeta, ObsType
from lco_core.calibration_rules import FILTER, SET_TEMPERATURE, MasterRule, Match
from lco_core.io import read_master, read_raw
from lco_core.master import Master, MasterKind
from lco_instruments.simulate import (
    Exposure,
    camera_signatures,
    make_field,
    sbig,
    simulate_frame,
    simulate_night,
    sinistro,
    write_frame,
)
from lco_stages.masters import Assessment, StackSettings, choose_frames
from lco_stages.recipes import REDUCED, Calibrations, MissingCalibrationError, recipe_for

T0 = dt.datetime(2026, 1, 1, 22, 0, tzinfo=dt.UTC)
HOUR = dt.timedelta(hours=1)


def _changed(monkeypatch: pytest.MonkeyPatch, kind: MasterKind, rule: MasterRule) -> None:
    """Replace one kind's rule in the table for the rest of the test."""
    monkeypatch.setattr(rules, "RULES", MappingProxyType({**rules.RULES, kind: rule}))


def _without(rule: MasterRule, fact: rules.Fact) -> MasterRule:
    return attrs.evolve(rule, match=tuple(m for m in rule.match if m.fact != fact))


def _with(rule: MasterRule, match: Match) -> MasterRule:
    return attrs.evolve(rule, match=(*rule.match, match))


# -- the table against the recipes -------------------------------------------------------------


def _frame(meta: FrameMeta) -> Frame:
    data = np.ones((4, 4))
    return Frame(meta=meta, data=data, mask=np.zeros((4, 4), np.uint8), uncertainty=data * 0.1)


def _meta(obstype: ObsType = ObsType.BIAS, **changes: Any) -> FrameMeta:
    meta = FrameMeta(
        filename="lsc1m005-kb99-20260101-0001-b00.fits", obstype=obstype, site="lsc", telescope="1m0-05",
        camera="kb99", day_obs=dt.date(2026, 1, 1), date_obs=T0, exptime=1.0, binning=Binning(2, 2),
        filter="rp", configuration_mode="full_frame", ccd_set_temperature=-20.0,
    )  # fmt: skip
    return attrs.evolve(meta, **changes)


def test_the_masters_each_obstype_needs_are_the_ones_its_recipe_requires() -> None:
    """NEEDS is checked against lco_stages.recipes, which raise for a missing master on their own."""
    camera = sinistro(amp_size=16).camera
    masters = {
        MasterKind.BIAS: Master(MasterKind.BIAS, _frame(_meta(ObsType.BIAS)), ["b"], bias_level=1.0),
        MasterKind.DARK: Master(MasterKind.DARK, _frame(_meta(ObsType.DARK)), ["d"]),
        MasterKind.SKYFLAT: Master(MasterKind.SKYFLAT, _frame(_meta(ObsType.SKYFLAT)), ["f"]),
    }
    field = {MasterKind.BIAS: "bias", MasterKind.DARK: "dark", MasterKind.SKYFLAT: "flat"}
    assert set(rules.NEEDS) == set(REDUCED)
    for obstype in REDUCED:
        every = Calibrations(
            bias=masters[MasterKind.BIAS], dark=masters[MasterKind.DARK], flat=masters[MasterKind.SKYFLAT]
        )
        recipe_for(obstype, camera, every)
        for kind in MasterKind:
            others = attrs.evolve(every, **{field[kind]: None})
            if kind in rules.masters_needed(obstype):
                with pytest.raises(MissingCalibrationError, match=f"needs a master {field[kind]}"):
                    recipe_for(obstype, camera, others)
            else:
                recipe_for(obstype, camera, others)
    assert rules.masters_needed(ObsType.GUIDE) == ()


def test_frames_are_grouped_by_every_grouped_fact_and_by_nothing_else() -> None:
    """The documented grouping: one night (DAY-OBS) of one site, telescope, camera, binning and
    mode, and one filter for flats; neither the time of night nor, for darks, the set point (quality
    control holds each dark to its own) splits a group."""
    changes: dict[str, Any] = {
        "site": "cpt", "telescope": "1m0-10", "camera": "kb98", "binning": Binning(1, 1),
        "configuration_mode": "central_2k_2x2", "filter": "ip", "ccd_set_temperature": -25.0,
        "day_obs": dt.date(2026, 1, 2), "date_obs": T0 + HOUR,
    }  # fmt: skip
    splits = {"site", "telescope", "camera", "binning", "configuration_mode", "day_obs"}
    expected = {
        MasterKind.BIAS: splits,
        MasterKind.DARK: splits,
        MasterKind.SKYFLAT: splits | {"filter"},
    }
    for kind, split in expected.items():
        base = rules.group_key(_meta(kind.obstype), kind)
        found = {
            name for name, value in changes.items() if rules.group_key(_meta(**{name: value}), kind) != base
        }
        assert found == split, kind


def test_a_rule_needs_its_camera_and_stored_facts() -> None:
    bias = rules.rule_for(MasterKind.BIAS)
    with pytest.raises(ValueError, match="only its own camera"):
        _without(bias, rules.CAMERA)
    with pytest.raises(ValueError, match="does not keep night"):
        _with(bias, Match(rules.DAY_OBS))
    with pytest.raises(ValueError, match="filter is not a number"):
        Match(FILTER, tolerance=1.0)
    with pytest.raises(ValueError, match="must be >= 0"):
        Match(SET_TEMPERATURE, tolerance=-1.0)


# -- a changed rule, followed everywhere -------------------------------------------------------


def _run(raw: Path, out: Path) -> CalibrationLibrary:
    code = main(["run", str(raw), "--out", str(out), "--min-frames", "3", "--workers", "1", "--quiet"])
    assert code == 0
    return CalibrationLibrary.at(out, create=False)


def test_the_night_groups_its_frames_by_the_table(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """A whole run: the biases of two nights make one master each, and one master of both nights
    once the table no longer groups biases by DAY-OBS."""
    sim = sbig(size=256)
    raw = tmp_path / "raw"
    for night, start in enumerate((T0, T0 + 24 * HOUR), start=1):
        simulate_night(
            raw / f"night{night}", sim, n_bias=3, n_dark=0, n_flat=0, n_science=0, seed=night,
            start=start, compress=False,
        )  # fmt: skip
    names = sorted(p.name for p in raw.rglob("*-b00.fits"))
    assert len(names) == 6
    with _run(raw, tmp_path / "real") as library:
        masters = library.masters(kind=MasterKind.BIAS)
        assert [len(read_master(m.path).inputs) for m in masters] == [3, 3]
        assert sorted(name for m in masters for name in read_master(m.path).inputs) == names
    bias = rules.rule_for(MasterKind.BIAS)
    _changed(monkeypatch, MasterKind.BIAS, attrs.evolve(bias, group=(rules.SITE, rules.TELESCOPE)))
    with _run(raw, tmp_path / "changed") as library:
        (master,) = library.masters(kind=MasterKind.BIAS)
        assert sorted(read_master(master.path).inputs) == names


def _science(tmp_path: Path, *, filter: str, at: dt.datetime) -> Path:
    """A raw SBIG science frame (kb99, 2x2, full_frame, CCDSTEMP -20) in ``filter``."""
    sim = sbig(size=256)
    signatures, field = camera_signatures(sim, seed=2), make_field(sim, seed=2)
    exposure = Exposure(ObsType.EXPOSE, 60.0, at, 400, filter=filter)
    return write_frame(tmp_path, simulate_frame(sim, signatures, field, exposure, seed=2))


def _grouped_together(kind: MasterKind, one: FrameMeta, other: FrameMeta) -> bool:
    """Whether the night's planner puts two calibration frames into the same master."""
    shapes = ((128, 128),)
    return _group_key(Entry(Path("a.fits"), one, shapes=shapes), kind) == _group_key(
        Entry(Path("b.fits"), other, shapes=shapes), kind
    )


def _select_flat(library: CalibrationLibrary, meta: FrameMeta, **changes: Any) -> MasterEntry:
    meta = attrs.evolve(meta, **changes)
    return library.select_master(
        MasterKind.SKYFLAT, camera=meta.camera, binning=meta.binning,
        configuration_mode=meta.configuration_mode, date_obs=meta.date_obs, filter=meta.filter,
    )  # fmt: skip


def test_flats_that_no_longer_match_the_filter_change_groups_selection_errors_and_info(
    database_url: str,  # noqa: F811
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """The sky flat's FILTER match taken out of the table (on SQLite and PostgreSQL): the planner
    groups flats of two filters together, the library serves a frame of a third filter, and the
    error and ``info`` no longer ask for a filter."""
    path = _science(tmp_path, filter="zs", at=T0 + HOUR)
    meta = read_raw(path).meta
    rp, ip = (_meta(ObsType.SKYFLAT, filter=name) for name in ("rp", "ip"))
    with CalibrationLibrary(database_url) as library:
        far = _register(library, MasterKind.SKYFLAT, filter="ip", temperature=-20.0, at=T0 - 24 * HOUR)
        near = _register(library, MasterKind.SKYFLAT, filter="rp", temperature=-20.0, at=T0)
        # The real rules: flats of one filter each; none for 'zs'.
        assert not _grouped_together(MasterKind.SKYFLAT, rp, ip)
        assert _select_flat(library, meta, filter="ip") == far
        with pytest.raises(MasterNotFoundError) as real_error:
            _select_flat(library, meta, binning=Binning(1, 1))
        real = "\n".join(describe_file(path, library))

        _changed(monkeypatch, MasterKind.SKYFLAT, _without(rules.rule_for(MasterKind.SKYFLAT), FILTER))
        assert _grouped_together(MasterKind.SKYFLAT, rp, ip)
        assert _select_flat(library, meta, filter="ip") == near
        with pytest.raises(MasterNotFoundError) as changed_error:
            _select_flat(library, meta, binning=Binning(1, 1))
        changed = "\n".join(describe_file(path, library))
    assert str(real_error.value) == (
        "no good master skyflat for kb99 binning 1x1 mode full_frame filter 'zs' "
        "(closest: 2026-01-01 for binning 2x2, filter 'rp')"
    )
    assert str(changed_error.value) == (
        "no good master skyflat for kb99 binning 1x1 mode full_frame (closest: 2026-01-01 for binning 2x2)"
    )
    request = "  master skyflat for kb99 binning 2x2 mode full_frame"
    assert f"{request} filter 'zs': none (closest: 2026-01-01 for filter 'rp')" in real
    assert f"{request}: {Path(near.path).name} (2026-01-01 22:00)" in changed


def _register(
    library: CalibrationLibrary, kind: MasterKind, *, filter: str, temperature: float, at: dt.datetime
) -> MasterEntry:
    return library.register_master(
        kind=kind, site="lsc", telescope="1m0-05", camera="kb99", binning="2x2",
        configuration_mode="full_frame", filter=filter, set_temperature=temperature, date_obs=at,
        path=f"/masters/{kind.value}-{filter}-{temperature:g}-{at:%H%M}.fits", checksum="c" * 64,
    )  # fmt: skip


def _select_dark(library: CalibrationLibrary, meta: FrameMeta) -> MasterEntry:
    return library.select_master(
        MasterKind.DARK, camera=meta.camera, binning=meta.binning,
        configuration_mode=meta.configuration_mode, date_obs=meta.date_obs, filter=meta.filter,
        set_temperature=meta.ccd_set_temperature,
    )  # fmt: skip


def test_darks_that_must_match_the_filter_change_groups_selection_errors_and_info(
    database_url: str,  # noqa: F811
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Darks matched on FILTER too (on SQLite and PostgreSQL): the planner groups darks of two
    filters apart, the library picks the dark of the frame's filter over a closer one, and the error
    and ``info`` ask for the filter."""
    path = _science(tmp_path, filter="ip", at=T0 + 2 * HOUR)
    meta = read_raw(path).meta
    rp, ip = (_meta(ObsType.DARK, filter=name) for name in ("rp", "ip"))
    with CalibrationLibrary(database_url) as library:
        far_ip = _register(library, MasterKind.DARK, filter="ip", temperature=-20.0, at=T0 - 24 * HOUR)
        near_rp = _register(library, MasterKind.DARK, filter="rp", temperature=-20.0, at=T0 + HOUR)
        assert _select_dark(library, meta) == near_rp
        real = "\n".join(describe_file(path, library))
        dark = rules.rule_for(MasterKind.DARK)
        assert _grouped_together(MasterKind.DARK, rp, ip)
        _changed(monkeypatch, MasterKind.DARK, _with(dark, Match(FILTER)))
        assert not _grouped_together(MasterKind.DARK, rp, ip)
        assert _select_dark(library, meta) == far_ip
        with pytest.raises(MasterNotFoundError) as error:
            _select_dark(library, attrs.evolve(meta, filter="zs"))
        assert str(error.value) == (
            "no good master dark for kb99 binning 2x2 mode full_frame set temperature -20+/-1 C filter 'zs' "
            "(closest: 2026-01-01 for filter 'rp')"
        )
        changed = "\n".join(describe_file(path, library))
    request = "  master dark for kb99 binning 2x2 mode full_frame set temperature -20+/-1 C"
    assert f"{request}: {Path(near_rp.path).name} (2026-01-01 23:00)" in real
    assert f"{request} filter 'ip': {Path(far_ip.path).name} (2025-12-31 22:00)" in changed


def test_a_changed_dark_tolerance_changes_selection_errors_and_info(
    database_url: str,  # noqa: F811
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """The dark's set-temperature tolerance narrowed in the table: the library refuses a dark 0.5 C
    off, and the error and ``info`` say the new tolerance."""
    path = _science(tmp_path, filter="rp", at=T0)
    meta = read_raw(path).meta  # CCDSTEMP -20
    with CalibrationLibrary(database_url) as library:
        warm = _register(library, MasterKind.DARK, filter="rp", temperature=-19.5, at=T0)
        assert _select_dark(library, meta) == warm
        dark = rules.rule_for(MasterKind.DARK)
        _changed(monkeypatch, MasterKind.DARK, dark.with_tolerance(SET_TEMPERATURE, 0.25))
        with pytest.raises(MasterNotFoundError) as error:
            _select_dark(library, meta)
        info = "\n".join(describe_file(path, library))
    assert str(error.value) == (
        "no good master dark for kb99 binning 2x2 mode full_frame set temperature -20+/-0.25 C "
        "(closest: 2026-01-01 for set temperature -19.5 C)"
    )
    assert (
        "  master dark for kb99 binning 2x2 mode full_frame set temperature -20+/-0.25 C: none "
        "(closest: 2026-01-01 for set temperature -19.5 C)"
    ) in info


def test_the_documented_table_is_made_from_the_rules(monkeypatch: pytest.MonkeyPatch) -> None:
    """docs/calibration-library.rst prints `rules_table` at build time; a changed rule changes it."""
    page = (Path(__file__).resolve().parents[1] / "docs" / "calibration-library.rst").read_text()
    assert "print(rules_table())" in page
    assert "print(needs_table())" in page
    table = rules.rules_table()
    rows = table.split("   * - ")
    (filter_row,) = [row for row in rows if row.startswith("filter")]
    assert [line.strip().removeprefix("-").strip() for line in filter_row.splitlines()[1:]] == [
        "",
        "",
        "must match; grouped",
    ]
    (temperature_row,) = [row for row in rows if row.startswith("set temperature")]
    assert "must be within 1 C (when both are known)" in temperature_row
    _changed(monkeypatch, MasterKind.SKYFLAT, _without(rules.rule_for(MasterKind.SKYFLAT), FILTER))
    assert not [row for row in rules.rules_table().split("   * - ") if row.startswith("filter")]


def test_a_master_is_made_from_the_frames_its_rule_lets_share_it(monkeypatch: pytest.MonkeyPatch) -> None:
    """Master making holds a group to the rule's exact matches, not to a key of its own."""
    flats = [
        Assessment(_meta(ObsType.SKYFLAT, filter=band, filename=f"f{n}.fits"), accepted=True, reason="")
        for n, band in enumerate(["rp", "rp", "V", "V"])
    ]
    with pytest.raises(ValueError, match="different groups"):
        choose_frames(flats, MasterKind.SKYFLAT, settings=StackSettings(min_frames=2))
    _changed(monkeypatch, MasterKind.SKYFLAT, _without(rules.RULES[MasterKind.SKYFLAT], rules.FILTER))
    assert len(choose_frames(flats, MasterKind.SKYFLAT, settings=StackSettings(min_frames=2))) == 4
    darks = [_meta(ObsType.DARK, ccd_set_temperature=t) for t in (-20.0, -20.5)]
    assessments = [Assessment(meta, accepted=True, reason="") for meta in darks]
    # Matched within a tolerance, the set temperature never splits a master's frames.
    assert len(choose_frames(assessments, MasterKind.DARK, settings=StackSettings(min_frames=2))) == 2
