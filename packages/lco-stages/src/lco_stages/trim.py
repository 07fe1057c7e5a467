"""trim: keep the camera's useful section of the assembled image."""

from __future__ import annotations

from lco_core.errors import StageError
from lco_core.frame import Frame
from lco_core.pipeline import Stage
from lco_core.provenance import ProcessingStep
from lco_instruments.geometry import Camera
from lco_stages._checks import require_assembled

STAGE = "trim"


def trim(camera: Camera) -> Stage:
    """Cut the assembled image to ``camera.trim_section`` (binned mosaic coordinates).

    Parameters
    ----------
    camera : Camera
        Its ``trim_section`` (TRIMSEC) and ``mosaic_shape``.

    Returns
    -------
    Stage

    Raises
    ------
    StageError
        When run on a frame that is not assembled or not of the camera's mosaic shape.
    """

    def stage(frame: Frame) -> Frame:
        require_assembled(frame, STAGE)
        if frame.shape != camera.mosaic_shape:
            raise StageError(
                STAGE, frame.meta.filename, f"frame is {frame.shape}, camera mosaic is {camera.mosaic_shape}"
            )
        region = camera.trim_section.to_slices()
        step = ProcessingStep(STAGE, {"section": str(camera.trim_section)})
        return frame.with_step(
            step, data=frame.data[region], mask=frame.mask[region], uncertainty=frame.uncertainty[region]
        )

    return stage
