"""One coadd product: stack a group's products, run the science stages on it, write it."""

from __future__ import annotations

import contextlib
import datetime as dt
import math
import time
from collections.abc import Sequence
from pathlib import Path

import attrs

from lco_cli.results import FrameResult, describe_shortfalls
from lco_cli.stacking.header import coadd_header
from lco_cli.stacking.naming import COADD_KIND, COADD_REDUCTION_LEVEL
from lco_core.catalog import ReferenceCatalog
from lco_core.errors import LcoError
from lco_core.frame import Frame
from lco_core.io import write_product
from lco_core.io.product_source import ProductSource
from lco_core.parameters import Settings
from lco_core.pipeline import pipeline
from lco_core.provenance import ParamValue
from lco_stages.settings import DEFAULT_SETTINGS


class StackingError(LcoError):
    """A group that cannot be stacked (its frames disagree, or the coadd cannot be made)."""


@attrs.frozen
class CoaddTask:
    """Make one coadd: stack its products, run the science stages on it, write it (`make_coadd`).

    Attributes
    ----------
    path : str
        The coadd's product (`~lco_cli.stacking.naming.coadd_name` in the products folder).
    inputs : tuple of str
        The products stacked, in DATE-OBS order (the first is the photometric reference).
    reference : ReferenceCatalog or None
        Reference stars around the group's field.
    reference_problem : str
        Why there are none ('' when there are).
    settings : Settings
        The run's settings (``coadd.*`` and the science stages').
    thumbnail_dir : str or None
        Where the thumbnail goes (None: none).
    now : datetime.datetime
        DATE of the product.
    """

    path: str
    inputs: tuple[str, ...]
    reference: ReferenceCatalog | None
    reference_problem: str = ""
    settings: Settings = DEFAULT_SETTINGS
    thumbnail_dir: str | None = None
    now: dt.datetime = attrs.field(factory=lambda: dt.datetime.now(dt.UTC))


def _detector_levels(sources: Sequence[ProductSource], frame: Frame) -> dict[str, float | None]:
    """SATURATE, MAXLIN and RDNOISE of the coadd in its own electrons: each input's (electrons of
    its exposure) times its flux scale; the lowest level, and the read noise the weights give."""
    from lco_stages.coadd import STAGE as COADD

    step = frame.steps(COADD)[-1]
    scales = [float(s) for s in _numbers(step.parameters.get("scales"))]
    weights = [float(w) for w in _numbers(step.parameters.get("weights"))]
    saturate = [s.meta.saturate * k for s, k in zip(sources, scales, strict=True) if s.meta.saturate]
    maxlin = [s.meta.maxlin * k for s, k in zip(sources, scales, strict=True) if s.meta.maxlin]
    noise = [
        (w * k * s.meta.read_noise) ** 2
        for s, k, w in zip(sources, scales, weights, strict=True)
        if s.meta.read_noise is not None
    ]
    return {
        "saturate": min(saturate) if len(saturate) == len(sources) else None,
        "maxlin": min(maxlin) if len(maxlin) == len(sources) else None,
        "read_noise": math.sqrt(sum(noise)) / sum(weights) if len(noise) == len(sources) else None,
    }


def _numbers(value: ParamValue | None) -> tuple[float, ...]:
    if isinstance(value, tuple):
        return tuple(float(v) for v in value if isinstance(v, int | float) and not isinstance(v, bool))
    return ()


def build_coadd(
    sources: Sequence[ProductSource], *, name: str, settings: Settings = DEFAULT_SETTINGS
) -> Frame:
    """The coadd of products (`lco_stages.coadd.coadd` on their common grid), as a frame to reduce.

    Parameters
    ----------
    sources : sequence of ProductSource
        The inputs, in DATE-OBS order (the first is the photometric reference).
    name : str
        The coadd's file name (`~lco_cli.stacking.naming.coadd_name`).
    settings : Settings
        ``coadd.*``.

    Returns
    -------
    Frame
        Its metadata the first input's, with the coadd's EXPTIME, DATE-OBS, centre, grid and
        detector levels; its header `~lco_cli.stacking.header.coadd_header`.

    Raises
    ------
    StackingError
        Inputs of different cameras, binnings or filters.
    CoaddInputError
        An input without a zero point, exposure time or sky noise.
    """
    from lco_stages.coadd import CoaddSettings, coadd, common_grid

    first = sources[0].meta
    for source in sources[1:]:
        meta = source.meta
        theirs, ours = (
            (meta.camera, str(meta.binning), meta.filter),
            (first.camera, str(first.binning), first.filter),
        )
        if theirs != ours:
            raise StackingError(
                f"{source.name}: {' '.join(str(v) for v in theirs)} cannot be stacked with "
                f"{sources[0].name}: {' '.join(str(v) for v in ours)} (camera, binning, filter)"
            )
    chosen = settings.of(CoaddSettings)
    frame = coadd(
        sources, settings=chosen, grid=common_grid(sources), meta=attrs.evolve(first, filename=name)
    )
    levels = _detector_levels(sources, frame)
    meta = attrs.evolve(
        frame.meta, saturate=levels["saturate"], maxlin=levels["maxlin"], read_noise=levels["read_noise"],
        gain=(1.0,),
    )  # fmt: skip
    frame = attrs.evolve(frame, meta=meta)
    return attrs.evolve(frame, header=coadd_header(sources, frame))


def reduce_coadd(
    frame: Frame, *, reference: ReferenceCatalog | None, settings: Settings = DEFAULT_SETTINGS
) -> Frame:
    """The science stages on a coadd: sources, astrometry (solved again), the pointing and saturation
    tests, the photometric zero point and the depth.

    No cosmic-ray stage: the inputs' cosmic rays were masked in each, and the per-pixel clip
    rejects what was left. The astrometry starts from the grid (`~lco_core.meta.FrameMeta.header_wcs`).

    Parameters
    ----------
    frame : Frame
        A coadd (`build_coadd`).
    reference : ReferenceCatalog or None
        Reference stars (None: astrometry and photometry record why they did not run).
    settings : Settings
        ``sources.*``, ``astrometry.*``, ``quality.*``, ``photometry.*``.

    Returns
    -------
    Frame
    """
    from lco_stages.depth import measure_depth
    from lco_stages.quality import QualitySettings, check_pointing, check_saturation
    from lco_stages.sources import SourceSettings, detect_sources
    from lco_stages.wcs import AstrometrySearch, solve_wcs
    from lco_stages.zeropoint import PhotometrySettings, calibrate_photometry

    pixel_scale = frame.meta.pixel_scale
    if pixel_scale is None:  # coadd always sets the grid's
        raise StackingError(f"{frame.meta.filename}: the coadd has no pixel scale")
    quality = settings.of(QualitySettings)
    return pipeline(
        check_saturation(quality),
        detect_sources(pixel_scale=pixel_scale, settings=settings.of(SourceSettings)),
        solve_wcs(reference, pixel_scale=pixel_scale, search=settings.of(AstrometrySearch)),
        check_pointing(quality),
        calibrate_photometry(
            reference if reference is not None else ReferenceCatalog([], []), settings.of(PhotometrySettings)
        ),
        measure_depth(),
    )(frame)


def coadd_figures(frame: Frame) -> dict[str, ParamValue]:
    """The key numbers of a reduced coadd (`lco_cli.work.figures_of`) and what it was made of.

    Parameters
    ----------
    frame : Frame
        A reduced coadd.

    Returns
    -------
    dict
        `~lco_cli.work.figures_of`, then DATE-OBS, FILTER, OBJECT, EXPTIME (total), NCOMBINE,
        ``inputs`` (file names), ``weights`` (normalised to 1) and ``scales`` (each input's
        flux factor) from the coadd step.
    """
    from lco_cli.work import figures_of
    from lco_stages.coadd import STAGE as COADD

    step = frame.steps(COADD)[-1]
    meta = frame.meta
    return figures_of(frame) | {
        "DATE-OBS": meta.date_obs.isoformat(),
        "FILTER": meta.filter or "",
        "OBJECT": meta.object_name or "",
        "EXPTIME": meta.exptime,
        "NCOMBINE": len(_numbers(step.parameters.get("weights"))),
        "inputs": step.parameters.get("inputs", ()),
        "weights": step.parameters.get("weights", ()),
        "scales": step.parameters.get("scales", ()),
    }


def make_coadd(task: CoaddTask) -> FrameResult:
    """Stack a group's products, reduce the coadd and write it with its thumbnail (never raises).

    Parameters
    ----------
    task : CoaddTask
        The group and where its coadd goes.

    Returns
    -------
    FrameResult
        Its ``path`` the coadd's file, ``obstype`` `.COADD_KIND`: 'ok'; 'degraded' when written
        without sources, astrometry or zero point (its shortfalls say why); 'failed' with a
        one-line reason (an input that cannot be read or stacked, named).
    """
    from lco_cli.work import _guarded, shortfalls_of
    from lco_stages.keywords import product_keywords

    start = time.perf_counter()

    def work() -> FrameResult:
        target = Path(task.path)
        with contextlib.ExitStack() as files:
            sources = [files.enter_context(ProductSource(path)) for path in task.inputs]
            frame = build_coadd(sources, name=target.name, settings=task.settings)
        reduced = reduce_coadd(frame, reference=task.reference, settings=task.settings)
        keywords = product_keywords(reduced, now=task.now, reduction_level=COADD_REDUCTION_LEVEL)
        write_product(target, reduced, keywords=keywords)
        thumbnail, problem = _thumbnail(reduced, target, task.thumbnail_dir)
        figures = coadd_figures(reduced)
        if problem:
            figures["thumbnail_error"] = problem
        shortfalls = shortfalls_of(reduced, reference_problem=task.reference_problem)
        return FrameResult(
            str(target), "degraded" if shortfalls else "ok", describe_shortfalls(shortfalls), COADD_KIND,
            reduced.meta.camera, (str(target),), (), figures, thumbnail, time.perf_counter() - start,
            shortfalls=shortfalls,
        )  # fmt: skip

    def failure(reason: str, details: str) -> FrameResult:
        return failed_coadd(task, reason, seconds=time.perf_counter() - start, details=details)

    return _guarded(task.path, work, failure)


def failed_coadd(task: CoaddTask, reason: str, *, seconds: float = 0.0, details: str = "") -> FrameResult:
    """A coadd that was not made, with its inputs in its figures.

    Parameters
    ----------
    task : CoaddTask
        The coadd.
    reason : str
        Why, one line.
    seconds : float
        Time spent.
    details : str
        The traceback of an unexpected error ('' otherwise), for the log.

    Returns
    -------
    FrameResult
    """
    figures: dict[str, ParamValue] = {"inputs": tuple(Path(p).name for p in task.inputs)}
    return FrameResult(
        task.path, "failed", reason, COADD_KIND, figures=figures, seconds=seconds, traceback=details
    )


def _thumbnail(frame: Frame, product: Path, folder: str | None) -> tuple[str | None, str]:
    if folder is None:
        return None, ""
    from lco_cli.report.thumbnails import write_thumbnail

    try:
        name = product.name.removesuffix(".fz").removesuffix(".fits") + ".png"
        return str(write_thumbnail(frame, Path(folder) / name)), ""
    except OSError as error:
        return None, f"thumbnail not written: {error.strerror or error}"
