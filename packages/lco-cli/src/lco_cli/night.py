"""Reducing a night: the small executor that carries out the night's plan (`lco_cli.plan`).

A run surveys its files (headers and checksums, no pixels), plans the night with
`lco_cli.plan.plan_night` and carries the plan out in its order (docs/architecture.rst, "lco-reduce
run"): bias masters, dark masters, flat masters (each from the night's frames when enough of them
pass quality control), then every science frame, each calibrated with the first master its plan
names that exists: this night's, or the library's closest. Masters are stacked from prepared files
in row bands, so memory does not grow with the number of frames. The calibration library is read
and written here only.

Every unit of work in this process (a file's headers, a master group, a science frame's
preparation, a library write, the progress display) is guarded on its own: its failure fails
that unit with a one-line reason and the night goes on. One run holds the output folder at a
time (`lco_cli.runlock`). The state a run changes as it goes lives in small records, each with
one job: the outcomes so far (recorded once each in the library, the log and the display), the
frames handed to the workers, the masters made, the reference stars fetched.
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

from lco_cli.catalogs import CatalogError, CatalogSource, catalog_source
from lco_cli.discovery import Entry, find_raw_files, inspect_files
from lco_cli.executors import Executor
from lco_cli.library import CalibrationLibrary, FrameRecord, MasterEntry, file_checksum
from lco_cli.logs import LOGGER, log_outcome
from lco_cli.plan import (
    MASTER_ORDER,
    MasterChoice,
    MasterGroup,
    NightFiles,
    NightPlan,
    Refusal,
    ScienceFrame,
    plan_night,
)
from lco_cli.plan import describe_error as describe_error  # where callers found it before lco_cli.plan
from lco_cli.results import NEED_CATALOG, FrameResult, as_text
from lco_cli.runlock import hold_run_lock
from lco_cli.stacking import CoaddTask, coadd_path, failed_coadd, group_products, inputs_digest, make_coadd
from lco_cli.work import (
    CalibrationOutcome,
    CalibrationTask,
    ScienceTask,
    prepare_calibration,
    reduce_science,
    refuse_empty,
)
from lco_core.catalog import ReferenceCatalog
from lco_core.errors import LcoError
from lco_core.frame import Frame
from lco_core.io import read_master, read_product, read_raw, stack_files, write_bad_pixel_mask, write_master
from lco_core.io.compression import COMPRESSED_SUFFIX
from lco_core.master import Master, MasterKind
from lco_core.meta import FrameMeta
from lco_core.parameters import Settings
from lco_core.stats import median, robust_std
from lco_instruments.describe import camera_for, raw_to_frame
from lco_instruments.geometry import Camera
from lco_stages.bpm import BadPixelSettings, make_bad_pixel_mask
from lco_stages.coadd import CoaddSettings
from lco_stages.masters import (
    Assessment,
    StackSettings,
    TooFewFramesError,
    choose_frames,
    master_from_stack,
    mean_shared_error,
)
from lco_stages.overscan import OverscanSettings
from lco_stages.photon_transfer import STAGE as PHOTON_TRANSFER
from lco_stages.photon_transfer import (
    FlatCandidate,
    MeasuredElectronics,
    PhotonTransfer,
    PhotonTransferSettings,
    amplifier_levels,
    choose_flat_pair,
    measure_photon_transfer,
)
from lco_stages.settings import DEFAULT_SETTINGS
from lco_stages.wcs import AstrometrySearch

Task = TypeVar("Task", CalibrationTask, ScienceTask, CoaddTask)
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
    stack : bool
        After the science frames, stack each group of repeated exposures into a coadd
        (`lco_cli.stacking`; ``run --no-stack``: none).
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
    stack: bool = True
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


#: Sky flats of one camera set-up whose levels are read to choose the photon-transfer pair, at
#: most (the first in observing order): each is read whole once, in the parent process.
MAX_FLATS_READ = 16


@attrs.frozen
class TransferRecord:
    """The night's photon-transfer measurement of one camera set-up, or why there is none.

    Attributes
    ----------
    camera : str
        INSTRUME.
    binning : str
        ``'2x2'``...
    configuration_mode : str
        CONFMODE.
    transfer : PhotonTransfer or None
        The measurement (None when it could not be made).
    note : str
        Why there is none, one line ('' when there is).
    used : bool
        The set-up's frames were calibrated with the measured values
        (``photon_transfer.use_measured``).
    """

    camera: str
    binning: str
    configuration_mode: str
    transfer: PhotonTransfer | None = None
    note: str = ""
    used: bool = False

    @property
    def warnings(self) -> tuple[str, ...]:
        """The header values beyond ``photon_transfer.max_difference`` of the measured ones, one line each."""
        return self.transfer.warnings if self.transfer is not None else ()

    def to_json(self) -> list[dict[str, object]]:
        """summary.json's records: one per amplifier (`PhotonTransfer.to_json`), or one with the note.

        Returns
        -------
        list of dict
        """
        if self.transfer is not None:
            return self.transfer.to_json(used=self.used)
        return [
            {
                "camera": self.camera, "binning": self.binning,
                "configuration_mode": self.configuration_mode, "note": self.note,
            }
        ]  # fmt: skip


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
    photon_transfer : tuple of TransferRecord
        Each camera set-up's gain and read noise measured from the night's biases and sky
        flats, or why not.
    coadds : tuple of FrameResult
        The coadds of the night's groups of repeated science exposures (`lco_cli.stacking`),
        each its own record: ``path`` the coadd's file, ``obstype`` 'STACK'.
    """

    frames: tuple[FrameResult, ...]
    masters: tuple[MasterRecord, ...]
    started: dt.datetime
    finished: dt.datetime
    phases: dict[str, float] = attrs.field(factory=dict)  # wall seconds per phase of the run
    photon_transfer: tuple[TransferRecord, ...] = ()
    coadds: tuple[FrameResult, ...] = ()

    @property
    def failed(self) -> int:
        """Number of frames, and coadds, that failed."""
        return sum(1 for f in (*self.frames, *self.coadds) if f.status == "failed")

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


def survey(
    paths: Sequence[str | Path], out: Path, *, on_found: Callable[[int], None] | None = None
) -> NightFiles:
    """The files a night is given, read for planning: headers and checksums, never pixels.

    Parameters
    ----------
    paths : sequence of str or pathlib.Path
        Raw files and folders (searched recursively).
    out : pathlib.Path
        The output folder: its files are never inputs.
    on_found : callable, optional
        Called with the number of files found (inputs and problems), before any is hashed.

    Returns
    -------
    NightFiles

    Raises
    ------
    FileNotFoundError
        A path does not exist.
    """
    found = find_raw_files(paths, exclude=[out])
    entries = inspect_files(found.files)
    if on_found is not None:
        on_found(len(entries) + len(found.problems) + len(found.skipped))
    checksums: list[tuple[str, str]] = []
    unreadable: list[tuple[str, str]] = []
    for entry in entries:
        if entry.meta is None or entry.skip:
            continue
        try:
            checksums.append((str(entry.path), file_checksum(entry.path)))
        except OSError as error:
            unreadable.append((str(entry.path), error.strerror or str(error)))
    return NightFiles(tuple(entries), found.problems, found.skipped, tuple(checksums), tuple(unreadable))


class ReferenceStars:
    """The reference stars around each pointing of a night, fetched once per pointing.

    Parameters
    ----------
    options : RunOptions
        ``catalog``, ``offline``, ``out`` (Gaia's cache is ``OUT/catalog-cache``) and the
        astrometric search radius (``astrometry.radius_arcmin``).
    read_only : bool
        Never query Gaia nor write its cache (``lco-reduce run --plan``): the catalogue file, or
        what the cache holds, only.
    """

    def __init__(self, options: RunOptions, *, read_only: bool = False) -> None:
        self._options = options
        self._read_only = read_only
        self._source: CatalogSource | None = None
        self._found: dict[tuple[float, float], tuple[ReferenceCatalog | None, str]] = {}

    def around(self, entry: Entry) -> tuple[ReferenceCatalog | None, str]:
        """The reference stars around a frame's pointing, and why there are none.

        Parameters
        ----------
        entry : Entry
            The frame (its pointing and field of view).

        Returns
        -------
        stars : ReferenceCatalog or None
            The stars within the field's radius plus the astrometric search radius.
        problem : str
            Why there are none, or none in the field ('' when there are, and for a frame
            without a pointing, which no catalogue can help).
        """
        pointing = None if entry.meta is None else entry.meta.pointing
        if pointing is None:
            return None, ""
        ra, dec = pointing
        key = (round(ra, 2), round(dec, 2))
        if key not in self._found:
            options = self._options
            search = options.run_settings.of(AstrometrySearch)
            radius = entry.field_radius_deg + search.radius_arcmin / 60.0
            try:
                if self._source is None:
                    self._source = catalog_source(
                        catalog_file=options.catalog,
                        cache_dir=options.out / "catalog-cache",
                        offline=options.offline or self._read_only,
                    )
                stars = self._source.stars_around(ra, dec, radius)
                where = options.catalog.name if options.catalog else "Gaia DR3"
                empty = f"{where} has no star within {radius:.3f} deg of RA {ra:.4f}, Dec {dec:+.4f}"
                self._found[key] = (stars, "" if len(stars) else empty)
            except Exception as error:  # no reference stars: the frame is reduced without them
                # A catalogue's own problem without its cache file's path, which is no use here.
                problem = error.problem if isinstance(error, CatalogError) else describe_error(error)
                self._found[key] = (None, problem)
        return self._found[key]

    def given(self, need: str, entry: Entry) -> bool:
        """Whether this run has an input a degraded frame lacked: reference stars around it.

        Parameters
        ----------
        need : str
            What the frame lacked (`~lco_cli.results.NEED_CATALOG`).
        entry : Entry
            The frame.

        Returns
        -------
        bool
        """
        if need == NEED_CATALOG:
            reference, _ = self.around(entry)
            return reference is not None and len(reference) > 0
        return False


@attrs.frozen
class _LibraryView:
    """The calibration library as planning reads it (`lco_cli.plan.LibraryView`)."""

    library: CalibrationLibrary
    out: Path
    references: ReferenceStars

    def closest(self, kind: MasterKind, meta: FrameMeta) -> MasterEntry:
        return self.library.select_master(
            kind, camera=meta.camera, binning=meta.binning, configuration_mode=meta.configuration_mode,
            date_obs=meta.date_obs, filter=meta.filter, set_temperature=meta.ccd_set_temperature,
        )  # fmt: skip

    def done(self, entry: Entry, checksum: str) -> FrameRecord | None:
        return self.library.done(
            str(entry.path),
            checksum,
            products_under=self.out,
            given=lambda need: self.references.given(need, entry),
        )


def _plan(
    files: NightFiles, library: CalibrationLibrary, options: RunOptions, references: ReferenceStars
) -> NightPlan:
    return plan_night(
        files,
        _LibraryView(library, options.out, references),
        group_key=_group_key,
        masters_dir=options.out / "masters",
        force=options.force,
        compress=options.compress,
    )


def plan_run(
    paths: Sequence[str | Path], options: RunOptions, library: CalibrationLibrary | None = None
) -> NightPlan:
    """The plan ``lco-reduce run`` would carry out, made without writing anything (``run --plan``).

    Headers and checksums are read, and the calibration library when there is one. Whether a
    frame degraded for want of reference stars is redone is judged from ``--catalog`` or
    Gaia's cache in ``OUT/catalog-cache``: Gaia is never queried, so such a frame the run would
    redo with stars it fetches is planned as done.

    Parameters
    ----------
    paths : sequence of str or pathlib.Path
        Raw files and folders.
    options : RunOptions
        The run's options (``out``, ``force``, ``compress``, ``catalog``, ``offline``).
    library : CalibrationLibrary, optional
        The library the run would use; None when there is none yet (nothing is registered or
        done).

    Returns
    -------
    NightPlan

    Raises
    ------
    FileNotFoundError
        A path does not exist.
    """
    references = ReferenceStars(options, read_only=True)
    files = survey(paths, options.out)
    if library is None:
        # No library yet: an empty one in memory answers as the run's new one would.
        with CalibrationLibrary("sqlite://") as empty:
            return _plan(files, empty, options, references)
    return _plan(files, library, options, references)


class _Ledger:
    """The night's outcomes, each recorded once: in the library, the log and the display."""

    def __init__(
        self, library: CalibrationLibrary, plan: NightPlan, started: dt.datetime, progress: Progress
    ) -> None:
        self.results: dict[str, FrameResult] = {}
        self._library = library
        self._checksums = dict(plan.checksums)
        self._started = started
        self._progress = progress

    @property
    def started(self) -> dt.datetime:
        """When the run started (each outcome's ``run``)."""
        return self._started

    def finish(self, phase: str, result: FrameResult, *, record: bool = True) -> None:
        """Keep a frame's outcome; record it in the library when its checksum is known."""
        checksum = self._checksums.get(result.path)
        if not result.reused:
            result = attrs.evolve(result, run=self._started.isoformat())
        if checksum is not None and record:
            try:
                self._library.record_frame(
                    result.path,
                    checksum=checksum,
                    status=result.status,
                    reason=result.reason,
                    products=result.products,
                    shortfalls=result.shortfalls,
                    details=_details(result),
                    run=self._started,
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
            self._progress(phase, result)

    def fail(self, phase: str, entry: Entry, reason: str) -> None:
        """A frame failed before a worker had it."""
        meta = entry.meta
        obstype, camera = (meta.obstype.value, meta.camera) if meta is not None else ("", "")
        self.finish(phase, FrameResult(str(entry.path), "failed", reason, obstype, camera))

    def refuse(self, refusal: Refusal) -> None:
        """A file the plan does not reduce."""
        self.finish(
            refusal.phase,
            FrameResult(str(refusal.path), refusal.status, refusal.reason, refusal.obstype, refusal.camera),
        )


class _Workers:
    """Frames handed to the executor: their results, the count in progress, and a failure for
    every frame still out when the executor itself breaks."""

    def __init__(self, executor: Executor, on_running: Callable[[int], None]) -> None:
        self._executor = executor
        self._on_running = on_running
        self._running = 0

    def map(
        self,
        function: Callable[[Task], Outcome],
        tasks: Sequence[Task],
        failure: Callable[[Task, str], Outcome],
        path_of: Callable[[Outcome], str],
    ) -> Iterator[Outcome]:
        """The executor's results; if the executor itself breaks (a worker killed by the OOM
        killer, a lost cluster), every task without a result fails with the reason."""
        pending = {task.path: task for task in tasks}
        self._count(len(pending))
        try:
            for outcome in self._executor.map(function, tasks):
                if pending.pop(path_of(outcome), None) is not None:
                    self._count(-1)
                yield outcome
        except Exception as error:
            reason = f"the workers stopped before this frame was done ({describe_error(error)})"
            left = list(pending.values())
            self._count(-len(pending))
            pending.clear()
            for task in left:
                yield failure(task, f"{Path(task.path).name}: {reason}")
        finally:
            self._count(-len(pending))  # none, unless the caller stopped reading early

    def _count(self, change: int) -> None:
        if not change:
            return
        self._running += change
        with contextlib.suppress(Exception):  # a display
            self._on_running(self._running)


@attrs.define
class _Masters:
    """The masters this run made: as registered, by the number of the group that made each, and
    as the summary describes them."""

    registered: dict[int, MasterEntry] = attrs.field(factory=dict)
    records: list[MasterRecord] = attrs.field(factory=list)


@attrs.frozen
class _Execution:
    """What one run changes as it carries its plan out, each part with one job."""

    ledger: _Ledger
    workers: _Workers
    masters: _Masters
    references: ReferenceStars
    phases: defaultdict[str, float]
    transfers: dict[tuple[object, ...], TransferRecord] = attrs.field(factory=dict)
    coadds: list[FrameResult] = attrs.field(factory=list)


class NightReduction:
    """One ``lco-reduce run``: plans the night (`lco_cli.plan.plan_night`) and carries the plan out.

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
        self.options = options
        self.library = library
        self.executor = executor
        self.progress = progress or (lambda phase, result: None)
        self.on_total = on_total or (lambda total: None)
        self.on_running = on_running or (lambda count: None)
        self.masters_dir = options.out / "masters"
        self.work_dir = options.out / ".work"
        self.thumbnail_dir = options.out / "thumbnails"

    def run(self, paths: Sequence[str | Path]) -> NightResult:
        """Reduce everything under ``paths``: bias, dark and flat masters, then science frames.

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
        started = dt.datetime.now(dt.UTC)
        self.options.out.mkdir(parents=True, exist_ok=True)
        with hold_run_lock(self.options.out):
            return self._run_locked(paths, started)

    def _run_locked(self, paths: Sequence[str | Path], started: dt.datetime) -> NightResult:
        for folder in (self.masters_dir, self.work_dir):
            folder.mkdir(parents=True, exist_ok=True)
        _remove_temporaries(self.options.out)
        try:
            clock = time.perf_counter()
            references = ReferenceStars(self.options)
            files = survey(paths, self.options.out, on_found=self.on_total)
            plan = _plan(files, self.library, self.options, references)
            ledger = _Ledger(self.library, plan, started, self.progress)
            run = _Execution(
                ledger, _Workers(self.executor, self.on_running), _Masters(), references, defaultdict(float)
            )
            self._carry_out(plan, run, clock)
        finally:
            shutil.rmtree(self.work_dir, ignore_errors=True)
        masters = _night_masters(ledger.results, run.masters.records, self.library)
        order = {str(path): n for n, path in enumerate(plan.files)}
        frames = tuple(sorted(ledger.results.values(), key=lambda r: order.get(r.path, len(order))))
        transfers = tuple(run.transfers.values())
        finished = dt.datetime.now(dt.UTC)
        return NightResult(
            frames, masters, started, finished, dict(run.phases), transfers, coadds=tuple(run.coadds)
        )

    def _carry_out(self, plan: NightPlan, run: _Execution, clock: float) -> None:
        """The plan, in its order: refusals and frames done, each kind's groups, science frames."""
        for refusal in plan.refused_in("inspect"):
            run.ledger.refuse(refusal)
        for finished in plan.done:
            # Reported as the run that made its products recorded it, and not recorded
            # again: the library keeps that run's outcome.
            run.ledger.finish("done", _recorded(finished.record, finished.entry), record=False)
        run.phases["inspect"] += time.perf_counter() - clock
        clock = time.perf_counter()
        # Before any master: with photon_transfer.use_measured every frame of a set-up, its
        # biases too, is calibrated with the measured gains.
        run.transfers.update(self._photon_transfer(plan))
        run.phases["photon transfer"] += time.perf_counter() - clock
        for kind in MASTER_ORDER:
            for refusal in plan.refused_in(kind.value):
                run.ledger.refuse(refusal)
            for group in plan.groups_of(kind):
                self._make_master(group, run)
        clock = time.perf_counter()
        self._reduce_science(plan.science, run)
        run.phases["science frames"] += time.perf_counter() - clock
        if self.options.stack:
            clock = time.perf_counter()
            try:
                self._stack_night(plan, run)
            except Exception as error:  # the coadds are extra: the night's own outcomes stand
                LOGGER.warning("coadds not made: %s", describe_error(error))
            run.phases["coadds"] += time.perf_counter() - clock

    # -- photon transfer ---------------------------------------------------------------------
    def _photon_transfer(self, plan: NightPlan) -> dict[tuple[object, ...], TransferRecord]:
        """Each camera set-up's gain and read noise from the night's biases and sky flats (those the
        plan reduces and those done earlier); a set-up that cannot be measured gets a one-line note,
        and nothing here stops the night."""
        settings = self.options.run_settings
        use = settings.of(PhotonTransferSettings).use_measured
        biases: dict[tuple[object, ...], list[Entry]] = defaultdict(list)
        flats: dict[tuple[object, ...], list[Entry]] = defaultdict(list)
        entries = [e for g in plan.groups if g.kind is not MasterKind.DARK for e in g.frames]
        entries += [d.entry for d in plan.done]
        for entry in entries:
            meta = entry.meta
            if meta is None or meta.obstype not in (MasterKind.BIAS.obstype, MasterKind.SKYFLAT.obstype):
                continue
            chosen = biases if meta.obstype is MasterKind.BIAS.obstype else flats
            chosen[_setup_key(entry)].append(entry)
        records: dict[tuple[object, ...], TransferRecord] = {}
        for key in sorted({*biases, *flats}, key=str):
            b = sorted(biases[key], key=_observed)
            f = sorted(flats[key], key=_observed)
            meta = (b or f)[0].meta
            assert meta is not None
            label = (meta.camera, str(meta.binning), meta.configuration_mode)
            if len(b) < 2 or len(f) < 2:
                note = f"not measured: {len(b)} bias and {len(f)} sky flat frames (a pair of each is needed)"
                records[key] = TransferRecord(*label, note=note)
            else:
                try:
                    transfer = _measure_setup(b, f, settings)
                    records[key] = TransferRecord(*label, transfer=transfer, used=use)
                except Exception as error:  # a set-up without a measurement: a note, the night goes on
                    records[key] = TransferRecord(*label, note=f"not measured: {describe_error(error)}")
            record = records[key]
            where = f"photon transfer {' '.join(label)}"
            if record.note:
                LOGGER.info("%s: %s", where, record.note)
            for line in record.warnings:
                LOGGER.warning("photon transfer: %s", line)
            if record.transfer is not None:
                measured = ", ".join(
                    f"amp{a.amplifier} gain {a.gain:.3f} +- {a.gain_error:.3f} e-/ADU, read noise "
                    f"{a.read_noise:.2f} e-"
                    for a in record.transfer.amplifiers
                )
                LOGGER.info("%s: %s%s", where, measured, " (used)" if use else "")
        return records

    # -- masters -----------------------------------------------------------------------------
    def _master_path(self, choice: MasterChoice, masters: _Masters) -> str:
        """The master a plan's choice names now (`MasterChoice.resolve`), checked against the
        checksum it was registered with.

        A master changed on disk since (or gone) fails the frame that needed it
        (`MasterChangedError`): silently using other pixels than the library describes would
        make products nobody can trace.
        """
        entry = choice.resolve(masters.registered)
        self.library.verify_master(entry)
        return entry.path

    def _make_master(self, group: MasterGroup, run: _Execution) -> None:
        """One group's master; its failure fails its own frames only, and its work files go."""
        prepared: list[str] = []
        try:
            self._master_of_group(group, run, prepared)
        except Exception as error:  # one master's failure fails its own frames only
            reason = f"master {group.kind.value} of {group.template.camera} not made: {describe_error(error)}"
            for entry in group.frames:
                if str(entry.path) not in run.ledger.results:
                    run.ledger.fail(group.kind.value, entry, reason)
        finally:
            for name in prepared:
                Path(name).unlink(missing_ok=True)

    def _master_of_group(self, group: MasterGroup, run: _Execution, prepared: list[str]) -> None:
        """Prepare and judge a group's frames, then stack, write and register its master;
        ``prepared`` collects the prepared files (the caller removes them, whatever happens)."""
        kind = group.kind
        try:
            bias = self._master_path(group.bias, run.masters) if group.bias is not None else None
            dark = self._master_path(group.dark, run.masters) if group.dark is not None else None
        except LcoError as error:
            for entry in group.frames:
                run.ledger.fail(kind.value, entry, str(error))
            return
        try:
            previous: str | None = self._master_path(group.previous, run.masters)
        except LcoError:
            previous = None  # nothing to judge the frames against
        outcomes = self._prepare(group, run, bias=bias, dark=dark, previous=previous)
        prepared += [o.prepared for o in outcomes if o.prepared]
        stack = self.options.run_settings.of(StackSettings)
        assessments = [o.assessment for o in outcomes if o.assessment is not None]
        try:
            accepted = choose_frames(assessments, kind, settings=stack) if assessments else []
            if not accepted:
                raise TooFewFramesError(f"{group.middle.camera} {kind.value}", 0, stack.min_frames, ())
        except (TooFewFramesError, ValueError) as error:
            for outcome in outcomes:
                result = outcome.result
                if result.status == "ok":
                    result = attrs.evolve(
                        result,
                        status="skipped",
                        reason=f"no master made: {error}; the library's closest master serves this night",
                    )
                run.ledger.finish(kind.value, result)
            return
        names = {a.filename for a in accepted}
        stacked = [
            o.prepared
            for o in outcomes
            if o.assessment is not None and o.assessment.filename in names and o.prepared
        ]
        cameras = [o.camera for o in outcomes if o.camera is not None]
        clock = time.perf_counter()
        master = _stack_master(
            kind, accepted, stacked, bias, dark, cameras[0].dark_temperature_coefficient if cameras else None,
            stack,
        )  # fmt: skip
        transfer = run.transfers.get(_setup_key(group.frames[0]))
        if transfer is not None and transfer.transfer is not None and kind is not MasterKind.DARK:
            # The night's gain is recorded with its bias and flat masters (history and figures),
            # measured before the master was made: the master's own step stays its last.
            step = transfer.transfer.step(self.options.run_settings.of(PhotonTransferSettings))
            history = master.frame.history
            history = (*history[:-1], step, *history[-1:])
            master = attrs.evolve(master, frame=attrs.evolve(master.frame, history=history))
        made = self._write_master(master, run.masters)
        run.phases[f"{kind.value} master"] += time.perf_counter() - clock
        rejected = tuple(
            (Path(o.result.path).name, o.result.reason) for o in outcomes if o.result.status != "ok"
        )
        run.masters.registered[group.number] = made
        run.masters.records.append(
            MasterRecord(made.path, kind.value, made.camera, master.inputs, rejected, _master_figures(master))
        )
        for outcome in outcomes:
            result = outcome.result
            if result.status == "ok":
                result = attrs.evolve(result, products=(made.path,))
            run.ledger.finish(kind.value, _with_pair_figures(result, transfer))

    def _prepare(
        self, group: MasterGroup, run: _Execution, *, bias: str | None, dark: str | None, previous: str | None
    ) -> list[CalibrationOutcome]:
        """A group's frames prepared and judged by the workers, sorted by input path, so the
        master does not depend on the order workers finish in."""
        settings = self.options.run_settings
        tasks = [
            CalibrationTask(
                str(e.path),
                group.kind,
                str(self.work_dir),
                bias=bias,
                dark=dark,
                previous=previous,
                settings=settings,
                measured=_measured(e, run),
            )
            for e in group.frames
        ]
        clock = time.perf_counter()
        outcomes = sorted(
            run.workers.map(prepare_calibration, tasks, _failed_calibration, lambda o: o.result.path),
            key=lambda o: o.result.path,
        )
        run.phases[f"{group.kind.value} frames"] += time.perf_counter() - clock
        return outcomes

    def _write_master(self, master: Master, masters: _Masters) -> MasterEntry:
        """Write a master and register it; an unregistered master would be an orphan no run ever
        selects, so a failed registration removes the file."""
        target = self.masters_dir / (master.filename + (COMPRESSED_SUFFIX if self.options.compress else ""))
        if any(record.path == str(target) for record in masters.records):
            raise LcoError(f"{target.name} was already made this run from other frames of that name")
        path = write_master(target, master)
        meta = master.frame.meta
        try:
            return self.library.register_master(
                kind=master.kind, site=meta.site, telescope=meta.telescope, camera=meta.camera,
                binning=meta.binning, configuration_mode=meta.configuration_mode,
                filter=meta.filter if master.kind is MasterKind.SKYFLAT else None,
                set_temperature=meta.ccd_set_temperature, date_obs=meta.date_obs, path=str(path),
                checksum=file_checksum(path),
            )  # fmt: skip
        except BaseException:
            path.unlink(missing_ok=True)
            raise

    # -- science -----------------------------------------------------------------------------
    def _bad_pixel_mask(self, dark: str, flat: str, made: dict[tuple[str, str], str]) -> str:
        """The bad pixel mask of a dark and a flat, made once per pair this run (``made``)."""
        key = (dark, flat)
        if key not in made:
            dark_master, flat_master = read_master(dark), read_master(flat)
            # One mask per flat (it depends on the filter's flat): named after it.
            name = Path(flat).name.replace("-skyflat-", "-bpm-")
            thresholds = self.options.run_settings.of(BadPixelSettings)
            bpm = make_bad_pixel_mask(dark=dark_master, flat=flat_master, filename=name, settings=thresholds)
            made[key] = str(write_bad_pixel_mask(self.masters_dir / name, bpm))
        return made[key]

    def _science_task(
        self, frame: ScienceFrame, now: dt.datetime, run: _Execution, masks: dict[tuple[str, str], str]
    ) -> ScienceTask:
        bias = self._master_path(frame.bias, run.masters)
        dark = self._master_path(frame.dark, run.masters)
        flat = self._master_path(frame.flat, run.masters)
        reference, problem = run.references.around(frame.entry)
        return ScienceTask(
            path=str(frame.entry.path),
            out_dir=str(self.options.out),
            bias=bias,
            dark=dark,
            flat=flat,
            reference=reference,
            reference_problem=problem,
            settings=self.options.run_settings,
            bpm=self._bad_pixel_mask(dark, flat, masks),
            thumbnail_dir=str(self.thumbnail_dir) if self.options.thumbnails else None,
            now=now,
            compress=self.options.compress,
            measured=_measured(frame.entry, run),
        )

    def _reduce_science(self, frames: Sequence[ScienceFrame], run: _Execution) -> None:
        tasks = []
        now = dt.datetime.now(dt.UTC)
        masks: dict[tuple[str, str], str] = {}
        for frame in frames:
            try:
                tasks.append(self._science_task(frame, now, run, masks))
            except Exception as error:  # this frame's masters or mask: its own failure
                run.ledger.fail("science", frame.entry, describe_error(error, where=str(frame.entry.path)))
        if self.options.thumbnails and tasks:
            # A folder that cannot be made: each frame then says its thumbnail was not written.
            with contextlib.suppress(OSError):
                self.thumbnail_dir.mkdir(parents=True, exist_ok=True)
        for result in run.workers.map(reduce_science, tasks, _failed_science, lambda r: r.path):
            run.ledger.finish("science", result)

    # -- coadds ------------------------------------------------------------------------------
    def _stack_night(self, plan: NightPlan, run: _Execution) -> None:
        """A coadd of each group of the night's science products (`lco_cli.stacking`); each group
        is its own unit: its failure is its own record, one line, and the night goes on. A coadd
        whose inputs are unchanged since the library recorded it is reported as recorded."""
        settings = self.options.run_settings
        science = [
            r for r in run.ledger.results.values()
            if r.obstype in ("EXPOSE", "STANDARD") and r.status in ("ok", "degraded") and r.products
        ]  # fmt: skip
        raw_of = {r.products[0]: r.path for r in science}
        entries = {str(f.entry.path): f.entry for f in plan.science} | {
            str(d.entry.path): d.entry for d in plan.done
        }
        groups, left_out = group_products(sorted(raw_of), settings=settings)
        for path, reason in left_out:
            LOGGER.info("stack: %s left out of the coadds: %s", Path(path).name, reason)
        tasks: list[CoaddTask] = []
        digests: dict[str, str] = {}
        now = dt.datetime.now(dt.UTC)
        for group in groups:
            if len(group.members) < settings.of(CoaddSettings).min_frames:
                continue
            target = coadd_path(group, self.options.out, compressed=self.options.compress)
            task = CoaddTask(str(target), group.paths, None, settings=settings, now=now)
            try:
                digest = inputs_digest(group.paths)
                done = None
                if not self.options.force:
                    done = self.library.done(str(target), digest, products_under=self.options.out)
                if done is not None:
                    run.coadds.append(_recorded(done, Entry(target, None)))
                    continue
                reference, problem = run.references.around(entries[raw_of[group.paths[0]]])
                thumbnails = str(self.thumbnail_dir) if self.options.thumbnails else None
                task = attrs.evolve(
                    task, reference=reference, reference_problem=problem, thumbnail_dir=thumbnails
                )
            except Exception as error:  # this group's own failure
                failure = failed_coadd(task, describe_error(error, where=str(target)))
                run.coadds.append(self._finish_coadd(failure, "", run.ledger.started))
                continue
            digests[task.path] = digest
            tasks.append(task)
        for result in run.workers.map(make_coadd, tasks, _failed_coadd, lambda r: r.path):
            run.coadds.append(self._finish_coadd(result, digests.get(result.path, ""), run.ledger.started))

    def _finish_coadd(self, result: FrameResult, digest: str, started: dt.datetime) -> FrameResult:
        """Record a coadd's outcome in the library (by its own path, its inputs' digest as the
        checksum) and the log; a library that cannot record it makes it a failure, as for frames."""
        result = attrs.evolve(result, run=started.isoformat())
        if digest:
            try:
                self.library.record_frame(
                    result.path, checksum=digest, status=result.status, reason=result.reason,
                    products=result.products, shortfalls=result.shortfalls, details=_details(result),
                    run=started,
                )  # fmt: skip
            except Exception as error:
                result = attrs.evolve(
                    result, status="failed",
                    reason=f"{Path(result.path).name}: written but not recorded in the calibration library "
                    f"({describe_error(error, where=result.path)}); a rerun makes it again",
                )  # fmt: skip
        log_outcome("stack", result)
        return result


def _night_masters(
    results: dict[str, FrameResult], built: Sequence[MasterRecord], library: CalibrationLibrary
) -> tuple[MasterRecord, ...]:
    """This run's masters, then those earlier runs built from this night's calibration frames
    (the products their records name), described from the library and the files."""
    paths = {record.path for record in built}
    reused: dict[str, tuple[str, list[str]]] = {}
    for result in results.values():
        if result.reused and result.status == "ok" and result.obstype in ("BIAS", "DARK", "SKYFLAT"):
            for product in result.products:
                if product not in paths:
                    reused.setdefault(product, (result.camera, []))[1].append(Path(result.path).name)
    registered: dict[str, dict[str, MasterEntry]] = {}
    masters = list(built)
    for path, (camera, inputs) in reused.items():
        try:
            if camera not in registered:
                registered[camera] = {e.path: e for e in library.masters(camera=camera)}
            masters.append(_reused_master(path, camera, inputs, registered[camera].get(path)))
        except Exception as error:  # the night's record is still written, naming the master
            note = f"not described: {describe_error(error)}"
            masters.append(MasterRecord(path, "", camera, tuple(inputs), (), {}, True, "", note))
    return tuple(masters)


def _stack_master(
    kind: MasterKind,
    accepted: Sequence[Assessment],
    prepared: list[str],
    bias: str | None,
    dark: str | None,
    coefficient: float | None,
    stack: StackSettings,
) -> Master:
    """The master of the accepted prepared files, stacked from the files in row bands."""
    stacked = stack_files(prepared, nsigma=stack.nsigma, maxiters=stack.maxiters)
    template = read_product(prepared[0]).frame
    bias_master = read_master(bias) if bias else None
    dark_master = read_master(dark) if dark else None
    shared = mean_shared_error(kind, accepted, template.shape, bias=bias_master, dark=dark_master)
    return master_from_stack(
        kind, stacked, accepted, template, settings=stack, shared=shared,
        temperature_coefficient=coefficient,
    )  # fmt: skip


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


def _failed_coadd(task: CoaddTask, reason: str) -> FrameResult:
    return failed_coadd(task, reason)


def _master_figures(master: Master) -> dict[str, float]:
    data = master.frame.data
    good = master.frame.mask == 0
    # The robust statistics of lco_core.stats, not a restatement (NaN where nothing is good).
    figures = {"median": median(data, mask=~good), "robust_std": robust_std(data, mask=~good)}
    if master.kind is MasterKind.BIAS:
        figures["BIASLVL"] = master.bias_level
    if master.kind is MasterKind.SKYFLAT and master.flat_level is not None:
        figures["FLATLVL"] = master.flat_level
    if master.kind is MasterKind.DARK and master.temperature is not None:
        figures["CCDATEMP"] = master.temperature
    for step in master.frame.steps(PHOTON_TRANSFER)[-1:]:
        # The night's measured gains and read noises, with the header's (PhotonTransfer.figures).
        figures |= {key: float(v) for key, v in step.diagnostics.items() if isinstance(v, int | float)}
    return figures


def _remove_temporaries(folder: Path) -> None:
    """Temporary files of a run that was killed mid-write: never products, safe to remove."""
    for leftover in folder.rglob(".*.tmp"):
        leftover.unlink(missing_ok=True)


def _setup_key(entry: Entry) -> tuple[object, ...]:
    """The camera set-up a frame was taken with (the bias rule's grouping: telescope, camera,
    binning, mode, night, image sizes): one photon-transfer measurement each."""
    return _group_key(entry, MasterKind.BIAS)


def _observed(entry: Entry) -> tuple[dt.datetime, str]:
    meta = entry.meta
    assert meta is not None
    return meta.date_obs, str(entry.path)


def _raw_frame(path: Path) -> tuple[Frame, Camera]:
    """A raw file's readouts (ADU) and its camera as the headers describe it."""
    raw = read_raw(path)
    refuse_empty(raw)
    camera = camera_for(raw)
    return raw_to_frame(raw, camera), camera


def _measure_setup(biases: Sequence[Entry], flats: Sequence[Entry], settings: Settings) -> PhotonTransfer:
    """The photon transfer of one set-up: its first two biases (in observing order) and, of its
    first `MAX_FLATS_READ` sky flats, the two of one filter closest in level
    (`~lco_stages.photon_transfer.choose_flat_pair`)."""
    chosen = settings.of(PhotonTransferSettings)
    pair = [_raw_frame(entry.path) for entry in biases[:2]]
    levels = [amplifier_levels(frame, camera, chosen) for frame, camera in pair]
    bias_levels = tuple((a + b) / 2 for a, b in zip(*levels, strict=True))
    candidates = []
    for entry in flats[:MAX_FLATS_READ]:
        frame, camera = _raw_frame(entry.path)
        assert entry.meta is not None
        candidates.append(
            FlatCandidate(entry.path.name, entry.meta.filter or "", amplifier_levels(frame, camera, chosen))
        )
    first, second = choose_flat_pair(candidates, bias_levels, pair[0][1], chosen)
    (f1, camera), (f2, _) = _raw_frame(flats[first].path), _raw_frame(flats[second].path)
    return measure_photon_transfer(
        (pair[0][0], pair[1][0]), (f1, f2), camera, chosen, overscan=settings.of(OverscanSettings)
    )


def _measured(entry: Entry, run: _Execution) -> MeasuredElectronics | None:
    """The gains and read noises to calibrate a frame with instead of its header's: its set-up's
    measured ones when ``photon_transfer.use_measured`` (None otherwise)."""
    record = run.transfers.get(_setup_key(entry))
    if record is None or not record.used or record.transfer is None:
        return None
    return MeasuredElectronics.of(record.transfer)


def _with_pair_figures(result: FrameResult, record: TransferRecord | None) -> FrameResult:
    """A frame of the photon-transfer pairs with the measured gains and read noises in its figures
    (which the calibration library keeps with its outcome)."""
    transfer = record.transfer if record is not None else None
    if transfer is None or Path(result.path).name not in (*transfer.biases, *transfer.flats):
        return result
    figures = dict(result.figures) | {
        "photon_transfer_gain": tuple(a.gain for a in transfer.amplifiers),
        "photon_transfer_read_noise": tuple(a.read_noise for a in transfer.amplifiers),
    }
    return attrs.evolve(result, figures=figures)
