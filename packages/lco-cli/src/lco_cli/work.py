"""What a worker does with one frame: module-level functions on picklable tasks.

They run in worker processes (a local pool or a Dask cluster) and never raise: every outcome,
including a bad file or an unexpected error, comes back as data with a one-line reason. They
read masters by path and write products atomically; the calibration library is touched only
by the parent process.
"""

from __future__ import annotations

import datetime as dt
import functools
import hashlib
import time
import traceback
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import TypeVar

import attrs
import numpy as np

from lco_cli.quality import quality_figures, rejections
from lco_cli.results import NEED_CATALOG, FrameResult, Shortfall, describe_shortfalls
from lco_core.catalog import ReferenceCatalog
from lco_core.errors import EmptyFrameError, LcoError
from lco_core.frame import Frame
from lco_core.io import read_bad_pixel_mask, read_master, read_raw, write_product
from lco_core.master import BadPixelMask, Master, MasterKind
from lco_core.parameters import Settings
from lco_core.provenance import ParamValue
from lco_core.raw import RawFile
from lco_instruments.describe import camera_for, raw_to_frame
from lco_instruments.geometry import Camera
from lco_stages.bias import LEVEL_STAGE as BIAS_LEVEL
from lco_stages.bias import STAGE as BIAS
from lco_stages.cosmic import STAGE as COSMIC_RAYS
from lco_stages.depth import STAGE as DEPTH
from lco_stages.flat import NORMALISE_STAGE
from lco_stages.keywords import product_keywords
from lco_stages.masters import Assessment, assess_frame
from lco_stages.overscan import STAGE as OVERSCAN
from lco_stages.photon_transfer import MeasuredElectronics, with_measured
from lco_stages.qc import QcSettings
from lco_stages.recipes import Calibrations, recipe_for, science_recipe
from lco_stages.settings import DEFAULT_SETTINGS
from lco_stages.sources import STAGE as SOURCES
from lco_stages.wcs import STAGE as ASTROMETRY
from lco_stages.zeropoint import STAGE as ZERO_POINT

Result = TypeVar("Result")


class MissingPixelScaleError(LcoError):
    """A science frame without PIXSCALE: apertures in arcsec and astrometry need it."""


@functools.lru_cache(maxsize=16)
def _master(path: str) -> Master:
    # A worker reduces many frames with the same few masters: read each once.
    return read_master(path)


@functools.lru_cache(maxsize=4)
def _bpm(path: str) -> BadPixelMask:
    return read_bad_pixel_mask(path)


def _calibrations(bias: str | None, dark: str | None, flat: str | None, bpm: str | None) -> Calibrations:
    return Calibrations(
        bias=_master(bias) if bias else None,
        dark=_master(dark) if dark else None,
        flat=_master(flat) if flat else None,
        bpm=_bpm(bpm) if bpm else None,
    )


def _guarded(path: str, work: Callable[[], Result], failure: Callable[[str, str], Result]) -> Result:
    """Run ``work``; a typed error or any other exception becomes ``failure(one_line_reason, details)``.

    ``details`` is the full traceback of an unexpected error ('' for a typed one): this runs in
    a worker process, whose own logging goes nowhere, so the parent logs it (`lco_cli.logs`).
    """
    try:
        return work()
    except LcoError as error:
        return failure(str(error).replace("\n", " "), "")
    except MemoryError:
        return failure(f"{Path(path).name}: out of memory", "")
    except Exception as error:  # a worker must report, never crash the night
        where = traceback.extract_tb(error.__traceback__)[-1]
        return failure(
            f"{Path(path).name}: internal error {type(error).__name__}: {error} "
            f"({Path(where.filename).name}:{where.lineno})",
            traceback.format_exc(),
        )


def refuse_empty(raw: RawFile) -> None:
    """A readout of nothing but zeros or NaN is a broken exposure, not a night's data.

    Parameters
    ----------
    raw : RawFile
        The raw file.

    Raises
    ------
    EmptyFrameError
        No finite pixel, or every pixel 0.
    """
    if not any(np.isfinite(image.data).any() for image in raw.images):
        raise EmptyFrameError(raw.meta.filename, "no pixel has a finite value")
    if not any(np.any(image.data != 0) for image in raw.images):
        raise EmptyFrameError(raw.meta.filename, "every pixel is 0: the camera read out nothing")


def figures_of(frame: Frame) -> dict[str, ParamValue]:
    """The key numbers of a processed frame (for summary.json and the report).

    Parameters
    ----------
    frame : Frame
        A processed frame.

    Returns
    -------
    dict
        Taken from its history (`FIGURES_BY_STAGE`): overscan, BIASLVL, FLATLVL, cosmic-ray
        pixels, sources, L1FWHM, L1ELLIP, L1MEDIAN, L1SIGMA, WCSERR, WCSRMS, WCSMATCH, L1ZP,
        L1ZPERR, L1ZPNSTR (stars in the zero-point fit), L1DEPTH (5-sigma limiting magnitude,
        `lco_stages.depth`) and the reasons of failed steps; a later
        step of a stage replaces an earlier one's figures. Then the quality verdict, its reasons
        and each quality test's figure (`lco_cli.quality.quality_figures`).
    """
    figures: dict[str, ParamValue] = {}
    for step in frame.history:
        figures_from = FIGURES_BY_STAGE.get(step.stage)
        if figures_from is not None:
            figures |= figures_from(step.diagnostics)
    return figures | quality_figures(frame)


def _overscan_figures(d: Mapping[str, ParamValue]) -> dict[str, ParamValue]:
    levels = tuple(v for k, v in d.items() if k.startswith("overscan_amp") and not isinstance(v, tuple))
    return {"overscan": levels}


def _bias_figures(d: Mapping[str, ParamValue]) -> dict[str, ParamValue]:
    return {"BIASLVL": d.get("BIASLVL")}


def _flat_level_figures(d: Mapping[str, ParamValue]) -> dict[str, ParamValue]:
    return {"FLATLVL": d.get("FLATLVL")}


def _cosmic_figures(d: Mapping[str, ParamValue]) -> dict[str, ParamValue]:
    return {"cosmic_ray_pixels": d.get("cosmic_pixels")}


def _source_figures(d: Mapping[str, ParamValue]) -> dict[str, ParamValue]:
    keys = ("n_sources", "L1FWHM", "L1ELLIP", "L1MEDIAN", "L1SIGMA")
    return {key: d.get(key) for key in keys}


def _wcs_figures(d: Mapping[str, ParamValue]) -> dict[str, ParamValue]:
    figures = {"WCSERR": d.get("WCSERR"), "WCSRMS": d.get("rms_arcsec"), "WCSMATCH": d.get("n_matched")}
    if d.get("reason"):
        figures["WCS_reason"] = d.get("reason")
    return figures


def _zero_point_figures(d: Mapping[str, ParamValue]) -> dict[str, ParamValue]:
    figures = {"L1ZP": d.get("L1ZP"), "L1ZPERR": d.get("L1ZPERR"), "L1ZPNSTR": d.get("L1ZPNSTR", 0)}
    if not d.get("succeeded"):
        figures["L1ZP_reason"] = d.get("reason")
    return figures


def _depth_figures(d: Mapping[str, ParamValue]) -> dict[str, ParamValue]:
    figures = {"L1DEPTH": d.get("L1DEPTH")}
    if not d.get("succeeded"):
        figures["L1DEPTH_reason"] = d.get("reason")
    return figures


#: The figures each stage's history entry gives (from its diagnostics), keyed by the stage's own
#: declared name (its module's ``STAGE``), never by a string written here.
FIGURES_BY_STAGE: Mapping[str, Callable[[Mapping[str, ParamValue]], dict[str, ParamValue]]] = {
    OVERSCAN: _overscan_figures,
    BIAS_LEVEL: _bias_figures,
    BIAS: _bias_figures,
    NORMALISE_STAGE: _flat_level_figures,
    COSMIC_RAYS: _cosmic_figures,
    SOURCES: _source_figures,
    ASTROMETRY: _wcs_figures,
    ZERO_POINT: _zero_point_figures,
    DEPTH: _depth_figures,
}


def shortfalls_of(frame: Frame, *, reference_problem: str = "") -> tuple[Shortfall, ...]:
    """The science steps that did not succeed on a processed frame, and what each lacked.

    Parameters
    ----------
    frame : Frame
        A processed science frame.
    reference_problem : str
        Why it had no reference stars ('' when it had them, or had no pointing to look them up
        around): then its astrometry and photometry need a reference catalogue, which a later
        run may have.

    Returns
    -------
    tuple of Shortfall
        No sources detected; no astrometric solution (WCSERR not 0); no zero point; each
        quality test that rejected the frame (`lco_stages.quality`: its product is written, but
        it is not one to trust). Empty for a frame whose every science step succeeded and that
        no quality test rejected.
    """
    diagnostics = {step.stage: step.diagnostics for step in frame.history}
    sources = diagnostics.get(SOURCES)
    found = sources.get("n_sources") if sources is not None else None
    # Reference stars help only a frame that has sources to match them to.
    needs = NEED_CATALOG if reference_problem and found else ""
    detail = reference_problem if needs else ""
    shortfalls = []
    if sources is not None and not found:
        shortfalls.append(Shortfall("sources", "no sources detected"))
    wcs = diagnostics.get(ASTROMETRY)
    if wcs is not None and wcs.get("WCSERR") != 0:
        shortfalls.append(Shortfall("astrometry", str(wcs.get("reason") or "not solved"), needs, detail))
    photometry = diagnostics.get(ZERO_POINT)
    if photometry is not None and not photometry.get("succeeded"):
        shortfalls.append(
            Shortfall("photometry", str(photometry.get("reason") or "not fitted"), needs, detail)
        )
    shortfalls += [Shortfall("quality", f"{r.test}: {r.reason}") for r in rejections(frame)]
    return tuple(shortfalls)


# -- calibration frames --------------------------------------------------------------------


@attrs.frozen
class CalibrationTask:
    """Prepare one bias/dark/flat for its master and judge it against the previous master.

    Attributes
    ----------
    path : str
        The raw file.
    kind : MasterKind
        The master it is for.
    work_dir : str
        Where the prepared frame is written.
    bias, dark, bpm : str or None
        Masters (and mask) to apply, by path.
    previous : str or None
        The current master of its kind, for quality control.
    settings : Settings
        The run's stage settings (the recipe's and the quality control's).
    measured : MeasuredElectronics or None
        Gains and read noises to use instead of the header's (``photon_transfer.use_measured``).
    """

    path: str
    kind: MasterKind
    work_dir: str
    bias: str | None = None
    dark: str | None = None
    bpm: str | None = None
    previous: str | None = None
    settings: Settings = DEFAULT_SETTINGS
    measured: MeasuredElectronics | None = None


@attrs.frozen
class CalibrationOutcome:
    """What preparing a calibration frame gave.

    Attributes
    ----------
    result : FrameResult
        The frame's outcome.
    assessment : Assessment or None
        Whether it goes into the master (None when it failed).
    prepared : str or None
        The prepared frame's file, when accepted.
    camera : Camera or None
        Its camera.
    """

    result: FrameResult
    assessment: Assessment | None = None
    prepared: str | None = None
    camera: Camera | None = None


def prepared_name(path: str) -> str:
    """The work file of a prepared calibration frame: unique per input path, not per base name.

    Two nights' frames of one name (in different folders) must not share a work file, or one
    would be stacked twice and the other not at all.

    Parameters
    ----------
    path : str
        The raw file.

    Returns
    -------
    str
        ``{16 hex digits of the path's SHA-256}-{the name's first 80 characters}.prepared.fits``.
    """
    digest = hashlib.sha256(str(Path(path).absolute()).encode("utf-8", "surrogateescape")).hexdigest()
    return f"{digest[:16]}-{Path(path).name[:80]}.prepared.fits"


def prepare_calibration(task: CalibrationTask) -> CalibrationOutcome:
    """Run a calibration frame's recipe, assess it, and write it if accepted (never raises).

    Parameters
    ----------
    task : CalibrationTask
        The frame and its masters.

    Returns
    -------
    CalibrationOutcome
        A failure comes back as a failed `FrameResult` with a one-line reason.
    """
    start = time.perf_counter()

    def work() -> CalibrationOutcome:
        raw = read_raw(task.path)
        refuse_empty(raw)
        camera = with_measured(camera_for(raw), task.measured)
        frame = raw_to_frame(raw, camera)
        cal = _calibrations(task.bias, task.dark, None, task.bpm)
        prepared = recipe_for(raw.meta.obstype, camera, cal, settings=task.settings)(frame)
        previous = _master(task.previous) if task.previous else None
        qc = task.settings.of(QcSettings)
        assessment = assess_frame(prepared, task.kind, previous=previous, settings=qc)
        target = None
        if assessment.accepted:
            target = str(write_product(Path(task.work_dir) / prepared_name(task.path), prepared))
        masters = tuple(m for m in (task.bias, task.dark, task.bpm) if m)
        result = FrameResult(
            task.path,
            "ok" if assessment.accepted else "skipped",
            "" if assessment.accepted else f"rejected from the master {task.kind.value}: {assessment.reason}",
            raw.meta.obstype.value,
            raw.meta.camera,
            (),
            tuple(Path(m).name for m in masters),
            figures_of(prepared) | ({"QC": assessment.reason} if assessment.qc else {}),
            seconds=time.perf_counter() - start,
        )
        return CalibrationOutcome(result, assessment, target, camera)

    def failure(reason: str, details: str) -> CalibrationOutcome:
        return CalibrationOutcome(
            FrameResult(task.path, "failed", reason, seconds=time.perf_counter() - start, traceback=details)
        )

    return _guarded(task.path, work, failure)


# -- science frames ------------------------------------------------------------------------


@attrs.frozen
class ScienceTask:
    """Reduce one science frame into its e91 product (and a thumbnail).

    Attributes
    ----------
    path : str
        The raw file.
    out_dir : str
        Products folder.
    bias, dark, flat : str
        Masters, by path.
    reference : ReferenceCatalog or None
        Reference stars around the pointing.
    reference_problem : str
        Why there are none ('' when there are, or when the frame has no pointing).
    settings : Settings
        The run's stage settings (the astrometric search limits among them).
    bpm : str or None
        Bad pixel mask, by path.
    thumbnail_dir : str or None
        Where to write the thumbnail (None: none).
    now : datetime.datetime
        DATE of the product.
    compress : bool
        Write the product tile-compressed (``.fits.fz``).
    measured : MeasuredElectronics or None
        Gains and read noises to use instead of the header's (``photon_transfer.use_measured``).
    """

    path: str
    out_dir: str
    bias: str
    dark: str
    flat: str
    reference: ReferenceCatalog | None
    reference_problem: str = ""
    settings: Settings = DEFAULT_SETTINGS
    bpm: str | None = None
    thumbnail_dir: str | None = None
    now: dt.datetime = attrs.field(factory=lambda: dt.datetime.now(dt.UTC))
    compress: bool = True
    measured: MeasuredElectronics | None = None


def product_name(raw_name: str, *, compressed: bool = True) -> str:
    """LCO's processed name: ``...-e00.fits.fz`` -> ``...-e91.fits.fz`` (docs/architecture.rst, "Products").

    Parameters
    ----------
    raw_name : str
        The raw file's name.
    compressed : bool
        Tile-compressed (``.fits.fz``, LCO's own form) or plain ``.fits``.

    Returns
    -------
    str
        A name not ending in ``00`` gets ``-91`` appended.
    """
    stem = raw_name
    for suffix in (".gz", ".fz", ".fits", ".fit", ".fts"):
        stem = stem.removesuffix(suffix)
    if stem.endswith("00"):
        stem = stem[:-2] + "91"
    else:
        stem += "-91"
    return stem + (".fits.fz" if compressed else ".fits")


def _thumbnail(reduced: Frame, task: ScienceTask, product: Path) -> tuple[str | None, str]:
    """The thumbnail's file, or why there is none: the product is written, so a thumbnail that
    cannot be (a read-only folder, a full disk) costs the report a picture, not the frame."""
    if task.thumbnail_dir is None:
        return None, ""
    from lco_cli.report.thumbnails import write_thumbnail

    try:
        return str(write_thumbnail(reduced, Path(task.thumbnail_dir) / (product.stem + ".png"))), ""
    except OSError as error:
        return None, f"thumbnail not written: {error.strerror or error}"


def reduce_science(task: ScienceTask) -> FrameResult:
    """Reduce a science frame with the science recipe and write its product (never raises).

    Parameters
    ----------
    task : ScienceTask
        The frame, its masters and reference stars.

    Returns
    -------
    FrameResult
        'ok'; 'degraded' when the product was written but a science step did not succeed
        (`shortfalls_of`); 'failed' (including a missing PIXSCALE) with a one-line reason.
    """
    start = time.perf_counter()

    def work() -> FrameResult:
        raw = read_raw(task.path)
        refuse_empty(raw)
        camera = with_measured(camera_for(raw), task.measured)
        frame = raw_to_frame(raw, camera)
        cal = _calibrations(task.bias, task.dark, task.flat, task.bpm)
        pixel_scale = raw.meta.pixel_scale
        if pixel_scale is None:
            raise MissingPixelScaleError(
                f"{raw.meta.filename}: no PIXSCALE in the header: cannot measure in arcsec"
            )
        recipe = science_recipe(
            camera, cal, reference=task.reference, pixel_scale=pixel_scale, settings=task.settings
        )
        reduced = recipe(frame)
        target = Path(task.out_dir) / product_name(Path(task.path).name, compressed=task.compress)
        write_product(target, reduced, keywords=product_keywords(reduced, now=task.now))
        thumbnail, thumbnail_problem = _thumbnail(reduced, task, target)
        masters = tuple(Path(m).name for m in (task.bias, task.dark, task.flat, task.bpm) if m)
        figures = figures_of(reduced) | {
            "DATE-OBS": raw.meta.date_obs.isoformat(),
            "FILTER": raw.meta.filter or "",
        }
        if thumbnail_problem:
            figures["thumbnail_error"] = thumbnail_problem
        # A product without a WCS, a zero point or sources is written, but is not ok: it is
        # degraded, with each step's reason and the input it lacked.
        shortfalls = shortfalls_of(reduced, reference_problem=task.reference_problem)
        return FrameResult(
            task.path, "degraded" if shortfalls else "ok", describe_shortfalls(shortfalls),
            raw.meta.obstype.value, raw.meta.camera, (str(target),), masters, figures, thumbnail,
            time.perf_counter() - start, shortfalls=shortfalls,
        )  # fmt: skip

    def failure(reason: str, details: str) -> FrameResult:
        return FrameResult(
            task.path, "failed", reason, seconds=time.perf_counter() - start, traceback=details
        )

    return _guarded(task.path, work, failure)
