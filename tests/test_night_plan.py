"""Issue 14: the night as a pure plan (`lco_cli.plan`) that `lco_cli.night` carries out.

The plans here are made from headers alone (no pixel is read) and checked against what the
simulator wrote (its own list of frames and their OBSTYPEs and filters), the files a test wrote
itself, the files a real run left on disk, and the library's documented rule (the closest
suitable master in time serves a frame: docs/architecture.rst, "Calibration library").
"""

from __future__ import annotations

import datetime as dt
import json
import pickle
import shutil
from pathlib import Path
from typing import Any

import attrs
import numpy as np
import pytest
from astropy.io import fits

from lco_cli.discovery import Entry
from lco_cli.library import CalibrationLibrary, FrameRecord, MasterEntry
from lco_cli.main import main
from lco_cli.night import RunOptions, _group_key, plan_run
from lco_cli.plan import (
    Candidate,
    MasterChoice,
    MasterUnavailableError,
    NightFiles,
    NightPlan,
    describe_plan,
    plan_as_json,
    plan_night,
)
from lco_cli.work import product_name
from lco_core import Binning, FrameMeta, ObsType
from lco_core.errors import LcoError
from lco_core.io import read_master
from lco_core.master import MasterKind
from lco_instruments.simulate import FrameTruth, Night, sbig, simulate_night

KINDS = {ObsType.BIAS: MasterKind.BIAS, ObsType.DARK: MasterKind.DARK, ObsType.SKYFLAT: MasterKind.SKYFLAT}
RUN = ("--min-frames", "3", "--workers", "1", "--quiet", "--offline")


@pytest.fixture(scope="module")
def small_night(tmp_path_factory: pytest.TempPathFactory) -> Night:
    """One SBIG camera, 128x128 binned pixels: 3 biases, 3 darks, 3 flats, 2 science frames."""
    folder = tmp_path_factory.mktemp("raw") / "kb99"
    return simulate_night(
        folder, sbig(size=256), n_bias=3, n_dark=3, n_flat=3, n_science=2, seed=21, compress=False
    )


def _truths(night: Night) -> dict[str, FrameTruth]:
    """What the simulator wrote into each file, by the file's name."""
    return {path.name: truth for path, truth in zip(night.paths, night.truths, strict=True)}


def _resolved(paths: Any) -> list[Path]:
    return sorted(Path(p).resolve() for p in paths)


def _copy(source: Path, target: Path, **cards: object) -> Path:
    """A copy of an uncompressed raw frame with header keywords set."""
    with fits.open(source) as hdul:
        image = next(hdu for hdu in hdul if hdu.data is not None)
        header = image.header.copy()
        pixels = np.array(image.data)
    for key in ("BZERO", "BSCALE"):
        header.remove(key, ignore_missing=True)
    for key, value in cards.items():
        header[key] = value
    target.parent.mkdir(parents=True, exist_ok=True)
    fits.PrimaryHDU(pixels, header).writeto(target)
    return target


def _tree(folder: Path) -> dict[str, tuple[int, int]]:
    """Every file under ``folder`` with its size and modification time (ns)."""
    return {
        str(p.relative_to(folder)): (p.stat().st_size, p.stat().st_mtime_ns)
        for p in sorted(folder.rglob("*"))
        if p.is_file()
    }


# -- the plan of a simulated night --------------------------------------------------------------


def test_the_plan_groups_the_simulated_frames_in_dependency_order(small_night: Night, tmp_path: Path) -> None:
    """Each master group holds exactly the simulator's frames of its OBSTYPE; biases come
    before darks before flats before science; each science frame uses the night's three groups;
    the library being empty, nothing is done or taken from it; OUT is not even created."""
    out = tmp_path / "out"
    plan = plan_run([small_night.folder], RunOptions(out=out))
    assert not out.exists()
    assert [g.kind for g in plan.groups] == [MasterKind.BIAS, MasterKind.DARK, MasterKind.SKYFLAT]
    assert [g.number for g in plan.groups] == [1, 2, 3]
    by_kind = {g.kind: g for g in plan.groups}
    for obstype, kind in KINDS.items():
        assert _resolved(e.path for e in by_kind[kind].frames) == _resolved(small_night.paths_of(obstype))
    science = small_night.paths_of(ObsType.EXPOSE)
    assert _resolved(f.entry.path for f in plan.science) == _resolved(science)
    assert plan.refused == ()
    assert plan.done == ()
    assert _resolved(plan.files) == _resolved(small_night.paths)
    # The flats' filter is the one the simulator gave them, and the science frames'.
    truths = _truths(small_night)
    flat_filters = {truths[e.path.name].filter for e in by_kind[MasterKind.SKYFLAT].frames}
    assert flat_filters == {truths[p.name].filter for p in science}
    assert by_kind[MasterKind.SKYFLAT].target.name.endswith(f"-{flat_filters.pop()}.fits.fz")

    def only_group(choice: MasterChoice | None) -> int:
        assert choice is not None
        (candidate,) = choice.candidates  # the empty library offers nothing
        assert candidate.library is None
        assert choice.missing
        return candidate.group

    numbers = {kind: group.number for kind, group in by_kind.items()}
    assert only_group(by_kind[MasterKind.DARK].bias) == numbers[MasterKind.BIAS]
    assert only_group(by_kind[MasterKind.SKYFLAT].bias) == numbers[MasterKind.BIAS]
    assert only_group(by_kind[MasterKind.SKYFLAT].dark) == numbers[MasterKind.DARK]
    assert by_kind[MasterKind.BIAS].bias is None
    assert by_kind[MasterKind.BIAS].dark is None
    for frame in plan.science:
        assert [only_group(c) for c in (frame.bias, frame.dark, frame.flat)] == [
            numbers[MasterKind.BIAS], numbers[MasterKind.DARK], numbers[MasterKind.SKYFLAT]
        ]  # fmt: skip


def test_the_plan_is_a_frozen_picklable_value(small_night: Night, tmp_path: Path) -> None:
    plan = plan_run([small_night.folder], RunOptions(out=tmp_path / "out"))
    copy = pickle.loads(pickle.dumps(plan))
    assert copy == plan
    assert describe_plan(copy) == describe_plan(plan)
    with pytest.raises(attrs.exceptions.FrozenInstanceError):
        plan.groups = ()  # type: ignore[misc]
    with pytest.raises(attrs.exceptions.FrozenInstanceError):
        plan.groups[0].frames = ()  # type: ignore[misc]
    assert isinstance(plan.groups, tuple)
    assert isinstance(plan.science, tuple)


def test_refused_files_are_planned_with_their_reasons(small_night: Night, tmp_path: Path) -> None:
    """Files the test wrote wrongly on purpose: each is refused in the plan with its reason, and
    a science frame in a filter no flat has is planned without a flat, saying why."""
    raw = tmp_path / "raw"
    shutil.copytree(small_night.folder, raw / "night")
    flat = small_night.paths_of(ObsType.SKYFLAT)[0]
    science = small_night.paths_of(ObsType.EXPOSE)[0]
    copy = raw / "zcopy" / science.name  # after night/ in path order: the copy is the second
    copy.parent.mkdir()
    shutil.copy(science, copy)
    expected = {
        copy: ("skipped", "the same bytes", "inspect"),
        _copy(flat, raw / "odd" / "nofilter-f00.fits", FILTER="UNKNOWN"): ("failed", "FILTER", "skyflat"),
        _copy(science, raw / "odd" / "guide-e00.fits", OBSTYPE="GUIDE"): ("skipped", "GUIDE", "inspect"),
        _copy(science, raw / "odd" / "unknown-e00.fits", INSTRUME="zz01"): ("failed", "zz01", "inspect"),
    }
    other_filter = _copy(science, raw / "odd" / "zs-e00.fits", FILTER="zs")
    plan = plan_run([raw], RunOptions(out=tmp_path / "out"))
    refused = {r.path.resolve(): r for r in plan.refused}
    assert set(refused) == {p.resolve() for p in expected}
    for path, (status, words, phase) in expected.items():
        refusal = refused[path.resolve()]
        assert (refusal.status, refusal.phase) == (status, phase), refusal
        assert words in refusal.reason, refusal
    (frame,) = [f for f in plan.science if f.entry.path.resolve() == other_filter.resolve()]
    assert frame.flat.candidates == ()  # the night's flats are in another filter, the library is empty
    assert "'zs'" in frame.flat.missing
    with pytest.raises(MasterUnavailableError, match="'zs'"):
        frame.flat.resolve({})
    lines = describe_plan(plan)
    assert any(line.startswith("skipped") and copy.name in line for line in lines)
    assert any(line.startswith("failed") and "nofilter-f00.fits" in line for line in lines)


# -- the plan on the command line, and carried out ------------------------------------------


def test_run_plan_prints_the_plan_writes_nothing_and_the_run_makes_what_it_says(
    small_night: Night, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """``run --plan`` prints one line per group and frame and creates nothing; the run then
    writes the masters the plan named, of the frames it named, and the products of the
    science frames it named; a second ``--plan`` finds everything done and changes no file."""
    out = tmp_path / "out"
    catalog = ("--catalog", str(small_night.catalog_path))
    assert main(["run", str(small_night.folder), "--out", str(out), "--plan", *catalog]) == 0
    printed = capsys.readouterr().out.splitlines()
    assert not out.exists()
    names = [p.name for p in small_night.paths]
    for name in names:  # every frame has its line
        assert sum(name in line for line in printed) == 1, name
    for number, kind in enumerate(("bias", "dark", "skyflat"), start=1):
        assert sum(line.startswith(f"{kind:7s} #{number} ") for line in printed) == 1
    assert main(["run", str(small_night.folder), "--out", str(out), "--plan", "--json"]) == 0
    document = json.loads(capsys.readouterr().out)
    assert not out.exists()
    planned = {Path(g["target"]).name: sorted(Path(f).name for f in g["frames"]) for g in document["groups"]}
    products = sorted(product_name(Path(f["file"]).name) for f in document["science"])

    assert main(["run", str(small_night.folder), "--out", str(out), *RUN, *catalog]) == 0
    made = {
        p.name: sorted(read_master(p).inputs)
        for p in (out / "masters").glob("*.fits.fz")
        if "-bpm-" not in p.name
    }
    assert made == planned
    assert sorted(p.name for p in out.glob("*-e91.fits.fz")) == products

    before = _tree(out)
    assert main(["run", str(small_night.folder), "--out", str(out), "--plan", *catalog]) == 0
    printed = capsys.readouterr().out.splitlines()
    assert _tree(out) == before
    assert sum(line.startswith("done") for line in printed) == len(names)
    assert not any(line.startswith(("bias", "dark", "skyflat", "science")) for line in printed)


def test_science_frames_alone_are_planned_with_the_library_masters(
    small_night: Night, tmp_path: Path
) -> None:
    """After a run of the calibration frames, a plan of them and the science frames finds them
    done and names, for each science frame, the master files that run wrote."""
    calibrations = tmp_path / "calibrations"
    calibrations.mkdir()
    for path, truth in zip(small_night.paths, small_night.truths, strict=True):
        if truth.obstype in KINDS:
            shutil.copy(path, calibrations / path.name)
    out = tmp_path / "out"
    assert main(["run", str(calibrations), "--out", str(out), *RUN]) == 0
    on_disk = {
        kind: str(next((out / "masters").glob(f"*-{kind.value}-*.fits.fz")).resolve()) for kind in MasterKind
    }
    science = small_night.paths_of(ObsType.EXPOSE)
    with CalibrationLibrary.at(out, create=False) as library:
        plan = plan_run([calibrations, *science], RunOptions(out=out), library)
    assert plan.groups == ()
    assert plan.refused == ()
    assert _resolved(d.entry.path for d in plan.done) == _resolved(calibrations.iterdir())
    assert {d.record.status for d in plan.done} == {"ok"}
    assert _resolved(f.entry.path for f in plan.science) == _resolved(small_night.paths_of(ObsType.EXPOSE))
    for frame in plan.science:
        for kind, choice in zip(MasterKind, (frame.bias, frame.dark, frame.flat), strict=True):
            (candidate,) = choice.candidates
            assert candidate.library is not None
            assert candidate.group == 0
            assert str(Path(candidate.library.path).resolve()) == on_disk[kind]


# -- the planning rules, on records ---------------------------------------------------------

NIGHT = dt.datetime(2026, 1, 1, 22, 0, tzinfo=dt.UTC)


def _entry(
    number: int, obstype: ObsType, *, minutes: float, filter: str | None = "rp", camera: str = "kb99"
) -> Entry:
    meta = FrameMeta(
        filename=f"lsc1m005-{camera}-20260101-{number:04d}-x00.fits", obstype=obstype, site="lsc",
        telescope="1m0-05", camera=camera, day_obs=dt.date(2026, 1, 1),
        date_obs=NIGHT + dt.timedelta(minutes=minutes), exptime=10.0, binning=Binning(2, 2), filter=filter,
    )  # fmt: skip
    return Entry(Path(f"/raw/{meta.filename}"), meta, shapes=((128, 128),))


@attrs.frozen
class _Library:
    """A calibration library of a few masters, and nothing done."""

    masters: tuple[MasterEntry, ...] = ()

    def closest(self, kind: MasterKind, meta: FrameMeta) -> MasterEntry:
        suitable = [m for m in self.masters if m.kind is kind and m.camera == meta.camera]
        if not suitable:
            raise LcoError(f"no good master {kind.value} for {meta.camera}")
        return min(suitable, key=lambda m: abs(m.date_obs - meta.date_obs))

    def done(self, entry: Entry, checksum: str) -> FrameRecord | None:
        return None


def _master(kind: MasterKind, *, hours: float, path: str) -> MasterEntry:
    moment = NIGHT + dt.timedelta(hours=hours)
    return MasterEntry(
        1, kind, "lsc", "1m0-05", "kb99", "2x2", "full_frame", "rp" if kind is MasterKind.SKYFLAT else None,
        None, moment, path, "0" * 64, True, moment,
    )  # fmt: skip


def _files(entries: list[Entry]) -> NightFiles:
    return NightFiles(
        tuple(entries), checksums=tuple((str(e.path), f"{n:064d}") for n, e in enumerate(entries))
    )


def _plan(entries: list[Entry], library: _Library) -> NightPlan:
    return plan_night(_files(entries), library, group_key=_group_key, masters_dir=Path("/out/masters"))


def test_the_closest_master_in_time_comes_first() -> None:
    """The documented rule: the suitable master closest in time to the frame serves it. A library
    bias 1 h after a science frame beats the night's biases 3 h before it; the night's flat (10
    min away) beats the library's (a day away), which stays as the fallback."""
    biases = [_entry(n, ObsType.BIAS, minutes=n) for n in range(1, 4)]
    darks = [_entry(n, ObsType.DARK, minutes=n) for n in range(4, 7)]
    flats = [_entry(n, ObsType.SKYFLAT, minutes=170 + n) for n in range(7, 10)]
    science = _entry(10, ObsType.EXPOSE, minutes=180)
    library = _Library(
        (
            _master(MasterKind.BIAS, hours=4, path="/lib/bias.fits.fz"),
            _master(MasterKind.SKYFLAT, hours=27, path="/lib/flat.fits.fz"),
        )
    )
    plan = _plan([*biases, *darks, *flats, science], library)
    (frame,) = plan.science
    bias, _, flat = (g.number for g in plan.groups)
    assert [(c.group, c.library.path if c.library else None) for c in frame.bias.candidates] == [
        (0, "/lib/bias.fits.fz"), (bias, None),
    ]  # fmt: skip
    assert [(c.group, c.library.path if c.library else None) for c in frame.flat.candidates] == [
        (flat, None), (0, "/lib/flat.fits.fz"),
    ]  # fmt: skip
    assert frame.dark.missing
    assert "no" in frame.dark.missing


def test_a_group_that_makes_no_master_gives_way_to_the_next() -> None:
    """Carrying the plan out: a group whose master was not made is passed over; a library master
    whose file this night's group rebuilt is the rebuilt one; nothing left, the library's reason."""
    library = _master(MasterKind.BIAS, hours=2, path="/out/masters/bias.fits.fz")
    choice = MasterChoice(
        MasterKind.BIAS,
        (Candidate(NIGHT, group=1), Candidate(library.date_obs, library=library)),
        missing="",
    )
    assert choice.resolve({}) == library
    made = attrs.evolve(library, id=2, checksum="1" * 64, date_obs=NIGHT)
    assert choice.resolve({1: made}) == made
    rebuilt = attrs.evolve(library, id=3, checksum="2" * 64)
    assert choice.resolve({2: rebuilt}) == rebuilt  # another group wrote the library's file anew
    alone = MasterChoice(
        MasterKind.BIAS, (Candidate(NIGHT, group=1),), missing="no good master bias for kb99"
    )
    with pytest.raises(MasterUnavailableError, match="no good master bias for kb99"):
        alone.resolve({})


def test_frames_of_another_camera_make_their_own_groups_and_use_only_their_own() -> None:
    """Two cameras' biases make two groups; a science frame of one camera is never offered the
    other's master (the library's camera rule), even when it is the closer in time."""
    kb99 = [_entry(n, ObsType.BIAS, minutes=n) for n in range(1, 4)]
    kb98 = [_entry(n, ObsType.BIAS, minutes=170 + n, camera="kb98") for n in range(4, 7)]
    science = _entry(10, ObsType.EXPOSE, minutes=180)
    plan = _plan([*kb99, *kb98, science], _Library())
    groups = {g.template.camera: g for g in plan.groups}
    assert sorted(groups) == ["kb98", "kb99"]
    assert [e.path for e in groups["kb98"].frames] == [e.path for e in kb98]
    (frame,) = plan.science
    assert [c.group for c in frame.bias.candidates] == [groups["kb99"].number]
    assert "kb99" in plan_as_json(plan)["science"][0]["bias"]["missing"]  # type: ignore[index]
