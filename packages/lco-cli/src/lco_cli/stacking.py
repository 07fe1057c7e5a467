"""Coadds of a night's repeated science exposures: which frames go together, and the product made of them.

Grouping (`group_candidates`) works on reduced science products, from their headers alone:

* frames of one **camera set-up and filter**: site, telescope, camera, binning and FILTER equal;
* of one **observation**, when the headers say so: the same MOLUID (LCO's molecule, the unit of one
  instrument configuration of a request: one filter, one exposure time, its repeated exposures;
  the key BANZAI's own smart stacks group by), else the same REQNUM (the request); frames
  with neither (placeholders such as ``N/A`` count as absent) are grouped by place and time alone;
* at **one place**: each frame's centre (its solved WCS at the middle pixel) within
  ``coadd.max_separation_arcsec`` of the group's first frame, so a mosaic pattern's tiles stay
  apart even inside one request;
* **in one sitting**: each frame starting within ``coadd.max_gap_minutes`` of the end of the
  group's previous frame (frames in DATE-OBS order).

OBJECT is not used: it is free text (one field under two names, or one name for a pattern of
fields), and the pointing says where the frames are. GROUPID and TRACKNUM name a user's whole
set of requests, BLKUID a scheduled block: any of them can hold several targets and filters.

A group of ``coadd.min_frames`` or more is stacked (`make_coadd`): its products are read in row
bands (`lco_core.io.product_source.ProductSource`) and combined by `lco_stages.coadd.coadd` onto
a common TAN grid, then the science stages run again on the coadd (sources, astrometry, the
pointing and saturation tests, photometric zero point, depth) and it is written as a product,
``{site}{telescope}-{camera}-{DAY-OBS}-{first frame}-{last frame}-e92.fits.fz`` (`coadd_name`,
BANZAI's naming of its smart stacks with our own reduction level 92), with a thumbnail.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import hashlib
import math
import re
import time
from collections.abc import Iterable, Sequence
from pathlib import Path

import attrs
import numpy as np

from lco_cli.results import FrameResult, describe_shortfalls
from lco_core.catalog import ReferenceCatalog
from lco_core.errors import LcoError
from lco_core.frame import Frame
from lco_core.header import Header, HeaderCard
from lco_core.io import write_product
from lco_core.io.meta import PLACEHOLDERS
from lco_core.io.product_source import ProductSource
from lco_core.keyword_table import PRODUCT_KEYWORDS
from lco_core.meta import FrameMeta
from lco_core.parameters import Settings
from lco_core.pipeline import pipeline
from lco_core.provenance import ParamValue
from lco_stages.settings import DEFAULT_SETTINGS

#: RLEVEL of a coadd: one above the single frames' 91 (BANZAI's unaligned smart stacks are 45).
COADD_REDUCTION_LEVEL = 92
#: What summary.json and the report call a coadd's kind (its OBSTYPE stays the inputs').
COADD_KIND = "STACK"
#: The observation keys, in the order they are trusted: LCO's molecule, then its request.
OBSERVATION_KEYS = ("MOLUID", "REQNUM")
#: Cards of the first input that describe that one exposure, not the coadd: left out of its header.
_EXPOSURE_CARDS = frozenset(
    {
        "FRAMENUM", "MOLFRNUM", "ORIGNAME", "UTSTART", "UTSTOP", "MJD-OBS", "DATE-OBS", "EXPTIME",
        "RA", "DEC", "CAT-RA", "CAT-DEC", "AIRMASS", "L1PUBDAT", "CHECKSUM", "DATASUM", "DATE",
        # The detector's geometry: the coadd's pixels are the grid's, not the camera's.
        "DATASEC", "BIASSEC", "DETSEC", "TRIMSEC", "CCDSEC", "DETSIZE",
    }
)  # fmt: skip
#: The raw frame's crosstalk coefficients (CRSTLKij): the coadd's pixels were never an amplifier's.
_CROSSTALK_CARD = re.compile(r"^CRSTLK\d\d$")
# LCO's name of a reduced frame: {prefix}{frame number}-{kind}{level}{suffix}.
_LCO_NAME = re.compile(
    r"^(?P<prefix>.*-)(?P<number>\d+)-(?P<kind>[a-z])(?P<level>\d{2})(?:\.fits(?:\.fz)?)?$"
)


class StackingError(LcoError):
    """A group that cannot be stacked (its frames disagree, or the coadd cannot be made)."""


@attrs.frozen
class StackCandidate:
    """A reduced science frame as grouping sees it: from its product's header.

    Attributes
    ----------
    path : str
        The product.
    site, telescope, camera : str
        SITEID, TELESCOP, INSTRUME.
    binning : str
        CCDSUM, e.g. ``'1x1'``.
    filter : str
        FILTER ('' when absent).
    date_obs : datetime.datetime
        DATE-OBS (start), UTC.
    exptime : float
        Seconds.
    centre : (float, float)
        RA and Dec of the image's middle pixel, degrees.
    observation : str
        ``'MOLUID 206737835'``, ``'REQNUM 0000578123'``, or '' when the header names none.
    object_name : str
        OBJECT ('' when absent): recorded, not grouped by.
    """

    path: str
    site: str
    telescope: str
    camera: str
    binning: str
    filter: str
    date_obs: dt.datetime
    exptime: float
    centre: tuple[float, float]
    observation: str = ""
    object_name: str = ""

    @property
    def end(self) -> dt.datetime:
        """When the exposure ended (DATE-OBS + EXPTIME)."""
        return self.date_obs + dt.timedelta(seconds=self.exptime)

    @property
    def setup(self) -> tuple[str, ...]:
        """What must be equal for two frames to be stacked: set-up, filter and observation."""
        return (self.site, self.telescope, self.camera, self.binning, self.filter, self.observation)


def observation_of(header: Header) -> str:
    """The observation a header names: ``'MOLUID <id>'``, else ``'REQNUM <id>'``, else ''.

    Parameters
    ----------
    header : Header
        A product's (or raw frame's) header.

    Returns
    -------
    str
        Placeholders (`lco_core.io.meta.PLACEHOLDERS`, and 0) count as absent.
    """
    for keyword in OBSERVATION_KEYS:
        value = header.get(keyword)
        if value is None or isinstance(value, bool):
            continue
        text = str(value).strip()
        if text.upper() in PLACEHOLDERS or text.strip("0") == "":
            continue
        return f"{keyword} {text}"
    return ""


def candidate_of(path: str, meta: FrameMeta, header: Header, centre: tuple[float, float]) -> StackCandidate:
    """A frame's grouping facts from its typed metadata, its header and its centre on the sky.

    Parameters
    ----------
    path : str
        The product.
    meta : FrameMeta
        Its metadata.
    header : Header
        Its header (MOLUID, REQNUM).
    centre : (float, float)
        RA and Dec of its middle pixel, degrees.

    Returns
    -------
    StackCandidate
    """
    return StackCandidate(
        path=path, site=meta.site, telescope=meta.telescope, camera=meta.camera, binning=str(meta.binning),
        filter=meta.filter or "", date_obs=meta.date_obs, exptime=meta.exptime,
        centre=(float(centre[0]), float(centre[1])), observation=observation_of(header),
        object_name=meta.object_name or "",
    )  # fmt: skip


def candidate_from_source(source: ProductSource) -> StackCandidate:
    """`candidate_of` a product opened as a coadd input (its solved WCS gives the centre).

    Parameters
    ----------
    source : ProductSource
        The product.

    Returns
    -------
    StackCandidate
    """
    ny, nx = source.shape
    ra, dec = source.wcs.all_pix2world([(nx - 1) / 2.0], [(ny - 1) / 2.0], 0)
    return candidate_of(source.path, source.meta, source.header, (float(ra[0]), float(dec[0])))


def separation_arcsec(a: tuple[float, float], b: tuple[float, float]) -> float:
    """The angle between two sky positions (RA, Dec in degrees), arcsec (haversine: exact at any angle).

    Parameters
    ----------
    a, b : (float, float)
        RA and Dec, degrees.

    Returns
    -------
    float
    """
    ra1, dec1, ra2, dec2 = (math.radians(v) for v in (*a, *b))
    term = math.sin((dec2 - dec1) / 2) ** 2 + math.cos(dec1) * math.cos(dec2) * math.sin((ra2 - ra1) / 2) ** 2
    return math.degrees(2 * math.asin(min(1.0, math.sqrt(term)))) * 3600.0


@attrs.frozen
class StackGroup:
    """Frames that go into one coadd, in DATE-OBS order.

    Attributes
    ----------
    members : tuple of StackCandidate
        The frames.
    """

    members: tuple[StackCandidate, ...]

    @property
    def first(self) -> StackCandidate:
        """The earliest frame."""
        return self.members[0]

    @property
    def paths(self) -> tuple[str, ...]:
        """The products, in DATE-OBS order."""
        return tuple(m.path for m in self.members)

    def describe(self) -> str:
        """One line: camera, filter, how many frames, where, and by what they were grouped."""
        first = self.first
        by = first.observation or "place and time"
        return (
            f"{first.camera} {first.filter or 'no filter'} {len(self.members)} frames at RA "
            f"{first.centre[0]:.4f}, Dec {first.centre[1]:+.4f} ({by})"
        )


def group_candidates(
    candidates: Iterable[StackCandidate], *, max_separation_arcsec: float, max_gap_minutes: float
) -> tuple[StackGroup, ...]:
    """Frames grouped by set-up, filter and observation, then by place and sitting (module docstring).

    Parameters
    ----------
    candidates : iterable of StackCandidate
        Reduced science frames.
    max_separation_arcsec : float
        Farthest a frame's centre may be from its group's first frame's.
    max_gap_minutes : float
        Longest time from the end of a group's previous frame to the start of the next.

    Returns
    -------
    tuple of StackGroup
        Every frame in exactly one group (groups of one included), groups in order of their
        first frame's DATE-OBS (then path), frames in DATE-OBS order. The result does not depend
        on the order of ``candidates``.
    """
    by_setup: dict[tuple[str, ...], list[StackCandidate]] = {}
    for candidate in sorted(candidates, key=lambda c: (c.date_obs, c.path)):
        by_setup.setdefault(candidate.setup, []).append(candidate)
    gap = dt.timedelta(minutes=max_gap_minutes)
    groups: list[list[StackCandidate]] = []
    for frames in by_setup.values():
        open_groups: list[list[StackCandidate]] = []
        for frame in frames:
            home = next(
                (
                    group
                    for group in open_groups
                    if frame.date_obs - group[-1].end <= gap
                    and separation_arcsec(frame.centre, group[0].centre) <= max_separation_arcsec
                ),
                None,
            )
            if home is None:
                home = []
                open_groups.append(home)
                groups.append(home)
            home.append(frame)
    groups.sort(key=lambda g: (g[0].date_obs, g[0].path))
    return tuple(StackGroup(tuple(group)) for group in groups)


def coadd_name(first: str, last: str, count: int, *, compressed: bool = True) -> str:
    """The coadd's file name: BANZAI's for its smart stacks, with our reduction level 92.

    ``cpt1m010-fa05-20260101-0042-e91.fits.fz`` to ``...-0047-e91.fits.fz`` gives
    ``cpt1m010-fa05-20260101-0042-0047-e92.fits.fz``: the first input's name with the last
    input's frame number after its own. Frame numbers are unique per camera and night, so two
    coadds of one night never share a name. Inputs not named as LCO names them get
    ``{first input's stem}-stack{count}-e92``.

    Parameters
    ----------
    first, last : str
        The names of the first and last inputs (DATE-OBS order).
    count : int
        Number of inputs.
    compressed : bool
        ``.fits.fz`` or plain ``.fits``.

    Returns
    -------
    str
    """
    suffix = ".fits.fz" if compressed else ".fits"
    head, tail = _LCO_NAME.match(Path(first).name), _LCO_NAME.match(Path(last).name)
    if head is not None and tail is not None:
        width = len(head["number"])
        return (
            f"{head['prefix']}{int(head['number']):0{width}d}-{int(tail['number']):0{width}d}-"
            f"{head['kind']}{COADD_REDUCTION_LEVEL}{suffix}"
        )
    stem = Path(first).name
    for ending in (".fz", ".gz", ".fits", ".fit", ".fts"):
        stem = stem.removesuffix(ending)
    return f"{stem}-stack{count}-e{COADD_REDUCTION_LEVEL}{suffix}"


def inputs_digest(paths: Sequence[str]) -> str:
    """SHA-256 over the inputs' names and contents: a coadd is done when this is unchanged.

    Parameters
    ----------
    paths : sequence of str
        The products stacked.

    Returns
    -------
    str
        64 hex digits.
    """
    digest = hashlib.sha256()
    for path in sorted(paths):
        digest.update(Path(path).name.encode("utf-8", "surrogateescape") + b"\0")
        with open(path, "rb") as stream:
            for block in iter(lambda: stream.read(1 << 20), b""):
                digest.update(block)
    return digest.hexdigest()


@attrs.frozen
class CoaddTask:
    """Make one coadd: stack its products, run the science stages on it, write it (`make_coadd`).

    Attributes
    ----------
    path : str
        The coadd's product (`coadd_name` in the products folder).
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


def _sexagesimal(degrees: float, *, hours: bool) -> str:
    from astropy.coordinates import Angle

    angle = Angle(degrees, unit="deg")
    if hours:
        return str(angle.to_string(unit="hourangle", sep=":", precision=3, pad=True))
    return str(angle.to_string(unit="deg", sep=":", precision=2, alwayssign=True, pad=True))


def _iso(moment: dt.datetime) -> str:
    return moment.astimezone(dt.UTC).strftime("%Y-%m-%dT%H:%M:%S.%f")[:-3]


def _is_processing_card(keyword: str) -> bool:
    return any(spec.matches(keyword) for spec in PRODUCT_KEYWORDS if spec.on != "master")


def coadd_header(sources: Sequence[ProductSource], frame: Frame) -> Header:
    """The coadd's header before the product's own cards: what its inputs share, and what it is.

    The first input's header without the cards that describe that one exposure (frame number,
    its start and length, its pointing, the detector's sections and crosstalk, its processing:
    every science product keyword of `lco_core.keyword_table.PRODUCT_KEYWORDS`, which the
    coadd's own processing writes again),
    then DATE-OBS (the earliest start), DATE-END (the latest end), EXPTIME (the inputs' total:
    the coadd is in electrons of the summed exposure), RA and DEC (the grid's centre), NCOMBINE
    and IMCOM001... (the inputs, BANZAI's cards for its stacks). MOLUID and REQNUM stay only when
    every input has the same.

    Parameters
    ----------
    sources : sequence of ProductSource
        The inputs, the first the reference.
    frame : Frame
        The coadd (`lco_stages.coadd.coadd`): its metadata.

    Returns
    -------
    Header
    """
    shared = {
        keyword
        for keyword in OBSERVATION_KEYS
        if len({str(source.header.get(keyword)) for source in sources}) == 1
    }
    kept = tuple(
        card
        for card in sources[0].header.cards
        if card.keyword not in _EXPOSURE_CARDS
        and not _CROSSTALK_CARD.match(card.keyword)
        and not _is_processing_card(card.keyword)
        and (card.keyword not in OBSERVATION_KEYS or card.keyword in shared)
    )
    meta = frame.meta
    end = max(source.meta.date_obs + dt.timedelta(seconds=source.exptime) for source in sources)
    cards = [
        HeaderCard("DATE-OBS", _iso(meta.date_obs), "[UTC] Start of the earliest input"),
        HeaderCard("DATE-END", _iso(end), "[UTC] End of the latest input"),
        HeaderCard("EXPTIME", meta.exptime, "[s] Total exposure time of the inputs"),
        HeaderCard("NCOMBINE", len(sources), "Number of images combined"),
        *(
            HeaderCard(f"IMCOM{number:03d}", source.name, "Image combined")
            for number, source in enumerate(sources, start=1)
        ),
    ]
    if meta.ra is not None and meta.dec is not None:
        cards += [
            HeaderCard("RA", _sexagesimal(meta.ra, hours=True), "[HH:MM:SS.sss] RA of the coadd's centre"),
            HeaderCard(
                "DEC", _sexagesimal(meta.dec, hours=False), "[sDD:MM:SS.ss] Dec of the coadd's centre"
            ),
        ]
    return Header(kept).updated(tuple(cards))


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
        The coadd's file name (`coadd_name`).
    settings : Settings
        ``coadd.*``.

    Returns
    -------
    Frame
        Its metadata the first input's, with the coadd's EXPTIME, DATE-OBS, centre, grid and
        detector levels; its header `coadd_header`.

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
        Its ``path`` the coadd's file, ``obstype`` `COADD_KIND`: 'ok'; 'degraded' when written
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


def field_of(sources: Sequence[ProductSource]) -> tuple[tuple[float, float], float]:
    """The centre of a group's frames and the radius (deg) that holds them all: for its reference stars.

    Parameters
    ----------
    sources : sequence of ProductSource
        The group.

    Returns
    -------
    centre : (float, float)
        RA and Dec, degrees: the first frame's centre.
    radius : float
        Degrees from it to the farthest corner of any frame.
    """
    centres = [candidate_from_source(source).centre for source in sources]
    centre = centres[0]
    radius = 0.0
    for source in sources:
        ny, nx = source.shape
        ra, dec = source.wcs.all_pix2world(
            np.array([-0.5, nx - 0.5, -0.5, nx - 0.5]), np.array([-0.5, -0.5, ny - 0.5, ny - 0.5]), 0
        )
        for corner in zip(ra, dec, strict=True):
            radius = max(radius, separation_arcsec(centre, (float(corner[0]), float(corner[1]))) / 3600.0)
    return centre, radius


def group_products(
    paths: Sequence[str], *, settings: Settings = DEFAULT_SETTINGS, one_group: bool = False
) -> tuple[tuple[StackGroup, ...], tuple[tuple[str, str], ...]]:
    """Products read (headers only) and grouped for coadds (`group_candidates`, ``coadd.*``).

    Parameters
    ----------
    paths : sequence of str
        Reduced science products.
    settings : Settings
        ``coadd.max_separation_arcsec`` and ``coadd.max_gap_minutes``.
    one_group : bool
        Every usable product in one group, whatever their headers say (``stack --one-group``);
        `build_coadd` still refuses different cameras, binnings or filters.

    Returns
    -------
    groups : tuple of StackGroup
        Groups of one included (the caller decides what ``coadd.min_frames`` allows).
    left_out : tuple of (str, str)
        Products that cannot go into any coadd, with the one-line reason (not a science
        product, a coadd, no astrometric solution, no zero point, unreadable).
    """
    from lco_cli.plan import describe_error
    from lco_stages.coadd import CoaddSettings

    chosen = settings.of(CoaddSettings)
    candidates: list[StackCandidate] = []
    left_out: list[tuple[str, str]] = []
    for path in paths:
        try:
            with ProductSource(path) as source:
                combined = source.header.get("NCOMBINE")
                several = isinstance(combined, int) and not isinstance(combined, bool) and combined > 1
                if source.header.get("RLEVEL") == COADD_REDUCTION_LEVEL or several:
                    left_out.append(
                        (path, f"{path}: a coadd (of {combined} frames): stack its inputs instead")
                    )
                    continue
                if source.zero_point is None:
                    left_out.append((path, f"{path}: no zero point (L1ZP): its flux scale is unknown"))
                    continue
                candidates.append(candidate_from_source(source))
        except Exception as error:  # one file's problem, said in one line
            left_out.append((path, describe_error(error, where=path)))
    if one_group:
        ordered = tuple(sorted(candidates, key=lambda c: (c.date_obs, c.path)))
        return ((StackGroup(ordered),) if ordered else ()), tuple(left_out)
    groups = group_candidates(
        candidates, max_separation_arcsec=chosen.max_separation_arcsec, max_gap_minutes=chosen.max_gap_minutes
    )
    return groups, tuple(left_out)


def coadd_path(group: StackGroup, out: Path, *, compressed: bool = True) -> Path:
    """Where a group's coadd is written: `coadd_name` in ``out``.

    Parameters
    ----------
    group : StackGroup
        The frames.
    out : pathlib.Path
        The products folder.
    compressed : bool
        ``.fits.fz`` or ``.fits``.

    Returns
    -------
    pathlib.Path
    """
    first, last = Path(group.paths[0]).name, Path(group.paths[-1]).name
    return out / coadd_name(first, last, len(group.members), compressed=compressed)


@attrs.frozen
class StackRun:
    """What ``lco-reduce stack`` did with the products it was given.

    Attributes
    ----------
    coadds : tuple of FrameResult
        One per group of ``coadd.min_frames`` or more: made (ok, degraded) or failed.
    refused : tuple of (str, str)
        Files that cannot go into a coadd, with the one-line reason.
    alone : tuple of StackGroup
        Groups too small to stack.
    """

    coadds: tuple[FrameResult, ...]
    refused: tuple[tuple[str, str], ...]
    alone: tuple[StackGroup, ...]


def stack_products(
    paths: Sequence[str],
    *,
    out: Path,
    catalog: Path | None = None,
    offline: bool = False,
    settings: Settings = DEFAULT_SETTINGS,
    one_group: bool = False,
    compress: bool = True,
    thumbnails: bool = True,
) -> StackRun:
    """Group products and make a coadd of each group of ``coadd.min_frames`` or more (``lco-reduce stack``).

    Each group is its own unit: a group that fails is a record with its one-line reason, and
    the next group is still made. Reference stars come from ``catalog``, else Gaia DR3 (cached
    in ``OUT/catalog-cache``; ``offline``: the cache only), around each group's frames.

    Parameters
    ----------
    paths : sequence of str
        Reduced science products (e91, as ``lco-reduce run`` writes them, or BANZAI's).
    out : pathlib.Path
        Where the coadds (and their thumbnails, in ``thumbnails/``) are written.
    catalog : pathlib.Path, optional
        Reference catalogue file.
    offline : bool
        Never query Gaia.
    settings : Settings
        ``coadd.*`` and the science stages' settings.
    one_group : bool
        Stack every usable product together, whatever the grouping would say.
    compress : bool
        ``.fits.fz`` (True) or ``.fits``.
    thumbnails : bool
        Write a thumbnail of each coadd.

    Returns
    -------
    StackRun
    """
    from lco_cli.catalogs import CatalogError, catalog_source
    from lco_cli.plan import describe_error
    from lco_stages.coadd import CoaddSettings
    from lco_stages.wcs import AstrometrySearch

    groups, refused = group_products(paths, settings=settings, one_group=one_group)
    minimum = settings.of(CoaddSettings).min_frames
    search = settings.of(AstrometrySearch)
    now = dt.datetime.now(dt.UTC)
    folder = out / "thumbnails" if thumbnails else None
    coadds: list[FrameResult] = []
    source = None
    for group in groups:
        if len(group.members) < minimum:
            continue
        target = coadd_path(group, out, compressed=compress)
        task = CoaddTask(str(target), group.paths, None, settings=settings, now=now)
        try:
            with contextlib.ExitStack() as files:
                (ra, dec), radius = field_of([files.enter_context(ProductSource(p)) for p in group.paths])
            if source is None:
                source = catalog_source(
                    catalog_file=catalog, cache_dir=out / "catalog-cache", offline=offline
                )
            stars = source.stars_around(ra, dec, radius + search.radius_arcmin / 60.0)
            reference, problem = (
                (stars, "") if len(stars) else (None, f"no reference star within {radius:.3f} deg")
            )
        except CatalogError as error:
            reference, problem = None, error.problem
        except Exception as error:  # this group's own failure
            coadds.append(failed_coadd(task, describe_error(error, where=str(target))))
            continue
        if folder is not None:
            with contextlib.suppress(OSError):  # then its thumbnail says it was not written
                folder.mkdir(parents=True, exist_ok=True)
        task = attrs.evolve(
            task, reference=reference, reference_problem=problem,
            thumbnail_dir=str(folder) if folder is not None else None,
        )  # fmt: skip
        coadds.append(make_coadd(task))
    alone = tuple(group for group in groups if len(group.members) < minimum)
    return StackRun(tuple(coadds), refused, alone)
