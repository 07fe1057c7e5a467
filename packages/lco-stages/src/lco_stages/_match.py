"""Checks that a master calibration fits the frame it is applied to."""

from __future__ import annotations

from lco_core.errors import StageError
from lco_core.frame import Frame
from lco_core.master import BadPixelMask, Master
from lco_stages._checks import require_assembled


def require_match(frame: Frame, master: Master, stage: str) -> None:
    """Same camera, binning and shape; a typed error naming both files otherwise."""
    require_assembled(frame, stage)
    meta, other = frame.meta, master.frame.meta
    problems = []
    if meta.camera != other.camera:
        problems.append(f"camera {meta.camera} != {other.camera}")
    if meta.binning != other.binning:
        problems.append(f"binning {meta.binning} != {other.binning}")
    if frame.shape != master.frame.shape:
        problems.append(f"shape {frame.shape} != {master.frame.shape}")
    if problems:
        raise StageError(
            stage, meta.filename, f"master {master.filename} does not fit: {', '.join(problems)}"
        )


def require_mask_match(frame: Frame, bpm: BadPixelMask, stage: str) -> None:
    require_assembled(frame, stage)
    problems = []
    if bpm.camera is not None and bpm.camera != frame.meta.camera:
        problems.append(f"camera {frame.meta.camera} != {bpm.camera}")
    if bpm.binning is not None and bpm.binning != frame.meta.binning:
        problems.append(f"binning {frame.meta.binning} != {bpm.binning}")
    if bpm.mask.shape != frame.shape:
        problems.append(f"shape {frame.shape} != {bpm.mask.shape}")
    if problems:
        raise StageError(
            stage, frame.meta.filename, f"bad pixel mask {bpm.filename} does not fit: {', '.join(problems)}"
        )
