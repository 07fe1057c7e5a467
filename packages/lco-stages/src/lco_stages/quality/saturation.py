"""quality_saturation: the fraction of a trimmed frame's pixels flagged saturated (SATFRAC)."""

from __future__ import annotations

import numpy as np

from lco_core.frame import Frame
from lco_core.masks import MaskBit
from lco_core.pipeline import Stage
from lco_stages._checks import require_assembled
from lco_stages.quality.results import SATURATION_STAGE, STAGE_PREFIX, QualityResult, decide, quality_step
from lco_stages.quality.settings import QUALITY_DEFAULTS, QualitySettings

STAGE = SATURATION_STAGE
TEST = STAGE.removeprefix(STAGE_PREFIX)


def saturated_fraction(frame: Frame) -> float:
    """Fraction of an assembled frame's pixels carrying `~lco_core.masks.MaskBit.SATURATED`.

    Parameters
    ----------
    frame : Frame
        An assembled (trimmed) frame.

    Returns
    -------
    float
        0 for an empty frame.
    """
    if frame.mask.size == 0:
        return 0.0
    return float(np.count_nonzero(frame.mask & np.uint8(MaskBit.SATURATED)) / frame.mask.size)


def check_saturation(settings: QualitySettings = QUALITY_DEFAULTS) -> Stage:
    """The saturation test: fails when ``saturated_fraction >= settings.saturation_fraction``.

    As BANZAI's SaturationTest (``banzai/qc/saturation_test.py``: reject at 5%), on every
    OBSTYPE: a saturated sky flat must stay out of the master. Runs after trimming, on the
    SATURATED bits `~lco_stages.saturation.flag_saturated` set; pixels are unchanged.

    Parameters
    ----------
    settings : QualitySettings
        ``saturation_fraction`` and ``saturation_action``.

    Returns
    -------
    Stage
        Records value (fraction), limit and verdict as `~lco_stages.quality.results.quality_step`.

    Raises
    ------
    StageError
        When run on a frame that is not assembled.
    """

    def stage(frame: Frame) -> Frame:
        require_assembled(frame, STAGE)
        fraction = saturated_fraction(frame)
        limit = settings.saturation_fraction
        verdict = decide(fraction >= limit, settings.saturation_action)
        reason = f"{fraction:.1%} of pixels saturated ({settings.saturation_action} at {limit:.1%})"
        result = QualityResult(TEST, verdict, fraction, "fraction", limit, reason)
        return frame.with_step(quality_step(result, settings.values()))

    return stage
