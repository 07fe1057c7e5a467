"""product_keywords: the header cards a product carries, derived from its typed history.

Stages never write header strings; everything a product's header says about its processing is
computed here, in one place, from the frame's `~lco_core.provenance.ProcessingStep` entries and its
`~lco_core.sources.WcsSolution`. Every keyword, its unit and its comment come from the one table,
`lco_core.keyword_table.PRODUCT_KEYWORDS`.
"""

from __future__ import annotations

import datetime as dt
import math
from collections.abc import Callable, Mapping, Sequence

from lco_core.frame import Frame
from lco_core.header import HeaderCard
from lco_core.keyword_table import REDUCTION_LEVEL as _LCO_REDUCTION_LEVEL
from lco_core.keyword_table import describing_cards, keyword_card, keyword_cards
from lco_core.provenance import ProcessingStep
from lco_stages.bias import LEVEL_STAGE as BIAS_LEVEL
from lco_stages.bias import STAGE as BIAS
from lco_stages.bpm import STAGE as BAD_PIXEL_MASK
from lco_stages.crosstalk import STAGE as CROSSTALK
from lco_stages.dark import RATE_STAGE
from lco_stages.dark import STAGE as DARK
from lco_stages.depth import STAGE as DEPTH
from lco_stages.flat import NORMALISE_STAGE
from lco_stages.flat import STAGE as FLAT
from lco_stages.overscan import STAGE as OVERSCAN
from lco_stages.quality import (
    BIAS_LEVEL_STAGE,
    PATTERN_NOISE_STAGE,
    POINTING_STAGE,
    SATURATION_STAGE,
    SINGLE_VALUE_STAGE,
    Verdict,
    quality_results,
    worst_verdict,
)
from lco_stages.sources import STAGE as SOURCES
from lco_stages.trim import STAGE as TRIM
from lco_stages.zeropoint import STAGE as ZERO_POINT

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
        cards_of = CARDS_BY_STAGE.get(step.stage)
        if cards_of is not None:
            cards += cards_of(step)
    cards += _quality_summary_cards(frame)
    if frame.wcs is not None:
        solution = frame.wcs
        cards += keyword_cards(
            [("WCSERR", solution.wcserr), ("WCSRMS", solution.rms_arcsec), ("WCSMATCH", solution.n_matched)]
        )
        if solution.reason:
            cards += keyword_cards([("WCSREASN", solution.reason[:68])])
    return tuple(cards)


# -- what each stage's history entry puts in the header ---------------------------------------


def _quality_summary_cards(frame: Frame) -> list[HeaderCard]:
    """L1QC, the worst verdict of the quality tests that ran, and L1QCREAS unless it is 'pass'."""
    results = quality_results(frame)
    if not results:
        return []
    worst = worst_verdict(results)
    cards = list(keyword_cards([("L1QC", worst.value)]))
    if worst is not Verdict.PASS:
        why = "; ".join(f"{r.test}: {r.reason}" for r in results if r.verdict is worst)
        cards += keyword_cards([("L1QCREAS", why[:68])])
    return cards


def _quality_card(keyword: str) -> Callable[[ProcessingStep], Sequence[HeaderCard]]:
    """The card of a quality test's measured value (none when it measured nothing)."""

    def cards(step: ProcessingStep) -> Sequence[HeaderCard]:
        value = step.diagnostics.get("value")
        return () if value is None else keyword_cards([(keyword, value)])

    return cards


def _overscan_cards(step: ProcessingStep) -> Sequence[HeaderCard]:
    levels = [
        (f"OVERSCN{key.removeprefix('overscan_amp')}", value)
        for key, value in step.diagnostics.items()
        if key.startswith("overscan_amp")
    ]
    return (*keyword_cards(levels), *keyword_cards([("L1STATOV", 1)]))


def _crosstalk_cards(step: ProcessingStep) -> Sequence[HeaderCard]:
    return keyword_cards([("L1STATCT", 1 if step.diagnostics.get("applied") else 0)])


def _trim_cards(step: ProcessingStep) -> Sequence[HeaderCard]:
    return keyword_cards([("L1STATTR", 1)])


def _mask_cards(step: ProcessingStep) -> Sequence[HeaderCard]:
    return keyword_cards([("L1IDMASK", step.masters[0])])


def _bias_cards(step: ProcessingStep) -> Sequence[HeaderCard]:
    return keyword_cards(
        [("L1IDBIAS", step.masters[0]), ("L1STATBI", 1), ("BIASLVL", step.diagnostics["BIASLVL"])]
    )


def _dark_cards(step: ProcessingStep) -> Sequence[HeaderCard]:
    return keyword_cards(
        [("L1IDDARK", step.masters[0]), ("L1STATDA", 1), ("DRKTSCAL", step.diagnostics["DRKTSCAL"])]
    )


def _flat_cards(step: ProcessingStep) -> Sequence[HeaderCard]:
    return keyword_cards([("L1IDFLAT", step.masters[0]), ("L1STATFL", 1)])


def _bias_level_cards(step: ProcessingStep) -> Sequence[HeaderCard]:
    return keyword_cards([("BIASLVL", step.diagnostics["BIASLVL"])])


def _flat_level_cards(step: ProcessingStep) -> Sequence[HeaderCard]:
    return keyword_cards([("FLATLVL", step.diagnostics["FLATLVL"])])


def _image_quality_cards(step: ProcessingStep) -> Sequence[HeaderCard]:
    return keyword_cards((key, step.diagnostics[key]) for key in _IMAGE_QUALITY)


def _zero_point_cards(step: ProcessingStep) -> Sequence[HeaderCard]:
    return _photometry_cards(dict(step.diagnostics))


def _depth_cards(step: ProcessingStep) -> Sequence[HeaderCard]:
    return keyword_cards([("L1DEPTH", step.diagnostics.get("L1DEPTH", math.nan))])


#: The header cards each stage's history entry gives, keyed by the stage's own declared name
#: (its module's ``STAGE``), never by a string written here: a renamed stage keeps its cards.
CARDS_BY_STAGE: Mapping[str, Callable[[ProcessingStep], Sequence[HeaderCard]]] = {
    SINGLE_VALUE_STAGE: _quality_card("FRAC1000"),
    SATURATION_STAGE: _quality_card("SATFRAC"),
    BIAS_LEVEL_STAGE: _quality_card("QCBIASLV"),
    PATTERN_NOISE_STAGE: _quality_card("PATNOISE"),
    POINTING_STAGE: _quality_card("PNTOFST"),
    OVERSCAN: _overscan_cards,
    CROSSTALK: _crosstalk_cards,
    TRIM: _trim_cards,
    BAD_PIXEL_MASK: _mask_cards,
    BIAS: _bias_cards,
    DARK: _dark_cards,
    FLAT: _flat_cards,
    BIAS_LEVEL: _bias_level_cards,
    NORMALISE_STAGE: _flat_level_cards,
    SOURCES: _image_quality_cards,
    ZERO_POINT: _zero_point_cards,
    DEPTH: _depth_cards,
}
