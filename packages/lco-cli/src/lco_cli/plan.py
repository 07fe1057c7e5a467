"""The night as a plan: what a run builds and reduces, from which frames, in which order, with which masters.

`plan_night` decides everything a run decides before it reads a pixel, from the files' headers
and checksums and what the calibration library holds (docs/architecture.rst, "lco-reduce run"):
which files are refused and why, which frames an earlier run finished, the master groups (bias,
then dark, then flat) and the masters each group's frames are prepared with, and for every
science frame the masters it will be calibrated with, closest in time first, from this night's
groups or the library. The result, a `NightPlan`, is a frozen value: it prints
(`describe_plan`, ``lco-reduce run --plan``), compares, pickles and is tested without pixels.
`lco_cli.night` carries it out; what only the pixels decide (which calibration frames pass
quality control, hence whether a group makes its master) it learns as it goes, and a frame whose
night master was not made falls back to the next master its plan names.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable, Hashable, Mapping, Sequence
from pathlib import Path
from typing import Protocol

import attrs
import numpy as np

from lco_cli.discovery import Entry
from lco_cli.library.records import FrameRecord, MasterEntry
from lco_cli.logs import log_unexpected
from lco_cli.recognition import unreduced_obstype, unsupported_camera
from lco_cli.results import Status, json_value, one_line
from lco_cli.work import product_name
from lco_core.calibration_rules import FILTER, rule_for
from lco_core.errors import LcoError
from lco_core.io.compression import COMPRESSED_SUFFIX
from lco_core.master import MasterKind, master_filename
from lco_core.meta import FrameMeta, ObsType
from lco_instruments.families import family_of

#: The OBSTYPEs reduced to products.
SCIENCE = (ObsType.EXPOSE, ObsType.STANDARD)

#: The order masters are made in: each kind calibrates the frames of the kinds after it.
MASTER_ORDER = (MasterKind.BIAS, MasterKind.DARK, MasterKind.SKYFLAT)

#: How frames are grouped into masters: frames with equal keys are stacked together.
GroupKey = Callable[[Entry, MasterKind], Hashable]


def describe_error(error: BaseException, *, where: str = "") -> str:
    """One line for an error in the parent: a typed error's own message, else its kind and text.

    Any other than a typed error is logged with its full traceback (`lco_cli.logs.log_unexpected`).

    Parameters
    ----------
    error : BaseException
        The error.
    where : str
        The frame it cost, when there is one, for the log.

    Returns
    -------
    str
    """
    if not isinstance(error, LcoError):
        log_unexpected(error, where)
    if isinstance(error, LcoError):
        return one_line(str(error))
    if isinstance(error, OSError) and error.strerror:
        where = f" ({error.filename})" if error.filename else ""
        return one_line(f"{error.strerror}{where}")
    return one_line(f"internal error {type(error).__name__}: {error}")


def kind_of(obstype: ObsType) -> MasterKind | None:
    """The master a calibration frame goes into (None for any other OBSTYPE).

    Parameters
    ----------
    obstype : ObsType
        OBSTYPE.

    Returns
    -------
    MasterKind or None
    """
    return {
        ObsType.BIAS: MasterKind.BIAS,
        ObsType.DARK: MasterKind.DARK,
        ObsType.SKYFLAT: MasterKind.SKYFLAT,
    }.get(obstype)


class MasterUnavailableError(LcoError):
    """None of the masters a frame's plan names can be used (the message says why)."""


class LibraryView(Protocol):
    """What planning reads from the calibration library (and nothing it writes).

    `lco_cli.night` answers from a `~lco_cli.library.library.CalibrationLibrary`; a test can
    answer from a few records.
    """

    def closest(self, kind: MasterKind, meta: FrameMeta) -> MasterEntry:
        """The library's master of ``kind`` for a frame (its selection rules), as registered.

        Parameters
        ----------
        kind : MasterKind
            Bias, dark or sky flat.
        meta : FrameMeta
            The frame.

        Returns
        -------
        MasterEntry

        Raises
        ------
        LcoError
            None serves (`~lco_cli.library.errors.MasterNotFoundError`, naming the closest
            candidate), or the library cannot be read.
        """
        ...

    def done(self, entry: Entry, checksum: str) -> FrameRecord | None:
        """The record of a frame an earlier run finished, its products unchanged.

        Parameters
        ----------
        entry : Entry
            The frame.
        checksum : str
            Its SHA-256 now.

        Returns
        -------
        FrameRecord or None
            None: the frame is to be reduced (again).
        """
        ...


@attrs.frozen
class NightFiles:
    """The files a run was given, as found and read before planning: headers and checksums only.

    Attributes
    ----------
    entries : tuple of Entry
        Every file found, in sorted path order, with its headers (or why they could not be
        understood, or why it is skipped).
    problems : tuple of (pathlib.Path, str)
        Folders and links that could not be searched, with the reason.
    other_runs : tuple of (pathlib.Path, str)
        Files in the output folders of other runs, with the reason they are skipped: never opened.
    checksums : tuple of (str, str)
        SHA-256 of each file with headers (path, checksum).
    unreadable : tuple of (str, str)
        Files whose bytes could not be read for their checksum (path, reason).
    """

    entries: tuple[Entry, ...]
    problems: tuple[tuple[Path, str], ...] = ()
    other_runs: tuple[tuple[Path, str], ...] = ()
    checksums: tuple[tuple[str, str], ...] = ()
    unreadable: tuple[tuple[str, str], ...] = ()


@attrs.frozen
class Refusal:
    """A file the night does not reduce, and why.

    Attributes
    ----------
    path : pathlib.Path
        The file (or the folder that could not be searched).
    status : str
        'skipped' (rightly not reduced) or 'failed'.
    reason : str
        One line.
    phase : str
        Where the night says so: 'inspect', or the master kind of a calibration frame its group
        cannot take ('skyflat' for a flat without a filter).
    obstype, camera : str
        OBSTYPE and INSTRUME when known.
    """

    path: Path
    status: Status
    reason: str
    phase: str = "inspect"
    obstype: str = ""
    camera: str = ""


@attrs.frozen
class DoneFrame:
    """A frame an earlier run finished: reported as that run recorded it, not reduced again.

    Attributes
    ----------
    entry : Entry
        The file.
    record : FrameRecord
        Its outcome in the calibration library.
    """

    entry: Entry
    record: FrameRecord


@attrs.frozen
class Candidate:
    """A master that may serve a frame: the one a group of this night makes, or a library master.

    Attributes
    ----------
    date_obs : datetime.datetime
        The master's DATE-OBS (a group's: the mean of its frames'), UTC.
    group : int
        The number of the night's group that makes it (0 for a library master).
    library : MasterEntry or None
        The library's master, as registered.
    """

    date_obs: dt.datetime
    group: int = 0
    library: MasterEntry | None = None


@attrs.frozen
class MasterChoice:
    """The masters of one kind a frame may use, best first, and why the library has none.

    Attributes
    ----------
    kind : MasterKind
        Bias, dark or sky flat.
    candidates : tuple of Candidate
        Closest in time to the frame first; at equal distance, this night's master first (it is
        the newest). A group whose master is not made gives its place to the next.
    missing : str
        Why the library has no master of this kind for the frame ('' when it has one).
    """

    kind: MasterKind
    candidates: tuple[Candidate, ...]
    missing: str = ""

    def resolve(self, built: Mapping[int, MasterEntry]) -> MasterEntry:
        """The master to use now that the groups in ``built`` have made theirs.

        A library master whose file a group of this night has rebuilt is that group's
        master. Whether the file is still the one registered is the caller's check
        (`~lco_cli.library.library.CalibrationLibrary.verify_master`).

        Parameters
        ----------
        built : mapping of int to MasterEntry
            The masters this night's groups registered, by group number.

        Returns
        -------
        MasterEntry

        Raises
        ------
        MasterUnavailableError
            No candidate is available: the reason the library gave, or that the night's group
            was not made.
        """
        rebuilt = {entry.path: entry for entry in built.values()}
        for candidate in self.candidates:
            if candidate.library is not None:
                entry: MasterEntry | None = rebuilt.get(candidate.library.path, candidate.library)
            else:
                entry = built.get(candidate.group)
            if entry is not None and entry.good:
                return entry
        if self.missing:
            raise MasterUnavailableError(self.missing)
        groups = ", ".join(f"#{c.group}" for c in self.candidates if c.group)
        raise MasterUnavailableError(f"no master {self.kind.value}: group {groups} of this night made none")


@attrs.frozen
class MasterGroup:
    """Frames stacked into one master, and the masters they are prepared with.

    Attributes
    ----------
    number : int
        Its place in the night's order, from 1.
    kind : MasterKind
        The master it makes.
    frames : tuple of Entry
        Its raw frames, in path order.
    target : pathlib.Path
        The master file it writes when enough of its frames pass quality control.
    bias, dark : MasterChoice or None
        The masters its frames are prepared with (a dark's bias; a flat's bias and dark).
    previous : MasterChoice
        The master of its own kind its frames are judged against (quality control); none is
        needed.
    """

    number: int
    kind: MasterKind
    frames: tuple[Entry, ...]
    target: Path
    bias: MasterChoice | None
    dark: MasterChoice | None
    previous: MasterChoice

    @property
    def template(self) -> FrameMeta:
        """The first frame's metadata (path order): what the master is registered under."""
        meta = min(self.frames, key=lambda e: str(e.path)).meta
        assert meta is not None
        return meta

    @property
    def middle(self) -> FrameMeta:
        """The middle frame by DATE-OBS: the one its calibration masters are chosen for."""
        return middle_frame(self.frames)

    @property
    def date_obs(self) -> dt.datetime:
        """The master's DATE-OBS if every frame goes in: the mean of the frames', UTC."""
        return mean_time([e.meta for e in self.frames if e.meta is not None])

    def serves(self, meta: FrameMeta) -> bool:
        """Whether its master will suit a frame, by the kind's rule
        (`lco_core.calibration_rules.rule_for`), as the library would judge it once registered.

        Parameters
        ----------
        meta : FrameMeta
            The frame.

        Returns
        -------
        bool
        """
        rule = rule_for(self.kind)
        return not rule.unmet(rule.wanted(self.template), rule.wanted(meta))


@attrs.frozen
class ScienceFrame:
    """A science frame to reduce and the masters it will be calibrated with.

    Attributes
    ----------
    entry : Entry
        The file.
    bias, dark, flat : MasterChoice
        Its masters.
    """

    entry: Entry
    bias: MasterChoice
    dark: MasterChoice
    flat: MasterChoice


@attrs.frozen
class NightPlan:
    """What a run will do, decided before any pixel is read.

    Attributes
    ----------
    files : tuple of pathlib.Path
        Every input, in the order the summary lists them.
    refused : tuple of Refusal
        Files not reduced, with the reason, in the order they are said.
    done : tuple of DoneFrame
        Frames earlier runs finished.
    groups : tuple of MasterGroup
        The master groups, in the order they are made: biases, darks, flats.
    science : tuple of ScienceFrame
        The science frames to reduce, after every group.
    checksums : tuple of (str, str)
        The checksum of each frame whose outcome the calibration library records (the
        frames reduced, and the calibration frames no group can take).
    """

    files: tuple[Path, ...]
    refused: tuple[Refusal, ...] = ()
    done: tuple[DoneFrame, ...] = ()
    groups: tuple[MasterGroup, ...] = ()
    science: tuple[ScienceFrame, ...] = ()
    checksums: tuple[tuple[str, str], ...] = ()

    def checksum_of(self, path: str) -> str | None:
        """The checksum of a frame whose outcome is recorded (None for the others).

        Parameters
        ----------
        path : str
            The file.

        Returns
        -------
        str or None
        """
        return dict(self.checksums).get(path)

    def groups_of(self, kind: MasterKind) -> tuple[MasterGroup, ...]:
        """The groups making masters of ``kind``.

        Parameters
        ----------
        kind : MasterKind
            Bias, dark or sky flat.

        Returns
        -------
        tuple of MasterGroup
        """
        return tuple(group for group in self.groups if group.kind is kind)

    def refused_in(self, phase: str) -> tuple[Refusal, ...]:
        """The refusals said in one phase ('inspect', or a master kind's value).

        Parameters
        ----------
        phase : str
            The phase.

        Returns
        -------
        tuple of Refusal
        """
        return tuple(refusal for refusal in self.refused if refusal.phase == phase)


def middle_frame(frames: Sequence[Entry]) -> FrameMeta:
    """The middle frame by DATE-OBS (the later of two middles), whose masters a group uses.

    Parameters
    ----------
    frames : sequence of Entry
        Frames with metadata.

    Returns
    -------
    FrameMeta
    """
    metas = sorted((e.meta for e in frames if e.meta is not None), key=lambda m: m.date_obs)
    return metas[len(metas) // 2]


def mean_time(metas: Sequence[FrameMeta]) -> dt.datetime:
    """The mean DATE-OBS of frames, UTC (as a master made of them records it).

    Parameters
    ----------
    metas : sequence of FrameMeta
        At least one.

    Returns
    -------
    datetime.datetime
    """
    return dt.datetime.fromtimestamp(float(np.mean([m.date_obs.timestamp() for m in metas])), tz=dt.UTC)


def plan_night(
    files: NightFiles,
    view: LibraryView,
    *,
    group_key: GroupKey,
    masters_dir: Path,
    force: bool = False,
    compress: bool = True,
) -> NightPlan:
    """Plan a night: refusals, frames done, master groups in order, science frames and their masters.

    Nothing is read but ``files`` and ``view``, and nothing is written.

    Parameters
    ----------
    files : NightFiles
        The files given, with headers and checksums.
    view : LibraryView
        The calibration library, read.
    group_key : callable
        How calibration frames are grouped (`lco_cli.night`'s rule: telescope, camera, mode,
        day, image size and, for flats, filter).
    masters_dir : pathlib.Path
        Where the masters are written.
    force : bool
        Reduce frames an earlier run finished.
    compress : bool
        Products and masters tile-compressed (``.fits.fz``): their names depend on it.

    Returns
    -------
    NightPlan
    """
    refused = [
        Refusal(where, "skipped" if "already searched" in problem else "failed", problem)
        for where, problem in files.problems
    ]
    done: list[DoneFrame] = []
    todo: list[Entry] = []
    triage = _Triage(files, view, force=force, compress=compress)
    # Another run's products: listed, with the folder, but never opened.
    others = [Entry(where, None, skip=reason) for where, reason in files.other_runs]
    for entry in (*files.entries, *others):
        if entry.skip:
            # What the file is (a product, a catalogue, a guide frame...) was decided from its
            # headers as they are, before (and instead of) parsing them as a raw frame's.
            refused.append(
                Refusal(entry.path, "skipped", entry.skip, obstype=entry.obstype, camera=entry.camera)
            )
            continue
        if entry.meta is None:
            refused.append(Refusal(entry.path, "failed", entry.error))
            continue
        try:
            verdict = triage.judge(entry)
        except Exception as error:  # one file's triage never stops the night
            verdict = Refusal(entry.path, "failed", describe_error(error, where=str(entry.path)))
        if isinstance(verdict, DoneFrame):
            done.append(verdict)
        elif isinstance(verdict, Refusal):
            refused.append(attrs.evolve(verdict, obstype=entry.meta.obstype.value, camera=entry.meta.camera))
        else:
            todo.append(entry)
    groups: list[MasterGroup] = []
    for kind in MASTER_ORDER:
        keyed: dict[Hashable, list[Entry]] = {}
        for entry in todo:
            meta = entry.meta
            assert meta is not None
            if kind_of(meta.obstype) is not kind:
                continue
            if rule_for(kind).matching(FILTER) is not None and meta.filter is None:
                # The rule selects this kind by filter: a master without one could never be used.
                reason = f"{entry.path.name}: a {kind.value} frame needs its FILTER (absent or UNKNOWN)"
                refused.append(
                    Refusal(entry.path, "failed", reason, kind.value, meta.obstype.value, meta.camera)
                )
                continue
            keyed.setdefault(group_key(entry, kind), []).append(entry)
        for frames in keyed.values():
            groups.append(_group(len(groups) + 1, kind, tuple(frames), view, groups, masters_dir, compress))
    science = [
        ScienceFrame(
            entry,
            *(_choice(kind, entry.meta, view, groups) for kind in MASTER_ORDER),
        )
        for entry in todo
        if entry.meta is not None and entry.meta.obstype in SCIENCE
    ]
    order = [e.path for e in files.entries]
    order += [where for where, _ in (*files.problems, *files.other_runs)]
    return NightPlan(
        tuple(order), tuple(refused), tuple(done), tuple(groups), tuple(science), triage.recorded()
    )


@attrs.define
class _Triage:
    """Which frames are refused or done (`plan_night`'s first pass, in path order).

    Identity is the path and the content, never the base name alone: a second copy of the same
    bytes is skipped, and a different file whose product would take the same name as an earlier
    one's (same base name in another folder, or ``x.fits`` beside ``x.fits.fz``) is refused
    rather than allowed to overwrite it. A frame done by an earlier run is one recorded ok, or
    degraded for want of an input this run still cannot give.
    """

    files: NightFiles
    view: LibraryView
    force: bool
    compress: bool
    checksums: dict[str, str] = attrs.field(init=False)
    unreadable: dict[str, str] = attrs.field(init=False)
    first_with_checksum: dict[str, Path] = attrs.field(init=False, factory=dict)
    first_with_product: dict[str, Path] = attrs.field(init=False, factory=dict)
    kept: dict[str, str] = attrs.field(init=False, factory=dict)

    def __attrs_post_init__(self) -> None:
        self.checksums = dict(self.files.checksums)
        self.unreadable = dict(self.files.unreadable)

    def judge(self, entry: Entry) -> Refusal | DoneFrame | None:
        """A refusal, a frame done, or None to reduce it."""
        meta = entry.meta
        assert meta is not None
        path = str(entry.path)
        # inspect_files has already skipped these from the raw headers; the parsed values give
        # the same words, so a frame is never failed for what it is.
        unsupported = unsupported_camera(meta.camera) or unreduced_obstype(meta.obstype.value)
        if unsupported:
            return Refusal(entry.path, "skipped", unsupported)
        family_of(meta.camera, filename=entry.path.name)  # an unknown camera fails (CameraError)
        if path in self.unreadable or path not in self.checksums:
            problem = self.unreadable.get(path, "not read")
            return Refusal(entry.path, "failed", f"{entry.path.name}: cannot be read ({problem})")
        checksum = self.checksums[path]
        if checksum in self.first_with_checksum:
            reason = (
                f"{entry.path.name}: the same bytes as {self.first_with_checksum[checksum]}, reduced once"
            )
            return Refusal(entry.path, "skipped", reason)
        self.first_with_checksum[checksum] = entry.path
        if meta.obstype in SCIENCE:
            product = product_name(entry.path.name, compressed=self.compress)
            if product in self.first_with_product:
                return Refusal(
                    entry.path,
                    "failed",
                    f"{entry.path.name}: its product {product} would overwrite that of "
                    f"{self.first_with_product[product]} (same file name); reduce it into another --out",
                )
            self.first_with_product[product] = entry.path
        self.kept[path] = checksum
        if self.force:
            return None
        record = self.view.done(entry, checksum)
        return DoneFrame(entry, record) if record is not None else None

    def recorded(self) -> tuple[tuple[str, str], ...]:
        return tuple(self.kept.items())


def _group(
    number: int,
    kind: MasterKind,
    frames: tuple[Entry, ...],
    view: LibraryView,
    earlier: Sequence[MasterGroup],
    masters_dir: Path,
    compress: bool,
) -> MasterGroup:
    middle = middle_frame(frames)
    metas = [e.meta for e in frames if e.meta is not None]
    template = min(frames, key=lambda e: str(e.path)).meta
    assert template is not None
    # As the master will be named: its first frame's, on the latest DAY-OBS of its frames.
    named = attrs.evolve(template, day_obs=max(m.day_obs for m in metas))
    target = masters_dir / (master_filename(named, kind) + (COMPRESSED_SUFFIX if compress else ""))
    return MasterGroup(
        number,
        kind,
        frames,
        target,
        bias=_choice(MasterKind.BIAS, middle, view, earlier) if kind is not MasterKind.BIAS else None,
        dark=_choice(MasterKind.DARK, middle, view, earlier) if kind is MasterKind.SKYFLAT else None,
        previous=_choice(kind, middle, view, earlier),
    )


def _choice(
    kind: MasterKind, meta: FrameMeta | None, view: LibraryView, groups: Sequence[MasterGroup]
) -> MasterChoice:
    """The masters of ``kind`` that may serve a frame: the night's groups made before it that
    suit it, and the library's closest; closest in time first, as the library chooses."""
    assert meta is not None
    candidates = [
        Candidate(group.date_obs, group=group.number)
        for group in groups
        if group.kind is kind and group.serves(meta)
    ]
    missing = ""
    try:
        entry = view.closest(kind, meta)
        candidates.append(Candidate(entry.date_obs, library=entry))
    except Exception as error:  # no master in the library: the reason, for a frame left without one
        missing = describe_error(error, where=meta.filename)

    def distance(candidate: Candidate) -> tuple[float, int, int]:
        # Equal distances: the newest master wins, so this night's, the latest group first.
        return (
            abs((candidate.date_obs - meta.date_obs).total_seconds()),
            candidate.group == 0,
            -candidate.group,
        )

    return MasterChoice(kind, tuple(sorted(candidates, key=distance)), missing)


# -- how a plan reads ------------------------------------------------------------------------


def _choice_text(choice: MasterChoice | None) -> str:
    if choice is None:
        return ""
    names = [
        f"#{c.group}" if c.library is None else f"library {Path(c.library.path).name}"
        for c in choice.candidates
    ]
    if not names:
        return f"{choice.kind.value} none ({choice.missing})"
    return f"{choice.kind.value} {names[0]}" + (f" (else {', else '.join(names[1:])})" if names[1:] else "")


def _group_title(group: MasterGroup) -> str:
    meta = group.template
    words = [meta.site, meta.telescope, meta.camera, f"{meta.day_obs:%Y-%m-%d}", f"bin{meta.binning}"]
    if group.kind is MasterKind.SKYFLAT and meta.filter:
        words.append(meta.filter)
    return " ".join(words)


def describe_plan(plan: NightPlan) -> tuple[str, ...]:
    """The plan as a person reads it: one line per master group, input frame and science frame,
    then one per frame done or refused.

    Parameters
    ----------
    plan : NightPlan
        The plan.

    Returns
    -------
    tuple of str
        E.g. ``bias    #1 lsc 0m4-09 kb99 2026-01-01 bin2x2: 3 frames -> lsc0m409-kb99-...``,
        ``  frame  ...-0001-b00.fits``, ``science ...-0010-e00.fits: bias #1, dark #2,
        skyflat #3``; a master named ``library NAME`` is the library's, ``(else ...)`` the
        next one used if the first is not made, ``none (...)`` says why there is none.
    """
    lines = [
        f"{len(plan.files)} files: {len(plan.groups)} master groups, {len(plan.science)} science frames "
        f"to reduce, {len(plan.done)} done by earlier runs, {len(plan.refused)} refused"
    ]
    for group in plan.groups:
        uses = ", ".join(t for t in (_choice_text(group.bias), _choice_text(group.dark)) if t)
        previous = _choice_text(group.previous)
        judged = f"; judged against {previous}" if group.previous.candidates else ""
        lines.append(
            f"{group.kind.value:7s} #{group.number} {_group_title(group)}: {len(group.frames)} frames -> "
            f"{group.target.name}" + (f"; with {uses}" if uses else "") + judged
        )
        lines += [f"  frame  {entry.path.name}" for entry in group.frames]
    for frame in plan.science:
        masters = ", ".join(_choice_text(c) for c in (frame.bias, frame.dark, frame.flat))
        lines.append(f"science {frame.entry.path.name}: {masters}")
    for finished in plan.done:
        run = f" by the run of {finished.record.run:%Y-%m-%d %H:%M:%S} UTC" if finished.record.run else ""
        lines.append(f"done    {finished.entry.path.name}: {finished.record.status}{run}, products unchanged")
    for refusal in plan.refused:
        lines.append(f"{refusal.status:7s} {refusal.path.name}: {refusal.reason}")
    # Names and reasons quote whatever the files hold: each line stays one line, its indent kept.
    return tuple(" " * (len(line) - len(line.lstrip(" "))) + one_line(line) for line in lines)


def _choice_json(choice: MasterChoice | None) -> object:
    if choice is None:
        return None
    return {
        "candidates": [
            {"group": c.group}
            if c.library is None
            else {"library": c.library.path, "date_obs": c.library.date_obs.isoformat()}
            for c in choice.candidates
        ],
        "missing": choice.missing,
    }


def plan_as_json(plan: NightPlan) -> dict[str, object]:
    """The plan as JSON values (``lco-reduce run --plan --json``).

    Parameters
    ----------
    plan : NightPlan
        The plan.

    Returns
    -------
    dict
        ``groups`` (number, kind, frames, target, bias, dark, previous), ``science`` (file,
        bias, dark, flat), ``done`` (file, status, run) and ``refused`` (file, status, reason,
        phase), each master as its ``candidates`` (``group`` number or ``library`` path) and
        ``missing``; files by full path.
    """
    document = {
        "files": [str(p) for p in plan.files],
        "groups": [
            {
                "number": group.number,
                "kind": group.kind.value,
                "frames": [str(e.path) for e in group.frames],
                "target": str(group.target),
                "bias": _choice_json(group.bias),
                "dark": _choice_json(group.dark),
                "previous": _choice_json(group.previous),
            }
            for group in plan.groups
        ],
        "science": [
            {
                "file": str(frame.entry.path),
                "bias": _choice_json(frame.bias),
                "dark": _choice_json(frame.dark),
                "flat": _choice_json(frame.flat),
            }
            for frame in plan.science
        ],
        "done": [
            {
                "file": str(finished.entry.path),
                "status": finished.record.status,
                "run": finished.record.run.isoformat() if finished.record.run else None,
            }
            for finished in plan.done
        ],
        "refused": [
            {"file": str(r.path), "status": r.status, "reason": r.reason, "phase": r.phase}
            for r in plan.refused
        ],
    }
    return {key: json_value(value) for key, value in document.items()}
