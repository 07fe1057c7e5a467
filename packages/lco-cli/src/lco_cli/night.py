"""Reducing a night: the imperative shell that plans, runs workers, builds masters and reports.

Order (docs/architecture.rst, "lco-reduce run"): bias masters, dark masters, flat masters (each
from the night's frames when there are enough, otherwise the library's closest suitable master is
used later),
then every science frame. Masters are stacked from prepared files in row bands, so memory does
not grow with the number of frames. The calibration library is read and written here only.

Every unit of work in this process (a file's headers, a master group, a science frame's
preparation, a library write, the progress display) is guarded on its own: its failure fails
that unit with a one-line reason and the night goes on. One run holds the output folder at a
time (`lco_cli.runlock`).
"""

from __future__ import annotations

import contextlib
import datetime as dt
import shutil
import time
from collections import defaultdict
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path
from typing import TypeVar

import attrs
import numpy as np

from lco_cli.catalogs import CatalogError, CatalogSource, catalog_source
from lco_cli.discovery import Entry, find_raw_files, inspect_files
from lco_cli.executors import Executor
from lco_cli.library import CalibrationLibrary, FrameRecord, MasterEntry, file_checksum
from lco_cli.logs import log_outcome, log_unexpected
from lco_cli.recognition import unreduced_obstype, unsupported_camera
from lco_cli.results import NEED_CATALOG, FrameResult, as_text, one_line
from lco_cli.runlock import hold_run_lock
from lco_cli.work import (
    CalibrationOutcome,
    CalibrationTask,
    ScienceTask,
    prepare_calibration,
    product_name,
    reduce_science,
)
from lco_core.catalog import ReferenceCatalog
from lco_core.errors import LcoError
from lco_core.io import read_master, read_product, stack_files, write_bad_pixel_mask, write_master
from lco_core.io.compression import COMPRESSED_SUFFIX
from lco_core.master import Master, MasterKind
from lco_core.meta import FrameMeta, ObsType
from lco_core.parameters import Settings
from lco_instruments.families import family_of
from lco_stages.bpm import BadPixelSettings, make_bad_pixel_mask
from lco_stages.masters import (
    Assessment,
    StackSettings,
    TooFewFramesError,
    choose_frames,
    master_from_stack,
    shared_error,
)
from lco_stages.settings import DEFAULT_SETTINGS
from lco_stages.wcs import AstrometrySearch

SCIENCE = (ObsType.EXPOSE, ObsType.STANDARD)

Task = TypeVar("Task", CalibrationTask, ScienceTask)
Outcome = TypeVar("Outcome", CalibrationOutcome, FrameResult)

Progress = Callable[[str, FrameResult], None]


@attrs.frozen
class RunOptions:
    """What a run was asked to do.

    Attributes
    ----------
    out : pathlib.Path
        The products folder.
    catalog : pathlib.Path or None
        Reference catalogue file.
    offline : bool
        Never query Gaia.
    force : bool
        Redo frames the library says are done.
    min_frames : int or None
        Frames a master needs: the ``stack.min_frames`` setting, when given (None: the
        setting's value in ``settings``).
    thumbnails : bool
        Write thumbnails.
    astrometry : AstrometrySearch or None
        The astrometric search limits, the ``astrometry.*`` settings, when given.
    compress : bool
        Write products and masters tile-compressed (``.fits.fz``, as LCO ships them).
    settings : Settings
        Every stage's settings (`run_settings` folds ``min_frames`` and ``astrometry`` in);
        reference stars are fetched over the field plus the astrometric pointing radius.
    """

    out: Path
    catalog: Path | None = None
    offline: bool = False
    force: bool = False
    min_frames: int | None = None
    thumbnails: bool = True
    astrometry: AstrometrySearch | None = None
    compress: bool = True
    settings: Settings = DEFAULT_SETTINGS

    @property
    def run_settings(self) -> Settings:
        """`settings` with ``min_frames`` and ``astrometry`` (when given) in their places."""
        changes: dict[str, object] = {}
        if self.min_frames is not None:
            changes["stack.min_frames"] = self.min_frames
        if self.astrometry is not None:
            changes |= {f"astrometry.{name}": v for name, v in self.astrometry.values().items()}
        return self.settings.updated(changes) if changes else self.settings


@attrs.frozen
class MasterRecord:
    """A master this run built (for the summary and the report).

    Attributes
    ----------
    path : str
        The master file.
    kind : str
        'bias', 'dark' or 'skyflat'.
    camera : str
        INSTRUME.
    inputs : tuple of str
        Raw files stacked.
    rejected : tuple of (str, str)
        Files of the group left out, with the reason.
    figures : dict of str to float
        Median, robust std, and BIASLVL, CCDATEMP or FLATLVL.
    reused : bool
        Built by an earlier run: the night's frames went into it then, and it is still the one
        the library holds (its ``rejected`` are not known any more).
    created : str
        When the library registered it (ISO 8601, UTC).
    note : str
        Why its figures are missing, when they are (a master that cannot be read).
    """

    path: str
    kind: str
    camera: str
    inputs: tuple[str, ...]
    rejected: tuple[tuple[str, str], ...]
    figures: dict[str, float]
    reused: bool = False
    created: str = ""
    note: str = ""


@attrs.frozen
class NightResult:
    """The night a run was given: every input's latest outcome, whichever run produced it.

    Attributes
    ----------
    frames : tuple of FrameResult
        One per input file, in the order found: this run's outcome, or the one an earlier run
        recorded for a frame that was done (``reused``).
    masters : tuple of MasterRecord
        The masters built by this run, then those earlier runs built from the night's frames.
    started, finished : datetime.datetime
        UTC.
    phases : dict of str to float
        Wall seconds per phase of the run (inspect, each kind's frames and master, science).
    """

    frames: tuple[FrameResult, ...]
    masters: tuple[MasterRecord, ...]
    started: dt.datetime
    finished: dt.datetime
    phases: dict[str, float] = attrs.field(factory=dict)  # wall seconds per phase of the run

    @property
    def failed(self) -> int:
        """Number of frames that failed."""
        return sum(1 for f in self.frames if f.status == "failed")

    @property
    def degraded(self) -> int:
        """Number of frames whose product was written without a science step's result."""
        return sum(1 for f in self.frames if f.status == "degraded")

    @property
    def reused(self) -> int:
        """Number of frames done by earlier runs (their recorded outcome is reported)."""
        return sum(1 for f in self.frames if f.reused)


def _group_key(entry: Entry, kind: MasterKind) -> tuple[object, ...]:
    """Frames stacked into one master: what the kind's rule groups by
    (`lco_core.calibration_rules.group_key`), and the same size.

    The image shapes are part of the key so that one frame of another size forms its own
    (too small) group instead of breaking its night's master.
    """
    from lco_core.calibration_rules import group_key

    assert entry.meta is not None
    return (*group_key(entry.meta, kind), entry.shapes)


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


def _kind_of(obstype: ObsType) -> MasterKind | None:
    return {
        ObsType.BIAS: MasterKind.BIAS,
        ObsType.DARK: MasterKind.DARK,
        ObsType.SKYFLAT: MasterKind.SKYFLAT,
    }.get(obstype)


class NightReduction:
    """One ``lco-reduce run``: holds the library, the executor and the results so far.

    Parameters
    ----------
    options : RunOptions
        What to do.
    library : CalibrationLibrary
        The calibration library (read and written by this process only).
    executor : Executor
        Where frames are reduced.
    progress : callable, optional
        Called with (phase, `FrameResult`) as each file finishes.
    on_total : callable, optional
        Called with the number of files found.
    on_running : callable, optional
        Called with the number of frames handed to the executor and not yet finished, each
        time it changes.
    """

    def __init__(
        self,
        options: RunOptions,
        library: CalibrationLibrary,
        executor: Executor,
        progress: Progress | None = None,
        on_total: Callable[[int], None] | None = None,
        on_running: Callable[[int], None] | None = None,
    ) -> None:
        self.on_total = on_total or (lambda total: None)
        self.on_running = on_running or (lambda count: None)
        self.running = 0
        self.started = dt.datetime.now(dt.UTC)
        self.options = options
        self.library = library
        self.executor = executor
        self.progress = progress or (lambda phase, result: None)
        self.results: dict[str, FrameResult] = {}
        self.phases: dict[str, float] = defaultdict(float)
        self.masters: list[MasterRecord] = []
        self.checksums: dict[str, str] = {}
        self.masters_dir = options.out / "masters"
        self.work_dir = options.out / ".work"
        self.thumbnail_dir = options.out / "thumbnails"
        self._sources: CatalogSource | None = None
        self._references: dict[tuple[float, float], tuple[ReferenceCatalog | None, str]] = {}
        self._done: dict[str, FrameRecord] = {}
        self._bpms: dict[tuple[str, str], str] = {}

    # -- bookkeeping -------------------------------------------------------------------------
    def _finish(self, phase: str, result: FrameResult, *, record: bool = True) -> None:
        checksum = self.checksums.get(result.path)
        if not result.reused:
            result = attrs.evolve(result, run=self.started.isoformat())
        if checksum is not None and record:
            try:
                self.library.record_frame(
                    result.path,
                    checksum=checksum,
                    status=result.status,
                    reason=result.reason,
                    products=result.products,
                    shortfalls=result.shortfalls,
                    details=_details(result),
                    run=self.started,
                )
            except Exception as error:  # a locked or lost database fails this frame, not the night
                written = "its products are written but " if result.products else ""
                result = attrs.evolve(
                    result,
                    status="failed",
                    reason=f"{Path(result.path).name}: {written}the outcome is not recorded in the "
                    f"calibration library ({describe_error(error, where=result.path)}); a rerun redoes it",
                )
        self.results[result.path] = result
        log_outcome(phase, result)
        # The display is a courtesy: the outcome is already kept, so its failure loses nothing.
        with contextlib.suppress(Exception):
            self.progress(phase, result)

    def _fail(self, phase: str, entry: Entry, reason: str, status: str = "failed") -> None:
        meta = entry.meta
        self._finish(
            phase,
            FrameResult(
                str(entry.path),
                "skipped" if status == "skipped" else "failed",
                reason,
                meta.obstype.value if meta is not None else "",
                meta.camera if meta is not None else "",
            ),
        )

    def _map(
        self,
        function: Callable[[Task], Outcome],
        tasks: Sequence[Task],
        failure: Callable[[Task, str], Outcome],
        path_of: Callable[[Outcome], str],
    ) -> Iterator[Outcome]:
        """The executor's results; if the executor itself breaks (a worker killed by the OOM
        killer, a lost cluster), every task without a result fails with the reason."""
        pending = {task.path: task for task in tasks}
        self._running(len(pending))
        try:
            for outcome in self.executor.map(function, tasks):
                if pending.pop(path_of(outcome), None) is not None:
                    self._running(-1)
                yield outcome
        except Exception as error:
            reason = f"the workers stopped before this frame was done ({describe_error(error)})"
            left = list(pending.values())
            self._running(-len(pending))
            pending.clear()
            for task in left:
                yield failure(task, f"{Path(task.path).name}: {reason}")
        finally:
            self._running(-len(pending))  # none, unless the caller stopped reading early

    def _running(self, change: int) -> None:
        if not change:
            return
        self.running += change
        with contextlib.suppress(Exception):  # a display
            self.on_running(self.running)

    def run(self, paths: Sequence[str | Path]) -> NightResult:
        """Reduce everything under ``paths``: bias, dark and flat masters, then science frames.

        The output folder is held for the whole run (`lco_cli.runlock.hold_run_lock`): a second
        run into it is refused.

        Parameters
        ----------
        paths : sequence of str or pathlib.Path
            Raw files and folders.

        Returns
        -------
        NightResult

        Raises
        ------
        RunLockedError
            Another run is writing into the output folder.
        FileNotFoundError
            A path does not exist.
        """
        self.started = started = dt.datetime.now(dt.UTC)
        self.options.out.mkdir(parents=True, exist_ok=True)
        with hold_run_lock(self.options.out):
            entries = self._run_locked(paths)
            masters = self._night_masters()
        order = {str(e.path): n for n, e in enumerate(entries)}
        frames = tuple(sorted(self.results.values(), key=lambda r: order.get(r.path, len(order))))
        return NightResult(frames, masters, started, dt.datetime.now(dt.UTC), dict(self.phases))

    def _run_locked(self, paths: Sequence[str | Path]) -> list[Entry]:
        for folder in (self.masters_dir, self.work_dir):
            folder.mkdir(parents=True, exist_ok=True)
        _remove_temporaries(self.options.out)
        try:
            clock = time.perf_counter()
            found = find_raw_files(paths, exclude=[self.options.out])
            entries = inspect_files(found.files)
            self.on_total(len(entries) + len(found.problems) + len(found.skipped))
            for where, problem in found.problems:
                loop = "already searched" in problem
                entries.append(Entry(where, None, problem))
                self._finish("inspect", FrameResult(str(where), "skipped" if loop else "failed", problem))
            # Another run's products: listed, with the folder, but never opened.
            entries += [Entry(where, None, skip=reason) for where, reason in found.skipped]
            todo = self._triage(entries)
            self.phases["inspect"] += time.perf_counter() - clock
            for kind in (MasterKind.BIAS, MasterKind.DARK, MasterKind.SKYFLAT):
                self._masters_of(
                    kind, [e for e in todo if e.meta is not None and _kind_of(e.meta.obstype) is kind]
                )
            clock = time.perf_counter()
            self._science([e for e in todo if e.meta is not None and e.meta.obstype in SCIENCE])
            self.phases["science frames"] += time.perf_counter() - clock
        finally:
            shutil.rmtree(self.work_dir, ignore_errors=True)
        return entries

    def _triage(self, entries: list[Entry]) -> list[Entry]:
        """Files that are not raw frames, cameras and OBSTYPEs we do not reduce, failed headers,
        copies, name clashes and frames done leave here."""
        todo = []
        first_with_checksum: dict[str, Path] = {}
        first_with_product: dict[str, Path] = {}
        for entry in entries:
            if entry.skip:
                # What the file is (a product, a catalogue, a guide frame...) was decided from its
                # headers as they are, before (and instead of) parsing them as a raw frame's.
                skipped = FrameResult(str(entry.path), "skipped", entry.skip, entry.obstype, entry.camera)
                self._finish("inspect", skipped)
                continue
            if entry.meta is None:
                if str(entry.path) not in self.results:
                    self._fail("inspect", entry, entry.error)
                continue
            try:
                reason, status = self._refusal(entry, first_with_checksum, first_with_product)
            except Exception as error:  # one file's triage never stops the night
                reason, status = describe_error(error, where=str(entry.path)), "failed"
            if status == "done":
                # Reported as the run that made its products recorded it, and not recorded
                # again: the library keeps that run's outcome.
                self._finish("done", _recorded(self._done[str(entry.path)], entry), record=False)
            elif reason:
                self._fail("inspect", entry, reason, status)
            else:
                todo.append(entry)
        return todo

    def _refusal(
        self, entry: Entry, first_with_checksum: dict[str, Path], first_with_product: dict[str, Path]
    ) -> tuple[str, str]:
        """Why ``entry`` is not reduced, and the status that says so; ('', '') to reduce it.

        Identity is the path and the content, never the base name alone: a second copy of the
        same bytes is skipped, and a different file whose product would take the same name as
        an earlier one's (same base name in another folder, or ``x.fits`` beside
        ``x.fits.fz``) is refused rather than allowed to overwrite it. A frame done by an
        earlier run ('done', its record kept in ``self._done``) is one recorded ok, or degraded
        for want of an input this run still cannot give.
        """
        meta = entry.meta
        assert meta is not None
        path = str(entry.path)
        # inspect_files has already skipped these from the raw headers; the parsed values give
        # the same words, so a frame is never failed for what it is.
        unsupported = unsupported_camera(meta.camera) or unreduced_obstype(meta.obstype.value)
        if unsupported:
            return unsupported, "skipped"
        family_of(meta.camera, filename=entry.path.name)  # an unknown camera fails (CameraError)
        try:
            checksum = file_checksum(entry.path)
        except OSError as error:
            return f"{entry.path.name}: cannot be read ({error.strerror or error})", "failed"
        if checksum in first_with_checksum:
            return (
                f"{entry.path.name}: the same bytes as {first_with_checksum[checksum]}, reduced once",
                "skipped",
            )
        first_with_checksum[checksum] = entry.path
        if meta.obstype in SCIENCE:
            product = product_name(entry.path.name, compressed=self.options.compress)
            if product in first_with_product:
                return (
                    f"{entry.path.name}: its product {product} would overwrite that of "
                    f"{first_with_product[product]} (same file name); reduce it into another --out",
                    "failed",
                )
            first_with_product[product] = entry.path
        self.checksums[path] = checksum
        if self.options.force:
            return "", ""
        record = self.library.done(
            path, checksum, products_under=self.options.out, given=lambda need: self._given(need, entry)
        )
        if record is not None:
            self._done[path] = record
            return "already reduced, its products unchanged (--force redoes it)", "done"
        return "", ""

    def _given(self, need: str, entry: Entry) -> bool:
        """Whether this run has the input a degraded frame lacked: reference stars around it."""
        if need == NEED_CATALOG:
            reference, _ = self._reference(entry)
            return reference is not None and len(reference) > 0
        return False

    # -- masters -----------------------------------------------------------------------------
    def _select(self, kind: MasterKind, meta: FrameMeta) -> str:
        """The library's master for ``meta``, checked against the checksum it was registered with.

        A master changed on disk since (or gone) fails the frame that needed it
        (`MasterChangedError`): silently using other pixels than the library describes would
        make products nobody can trace.
        """
        entry = self.library.select_master(
            kind, camera=meta.camera, binning=meta.binning, configuration_mode=meta.configuration_mode,
            date_obs=meta.date_obs, filter=meta.filter, set_temperature=meta.ccd_set_temperature,
        )  # fmt: skip
        self.library.verify_master(entry)
        return entry.path

    def _select_or_none(self, kind: MasterKind, meta: FrameMeta) -> str | None:
        try:
            return self._select(kind, meta)
        except LcoError:
            return None

    def _masters_of(self, kind: MasterKind, entries: list[Entry]) -> None:
        groups: dict[tuple[object, ...], list[Entry]] = defaultdict(list)
        for entry in entries:
            assert entry.meta is not None
            if kind is MasterKind.SKYFLAT and entry.meta.filter is None:
                # The library selects flats by filter: a flat master without one could never be used.
                self._fail(
                    kind.value, entry, f"{entry.path.name}: a sky flat needs its FILTER (absent or UNKNOWN)"
                )
                continue
            groups[_group_key(entry, kind)].append(entry)
        for group in groups.values():
            prepared: list[str] = []
            try:
                self._master_of_group(kind, group, prepared)
            except Exception as error:  # one master's failure fails its own frames only
                camera = group[0].meta.camera if group[0].meta is not None else ""
                reason = f"master {kind.value} of {camera} not made: {describe_error(error)}"
                for entry in group:
                    if str(entry.path) not in self.results:
                        self._fail(kind.value, entry, reason)
            finally:
                for name in prepared:
                    Path(name).unlink(missing_ok=True)

    def _master_of_group(self, kind: MasterKind, group: list[Entry], prepared: list[str]) -> None:
        """Prepare, judge and stack one group's frames into a master; ``prepared`` collects the
        prepared files (the caller removes them, whatever happens)."""
        metas = [e.meta for e in group if e.meta is not None]
        middle = sorted(metas, key=lambda m: m.date_obs)[len(metas) // 2]
        try:
            bias = self._select(MasterKind.BIAS, middle) if kind is not MasterKind.BIAS else None
            dark = self._select(MasterKind.DARK, middle) if kind is MasterKind.SKYFLAT else None
        except LcoError as error:
            for entry in group:
                self._fail(kind.value, entry, str(error))
            return
        previous = self._select_or_none(kind, middle)
        settings = self.options.run_settings
        stack = settings.of(StackSettings)
        where = str(self.work_dir)
        tasks = [
            CalibrationTask(
                str(e.path), kind, where, bias=bias, dark=dark, previous=previous, settings=settings
            )
            for e in group
        ]
        clock = time.perf_counter()
        # Sorted by input path, so the master does not depend on the order workers finish in.
        outcomes = sorted(
            self._map(prepare_calibration, tasks, _failed_calibration, lambda o: o.result.path),
            key=lambda o: o.result.path,
        )
        prepared += [o.prepared for o in outcomes if o.prepared]
        self.phases[f"{kind.value} frames"] += time.perf_counter() - clock
        assessments = [o.assessment for o in outcomes if o.assessment is not None]
        cameras = [o.camera for o in outcomes if o.camera is not None]
        try:
            accepted = choose_frames(assessments, kind, settings=stack) if assessments else []
            if not accepted:
                raise TooFewFramesError(f"{middle.camera} {kind.value}", 0, stack.min_frames, ())
        except (TooFewFramesError, ValueError) as error:
            for outcome in outcomes:
                result = outcome.result
                if result.status == "ok":
                    result = attrs.evolve(
                        result,
                        status="skipped",
                        reason=f"no master made: {error}; the library's closest master serves this night",
                    )
                self._finish(kind.value, result)
            return
        names = {a.filename for a in accepted}
        stacked = [
            o.prepared
            for o in outcomes
            if o.assessment is not None and o.assessment.filename in names and o.prepared
        ]
        clock = time.perf_counter()
        master = self._build_master(
            kind, accepted, stacked, bias, dark, cameras[0].dark_temperature_coefficient if cameras else None
        )
        target = self.masters_dir / (master.filename + (COMPRESSED_SUFFIX if self.options.compress else ""))
        if any(record.path == str(target) for record in self.masters):
            raise LcoError(f"{target.name} was already made this run from other frames of that name")
        path = write_master(target, master)
        meta = master.frame.meta
        try:
            self.library.register_master(
                kind=kind, site=meta.site, telescope=meta.telescope, camera=meta.camera,
                binning=meta.binning, configuration_mode=meta.configuration_mode,
                filter=meta.filter if kind is MasterKind.SKYFLAT else None,
                set_temperature=meta.ccd_set_temperature, date_obs=meta.date_obs, path=str(path),
                checksum=file_checksum(path),
            )  # fmt: skip
        except BaseException:
            # An unregistered master would be an orphan no run ever selects: it goes.
            path.unlink(missing_ok=True)
            raise
        self.phases[f"{kind.value} master"] += time.perf_counter() - clock
        rejected = tuple(
            (Path(o.result.path).name, o.result.reason) for o in outcomes if o.result.status != "ok"
        )
        self.masters.append(
            MasterRecord(str(path), kind.value, meta.camera, master.inputs, rejected, _master_figures(master))
        )
        for outcome in outcomes:
            result = outcome.result
            if result.status == "ok":
                result = attrs.evolve(result, products=(str(path),))
            self._finish(kind.value, result)

    def _build_master(
        self,
        kind: MasterKind,
        accepted: Sequence[Assessment],
        prepared: list[str],
        bias: str | None,
        dark: str | None,
        coefficient: float | None,
    ) -> Master:
        chosen = list(accepted)
        stack = self.options.run_settings.of(StackSettings)
        stacked = stack_files(prepared, nsigma=stack.nsigma, maxiters=stack.maxiters)
        template = read_product(prepared[0]).frame
        shared = None
        bias_master = read_master(bias) if bias else None
        dark_master = read_master(dark) if dark else None
        if bias_master is not None or dark_master is not None:
            scales = [
                1.0 / a.meta.exptime if kind is MasterKind.DARK else 1.0 / (a.level or 1.0) for a in chosen
            ]
            shared = np.mean(
                [
                    shared_error(a.meta, template.shape, bias=bias_master, dark=dark_master, scale=s)
                    for a, s in zip(chosen, scales, strict=True)
                ],
                axis=0,
            )
        return master_from_stack(
            kind, stacked, chosen, template, settings=stack, shared=shared,
            temperature_coefficient=coefficient,
        )  # fmt: skip

    # -- science -----------------------------------------------------------------------------
    def _reference(self, entry: Entry) -> tuple[ReferenceCatalog | None, str]:
        """The reference stars around a frame's pointing (once per pointing), and why there are
        none: ('' for a frame without a pointing, which no catalogue can help)."""
        pointing = None if entry.meta is None else entry.meta.pointing
        if pointing is None:
            return None, ""
        ra, dec = pointing
        key = (round(ra, 2), round(dec, 2))
        if key not in self._references:
            search = self.options.run_settings.of(AstrometrySearch)
            radius = entry.field_radius_deg + search.radius_arcmin / 60.0
            try:
                if self._sources is None:
                    self._sources = catalog_source(
                        catalog_file=self.options.catalog,
                        cache_dir=self.options.out / "catalog-cache",
                        offline=self.options.offline,
                    )
                stars = self._sources.stars_around(ra, dec, radius)
                where = self.options.catalog.name if self.options.catalog else "Gaia DR3"
                empty = f"{where} has no star within {radius:.3f} deg of RA {ra:.4f}, Dec {dec:+.4f}"
                self._references[key] = (stars, "" if len(stars) else empty)
            except Exception as error:  # no reference stars: the frame is reduced without them
                # A catalogue's own problem without its cache file's path, which is no use here.
                problem = error.problem if isinstance(error, CatalogError) else describe_error(error)
                self._references[key] = (None, problem)
        return self._references[key]

    def _bad_pixel_mask(self, dark: str, flat: str) -> str:
        key = (dark, flat)
        if key not in self._bpms:
            dark_master, flat_master = read_master(dark), read_master(flat)
            # One mask per flat (it depends on the filter's flat): named after it.
            name = Path(flat).name.replace("-skyflat-", "-bpm-")
            thresholds = self.options.run_settings.of(BadPixelSettings)
            bpm = make_bad_pixel_mask(dark=dark_master, flat=flat_master, filename=name, settings=thresholds)
            self._bpms[key] = str(write_bad_pixel_mask(self.masters_dir / name, bpm))
        return self._bpms[key]

    def _science_task(self, entry: Entry, now: dt.datetime) -> ScienceTask:
        meta = entry.meta
        assert meta is not None
        bias = self._select(MasterKind.BIAS, meta)
        dark = self._select(MasterKind.DARK, meta)
        flat = self._select(MasterKind.SKYFLAT, meta)
        reference, problem = self._reference(entry)
        return ScienceTask(
            path=str(entry.path),
            out_dir=str(self.options.out),
            bias=bias,
            dark=dark,
            flat=flat,
            reference=reference,
            reference_problem=problem,
            settings=self.options.run_settings,
            bpm=self._bad_pixel_mask(dark, flat),
            thumbnail_dir=str(self.thumbnail_dir) if self.options.thumbnails else None,
            now=now,
            compress=self.options.compress,
        )

    def _science(self, entries: list[Entry]) -> None:
        tasks = []
        now = dt.datetime.now(dt.UTC)
        for entry in entries:
            try:
                tasks.append(self._science_task(entry, now))
            except Exception as error:  # this frame's masters or mask: its own failure
                self._fail("science", entry, describe_error(error, where=str(entry.path)))
        if self.options.thumbnails and tasks:
            # A folder that cannot be made: each frame then says its thumbnail was not written.
            with contextlib.suppress(OSError):
                self.thumbnail_dir.mkdir(parents=True, exist_ok=True)
        for result in self._map(reduce_science, tasks, _failed_science, lambda r: r.path):
            self._finish("science", result)

    # -- the night ---------------------------------------------------------------------------
    def _night_masters(self) -> tuple[MasterRecord, ...]:
        """This run's masters, then those earlier runs built from this night's calibration frames
        (the products their records name), described from the library and the files."""
        built = {record.path for record in self.masters}
        reused: dict[str, tuple[str, list[str]]] = {}
        for result in self.results.values():
            if result.reused and result.status == "ok" and result.obstype in ("BIAS", "DARK", "SKYFLAT"):
                for product in result.products:
                    if product not in built:
                        reused.setdefault(product, (result.camera, []))[1].append(Path(result.path).name)
        registered: dict[str, dict[str, MasterEntry]] = {}
        masters = list(self.masters)
        for path, (camera, inputs) in reused.items():
            try:
                if camera not in registered:
                    registered[camera] = {e.path: e for e in self.library.masters(camera=camera)}
                masters.append(_reused_master(path, camera, inputs, registered[camera].get(path)))
            except Exception as error:  # the night's record is still written, naming the master
                note = f"not described: {describe_error(error)}"
                masters.append(MasterRecord(path, "", camera, tuple(inputs), (), {}, True, "", note))
        return tuple(masters)


def _details(result: FrameResult) -> dict[str, object]:
    """What the library keeps of an outcome besides status, reason, products and shortfalls."""
    return {
        "obstype": result.obstype, "camera": result.camera, "masters": list(result.masters),
        "figures": result.figures, "thumbnail": result.thumbnail, "seconds": result.seconds,
    }  # fmt: skip


def _recorded(record: FrameRecord, entry: Entry) -> FrameResult:
    """A done frame's outcome as the run that produced it recorded it (`_details`)."""
    meta = entry.meta
    details = record.details
    figures = details.get("figures")
    masters = details.get("masters")
    thumbnail = details.get("thumbnail")
    seconds = details.get("seconds")
    return FrameResult(
        record.path,
        "degraded" if record.status == "degraded" else "ok",
        record.reason,
        as_text(details.get("obstype") or (meta.obstype.value if meta is not None else "")),
        as_text(details.get("camera") or (meta.camera if meta is not None else "")),
        record.products,
        tuple(as_text(m) for m in masters) if isinstance(masters, list) else (),
        dict(figures) if isinstance(figures, dict) else {},
        thumbnail if isinstance(thumbnail, str) else None,
        float(seconds) if isinstance(seconds, int | float) else 0.0,
        shortfalls=record.shortfalls,
        run=record.run.isoformat() if record.run is not None else "",
        reused=True,
    )


def _reused_master(path: str, camera: str, inputs: list[str], entry: MasterEntry | None) -> MasterRecord:
    """A master an earlier run built from this night's frames: its kind and time from the
    library, its inputs and figures from the file itself."""
    master = read_master(path)
    return MasterRecord(
        path,
        master.kind.value,
        camera,
        tuple(master.inputs) or tuple(inputs),
        (),
        _master_figures(master),
        reused=True,
        created=entry.created.isoformat() if entry is not None else "",
    )


def _failed_calibration(task: CalibrationTask, reason: str) -> CalibrationOutcome:
    return CalibrationOutcome(FrameResult(task.path, "failed", reason))


def _failed_science(task: ScienceTask, reason: str) -> FrameResult:
    return FrameResult(task.path, "failed", reason)


def _master_figures(master: Master) -> dict[str, float]:
    data = master.frame.data
    good = master.frame.mask == 0
    figures = {"median": float(np.median(data[good])) if good.any() else float("nan")}
    figures["robust_std"] = (
        float(1.4826 * np.median(np.abs(data[good] - figures["median"]))) if good.any() else float("nan")
    )
    if master.kind is MasterKind.BIAS:
        figures["BIASLVL"] = master.bias_level
    if master.kind is MasterKind.SKYFLAT and master.flat_level is not None:
        figures["FLATLVL"] = master.flat_level
    if master.kind is MasterKind.DARK and master.temperature is not None:
        figures["CCDATEMP"] = master.temperature
    return figures


def _remove_temporaries(folder: Path) -> None:
    """Temporary files of a run that was killed mid-write: never products, safe to remove."""
    for leftover in folder.rglob(".*.tmp"):
        leftover.unlink(missing_ok=True)
