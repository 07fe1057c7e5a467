"""product_keywords: the header cards a product carries, derived from its typed history.

Stages never write header strings; everything a product's header says about its processing is
computed here, in one place, from the frame's `~lco_core.provenance.ProcessingStep` entries and its
`~lco_core.sources.WcsSolution`. Every keyword, its unit and its comment come from the one table,
`lco_core.keyword_table.PRODUCT_KEYWORDS`.
"""

from __future__ import annotations

import datetime as dt
import math
from collections.abc import Mapping

from lco_core.frame import Frame
from lco_core.header import HeaderCard
from lco_core.keyword_table import REDUCTION_LEVEL as _LCO_REDUCTION_LEVEL
from lco_core.keyword_table import describing_cards, keyword_card, keyword_cards
from lco_stages.dark import RATE_STAGE
from lco_stages.flat import NORMALISE_STAGE

#: LCO's reduction level of a processed science frame (`lco_core.keyword_table.REDUCTION_LEVEL`).
REDUCTION_LEVEL = _LCO_REDUCTION_LEVEL

_IMAGE_QUALITY = ("L1MEAN", "L1MEDIAN", "L1SIGMA", "L1FWHM", "L1ELLIP", "L1ELLIPA")
_PHOTOMETRY = ("L1ZP", "L1ZPERR", "L1ZPSCAT", "L1ZPNSTR", "L1COLORU", "L1COLOR", "L1COLERR")


def data_unit(frame: Frame) -> str:
    """BUNIT of a frame, from its history: what its pixels were last made into.

    Parameters
    ----------
    frame : Frame
        A frame after the gain stage.

    Returns
    -------
    str
        ``''`` (dimensionless) for a normalised flat, ``'electron/s'`` for a dark divided by its
        exposure time, ``'electron'`` otherwise (science, bias, calibrated frames).
    """
    stages = {step.stage for step in frame.history}
    if NORMALISE_STAGE in stages:
        return ""
    if RATE_STAGE in stages:
        return "electron/s"
    return "electron"


def _photometry_cards(diagnostics: Mapping[str, object]) -> list[HeaderCard]:
    """L1STATZP and, when a zero point was fitted, L1ZP and its companions."""
    zero_point = diagnostics.get("L1ZP")
    fitted = (
        diagnostics.get("succeeded") is True
        and isinstance(zero_point, float | int)
        and math.isfinite(zero_point)
    )
    status = keyword_card("L1STATZP", 1 if fitted else 0, comment=None if fitted else _why_not(diagnostics))
    cards = [status] if status is not None else []
    cards += keyword_cards((key, diagnostics[key]) for key in _PHOTOMETRY if key in diagnostics)
    return cards


def _why_not(diagnostics: Mapping[str, object]) -> str:
    reason = diagnostics.get("reason")
    return f"No L1ZP: {reason}" if reason else "No L1ZP: not fitted"


def product_keywords(
    frame: Frame, *, now: dt.datetime, reduction_level: int = REDUCTION_LEVEL
) -> tuple[HeaderCard, ...]:
    """The keywords of a product: what its pixels are, what was applied, measured and solved.

    What the pixels are (`lco_core.keyword_table.describing_cards`): PIPEVER, RLEVEL, ORIGNAME
    (the raw file's name without ``.fz``), BUNIT (`data_unit`), GAIN = 1.0 and SATURATE,
    MAXLIN, RDNOISE in electrons; these replace the raw frame's ADU cards of the same name.
    What was applied (L1ID*, L1STAT*), measured (OVERSCNn, BIASLVL, image quality, zero point
    with its status L1STATZP) and solved (WCSERR, WCSRMS, ...), and DATE (``now``).

    Parameters
    ----------
    frame : Frame
        A processed frame; its history and WCS solution say what to write.
    now : datetime.datetime
        When the product is written (DATE).
    reduction_level : int
        RLEVEL.

    Returns
    -------
    tuple of HeaderCard
        Comments from `lco_core.keyword_table.PRODUCT_KEYWORDS`. A non-finite figure (no
        zero point, no FWHM) has no card: FITS has no NaN. L1STATZP says whether the zero
        point was fitted (1) or not (0, its comment says why).
    """
    cards: list[HeaderCard] = [
        *describing_cards(frame, unit=data_unit(frame), reduction_level=reduction_level),
        *keyword_cards([("DATE", now.astimezone(dt.UTC).strftime("%Y-%m-%dT%H:%M:%S"))]),
    ]
    for step in frame.history:
        diagnostics = dict(step.diagnostics)
        if step.stage == "subtract_overscan":
            cards += keyword_cards(
                (f"OVERSCN{key.removeprefix('overscan_amp')}", value)
                for key, value in diagnostics.items()
                if key.startswith("overscan_amp")
            )
            cards += keyword_cards([("L1STATOV", 1)])
        elif step.stage == "correct_crosstalk":
            cards += keyword_cards([("L1STATCT", 1 if diagnostics.get("applied") else 0)])
        elif step.stage == "trim":
            cards += keyword_cards([("L1STATTR", 1)])
        elif step.stage == "apply_bad_pixel_mask":
            cards += keyword_cards([("L1IDMASK", step.masters[0])])
        elif step.stage == "subtract_bias":
            cards += keyword_cards(
                [("L1IDBIAS", step.masters[0]), ("L1STATBI", 1), ("BIASLVL", diagnostics["BIASLVL"])]
            )
        elif step.stage == "subtract_dark":
            cards += keyword_cards(
                [("L1IDDARK", step.masters[0]), ("L1STATDA", 1), ("DRKTSCAL", diagnostics["DRKTSCAL"])]
            )
        elif step.stage == "divide_flat":
            cards += keyword_cards([("L1IDFLAT", step.masters[0]), ("L1STATFL", 1)])
        elif step.stage == "subtract_bias_level":
            cards += keyword_cards([("BIASLVL", diagnostics["BIASLVL"])])
        elif step.stage == NORMALISE_STAGE:
            cards += keyword_cards([("FLATLVL", diagnostics["FLATLVL"])])
        elif step.stage == "detect_sources":
            cards += keyword_cards((key, diagnostics[key]) for key in _IMAGE_QUALITY)
        elif step.stage == "calibrate_photometry":
            cards += _photometry_cards(diagnostics)
    if frame.wcs is not None:
        solution = frame.wcs
        cards += keyword_cards(
            [("WCSERR", solution.wcserr), ("WCSRMS", solution.rms_arcsec), ("WCSMATCH", solution.n_matched)]
        )
        if solution.reason:
            cards += keyword_cards([("WCSREASN", solution.reason[:68])])
    return tuple(cards)
