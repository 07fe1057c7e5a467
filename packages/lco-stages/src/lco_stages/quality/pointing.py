"""quality_pointing: how far the solved image centre is from where the telescope said it pointed."""

from __future__ import annotations

import math

from lco_core.frame import Frame
from lco_core.pipeline import Stage
from lco_stages.quality.results import POINTING_STAGE, STAGE_PREFIX, QualityResult, Verdict, quality_step
from lco_stages.quality.settings import QUALITY_DEFAULTS, QualitySettings

STAGE = POINTING_STAGE
TEST = STAGE.removeprefix(STAGE_PREFIX)


def angular_separation(ra1: float, dec1: float, ra2: float, dec2: float) -> float:
    """Great-circle distance between two points (degrees in), arcsec (Vincenty's formula).

    Parameters
    ----------
    ra1, dec1, ra2, dec2 : float
        Degrees.

    Returns
    -------
    float
        Arcsec.
    """
    l1, b1, l2, b2 = (math.radians(v) for v in (ra1, dec1, ra2, dec2))
    dl = l2 - l1
    num = math.hypot(
        math.cos(b2) * math.sin(dl), math.cos(b1) * math.sin(b2) - math.sin(b1) * math.cos(b2) * math.cos(dl)
    )
    den = math.sin(b1) * math.sin(b2) + math.cos(b1) * math.cos(b2) * math.cos(dl)
    return math.degrees(math.atan2(num, den)) * 3600.0


def pointing_offset(frame: Frame) -> float | None:
    """Separation between the header's pointing and the solved centre of the image, arcsec.

    LCO's RA/DEC is where the telescope pointed the centre of the frame, so it is compared with
    the world coordinate the astrometric solution gives the centre of the (trimmed) image.

    Parameters
    ----------
    frame : Frame
        An assembled frame after `~lco_stages.wcs.solve_wcs`.

    Returns
    -------
    float or None
        None without a solved WCS or without a pointing in the header.
    """
    pointing = frame.meta.pointing
    if frame.wcs is None or not frame.wcs.solved or pointing is None or frame.data.size == 0:
        return None
    ny, nx = frame.shape
    ra, dec = frame.wcs.to_wcs().all_pix2world([[(nx - 1) / 2.0, (ny - 1) / 2.0]], 0)[0]
    return angular_separation(pointing[0], pointing[1], float(ra), float(dec))


def check_pointing(settings: QualitySettings = QUALITY_DEFAULTS) -> Stage:
    """The pointing test: warns beyond ``pointing_warn``, rejects beyond ``pointing_reject`` arcsec.

    As BANZAI's PointingTest (``banzai/qc/pointing.py``: warning above 30 arcsec, severe above
    300 arcsec, PNTOFST); LCO's typical pointing is within a few arcsec. Without an
    astrometric solution the test passes with no value (the astrometry's own shortfall says
    why).

    Parameters
    ----------
    settings : QualitySettings
        ``pointing_warn`` and ``pointing_reject``.

    Returns
    -------
    Stage
        Records the offset (value, arcsec), the limit the verdict used and the verdict.
    """

    def stage(frame: Frame) -> Frame:
        offset = pointing_offset(frame)
        if offset is None:
            why = (
                "no astrometric solution"
                if frame.wcs is None or not frame.wcs.solved
                else "no header pointing"
            )
            result = QualityResult(TEST, Verdict.PASS, None, "arcsec", settings.pointing_warn, why)
            return frame.with_step(quality_step(result, settings.values()))
        if offset > settings.pointing_reject:
            verdict, limit, word = Verdict.REJECT, settings.pointing_reject, "reject"
        elif offset > settings.pointing_warn:
            verdict, limit, word = Verdict.WARN, settings.pointing_warn, "warn"
        else:
            verdict, limit, word = Verdict.PASS, settings.pointing_warn, "warn"
        reason = f'solved centre {offset:.1f}" from the header pointing ({word} above {limit:g}")'
        result = QualityResult(TEST, verdict, offset, "arcsec", limit, reason)
        return frame.with_step(quality_step(result, settings.values()))

    return stage
