"""assemble_amplifiers: place every amplifier's data section at its detector position."""

from __future__ import annotations

import numpy as np

from lco_core.frame import Frame
from lco_core.masks import MaskBit
from lco_core.pipeline import Stage
from lco_core.provenance import ProcessingStep
from lco_instruments.geometry import Camera
from lco_stages._checks import require_amplifiers

STAGE = "assemble_amplifiers"


def assemble_amplifiers(camera: Camera) -> Stage:
    """Mosaic the amplifiers into one image over their detector sections' bounding box.

    Each data section is flipped on the axes its detector section is reversed and placed at
    ``(DETSEC - box origin) / binning``. Pixels no amplifier covers get NO_DATA, value 0.

    Parameters
    ----------
    camera : Camera
        Data and detector sections of every amplifier, and the binning.

    Returns
    -------
    Stage
        An assembled frame of ``camera.mosaic_shape``; records the number of uncovered pixels.

    Raises
    ------
    StageError
        When run on an assembled frame, or on readouts that do not match ``camera``.
    """

    def stage(frame: Frame) -> Frame:
        require_amplifiers(frame, camera, STAGE)
        shape = camera.mosaic_shape
        data = np.zeros(shape, dtype=np.float32)
        uncertainty = np.zeros(shape, dtype=np.float32)
        mask = np.full(shape, np.uint8(MaskBit.NO_DATA), dtype=np.uint8)
        for amp, geometry in zip(frame.amplifiers, camera.amplifiers, strict=True):
            source = geometry.data_section.oriented(
                x_flipped=geometry.detector_section.x_flipped != geometry.data_section.x_flipped,
                y_flipped=geometry.detector_section.y_flipped != geometry.data_section.y_flipped,
            ).to_oriented_slices()
            target = camera.mosaic_section(geometry).to_slices()
            data[target] = amp.data[source]
            uncertainty[target] = amp.uncertainty[source]
            mask[target] = amp.mask[source]
        uncovered = int((mask & MaskBit.NO_DATA).astype(bool).sum())
        step = ProcessingStep(
            STAGE,
            {"binning": str(camera.binning)},
            {"shape": f"{shape[1]}x{shape[0]}", "uncovered": uncovered},
        )
        return frame.with_step(step, data=data, mask=mask, uncertainty=uncertainty, amplifiers=())

    return stage
