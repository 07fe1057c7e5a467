"""correct_crosstalk: remove the ghosts each amplifier's signal leaves in the others."""

from __future__ import annotations

import numpy as np

from lco_core.errors import StageError
from lco_core.frame import Frame
from lco_core.pipeline import Stage
from lco_core.provenance import ProcessingStep
from lco_instruments.geometry import Camera
from lco_stages._checks import require_amplifiers

STAGE = "correct_crosstalk"


def correct_crosstalk(camera: Camera) -> Stage:
    """Subtract linear crosstalk between every pair of amplifiers, in ADU, before the gain.

    All amplifiers are read out simultaneously, pixel for pixel in readout order, so the ghost
    of amplifier i in amplifier j sits at the same readout position:
    ``D_j <- D_j - sum_i CRSTLK_ij x D_i`` with every ``D_i`` taken before any correction (one
    linear pass; second-order terms are below 1e-6 of the signal).

    Parameters
    ----------
    camera : Camera
        ``camera.crosstalk[i][j]`` is CRSTLK{i+1}{j+1}.

    Returns
    -------
    Stage
        Records the coefficients applied; a one-amplifier camera, or an all-zero matrix,
        leaves the data unchanged and records ``applied=False``.

    Raises
    ------
    StageError
        When run on an assembled frame, on readouts that do not match ``camera``, or on
        amplifier readouts of different shapes.
    """
    matrix = np.asarray(camera.crosstalk, dtype=np.float64)

    def stage(frame: Frame) -> Frame:
        require_amplifiers(frame, camera, STAGE)
        if len(frame.amplifiers) == 1 or not matrix.any():
            return frame.with_step(ProcessingStep(STAGE, {}, {"applied": False}))
        shapes = {amp.data.shape for amp in frame.amplifiers}
        if len(shapes) != 1:
            raise StageError(
                STAGE, frame.meta.filename, f"amplifier readouts differ in shape: {sorted(shapes)}"
            )
        corrected = []
        for victim, amp in enumerate(frame.amplifiers):
            ghost = np.zeros(amp.data.shape, dtype=np.float64)
            for source, other in enumerate(frame.amplifiers):
                if source != victim and matrix[source, victim] != 0.0:
                    ghost += matrix[source, victim] * other.data
            corrected.append(amp.evolve(data=(amp.data - ghost).astype(np.float32)))
        coefficients = {
            f"CRSTLK{i + 1}{j + 1}": float(matrix[i, j])
            for i in range(matrix.shape[0])
            for j in range(matrix.shape[1])
            if i != j and matrix[i, j] != 0.0
        }
        return frame.with_step(
            ProcessingStep(STAGE, coefficients, {"applied": True}), amplifiers=tuple(corrected)
        )

    return stage
