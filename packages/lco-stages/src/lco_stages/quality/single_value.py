"""quality_single_value: a corrupt readout with many pixels at one value (BANZAI's ThousandsTest)."""

from __future__ import annotations

import numpy as np

from lco_core.frame import Frame
from lco_core.pipeline import Stage
from lco_stages.quality.results import (
    SINGLE_VALUE_STAGE,
    STAGE_PREFIX,
    QualityResult,
    Verdict,
    decide,
    quality_step,
)
from lco_stages.quality.settings import QUALITY_DEFAULTS, QualitySettings

STAGE = SINGLE_VALUE_STAGE
TEST = STAGE.removeprefix(STAGE_PREFIX)


def single_value_fractions(frame: Frame, value: float) -> tuple[float, ...]:
    """Fraction of each raw readout's pixels exactly equal to ``value`` (ADU).

    Parameters
    ----------
    frame : Frame
        A raw frame (its amplifier readouts, ADU, overscan included).
    value : float
        The stuck value, ADU.

    Returns
    -------
    tuple of float
        One per amplifier, in the frame's order; empty for an assembled frame.
    """
    return tuple(
        float(np.count_nonzero(amp.data == np.float32(value)) / amp.data.size) if amp.data.size else 0.0
        for amp in frame.amplifiers
    )


def check_single_value(settings: QualitySettings = QUALITY_DEFAULTS) -> Stage:
    """The single-value test: fails when one amplifier has more than ``single_value_fraction`` of its
    pixels at exactly ``single_value`` ADU.

    LCO's Sinistros sometimes read out a corrupt frame full of pixels at 1000 ADU; BANZAI's
    ThousandsTest (``banzai/qc/sinistro_1000s.py``) rejects a frame with more than 20% of them
    (FRAC1000). Here it runs first, on the raw readouts before the overscan, of every camera
    (harmless where it never happens), per amplifier, and the worst amplifier decides.

    Parameters
    ----------
    settings : QualitySettings
        ``single_value``, ``single_value_fraction`` and ``single_value_action``.

    Returns
    -------
    Stage
        Records the worst amplifier's fraction (value), the limit, the verdict and
        ``fraction_ampN`` per amplifier. A frame already assembled passes with value None.
    """

    def stage(frame: Frame) -> Frame:
        fractions = single_value_fractions(frame, settings.single_value)
        limit = settings.single_value_fraction
        target = f"{settings.single_value:g} ADU"
        if not fractions:
            result = QualityResult(TEST, Verdict.PASS, None, "fraction", limit, "no raw readouts to test")
            return frame.with_step(quality_step(result, settings.values()))
        worst = int(np.argmax(fractions))
        fraction = fractions[worst]
        index = frame.amplifiers[worst].index
        verdict = decide(fraction > limit, settings.single_value_action)
        reason = (
            f"{fraction:.1%} of amplifier {index}'s pixels at exactly {target} "
            f"({settings.single_value_action} above {limit:.0%})"
        )
        result = QualityResult(TEST, verdict, fraction, "fraction", limit, reason)
        per_amp = {f"fraction_amp{a.index}": f for a, f in zip(frame.amplifiers, fractions, strict=True)}
        return frame.with_step(quality_step(result, settings.values(), per_amp))

    return stage
