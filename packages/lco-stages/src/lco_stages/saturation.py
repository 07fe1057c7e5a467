"""flag_saturated: mark pixels at or above the amplifier's saturation (and non-linearity) level."""

from __future__ import annotations

import numpy as np

from lco_core.frame import AmplifierData, Frame
from lco_core.masks import MaskBit
from lco_core.pipeline import Stage
from lco_core.provenance import ProcessingStep
from lco_instruments.geometry import AmplifierGeometry, Camera
from lco_stages._checks import map_amplifiers, require_amplifiers

STAGE = "flag_saturated"


def flag_saturated(camera: Camera) -> Stage:
    """Set SATURATED where raw ADU >= SATURATE and NONLINEAR where >= MAXLIN (below SATURATE).

    Runs on the raw readout, before overscan subtraction, because SATURATE and MAXLIN are
    levels of the raw converter output. Data are unchanged; mask bits are only added.

    Parameters
    ----------
    camera : Camera
        Each amplifier's ``saturation`` and ``nonlinearity`` levels, ADU.

    Returns
    -------
    Stage
        Records ``saturation_ampN`` (ADU) and the count of saturated pixels per amplifier.

    Raises
    ------
    StageError
        When run on an assembled frame, or on readouts that do not match ``camera``.
    """

    def stage(frame: Frame) -> Frame:
        require_amplifiers(frame, camera, STAGE)
        counts: dict[str, int] = {}

        def flag(amp: AmplifierData, geometry: AmplifierGeometry) -> AmplifierData:
            saturated = amp.data >= geometry.saturation
            nonlinear = (amp.data >= geometry.nonlinearity) & ~saturated
            counts[f"saturated_amp{amp.index}"] = int(saturated.sum())
            mask = (
                amp.mask
                | (saturated * np.uint8(MaskBit.SATURATED))
                | (nonlinear * np.uint8(MaskBit.NONLINEAR))
            )
            return amp.evolve(mask=mask.astype(np.uint8))

        amplifiers = map_amplifiers(frame, camera, flag)
        levels = {f"saturation_amp{g.index}": g.saturation for g in camera.amplifiers}
        return frame.with_step(ProcessingStep(STAGE, levels, counts), amplifiers=amplifiers)

    return stage
