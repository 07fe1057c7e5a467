"""apply_gain: convert each amplifier from ADU to electrons and start the uncertainty plane."""

from __future__ import annotations

import numpy as np

from lco_core.frame import AmplifierData, Frame
from lco_core.keyword_table import GAIN_STAGE
from lco_core.pipeline import Stage
from lco_core.provenance import ProcessingStep
from lco_instruments.geometry import AmplifierGeometry, Camera
from lco_stages._checks import map_amplifiers, require_amplifiers

#: Declared as `lco_core.keyword_table.GAIN_STAGE`: that table reads this stage's history entry
#: to describe a product's pixels, and lco_core cannot import lco_stages.
STAGE = GAIN_STAGE


def apply_gain(camera: Camera) -> Stage:
    """Multiply by GAIN (electrons/ADU); uncertainty = read noise (electrons) in quadrature.

    Saturation and non-linearity levels in electrons (``level x gain``) are recorded in the
    step's diagnostics for the stages that need them (cosmic rays, source flags).

    Parameters
    ----------
    camera : Camera
        Each amplifier's ``gain`` (electrons per ADU) and ``read_noise`` (electrons).

    Returns
    -------
    Stage
        Data in electrons; uncertainty ``sqrt((gain x sigma)**2 + read_noise**2)``.

    Raises
    ------
    StageError
        When run on an assembled frame, or on readouts that do not match ``camera``.
    """

    def stage(frame: Frame) -> Frame:
        require_amplifiers(frame, camera, STAGE)

        def convert(amp: AmplifierData, geometry: AmplifierGeometry) -> AmplifierData:
            gain = np.float32(geometry.gain)
            variance = (amp.uncertainty * gain) ** 2 + np.float32(geometry.read_noise) ** 2
            return amp.evolve(data=amp.data * gain, uncertainty=np.sqrt(variance))

        amplifiers = map_amplifiers(frame, camera, convert)
        parameters = {f"gain_amp{g.index}": g.gain for g in camera.amplifiers}
        diagnostics = {f"saturation_e_amp{g.index}": g.saturation_electrons for g in camera.amplifiers}
        diagnostics |= {f"read_noise_amp{g.index}": g.read_noise for g in camera.amplifiers}
        return frame.with_step(ProcessingStep(STAGE, parameters, diagnostics), amplifiers=amplifiers)

    return stage
