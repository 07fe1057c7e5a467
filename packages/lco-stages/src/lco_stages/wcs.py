"""solve_wcs: the astrometric solution of a frame from its catalogue and a reference catalogue."""

from __future__ import annotations

import math
from typing import ClassVar, Literal

import attrs
import numpy as np
from astropy.wcs import WCS

from lco_core.catalog import ReferenceCatalog
from lco_core.frame import Frame
from lco_core.header import Header, HeaderCard
from lco_core.meta import FrameMeta
from lco_core.orientation import Orientation
from lco_core.parameters import StageSettings, documented, parameter
from lco_core.pipeline import Stage
from lco_core.provenance import ParamValue
from lco_core.sources import WcsSolution
from lco_instruments.filters import band_for
from lco_stages._checks import require_assembled
from lco_stages.astrometry import WCSERR_FAILED, solve_astrometry

STAGE = "solve_wcs"
_KEEP = (
    "CTYPE",
    "CUNIT",
    "CRPIX",
    "CRVAL",
    "CD1_",
    "CD2_",
    "PC1_",
    "PC2_",
    "CDELT",
    "A_",
    "B_",
    "AP_",
    "BP_",
)


#: Where the starting orientation came from: the frame's own header WCS, the camera's known
#: mounting (`lco_instruments.mounting`), or nowhere (north up, east left, searched as no prior).
OrientationSource = Literal["header", "camera", "none"]


@documented
@attrs.frozen
class AstrometrySearch(StageSettings):
    """solve_wcs: how far the astrometric solution is searched from the header's pointing and orientation.

    The defaults are a plate solver's: any rotation, either parity, 10 arcmin of pointing
    error, 5 % of scale. The starting orientation is only searched first. A limit outside its
    range raises `~lco_core.parameters.InvalidSettingError` (a `ValueError`).
    """

    section: ClassVar[str] = "astrometry"
    stage: ClassVar[str] = STAGE

    radius_arcmin: float = parameter(
        10.0, "largest pointing error searched (offset of the image centre)", unit="arcmin",
        minimum=0.0, maximum=600.0,
    )  # fmt: skip
    max_rotation_deg: float = parameter(
        180.0, "largest rotation from the header's (or camera's) orientation searched; 180: any",
        unit="deg", minimum=0.0, maximum=180.0,
    )  # fmt: skip
    allow_mirror: bool = parameter(True, "also search the mirror image of the starting orientation")
    scale_tolerance: float = parameter(
        0.05, "largest relative error of the camera's nominal pixel scale", minimum=0.0, maximum=0.5
    )


#: The plate solver's limits: any rotation, either parity, 10 arcmin, 5 % of scale.
DEFAULT_SEARCH = AstrometrySearch()


@attrs.frozen(eq=False)
class StartingGuess:
    """The WCS a solve starts from, and where its orientation came from.

    Attributes
    ----------
    wcs : astropy.wcs.WCS
        TAN at the nominal pixel scale, its reference pixel the image centre.
    orientation_from : {'header', 'camera', 'none'}
        The header's own WCS, the camera's mounting, or no prior at all.
    """

    wcs: WCS
    orientation_from: OrientationSource


def starting_guess(
    meta: FrameMeta, shape: tuple[int, int], pixel_scale: float, *, mounting: Orientation | None = None
) -> StartingGuess | None:
    """The WCS the header implies: its pointing at the image centre, oriented as best known.

    The pointing is `FrameMeta.pointing` (RA/DEC, else the header WCS's reference point). The
    orientation is the header WCS's CD matrix (raw LCO
    headers state the camera's nominal mounting there), else the camera's known ``mounting``,
    else north up, east left with no claim to be right. The scale is always the camera's.

    Parameters
    ----------
    meta : FrameMeta
        RA, DEC and the header WCS.
    shape : (int, int)
        Image shape (ny, nx).
    pixel_scale : float
        Arcsec per pixel.
    mounting : Orientation, optional
        The camera's mounting, used when the header has no WCS.

    Returns
    -------
    StartingGuess or None
        None when the header says nothing of where the telescope pointed.
    """
    header, centre = meta.header_wcs, meta.pointing
    if centre is None:
        return None
    source: OrientationSource
    if header is not None:
        orientation, source = header.orientation, "header"
    elif mounting is not None:
        orientation, source = mounting, "camera"
    else:
        orientation, source = Orientation.north_up_east_left(), "none"
    wcs = WCS(naxis=2)
    wcs.wcs.ctype = ["RA---TAN", "DEC--TAN"]
    wcs.wcs.crval = list(centre)
    wcs.wcs.crpix = [(shape[1] + 1) / 2.0, (shape[0] + 1) / 2.0]
    wcs.wcs.cd = np.array(orientation.cd(pixel_scale))
    wcs.pixel_shape = (shape[1], shape[0])
    return StartingGuess(wcs, source)


def wcs_to_header(wcs: WCS) -> Header:
    """The celestial WCS keywords of an astropy WCS (TAN or TAN-SIP) as immutable cards.

    Parameters
    ----------
    wcs : astropy.wcs.WCS
        A celestial WCS.

    Returns
    -------
    Header
    """
    header = wcs.to_header(relax=True)
    cards = [
        HeaderCard(card.keyword, card.value, str(card.comment))
        for card in header.cards
        if card.keyword.startswith(_KEEP)
        or card.keyword in ("RADESYS", "EQUINOX", "LONPOLE", "LATPOLE", "WCSAXES")
    ]
    return Header(tuple(cards))


def solve_wcs(
    reference: ReferenceCatalog | None,
    *,
    pixel_scale: float,
    search: AstrometrySearch = DEFAULT_SEARCH,
    mounting: Orientation | None = None,
) -> Stage:
    """Solve the frame's WCS (pattern matching + TAN/SIP fit) and add ra/dec to its catalogue.

    The solve starts from `starting_guess` (the header's pointing and orientation, else the
    camera's ``mounting``) and searches that orientation first; it still finds any rotation
    and either parity that ``search`` allows. A frame that cannot be solved keeps going with
    WCSERR = 4, the starting guess as its WCS, no sky positions in its catalogue, and the
    reason recorded; it is never given a solution the fit did not earn.

    Parameters
    ----------
    reference : ReferenceCatalog or None
        Reference stars around the pointing (None: nothing to solve against).
    pixel_scale : float
        The camera's nominal scale, arcsec per pixel.
    search : AstrometrySearch
        Pointing, rotation, parity and scale limits (the ``astrometry.*`` settings).
    mounting : Orientation, optional
        The camera's mounting (`lco_instruments.mounting.mounting_for`), for headers without a
        WCS of their own.

    Returns
    -------
    Stage
        Attaches a `WcsSolution` (WCSERR, WCSRMS, WCSMATCH, WCSREASN) and, when solved, adds
        ``ra`` and ``dec`` (degrees, of the windowed positions) to the catalogue; records the
        search limits, the pixel scale and where the starting orientation came from.

    Raises
    ------
    StageError
        When run on a frame that is not assembled.
    """

    def stage(frame: Frame) -> Frame:
        require_assembled(frame, STAGE)
        start = starting_guess(frame.meta, frame.shape, pixel_scale, mounting=mounting)
        facts: dict[str, ParamValue] = {
            "pixel_scale": pixel_scale,
            "orientation_from": "none" if start is None else start.orientation_from,
        }
        catalog = frame.sources
        reason = ""
        if start is None:
            reason = "no RA/DEC pointing in the header"
        elif catalog is None or len(catalog) == 0:
            reason = "no sources detected"
        elif reference is None or len(reference) == 0:
            reason = "no reference stars around the pointing"
        if reason or start is None or catalog is None or reference is None:
            cards = Header() if start is None else wcs_to_header(start.wcs)
            solution = WcsSolution(cards, WCSERR_FAILED, math.nan, 0, reason)
            return frame.with_step(search.step(_diagnostics(solution, 0), facts=facts), wcs=solution)
        band = band_for(frame.meta.filter)
        band_name = band.band if band is not None and band.band in reference.magnitudes else None
        if band_name is None and "mag" in reference.magnitudes:
            band_name = "mag"
        result = solve_astrometry(
            catalog["xwin"], catalog["ywin"], catalog["flux"], reference, shape=frame.shape, guess=start.wcs,
            pixel_scale_arcsec=pixel_scale, max_offset_arcmin=search.radius_arcmin,
            max_rotation_deg=search.max_rotation_deg, allow_mirror=search.allow_mirror,
            orientation_known=start.orientation_from != "none", scale_tolerance=search.scale_tolerance,
            band=band_name,
        )  # fmt: skip
        if not result.solved or result.wcs is None:
            solution = WcsSolution(
                wcs_to_header(start.wcs), WCSERR_FAILED, math.nan, result.n_matched, result.reason
            )
            return frame.with_step(search.step(_diagnostics(solution, 0), facts=facts), wcs=solution)
        ra, dec = result.wcs.all_pix2world(np.asarray(catalog["xwin"]), np.asarray(catalog["ywin"]), 1)
        located = catalog.with_columns(
            {"ra": ra, "dec": dec},
            units={"ra": "deg", "dec": "deg"},
            descriptions={
                "ra": "Right ascension (ICRS) of the windowed position",
                "dec": "Declination (ICRS)",
            },
        )
        solution = WcsSolution(
            wcs_to_header(result.wcs), result.wcserr, result.rms_arcsec, result.n_matched, ""
        )
        found = Orientation(np.asarray(result.wcs.pixel_scale_matrix, dtype=np.float64).tolist())
        diagnostics = _diagnostics(solution, result.sip_order) | {
            "north_angle_deg": round(found.north_angle_deg, 3),
            "mirrored": found.mirrored,
        }
        return frame.with_step(search.step(diagnostics, facts=facts), wcs=solution, sources=located)

    return stage


def _diagnostics(solution: WcsSolution, sip_order: int) -> dict[str, ParamValue]:
    return {
        "WCSERR": solution.wcserr,
        "rms_arcsec": solution.rms_arcsec,
        "n_matched": solution.n_matched,
        "sip_order": sip_order,
        "reason": solution.reason,
    }
