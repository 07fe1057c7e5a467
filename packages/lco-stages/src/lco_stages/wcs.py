"""solve_wcs: the astrometric solution of a frame from its catalogue and a reference catalogue."""

from __future__ import annotations

import math

import numpy as np
from astropy.wcs import WCS

from lco_core.catalog import ReferenceCatalog
from lco_core.frame import Frame
from lco_core.header import Header, HeaderCard
from lco_core.meta import FrameMeta
from lco_core.pipeline import Stage
from lco_core.provenance import ParamValue, ProcessingStep
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


def pointing_wcs(meta: FrameMeta, shape: tuple[int, int], pixel_scale: float) -> WCS | None:
    """The WCS the telescope pointing implies: RA/DEC at the image centre, north up, east left.

    LCO cameras are mounted with north up and east left to within a degree or two; the solver
    searches rotations around this and offsets around the pointing.

    Parameters
    ----------
    meta : FrameMeta
        Its RA and DEC, degrees.
    shape : (int, int)
        Image shape (ny, nx).
    pixel_scale : float
        Arcsec per pixel.

    Returns
    -------
    astropy.wcs.WCS or None
        None without RA/DEC.
    """
    if meta.ra is None or meta.dec is None:
        return None
    wcs = WCS(naxis=2)
    wcs.wcs.ctype = ["RA---TAN", "DEC--TAN"]
    wcs.wcs.crval = [meta.ra, meta.dec]
    wcs.wcs.crpix = [(shape[1] + 1) / 2.0, (shape[0] + 1) / 2.0]
    scale = pixel_scale / 3600.0
    wcs.wcs.cd = [[-scale, 0.0], [0.0, scale]]
    wcs.pixel_shape = (shape[1], shape[0])
    return wcs


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
    max_offset_arcmin: float = 10.0,
    max_rotation_deg: float = 5.0,
) -> Stage:
    """Solve the frame's WCS (pattern matching + TAN/SIP fit) and add ra/dec to its catalogue.

    A frame that cannot be solved keeps going with WCSERR = 4, the header pointing as its WCS,
    no sky positions in its catalogue, and the reason recorded; it is never given a solution the
    fit did not earn.

    Parameters
    ----------
    reference : ReferenceCatalog or None
        Reference stars around the pointing (None: nothing to solve against).
    pixel_scale : float
        The camera's nominal scale, arcsec per pixel.
    max_offset_arcmin : float
        Largest pointing error searched, arcmin.
    max_rotation_deg : float
        Largest orientation error searched, degrees.

    Returns
    -------
    Stage
        Attaches a `WcsSolution` (WCSERR, WCSRMS, WCSMATCH, WCSREASN) and, when solved, adds
        ``ra`` and ``dec`` (degrees, of the windowed positions) to the catalogue.

    Raises
    ------
    StageError
        When run on a frame that is not assembled.
    """

    def stage(frame: Frame) -> Frame:
        require_assembled(frame, STAGE)
        parameters: dict[str, ParamValue] = {
            "pixel_scale": pixel_scale,
            "max_offset_arcmin": max_offset_arcmin,
        }
        guess = pointing_wcs(frame.meta, frame.shape, pixel_scale)
        catalog = frame.sources
        reason = ""
        if guess is None:
            reason = "no RA/DEC pointing in the header"
        elif catalog is None or len(catalog) == 0:
            reason = "no sources detected"
        elif reference is None or len(reference) == 0:
            reason = "no reference stars around the pointing"
        if reason or guess is None or catalog is None or reference is None:
            cards = Header() if guess is None else wcs_to_header(guess)
            solution = WcsSolution(cards, WCSERR_FAILED, math.nan, 0, reason)
            return frame.with_step(ProcessingStep(STAGE, parameters, _diagnostics(solution, 0)), wcs=solution)
        band = band_for(frame.meta.filter)
        band_name = band.band if band is not None and band.band in reference.magnitudes else None
        if band_name is None and "mag" in reference.magnitudes:
            band_name = "mag"
        result = solve_astrometry(
            catalog["xwin"], catalog["ywin"], catalog["flux"], reference, shape=frame.shape, guess=guess,
            pixel_scale_arcsec=pixel_scale, max_offset_arcmin=max_offset_arcmin,
            max_rotation_deg=max_rotation_deg, band=band_name,
        )  # fmt: skip
        if not result.solved or result.wcs is None:
            solution = WcsSolution(
                wcs_to_header(guess), WCSERR_FAILED, math.nan, result.n_matched, result.reason
            )
            return frame.with_step(ProcessingStep(STAGE, parameters, _diagnostics(solution, 0)), wcs=solution)
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
        step = ProcessingStep(STAGE, parameters, _diagnostics(solution, result.sip_order))
        return frame.with_step(step, wcs=solution, sources=located)

    return stage


def _diagnostics(solution: WcsSolution, sip_order: int) -> dict[str, ParamValue]:
    return {
        "WCSERR": solution.wcserr,
        "rms_arcsec": solution.rms_arcsec,
        "n_matched": solution.n_matched,
        "sip_order": sip_order,
        "reason": solution.reason,
    }
