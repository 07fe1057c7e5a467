"""Checks every stage makes before touching a frame (typed errors, never silent repairs)."""

from __future__ import annotations

from collections.abc import Callable

from lco_core.errors import StageError
from lco_core.frame import AmplifierData, Frame
from lco_instruments.geometry import AmplifierGeometry, Camera


def require_amplifiers(frame: Frame, camera: Camera, stage: str) -> None:
    """The frame must still hold one readout per amplifier of ``camera``, of the right shapes."""
    if not frame.amplifiers:
        raise StageError(
            stage, frame.meta.filename, "needs the amplifier readouts; the frame is already assembled"
        )
    if len(frame.amplifiers) != len(camera.amplifiers):
        raise StageError(
            stage,
            frame.meta.filename,
            f"frame has {len(frame.amplifiers)} amplifiers, "
            f"camera {camera.name} has {len(camera.amplifiers)}",
        )
    for data, geometry in zip(frame.amplifiers, camera.amplifiers, strict=True):
        if data.index != geometry.index or data.data.shape != geometry.readout_shape:
            raise StageError(
                stage,
                frame.meta.filename,
                f"amplifier {data.index} is {data.data.shape}, camera expects amplifier "
                f"{geometry.index} of {geometry.readout_shape}",
            )


def require_assembled(frame: Frame, stage: str) -> None:
    if not frame.assembled:
        raise StageError(stage, frame.meta.filename, "needs an assembled frame; run the mosaic stage first")


def map_amplifiers(
    frame: Frame,
    camera: Camera,
    transform: Callable[[AmplifierData, AmplifierGeometry], AmplifierData],
) -> tuple[AmplifierData, ...]:
    """Apply ``transform`` to every amplifier with its geometry; returns the new readouts."""
    return tuple(
        transform(data, geometry) for data, geometry in zip(frame.amplifiers, camera.amplifiers, strict=True)
    )
