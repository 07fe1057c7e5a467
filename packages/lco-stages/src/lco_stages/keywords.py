"""product_keywords: the header cards a product carries, derived from its typed history.

Stages never write header strings; everything a product's header says about its processing is
computed here, in one place, from the frame's `~lco_core.provenance.ProcessingStep` entries and its
`~lco_core.sources.WcsSolution`.
"""

from __future__ import annotations

import datetime as dt
import math
from importlib.metadata import version

from lco_core.frame import Frame
from lco_core.header import HeaderCard, HeaderValue

#: LCO's reduction level of a processed science frame.
REDUCTION_LEVEL = 91

_IMAGE_QUALITY = {
    "L1MEAN": "[e-] Clipped mean of frame background",
    "L1MEDIAN": "[e-] Median of frame background",
    "L1SIGMA": "[e-] Robust std dev of frame background",
    "L1FWHM": "[arcsec] Frame FWHM in arcsec",
    "L1ELLIP": "Mean image ellipticity (1-B/A)",
    "L1ELLIPA": "[deg] PA of mean image ellipticity",
}
_PHOTOMETRY = {
    "L1ZP": "[mag] mag = L1ZP - 2.5 log10(flux/EXPTIME)",
    "L1ZPERR": "[mag] Error of the zero point",
    "L1ZPSCAT": "[mag] Robust scatter of calibration stars",
    "L1ZPNSTR": "Number of stars in the zero-point fit",
    "L1COLORU": "Colour used for the colour term",
    "L1COLOR": "[mag/mag] Colour term",
    "L1COLERR": "[mag/mag] Error of the colour term",
}


def _value(value: object) -> HeaderValue:
    """FITS cannot hold NaN or infinity: LCO writes the string 'NaN' for an unmeasured figure."""
    if isinstance(value, float) and not math.isfinite(value):
        return "NaN"
    if isinstance(value, str | int | float | bool) or value is None:
        return value
    return str(value)


def product_keywords(
    frame: Frame, *, now: dt.datetime, reduction_level: int = REDUCTION_LEVEL
) -> tuple[HeaderCard, ...]:
    """The processing keywords of a product: what was applied (L1ID*, L1STAT*), measured (overscan,
    BIASLVL, image quality, zero point) and solved (WCS), plus PIPEVER, RLEVEL and DATE (``now``).

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
        Non-finite figures are written as the string 'NaN', as LCO does.
    """
    cards: list[HeaderCard] = [
        HeaderCard("PIPEVER", version("lco-stages"), "lco-reduce version"),
        HeaderCard("RLEVEL", reduction_level, "Reduction level"),
        HeaderCard(
            "DATE", now.astimezone(dt.UTC).strftime("%Y-%m-%dT%H:%M:%S"), "[UTC] Date this file was written"
        ),
    ]
    for step in frame.history:
        diagnostics = step.diagnostics
        if step.stage == "subtract_overscan":
            for key, value in diagnostics.items():
                if key.startswith("overscan_amp"):
                    cards.append(
                        HeaderCard(
                            f"OVERSCN{key.removeprefix('overscan_amp')}",
                            _value(value),
                            "[ADU] Overscan level",
                        )
                    )
            cards.append(HeaderCard("L1STATOV", 1, "Status flag for overscan correction"))
        elif step.stage == "correct_crosstalk":
            cards.append(
                HeaderCard("L1STATCT", 1 if diagnostics.get("applied") else 0, "Status flag for crosstalk")
            )
        elif step.stage == "trim":
            cards.append(HeaderCard("L1STATTR", 1, "Status flag for trimming"))
        elif step.stage == "apply_bad_pixel_mask":
            cards.append(HeaderCard("L1IDMASK", step.masters[0], "ID of mask file used"))
        elif step.stage == "subtract_bias":
            cards += [
                HeaderCard("L1IDBIAS", step.masters[0], "ID of bias frame"),
                HeaderCard("L1STATBI", 1, "Status flag for bias correction"),
                HeaderCard("BIASLVL", _value(diagnostics["BIASLVL"]), "[e-] Bias level per read removed"),
            ]
        elif step.stage == "subtract_dark":
            cards += [
                HeaderCard("L1IDDARK", step.masters[0], "ID of dark frame"),
                HeaderCard("L1STATDA", 1, "Status flag for dark correction"),
                HeaderCard(
                    "DRKTSCAL",
                    _value(diagnostics["DRKTSCAL"]),
                    "[s] Dark scale: EXPTIME x temperature term",
                ),
            ]
        elif step.stage == "divide_flat":
            cards += [
                HeaderCard("L1IDFLAT", step.masters[0], "ID of flat frame"),
                HeaderCard("L1STATFL", 1, "Status flag for flat correction"),
            ]
        elif step.stage == "subtract_bias_level":
            cards.append(
                HeaderCard("BIASLVL", _value(diagnostics["BIASLVL"]), "[e-] Bias level per read removed")
            )
        elif step.stage == "normalise_flat":
            cards.append(
                HeaderCard("FLATLVL", _value(diagnostics["FLATLVL"]), "[e-] Flat normalisation level")
            )
        elif step.stage == "detect_sources":
            cards += [
                HeaderCard(key, _value(diagnostics[key]), comment) for key, comment in _IMAGE_QUALITY.items()
            ]
        elif step.stage == "calibrate_photometry":
            cards += [
                HeaderCard(key, _value(diagnostics[key]), comment)
                for key, comment in _PHOTOMETRY.items()
                if key in diagnostics
            ]
    if frame.wcs is not None:
        solution = frame.wcs
        cards += [
            HeaderCard("WCSERR", solution.wcserr, "WCS fit status: 0 solved, 4 failed"),
            HeaderCard("WCSRMS", _value(solution.rms_arcsec), "[arcsec] rms of astrometric fit residuals"),
            HeaderCard("WCSMATCH", solution.n_matched, "Number of stars in the astrometric fit"),
        ]
        if solution.reason:
            cards.append(HeaderCard("WCSREASN", solution.reason[:68], "Why the WCS was not solved"))
    return tuple(cards)
